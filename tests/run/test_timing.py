"""bench.run.timing with a simulated clock: steady-state arithmetic, pipeline-only timing and the step timer."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from bench.run.timing import MIN_WINDOW_SEC, StepLog, StepTimer, summarize_steps, time_pipeline


class SimClock:
    """A clock that only moves when told to: `advance(dt)`; calling it reads the time."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start
        self.reads = 0

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self) -> float:
        self.reads += 1
        return self.now


# ---- summarize_steps ---------------------------------------------------------------------------------------
def test_warmup_steps_are_left_out_of_the_steady_state() -> None:
    # Two slow warm-up steps (tracing, first input) would dominate the mean if they were counted.
    log = StepLog(step_sec=[4.0, 2.0, 0.10, 0.20, 0.30, 0.40], step_epoch=[0] * 6, epoch_sec=[7.0])
    steady = summarize_steps(log, images_per_step=32, warmup_steps=2)
    assert steady.warmup_steps == 2
    assert steady.window_steps == 4
    assert steady.images_per_sec == pytest.approx(32 * 4 / 1.0)  # images * window / sum(window), exactly
    assert steady.step_ms_mean == pytest.approx(250.0)
    assert steady.step_ms_p50 == pytest.approx(250.0)  # median of [.1 .2 .3 .4]
    assert steady.step_ms_p95 == pytest.approx(np.percentile([100, 200, 300, 400], 95))
    assert steady.step_ms_std == pytest.approx(np.std([100, 200, 300, 400]))
    assert steady.first_step_sec == 4.0
    assert steady.first_epoch_sec == 7.0


def test_throughput_is_total_images_over_total_time_not_mean_of_rates() -> None:
    # Rates per step would be 100 and 10 img/s (mean 55); the right answer is 20 images in 1.1 s.
    log = StepLog(step_sec=[9.0, 0.1, 1.0])
    steady = summarize_steps(log, images_per_step=10, warmup_steps=1)
    assert steady.images_per_sec == pytest.approx(20 / 1.1)


def test_percentiles_are_ordered_and_within_the_window() -> None:
    rng = np.random.default_rng(3)
    durations = list(rng.uniform(0.01, 0.05, 40))
    steady = summarize_steps(StepLog(step_sec=[5.0, *durations]), images_per_step=8, warmup_steps=1)
    assert min(durations) * 1e3 <= steady.step_ms_p50 <= steady.step_ms_p95 <= max(durations) * 1e3
    assert steady.step_ms_p50 == pytest.approx(np.median(durations) * 1e3)


def test_no_warmup_counts_every_step_and_no_epoch_means_none() -> None:
    steady = summarize_steps(StepLog(step_sec=[0.5, 0.5]), images_per_step=4, warmup_steps=0)
    assert steady.window_steps == 2 and steady.images_per_sec == pytest.approx(8.0)
    assert steady.first_epoch_sec is None


def test_steps_per_callback_rounds_warmup_up_to_whole_executions() -> None:
    # Each logged duration covers 3 steps; 4 warm-up steps round up to 2 executions (6 steps).
    log = StepLog(step_sec=[10.0, 5.0, 0.3, 0.6, 0.3])
    steady = summarize_steps(log, images_per_step=2, warmup_steps=4, steps_per_callback=3)
    assert steady.warmup_steps == 6 and steady.window_steps == 9
    assert steady.images_per_sec == pytest.approx(2 * 9 / 1.2)
    assert steady.step_ms_p50 == pytest.approx(100.0)  # 0.3 s per execution of 3 steps


@pytest.mark.parametrize("steps, warmup", [(3, 2), (2, 1), (1, 0), (0, 0)])
def test_too_few_steps_is_a_helpful_error(steps: int, warmup: int) -> None:
    with pytest.raises(ValueError) as error:
        summarize_steps(StepLog(step_sec=[0.1] * steps), images_per_step=1, warmup_steps=warmup)
    message = str(error.value)
    assert f"only {steps} steps ran" in message
    assert f"need at least {warmup + 2}" in message
    assert "--steps" in message and "--warmup-steps" in message  # says what to change


def test_negative_warmup_is_rejected() -> None:
    with pytest.raises(ValueError, match="warmup_steps"):
        summarize_steps(StepLog(step_sec=[0.1] * 5), images_per_step=1, warmup_steps=-1)


