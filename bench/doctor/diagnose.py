"""From one run's measurements: the bottleneck in one sentence, and the candidate fixes with their predicted e2e.

Each fix is one declared `FixRule` (what it addresses, when it applies, what it changes in the run's config and in
the performance model, and the line a user writes in their own code), so adding one is one entry in `RULES`.
Pure: no TensorFlow; `bench.doctor.clinic` measures, this decides.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.doctor.predict import (
    AUTOTUNE,
    Facts,
    Model,
    Setting,
    current_setting,
    dispatch_share,
    parallelism,
    removed_by_cache,
    stage_costs,
)
from bench.run.stall import stall_split

MODEL_BOUND = "model-bound"
INPUT_BOUND = "input-bound"
TRANSFER_BOUND = "transfer-bound"
DISPATCH_BOUND = "dispatch-bound"
DISPATCH_PROBE_SPE = 8  # steps per execution the doctor probes the device ceiling at
MIN_DISPATCH_POINTS = 10.0  # points of the e2e step below which per-step dispatch is not named
MIN_PREDICTED_GAIN_PCT = 5.0  # a fix predicting less is listed as not worth it (predictions are not measurements)
MAX_VERDICT_NOISE_PCT = 25.0  # parts below min(noise, this) are not named; a noisier run is flagged unreliable
CACHE_RAM_FRACTION = 0.5  # a decode cache is proposed only when it takes at most this fraction of free RAM


@dataclass(frozen=True)
class Context:
    """What a rule may look at beyond the facts: the pipeline's knobs, the backend, the RAM a cache would take."""

    knobs: frozenset[str]
    multi_step: bool = True  # the backend runs several steps per execution
    renders_spec: bool = True  # the pipeline renders the workload's augmentation (a user's own pipeline does not)
    cache_bytes: int | None = None
    free_bytes: int | None = None


@dataclass(frozen=True)
class FixRule:
    name: str  # what the user reads: `map_parallel=autotune`
    addresses: str  # the cause it removes, as a cause is named in the diagnosis
    applies: Callable[[Facts, Context], bool]
    config: Callable[[Facts], dict[str, Any]]  # RunConfig changes: `pipeline_options` merged, other fields set
    setting: Callable[[Setting, Facts], Setting]
    code: str  # the equivalent line in a user's own training code
    verifiable: bool = True  # False: the doctor's short runs cannot show it (a cache pays from the 2nd epoch)
    input_side: bool = True  # changes the input; a model-bound run gets none of these
    parts: frozenset[str] = frozenset({INPUT_BOUND})  # the stall parts it shrinks: fixes for the verdict come first


def _capped_parallelism(facts: Facts, options: dict[str, Any]) -> float:
    return parallelism({**facts.options, **options}, facts.cores)


def _map_parallel_limits(facts: Facts, ctx: Context) -> bool:
    if "map_parallel" not in ctx.knobs:
        return False
    calls = facts.options.get("map_parallel", AUTOTUNE)
    if calls is None:  # sequential
        return True
    return calls != AUTOTUNE and calls < facts.cores


def _pool_limits(facts: Facts, ctx: Context) -> bool:
    pool = facts.options.get("private_threadpool")
    return "private_threadpool" in ctx.knobs and pool is not None and pool < facts.cores


def _cache_fits(facts: Facts, ctx: Context) -> bool:
    if (
        "cache" not in ctx.knobs
        or facts.options.get("cache", "off") != "off"
        or not removed_by_cache(facts.stage_rates)
    ):
        return False
    return (
        ctx.cache_bytes is not None
        and ctx.free_bytes is not None
        and ctx.cache_bytes <= CACHE_RAM_FRACTION * ctx.free_bytes
    )


