"""The doctor's performance model: from one run's measurements, the end-to-end rate each candidate fix should reach.

Pure arithmetic on measured rates (no TensorFlow), so it is unit-tested on a simulated clock. The model, stated
once (Plumber-style, Kern et al. 2022: a stage's rate times its parallelism; the slowest stage bounds the pipeline):

- **Pipeline work.** `W` = seconds of one thread's work per image = 1 / (pipeline-only rate on one core), but never
  more than the all-core rate allows (a busy machine slows a point, never speeds it). The
  growing prefixes of the graph split `W` into stages: a stage's work is its prefix cost (1/rate of its prefix minus
  1/rate of the one before) times the threads it ran with when timed, over the sum of those.
- **Where a stage runs** (`STAGE_PLACES`, by the stage's name): inside a parallel map it gets the map's threads `p`;
  a source, a batch or a sequential map runs in one thread, and consecutive one-thread stages share that thread
  (their work adds up); an interleave gets its own cycle. A stage the table does not know is taken to run in the map.
- **Pipeline rate** = `eff * min(C / (b * sum w), P / sum w, min over groups of p_g / w_g)`: the cores `C` (of which
  the work keeps a fraction `b` busy -- `b` < 1 for a stage that waits on I/O, a sleep or a lock; measured by the
  probe, else 1), a private thread pool of `P` threads that every stage shares (none: no such bound), and each group
  of stages at its own threads -- so a sequential batch slower than the map's per-thread share binds, where one
  parallelism for every stage never could. `eff` (at most 1) is calibrated on the run: the measured pipeline-only
  rate over the model's rate at the setting in force -- so a prediction changes only what the fix changes. A
  pipeline measured faster than its threads allow (TF ops run on intra-op threads of their own, which neither a
  sequential map nor a private pool confines) has its groups run on that many times their threads, up to the cores:
  a wider map or a larger pool then adds only the cores it did not use yet.
- **Fixes** change the terms: a parallel map or a larger private pool raises `p`; a cache at decode removes the
  stages up to decode from every epoch after the first; `--augment-on device` removes the augment stage from the
  host (on an accelerator it is assumed free there; on a CPU-only machine its work joins the model's, on the same
  cores) and, where the pipeline delivered float32, the batch handed to the step shrinks to uint8 (a quarter of the
  transfer: fed minus device ceiling); vectorized augmentation scales the augment stage's work by what its probe
  measured; another loader replaces the stage model by its own measured pipeline-only rate; a larger
  `--steps-per-execution` (or a larger batch: fewer steps per image) removes the per-step dispatch measured by the
  ceiling probe, the model's compute per image assumed unchanged; *planned* fixes (more cores, tf.data service
  workers) put the pipeline on cores of its own -- `dedicated_cores` each, `replicas` copies -- that the model does
  not share.
- **End to end.** The model takes `t_m` = 1 / fed ceiling per image. With an accelerator (or a pipeline on cores of
  its own) the pipeline overlaps the step when something buffers ahead (prefetch on, a parallel map's own buffer, a
  loader's worker queue): `t = max(t_m, t_p)`, else `t_m + t_p`. On a CPU-only machine model and pipeline share the
  `C` cores: with overlap the rate is the least of `1 / (t_m + a W_host / C)` (the work adds up, `a` of it not
  hidden behind the model's step, which a small model does not spread over all cores), the pipeline's share of the
  cores (its `p` threads get `p / (p + C u)` of them, `u = t_m r` being the fraction of the time the model's step
  holds all `C`: solved for the rate `r`) and the pipeline alone; without overlap `t_m + t_p`.
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
MAP, SEQUENTIAL, INTERLEAVE, ASYNC = "map", "sequential", "interleave", "async"
# Where a stage runs, by the name it is timed under: the built-in tf.data graphs' stages, and the kinds a user's
# graph is named by where the user gave no name (`imgcls.pipelines.graph_stages`). `pipeline` is a loader timed
# whole (its worker threads or processes are its map).
STAGE_PLACES: dict[str, str] = {
    "source": SEQUENTIAL,  # iterating (and shuffling) arrays hands the map one element at a time
    "read": MAP,  # tf.io.read_file inside the map (an interleave when --interleave-cycle is set)
    "decode": MAP,
    "augment": MAP,
    "pipeline": MAP,
    "parallel_map": MAP,
    "map": SEQUENTIAL,
    "batch": SEQUENTIAL,
    "padded_batch": SEQUENTIAL,
    "shuffle": SEQUENTIAL,
    "repeat": SEQUENTIAL,
    "interleave": INTERLEAVE,
    "parallel_interleave": INTERLEAVE,
    "prefetch": ASYNC,  # a buffer, no work of its own: counted in the cores, never a bound
}
FUSED = {"decode": "read"}  # the built-in graph reads and decodes a file in one map call: one group of threads
# Loaders timed whole, by the knob that sets their workers, and the smallest value that runs them in the background
# (Keras's enqueuer: 1 is the training loop itself; torch and Grain: 0 is the training process).
WORKER_KNOBS: dict[str, int] = {"workers": 2, "num_workers": 1, "worker_count": 1}


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
    batch_size: int | None = None
    busy: float | None = None  # of the CPU the pipeline alone could use, the share it kept busy (None: not probed)
    probed: dict[str, float] = field(default_factory=dict)  # a fix's name -> its pipeline-only rate over the run's


@dataclass(frozen=True)
class Setting:
    """The terms of the model a fix can change."""

    parallelism: float  # threads the pipeline's map can use (1: sequential)
    overlap: bool  # something buffers ahead of the model
    removed_stages: frozenset[str] = frozenset()  # stages no longer on the host (cached, or moved to the model)
    moved_to_model: frozenset[str] = frozenset()  # of them, the ones whose work joins the model's step
    steps_per_execution: int = 1
    transfer_scale: float = 1.0  # bytes per batch handed to the step, relative to the run's
    pool: float | None = None  # a private thread pool every stage shares (None: tf.data's shared pool)
    work_scale: dict[str, float] = field(default_factory=dict)  # a stage's work relative to the run's
    replaced_rate: float | None = None  # another loader's measured pipeline-only rate: the stage model is replaced
    batch_scale: float = 1.0  # batch size relative to the run's: per-step dispatch spread over more images
    dedicated_cores: float | None = None  # planned: cores that serve the pipeline alone (the model keeps its own)
    replicas: int = 1  # planned: copies of the pipeline, each on `dedicated_cores` (tf.data service workers)


def worker_knob(options: dict[str, Any]) -> str | None:
    """The knob that sets a whole-loader pipeline's workers (None: a tf.data graph, whose map has the threads)."""
    if "map_parallel" in options:
        return None
    return next((name for name in WORKER_KNOBS if name in options), None)


