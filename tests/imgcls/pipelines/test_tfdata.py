"""The tuned tf.data pipeline ends in its own prefetch; `--prefetch off` takes it out and keeps tf.data from
putting one back.

A dropped `.prefetch` goes unseen in a timing run while tf.data's `inject_prefetch` rewrite adds one at the end
of the graph, and with the rewrite off (as `prefetch=off` sets it) only a benchmark gate would notice; so these
tests read the graph itself: the chain of dataset steps (`imgcls.pipelines.graph_stages.chain`, TensorFlow's own
record of what each dataset was made from) and the options the graph carries.
"""

from __future__ import annotations

import pytest
import tensorflow as tf

from imgcls.pipelines import InputConfig, build_pipeline
from imgcls.pipelines.graph_stages import chain
from imgcls.workloads import get_workload
from tests.conftest import tiny_arrays


@pytest.fixture(scope="module")
def case() -> tuple:
    workload = get_workload("mnist")
    config = InputConfig(
        image_size=workload.image_size, channels=workload.channels, augment=workload.augment_spec("seed"),
        batch_size=8, seed=0,
    )  # fmt: skip
    return tiny_arrays("mnist", n_train=64, n_test=16), config


def _last_step(ds: tf.data.Dataset) -> tuple[str, tf.data.Dataset]:
    return chain(ds)[-1]


@pytest.mark.parametrize("split", ["train_data", "eval_data"])
def test_the_tuned_preset_ends_in_an_autotuned_prefetch(case: tuple, split: str) -> None:
    data, config = case
    ds = getattr(build_pipeline("tfdata"), split)(data, config)
    name, step = _last_step(ds)
    assert name == "prefetch", [n for n, _ in chain(ds)]
    assert int(step._buffer_size) == tf.data.AUTOTUNE  # noqa: SLF001 - the buffer the `prefetch` knob set
    assert ds.options().experimental_optimization.inject_prefetch is not False


def test_a_prefetch_buffer_size_reaches_the_graph(case: tuple) -> None:
    data, config = case
    _, step = _last_step(build_pipeline("tfdata", prefetch=3).train_data(data, config))
    assert int(step._buffer_size) == 3  # noqa: SLF001


@pytest.mark.parametrize("split", ["train_data", "eval_data"])
def test_prefetch_off_removes_it_and_keeps_tf_data_from_injecting_one(case: tuple, split: str) -> None:
    data, config = case
    ds = getattr(build_pipeline("tfdata", prefetch="off"), split)(data, config)
    assert "prefetch" not in [name.split("#")[0] for name, _ in chain(ds)]
    optimization = ds.options().experimental_optimization
    assert optimization.inject_prefetch is False and optimization.parallel_batch is False


def test_the_naive_preset_has_no_prefetch(case: tuple) -> None:
    data, config = case
    ds = build_pipeline("tfdata-naive").train_data(data, config)
    assert "prefetch" not in [name for name, _ in chain(ds)]
    assert ds.options().experimental_optimization.inject_prefetch is False
