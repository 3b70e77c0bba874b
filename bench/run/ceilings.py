"""The model's limits, measured in the run's own process right after training, on the same compiled weights.

- **device ceiling**: the compiled train step on a batch that already lives on the accelerator. The batch is a
  non-trainable weight of a `ResidentBatch` layer in front of the model, so it is placed on the device once, like
  every other weight, on every backend (a TF variable, a JAX array in the jitted state, a torch tensor); each step
  reads it there. Keras is fed only a one-byte token per example and the labels, so the per-step host -> device
  copy is a few hundred bytes. This is the model's limit; input-bound % is measured against it.
- **fed ceiling**: one constant host batch, in exactly the dtype and shape the pipeline under test delivers
  (decoded uint8 with `--augment-on device`, preprocessed float32 otherwise), through the same Keras data adapter
  as training: the model plus per-step dispatch and transfer.

Both are timed the way training is (the step timer, steady state after warm-up, synchronised step ends), and every
number that went into them -- steps, warm-up, spread -- is returned for the record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from bench.run.stall import spread_pct
from bench.run.timing import StepTimer, block_spread_pct, summarize_steps

TOKEN_DTYPE = "uint8"
ROUNDS = 3  # alternating fed / device rounds of each ceiling
MIN_ROUND_STEPS = 6  # fewer steps than this per round leave too few after the warm-up: one round then


@dataclass(frozen=True)
class FitRate:
    images_per_sec: float
    spread_pct: float | None
    steps: int  # steps that ran
    warmup_steps: int  # of them, left out of the rate


def time_fit(model: Any, data: Any, steps: int, batch_size: int, steps_per_execution: int = 1) -> FitRate:
    """Steady-state images/s of one `model.fit` epoch of `steps` steps (2 executions of warm-up left out).

    Raises:
        ValueError: `steps` too few to leave 2 measured executions after the warm-up.
    """
    timer = StepTimer()
    model.fit(data, epochs=1, steps_per_epoch=steps, callbacks=[timer], shuffle=False, verbose=0)
    calls = len(timer.log.step_sec)
    spe = max(1, steps_per_execution)
    warmup = max(0, min(2 * spe, (calls - 2) * spe))
    steady = summarize_steps(timer.log, batch_size, warmup, steps_per_callback=spe)
    spread = block_spread_pct(timer.log, steady.warmup_steps // spe)
    return FitRate(steady.images_per_sec, spread, calls * spe, steady.warmup_steps)


def _combined(rounds: list[FitRate]) -> FitRate:
    """Rounds of one ceiling as one: the median round rate, and the spread of the round rates (of the blocks of
    the one round, when there is one)."""
    rates = [r.images_per_sec for r in rounds]
    spread = spread_pct(rates)
    return FitRate(
        float(np.median(rates)),
        rounds[0].spread_pct if spread is None else spread,
        sum(r.steps for r in rounds),
        sum(r.warmup_steps for r in rounds),
    )


class ResidentBatch(keras.layers.Layer):
    """Ignores its input and returns the batch it holds as a non-trainable weight (so it lives on the device)."""

    def __init__(self, images: np.ndarray, **kwargs: Any) -> None:
        super().__init__(trainable=False, dtype=str(images.dtype), autocast=False, **kwargs)
        self._initial = np.asarray(images)

    def build(self, input_shape: Any) -> None:
        self.batch = self.add_weight(
            name="resident_batch",
            shape=self._initial.shape,
            dtype=str(self._initial.dtype),
            initializer="zeros",
            trainable=False,
        )
        self.batch.assign(self._initial)

    def call(self, token: Any) -> Any:
        return keras.ops.convert_to_tensor(self.batch)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(self._initial.shape)


def _replicas() -> int:
    """Replicas of the active tf.distribute strategy (1 on the other backends, which run no strategy here)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return int(tf.distribute.get_strategy().num_replicas_in_sync)


