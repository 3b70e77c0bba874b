"""From one run's measurements: the bottleneck in one sentence, and the candidate fixes (`bench.doctor.rules`) that
apply, each with its predicted e2e, ranked.

Pure: no TensorFlow; `bench.doctor.clinic` measures, this decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.doctor.predict import Facts, Model, dispatch_share, stage_costs
from bench.doctor.rules import (
    DISPATCH_BOUND,
    INPUT_BOUND,
    RULES,
    TRANSFER_BOUND,
    WAITING_CAUSE,
    Context,
    FixRule,
    combine,
    waits,
)
from bench.run.stall import stall_split

MODEL_BOUND = "model-bound"
MIN_DISPATCH_POINTS = 10.0  # points of the e2e step below which per-step dispatch is not named
MIN_PREDICTED_GAIN_PCT = 5.0  # a fix predicting less is listed as not worth it (predictions are not measurements)
MAX_VERDICT_NOISE_PCT = 25.0  # parts below min(noise, this) are not named; a noisier run is flagged unreliable


@dataclass(frozen=True)
class Fix:
    rule: FixRule
    predicted_e2e: float
    predicted_gain_pct: float
    detail: str = ""  # the rule's numbers for this run (`FixRule.detail`)


@dataclass(frozen=True)
class Diagnosis:
    verdict: str
    sentence: str
    input_bound_pct: float
    transfer_pct: float | None
    pipeline_pct: float | None
    dispatch_points: float
    slowest_stage: str | None
    slowest_stage_ms: float | None
    fixes: list[Fix] = field(default_factory=list)  # for the verdict first, then verifiable, then best predicted
    not_applied: list[str] = field(default_factory=list)  # rules that apply but predict less, or went unmeasured

    @property
    def causes(self) -> list[str]:
        return [fix.rule.addresses for fix in self.fixes]


def _dispatch_points(facts: Facts) -> float:
    """Points of the e2e step that per-step dispatch takes."""
    return 100.0 * dispatch_share(facts) * facts.e2e / facts.device_ceiling


def diagnose(facts: Facts, ctx: Context, noise_pct: float) -> Diagnosis:
    """The bottleneck, named with its numbers, and every applicable fix ranked by predicted e2e."""
    split = stall_split(facts.e2e, facts.device_ceiling, facts.fed_ceiling)
    dispatch_pts = _dispatch_points(facts)
    costs = stage_costs(facts.stage_rates)
    host_costs = {k: v for k, v in costs.items() if k != "prefetch"}
    slowest = max(host_costs, key=host_costs.get) if host_costs else None
    slowest_ms = 1e3 * host_costs[slowest] if slowest else None
    parts = {
        INPUT_BOUND: split.pipeline_pct or 0.0,
        TRANSFER_BOUND: split.transfer_pct or 0.0,
        DISPATCH_BOUND: dispatch_pts,
    }
    # A part is named only when it is larger than the noise (a part within it is no claim); the largest wins.
    bar = min(noise_pct, MAX_VERDICT_NOISE_PCT)
    # Dispatch is part of the model's own step (it shows with input-bound at 0); input and transfer need the
    # accelerator to be waiting beyond the noise.
    waiting = split.input_bound_pct >= bar
    named = {
        k: v
        for k, v in parts.items()
        if (v > max(bar, MIN_DISPATCH_POINTS) if k == DISPATCH_BOUND else waiting and v > bar)
    }
    verdict = max(named, key=named.get) if named else MODEL_BOUND
    model = Model(facts)
    fixes, not_applied = [], []
    input_side = verdict != MODEL_BOUND
    for rule in RULES:
        if not rule.applies(facts, ctx):
            continue
        if rule.input_side and not input_side:  # model-bound: nothing on input
            continue
        if rule.probe and rule.name not in facts.probed:
            not_applied.append(f"{rule.name} (not predicted: its probe did not measure)")
            continue
        _, setting = combine([rule], facts, ctx)
        predicted = model.e2e(setting)
        gain = 100.0 * (predicted / facts.e2e - 1.0)
        if gain > MIN_PREDICTED_GAIN_PCT:
            fixes.append(Fix(rule, predicted, gain, rule.detail(facts) if rule.detail else ""))
        else:
            not_applied.append(f"{rule.name} (predicted {gain:+.0f}%)")
    # Fixes for the named bottleneck first, then what this run can verify, each best predicted first; a fix its
    # short runs cannot show (a cache, a planned one) after those.
    fixes.sort(key=lambda fix: (verdict not in fix.rule.parts, not fix.rule.verifiable, -fix.predicted_e2e))
    sentence = _sentence(verdict, split, dispatch_pts, slowest, slowest_ms, facts)
    return Diagnosis(
        verdict, sentence, split.input_bound_pct, split.transfer_pct, split.pipeline_pct, dispatch_pts,
        slowest, slowest_ms, fixes, not_applied,
    )  # fmt: skip


def _sentence(
    verdict: str, split: Any, dispatch_pts: float, slowest: str | None, ms: float | None, facts: Facts
) -> str:
    wait = f"the accelerator waits {split.input_bound_pct:.0f}% of each step"
    if verdict == MODEL_BOUND:
        return (
            f"model-bound: training runs at {facts.e2e:,.0f} img/s, within the noise of the model alone "
            f"({facts.device_ceiling:,.0f} img/s on a device-resident batch); no input change will speed it up"
        )
    if verdict == DISPATCH_BOUND:
        return (
            f"dispatch-bound: {dispatch_pts:.0f} points of each step are per-step dispatch (the device idles between "
            f"tiny steps); raise --steps-per-execution or the batch"
        )
    if verdict == TRANSFER_BOUND:
        where = "moving the batch to the device" if facts.accelerator else "handing the batch to the step"
        return (
            f"{wait}; {split.transfer_pct:.0f} points are {where} (the Keras data adapter and its copy: fed ceiling "
            f"{facts.fed_ceiling:,.0f} vs device-resident {facts.device_ceiling:,.0f} img/s for {facts.fed_input}): "
            f"ship fewer bytes (uint8 with --augment-on device)"
        )
    stage = f", whose slowest stage is {slowest} at {ms:.2f} ms/img" if slowest and ms is not None else ""
    waiting = (
        f"; alone it kept {100 * (facts.busy or 0):.0f}% of the CPU it could use busy: {WAITING_CAUSE}"
        if waits(facts)
        else ""
    )
    return f"{wait}; {split.pipeline_pct:.0f} points are the host pipeline{stage}{waiting}"
