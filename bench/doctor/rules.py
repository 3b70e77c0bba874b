"""The candidate fixes the doctor knows, each one declared `FixRule`: what it addresses, when it applies, what it
changes in the run's config and in the performance model (`bench.doctor.predict`), and the line a user writes in
their own code -- so adding a fix is one entry in `RULES`, and no code elsewhere asks which pipeline a run uses.

A rule whose prediction needs a measurement the run does not make (vectorized augmentation, another loader) declares
a `probe`: the clinic times the pipeline alone with the rule's changes beside the pipeline as it is
(`bench.doctor.probe`), and the rule predicts from the measured ratio. A *planned* rule (more cores, tf.data service
workers) is predicted, never verified: this machine cannot show it, and the output says so.
Pure: no TensorFlow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.doctor.predict import (
    AUTOTUNE,
    Facts,
    Setting,
    cores_to_feed,
    current_setting,
    dispatch_share,
    parallelism,
    removed_by_cache,
    scaled_stage,
    stage_costs,
    workers_to_feed,
)
from imgcls.pipelines import CEILING, get_pipeline_spec, pipelines_with_role
from imgcls.pipelines.base import TUNED as TUNED_ROLE

INPUT_BOUND = "input-bound"  # the stall parts a fix can shrink (`bench.doctor.diagnose` names the largest)
TRANSFER_BOUND = "transfer-bound"
DISPATCH_BOUND = "dispatch-bound"
DISPATCH_PROBE_SPE = 8  # steps per execution the doctor probes the device ceiling at
BATCH_SCALE = 4  # the larger batch a dispatch-bound run is offered: 4x the run's (fewer steps per image)
CACHE_RAM_FRACTION = 0.5  # a decode cache is proposed only when it takes at most this fraction of free RAM
WAITING_BUSY = 0.5  # a pipeline keeping less of the CPU it could use busy than this waits (I/O, a sleep, a lock)
WAITING_THREADS_PER_CORE = 4  # the private pool offered to a waiting pipeline: threads per core
PLANNED = "planned: predicted, not verifiable on this machine"
SECOND_EPOCH = "pays from the second epoch: the doctor's one-epoch runs cannot show it"
NO_KNOB = "the pipeline has no knob the doctor can turn: change it in your own code"
WAITING_CAUSE = "a stage that waits (I/O, a sleep, a lock) while the cores idle"
CPU_BOUND_CAUSE = "the host pipeline is CPU-bound at all cores"


@dataclass(frozen=True)
class Context:
    """What a rule may look at beyond the facts: the pipeline's knobs, the backend, the RAM a cache would take."""

    knobs: frozenset[str]
    multi_step: bool = True  # the backend runs several steps per execution
    renders_spec: bool = True  # the pipeline renders the workload's augmentation (a user's own pipeline does not)
    cache_bytes: int | None = None
    free_bytes: int | None = None
    switch_to: str | None = None  # the tuned tf.data pipeline to try instead of the run's loader (`switch_target`)


@dataclass(frozen=True)
class FixRule:
    name: str  # what the user reads: `map_parallel=autotune`
    addresses: str  # the cause it removes, as a cause is named in the diagnosis
    applies: Callable[[Facts, Context], bool]
    config: Callable[[Facts, Context], dict[str, Any]]  # RunConfig changes: `pipeline_options` merged, others set
    setting: Callable[[Setting, Facts], Setting]
    code: str  # the equivalent line in a user's own training code
    unverified: str | None = None  # why the doctor's runs cannot verify it (None: they can)
    input_side: bool = True  # changes the input; a model-bound run gets none of these
    parts: frozenset[str] = frozenset({INPUT_BOUND})  # the stall parts it shrinks: fixes for the verdict come first
    probe: bool = False  # its prediction needs `Facts.probed[name]`: the pipeline alone timed with `config`
    detail: Callable[[Facts], str] | None = None  # the fix in numbers, where its name cannot say them
    replaces_pipeline: bool = False  # another pipeline: the run's pipeline options mean nothing to it

    @property
    def verifiable(self) -> bool:
        return self.unverified is None


