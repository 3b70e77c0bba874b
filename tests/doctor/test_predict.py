"""bench.doctor.predict against a simulated clock: a pipeline of stages with known CPU costs feeding a model with a
known step time, run batch by batch on a discrete clock. The doctor's model sees only the rates the simulation
'measures' for the run as it is, and must predict what the simulation measures for each fix."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from bench.doctor.predict import (
    AUTOTUNE,
    Facts,
    Model,
    cores_to_feed,
    current_setting,
    parallelism,
    per_step_dispatch,
    removed_by_cache,
    stage_costs,
    stage_groups,
    with_changes,
    work_per_image,
)

BATCH, BATCHES = 32, 400


@dataclass(frozen=True)
class Sim:
    """CPU-seconds per image of each stage, the model's seconds per image (on an accelerator), the host cores."""

    stages: dict[str, float]
    t_model: float
    cores: int = 4

    def pipeline_rate(self, threads: float, removed: frozenset = frozenset()) -> float:
        """Images/s of the pipeline alone: batches produced by `threads` workers on a discrete clock."""
        per_image = sum(c for name, c in self.stages.items() if name not in removed)
        clock, workers = 0.0, [0.0] * int(min(threads, self.cores))
        for _ in range(BATCHES):  # each batch goes to the worker free first
            i = min(range(len(workers)), key=workers.__getitem__)
            workers[i] += BATCH * per_image
            clock = max(clock, workers[i])
        return BATCHES * BATCH / clock

    def e2e(self, threads: float, overlap: bool, removed: frozenset = frozenset()) -> float:
        """Training images/s: with overlap the model consumes batches as they are ready (a buffer ahead), without it
        the pipeline starts a batch only when the model asks for it."""
        produce = BATCH / self.pipeline_rate(threads, removed)
        clock, ready = 0.0, 0.0
        for _ in range(BATCHES):
            if overlap:
                ready += produce
                clock = max(clock, ready) + BATCH * self.t_model
            else:
                clock += produce + BATCH * self.t_model
        return BATCHES * BATCH / clock

    def facts(self, options: dict, stage_threads: float) -> Facts:
        threads = parallelism(options, self.cores)
        overlap = options.get("prefetch") is not None or options.get("map_parallel") is not None
        prefix, rates = 0.0, {}
        for name, cost in self.stages.items():  # prefix rates at the parallelism the stage timing ran with
            prefix += cost
            rates[name] = stage_threads / prefix
        return Facts(
            cores=self.cores,
            accelerator=True,
            e2e=self.e2e(threads, overlap),
            device_ceiling=1 / self.t_model,
            fed_ceiling=1 / self.t_model,
            pipeline_only=self.pipeline_rate(threads),
            one_core_pipeline=self.pipeline_rate(1),
            stage_rates=rates,
            options=options,
        )


SIM = Sim({"read": 0.0001, "decode": 0.0015, "augment": 0.0024}, t_model=0.0006)
SEQUENTIAL = {"map_parallel": None, "prefetch": None, "private_threadpool": None}


def test_the_model_reproduces_the_run_it_was_calibrated_on() -> None:
    facts = SIM.facts(SEQUENTIAL, 1)
    assert Model(facts).e2e(current_setting(facts)) == pytest.approx(facts.e2e, rel=1e-6)


@pytest.mark.parametrize(
    ("change", "threads", "overlap"),
    [
        ({"parallelism": 4.0}, 4, False),  # parallel map, still no prefetch
        ({"overlap": True}, 1, True),  # prefetch alone
        ({"parallelism": 4.0, "overlap": True}, 4, True),  # both
    ],
)
def test_parallel_map_and_prefetch_are_predicted_as_the_simulated_clock_measures(change, threads, overlap) -> None:
    facts = SIM.facts(SEQUENTIAL, 1)
    predicted = Model(facts).e2e(with_changes(current_setting(facts), **change))
    assert predicted == pytest.approx(min(SIM.e2e(threads, overlap), facts.device_ceiling), rel=0.03)


def test_a_private_pool_of_one_caps_the_parallel_map_and_removing_it_frees_the_cores() -> None:
    options = {"map_parallel": AUTOTUNE, "prefetch": AUTOTUNE, "private_threadpool": 1}
    facts = SIM.facts(options, 1)
    assert parallelism(options, 4) == 1
    assert Model(facts).e2e(with_changes(current_setting(facts), parallelism=4.0)) < facts.e2e * 1.03  # pool binds
    predicted = Model(facts).e2e(with_changes(current_setting(facts), parallelism=4.0, pool=None))
    assert predicted == pytest.approx(SIM.e2e(4, True), rel=0.03)


