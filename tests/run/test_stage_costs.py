"""Per-stage attribution: the arithmetic on known rates, and a real pipeline with a planted slow stage."""

from __future__ import annotations

import time

import pytest
import tensorflow as tf

import imgcls.pipelines.tfdata as tfdata_module
from bench.run.stage_costs import slowest_stage, stage_costs
from imgcls import render_tf
from imgcls.pipelines import InputConfig, build_pipeline
from imgcls.workloads import get_workload


def test_a_stage_costs_what_its_prefix_adds_per_image() -> None:
    # read 10,000/s (0.1 ms), + decode to 2,000/s (+0.4 ms), + augment to 1,000/s (+0.5 ms): augment costs most,
    # though decode has the larger drop in *rate* (8,000 img/s); the cost is time per image, not rate.
    costs = stage_costs({"read": 10_000.0, "decode": 2_000.0, "augment": 1_000.0})
    assert costs == pytest.approx({"read": 1e-4, "decode": 4e-4, "augment": 5e-4})
    assert slowest_stage({"read": 10_000.0, "decode": 2_000.0, "augment": 1_000.0}) == "augment"


def test_a_prefix_faster_than_the_one_before_is_noise_and_costs_nothing() -> None:
    assert stage_costs({"read": 1_000.0, "decode": 1_100.0})["decode"] == 0.0
    assert slowest_stage({}) is None


def _slowed(fn, seconds: float):  # noqa: ANN001, ANN202
    """`fn` followed by a sleep of `seconds` per call (in the tf.data graph, via py_function)."""

    def slow(*args):  # noqa: ANN002, ANN202
        out = fn(*args)

        def wait(x: tf.Tensor) -> tf.Tensor:
            time.sleep(seconds)
            return x

        result = tf.py_function(wait, [out], out.dtype)
        result.set_shape(out.shape)
        return result

    return slow


def _stage_rates(data, config: InputConfig) -> dict[str, float]:  # noqa: ANN001
    from bench.run.measurements import measure_pipeline

    pipeline = build_pipeline("tfdata")
    return measure_pipeline(pipeline, data, config, batches=3, stage_batches=4, label="planted").stage_images_per_sec


@pytest.mark.slow
def test_a_planted_slow_decode_is_named(imagenette_tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tfdata_module, "_decode_bytes", _slowed(tfdata_module._decode_bytes, 0.004))
    workload = get_workload("imagenette")
    config = InputConfig(image_size=(64, 64), channels=3, augment=workload.augment, batch_size=8, seed=0)
    rates = _stage_rates(imagenette_tiny, config)
    assert list(rates)[:3] == ["read", "decode", "augment"]
    assert slowest_stage(rates) == "decode"


@pytest.mark.slow
def test_a_planted_slow_augmentation_is_named(mnist_tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render_tf, "augment", _slowed(render_tf.augment, 0.03))
    workload = get_workload("mnist")
    config = InputConfig(image_size=(28, 28), channels=1, augment=workload.augment, batch_size=32, seed=0)
    rates = _stage_rates(mnist_tiny, config)
    assert slowest_stage(rates) == "augment"
