"""The doctor's performance model: from one run's measurements, the end-to-end rate each candidate fix should reach.

Pure arithmetic on measured rates (no TensorFlow), so it is unit-tested on a simulated clock. The model, stated
once (Plumber-style, Kern et al. 2022: a stage's rate times its parallelism; the slowest stage bounds the pipeline):

- **Pipeline work.** `W` = CPU-seconds of input work per image = 1 / (pipeline-only rate on one core). The growing
  prefixes of the graph split `W` into stages: a stage's share is its prefix cost (1/rate of its prefix minus 1/rate
  of the one before) over the sum of the prefix costs.
- **Pipeline rate** at parallelism `p` on `C` cores: `eff * min(p, C) / W`, bounded by the slowest stage
  (`min(p, C) / w_stage`). `eff` (at most 1) is calibrated on the run: the measured pipeline-only rate over the
  model's rate at the parallelism in force -- so a prediction changes only what the fix changes.
- **Fixes** change the terms: a parallel map or a larger private pool raises `p`; a cache at decode removes the
  stages up to decode from every epoch after the first; `--augment-on device` removes the augment stage from the
  host (on an accelerator it is assumed free there; on a CPU-only machine its work joins the model's, on the same
  cores) and, where the pipeline delivered float32, the batch handed to the step shrinks to uint8 (a quarter of the
  transfer: fed minus device ceiling); a larger `--steps-per-execution` removes the per-step dispatch measured by
  the ceiling probe.
- **End to end.** The model takes `t_m` = 1 / fed ceiling per image. With an accelerator the pipeline overlaps the
  step when something buffers ahead (prefetch on, or a parallel map's own buffer): `t = max(t_m, t_p)`, else
  `t_m + t_p`. On a CPU-only machine model and pipeline share the `C` cores: with overlap the rate is the least of
  `1 / (t_m + a W_host / C)` (the work adds up, `a` of it not hidden behind the model's step, which a small model
  does not spread over all cores), the pipeline's share of the cores (its `p` threads get `p / (p + C u)` of them,
  `u = t_m r` being the fraction of the time the model's step holds all `C`: solved for the rate `r`) and the
  pipeline alone; without overlap `t_m + t_p`.
- **Calibration.** The model's e2e for the run as measured is compared with the measured e2e. A run slower than
  the model scales each prediction by the ratio (`kappa` < 1). A run faster than the model (CPU only) fits `a` in
  [0, 1] to it instead: the overlap it shows is the run's, and the fixes inherit it, no more; a run faster even at
  `a = 0` is no bonus (`kappa` stays 1). Every prediction is then capped at the device ceiling (nothing beats the
  model alone).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

AUTOTUNE = -1  # tf.data.AUTOTUNE, as the option fields spell it


@dataclass(frozen=True)
class Facts:
    """What one measured run tells the model (rates in images/s)."""

    cores: int
    accelerator: bool  # the model runs on a device other than the host CPU
    e2e: float
    device_ceiling: float
    fed_ceiling: float
    pipeline_only: float
    one_core_pipeline: float | None  # pipeline-only pinned to one core (None: not measured)
    stage_rates: dict[str, float] = field(default_factory=dict)  # prefix rates, in graph order
    options: dict[str, Any] = field(default_factory=dict)  # the pipeline options in force
    augment_on: str = "host"
    steps_per_execution: int = 1
    probe_spe: int | None = None  # steps per execution of the dispatch probe
    probe_device_ceiling: float | None = None  # the device ceiling at `probe_spe`
    fed_input: str = ""  # dtype and shape of the batch the pipeline delivers (`float32[32, 160, 160, 3]`)


@dataclass(frozen=True)
class Setting:
    """The terms of the model a fix can change."""

    parallelism: float  # threads a pipeline stage can use
    overlap: bool  # something buffers ahead of the model
    removed_stages: frozenset[str] = frozenset()  # stages no longer on the host (cached, or moved to the model)
    moved_to_model: frozenset[str] = frozenset()  # of them, the ones whose work joins the model's step
    steps_per_execution: int = 1
    transfer_scale: float = 1.0  # bytes per batch handed to the step, relative to the run's


def parallelism(options: dict[str, Any], cores: int) -> float:
    """Threads the pipeline's maps may use under `options`: 1 for a sequential map, else the map's parallel calls
    (all cores for autotune), capped by a private thread pool and by the cores."""
    if "map_parallel" not in options and "workers" in options:  # ImageDataGenerator: batches by worker threads
        return float(min(cores, max(1, int(options["workers"]))))
    calls = options.get("map_parallel", AUTOTUNE)
    threads = 1 if calls is None else (cores if calls == AUTOTUNE else max(1, int(calls)))
    pool = options.get("private_threadpool")
    if pool is not None:
        threads = min(threads, max(1, int(pool)))
    return float(min(threads, cores))


def overlaps(options: dict[str, Any]) -> bool:
    """Whether anything buffers ahead of the model: a prefetch, or a parallel map's own output buffer."""
    if "map_parallel" not in options:
        return True  # other loaders (ImageDataGenerator's enqueuer, ...) keep a queue
    return options.get("prefetch") is not None or options.get("map_parallel") is not None