def test_the_cache_rule_removes_read_and_decode_and_the_device_rule_removes_augment() -> None:
    facts = SIM.facts({"map_parallel": AUTOTUNE, "prefetch": AUTOTUNE}, 4)
    model = Model(facts)
    cached = removed_by_cache(facts.stage_rates)
    assert cached == {"read", "decode"}
    predicted = model.e2e(with_changes(current_setting(facts), removed_stages=cached))
    assert predicted == pytest.approx(min(SIM.e2e(4, True, cached), facts.device_ceiling), rel=0.03)
    moved = frozenset({"augment"})
    on_device = with_changes(current_setting(facts), removed_stages=moved, moved_to_model=moved)
    assert model.e2e(on_device) == pytest.approx(SIM.e2e(4, True, moved), rel=0.03)  # free on the accelerator


def test_on_a_cpu_only_machine_moved_work_still_costs_the_cores() -> None:
    facts = SIM.facts({"map_parallel": AUTOTUNE, "prefetch": AUTOTUNE}, 4)
    cpu = Facts(**{**facts.__dict__, "accelerator": False})
    moved = frozenset({"augment"})
    setting = with_changes(current_setting(cpu), removed_stages=moved, moved_to_model=moved)
    gpu_gain = Model(facts).e2e(setting) / facts.e2e
    cpu_gain = Model(cpu).e2e(setting) / cpu.e2e
    assert cpu_gain < gpu_gain


def test_nothing_is_predicted_above_the_device_ceiling() -> None:
    facts = SIM.facts(SEQUENTIAL, 1)
    all_stages = frozenset(SIM.stages)
    everything = with_changes(current_setting(facts), parallelism=64.0, overlap=True, removed_stages=all_stages)
    assert Model(facts).e2e(everything) <= facts.device_ceiling


def test_dispatch_is_fitted_to_the_two_measured_steps_per_execution() -> None:
    # compute 1 ms/img plus 0.5 ms/img per call at spe 1; at spe 8 the call costs 0.5/8
    t1, t8 = 0.001 + 0.0005, 0.001 + 0.0005 / 8
    facts = Facts(
        cores=2, accelerator=True, e2e=1 / t1, device_ceiling=1 / t1, fed_ceiling=1 / t1, pipeline_only=1e6,
        one_core_pipeline=5e5, probe_spe=8, probe_device_ceiling=1 / t8,
    )  # fmt: skip
    assert per_step_dispatch(facts) == pytest.approx(0.0005)
    at_four = Model(facts).e2e(with_changes(current_setting(facts), steps_per_execution=4))
    assert at_four == pytest.approx(1 / (0.001 + 0.0005 / 4), rel=1e-6)


def test_stage_costs_are_prefix_differences_and_never_negative() -> None:
    costs = stage_costs({"read": 10_000.0, "decode": 1_000.0, "augment": 1_100.0})
    assert costs["read"] == pytest.approx(1e-4) and costs["decode"] == pytest.approx(9e-4) and costs["augment"] == 0


def test_cores_to_feed() -> None:
    assert cores_to_feed(8, 10_000.0, 1_000.0) == 80 and cores_to_feed(1, 10.0, 1_000.0) == 1
    with pytest.raises(ValueError):
        cores_to_feed(1, 10.0, 0.0)
    assert math.isfinite(cores_to_feed(64, 1e5, 3.0))


def test_a_cpu_run_faster_than_the_serial_sum_fits_its_overlap_and_a_dispatch_fix_keeps_its_gain() -> None:
    # The doctor's own mnist run at batch 8 (2 cores): e2e 1,797 img/s is faster than model + host work summed
    # (1,224) because a tiny model does not spread over both cores. Fitted, the model reproduces the run, and
    # removing 7/8 of the dispatch the probe measured predicts a gain (it had predicted +3%: nothing prescribed).
    facts = Facts(
        cores=2, accelerator=False, e2e=1797.0, device_ceiling=1824.0, fed_ceiling=2147.0, pipeline_only=3718.0,
        one_core_pipeline=20732.0, stage_rates={"source": 23044.0, "augment": 5796.0, "prefetch": 6363.0},
        options={"map_parallel": AUTOTUNE, "prefetch": AUTOTUNE}, probe_spe=8, probe_device_ceiling=2890.0,
    )  # fmt: skip
    model = Model(facts)
    assert 0.0 <= model.hidden < 1.0
    assert model.e2e(current_setting(facts)) == pytest.approx(facts.e2e, rel=1e-3)
    at_eight = model.e2e(with_changes(current_setting(facts), steps_per_execution=8))
    assert facts.e2e * 1.10 < at_eight <= facts.probe_device_ceiling


# ---- per-stage Plumber: each group of stages at its own threads --------------------------------------------------
N_IMAGES = 4000


