"""What the harness costs a training loop: the same compiled model fitted bare and with the harness's callbacks,
side by side in one process, in alternating order so both sides meet the same machine.

Each fit is timed from `on_train_begin` to `on_train_end` (`TrainSpan`), the span in which callbacks act: fit's own
setup and teardown run the same code on both sides, and on TensorFlow the teardown alone is bimodal (releasing the
epoch's iterator takes either ~0 or ~0.16 s, at random, measured on this project's 2-core CPU) -- enough to push a
median of 8 per-round ratios to +13% or -25% on an overhead that is really ~0.

The overhead is the median over rounds of (harness fit / bare fit of the same round) - 1, with a 90% bootstrap
confidence interval of that median. Neither it nor the fastest-fit ratio is steady on a small CPU: torch fits here
fall into a fast and a slow state at random (~1.31 s or ~1.55 s for the same 40 steps), which moved both estimates
between -4% and +7% from one run to the next on an unchanged harness. The interval says how far a run can be
trusted; `bench gate` fails when the whole interval lies above its bound, which a cost paid on every step does
(`tests/gate/test_rules.py` injects 3 ms a step).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np

from bench.run.progress import ProgressLine
from bench.run.timing import StepTimer
from imgcls.data.types import DataSet
from imgcls.workloads import Workload

Callbacks = Callable[[], list[keras.callbacks.Callback]]


class TrainSpan(keras.callbacks.Callback):
    """Seconds from the start of training to its end. It has no batch hooks, so it changes nothing in how Keras
    dispatches the other callbacks (on JAX and torch, batch-end hooks of callbacks not marked `async_safe` would
    move every callback back onto the training loop)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0.0
        self._start = 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.seconds = time.perf_counter() - self._start


def compiled_on_a_constant_batch(workload: Workload, data: DataSet) -> tuple[keras.Model, object, str]:
    """`workload`'s model compiled on this process's backend's fast path (as `bench run` compiles it) and already
    traced, with the ceiling pipeline's one constant batch from `data`: both sides of a probe then differ only in
    callbacks. Returns (model, dataset, compile path)."""
    from bench.backends import COMPILE_ARGS, get_backend
    from imgcls.pipelines import CEILING, InputConfig, build_pipeline, pipelines_with_role

    config = InputConfig(
        image_size=workload.image_size, channels=workload.channels, augment=workload.augment,
        batch_size=workload.batch_size, seed=0,
    )  # fmt: skip
    (ceiling,) = pipelines_with_role(CEILING)
    dataset = build_pipeline(ceiling).train_data(data, config)
    model = workload.build_model(workload.input_shape, 10)
    compile_path = get_backend(keras.backend.backend()).default_compile
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", **COMPILE_ARGS[compile_path])
    model.fit(dataset, epochs=1, steps_per_epoch=3, shuffle=False, verbose=0)  # trace outside the timed rounds
    return model, dataset, compile_path


def harness_callbacks(steps: int, batch_size: int) -> list[keras.callbacks.Callback]:
    """The callbacks `bench run` adds to every fit: the step timer and the progress line."""
    return [StepTimer(), ProgressLine("overhead", 1, steps, batch_size, every_sec=60)]


@dataclass(frozen=True)
class Overhead:
    """Median over rounds of harness time / bare time - 1, and a 90% bootstrap interval of that median."""

    estimate: float
    low: float
    high: float


def overhead_of(bare_sec: list[float], harness_sec: list[float], resamples: int = 2000) -> Overhead:
    """The paired per-round ratios' median and its percentile-bootstrap 90% interval (seeded: same input, same
    interval).

    Raises:
        ValueError: no round, or the two sides ran a different number of fits.
    """
    if not bare_sec or len(bare_sec) != len(harness_sec):
        raise ValueError(f"the overhead needs paired rounds, got {len(bare_sec)} bare and {len(harness_sec)} fits")
    ratios = np.asarray(harness_sec) / np.asarray(bare_sec) - 1.0
    draws = np.random.default_rng(0).choice(ratios, size=(resamples, len(ratios)), replace=True)
    low, high = np.percentile(np.median(draws, axis=1), [5, 95])
    return Overhead(float(np.median(ratios)), float(low), float(high))


@dataclass
class OverheadProbe:
    """Fits `model` on `dataset` for `steps` steps per fit, one bare and one with `callbacks()` per round.

    Call `one_round()` as often as wanted (pytest-benchmark's `pedantic` does); `skip` first rounds are warm-up.
    """

    model: keras.Model
    dataset: object
    steps: int
    callbacks: Callbacks
    skip: int = 1
    bare_sec: list[float] = field(default_factory=list)
    harness_sec: list[float] = field(default_factory=list)

    def _fit(self, side: str) -> None:
        span = TrainSpan()
        extra = self.callbacks() if side == "harness" else []
        self.model.fit(
            self.dataset, epochs=1, steps_per_epoch=self.steps, callbacks=[*extra, span], shuffle=False, verbose=0
        )
        (self.harness_sec if side == "harness" else self.bare_sec).append(span.seconds)

    def one_round(self) -> None:
        order = ("bare", "harness") if len(self.bare_sec) % 2 == 0 else ("harness", "bare")
        for side in order:
            self._fit(side)

    def summary(self) -> dict[str, object]:
        """The timings after warm-up (all of them if only warm-up rounds ran) and the overhead with its interval."""
        first = self.skip if len(self.bare_sec) > self.skip else 0
        bare, harness = self.bare_sec[first:], self.harness_sec[first:]
        overhead = overhead_of(bare, harness)
        return {
            "steps_per_fit": self.steps,
            "bare_sec": bare,
            "harness_sec": harness,
            "overhead": overhead.estimate,
            "overhead_ci90": [overhead.low, overhead.high],
        }
