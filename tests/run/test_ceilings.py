"""bench.run.ceilings and the e2e timing against a model whose step cannot take less than a known time.

A `tf.py_function` that sleeps `STEP_SLEEP` seconds runs inside every train step, so no honest measurement can
report more than `BATCH / STEP_SLEEP` images/s: a rate inflated by x1.2, a ceiling timed over half its steps or
with its warm-up counted, each fails here, on any machine (a sleep is a lower bound on time, however loaded the
machine).
"""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from bench.backends import get_backend
from bench.run.ceilings import ResidentBatch, device_resident, measure_ceilings
from bench.run.measurements import train

BATCH, STEP_SLEEP, STEPS = 16, 0.02, 12
BOUND = BATCH / STEP_SLEEP  # images/s no measurement can honestly exceed


class SleepEachStep(keras.layers.Layer):
    def call(self, x):  # noqa: ANN001, ANN201
        def slow(t):  # noqa: ANN001, ANN202
            time.sleep(STEP_SLEEP)
            return t

        y = tf.py_function(slow, [x], Tout=x.dtype)
        y.set_shape(x.shape)
        return y


def _model() -> keras.Model:
    inputs = keras.Input(shape=(8, 8, 1))
    x = SleepEachStep()(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x))
    return keras.Model(inputs, outputs)


def _compile(model: keras.Model, steps_per_execution: int = 1) -> None:
    model.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )  # fmt: skip


def _batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((BATCH, 8, 8, 1), dtype=np.float32), rng.integers(0, 3, BATCH).astype(np.int32)


@pytest.mark.slow
def test_both_ceilings_stay_under_the_physical_bound_and_record_their_steps() -> None:
    model = _model()
    _compile(model)
    ceilings = measure_ceilings(model, _batch(), STEPS, 1, _compile, probe_spe=4)
    assert ceilings.probe_steps_per_execution == 4
    for rate in (
        ceilings.ceiling_images_per_sec,
        ceilings.fed_ceiling_images_per_sec,
        ceilings.probe_ceiling_images_per_sec,
    ):
        assert 0.5 * BOUND < rate <= BOUND
    assert (ceilings.ceiling_steps, ceilings.fed_ceiling_steps) == (STEPS, STEPS)
    assert ceilings.ceiling_warmup_steps == ceilings.fed_ceiling_warmup_steps == 2
    assert ceilings.ceiling_kind == "device" and ceilings.fed_ceiling_input == "float32[16, 8, 8, 1]"


@pytest.mark.slow
def test_the_e2e_rate_stays_under_the_physical_bound() -> None:
    model = _model()
    _compile(model)
    images, labels = _batch()
    data = tf.data.Dataset.from_tensors((images, labels)).repeat()
    training = train(
        model, data, None, get_backend("tensorflow"), epochs=1, steps=STEPS, batch_size=BATCH, warmup_steps=2,
        steps_per_execution=1, label="test",
    )  # fmt: skip
    assert 0.5 * BOUND < training.train_images_per_sec <= BOUND
    assert training.window_steps == STEPS - 2


def test_the_device_resident_model_holds_the_batch_as_a_weight_and_trains_the_same_weights() -> None:
    model = _model()
    images, labels = _batch()
    resident = device_resident(model, images)
    assert tuple(resident.inputs[0].shape) == (None, 1) and resident.inputs[0].dtype == "uint8"
    (held,) = [w for w in resident.non_trainable_weights if "resident_batch" in w.path]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(held), images)
    assert {id(w) for w in model.trainable_weights} == {id(w) for w in resident.trainable_weights}
    layer = next(layer for layer in resident.layers if isinstance(layer, ResidentBatch))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(np.zeros((BATCH, 1), "uint8"))), images)