def parallelism(options: dict[str, Any], cores: int) -> float:
    """Threads the pipeline's map may use under `options`: 1 for a sequential map; else its parallel calls, autotune
    being as many as tf.data's runner has threads -- a private pool's size, else the cores; explicit calls are capped
    by those too. A loader timed whole: its workers, capped by the cores."""
    knob = worker_knob(options)
    if knob is not None:
        return float(min(cores, max(1, int(options[knob]))))
    calls = options.get("map_parallel", AUTOTUNE)
    pool = options.get("private_threadpool")
    cap = max(1, int(pool)) if pool is not None else cores
    if calls is None:
        return 1.0
    return float(cap if calls == AUTOTUNE else min(max(1, int(calls)), cap))


def overlaps(options: dict[str, Any]) -> bool:
    """Whether anything buffers ahead of the model: a prefetch, a parallel map's own output buffer, or a loader's
    workers running in the background (`WORKER_KNOBS`)."""
    knob = worker_knob(options)
    if knob is not None:
        return int(options[knob]) >= WORKER_KNOBS[knob]
    if "map_parallel" not in options:
        return True  # a loader without such knobs (a user's own iterator): assumed to keep a queue
    return options.get("prefetch") is not None or options.get("map_parallel") is not None


def current_setting(facts: Facts) -> Setting:
    """The run as measured. Every timed stage is host work, even with `--augment-on device` (the graph's `augment`
    stage then only casts and preprocesses: what it costs is what the host still does)."""
    pool = facts.options.get("private_threadpool")
    return Setting(
        parallelism(facts.options, facts.cores),
        overlaps(facts.options),
        steps_per_execution=facts.steps_per_execution,
        pool=float(pool) if pool is not None else None,
    )


def stage_costs(stage_rates: dict[str, float]) -> dict[str, float]:
    """Seconds per image each stage adds (prefix cost minus the previous prefix's), never below zero."""
    costs, previous = {}, 0.0
    for name, rate in stage_rates.items():
        per_image = 1.0 / rate if rate and rate > 0 and math.isfinite(rate) else previous
        costs[name] = max(0.0, per_image - previous)
        previous = max(previous, per_image)
    return costs


def stage_place(name: str, options: dict[str, Any]) -> str:
    base = name.split("#", 1)[0]
    if base == "read" and options.get("interleave_cycle") is not None:
        return INTERLEAVE
    return STAGE_PLACES.get(base, MAP)


def _stage_threads(name: str, options: dict[str, Any], map_threads: float, pool: float | None) -> float:
    place = stage_place(name, options)
    if place == SEQUENTIAL:
        return 1.0
    if place == INTERLEAVE:
        cycle = options.get("interleave_cycle") or 1
        calls = options.get("interleave_parallel", AUTOTUNE)
        threads = float(cycle if calls in (None, AUTOTUNE) else min(cycle, calls))
        return min(threads, pool) if pool else threads
    return map_threads


