"""The README's "Measure your own training" example, run as a user runs it: `bench run` with the example's model
and tf.data function, then `bench report`; the stages are found in order, and a planted slow stage is named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.records import RUNS_FILE, read_records
from bench.run.stage_costs import stage_costs

ROOT = Path(__file__).resolve().parents[2]
STAGES = ["decode", "augment", "batch"]
RUN = ["run", "--workload", "cifar10", "--data", "generated", "--model", "examples.own_training:small_cnn",
       "--steps", "6", "--batch-size", "16", "--limit", "256", "--limit-test", "32", "--ceiling-steps", "6",
       "--pipeline-batches", "5"]  # fmt: skip


def _bench(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.mark.slow
def test_the_example_runs_reports_and_names_a_planted_slow_stage(tmp_path: Path) -> None:
    results = tmp_path / "results"
    # The user's own module, in the directory they run from: the example's pipeline with its augment slowed
    # (a tf.py_function sleeping 2 ms an image).
    (tmp_path / "planted.py").write_text(
        "from examples.own_training import build_jpeg_pipeline\n\n\n"
        "def slow_augment(batch_size, seed):\n"
        "    return build_jpeg_pipeline(batch_size, seed, sleep_in='augment')\n"
    )
    plain = _bench([*RUN, "--pipeline-fn", "examples.own_training:jpeg_pipeline", "--results", str(results)], tmp_path)
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert "is not compiled: compiling it with cifar10's Adam" in plain.stderr
    planted = _bench([*RUN, "--pipeline-fn", "planted:slow_augment", "--results", str(results)], tmp_path)
    assert planted.returncode == 0, planted.stderr[-2000:]

    first, second = read_records(results / RUNS_FILE)
    for record in (first, second):
        stages = list(record["stage_images_per_sec"])
        assert [s for s in stages if s in STAGES] == STAGES  # found, in graph order
        assert record["model_name"] == "examples.own_training:small_cnn" and record["model_params"] == 314
        assert record["model_input_shape"] == [32, 32, 3] and record["model_compiled_by"] == "harness"
        assert record["pipeline"] == "user" and record["train_images_per_sec"] > 0
    assert second["slowest_stage"] == "augment"
    plain_cost = stage_costs(first["stage_images_per_sec"])["augment"]
    planted_cost = stage_costs(second["stage_images_per_sec"])["augment"]
    assert planted_cost > 5 * plain_cost  # the 2 ms sleep (spread over parallel calls) is what the cost measures

    report = _bench(["report", "--results", str(results), "--no-plots"], tmp_path)
    assert report.returncode == 0, report.stderr[-2000:]
    rows = [line for line in report.stdout.splitlines() if "pipeline_fn=planted:slow_augment" in line]
    assert rows and " augment " in rows[0]  # the table's slowest-stage column names it


@pytest.mark.slow
def test_a_missing_user_module_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = _bench([*RUN, "--pipeline-fn", "nowhere:fn", "--results", str(tmp_path)], tmp_path)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: nowhere:fn: cannot import nowhere (ModuleNotFoundError: No module named 'nowhere')"]


@pytest.mark.slow
def test_the_doctor_names_a_planted_slow_stage_in_the_users_own_pipeline(tmp_path: Path) -> None:
    """`bench doctor` on the example with a sleeping augment: input-bound, the slowest stage named is the planted
    one, and no fix that only the harness's own pipelines have (device augmentation) is prescribed."""
    (tmp_path / "planted.py").write_text(
        "from examples.own_training import build_jpeg_pipeline\n\n\n"
        "def slow_augment(batch_size, seed):\n"
        "    return build_jpeg_pipeline(batch_size, seed, sleep_in='augment')\n"
    )
    args = ["doctor", *RUN[1:], "--pipeline-fn", "planted:slow_augment", "--quick", "--results", str(tmp_path / "r")]
    done = _bench(args, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    (doc,) = read_records(tmp_path / "r" / "doctor.jsonl")
    assert doc["verdict"] == "input-bound" and doc["slowest_stage"] == "augment"
    assert "slowest stage is augment" in doc["diagnosis"]
    assert "augment_on=device" not in [fix["fix"] for fix in doc["fixes"]]  # fix names (causes are sentences)
    assert "diagnosis:" in done.stdout
