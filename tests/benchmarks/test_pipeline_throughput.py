"""pytest-benchmark benchmarks: pipeline-only throughput per pipeline and input kind, and one training step.

Each round pulls a fixed number of batches from an already running iterator (pedantic mode, one warm-up round
that pays graph building and thread start-up). `extra_info` carries images/s and the knob set, which the CI gate
(`python -m bench gate`) compares as ratios *within one run*: absolute times on a shared 2-core machine are noise.
"""

from __future__ import annotations

import itertools

import pytest

from imgcls.data.types import DataSet
from imgcls.pipelines import InputConfig, build_pipeline
from imgcls.workloads import get_workload

PIPELINES = ["idg", "tfdata-naive", "tfdata"]
CASES = {
    # input kind -> (workload whose seed augmentation is used, batch size, batches per round)
    "arrays": ("mnist", 128, 8),
    "jpeg": ("imagenette", 32, 8),
}


def _consume(iterator, batches: int) -> int:
    images = 0
    for images_batch, _ in itertools.islice(iterator, batches):
        images += int(images_batch.shape[0])
    return images


@pytest.mark.parametrize("pipeline_name", PIPELINES)
@pytest.mark.parametrize("input_kind", list(CASES))
def test_pipeline_only(benchmark, request, input_kind: str, pipeline_name: str) -> None:
    data: DataSet = request.getfixturevalue("bench_arrays" if input_kind == "arrays" else "bench_jpegs")
    workload_name, batch_size, batches = CASES[input_kind]
    workload = get_workload(workload_name)
    config = InputConfig(
        image_size=workload.image_size,
        channels=workload.channels,
        augment=workload.augment,
        batch_size=batch_size,
        seed=0,
    )
    pipeline = build_pipeline(pipeline_name)
    iterator = iter(pipeline.train_data(data, config))
    benchmark.group = f"pipeline-only {input_kind}"
    images = benchmark.pedantic(_consume, args=(iterator, batches), rounds=5, warmup_rounds=1, iterations=1)
    assert images == batch_size * batches
    seconds = benchmark.stats.stats.median if benchmark.stats else None
    benchmark.extra_info.update(
        {
            "input_kind": input_kind,
            "pipeline": pipeline_name,
            "options": pipeline.options(),
            "augment": workload.augment.name,
            "images_per_round": images,
            "images_per_sec": images / seconds if seconds else None,
            "data_source": data.source,
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
