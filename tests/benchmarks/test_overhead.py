"""The harness adds no overhead on any backend: its ceiling (`model.fit` with the step timer and the progress line
on one constant batch) against a plain `model.fit` on the same compiled model, batch and backend, side by side in
one process, alternating.

Each side is timed from `on_train_begin` to `on_train_end` (`TrainSpan`), the span in which callbacks act: fit's
setup and teardown run the same code on both sides, and on TensorFlow the teardown alone is bimodal (releasing the
epoch's iterator takes either ~0 or ~0.16 s, at random) -- enough to push a median of 8 ratios to +13% or -25% on an
overhead that is really ~0.

Runs under whichever Keras backend this process has (`KERAS_BACKEND`); CI runs this file once per backend and
`python -m bench gate` fails when the harness costs more than 5% on any of them. The workload defaults to MNIST
(cheap on a CPU); `IMGCLS_OVERHEAD_WORKLOAD=imagenette` measures the basic CNN the GPU anchors are quoted for.
"""

from __future__ import annotations

import os
import statistics
import time

import keras
import pytest

from bench.backends import COMPILE_ARGS, get_backend
from bench.progress import ProgressLine
from bench.timing import StepTimer
from imgcls.data.types import DataSet
from imgcls.pipelines import InputConfig, build_pipeline
from imgcls.workloads import get_workload

STEPS = 40


class TrainSpan(keras.callbacks.Callback):
    """Seconds from the start of training to its end, fit's own setup and teardown excluded. No batch hooks, so it
    changes nothing in how Keras dispatches the other callbacks."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0.0
        self._start = 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.seconds = time.perf_counter() - self._start


@pytest.fixture(scope="module")
def compiled(bench_arrays: DataSet, bench_jpegs: DataSet):  # noqa: ANN201
    """One compiled model and its constant batch, shared by both sides so they differ only in callbacks."""
    name = os.environ.get("IMGCLS_OVERHEAD_WORKLOAD", "mnist")
    workload = get_workload(name)
    data = bench_jpegs if workload.dataset == "imagenette" else bench_arrays
    config = InputConfig(
        image_size=workload.image_size, channels=workload.channels, augment=workload.augment,
        batch_size=workload.batch_size, seed=0,
    )  # fmt: skip
    dataset = build_pipeline("synthetic").train_data(data, config)
    model = workload.build_model(workload.input_shape, 10)
    backend = keras.backend.backend()
    compile_path = get_backend(backend).default_compile  # the backend's fast path, as `bench run` compiles
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", **COMPILE_ARGS[compile_path])
    model.fit(dataset, epochs=1, steps_per_epoch=3, verbose=0)  # compile outside the timed rounds
    return model, dataset, workload, backend, compile_path


def test_harness_overhead(benchmark, compiled) -> None:
    """Each round fits bare and with the harness's callbacks, in alternating order, so both sides meet the same
    machine. The overhead is each side's fastest fit against the other's, minus 1 (`timeit`'s estimator): the
    harness's cost is paid on every step, so it is in every fit, fastest included, while the machine's noise only
    ever adds time, and on a shared CI runner it added up to 2x to single torch fits, enough to move a median of 8
    ratios by several percent. The median of the per-round ratios is kept beside it."""
    model, dataset, workload, backend, compile_path = compiled
    times: dict[str, list[float]] = {"bare": [], "harness": []}

    def fit(side: str) -> None:
        span = TrainSpan()
        harness = [StepTimer(), ProgressLine("overhead", 1, STEPS, workload.batch_size, every_sec=60)]
        callbacks = [*harness, span] if side == "harness" else [span]
        model.fit(dataset, epochs=1, steps_per_epoch=STEPS, callbacks=callbacks, verbose=0)
        times[side].append(span.seconds)

    def one_round() -> None:
        order = ["bare", "harness"] if len(times["bare"]) % 2 == 0 else ["harness", "bare"]
        for side in order:
            fit(side)

    benchmark.group = f"harness overhead {backend}"
    benchmark.pedantic(one_round, rounds=9, warmup_rounds=1, iterations=1)
    first = 1 if len(times["bare"]) > 1 else 0  # the warm-up round out (one round only with --benchmark-disable)
    ratios = [h / b for h, b in zip(times["harness"][first:], times["bare"][first:], strict=True)]
    benchmark.extra_info.update(
        {
            "backend": backend,
            "compile": compile_path,
            "workload": workload.name,
            "steps_per_fit": STEPS,
            "bare_sec": times["bare"][first:],
            "harness_sec": times["harness"][first:],
            "overhead": min(times["harness"][first:]) / min(times["bare"][first:]) - 1.0,
            "overhead_median_ratio": statistics.median(ratios) - 1.0,
        }
    )