def current_setting(facts: Facts) -> Setting:
    removed = frozenset({"augment"}) if facts.augment_on == "device" else frozenset()
    return Setting(
        parallelism(facts.options, facts.cores),
        overlaps(facts.options),
        steps_per_execution=facts.steps_per_execution,
        removed_stages=removed,
        moved_to_model=removed,
    )


def stage_costs(stage_rates: dict[str, float]) -> dict[str, float]:
    """Seconds per image each stage adds (prefix cost minus the previous prefix's), never below zero."""
    costs, previous = {}, 0.0
    for name, rate in stage_rates.items():
        per_image = 1.0 / rate if rate and rate > 0 and math.isfinite(rate) else previous
        costs[name] = max(0.0, per_image - previous)
        previous = max(previous, per_image)
    return costs


def stage_shares(stage_rates: dict[str, float]) -> dict[str, float]:
    costs = stage_costs(stage_rates)
    total = sum(costs.values())
    return {name: cost / total for name, cost in costs.items()} if total > 0 else {}


def work_per_image(facts: Facts) -> float:
    """`W`: CPU-seconds of pipeline work per image: from the one-core rate, but never more than the all-core rate
    allows (no pipeline scales beyond linear; a one-core point slowed by a busy machine must not say so); without a
    one-core point, from the rate at the parallelism in force, assumed linear."""
    linear = parallelism(facts.options, facts.cores) / facts.pipeline_only
    if facts.one_core_pipeline:
        return min(1.0 / facts.one_core_pipeline, facts.cores / facts.pipeline_only)
    return linear


def _stages_up_to(stage_rates: dict[str, float], last: str) -> frozenset[str]:
    names = list(stage_rates)
    return frozenset(names[: names.index(last) + 1]) if last in names else frozenset()