def switch_target(pipeline: str) -> str | None:
    """The loader the doctor tries instead of the run's: the tuned tf.data (the pipeline whose tuning is `tuned`),
    for a pipeline that renders the workload's data and is neither it nor the ceiling; None otherwise."""
    spec = get_pipeline_spec(pipeline)
    tuned = pipelines_with_role(TUNED_ROLE)
    if not tuned or pipeline in tuned or spec.own_data or spec.role == CEILING:
        return None
    return tuned[0]


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


def waits(facts: Facts) -> bool:
    return facts.busy is not None and facts.busy < WAITING_BUSY


def _all_cores(facts: Facts) -> bool:
    """The pipeline's threads already cover the cores: no narrower knob is left to open."""
    return parallelism(facts.options, facts.cores) >= facts.cores


def _cpu_bound_at_all_cores(facts: Facts) -> bool:
    return _all_cores(facts) and not waits(facts) and bool(facts.one_core_pipeline)


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


def _waiting_pool(facts: Facts) -> int:
    return WAITING_THREADS_PER_CORE * facts.cores


def _more_threads(s: Setting, f: Facts) -> Setting:
    pool = float(_waiting_pool(f))
    return dataclasses.replace(s, pool=pool, parallelism=_capped_parallelism(f, {"private_threadpool": pool}))


def _cores_needed(f: Facts) -> int:
    return cores_to_feed(1, f.device_ceiling, f.one_core_pipeline or 1.0)


def _workers_needed(f: Facts) -> int:
    return workers_to_feed(1, f.device_ceiling, f.one_core_pipeline or 1.0, f.cores)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _workers_rule(knob: str, code: str) -> FixRule:
    """A loader timed whole, by the knob that sets its workers (threads or processes), raised to the cores."""
    return FixRule(
        f"{knob}=<cores>",
        "too few workers preparing batches",
        lambda f, c: knob in c.knobs and int(f.options.get(knob, 0)) < f.cores,
        lambda f, c: {"pipeline_options": {knob: f.cores}},
        lambda s, f: dataclasses.replace(s, parallelism=float(f.cores), overlap=True),
        code,
    )


def _probed(name: str) -> Callable[[Facts], float]:
    return lambda f: f.probed[name]


