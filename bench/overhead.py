"""What the harness costs a training loop: the same compiled model fitted bare and with the harness's callbacks,
side by side in one process, in alternating order so both sides meet the same machine.

Each fit is timed from `on_train_begin` to `on_train_end` (`TrainSpan`), the span in which callbacks act: fit's own
setup and teardown run the same code on both sides, and on TensorFlow the teardown alone is bimodal (releasing the
epoch's iterator takes either ~0 or ~0.16 s, at random, measured on this project's 2-core CPU) -- enough to push a
median of 8 per-round ratios to +13% or -25% on an overhead that is really ~0.

The overhead is each side's fastest fit against the other's, minus 1 (`timeit`'s estimator): the harness's cost is
paid on every step, so it is in every fit, the fastest included, while a busy machine only ever adds time -- on a
shared CI runner it doubled single torch fits, enough to move a median of ratios by several percent.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import keras

from bench.progress import ProgressLine
from bench.timing import StepTimer

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


def harness_callbacks(steps: int, batch_size: int) -> list[keras.callbacks.Callback]:
    """The callbacks `bench run` adds to every fit: the step timer and the progress line."""
    return [StepTimer(), ProgressLine("overhead", 1, steps, batch_size, every_sec=60)]


def overhead_of(bare_sec: list[float], harness_sec: list[float]) -> float:
    """Fastest harness fit / fastest bare fit - 1 (see the module docstring for why the fastest).

    Raises:
        ValueError: either side has no fit.
    """
    if not bare_sec or not harness_sec:
        raise ValueError("the overhead needs at least one fit on each side")
    return min(harness_sec) / min(bare_sec) - 1.0


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
        self.model.fit(self.dataset, epochs=1, steps_per_epoch=self.steps, callbacks=[*extra, span], verbose=0)
        (self.harness_sec if side == "harness" else self.bare_sec).append(span.seconds)

    def one_round(self) -> None:
        order = ("bare", "harness") if len(self.bare_sec) % 2 == 0 else ("harness", "bare")
        for side in order:
            self._fit(side)

    def summary(self) -> dict[str, object]:
        """The timings after warm-up (all of them if only warm-up rounds ran), the overhead, and the median of the
        per-round ratios beside it."""
        first = self.skip if len(self.bare_sec) > self.skip else 0
        bare, harness = self.bare_sec[first:], self.harness_sec[first:]
        ratios = [h / b for h, b in zip(harness, bare, strict=True)]
        return {
            "steps_per_fit": self.steps,
            "bare_sec": bare,
            "harness_sec": harness,
            "overhead": overhead_of(bare, harness),
            "overhead_median_ratio": statistics.median(ratios) - 1.0,
        }
