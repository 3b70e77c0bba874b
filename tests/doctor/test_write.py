"""bench.doctor.write: the prescription is the user's own command with the fix in place of what it replaces."""

from __future__ import annotations

from bench.config import RunConfig
from bench.doctor.clinic import Verified
from bench.doctor.rules import PLANNED
from bench.doctor.write import doctor_markdown, prescription, summary_text


def test_the_prescription_keeps_the_users_flags_and_replaces_the_fixed_one() -> None:
    config = RunConfig(
        workload="imagenette", pipeline="tfdata", model="examples.own_training:small_cnn", batch_size=16,
        pipeline_options={"private_threadpool": 1},
    )  # fmt: skip
    fix = Verified("private_threadpool=off", {"pipeline_options": {"private_threadpool": None}}, 1.0, 2.0)
    rx = prescription(config, fix, None)
    assert rx["command"] == (
        "python -m bench run --workload imagenette --pipeline tfdata --model examples.own_training:small_cnn "
        "--batch-size 16 --private-threadpool off"
    )
    assert rx["flags"] == ["--private-threadpool off"] and "private_threadpool_size = 0" in rx["code"][0]


def test_a_switched_loader_is_prescribed_without_the_old_loaders_knobs() -> None:
    config = RunConfig(workload="mnist", pipeline="idg", pipeline_options={"workers": 2}, batch_size=64)
    fix = Verified("pipeline=tfdata", {"pipeline": "tfdata", "pipeline_options": {}}, 1.0, 2.0)
    rx = prescription(config, fix, None)
    assert rx["command"] == "python -m bench run --workload mnist --pipeline tfdata --batch-size 64"
    assert rx["flags"] == ["--pipeline tfdata"] and "num_parallel_calls=tf.data.AUTOTUNE" in rx["code"][0]


def test_a_larger_batch_replaces_the_users_batch_flag() -> None:
    config = RunConfig(workload="mnist", pipeline="tfdata", batch_size=32)
    rx = prescription(config, Verified("batch_size=4x", {"batch_size": 128}, 1.0, 2.0), None)
    assert rx["command"] == "python -m bench run --workload mnist --pipeline tfdata --batch-size 128"


def _doc(**changes: object) -> dict:
    doc = {
        "workload": "mnist", "pipeline": "tfdata", "cores": 2, "accelerator": False, "e2e_images_per_sec": 900.0,
        "device_ceiling_images_per_sec": 2000.0, "fed_ceiling_images_per_sec": 1900.0,
        "probe_ceiling_images_per_sec": None, "probe_steps_per_execution": None, "pipeline_images_per_sec": 950.0,
        "one_core_pipeline_images_per_sec": 500.0, "stage_images_per_sec": {}, "noise_pct": 5.0, "reliable": True,
        "diagnosis": "input-bound", "cache_bytes": None, "free_ram_bytes": None, "input_bound_pct": 55.0,
        "transfer_pct": 5.0, "pipeline_pct": 50.0, "dispatch_points": 0.0, "data_kind": "generated",
        "data_source": "x", "measured_with": {}, "not_applied": [], "verified": [], "prescription": None,
        "wall_sec": 1.0, "quick": True, "pipeline_busy": 0.97, "per_core_images_per_sec": 500.0,
        "cores_to_feed": {"1": 4, "8": 32, "64": 256}, "service_worker_cores": 2, "per_worker_images_per_sec": 1000.0,
        "service_workers_to_feed": {"1": 2, "8": 16, "64": 128},
        "fixes": [
            {"fix": "more host cores", "addresses": "cpu", "predicted_e2e": 1900.0, "predicted_gain_pct": 111.0,
             "verifiable": False, "unverified": PLANNED, "detail": "4 cores serving the pipeline alone", "code": "#"},
        ],
    }  # fmt: skip
    return {**doc, **changes}


def test_planned_fixes_say_they_are_predicted_not_verified_and_the_plan_names_service_workers() -> None:
    summary, markdown = summary_text(_doc()), doctor_markdown(_doc())
    for text in (summary, markdown):
        (line,) = [line for line in text.splitlines() if "more host cores" in line]
        assert line.index("4 cores serving the pipeline alone") < line.index(f"({PLANNED})")
    assert "8 accelerator(s): 32 cores or 16 service workers" in summary
    assert "service workers (2 cores each)" in markdown and "1,000 img/s per worker" in markdown
    assert "97% of its threads' time" in markdown
    sized = doctor_markdown(_doc(cache_bytes=2 * 2**20, free_ram_bytes=8 * 2**30))
    assert "Decode cache: 2 MB of decoded images against 8,192 MB free (fits)." in sized