VECTORIZE = "vectorize=on"
TUNED_LOADER = f"pipeline={(pipelines_with_role(TUNED_ROLE) or ['<tuned>'])[0]}"  # the recommended loader
RULES: tuple[FixRule, ...] = (
    FixRule(
        "map_parallel=autotune",
        "a sequential (or narrow) map",
        _map_parallel_limits,
        lambda f, c: {"pipeline_options": {"map_parallel": AUTOTUNE}},
        lambda s, f: dataclasses.replace(
            s, parallelism=_capped_parallelism(f, {"map_parallel": AUTOTUNE}), overlap=True
        ),
        "ds = ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE)",
    ),
    FixRule(
        "prefetch=autotune",
        "no prefetch: input and training take turns",
        lambda f, c: "prefetch" in c.knobs and f.options.get("prefetch", AUTOTUNE) is None,
        lambda f, c: {"pipeline_options": {"prefetch": AUTOTUNE}},
        lambda s, f: dataclasses.replace(s, overlap=True),
        "ds = ds.prefetch(tf.data.AUTOTUNE)  # last in the pipeline",
    ),
    FixRule(
        "private_threadpool=off",
        "a private thread pool smaller than the cores",
        _pool_limits,
        lambda f, c: {"pipeline_options": {"private_threadpool": None}},
        lambda s, f: dataclasses.replace(
            s, pool=None, parallelism=_capped_parallelism(f, {"private_threadpool": None})
        ),
        "options.threading.private_threadpool_size = 0  # tf.data's shared pool: every core",
    ),
    FixRule(
        f"private_threadpool={WAITING_THREADS_PER_CORE}x cores",
        WAITING_CAUSE,
        lambda f, c: "private_threadpool" in c.knobs and waits(f) and _all_cores(f),
        lambda f, c: {"pipeline_options": {"private_threadpool": _waiting_pool(f)}},
        _more_threads,
        f"options.threading.private_threadpool_size = {WAITING_THREADS_PER_CORE} * os.cpu_count()  "
        "# more threads than cores: autotune then runs more calls of a stage that waits",
    ),
    FixRule(
        f"{WAITING_THREADS_PER_CORE} threads per core in your code",
        WAITING_CAUSE,
        lambda f, c: "private_threadpool" not in c.knobs and waits(f) and _all_cores(f) and bool(f.stage_rates),
        lambda f, c: {},
        _more_threads,
        f"options = tf.data.Options(); options.threading.private_threadpool_size = {WAITING_THREADS_PER_CORE} * "
        "os.cpu_count(); ds = ds.with_options(options)",
        unverified=NO_KNOB,
    ),
    FixRule(
        VECTORIZE,
        "augmenting one image at a time",
        lambda f, c: (
            "vectorize" in c.knobs
            and f.options.get("vectorize") is False
            and f.augment_on == "host"
            and stage_costs(f.stage_rates).get("augment", 0.0) > 0
        ),
        lambda f, c: {"pipeline_options": {"vectorize": True}},
        lambda s, f: dataclasses.replace(
            s, work_scale={**s.work_scale, **scaled_stage(f, "augment", _probed(VECTORIZE)(f))}
        ),
        "ds = ds.batch(B).map(augment_batch, num_parallel_calls=tf.data.AUTOTUNE)  # augment whole batches",
        probe=True,
    ),
    _workers_rule("workers", "keras.utils.PyDataset(workers=N, use_multiprocessing=...)  # or move to tf.data"),
    _workers_rule("num_workers", "torch.utils.data.DataLoader(dataset, num_workers=N, persistent_workers=True)"),
    _workers_rule("worker_count", "grain.MultiprocessingOptions(num_workers=N)  # in .mp_prefetch(...)"),
    FixRule(
        TUNED_LOADER,
        "a loader slower than tf.data on the same data",
        lambda f, c: c.switch_to is not None,
        lambda f, c: {"pipeline": c.switch_to, "pipeline_options": {}},
        lambda s, f: dataclasses.replace(
            s,
            replaced_rate=f.pipeline_only * _probed(TUNED_LOADER)(f),
            parallelism=float(f.cores),
            overlap=True,
            pool=None,
            work_scale={},
        ),
        "ds = tf.data.Dataset.from_tensor_slices(...).map(load, num_parallel_calls=tf.data.AUTOTUNE)"
        ".batch(B).map(augment, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)",
        probe=True,
        replaces_pipeline=True,
    ),
    FixRule(
        "augment_on=device",
        "augmentation on the host",
        lambda f, c: c.renders_spec and f.augment_on == "host" and stage_costs(f.stage_rates).get("augment", 0.0) > 0,
        lambda f, c: {"augment_on": "device"},
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
        lambda f, c: {"pipeline_options": {"cache": "memory", "cache_at": "decode"}},
        lambda s, f: dataclasses.replace(s, removed_stages=s.removed_stages | removed_by_cache(f.stage_rates)),
        "ds = ds.map(decode).cache()  # before augmentation, so every epoch still augments afresh",
        unverified=SECOND_EPOCH,
    ),
    FixRule(
        f"steps_per_execution={DISPATCH_PROBE_SPE}",
        "per-step dispatch: the device idles between tiny steps",
        lambda f, c: c.multi_step and dispatch_share(f) > 0 and f.steps_per_execution < DISPATCH_PROBE_SPE,
        lambda f, c: {"steps_per_execution": DISPATCH_PROBE_SPE},
        lambda s, f: dataclasses.replace(s, steps_per_execution=DISPATCH_PROBE_SPE),
        f"model.compile(..., steps_per_execution={DISPATCH_PROBE_SPE})",
        input_side=False,
        parts=frozenset({DISPATCH_BOUND}),
    ),
    FixRule(
        f"batch_size={BATCH_SCALE}x",
        "per-step dispatch: the device idles between tiny steps",
        lambda f, c: dispatch_share(f) > 0 and bool(f.batch_size),
        lambda f, c: {"batch_size": BATCH_SCALE * int(f.batch_size or 1)},
        lambda s, f: dataclasses.replace(s, batch_scale=float(BATCH_SCALE)),
        f"ds = ds.batch({BATCH_SCALE} * B)  # fewer steps per image; scale the learning rate with the batch",
        input_side=False,
        parts=frozenset({DISPATCH_BOUND}),
        detail=lambda f: (
            f"batch {BATCH_SCALE * int(f.batch_size or 1)} (the run's {f.batch_size}); the model's "
            "compute per image assumed unchanged"
        ),
    ),
    FixRule(
        "more host cores",
        CPU_BOUND_CAUSE,
        lambda f, c: _cpu_bound_at_all_cores(f),
        lambda f, c: {},
        lambda s, f: dataclasses.replace(
            s, dedicated_cores=float(_cores_needed(f)), parallelism=float(_cores_needed(f)), pool=None
        ),
        "# a host with more cores for the input, or the input moved to other machines (tf.data service)",
        unverified=PLANNED,
        detail=lambda f: (
            f"{_plural(_cores_needed(f), 'core')} serving the pipeline alone: the device ceiling's rate at "
            f"{f.one_core_pipeline or 0:,.0f} img/s per core"
        ),
    ),
    FixRule(
        "tf.data service workers",
        CPU_BOUND_CAUSE,
        lambda f, c: _cpu_bound_at_all_cores(f) and bool(f.stage_rates),
        lambda f, c: {},
        lambda s, f: dataclasses.replace(
            s,
            dedicated_cores=float(f.cores),
            replicas=_workers_needed(f),
            parallelism=float(f.cores),
            pool=None,
        ),
        "ds = ds.apply(tf.data.experimental.service.distribute('parallel_epochs', service='grpc://DISPATCHER:5050'))",
        unverified=PLANNED,
        detail=lambda f: (
            f"{_plural(_workers_needed(f), 'worker')} of {f.cores} cores each (a worker assumed like this "
            f"machine: {f.cores} x {f.one_core_pipeline or 0:,.0f} img/s per core)"
        ),
    ),
)


def probe_rules(facts: Facts, ctx: Context) -> list[FixRule]:
    """The rules that apply and need a probe (their `applies` never reads `Facts.probed`)."""
    return [rule for rule in RULES if rule.probe and rule.applies(facts, ctx)]


def combinable(rules: list[FixRule], facts: Facts, ctx: Context) -> list[FixRule]:
    """The rules that can be applied together: a rule that replaces the pipeline drops the others that set the old
    pipeline's options (a knob the new pipeline may not have, on a graph it no longer runs)."""
    switch = next((rule for rule in rules if rule.replaces_pipeline), None)
    if switch is None:
        return list(rules)
    return [r for r in rules if r is switch or "pipeline_options" not in r.config(facts, ctx)]


def combine(rules: list[FixRule], facts: Facts, ctx: Context) -> tuple[dict[str, Any], Setting]:
    """The config changes and model setting of several fixes applied together."""
    changes: dict[str, Any] = {}
    setting = current_setting(facts)
    for rule in rules:
        for key, value in rule.config(facts, ctx).items():
            if key == "pipeline_options":
                changes.setdefault(key, {}).update(value)
            else:
                changes[key] = value
        setting = rule.setting(setting, facts)
    return changes, setting