RULES: tuple[FixRule, ...] = (
    FixRule(
        "map_parallel=autotune",
        "a sequential (or narrow) map",
        _map_parallel_limits,
        lambda f: {"pipeline_options": {"map_parallel": AUTOTUNE}},
        lambda s, f: dataclasses.replace(
            s, parallelism=_capped_parallelism(f, {"map_parallel": AUTOTUNE}), overlap=True
        ),
        "ds = ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE)",
    ),
    FixRule(
        "prefetch=autotune",
        "no prefetch: input and training take turns",
        lambda f, c: "prefetch" in c.knobs and f.options.get("prefetch", AUTOTUNE) is None,
        lambda f: {"pipeline_options": {"prefetch": AUTOTUNE}},
        lambda s, f: dataclasses.replace(s, overlap=True),
        "ds = ds.prefetch(tf.data.AUTOTUNE)  # last in the pipeline",
    ),
    FixRule(
        "private_threadpool=off",
        "a private thread pool smaller than the cores",
        _pool_limits,
        lambda f: {"pipeline_options": {"private_threadpool": None}},
        lambda s, f: dataclasses.replace(s, parallelism=_capped_parallelism(f, {"private_threadpool": None})),
        "options.threading.private_threadpool_size = 0  # tf.data's shared pool: every core",
    ),
    FixRule(
        "workers=<cores>",
        "one worker thread preparing batches",
        lambda f, c: "workers" in c.knobs and int(f.options.get("workers", 1)) < f.cores,
        lambda f: {"pipeline_options": {"workers": f.cores}},
        lambda s, f: dataclasses.replace(s, parallelism=float(f.cores)),
        "keras.utils.PyDataset(workers=N, use_multiprocessing=...)  # or move to tf.data",
    ),
    FixRule(
        "augment_on=device",
        "augmentation on the host",
        lambda f, c: c.renders_spec and f.augment_on == "host" and stage_costs(f.stage_rates).get("augment", 0.0) > 0,
        lambda f: {"augment_on": "device"},
        lambda s, f: dataclasses.replace(
            s,
            removed_stages=s.removed_stages | {"augment"},
            moved_to_model=s.moved_to_model | {"augment"},
            transfer_scale=0.25 if f.fed_input.startswith("float32") else 1.0,  # uint8 travels instead
        ),
        "model = keras.Sequential([keras.layers.RandomFlip(...), keras.layers.RandomZoom(...), ..., model])",
        parts=frozenset({INPUT_BOUND, TRANSFER_BOUND}),
    ),
    FixRule(
        "cache=memory",
        "decoding every image again every epoch",
        _cache_fits,
        lambda f: {"pipeline_options": {"cache": "memory", "cache_at": "decode"}},
        lambda s, f: dataclasses.replace(s, removed_stages=s.removed_stages | removed_by_cache(f.stage_rates)),
        "ds = ds.map(decode).cache()  # before augmentation, so every epoch still augments afresh",
        verifiable=False,
    ),
    FixRule(
        f"steps_per_execution={DISPATCH_PROBE_SPE}",
        "per-step dispatch: the device idles between tiny steps",
        lambda f, c: c.multi_step and dispatch_share(f) > 0 and f.steps_per_execution < DISPATCH_PROBE_SPE,
        lambda f: {"steps_per_execution": DISPATCH_PROBE_SPE},
        lambda s, f: dataclasses.replace(s, steps_per_execution=DISPATCH_PROBE_SPE),
        f"model.compile(..., steps_per_execution={DISPATCH_PROBE_SPE})  # or a larger batch",
        input_side=False,
        parts=frozenset({DISPATCH_BOUND}),
    ),
)


@dataclass(frozen=True)
class Fix:
    rule: FixRule
    predicted_e2e: float
    predicted_gain_pct: float


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
    not_applied: list[str] = field(default_factory=list)  # rules that apply but predict less

    @property
    def causes(self) -> list[str]:
        return [fix.rule.addresses for fix in self.fixes]


def _dispatch_points(facts: Facts) -> float:
    """Points of the e2e step that per-step dispatch takes."""
    return 100.0 * dispatch_share(facts) * facts.e2e / facts.device_ceiling


def combine(rules: list[FixRule], facts: Facts) -> tuple[dict[str, Any], Setting]:
    """The config changes and model setting of several fixes applied together."""
    changes: dict[str, Any] = {}
    setting = current_setting(facts)
    for rule in rules:
        for key, value in rule.config(facts).items():
            if key == "pipeline_options":
                changes.setdefault(key, {}).update(value)
            else:
                changes[key] = value
        setting = rule.setting(setting, facts)
    return changes, setting


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
        _, setting = combine([rule], facts)
        predicted = model.e2e(setting)
        gain = 100.0 * (predicted / facts.e2e - 1.0)
        if gain > MIN_PREDICTED_GAIN_PCT:
            fixes.append(Fix(rule, predicted, gain))
        else:
            not_applied.append(f"{rule.name} (predicted {gain:+.0f}%)")
    # Fixes for the named bottleneck first, then what this run can verify, each best predicted first; a fix its
    # short runs cannot show (a cache) after those.
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
    return f"{wait}; {split.pipeline_pct:.0f} points are the host pipeline{stage}"