# ---- time_pipeline ----------------------------------------------------------------------------------------
def _fake_batches(clock: SimClock, durations: list[float], sizes: list[int], pulled: list[int]) -> Iterator:
    """Yields `(images, labels)` after spending `durations[i]` simulated seconds making batch i."""
    for i, (seconds, size) in enumerate(zip(durations, sizes, strict=True)):
        clock.advance(seconds)
        pulled.append(i)
        yield np.zeros((size, 2, 2, 1), np.float32), np.zeros(size, np.int32)


def test_time_pipeline_reports_the_first_batch_apart_and_the_rate_of_the_rest() -> None:
    clock = SimClock()
    durations = [3.0, 0.5, 0.25, 0.25, 1.0, 99.0]  # the last batch must never be pulled
    sizes = [16, 16, 16, 16, 8, 16]  # labels' length counts, so a short batch counts short
    pulled: list[int] = []
    timing = time_pipeline(_fake_batches(clock, durations, sizes, pulled), 5, clock=clock)
    assert (timing.batches, timing.window_batches, timing.window_sec) == (5, 4, pytest.approx(2.0))
    assert timing.first_batch_sec == pytest.approx(3.0)
    assert timing.images_per_sec == pytest.approx((16 + 16 + 16 + 8) / 2.0)
    assert timing.batch_ms_p50 == pytest.approx(375.0)  # median of [500, 250, 250, 1000]
    assert pulled == [0, 1, 2, 3, 4]  # exactly num_batches pulled, no read-ahead


def test_time_pipeline_accepts_any_iterable_and_needs_two_batches() -> None:
    clock = SimClock()

    class Ticking(list):  # a list (not an iterator) whose items cost 0.5 simulated seconds each
        def __iter__(self):
            for item in super().__iter__():
                clock.advance(0.5)
                yield item

    batches = Ticking([(None, [0, 1, 2]), (None, [0, 1, 2, 3])])
    timing = time_pipeline(batches, 2, clock=clock)
    assert timing.first_batch_sec == pytest.approx(0.5)
    assert timing.images_per_sec == pytest.approx(4 / 0.5)
    with pytest.raises(ValueError, match="num_batches"):
        time_pipeline(batches, 1, clock=clock)


def _endless(clock: SimClock, seconds: float, size: int = 32) -> Iterator:
    """An endless stream whose batches each cost `seconds` simulated seconds."""
    while True:
        clock.advance(seconds)
        yield None, np.zeros(size, np.int32)


def test_a_fast_stream_is_timed_over_the_minimum_window_not_the_batch_count() -> None:
    """A 28k img/s figure came from ~45 ms: 20 fast batches. The window now lasts MIN_WINDOW_SEC whatever the
    count, and the record says how long and how many batches the rate is measured over."""
    clock = SimClock()
    timing = time_pipeline(_endless(clock, 0.001), 5, clock=clock)  # 1 ms a batch: 4 batches would be 4 ms
    assert timing.window_sec >= MIN_WINDOW_SEC and timing.window_sec == pytest.approx(MIN_WINDOW_SEC, abs=0.0015)
    assert timing.window_batches == pytest.approx(MIN_WINDOW_SEC / 0.001, abs=1)
    assert timing.images_per_sec == pytest.approx(32 / 0.001)
    assert timing.batches == 5  # what was asked for, kept apart from what was timed


def test_a_slow_stream_is_timed_over_the_batches_asked_for() -> None:
    clock = SimClock()
    timing = time_pipeline(_endless(clock, 2.0), 4, clock=clock)
    assert (timing.window_batches, timing.window_sec) == (3, pytest.approx(6.0))


def test_the_window_never_runs_away() -> None:
    """A stream the clock never sees take time (a stalled clock) stops at `max_batches`; a finite stream that ends
    past the count stops at its end; one that ends before the count is an error naming both."""
    clock = SimClock()
    assert time_pipeline(_endless(clock, 0.0), 3, clock=clock, max_batches=50).window_batches == 50
    ten = [(None, [0, 1])] * 10
    timing = time_pipeline(ten, 3, clock=clock)
    assert timing.window_batches == 9 and timing.images_per_sec == float("inf")  # no clock time: no rate
    with pytest.raises(ValueError, match="after 10 of 12 batches"):
        time_pipeline(ten, 12, clock=clock)