@dataclass(frozen=True)
class Tandem:
    """Stages `(name, CPU-seconds per image, "map" | "seq")` in graph order, run image by image on a discrete clock: a
    map stage has the map's threads, a `seq` stage one thread, and one-thread stages next to each other share that
    thread (tf.data runs a sequential chain in the thread that pulls from it). Each image enters a group when it left
    the one before and a thread of the group is free; cores are plenty (none waits for a CPU)."""

    stages: tuple[tuple[str, float, str], ...]
    t_model: float
    cores: int = 16

    def _groups(self, map_threads: int, removed: frozenset) -> list[tuple[float, int]]:
        groups: list[list] = []
        for name, cost, kind in self.stages:
            if name in removed:
                continue
            threads = map_threads if kind == "map" else 1
            if groups and threads == 1 and groups[-1][1] == 1:
                groups[-1][0] += cost
            else:
                groups.append([cost, threads])
        return [(cost, threads) for cost, threads in groups]

    def _finish_times(self, map_threads: int, removed: frozenset, upto: int | None = None) -> list[float]:
        kept = tuple(s for s in self.stages[:upto] if s[0] not in removed)
        groups = Tandem(kept, self.t_model, self.cores)._groups(map_threads, frozenset())
        free = [[0.0] * threads for _, threads in groups]
        done = []
        for _ in range(N_IMAGES):
            ready = 0.0
            for (cost, _), workers in zip(groups, free, strict=True):
                i = min(range(len(workers)), key=workers.__getitem__)
                ready = max(ready, workers[i]) + cost
                workers[i] = ready
            done.append(ready)
        return done

    def pipeline_rate(self, map_threads: int, removed: frozenset = frozenset(), upto: int | None = None) -> float:
        done = self._finish_times(map_threads, removed, upto)
        quarter = N_IMAGES // 4  # steady state: the start-up transient left out
        return (N_IMAGES - quarter) / (done[-1] - done[quarter - 1])

    def e2e(self, map_threads: int, overlap: bool, removed: frozenset = frozenset()) -> float:
        if not overlap:  # the model asks, the pipeline then makes the image: the two add up
            return 1.0 / (1.0 / self.pipeline_rate(map_threads, removed) + self.t_model)
        return min(self.pipeline_rate(map_threads, removed), 1.0 / self.t_model)  # a buffer ahead: the slower bounds

    def sequential_facts(self) -> Facts:
        """The doctor's view of the run with a sequential map and no prefetch."""
        rates = {name: self.pipeline_rate(1, upto=i + 1) for i, (name, _, _) in enumerate(self.stages)}
        return Facts(
            cores=self.cores,
            accelerator=True,
            e2e=self.e2e(1, overlap=False),
            device_ceiling=1 / self.t_model,
            fed_ceiling=1 / self.t_model,
            pipeline_only=self.pipeline_rate(1),
            one_core_pipeline=self.pipeline_rate(1),
            stage_rates=rates,
            options={"map_parallel": None, "prefetch": None},
        )


# A sequential batch (0.8 ms/img) slower than an 8-thread map's per-thread share of the whole work (3.7 / 8 ms/img).
BATCH_BINDS = Tandem(
    (("source", 0.0001, "seq"), ("decode", 0.0012, "map"), ("augment", 0.0016, "map"), ("batch", 0.0008, "seq")),
    t_model=1 / 5000,
)


def test_a_sequential_stage_slower_than_the_maps_per_thread_share_bounds_the_parallel_pipeline() -> None:
    facts = BATCH_BINDS.sequential_facts()
    model = Model(facts)
    assert model.e2e(current_setting(facts)) == pytest.approx(facts.e2e, rel=1e-6)
    parallel = with_changes(current_setting(facts), parallelism=8.0, overlap=True)
    simulated = BATCH_BINDS.e2e(8, overlap=True)
    assert simulated == pytest.approx(1 / 0.0008, rel=0.01)  # the batch's one thread is the bound
    assert model.pipeline_rate(parallel) == pytest.approx(BATCH_BINDS.pipeline_rate(8), rel=0.03)
    assert model.e2e(parallel) == pytest.approx(simulated, rel=0.03)  # one shared parallelism said 8 / 3.7 ms: +73%


# The augment map binds at 8 threads (8 / 1.6 ms = 5,000 img/s); decode (8 / 1.2 ms) and the batch (1 / 0.15 ms)
# next at 6,667.
AUGMENT_BINDS = Tandem(
    (("source", 0.0001, "seq"), ("decode", 0.0012, "map"), ("augment", 0.0016, "map"), ("batch", 0.00015, "seq")),
    t_model=1 / 8000,
)


