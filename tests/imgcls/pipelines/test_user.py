"""`--pipeline-fn`: every return type `model.fit` takes trains a few steps; wrong ones are one line; a tf.data graph
is staged by walking its own transformations."""

from __future__ import annotations

import dataclasses
import re

import pytest
import tensorflow as tf

from bench.records import RunRecord
from bench.run.runner import execute
from imgcls.errors import UserFacingError
from imgcls.pipelines import InputConfig, build_pipeline
from imgcls.pipelines.graph_stages import NotStaged, chain, stage_prefixes
from imgcls.user_code import UserCodeError, import_callable
from imgcls.workloads import get_workload
from tests.conftest import tiny_arrays, tiny_config

FNS = "tests.imgcls.user_fns"


def _run(fn: str, **overrides: object) -> RunRecord:
    config = tiny_config("cifar10", "user", pipeline_options={"pipeline_fn": f"{FNS}:{fn}"}, **overrides)
    return execute(config, RunRecord(), data=tiny_arrays("cifar10", n_train=64, n_test=16))


@pytest.mark.slow
@pytest.mark.parametrize("fn", ["dataset", "py_dataset", "generator", "torch_loader"])
def test_each_accepted_return_type_trains_a_few_steps(fn: str) -> None:
    if fn == "torch_loader":
        pytest.importorskip("torch", reason="torch is not installed: no DataLoader to test")
    record = _run(fn)
    assert record.train_images_per_sec > 0 and record.pipeline_images_per_sec > 0
    assert len(record.step_sec) == 4 and record.ceiling_images_per_sec > 0


GRAIN_FNS = "tests.imgcls.pipelines.grain_fns"


@pytest.mark.slow
@pytest.mark.parametrize("fn", ["map_dataset", "iter_dataset"])
def test_a_grain_dataset_trains_a_few_steps(fn: str) -> None:
    pytest.importorskip("grain", reason="grain is not installed: no Grain dataset to test")
    config = tiny_config("cifar10", "user", pipeline_options={"pipeline_fn": f"{GRAIN_FNS}:{fn}"}, stage_batches=2)
    record = execute(config, RunRecord(), data=tiny_arrays("cifar10", n_train=64, n_test=16))
    assert record.train_images_per_sec > 0 and record.pipeline_images_per_sec > 0
    assert len(record.step_sec) == 4 and record.ceiling_images_per_sec > 0
    assert record.stage_note.startswith("not staged: a ") and record.stage_note.endswith(", not a tf.data graph")


@pytest.mark.parametrize("fn", ["map_dataset", "iter_dataset"])
def test_a_grain_dataset_is_accepted_and_its_first_batch_checked(fn: str) -> None:
    grain = pytest.importorskip("grain", reason="grain is not installed: no Grain dataset to test")
    import keras

    pipeline = build_pipeline("user", pipeline_fn=f"{GRAIN_FNS}:{fn}")
    made = pipeline.train_data(None, _config())
    assert isinstance(made, grain.MapDataset if fn == "map_dataset" else grain.IterDataset)
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    pipeline.check_feeds(model, None, _config())  # the first batch: x (8, 32, 32, 3), y (8,)
    larger = dataclasses.replace(_config(), image_size=(64, 64))
    with pytest.raises(UserCodeError, match=re.escape(f"{GRAIN_FNS}:{fn} yields x (8, 32, 32, 3); the run's")):
        pipeline.check_feeds(model, None, larger)  # batches the workload does not feed: one line


@pytest.mark.parametrize(
    ("fn", "words"),
    [
        ("a_list", "returned a list; model.fit takes"),
        ("wrong_size", "yields x (8, 16, 16, 3)"),
        ("broken", "raised RuntimeError: my pipeline is broken"),
        ("nothing_here", "has no attribute 'nothing_here'"),
    ],
)
def test_a_wrong_pipeline_is_one_line_naming_the_function_before_any_timing(fn: str, words: str) -> None:
    record = RunRecord()
    with pytest.raises(UserFacingError, match=re.escape(words)) as error:
        execute(tiny_config("cifar10", "user", pipeline_options={"pipeline_fn": f"{FNS}:{fn}"}), record,
                data=tiny_arrays("cifar10", n_train=64, n_test=16))  # fmt: skip
    assert f"{FNS}:{fn}" in str(error.value) and "\n" not in str(error.value)
    assert record.pipeline_images_per_sec is None  # nothing was timed


def test_an_import_error_names_the_module() -> None:
    with pytest.raises(UserCodeError, match=r"no_such_pkg.mod:fn: cannot import no_such_pkg.mod \(ModuleNotFound"):
        import_callable("no_such_pkg.mod:fn")


def test_a_user_pipeline_needs_its_function() -> None:
    with pytest.raises(UserFacingError, match="--pipeline user needs --pipeline-fn"):
        build_pipeline("user")


def _config(batch_size: int = 8) -> InputConfig:
    spec = get_workload("cifar10").augment
    return InputConfig(image_size=(32, 32), channels=3, augment=spec, batch_size=batch_size, seed=0)


def test_the_graph_walk_finds_named_stages_in_order_and_batches_the_prefixes_before_the_batch() -> None:
    ds = tf.data.Dataset.range(100).map(lambda x: (x, x), name="read").shuffle(10)
    ds = ds.map(lambda x, y: (x * 2, y), name="decode").batch(4, name="batch").prefetch(1)
    ds = ds.with_options(tf.data.Options())
    assert [name for name, _ in chain(ds)] == ["range", "read", "shuffle", "decode", "batch", "prefetch"]
    prefixes = stage_prefixes(ds, batch_size=4)
    for name, prefix in prefixes.items():
        x, y = next(iter(prefix))
        assert x.shape == (4,) and y.shape == (4,), name  # every prefix yields batches of pairs


def test_a_prefix_keeps_the_graphs_options() -> None:
    options = tf.data.Options()
    options.threading.private_threadpool_size = 3
    ds = tf.data.Dataset.range(10).map(lambda x: (x, x), name="pair").batch(2).with_options(options)
    for prefix in stage_prefixes(ds, 2).values():
        assert prefix.options().threading.private_threadpool_size == 3


def test_a_graph_of_one_step_is_not_staged_and_the_record_says_so() -> None:
    with pytest.raises(NotStaged, match="single step"):
        stage_prefixes(tf.data.Dataset.range(3), 2)
    pipeline = build_pipeline("user", pipeline_fn=f"{FNS}:generator")
    assert pipeline.stage_note(None, _config()) == "not staged: a generator, not a tf.data graph"
    assert pipeline.stage_datasets(None, _config()) is None


@pytest.mark.slow
def test_a_generator_run_records_not_staged() -> None:
    record = _run("generator", stage_batches=2)
    assert record.stage_note == "not staged: a generator, not a tf.data graph" and not record.stage_images_per_sec


def test_the_private_threadpool_knob_reaches_a_users_tf_data_graph_and_leaves_its_stages_walkable() -> None:
    """The doctor's fix for a pipeline that waits turns this knob on the user's own graph."""
    data = tiny_arrays("cifar10", 64, 16)
    pooled = build_pipeline("user", pipeline_fn=f"{FNS}:dataset", private_threadpool=3).train_data(data, _config())
    assert pooled.options().threading.private_threadpool_size == 3
    assert list(stage_prefixes(pooled, 2))  # the options step is skipped by the graph walk
    plain = build_pipeline("user", pipeline_fn=f"{FNS}:dataset").train_data(data, _config())
    assert plain.options().threading.private_threadpool_size in (None, 0)
