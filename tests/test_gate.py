"""The CI gate compares pipelines by ratio within one run, and it can fail."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import tensorflow as tf

from bench.cli import main
from bench.gate import GATES, check_gates, rates_from_benchmark_json
from bench.timing import time_pipeline
from imgcls.pipelines import InputConfig, build_pipeline
from imgcls.workloads import get_workload


def _benchmark_json(path: Path, rates: dict[tuple[str, str], float], images_per_round: int = 256) -> Path:
    """A pytest-benchmark JSON file whose medians give `rates` (images/s)."""
    benchmarks = [
        {
            "name": f"test_pipeline_only[{kind}-{pipeline}]",
            "group": f"pipeline-only {kind}",
            "stats": {"median": images_per_round / rate, "rounds": 5},
            "extra_info": {"input_kind": kind, "pipeline": pipeline, "images_per_round": images_per_round},
        }
        for (kind, pipeline), rate in rates.items()
    ]
    path.write_text(json.dumps({"benchmarks": benchmarks, "machine_info": {}}))
    return path


HEALTHY = {
    ("jpeg", "idg"): 450.0,
    ("jpeg", "tfdata-naive"): 1500.0,
    ("jpeg", "tfdata"): 2300.0,
    ("arrays", "idg"): 16000.0,
    ("arrays", "tfdata-naive"): 16500.0,
    ("arrays", "tfdata"): 95000.0,
}


def test_rates_are_recomputed_from_medians(tmp_path: Path) -> None:
    rates = rates_from_benchmark_json(_benchmark_json(tmp_path / "b.json", HEALTHY))
    assert rates[("jpeg", "tfdata")] == pytest.approx(2300.0)
    assert rates[("arrays", "idg")] == pytest.approx(16000.0)


def test_healthy_run_passes_every_gate(tmp_path: Path) -> None:
    results = check_gates(HEALTHY)
    assert all(r.passed for r in results), [r.line() for r in results]
    path = _benchmark_json(tmp_path / "b.json", HEALTHY)
    assert main(["gate", str(path)]) == 0


def test_missing_side_fails_rather_than_passing_silently() -> None:
    rates = {k: v for k, v in HEALTHY.items() if k != ("jpeg", "idg")}
    results = {r.gate.name: r for r in check_gates(rates)}
    broken = results["tf.data beats ImageDataGenerator on JPEG"]
    assert not broken.passed and broken.ratio is None and "missing" in broken.line()


def _slowed(pipeline_name: str, delay_sec: float):
    """A real tf.data pipeline with a deliberate per-batch stall (a regression: e.g. a lost parallel map)."""
    pipeline = build_pipeline(pipeline_name)

    def stall(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        def sleep(x: tf.Tensor) -> tf.Tensor:
            time.sleep(delay_sec)
            return x

        return tf.py_function(sleep, [images], tf.float32), labels

    class Slowed:
        name = f"{pipeline_name}-slowed"

        def train_data(self, data, config):  # noqa: ANN001, ANN202
            return pipeline.train_data(data, config).map(stall)

    return Slowed()


@pytest.mark.slow
def test_gate_fails_on_a_deliberately_slowed_pipeline(tmp_path: Path, imagenette_tiny, mnist_tiny) -> None:
    """Measure real pipelines, slow `tfdata` down by a per-batch stall, and watch every gate catch it."""
    measured = {}
    cases = (("jpeg", imagenette_tiny, "imagenette", (64, 64)), ("arrays", mnist_tiny, "mnist", (28, 28)))
    for kind, data, workload_name, size in cases:
        workload = get_workload(workload_name)
        config = InputConfig(
            image_size=size, channels=workload.channels, augment=workload.augment, batch_size=8, seed=0
        )
        pipelines = {
            "tfdata-naive": build_pipeline("tfdata-naive"),
            "tfdata": _slowed("tfdata", delay_sec=0.25),
            "idg": build_pipeline("idg"),
        }
        for name, pipeline in pipelines.items():
            measured[(kind, name)] = time_pipeline(pipeline.train_data(data, config), 6).images_per_sec
    path = _benchmark_json(tmp_path / "slowed.json", measured)
    results = check_gates(rates_from_benchmark_json(path))
    assert not any(r.passed for r in results), [r.line() for r in results]
    assert main(["gate", str(path)]) == 1


def test_gate_margins_are_real_speedups() -> None:
    # A gate at or below 1.0 could never catch a regression that makes tf.data merely as slow as its baseline.
    assert all(g.min_ratio > 1.0 for g in GATES)
