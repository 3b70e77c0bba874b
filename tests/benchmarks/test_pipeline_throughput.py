"""pytest-benchmark benchmarks: pipeline-only throughput per pipeline and input kind, and one training step.

Each round pulls a fixed number of batches from an already running iterator (pedantic mode, one warm-up round
that pays graph building and thread start-up). `extra_info` carries images/s and the knob set, which the CI gate
(`python -m bench gate`) compares as ratios *within one run*: absolute times on a shared 2-core machine are noise.
"""

from __future__ import annotations

import pytest

from bench.gate import cases as gatecases
from imgcls.data.types import DataSet
from imgcls.pipelines import InputConfig, build_pipeline
from imgcls.workloads import get_workload

OVERLAP_ROW = gatecases.DEVICE_ROW


@pytest.mark.parametrize("input_kind, row", [(kind, row) for kind, rows in gatecases.ROWS.items() for row in rows])
def test_pipeline_only(benchmark, request, input_kind: str, row: str) -> None:
    data: DataSet = request.getfixturevalue("bench_arrays" if input_kind == "arrays" else "bench_jpegs")
    _, batch_size, batches = gatecases.CASES[input_kind]
    iterator, options = gatecases.stream(row, data, input_kind)
    benchmark.group = f"pipeline-only {input_kind}"
    images = benchmark.pedantic(gatecases.consume, args=(iterator, batches), rounds=5, warmup_rounds=1, iterations=1)
    assert images == batch_size * batches
    seconds = benchmark.stats.stats.median if benchmark.stats else None
    benchmark.extra_info.update(
        {
            "input_kind": input_kind,
            "pipeline": row,
            "options": options,
            "images_per_round": images,
            "images_per_sec": images / seconds if seconds else None,
            "data_source": data.source,
        }
    )


def test_input_overlaps_a_model_step(benchmark, bench_jpegs: DataSet) -> None:
    """Prefetch at work: the device-augmented pipeline, its map made sequential (an autotuned parallel map buffers
    ahead by itself and would hide a lost prefetch), against a consumer that sleeps 1.5x the pipeline's batch time
    per batch (a model step that releases the GIL). With prefetch the next batch is ready when the step ends, so
    the rate is the consumer's; without, each batch costs step + input. `ideal_images_per_sec` is the consumer's."""
    _, batch_size, batches = gatecases.CASES["jpeg"]
    iterator, options = gatecases.stream(OVERLAP_ROW, bench_jpegs, "jpeg", **gatecases.OVERLAP_OPTIONS)
    step_sec = 1.5 * batch_size / gatecases.rate(iterator, batches)
    benchmark.group = "overlap jpeg"
    images = benchmark.pedantic(
        gatecases.consume, args=(iterator, batches, step_sec), rounds=5, warmup_rounds=1, iterations=1
    )
    benchmark.extra_info.update(
        {
            "overlap": True,
            "pipeline": OVERLAP_ROW,
            "options": options,
            "images_per_round": images,
            "ideal_images_per_sec": batch_size / step_sec,
        }
    )


def test_train_step_end_to_end(benchmark, bench_arrays: DataSet) -> None:
    """One short end-to-end training burst (tfdata -> the MNIST model), steps synchronised by the loss fetch."""

    workload = get_workload("mnist")
    config = InputConfig(image_size=workload.image_size, channels=1, augment=workload.augment, batch_size=128, seed=0)
    dataset = build_pipeline("tfdata").train_data(bench_arrays, config)
    model = workload.build_model(workload.input_shape, 10)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    iterator = iter(dataset)
    steps = 5
    benchmark.group = "end-to-end"

    def train_burst() -> float:
        loss = 0.0
        for _ in range(steps):
            images, labels = next(iterator)
            loss = float(model.train_on_batch(images, labels))  # float(): waits for the step to finish
        return loss

    loss = benchmark.pedantic(train_burst, rounds=5, warmup_rounds=1, iterations=1)
    assert loss > 0
    seconds = benchmark.stats.stats.median if benchmark.stats else None
    benchmark.extra_info.update(
        {
            "input_kind": "arrays",
            "pipeline": "tfdata",
            "images_per_round": steps * 128,
            "images_per_sec": steps * 128 / seconds if seconds else None,
        }
    )