def stage_shares(stage_rates: dict[str, float], options: dict[str, Any] | None = None, cores: int = 1) -> dict:
    """Each stage's share of the pipeline's work: its prefix cost times the threads it was timed with (a stage in a
    map of `p` threads adds `w / p` to its prefix), normalised."""
    options = options or {}
    threads = parallelism(options, cores)
    pool = options.get("private_threadpool")
    costs = stage_costs(stage_rates)
    work = {name: cost * _stage_threads(name, options, threads, pool) for name, cost in costs.items()}
    total = sum(work.values())
    return {name: w / total for name, w in work.items()} if total > 0 else {}


def stage_groups(names: list[str], options: dict[str, Any], map_threads: float, pool: float | None) -> list[tuple]:
    """`(stages, threads)` in graph order: a parallel map's stages (one map call, `FUSED`) share its threads; one-
    thread stages next to each other run in one thread, one after another; a buffer (`ASYNC`) is no group."""
    groups: list[tuple[list[str], float]] = []
    for name in names:
        if stage_place(name, options) == ASYNC:
            continue
        threads = _stage_threads(name, options, map_threads, pool)
        if groups:
            last, last_threads = groups[-1]
            fused = FUSED.get(name.split("#", 1)[0]) == last[-1] and threads == last_threads
            if fused or (threads <= 1 and last_threads <= 1):
                last.append(name)
                continue
        groups.append(([name], threads))
    return groups


def work_per_image(facts: Facts) -> float:
    """`W`: seconds of one thread's pipeline work per image: from the one-core rate, but never more than the all-core
    rate allows at the parallelism in force or the cores, whichever is more (no pipeline scales beyond linear; a
    one-core point slowed by a busy machine must not say so); without a one-core point, from the all-core rate."""
    threads = parallelism(facts.options, facts.cores)
    linear = max(threads, facts.cores) / facts.pipeline_only
    return min(1.0 / facts.one_core_pipeline, linear) if facts.one_core_pipeline else linear


def _stages_up_to(stage_rates: dict[str, float], last: str) -> frozenset[str]:
    names = list(stage_rates)
    return frozenset(names[: names.index(last) + 1]) if last in names else frozenset()