def device_resident(model: Any, images: np.ndarray) -> Any:
    """`model` behind a `ResidentBatch` of `images`: a model of a (batch, 1) token that trains `model`'s weights.

    Under a strategy of N replicas each replica is fed batch / N tokens, so each holds (and trains on) the first
    batch / N images: every replica steps on a resident batch of its own share's size.
    """
    held = images[: max(1, len(images) // _replicas())]
    token = keras.Input(shape=(1,), dtype=TOKEN_DTYPE, name="token")
    return keras.Model(token, model(ResidentBatch(held, name="resident_batch")(token)), name="device_resident")


def _constant_dataset(x: np.ndarray, y: np.ndarray) -> Any:
    import tensorflow as tf

    return tf.data.Dataset.from_tensors((tf.constant(x), tf.constant(y))).repeat()


@dataclass(frozen=True)
class Ceilings:
    """Both ceilings of a run (the field names are the record's)."""

    ceiling_images_per_sec: float  # the device ceiling: what input-bound % is measured against
    ceiling_spread_pct: float | None
    ceiling_steps: int
    ceiling_warmup_steps: int
    ceiling_kind: str
    fed_ceiling_images_per_sec: float
    fed_ceiling_spread_pct: float | None
    fed_ceiling_steps: int
    fed_ceiling_warmup_steps: int
    fed_ceiling_input: str  # dtype and shape of the constant host batch
    probe_steps_per_execution: int | None = None  # the dispatch probe: the device ceiling at more steps per call
    probe_ceiling_images_per_sec: float | None = None
    probe_ceiling_steps: int | None = None  # steps that ran (its rounds together), warm-up included
    probe_ceiling_spread_pct: float | None = None  # (max - min) / median of its block rates: its noise


def measure_ceilings(
    model: Any,
    batch: tuple[np.ndarray, np.ndarray],
    steps: int,
    steps_per_execution: int,
    compile_like: Callable[[Any, int], None],
    probe_spe: int = 0,
) -> Ceilings:
    """The fed ceiling (the constant host batch through the adapter) and the device ceiling (the same batch held on
    the device by a `ResidentBatch` in front of the same model, compiled by `compile_like(model, steps_per_execution)`
    as the run compiled it). With `probe_spe` above the run's, the device ceiling is timed again at that many steps
    per execution: what per-call dispatch costs (the doctor's dispatch probe).
    """
    images, labels = batch
    size = len(labels)
    fed_data = _constant_dataset(images, labels)
    resident = device_resident(model, images)
    compile_like(resident, steps_per_execution)
    tokens = _constant_dataset(np.zeros((size, 1), dtype=TOKEN_DTYPE), labels)
    # Alternating rounds, so a machine that gets busier (or quieter) half way moves both ceilings alike.
    rounds = ROUNDS if steps >= ROUNDS * MIN_ROUND_STEPS else 1
    per_round = [steps // rounds + (1 if r < steps % rounds else 0) for r in range(rounds)]
    probing = probe_spe > steps_per_execution
    if probing:  # a second wrapper of the same model, compiled at the probe's steps per call, timed in the rounds too
        prober = device_resident(model, images)
        compile_like(prober, probe_spe)
        probe_steps = max(min(per_round), 3 * probe_spe) // probe_spe * probe_spe
    fed_rounds, device_rounds, probe_rounds = [], [], []
    for round_steps in per_round:
        fed_rounds.append(time_fit(model, fed_data, round_steps, size, steps_per_execution))
        device_rounds.append(time_fit(resident, tokens, round_steps, size, steps_per_execution))
        if probing:
            probe_rounds.append(time_fit(prober, tokens, probe_steps, size, probe_spe))
    fed, device = _combined(fed_rounds), _combined(device_rounds)
    probe = _combined(probe_rounds) if probing else None
    return Ceilings(
        ceiling_images_per_sec=device.images_per_sec,
        ceiling_spread_pct=device.spread_pct,
        ceiling_steps=device.steps,
        ceiling_warmup_steps=device.warmup_steps,
        ceiling_kind="device",
        fed_ceiling_images_per_sec=fed.images_per_sec,
        fed_ceiling_spread_pct=fed.spread_pct,
        fed_ceiling_steps=fed.steps,
        fed_ceiling_warmup_steps=fed.warmup_steps,
        fed_ceiling_input=f"{images.dtype}{list(images.shape)}",
        probe_steps_per_execution=probe_spe if probe else None,
        probe_ceiling_images_per_sec=probe.images_per_sec if probe else None,
        probe_ceiling_steps=probe.steps if probe else None,
        probe_ceiling_spread_pct=probe.spread_pct if probe else None,
    )
