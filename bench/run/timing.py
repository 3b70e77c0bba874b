"""Step timing (a Keras callback) and pipeline-only timing (like `tfds.benchmark`), with pure summaries.

A step's end is stamped once its results are on the host, so every step time is a finished step. Keras itself
turns each step's logs into Python floats before any batch-end hook runs (`pythonify_logs`), which waits for the
step. Where that happens depends on the backend: TensorFlow's Keras backend is not thread-safe
(`IS_THREAD_SAFE = False`), so there the hooks run in the training loop, after that wait; on JAX and torch an
`async_safe` callback's hooks run in Keras's callback thread pool, so the loop keeps dispatching the next steps
while the pool waits for this one and stamps it. Either way the harness adds no wait Keras does not already make
(the `harness overhead` benchmark measures this per backend). A step's time runs from the previous step's end (or
the epoch's start) to its end, so it includes waiting for input -- the point of an end-to-end measurement.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import keras
import numpy as np

from bench.run.stall import spread_pct

Clock = Callable[[], float]


@dataclass
class StepLog:
    """Raw timings of one fit: step durations and the epoch each belongs to."""

    step_sec: list[float] = field(default_factory=list)
    step_epoch: list[int] = field(default_factory=list)
    epoch_sec: list[float] = field(default_factory=list)
    last_loss: float | None = None


class StepTimer(keras.callbacks.Callback):
    """Stamps every train-step end with `clock()` once the step's loss is on the host (see the module docstring).

    Stamps may arrive out of order from the callback pool; they are kept by batch index and ordered at epoch end.
    """

    async_safe = True  # Keras may call on_train_batch_end from its callback thread pool

    def __init__(self, clock: Clock = time.perf_counter) -> None:
        super().__init__()
        self.clock = clock
        self.log = StepLog()
        self._lock = threading.Lock()
        self._ends: dict[int, tuple[float, float | None]] = {}
        self._epoch = 0
        self._epoch_start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        self._ends = {}
        self._epoch_start = self.clock()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = float(logs["loss"]) if logs and "loss" in logs else None  # waits for this step to finish
        now = self.clock()
        with self._lock:
            self._ends[batch] = (now, loss)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        # Keras has flushed every pending batch-end call before on_epoch_end: all stamps are in.
        end = self.clock()
        previous = self._epoch_start
        for batch in sorted(self._ends):
            stamp, loss = self._ends[batch]
            stamp = max(stamp, previous)  # thread wake-up order can never make a step negative
            self.log.step_sec.append(stamp - previous)
            self.log.step_epoch.append(epoch)
            previous = stamp
            if loss is not None:
                self.log.last_loss = loss
        self.log.epoch_sec.append(end - self._epoch_start)


@dataclass(frozen=True)
class SteadyState:
    """Steady-state summary of a step log (warm-up excluded)."""

    warmup_steps: int
    window_steps: int
    images_per_sec: float
    step_ms_p50: float
    step_ms_p95: float
    step_ms_mean: float
    step_ms_std: float
    first_step_sec: float  # tracing / compilation / first input
    first_epoch_sec: float | None


def summarize_steps(log: StepLog, images_per_step: int, warmup_steps: int, steps_per_callback: int = 1) -> SteadyState:
    """Throughput and step-time percentiles over the steps after the first `warmup_steps`.

    With `steps_per_execution` N, Keras calls the batch-end callback once per N steps: each logged duration
    covers N steps. Warm-up is then rounded up to whole executions, and step times are reported per step.

    Raises:
        ValueError: fewer than 2 logged durations remain after warm-up.
    """
    if warmup_steps < 0:
        raise ValueError(f"`warmup_steps` must be >= 0, got {warmup_steps}")
    per = max(1, steps_per_callback)
    warmup_calls = -(-warmup_steps // per)
    summary = _summarize_calls(log, images_per_step * per, warmup_calls)
    return SteadyState(
        warmup_steps=summary.warmup_steps * per,
        window_steps=summary.window_steps * per,
        images_per_sec=summary.images_per_sec,
        step_ms_p50=summary.step_ms_p50 / per,
        step_ms_p95=summary.step_ms_p95 / per,
        step_ms_mean=summary.step_ms_mean / per,
        step_ms_std=summary.step_ms_std / per,
        first_step_sec=summary.first_step_sec,
        first_epoch_sec=summary.first_epoch_sec,
    )


def _summarize_calls(log: StepLog, images_per_step: int, warmup_steps: int) -> SteadyState:
    steps = np.asarray(log.step_sec, dtype=float)
    if len(steps) - warmup_steps < 2:
        raise ValueError(
            f"only {len(steps)} steps ran; need at least {warmup_steps + 2} "
            f"({warmup_steps} warm-up + 2 measured): raise --steps/--epochs or lower --warmup-steps"
        )
    window = steps[warmup_steps:]
    return SteadyState(
        warmup_steps=warmup_steps,
        window_steps=len(window),
        images_per_sec=images_per_step * len(window) / float(window.sum()),
        step_ms_p50=float(np.percentile(window, 50) * 1e3),
        step_ms_p95=float(np.percentile(window, 95) * 1e3),
        step_ms_mean=float(window.mean() * 1e3),
        step_ms_std=float(window.std() * 1e3),
        first_step_sec=float(steps[0]),
        first_epoch_sec=log.epoch_sec[0] if log.epoch_sec else None,
    )


def block_spread_pct(log: StepLog, warmup_calls: int, blocks: int = 5) -> float | None:
    """How steady a steady state is: the window cut into `blocks` runs of consecutive steps, the spread of their
    rates as `100 * (max - min) / median`. None when the window has fewer steps than blocks.

    A difference between two rates smaller than this spread is not a difference the measurement can show.
    """
    window = np.asarray(log.step_sec[warmup_calls:], dtype=float)
    if len(window) < blocks or blocks < 2:
        return None
    return spread_pct([len(part) / part.sum() for part in np.array_split(window, blocks)])


MIN_WINDOW_SEC = 0.5  # a pipeline-only rate is measured over at least this long (a 28k img/s figure came from 45 ms)
MAX_WINDOW_BATCHES = 100_000  # and never over more batches than this, whatever the clock says (it never runs away)


@dataclass(frozen=True)
class PipelineTiming:
    """Input pipeline alone, no model: the first batch apart (graph build, file cache, thread start-up), then a
    timed window of at least the batches asked for and at least `MIN_WINDOW_SEC`."""

    batches: int  # asked for, the first included: the least drawn
    first_batch_sec: float
    images_per_sec: float  # over the window: the batches after the first
    batch_ms_p50: float
    window_sec: float  # the seconds the rate is measured over
    window_batches: int  # the batches in that window (more than `batches - 1` when they came fast)


def time_pipeline(
    batches: Iterable,
    num_batches: int,
    clock: Clock = time.perf_counter,
    min_sec: float = MIN_WINDOW_SEC,
    max_batches: int = MAX_WINDOW_BATCHES,
) -> PipelineTiming:
    """Times batches of `(images, labels)`, counting images from the labels' length: the first apart, then at least
    `num_batches - 1` more, drawing on until the window lasts `min_sec` -- never past `max_batches` in the window
    or the end of a finite stream (a fast stream's rate is not a few scheduler ticks). Nothing is read ahead."""
    if num_batches < 2:
        raise ValueError(f"`num_batches` must be >= 2 (first batch is timed apart), got {num_batches}")
    iterator = iter(batches)
    start = clock()
    next(iterator)
    first = clock() - start
    durations, images = [], 0
    last = window_start = clock()
    while len(durations) < num_batches - 1 or (last - window_start < min_sec and len(durations) < max_batches):
        try:
            _, labels = next(iterator)
        except StopIteration:
            if len(durations) < num_batches - 1:
                raise ValueError(f"the stream ended after {len(durations) + 1} of {num_batches} batches") from None
            break  # a finite stream that ends past the batches asked for: its window is what it had
        now = clock()
        durations.append(now - last)
        images += int(len(labels))
        last = now
    total = float(sum(durations))
    return PipelineTiming(
        batches=num_batches,
        first_batch_sec=first,
        images_per_sec=images / total if total > 0 else float("inf"),
        batch_ms_p50=float(np.percentile(durations, 50) * 1e3),
        window_sec=total,
        window_batches=len(durations),
    )