class Model:
    """The model of one run, calibrated on it; `e2e(setting)` predicts the rate of another setting."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.work = work_per_image(facts)
        self.shares = stage_shares(facts.stage_rates) or {"pipeline": 1.0}
        now = current_setting(facts)
        model_rate = self._pipeline_rate(now, efficiency=1.0)
        self.efficiency = min(1.0, facts.pipeline_only / model_rate) if model_rate > 0 else 1.0
        # Scaled down where the run is slower than the model says; never up, since a run faster than the model
        # means a term the model overstates, which no fix's prediction should inherit as a bonus. On a shared CPU
        # that term is the serial sum of model and host work: the overlap the run shows is fitted instead.
        self.hidden = 1.0  # `a`: the share of host work not hidden behind the model's step (CPU only)
        raw = self._raw_e2e(now)
        host = self._host_work(now)
        if raw < facts.e2e and not facts.accelerator and now.overlap and host > 0:
            # 1 / (t_m + a W_host / C) = e2e, solved for a
            fitted = (1.0 / facts.e2e - self._model_time(now)) * facts.cores / host
            self.hidden = min(1.0, max(0.0, fitted))
            raw = self._raw_e2e(now)
        self.kappa = min(1.0, facts.e2e / raw)

    def _host_work(self, setting: Setting) -> float:
        kept = sum(share for name, share in self.shares.items() if name not in setting.removed_stages)
        return self.work * kept

    def _pipeline_rate(self, setting: Setting, efficiency: float | None = None) -> float:
        eff = self.efficiency if efficiency is None else efficiency
        threads = min(setting.parallelism, self.facts.cores)
        host = self._host_work(setting)
        if host <= 0:
            return math.inf
        slowest = max(
            (self.work * share for name, share in self.shares.items() if name not in setting.removed_stages),
            default=0.0,
        )
        return eff * min(threads / host, threads / slowest if slowest > 0 else math.inf)

    def pipeline_rate(self, setting: Setting) -> float:
        """Predicted pipeline-only images/s under `setting`."""
        return self._pipeline_rate(setting)

    def _model_time(self, setting: Setting) -> float:
        facts = self.facts
        # Per-step dispatch d, per image of a batch: t(spe) = t_compute + d / spe, fitted to the two measured spe.
        s0, s = facts.steps_per_execution, setting.steps_per_execution
        handing = max(0.0, 1.0 / facts.fed_ceiling - 1.0 / facts.device_ceiling)  # adapter + copy, per image
        t_model = 1.0 / facts.device_ceiling + handing * setting.transfer_scale
        t_model -= per_step_dispatch(facts) * (1.0 / s0 - 1.0 / s)
        moved = sum(self.shares.get(name, 0.0) for name in setting.moved_to_model)
        already = sum(self.shares.get(name, 0.0) for name in current_setting(facts).moved_to_model)
        if not facts.accelerator:  # the device is the host: moved work still costs its CPU time, batched
            t_model += self.work * (moved - already) / facts.cores
        return t_model

    def _raw_e2e(self, setting: Setting) -> float:
        t_model = self._model_time(setting)
        t_pipe = 1.0 / self._pipeline_rate(setting)
        if not setting.overlap:
            return 1.0 / (t_model + t_pipe)
        if self.facts.accelerator:
            return 1.0 / max(t_model, t_pipe)
        # One CPU for both: the host work not hidden behind the model's step adds to it, and while the model's step
        # holds all C cores the pipeline's p threads get their share of them.
        cores, host = self.facts.cores, self._host_work(setting)
        threads = min(setting.parallelism, cores)
        serial = 1.0 / (t_model + self.hidden * host / cores)
        return min(serial, self._shared_rate(t_model, host, threads), 1.0 / t_pipe)

    def _shared_rate(self, t_model: float, host: float, threads: float) -> float:
        """The rate `r` at which the pipeline's `p` threads, holding `p / (p + C u)` of the `C` cores while the model's
        step runs a fraction `u = t_m r` of the time, deliver `r`: the root of `C t_m r^2 + p r - eff p C / W = 0`."""
        if host <= 0:
            return math.inf
        cores = self.facts.cores
        alone = self.efficiency * threads * cores / host  # K: its rate with the cores to itself, times C / p
        quad = cores * t_model
        if quad <= 0:
            return alone / threads
        return (-threads + math.sqrt(threads * threads + 4.0 * quad * alone)) / (2.0 * quad)

    def e2e(self, setting: Setting) -> float:
        """Predicted end-to-end images/s under `setting`: the model, calibrated, capped at the device ceiling
        (at the setting's steps per execution)."""
        facts = self.facts
        saved = per_step_dispatch(facts) * (1.0 / facts.steps_per_execution - 1.0 / setting.steps_per_execution)
        cap = 1.0 / (1.0 / facts.device_ceiling - saved)
        return min(cap, self.kappa * self._raw_e2e(setting))


def per_step_dispatch(facts: Facts) -> float:
    """`d`: the seconds per image that one call of the train function costs beyond its steps, fitted to the device
    ceiling at the run's steps per execution `s0` and at the probe's `k`: 1/dev(s0) - 1/dev(k) = d (1/s0 - 1/k)."""
    s0, k = facts.steps_per_execution, facts.probe_spe
    if not facts.probe_device_ceiling or not k or k <= s0:
        return 0.0
    saved = max(0.0, 1.0 / facts.device_ceiling - 1.0 / facts.probe_device_ceiling)
    return saved / (1.0 / s0 - 1.0 / k)


def dispatch_share(facts: Facts) -> float:
    """Fraction of the model's step at the run's steps per execution that is per-call dispatch (0: not probed)."""
    return per_step_dispatch(facts) / facts.steps_per_execution * facts.device_ceiling


def with_changes(setting: Setting, **changes: Any) -> Setting:
    return dataclasses.replace(setting, **changes)


def removed_by_cache(stage_rates: dict[str, float]) -> frozenset[str]:
    """A cache at decode removes read and decode (or the array source) from every later epoch."""
    for last in ("decode", "source"):
        removed = _stages_up_to(stage_rates, last)
        if removed:
            return removed
    return frozenset()


def cores_to_feed(accelerators: int, device_ceiling: float, per_core_rate: float) -> int:
    """Host cores that keep `accelerators` busy at the device ceiling, at the measured per-core pipeline rate."""
    if per_core_rate <= 0:
        raise ValueError(f"per-core rate must be positive, got {per_core_rate}")
    return math.ceil(accelerators * device_ceiling / per_core_rate)
