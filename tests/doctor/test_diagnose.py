"""bench.doctor.diagnose on hand-made facts: the verdict names the planted cause first, and a healthy run gets no
input prescription."""

from __future__ import annotations

import dataclasses

from bench.doctor.diagnose import MODEL_BOUND, diagnose
from bench.doctor.predict import AUTOTUNE, Facts
from bench.doctor.rules import DISPATCH_BOUND, INPUT_BOUND, TRANSFER_BOUND, Context

TFDATA_KNOBS = frozenset({"map_parallel", "prefetch", "private_threadpool", "cache", "vectorize"})
STAGES = {"read": 20_000.0, "decode": 2_000.0, "augment": 800.0}  # prefix rates: augment the slowest


def facts(**changes: object) -> Facts:
    base = Facts(
        cores=4, accelerator=True, e2e=700.0, device_ceiling=2_000.0, fed_ceiling=1_900.0, pipeline_only=750.0,
        one_core_pipeline=200.0, stage_rates=STAGES,
        options={"map_parallel": AUTOTUNE, "prefetch": AUTOTUNE, "private_threadpool": None, "cache": "off"},
    )  # fmt: skip
    return dataclasses.replace(base, **changes)


CTX = Context(knobs=TFDATA_KNOBS)


def test_a_sequential_map_without_prefetch_is_named_first() -> None:
    sequential = facts(options={"map_parallel": None, "prefetch": None, "cache": "off"}, pipeline_only=200.0, e2e=180.0)
    diagnosis = diagnose(sequential, CTX, noise_pct=3.0)
    assert diagnosis.verdict == INPUT_BOUND
    assert diagnosis.causes[0] in {"a sequential (or narrow) map", "no prefetch: input and training take turns"}
    assert "slowest stage is augment" in diagnosis.sentence


def test_a_private_pool_of_one_is_named_first() -> None:
    pooled = facts(options={"map_parallel": AUTOTUNE, "prefetch": AUTOTUNE, "private_threadpool": 1}, e2e=190.0)
    pooled = dataclasses.replace(pooled, pipeline_only=200.0)
    assert diagnose(pooled, CTX, 3.0).causes[0] == "a private thread pool smaller than the cores"


def test_a_healthy_pipeline_is_model_bound_and_gets_no_input_prescription() -> None:
    healthy = facts(e2e=1_980.0, pipeline_only=9_000.0, one_core_pipeline=2_500.0)
    diagnosis = diagnose(healthy, CTX, 3.0)
    assert diagnosis.verdict == MODEL_BOUND and diagnosis.fixes == []
    assert diagnosis.not_applied == []  # input fixes are not even weighed
    assert "no input change will speed it up" in diagnosis.sentence


def test_a_dispatch_bound_run_is_told_to_raise_steps_per_execution() -> None:
    tiny = facts(e2e=1_950.0, pipeline_only=50_000.0, one_core_pipeline=15_000.0, probe_spe=8, probe_device_ceiling=6e3)
    diagnosis = diagnose(tiny, Context(knobs=TFDATA_KNOBS, multi_step=True), 3.0)
    assert diagnosis.verdict == DISPATCH_BOUND
    assert diagnosis.fixes[0].rule.name == "steps_per_execution=8"
    assert diagnose(tiny, Context(knobs=TFDATA_KNOBS, multi_step=False), 3.0).fixes == []  # torch: one step a call


def test_a_transfer_bound_run_is_named_with_the_dtype_it_ships() -> None:
    heavy_copy = facts(e2e=1_000.0, fed_ceiling=1_050.0, pipeline_only=9_000.0, fed_input="float32[32, 160, 160, 3]")
    diagnosis = diagnose(heavy_copy, CTX, 3.0)
    assert diagnosis.verdict == TRANSFER_BOUND and "float32[32, 160, 160, 3]" in diagnosis.sentence
    assert diagnosis.fixes[0].rule.name == "augment_on=device"  # uint8 travels: a quarter of the bytes


def test_a_decode_cache_is_proposed_only_when_it_fits_in_free_ram() -> None:
    run = facts(options={"map_parallel": AUTOTUNE, "prefetch": AUTOTUNE, "cache": "off"})
    fits = Context(knobs=TFDATA_KNOBS, cache_bytes=1 << 30, free_bytes=8 << 30)
    too_big = Context(knobs=TFDATA_KNOBS, cache_bytes=6 << 30, free_bytes=8 << 30)
    assert "cache=memory" in [f.rule.name for f in diagnose(run, fits, 3.0).fixes]
    assert "cache=memory" not in [f.rule.name for f in diagnose(run, too_big, 3.0).fixes]
    (cache,) = [f for f in diagnose(run, fits, 3.0).fixes if f.rule.name == "cache=memory"]
    assert not cache.rule.verifiable


def test_every_fix_carries_a_line_for_the_users_own_code() -> None:
    from bench.doctor.rules import RULES

    assert all(rule.code and rule.addresses for rule in RULES)
    assert len({rule.name for rule in RULES}) == len(RULES)


def test_fixes_for_the_named_bottleneck_come_before_a_bigger_predicted_gain_elsewhere() -> None:
    """Input-bound with a noisy dispatch probe that promises more: the input fix is still named first."""
    sequential = facts(
        options={"map_parallel": None, "prefetch": None, "cache": "off"}, pipeline_only=200.0, e2e=180.0,
        probe_spe=8, probe_device_ceiling=20_000.0,
    )  # fmt: skip
    diagnosis = diagnose(sequential, CTX, noise_pct=3.0)
    assert diagnosis.verdict == INPUT_BOUND
    assert diagnosis.fixes[0].rule.input_side and diagnosis.fixes[-1].rule.name == "steps_per_execution=8"
