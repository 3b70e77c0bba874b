"""What the CI gate measures: pipeline-only streams by row (a pipeline, where it augments) and the overlap case.

Shared by the pytest-benchmark benchmarks (which time these streams and store the rates) and the tests that
inject faults into a pipeline and check the gate then fails, so both measure exactly the same thing.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

from bench.run.input_config import inputs_for
from imgcls.data.types import DataSet
from imgcls.pipelines import BASELINE, build_pipeline, pipelines_with_role
from imgcls.pipelines.base import NAIVE, TUNED
from imgcls.workloads import get_workload

DECODE_ONLY = "decode-only"
# The overlap case isolates prefetch: with a sequential map, only the prefetch buffer works ahead of the consumer.
OVERLAP_OPTIONS = {"map_parallel": None}
DEVICE = "@device"

# input kind -> (workload whose spec is rendered, batch size, batches per round)
CASES = {"arrays": ("mnist", 128, 8), "jpeg": ("imagenette", 32, 8)}


def _one(role: str) -> str:
    (name,) = pipelines_with_role(role)
    return name


BASELINE_ROW, NAIVE_ROW, TUNED_ROW = _one(BASELINE), _one(NAIVE), _one(TUNED)
DEVICE_ROW = TUNED_ROW + DEVICE  # the tuned preset with augmentation in the model
ROWS = {  # by role, so the gate measures whatever pipelines hold them
    "arrays": [BASELINE_ROW, NAIVE_ROW, TUNED_ROW],
    "jpeg": [BASELINE_ROW, NAIVE_ROW, TUNED_ROW, DEVICE_ROW, DECODE_ONLY],
}


def stream(row: str, data: DataSet, input_kind: str, **overrides: Any) -> tuple[Iterator, dict[str, Any]]:
    """An iterator of batches for `row` (`NAME`, `NAME@device` or `decode-only`) and the options it ran with."""
    workload_name, batch_size, _ = CASES[input_kind]
    workload = get_workload(workload_name)
    name, _, device = row.partition("@")
    inputs = inputs_for(
        workload.augment,
        data,
        image_size=workload.image_size,
        channels=workload.channels,
        batch_size=batch_size,
        seed=0,
        augment_on="device" if device else "host",
    )
    if row == DECODE_ONLY:
        from imgcls.pipelines.tfdata import decode_only_dataset

        return iter(decode_only_dataset(data, inputs.config)), {}
    pipeline = build_pipeline(name, **overrides)
    return iter(pipeline.train_data(data, inputs.config)), pipeline.options()


def consume(iterator: Iterator, batches: int, step_sec: float = 0.0) -> int:
    """Pulls `batches` batches (sleeping `step_sec` after each, like a model step that releases the GIL);
    returns the images seen."""
    images = 0
    for _, labels in itertools.islice(iterator, batches):
        images += int(labels.shape[0])
        if step_sec:
            time.sleep(step_sec)
    return images


def rate(iterator: Iterator, batches: int, step_sec: float = 0.0) -> float:
    """Images/s over `batches` batches after one warm-up batch."""
    consume(iterator, 1)
    start = time.perf_counter()
    images = consume(iterator, batches, step_sec)
    return images / (time.perf_counter() - start)