class Model:
    """The model of one run, calibrated on it; `e2e(setting)` predicts the rate of another setting."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.work = work_per_image(facts)
        self.shares = stage_shares(facts.stage_rates, facts.options, facts.cores) or {"pipeline": 1.0}
        self.busy = min(1.0, facts.busy) if facts.busy else 1.0
        now = current_setting(facts)
        self.boost = 1.0  # cores a group runs on over the threads its place gives it (ops' own intra-op threads)
        model_rate = self._pipeline_rate(now, efficiency=1.0)
        ratio = facts.pipeline_only / model_rate if model_rate > 0 else 1.0
        if ratio > 1.0:  # faster than its threads allow: its ops ran on more cores (a private pool of 1 still did)
            self.boost = ratio
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

    def _stage_work(self, setting: Setting) -> dict[str, float]:
        return {
            name: self.work * share * setting.work_scale.get(name, 1.0)
            for name, share in self.shares.items()
            if name not in setting.removed_stages
        }

    def _host_work(self, setting: Setting) -> float:
        """CPU-seconds per image the host pipeline spends (its busy share of the threads' time)."""
        if setting.replaced_rate:
            return self.busy * setting.parallelism / setting.replaced_rate
        return self.busy * sum(self._stage_work(setting).values())

    def _pipeline_rate(self, setting: Setting, efficiency: float | None = None) -> float:
        if setting.replaced_rate:  # measured: no efficiency to apply
            return setting.replaced_rate * setting.replicas
        eff = self.efficiency if efficiency is None else efficiency
        work = self._stage_work(setting)
        total = sum(work.values())
        if total <= 0:
            return math.inf
        cores = setting.dedicated_cores or self.facts.cores
        bounds = [cores / (self.busy * total)]
        if setting.pool:
            bounds.append(self._boosted(setting.pool, cores) / total)
        for stages, threads in stage_groups(list(work), self.facts.options, setting.parallelism, setting.pool):
            group = sum(work[name] for name in stages)
            if group > 0:
                bounds.append(self._boosted(threads, cores) / group)
        return eff * min(bounds) * setting.replicas

    def _boosted(self, threads: float, cores: float) -> float:
        """The cores `threads` of a group run on: as many as the run showed per thread, never fewer than the threads,
        never more cores than there are."""
        return max(threads, min(threads * self.boost, cores))

    def pipeline_rate(self, setting: Setting) -> float:
        """Predicted pipeline-only images/s under `setting`."""
        return self._pipeline_rate(setting)

    def _dispatch_saved(self, setting: Setting) -> float:
        """Seconds per image of per-call dispatch that `setting` saves over the run: `d (1/s0 - 1/(s k))` for `s`
        steps per execution and a batch `k` times the run's."""
        facts = self.facts
        after = setting.steps_per_execution * setting.batch_scale
        return per_step_dispatch(facts) * (1.0 / facts.steps_per_execution - 1.0 / after)

    def _model_time(self, setting: Setting) -> float:
        facts = self.facts
        # Per-step dispatch d, per image of a batch: t(spe) = t_compute + d / spe, fitted to the two measured spe.
        handing = max(0.0, 1.0 / facts.fed_ceiling - 1.0 / facts.device_ceiling)  # adapter + copy, per image
        t_model = 1.0 / facts.device_ceiling + handing * setting.transfer_scale - self._dispatch_saved(setting)
        moved = sum(self.shares.get(name, 0.0) * setting.work_scale.get(name, 1.0) for name in setting.moved_to_model)
        if not facts.accelerator:  # the device is the host: moved work still costs its CPU time, batched
            t_model += self.work * moved / facts.cores
        return t_model

    def _raw_e2e(self, setting: Setting) -> float:
        t_model = self._model_time(setting)
        t_pipe = 1.0 / self._pipeline_rate(setting)
        if not setting.overlap:
            return 1.0 / (t_model + t_pipe)
        if self.facts.accelerator or setting.dedicated_cores:
            return 1.0 / max(t_model, t_pipe)
        # One CPU for both: the host work not hidden behind the model's step adds to it, and while the model's step
        # holds all C cores the pipeline's p threads get their share of them -- the threads that have work: no more
        # than its rate alone times its CPU work per image (a map wider than a sequential stage lets through idles).
        cores, host = self.facts.cores, self._host_work(setting)
        threads = max(1.0, min(setting.parallelism, cores, host / t_pipe))
        serial = 1.0 / (t_model + self.hidden * host / cores)
        return min(serial, self._shared_rate(t_model, 1.0 / t_pipe, threads), 1.0 / t_pipe)

    def _shared_rate(self, t_model: float, alone: float, threads: float) -> float:
        """The rate `r` at which the pipeline's `p` threads, holding `p / (p + C u)` of the `C` cores while the model's
        step runs a fraction `u = t_m r` of the time, deliver `r`, `R` being its rate alone: the root of
        `C t_m r^2 + p r - C R = 0`."""
        if not math.isfinite(alone):
            return math.inf
        cores = self.facts.cores
        quad = cores * t_model
        if quad <= 0:
            return cores * alone / threads
        return (-threads + math.sqrt(threads * threads + 4.0 * quad * cores * alone)) / (2.0 * quad)

    def e2e(self, setting: Setting) -> float:
        """Predicted end-to-end images/s under `setting`: the model, calibrated, capped at the device ceiling
        (less the dispatch the setting saves)."""
        cap = 1.0 / (1.0 / self.facts.device_ceiling - self._dispatch_saved(setting))
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


def scaled_stage(facts: Facts, stage: str, ratio: float) -> dict[str, float]:
    """The work scale of `stage` that makes the whole pipeline's work `1 / ratio` of the run's (a probe measured the
    pipeline `ratio` times as fast with the stage changed): `{stage: s}`, `s` never below 0; a loader timed whole
    scales its one stage."""
    shares = stage_shares(facts.stage_rates, facts.options, facts.cores)
    if ratio <= 0:
        return {}
    if not shares:
        return {"pipeline": 1.0 / ratio}
    share = shares.get(stage, 0.0)
    return {stage: max(0.0, 1.0 - (1.0 - 1.0 / ratio) / share)} if share > 0 else {}


def cores_to_feed(accelerators: int, device_ceiling: float, per_core_rate: float) -> int:
    """Host cores that keep `accelerators` busy at the device ceiling, at the measured per-core pipeline rate."""
    if per_core_rate <= 0:
        raise ValueError(f"per-core rate must be positive, got {per_core_rate}")
    return math.ceil(accelerators * device_ceiling / per_core_rate)


def workers_to_feed(accelerators: int, device_ceiling: float, per_core_rate: float, cores_per_worker: int) -> int:
    """tf.data service workers that keep `accelerators` busy at the device ceiling, each worker delivering the
    measured per-core rate times its cores (assumed linear, as `cores_to_feed` does)."""
    if cores_per_worker < 1:
        raise ValueError(f"a worker needs at least one core, got {cores_per_worker}")
    return math.ceil(accelerators * device_ceiling / (per_core_rate * cores_per_worker))
