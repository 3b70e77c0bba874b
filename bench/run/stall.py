"""Where a training step's time goes, from three throughputs of one process, and the invariants they must keep.

A step's time per image splits the way the data-stall literature splits it (DS-Analyzer's prep vs fetch stall):

    t_e2e  = 1 / e2e              what training took, pipeline feeding the model
    t_fed  = 1 / fed ceiling      a constant host batch through the same Keras data adapter: dispatch + transfer
    t_dev  = 1 / device ceiling   the compiled step on a batch already resident on the accelerator: the model

    input-bound % = 1 - t_dev / t_e2e = transfer % + pipeline %
    transfer %    = (t_fed - t_dev) / t_e2e      moving the batch host -> device, per step
    pipeline %    = (t_e2e - t_fed) / t_e2e      waiting for the input pipeline

The parts add up to the whole by construction (checked here, not assumed). Physics gives invariants a reader relies
on: training cannot beat the model alone (e2e <= device ceiling), nor the model fed a free batch through the same
adapter (e2e <= fed ceiling), nor the pipeline alone (e2e <= pipeline-only), and moving a batch cannot make a step
faster (fed <= device). Each holds within the measurements' own spread; a
run that breaks one is *inconsistent* -- its record and its table row say so with the two numbers, never a
clipped or hidden value. Pure arithmetic: no TensorFlow.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

NOISE_FLOOR_PCT = 3.0  # run-to-run noise of a steady state on a shared machine, below which nothing is claimed
UNRELIABLE_SPREAD_PCT = 50.0  # a ceiling whose own block rates spread more than this measures nothing


@dataclass(frozen=True)
class StallSplit:
    """Percent of the end-to-end step time: waiting on input in all, and its two parts (they add up)."""

    input_bound_pct: float
    transfer_pct: float | None
    pipeline_pct: float | None


def _known(value: float | None) -> bool:
    return value is not None and not math.isnan(value) and value > 0


def stall_split(e2e: float, device: float, fed: float | None) -> StallSplit:
    """The split of one run's step time (see the module docstring); `fed` None gives the total only.

    Raises:
        ValueError: a rate that is not a positive number.
    """
    if not (_known(e2e) and _known(device)):
        raise ValueError(f"rates must be positive: e2e={e2e}, device ceiling={device}")
    t_e2e, t_dev = 1.0 / e2e, 1.0 / device
    total = 100.0 * (t_e2e - t_dev) / t_e2e
    if not _known(fed):
        return StallSplit(total, None, None)
    t_fed = 1.0 / fed
    transfer = 100.0 * (t_fed - t_dev) / t_e2e
    pipeline = 100.0 * (t_e2e - t_fed) / t_e2e
    if not math.isclose(transfer + pipeline, total, abs_tol=1e-9):  # pragma: no cover - arithmetic guard
        raise AssertionError(f"stall parts {transfer} + {pipeline} do not add up to {total}")
    return StallSplit(total, transfer, pipeline)


def spread_pct(rates: Sequence[float]) -> float | None:
    """How far repeated measurements of one rate disagree: `100 * (max - min) / median` (None for fewer than two).

    A difference between two rates smaller than this is not one the measurements can show.
    """
    if len(rates) < 2:
        return None
    return float(100.0 * (max(rates) - min(rates)) / statistics.median(rates))


def noise_pct(*spreads: float | None) -> float:
    """The band within which two rates are the same number: the noise floor or the widest measured spread."""
    known = [float(s) for s in spreads if s is not None and not math.isnan(s)]
    return max([NOISE_FLOOR_PCT, *known])


def _above(name: str, value: float, limit_name: str, limit: float, noise: float) -> str | None:
    if value <= limit * (1.0 + noise / 100.0):
        return None
    return (
        f"{name} {value:,.0f} img/s is above the {limit_name} {limit:,.0f} "
        f"(+{100.0 * (value / limit - 1.0):.0f}%, beyond the {noise:.0f}% noise)"
    )


def consistency_problems(
    *,
    e2e: float | None,
    e2e_spread_pct: float | None = None,
    device: float | None = None,
    device_spread_pct: float | None = None,
    fed: float | None = None,
    fed_spread_pct: float | None = None,
    pipeline_only: float | None = None,
    is_ceiling_pipeline: bool = False,
) -> list[str]:
    """Every invariant the run breaks, each as one sentence with both numbers (empty: consistent).

    `is_ceiling_pipeline`: the run's own pipeline is the constant host batch, so its e2e and the fed ceiling
    measure the same thing and must agree within noise, both ways.
    """
    problems: list[str | None] = []
    if _known(e2e) and _known(device):
        problems.append(_above("e2e", e2e, "device ceiling", device, noise_pct(e2e_spread_pct, device_spread_pct)))
    if _known(e2e) and _known(pipeline_only):
        problems.append(_above("e2e", e2e, "pipeline-only rate", pipeline_only, noise_pct(e2e_spread_pct)))
    if _known(fed) and _known(device):
        problems.append(
            _above("the fed ceiling", fed, "device ceiling", device, noise_pct(fed_spread_pct, device_spread_pct))
        )
    if _known(e2e) and _known(fed):
        noise = noise_pct(e2e_spread_pct, fed_spread_pct)
        fed_name = "fed ceiling (the same constant batch)" if is_ceiling_pipeline else "fed ceiling"
        problems.append(_above("e2e", e2e, fed_name, fed, noise))
        if is_ceiling_pipeline:
            problems.append(_above("the fed ceiling", fed, "e2e of the same constant batch", e2e, noise))
    return [p for p in problems if p]
