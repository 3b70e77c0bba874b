"""bench.doctor.rules on hand-made facts: each fix the audit found missing applies where it should and only there, is
predicted from what was measured (a probe's ratio, the dispatch probe, the per-core rate), and says whether the
doctor can verify it."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict

import pytest

from bench.doctor.clinic import verification_variants
from bench.doctor.diagnose import diagnose
from bench.doctor.predict import Facts, Model
from bench.doctor.rules import (
    BATCH_SCALE,
    CPU_BOUND_CAUSE,
    NO_KNOB,
    PLANNED,
    RULES,
    WAITING_CAUSE,
    Context,
    combinable,
    combine,
    probe_rules,
    switch_target,
)
from imgcls.pipelines import get_pipeline_spec


def knobs(pipeline: str) -> frozenset[str]:
    return frozenset(knob.name for knob in get_pipeline_spec(pipeline).knobs)


def options(pipeline: str, **changes: object) -> dict:
    return {**asdict(get_pipeline_spec(pipeline).preset), **changes}


NAIVE = Facts(
    cores=4, accelerator=True, e2e=700.0, device_ceiling=5_000.0, fed_ceiling=4_800.0, pipeline_only=720.0,
    one_core_pipeline=720.0, stage_rates={"source": 50_000.0, "augment": 730.0}, options=options("tfdata-naive"),
    batch_size=32,
)  # fmt: skip
TUNED = dataclasses.replace(
    NAIVE, options=options("tfdata"), pipeline_only=2_800.0, e2e=2_700.0, busy=0.95,
    stage_rates={"source": 50_000.0, "augment": 2_850.0, "prefetch": 2_800.0},
)  # fmt: skip


def names(facts: Facts, ctx: Context) -> list[str]:
    return [fix.rule.name for fix in diagnose(facts, ctx, 3.0).fixes]


def test_vectorize_is_probed_and_predicted_from_the_measured_ratio() -> None:
    ctx = Context(knobs=knobs("tfdata-naive"))
    assert [rule.name for rule in probe_rules(NAIVE, ctx)] == ["vectorize=on"]
    assert "vectorize=on" not in names(NAIVE, ctx)  # unmeasured: not predicted, and said so
    assert any(item.startswith("vectorize=on (not predicted") for item in diagnose(NAIVE, ctx, 3.0).not_applied)
    measured = dataclasses.replace(NAIVE, probed={"vectorize=on": 3.0})
    (fix,) = [f for f in diagnose(measured, ctx, 3.0).fixes if f.rule.name == "vectorize=on"]
    # one thread runs the whole sequential pipeline: its rate is 3x, and the model (no overlap) adds the model's step
    assert Model(measured).pipeline_rate(combine([fix.rule], measured, ctx)[1]) == pytest.approx(3 * 720.0, rel=0.01)
    assert Model(measured).kappa == 1.0  # the run is no slower than the model: predictions are not scaled
    assert fix.predicted_e2e == pytest.approx(1 / (1 / (3 * 720.0) + 1 / 4_800.0), rel=0.01)
    assert "vectorize=on" not in names(dataclasses.replace(NAIVE, probed={"vectorize=on": 1.0}), ctx)  # no gain
    vectorized = dataclasses.replace(NAIVE, options=options("tfdata-naive", vectorize=True))
    assert probe_rules(vectorized, ctx) == []  # already on


def test_a_dispatch_bound_run_is_offered_a_larger_batch_predicted_from_the_measured_dispatch() -> None:
    # compute 0.1 ms/img plus 0.3 ms/img of per-call dispatch at spe 1; the probe at spe 8 pays 0.3/8
    t1, t8 = 0.0001 + 0.0003, 0.0001 + 0.0003 / 8
    tiny = dataclasses.replace(
        TUNED, e2e=0.97 / t1, device_ceiling=1 / t1, fed_ceiling=1 / t1, pipeline_only=50_000.0,
        one_core_pipeline=20_000.0, probe_spe=8, probe_device_ceiling=1 / t8,
    )  # fmt: skip
    ctx = Context(knobs=knobs("tfdata"))
    fixes = {fix.rule.name: fix for fix in diagnose(tiny, ctx, 3.0).fixes}
    batch = fixes[f"batch_size={BATCH_SCALE}x"]
    assert batch.predicted_e2e == pytest.approx(0.97 / (0.0001 + 0.0003 / BATCH_SCALE), rel=0.02)
    assert batch.rule.config(tiny, ctx) == {"batch_size": BATCH_SCALE * 32} and batch.rule.verifiable
    torch_backend = Context(knobs=knobs("tfdata"), multi_step=False)  # one step per call: only the batch is left
    assert [f.rule.name for f in diagnose(tiny, torch_backend, 3.0).fixes] == [f"batch_size={BATCH_SCALE}x"]
    assert f"batch_size={BATCH_SCALE}x" not in names(TUNED, ctx)  # no dispatch probe: nothing to predict from


def test_a_pipeline_cpu_bound_at_all_cores_gets_more_cores_and_service_workers_as_planned_fixes_never_verified() -> (
    None
):
    ctx = Context(knobs=knobs("tfdata"))
    diagnosis = diagnose(TUNED, ctx, 3.0)
    planned = [fix for fix in diagnosis.fixes if fix.rule.addresses == CPU_BOUND_CAUSE]
    assert [fix.rule.name for fix in planned] == ["more host cores", "tf.data service workers"]
    assert all(fix.rule.unverified == PLANNED and not fix.rule.verifiable for fix in planned)
    assert planned[0].detail.startswith("7 cores")  # ceil(5,000 / 720)
    assert planned[1].detail.startswith("2 workers of 4 cores")  # ceil(5,000 / (4 x 720))
    variants = [label for label, _, _ in verification_variants(diagnosis, TUNED, ctx, verify=3)]
    assert not any(fix.rule.name in label for fix in planned for label in variants)
    assert all(fix.rule.verifiable for fix in diagnosis.fixes[: len(diagnosis.fixes) - len(planned)])  # last
    narrow = dataclasses.replace(TUNED, options=options("tfdata", map_parallel=2))
    assert CPU_BOUND_CAUSE not in diagnose(narrow, ctx, 3.0).causes  # a narrower knob first
    waiting = dataclasses.replace(TUNED, busy=0.3)
    assert CPU_BOUND_CAUSE not in diagnose(waiting, ctx, 3.0).causes  # idle cores: not CPU-bound


@pytest.mark.parametrize(
    ("pipeline", "knob", "value"), [("torch", "num_workers", 1), ("grain", "worker_count", 0), ("idg", "workers", 1)]
)
def test_each_loaders_workers_knob_gets_the_workers_rule(pipeline: str, knob: str, value: int) -> None:
    loader = dataclasses.replace(NAIVE, stage_rates={}, options=options(pipeline, **{knob: value}), pipeline_only=300.0,
                                 e2e=290.0, one_core_pipeline=300.0)  # fmt: skip
    ctx = Context(knobs=knobs(pipeline))
    (fix,) = [f for f in diagnose(loader, ctx, 3.0).fixes if f.rule.addresses == "too few workers preparing batches"]
    assert fix.rule.name == f"{knob}=<cores>" and fix.rule.config(loader, ctx) == {"pipeline_options": {knob: 4}}
    assert fix.predicted_gain_pct > 100
    many = dataclasses.replace(loader, options=options(pipeline, **{knob: 4}))
    assert "too few workers preparing batches" not in diagnose(many, ctx, 3.0).causes


@pytest.mark.parametrize("pipeline", ["idg", "pydataset", "torch", "grain", "tfdata-naive", "tfdata-service"])
def test_every_loader_but_the_tuned_tfdata_is_offered_the_switch(pipeline: str) -> None:
    assert switch_target(pipeline) == "tfdata"


@pytest.mark.parametrize("pipeline", ["tfdata", "user", "synthetic"])
def test_the_tuned_tfdata_its_own_data_and_the_ceiling_are_not(pipeline: str) -> None:
    assert switch_target(pipeline) is None


def test_the_switch_is_predicted_from_tfdatas_measured_rate_and_never_combined_with_the_old_loaders_knobs() -> None:
    idg = dataclasses.replace(NAIVE, stage_rates={}, options=options("idg"), pipeline_only=450.0, e2e=430.0,
                              one_core_pipeline=450.0)  # fmt: skip
    ctx = Context(knobs=knobs("idg"), switch_to="tfdata")
    assert [rule.name for rule in probe_rules(idg, ctx)] == ["pipeline=tfdata"]
    measured = dataclasses.replace(idg, probed={"pipeline=tfdata": 4.0})
    diagnosis = diagnose(measured, ctx, 3.0)
    switch = next(fix for fix in diagnosis.fixes if fix.rule.name == "pipeline=tfdata")
    assert switch.rule.config(measured, ctx) == {"pipeline": "tfdata", "pipeline_options": {}}
    assert Model(measured).pipeline_rate(combine([switch.rule], measured, ctx)[1]) == pytest.approx(4 * 450.0)
    workers = next(rule for rule in RULES if rule.name == "workers=<cores>")
    spe = next(rule for rule in RULES if rule.name.startswith("steps_per_execution"))
    assert combinable([switch.rule, workers, spe], measured, ctx) == [switch.rule, spe]


def test_a_pipeline_that_waits_is_offered_threads_beyond_the_cores_verified_where_it_has_the_knob() -> None:
    waiting = dataclasses.replace(TUNED, busy=0.25)
    diagnosis = diagnose(waiting, Context(knobs=knobs("tfdata")), 3.0)
    assert diagnosis.causes[0] == WAITING_CAUSE and "25% of the CPU" in diagnosis.sentence
    first = diagnosis.fixes[0]
    assert first.rule.verifiable and first.rule.config(waiting, Context(knobs=knobs("tfdata"))) == {
        "pipeline_options": {"private_threadpool": 16}
    }
    user = Context(knobs=knobs("user"), renders_spec=False)  # a user's tf.data graph takes the pool knob too
    (mended,) = diagnose(waiting, user, 3.0).fixes
    assert mended.rule.verifiable and mended.rule.config(waiting, user) == {
        "pipeline_options": {"private_threadpool": 16}
    }
    no_pool = Context(knobs=knobs("pydataset"), renders_spec=False)  # no tf.data pool: advice for the user's code
    (advice,) = diagnose(waiting, no_pool, 3.0).fixes
    assert advice.rule.addresses == WAITING_CAUSE and advice.rule.unverified == NO_KNOB
    assert "private_threadpool_size" in advice.rule.code
    assert diagnose(dataclasses.replace(TUNED, busy=0.9), Context(knobs=knobs("user")), 3.0).causes[0] != WAITING_CAUSE
