"""The CI gate compares pipelines by ratio within one run, and it can fail."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from bench.cli.parser import main
from bench.gate.rules import GATES, check_gates, rates_from_benchmark_json


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
    ("jpeg", "tfdata-naive"): 1400.0,
    ("jpeg", "tfdata"): 1500.0,
    ("jpeg", "tfdata@device"): 6500.0,
    ("jpeg", "decode-only"): 8500.0,
    ("arrays", "idg"): 16000.0,
    ("arrays", "tfdata-naive"): 16500.0,
    ("arrays", "tfdata"): 95000.0,
}


def test_rates_are_recomputed_from_medians(tmp_path: Path) -> None:
    rates = rates_from_benchmark_json(_benchmark_json(tmp_path / "b.json", HEALTHY))
    assert rates[("jpeg", "tfdata")] == pytest.approx(1500.0)
    assert rates[("arrays", "idg")] == pytest.approx(16000.0)


def test_healthy_run_passes_every_gate(tmp_path: Path) -> None:
    results = check_gates(HEALTHY)
    assert all(r.passed for r in results), [r.line() for r in results]
    path = _benchmark_json(tmp_path / "b.json", HEALTHY)
    assert main(["gate", str(path)]) == 0


def test_missing_side_fails_rather_than_passing_silently() -> None:
    rates = {k: v for k, v in HEALTHY.items() if k != ("jpeg", "idg")}
    results = {r.gate.name: r for r in check_gates(rates)}
    broken = results["tf.data beats ImageDataGenerator on JPEG, same work on the host"]
    assert not broken.passed and broken.ratio is None and "missing" in broken.line()


# ---- faults injected into real pipelines: each must fail the gate ---------------------------------------------
@pytest.fixture(scope="module")
def square_jpegs(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """224x224 JPEGs (all one size, larger than the model's 160 px), like the benchmarks' data."""
    from imgcls.data import DATASETS, load_folder_tree
    from imgcls.data.generated import write_jpeg_tree

    root = tmp_path_factory.mktemp("gate-jpegs") / "imagenette2-gate"
    write_jpeg_tree(root, {"train": 8, "val": 1}, DATASETS["imagenette"].class_names, shorter_side=224, max_aspect=1.0)
    return load_folder_tree(DATASETS["imagenette"], root, kind="generated")


def measure_checks(arrays, jpegs, **tuned_overrides) -> list:  # noqa: ANN001, ANN003
    """The gate's measurements on real pipelines (as the benchmarks take them, fewer batches), with
    `tuned_overrides` applied to the tuned preset; returns the gate's checks."""
    from bench.gate import cases as gatecases
    from bench.gate.rules import check_gates, overlap_check

    rates = {}
    for kind, data in (("arrays", arrays), ("jpeg", jpegs)):
        for row in gatecases.ROWS[kind]:
            overrides = tuned_overrides if row in (gatecases.TUNED_ROW, gatecases.DEVICE_ROW) else {}
            iterator, _ = gatecases.stream(row, data, kind, **overrides)
            rates[(kind, row)] = gatecases.rate(iterator, 6)
    iterator, _ = gatecases.stream(
        gatecases.DEVICE_ROW, jpegs, "jpeg", **{**gatecases.OVERLAP_OPTIONS, **tuned_overrides}
    )
    step_sec = 1.5 * 32 / gatecases.rate(iterator, 6)
    efficiency = gatecases.rate(iterator, 6, step_sec) / (32 / step_sec)
    return [*check_gates(rates), overlap_check(efficiency)]


def _failed(checks: list) -> list[str]:
    return [c.line() for c in checks if not c.passed]


@pytest.mark.slow
def test_the_gate_fails_on_a_sequential_tfdata(mnist_tiny, square_jpegs) -> None:
    failed = _failed(measure_checks(mnist_tiny, square_jpegs, map_parallel=None, prefetch=None))
    assert any("overlaps" in line for line in failed), failed


@pytest.mark.slow
def test_the_gate_fails_on_a_dropped_prefetch(mnist_tiny, square_jpegs) -> None:
    failed = _failed(measure_checks(mnist_tiny, square_jpegs, prefetch=None))
    assert any("overlaps" in line for line in failed), failed


@pytest.mark.slow
def test_the_gate_fails_on_a_slowed_decode(mnist_tiny, square_jpegs, monkeypatch: pytest.MonkeyPatch) -> None:
    import imgcls.pipelines.tfdata as tfdata_module

    decode = tfdata_module._decode_bytes

    def slowed(raw: tf.Tensor, config) -> tf.Tensor:  # noqa: ANN001
        image = decode(raw, config)

        def wait(x: tf.Tensor) -> tf.Tensor:
            time.sleep(0.003)
            return x

        out = tf.py_function(wait, [image], image.dtype)
        out.set_shape(image.shape)
        return out

    monkeypatch.setattr(tfdata_module, "_decode_bytes", slowed)
    failed = _failed(measure_checks(mnist_tiny, square_jpegs))
    assert any("decode limit" in line for line in failed), failed
    assert any("ImageDataGenerator on JPEG, augmenting" in line for line in failed), failed


def test_gate_margins_are_real_speedups() -> None:
    # A gate against the baseline at or below 1.0 could never catch a tf.data made merely as slow as IDG.
    assert all(g.min_ratio > 1.0 for g in GATES if g.slower != "decode-only")


def _overhead_json(path: Path, overheads: dict[str, float]) -> Path:
    benchmarks = [
        {
            "name": "test_harness_overhead",
            "group": f"harness overhead {backend}",
            "stats": {"median": 2.0, "rounds": 9},
            "extra_info": {"backend": backend, "overhead": overhead},
        }
        for backend, overhead in overheads.items()
    ]
    path.write_text(json.dumps({"benchmarks": benchmarks, "machine_info": {}}))
    return path


def test_the_harness_overhead_gate_is_per_backend(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ok = _overhead_json(tmp_path / "ok.json", {"tensorflow": 0.01, "jax": -0.02, "torch": 0.04})
    assert main(["gate", str(ok)]) == 0
    slow = _overhead_json(tmp_path / "slow.json", {"tensorflow": 0.01, "jax": 0.25})
    assert main(["gate", str(slow)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  harness overhead on jax: +25.00%" in out and "PASS  harness overhead on tensorflow" in out


def test_a_gate_over_no_measurement_fails(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"benchmarks": [], "machine_info": {}}))
    assert main(["gate", str(empty)]) == 1


class _SimulatedFit:
    """A stand-in for `model.fit` on a simulated clock: each step takes 10 ms times the round's machine load (drawn
    from 0.6x to 2.6x, the swings seen on a loaded 2-core CPU, shared by the round's two fits, since the probe pairs
    them for that) and +-5% of its own jitter; then it calls the callbacks' hooks as Keras does. Seeded: the same
    timings every run, so the gate's verdict on them never depends on this machine's load."""

    def __init__(self, clock: list[float], seed: int = 0) -> None:
        self.clock = clock
        self.rng = np.random.default_rng(seed)
        self.fits = 0
        self.load = 1.0

    def fit(self, dataset: object, *, epochs: int, steps_per_epoch: int, callbacks: list, **_: object) -> None:
        if self.fits % 2 == 0:
            self.load = self.rng.uniform(0.6, 2.6)  # a new round: the machine's load moves
        self.fits += 1
        for hook in ("on_train_begin", "on_epoch_begin"):
            for callback in callbacks:
                getattr(callback, hook)(*([0] if hook == "on_epoch_begin" else []))
        for step in range(steps_per_epoch):
            self.clock[0] += 0.010 * self.load * self.rng.uniform(0.95, 1.05)
            for callback in callbacks:
                callback.on_train_batch_end(step, {"loss": 0.5})
        for callback in callbacks:
            callback.on_epoch_end(0)
        for callback in callbacks:
            callback.on_train_end()


@pytest.mark.parametrize("step_cost_ms", [3.0, 0.0])
def test_the_overhead_gate_fails_on_a_harness_that_slows_every_step(
    step_cost_ms: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step timer that costs 3 ms a step (on a 10 ms step, under a load that moves each round by up to 4x) is
    measured as overhead and fails the gate; the same probe with no cost passes. The clock is simulated, so the
    verdict is the same on an idle and on a loaded machine (a real-clock run let +41% and +22% pass under load)."""
    import types

    import keras

    import bench.run.harness_overhead as harness_overhead
    from bench.gate.rules import harness_overhead_check
    from bench.run.harness_overhead import OverheadProbe, harness_callbacks
    from bench.run.timing import StepTimer

    clock = [0.0]
    monkeypatch.setattr(harness_overhead, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    stamp = StepTimer.on_train_batch_end

    def slow_stamp(self, batch: int, logs: dict | None = None) -> None:  # noqa: ANN001
        clock[0] += step_cost_ms / 1000
        stamp(self, batch, logs)

    monkeypatch.setattr(StepTimer, "on_train_batch_end", slow_stamp)
    probe = OverheadProbe(_SimulatedFit(clock), None, 20, lambda: harness_callbacks(20, 32))
    for _ in range(10):
        probe.one_round()
    summary = probe.summary()
    check = harness_overhead_check(keras.backend.backend(), summary["overhead"], summary["overhead_ci90"])
    assert check.passed == (step_cost_ms == 0), check.line()


def test_overhead_is_the_median_paired_ratio_and_one_odd_round_barely_moves_it() -> None:
    from bench.run.harness_overhead import overhead_of

    bare = [1.00, 1.01, 2.00, 1.00, 1.00]  # one fit doubled by a busy machine
    steady = overhead_of(bare, [1.00, 1.00, 1.01, 1.01, 1.00])
    assert steady.estimate == pytest.approx(0.0, abs=0.011) and steady.low <= 0.0
    costly = overhead_of([1.0, 1.0, 1.2, 1.0, 1.0], [1.10, 1.11, 1.32, 1.10, 1.12])  # a cost paid on every fit
    assert costly.estimate == pytest.approx(0.10, abs=0.011) and costly.low > 0.05
    assert overhead_of(bare, [1.0] * 5) == overhead_of(bare, [1.0] * 5)  # seeded: the same interval every time
    with pytest.raises(ValueError, match="paired rounds"):
        overhead_of([1.0], [1.0, 1.0])


def test_the_overhead_gate_fails_only_when_the_whole_interval_is_above_the_bound() -> None:
    from bench.gate.rules import harness_overhead_check

    assert harness_overhead_check("torch", 0.07, [0.01, 0.10]).passed  # noise the run cannot tell apart from 5%
    failed = harness_overhead_check("torch", 0.30, [0.25, 0.35])
    assert not failed.passed and "90% CI [+25.0%, +35.0%]" in failed.line()
    assert not harness_overhead_check("jax", 0.25).passed  # a file without an interval: the estimate decides


def test_the_train_span_has_no_batch_hook_so_keras_dispatch_is_unchanged() -> None:
    from keras.src.utils.python_utils import is_default

    from bench.run.harness_overhead import TrainSpan

    span = TrainSpan()
    for hook in ("on_batch_end", "on_train_batch_begin", "on_train_batch_end"):
        assert is_default(getattr(span, hook)), hook
