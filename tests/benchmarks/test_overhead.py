"""The harness adds no overhead on any backend: its ceiling (`model.fit` with the step timer and the progress line
on one constant batch) against a plain `model.fit` on the same compiled model, batch and backend
(`bench.run.harness_overhead` says how it is timed and estimated).

Runs under whichever Keras backend this process has (`KERAS_BACKEND`); CI runs this file once per backend and
`python -m bench gate` fails when the harness costs more than 5% on any of them. The workload defaults to MNIST
(cheap on a CPU); `IMGCLS_OVERHEAD_WORKLOAD=imagenette` measures the basic CNN the GPU anchors are quoted for.
"""

from __future__ import annotations

import os

import keras
import pytest

from bench.run.harness_overhead import OverheadProbe, compiled_on_a_constant_batch, harness_callbacks
from imgcls.data.types import DataSet
from imgcls.workloads import get_workload

STEPS = 40


@pytest.fixture(scope="module")
def compiled(bench_arrays: DataSet, bench_jpegs: DataSet):  # noqa: ANN201
    """One compiled model and its constant batch, shared by both sides so they differ only in callbacks."""
    workload = get_workload(os.environ.get("IMGCLS_OVERHEAD_WORKLOAD", "mnist"))
    data = bench_jpegs if workload.dataset == "imagenette" else bench_arrays
    model, dataset, compile_path = compiled_on_a_constant_batch(workload, data)
    return model, dataset, workload, keras.backend.backend(), compile_path


def test_harness_overhead(benchmark, compiled) -> None:
    """Rounds of one bare fit and one with the harness's callbacks; the first round is warm-up."""
    model, dataset, workload, backend, compile_path = compiled
    probe = OverheadProbe(model, dataset, STEPS, lambda: harness_callbacks(STEPS, workload.batch_size))
    benchmark.group = f"harness overhead {backend}"
    benchmark.pedantic(probe.one_round, rounds=15, warmup_rounds=1, iterations=1)
    benchmark.extra_info.update(
        {"backend": backend, "compile": compile_path, "workload": workload.name, **probe.summary()}
    )