# ---- StepTimer --------------------------------------------------------------------------------------------
def test_step_timer_driven_by_hand_records_step_and_epoch_durations() -> None:
    clock = SimClock(start=50.0)
    timer = StepTimer(clock=clock)
    # Epoch 0: first step slow (tracing), then two fast ones.
    timer.on_epoch_begin(0)
    for batch, (seconds, loss) in enumerate(((2.0, 2.3), (0.1, 1.9), (0.2, 1.5))):
        clock.advance(seconds)
        timer.on_train_batch_end(batch, {"loss": loss})
    clock.advance(0.05)  # time after the last step, before the epoch ends
    timer.on_epoch_end(0)
    clock.advance(7.0)  # evaluation between epochs: in neither step nor epoch time
    # Epoch 1.
    timer.on_epoch_begin(1)
    for batch, (seconds, loss) in enumerate(((0.3, 1.1), (0.4, 0.9))):
        clock.advance(seconds)
        timer.on_train_batch_end(batch, {"loss": loss})
    timer.on_epoch_end(1)
    assert timer.log.step_sec == pytest.approx([2.0, 0.1, 0.2, 0.3, 0.4])
    assert timer.log.step_epoch == [0, 0, 0, 1, 1]
    assert timer.log.epoch_sec == pytest.approx([2.35, 0.7])
    assert timer.log.last_loss == pytest.approx(0.9)
    steady = summarize_steps(timer.log, images_per_step=10, warmup_steps=1)
    assert steady.first_step_sec == pytest.approx(2.0)
    assert steady.images_per_sec == pytest.approx(40 / 1.0)


def test_step_timer_without_loss_in_logs_keeps_last_loss_none() -> None:
    clock = SimClock()
    timer = StepTimer(clock=clock)
    timer.on_epoch_begin(0)
    clock.advance(1.0)
    timer.on_train_batch_end(0, None)
    clock.advance(1.0)
    timer.on_train_batch_end(1, {})
    timer.on_epoch_end(0)
    assert timer.log.last_loss is None
    assert timer.log.step_sec == pytest.approx([1.0, 1.0])


def test_step_timer_sorts_batch_ends_that_arrive_out_of_order() -> None:
    """Keras may run the (async-safe) batch-end hook in a thread pool: stamps can arrive in any order."""
    clock = SimClock(start=0.0)
    timer = StepTimer(clock=clock)
    timer.on_epoch_begin(0)
    for batch, at, loss in ((1, 1.0, 0.7), (0, 1.2, 0.9), (3, 2.0, 0.4), (2, 1.5, 0.5)):
        clock.now = at
        timer.on_train_batch_end(batch, {"loss": loss})
    clock.now = 2.5
    timer.on_epoch_end(0)
    # batch 0 ends at 1.2; batch 1's earlier stamp cannot make a negative step: it ends at 1.2 too.
    assert timer.log.step_sec == pytest.approx([1.2, 0.0, 0.3, 0.5])
    assert sum(timer.log.step_sec) == pytest.approx(2.0)  # first step start to last step end
    assert timer.log.last_loss == pytest.approx(0.4)  # the last step's loss, not the last call's
    assert timer.log.epoch_sec == pytest.approx([2.5])


@pytest.mark.parametrize("steps_per_execution, calls", [(1, 12), (4, 3)])
def test_step_timer_in_a_real_fit_logs_every_execution(steps_per_execution: int, calls: int) -> None:
    import keras

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((96, 6)).astype(np.float32)
    y = (x.sum(axis=1) > 3).astype(np.int32)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2)])
    model.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=steps_per_execution,
    )
    timer = StepTimer()
    model.fit(x, y, batch_size=8, epochs=2, callbacks=[timer], verbose=0, shuffle=False)
    assert len(timer.log.step_sec) == 2 * calls  # every stamp is in by the end of each epoch
    assert timer.log.step_epoch == [0] * calls + [1] * calls
    assert all(s >= 0 for s in timer.log.step_sec)
    for epoch in (0, 1):
        steps = sum(s for s, e in zip(timer.log.step_sec, timer.log.step_epoch, strict=True) if e == epoch)
        assert 0 < steps <= timer.log.epoch_sec[epoch] + 1e-9
    assert timer.log.last_loss is not None and np.isfinite(timer.log.last_loss)