def test_with_stages_at_their_own_threads_a_cache_before_the_bound_gains_nothing_and_moving_the_bound_does() -> None:
    facts = AUGMENT_BINDS.sequential_facts()
    model = Model(facts)
    parallel = with_changes(current_setting(facts), parallelism=8.0, overlap=True)
    cached = removed_by_cache(facts.stage_rates)
    assert cached == {"source", "decode"}
    with_cache = with_changes(parallel, removed_stages=cached)
    moved = frozenset({"augment"})
    on_device = with_changes(parallel, removed_stages=moved, moved_to_model=moved)
    assert model.e2e(parallel) == pytest.approx(AUGMENT_BINDS.e2e(8, True), rel=0.03)
    assert model.e2e(with_cache) == pytest.approx(AUGMENT_BINDS.e2e(8, True, cached), rel=0.03)
    assert model.e2e(with_cache) == pytest.approx(model.e2e(parallel), rel=0.03)  # augment still binds
    assert model.e2e(on_device) == pytest.approx(AUGMENT_BINDS.e2e(8, True, moved), rel=0.03)
    assert model.e2e(on_device) > 1.25 * model.e2e(parallel)  # the bound left the host


def test_stage_groups_follow_where_each_stage_runs() -> None:
    names = ["source", "read", "decode", "augment", "batch", "prefetch"]
    assert stage_groups(names, {"map_parallel": -1}, 4.0, None) == [
        (["source"], 1.0), (["read", "decode"], 4.0), (["augment"], 4.0), (["batch"], 1.0),
    ]  # fmt: skip
    assert stage_groups(names, {"map_parallel": None}, 1.0, None) == [(names[:-1], 1.0)]  # one thread runs them all
    interleaved = stage_groups(["read", "decode"], {"interleave_cycle": 2, "interleave_parallel": -1}, 4.0, None)
    assert interleaved == [(["read"], 2.0), (["decode"], 4.0)]  # an interleave at its own cycle
    assert stage_groups(["parse", "map", "batch"], {}, 4.0, None) == [(["parse"], 4.0), (["map", "batch"], 1.0)]


def test_the_work_per_image_is_the_one_core_points_unless_the_all_core_rate_allows_less() -> None:
    facts = Facts(
        cores=2, accelerator=True, e2e=1.0, device_ceiling=1.0, fed_ceiling=1.0, pipeline_only=400.0,
        one_core_pipeline=100.0, options={"map_parallel": AUTOTUNE},
    )  # fmt: skip
    assert work_per_image(facts) == pytest.approx(2 / 400.0)  # a one-core point slowed by a busy machine
    quiet = Facts(**{**facts.__dict__, "one_core_pipeline": 250.0})
    assert work_per_image(quiet) == pytest.approx(1 / 250.0)


def test_on_a_shared_cpu_a_map_wider_than_the_sequential_stage_lets_through_costs_the_model_nothing() -> None:
    facts = Facts(**{**BATCH_BINDS.sequential_facts().__dict__, "accelerator": False})
    model = Model(facts)
    at = {p: model.e2e(with_changes(current_setting(facts), parallelism=p, overlap=True)) for p in (4.0, 8.0, 16.0)}
    assert at[4.0] > facts.e2e * 1.5  # the map was the bound
    assert at[16.0] == pytest.approx(at[8.0], rel=0.01)  # the batch's one thread binds: the extra threads idle


def test_a_pipeline_faster_than_its_threads_allow_gains_from_a_wider_map_only_the_cores_it_did_not_use() -> None:
    # A private pool of 1 measured at twice its one-core rate: its ops used the second core already.
    facts = Facts(
        cores=2, accelerator=True, e2e=480.0, device_ceiling=5_000.0, fed_ceiling=5_000.0, pipeline_only=500.0,
        one_core_pipeline=250.0, stage_rates={"read": 10_000.0, "decode": 600.0, "augment": 500.0},
        options={"map_parallel": AUTOTUNE, "prefetch": AUTOTUNE, "private_threadpool": 1},
    )  # fmt: skip
    model = Model(facts)
    assert model.e2e(current_setting(facts)) == pytest.approx(480.0, rel=0.01)  # the run reproduced
    no_pool = with_changes(current_setting(facts), pool=None, parallelism=2.0)
    assert model.e2e(no_pool) == pytest.approx(480.0, rel=0.02)  # both cores were in use already
    confined = Facts(**{**facts.__dict__, "pipeline_only": 250.0, "e2e": 240.0})
    assert Model(confined).e2e(no_pool) == pytest.approx(480.0, rel=0.02)  # one core: the second is free


def test_on_a_shared_cpu_a_stage_moved_into_the_model_costs_what_its_scaled_work_costs() -> None:
    facts = Facts(**{**SIM.facts({"map_parallel": AUTOTUNE, "prefetch": AUTOTUNE}, 4).__dict__, "accelerator": False})
    moved = frozenset({"augment"})
    vectorized = with_changes(current_setting(facts), work_scale={"augment": 0.0})
    both = with_changes(vectorized, removed_stages=moved, moved_to_model=moved)
    model = Model(facts)
    assert model.e2e(both) == pytest.approx(model.e2e(vectorized), rel=1e-6)  # nothing left to move
