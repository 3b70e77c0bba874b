"""The pipeline contract, checked for every registered pipeline on the same inputs (tiny arrays, tiny JPEG tree).

`train_data`: endless shuffled batches `(float32 [B,H,W,C], int labels [B])` in the preprocess range, made of the
training split's images with their own labels. `eval_data`: the whole test split, in order, partial last batch
included, preprocessed but never augmented (or None where evaluation means nothing). Unknown names and options are
ValueErrors that name what is known.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from imgcls.data.types import DataSet
from imgcls.pipelines import (
    InputConfig,
    build_pipeline,
    get_pipeline_spec,
    list_pipelines,
    pipeline_specs,
    workload_pipelines,
)
from imgcls.pipelines.options import TfDataOptions
from imgcls.workloads import get_workload
from tests.conftest import pipeline_param, tiny_arrays

SERVICE = "tfdata-service"
UNORDERED_EVAL_REASON = (
    "bug: TfDataPipeline.eval_data maps with the pipeline's `deterministic` option (False in the tuned preset), "
    "so the test split comes back in a different order from pass to pass"
)


def _param(name: str, *marks: Any) -> Any:
    """A pipeline parameter (see `tests.conftest.pipeline_param`)."""
    return pipeline_param(name, *marks)


ALL = [_param(name) for name in workload_pipelines()]
WITH_EVAL = [_param(name) for name in workload_pipelines() if name != "synthetic"]


@pytest.fixture(scope="module")
def service_pipeline():
    """One `tfdata-service` pipeline (1 local worker) shared by the module: starting servers costs seconds."""
    pipeline = build_pipeline(SERVICE, service="local:1")
    yield pipeline
    pipeline.close()


def _pipeline(name: str, request: pytest.FixtureRequest, **options: Any) -> Any:
    if name == SERVICE and not options:
        return request.getfixturevalue("service_pipeline")
    return build_pipeline(name, **options)


@dataclass
class Case:
    data: DataSet
    config: InputConfig

    @property
    def shape(self) -> tuple[int, int, int]:
        return (*self.config.image_size, self.config.channels)


def _case(
    source: str,
    request: pytest.FixtureRequest,
    batch: int,
    augment: str = "seed",
    workload: str | None = None,
    size: tuple[int, int] | None = None,
) -> Case:
    """The same inputs for every pipeline: mnist-shaped arrays, or the JPEG tree resized to a non-square size."""
    if source == "arrays":
        data, w = request.getfixturevalue("mnist_tiny"), get_workload(workload or "mnist")
    else:
        data, w = request.getfixturevalue("imagenette_tiny"), get_workload(workload or "imagenette")
    size = size or (w.image_size if source == "arrays" else (40, 56))  # H != W catches a transposed resize
    config = InputConfig(
        image_size=size, channels=w.channels, augment=w.augment_spec(augment), batch_size=batch, seed=0
    )
    return Case(data, config)


def _eval_batches(eval_data: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every batch of an evaluation input: a Keras PyDataset (idg) by index -- iterating one never ends."""
    if hasattr(eval_data, "__getitem__") and hasattr(eval_data, "__len__"):
        batches = [eval_data[i] for i in range(len(eval_data))]
    else:
        batches = list(eval_data)
    return [(np.asarray(x), np.asarray(y)) for x, y in batches]


def _match_rows(found: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of `found`, the index of the closest row of `expected` and the max abs difference to it."""
    a = found.reshape(len(found), -1).astype(np.float32)
    b = expected.reshape(len(expected), -1).astype(np.float32)
    distances = np.stack([np.abs(b - row).max(axis=1) for row in a])
    return distances.argmin(axis=1), distances.min(axis=1)


# ---- train_data ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("source", ["arrays", "files"])
@pytest.mark.parametrize("name", ALL)
def test_train_batches_have_the_contracted_shape_dtype_range_and_labels(
    name: str, source: str, request: pytest.FixtureRequest
) -> None:
    case = _case(source, request, batch=8)
    train = _pipeline(name, request).train_data(case.data, case.config)
    if isinstance(train, tf.data.Dataset):  # static shapes: what drop_remainder promises
        images_spec, labels_spec = train.element_spec
        assert tuple(images_spec.shape) == (8, *case.shape) and images_spec.dtype == tf.float32
        assert tuple(labels_spec.shape) == (8,) and labels_spec.dtype.is_integer
    iterator = iter(train)
    seen: list[int] = []
    for _ in range(3):
        images, labels = (np.asarray(v) for v in next(iterator))
        assert images.shape == (8, *case.shape)
        assert images.dtype == np.float32
        assert images.min() >= -1e-6 and images.max() <= 1 + 1e-6  # `unit`: [0, 255] -> [0, 1]
        assert images.max() > 0.3 and images.std() > 0.02  # rescaled once, not twice, and not blank
        assert labels.shape == (8,) and np.issubdtype(labels.dtype, np.integer)
        assert labels.min() >= 0 and labels.max() < case.data.num_classes
        seen += labels.tolist()
    assert len(set(seen)) > 2  # real labels, not a constant


@pytest.mark.parametrize(
    "name",
    [_param(name) for name in workload_pipelines()],
)
def test_train_batches_are_training_images_with_their_own_labels(name: str, request: pytest.FixtureRequest) -> None:
    """With augmentation off, every training image is a source training image, rescaled, beside its own label."""
    case = _case("arrays", request, batch=16, augment="none")
    iterator = iter(_pipeline(name, request).train_data(case.data, case.config))
    indices: list[int] = []
    for _ in range(2):
        images, labels = (np.asarray(v) for v in next(iterator))
        index, distance = _match_rows(images * 255.0, case.data.train.images)
        assert distance.max() < 1e-3, "an image that is not a training image"
        np.testing.assert_array_equal(labels, case.data.train.labels[index])  # labels stay with their images
        indices += index.tolist()
    if name != "synthetic":  # shuffled, not the split's first rows in order
        assert indices != list(range(len(indices)))


@pytest.mark.parametrize("name", ALL)
def test_vgg16_preprocessing_range_in_training_and_evaluation(name: str, request: pytest.FixtureRequest) -> None:
    case = _case("files", request, batch=4, workload="imagenette-vgg16", size=(32, 32))
    pipeline = _pipeline(name, request)
    images, _ = next(iter(pipeline.train_data(case.data, case.config)))
    batches = [np.asarray(images)]
    eval_data = pipeline.eval_data(case.data, case.config)
    if eval_data is not None:
        batches.append(_eval_batches(eval_data)[0][0])
    for x in batches:
        assert x.dtype == np.float32 and x.shape == (4, 32, 32, 3)
        # caffe-style: BGR minus the ImageNet channel means, so values span [-123.68, 151.061].
        assert x.min() >= -123.68 - 1e-3 and x.max() <= 255 - 103.939 + 1e-3
        assert x.min() < -20 and x.max() > 20  # not the unit range


@pytest.mark.parametrize(
    "name",
    [_param(name) for name in workload_pipelines()],
)
def test_a_training_split_smaller_than_one_batch_still_gives_full_batches(
    name: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """5 examples, batch 8: full batches across epoch boundaries (or an immediate ValueError), never a hang.

    Real case: `bench run --workload cifar10 --pipeline idg --limit 100` (batch 128, 100 steps by default).
    """
    from keras.src.legacy.preprocessing.image import Iterator

    original = Iterator.__next__
    pulls = {"n": 0}

    def guarded_next(self):  # noqa: ANN001, ANN202
        pulls["n"] += 1
        if pulls["n"] > 200:
            raise RuntimeError("ImageDataGenerator iterator pulled 200 times without a full batch")
        return original(self)

    monkeypatch.setattr(Iterator, "__next__", guarded_next)
    data = tiny_arrays("mnist", n_train=5, n_test=5)
    case = _case("arrays", request, batch=8)
    try:
        images, labels = next(iter(_pipeline(name, request).train_data(data, case.config)))
    except ValueError as err:  # refusing at once is fine too, if it says why
        assert "batch" in str(err)
        return
    assert np.asarray(images).shape == (8, 28, 28, 1) and np.asarray(labels).shape == (8,)


def test_idg_workers_prepare_training_batches_concurrently(mnist_tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras
    from keras.src.legacy.preprocessing.image import NumpyArrayIterator

    original = NumpyArrayIterator._get_batches_of_transformed_samples
    state = {"now": 0, "peak": 0}
    lock = threading.Lock()

    def spy(self, index_array):  # noqa: ANN001, ANN202
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        try:
            time.sleep(0.02)  # long enough for a second worker to start its own batch meanwhile
            return original(self, index_array)
        finally:
            with lock:
                state["now"] -= 1

    monkeypatch.setattr(NumpyArrayIterator, "_get_batches_of_transformed_samples", spy)
    workload = get_workload("mnist")
    config = InputConfig(image_size=(28, 28), channels=1, augment=workload.augment, batch_size=8, seed=0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    train = build_pipeline("idg", workers=3).train_data(mnist_tiny, config)
    model.fit(train, steps_per_epoch=16, epochs=1, shuffle=False, verbose=0)
    assert state["peak"] >= 2, "with workers=3 no two training batches were ever prepared at the same time"


@pytest.mark.parametrize("name", [pipeline_param("torch")])
def test_torch_workers_are_not_forks_of_the_training_process(name: str, mnist_tiny) -> None:  # noqa: ANN001
    """DataLoader's default start method is a forkserver: a fork of this process (TensorFlow's threads, and JAX's
    where it trains, holding locks no thread in the child will release) once crashed a worker in CI."""
    workload = get_workload("mnist")
    config = InputConfig(image_size=(28, 28), channels=1, augment=workload.augment, batch_size=8, seed=0)
    loader = build_pipeline(name).train_data(mnist_tiny, config)
    batches = iter(loader)
    images, _ = next(batches)
    assert tuple(images.shape) == (8, 28, 28, 1)
    workers = batches._workers  # noqa: SLF001  # the live worker processes, to ask each for its parent
    parents = {int(Path(f"/proc/{w.pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) for w in workers}
    batches._shutdown_workers()  # noqa: SLF001
    assert workers and os.getpid() not in parents, "DataLoader forked its workers from the training process"


def test_idg_close_stops_its_workers_within_seconds_even_with_slow_batches_queued(
    mnist_tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keras's default `stop()` computes every queued batch first (10 x 1 s here, on 2 workers: >= 5 s); an
    interrupted run must not wait for them."""
    from keras.src.legacy.preprocessing.image import NumpyArrayIterator

    original = NumpyArrayIterator._get_batches_of_transformed_samples

    def slow(self, index_array):  # noqa: ANN001, ANN202
        time.sleep(1.0)
        return original(self, index_array)

    monkeypatch.setattr(NumpyArrayIterator, "_get_batches_of_transformed_samples", slow)
    workload = get_workload("mnist")
    config = InputConfig(image_size=(28, 28), channels=1, augment=workload.augment, batch_size=8, seed=0)
    pipeline = build_pipeline("idg", workers=2)
    already = set(threading.enumerate())
    batches = pipeline.train_data(mnist_tiny, config)
    next(batches)
    started = set(threading.enumerate()) - already  # the enqueuer's thread and its pool's
    assert started
    start = time.monotonic()
    pipeline.close()
    assert time.monotonic() - start < 3.0
    deadline = time.monotonic() + 3.0  # the pool's threads finish the batch they are on, then exit
    while any(t.is_alive() for t in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [t.name for t in started if t.is_alive()]


@pytest.mark.parametrize("name", ["idg", "tfdata", "tfdata-naive", _param("dali")])
def test_file_inputs_are_shuffled_and_reshuffled_every_epoch(name: str, imagenette_tiny) -> None:  # noqa: ANN001
    """Each training pass over a JPEG folder is the whole file list in a new order: never the scan's class order
    (a pipeline that forgot to shuffle files passed every test), never the previous pass's order."""
    data = imagenette_tiny
    spec = get_workload("imagenette").augment.without_augmentation()
    config = InputConfig(image_size=(16, 16), channels=3, augment=spec, batch_size=8, seed=0)
    stream = iter(build_pipeline(name).train_data(data, config))
    steps = len(data.train) // 8
    passes = [np.concatenate([np.asarray(next(stream)[1]) for _ in range(steps)]) for _ in range(2)]
    scan_order = np.asarray(data.train.labels)
    for labels in passes:
        assert sorted(labels) == sorted(scan_order)  # the whole list, once per pass
    assert not np.array_equal(passes[0], scan_order), "the first pass is the folder's order: files not shuffled"
    assert not np.array_equal(passes[0], passes[1]), "the second pass repeats the first: no per-epoch reshuffle"


# ---- eval_data --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_only_synthetic_has_no_evaluation(name: str, request: pytest.FixtureRequest) -> None:
    case = _case("arrays", request, batch=32)
    eval_data = _pipeline(name, request).eval_data(case.data, case.config)
    assert (eval_data is None) == (name == "synthetic")


@pytest.mark.parametrize("source, batch, sizes", [("arrays", 50, [50, 50, 28]), ("files", 8, [8, 8, 4])])
@pytest.mark.parametrize("name", WITH_EVAL)
def test_eval_covers_the_whole_test_split_with_a_partial_last_batch(
    name: str, source: str, batch: int, sizes: list[int], request: pytest.FixtureRequest
) -> None:
    case = _case(source, request, batch=batch)  # the workload's augmentation is on: eval must ignore it
    batches = _eval_batches(_pipeline(name, request).eval_data(case.data, case.config))
    assert [len(y) for _, y in batches] == sizes
    images = np.concatenate([x for x, _ in batches])
    labels = np.concatenate([y for _, y in batches])
    assert images.shape == (len(case.data.test), *case.shape) and images.dtype == np.float32
    assert np.array_equal(labels, labels.astype(int)) and labels.min() >= 0
    assert sorted(labels.astype(int).tolist()) == sorted(case.data.test.labels.tolist())
    assert images.min() >= -1e-6 and images.max() <= 1 + 1e-6
    if source == "arrays":  # exactly the test images / 255, each beside its own label: no augmentation
        index, distance = _match_rows(images, case.data.test.images / 255.0)
        assert distance.max() < 1e-6
        assert len(set(index.tolist())) == len(case.data.test)
        np.testing.assert_array_equal(labels.astype(int), case.data.test.labels[index])


@pytest.mark.parametrize("source, batch, passes", [("arrays", 6, 100), ("files", 1, 30)])
@pytest.mark.parametrize(
    "name",
    [_param(name) for name in workload_pipelines() if name != "synthetic"],
)
def test_eval_keeps_the_test_split_order_every_pass(
    name: str, source: str, batch: int, passes: int, request: pytest.FixtureRequest
) -> None:
    """Order is a contract (predictions line up with `data.test`); one lucky pass proves little, so many passes."""
    case = _case(source, request, batch=batch)
    pipeline = _pipeline(name, request)
    expected = case.data.test.labels.tolist()
    for attempt in range(passes):
        batches = _eval_batches(pipeline.eval_data(case.data, case.config))
        labels = np.concatenate([y for _, y in batches]).astype(int).tolist()
        assert labels == expected, f"pass {attempt + 1}: test split out of order"


@pytest.mark.parametrize("source", ["arrays", "files"])
def test_idg_and_tfdata_evaluation_preprocess_identically(source: str, request: pytest.FixtureRequest) -> None:
    case = _case(source, request, batch=16)
    idg = _eval_batches(build_pipeline("idg").eval_data(case.data, case.config))
    ours = _eval_batches(build_pipeline("tfdata").eval_data(case.data, case.config))
    idg_x, idg_y = np.concatenate([x for x, _ in idg]), np.concatenate([y for _, y in idg]).astype(int)
    our_x, our_y = np.concatenate([x for x, _ in ours]), np.concatenate([y for _, y in ours]).astype(int)
    # Order aside (see the order test), the same images with the same labels, nearly the same values.
    index, distance = _match_rows(our_x, idg_x)
    assert len(set(index.tolist())) == len(idg_x)
    np.testing.assert_array_equal(our_y, idg_y[index])
    if source == "arrays":
        assert distance.max() < 1e-6
    else:  # PIL's and TF's bilinear resizes differ by a few grey levels at most on average
        assert np.abs(our_x - idg_x[index]).mean() < 0.04


# ---- names and options -----------------------------------------------------------------------------------------
def _fields(*classes: type) -> set[str]:
    return {f.name for cls in classes for f in dataclasses.fields(cls)}


ACCEPTED_OPTIONS = {spec.name: _fields(type(spec.preset)) for spec in pipeline_specs()}


def test_unknown_pipeline_name_is_a_value_error_naming_the_known_ones() -> None:
    with pytest.raises(ValueError) as error:
        build_pipeline("tf.data-fast")
    message = str(error.value)
    assert "tf.data-fast" in message
    assert all(name in message for name in list_pipelines())


@pytest.mark.parametrize("name", ALL)
def test_every_accepted_option_builds(name: str) -> None:
    """Every option of every registered pipeline, at its preset's value, builds (no server is started)."""
    preset = get_pipeline_spec(name).preset
    for option in ACCEPTED_OPTIONS[name]:
        build_pipeline(name, **{option: getattr(preset, option)})


@pytest.mark.parametrize(
    "name",
    [_param(name) for name in workload_pipelines()],
)
def test_unknown_option_is_a_value_error_naming_every_accepted_option(name: str) -> None:
    with pytest.raises(ValueError) as error:
        build_pipeline(name, turbo_mode=True)
    message = str(error.value)
    assert repr(name) in message and "turbo_mode" in message
    missing = sorted(option for option in ACCEPTED_OPTIONS[name] if option not in message)
    assert not missing, f"{name}: the error does not name {missing}"


TFDATA_BAD_VALUES = [
    ("cache", "disk"),
    ("cache", "on"),
    ("cache_at", "batch"),
    ("shuffle_buffer", 0),
    ("map_parallel", 0),
    ("map_parallel", -2),
    ("prefetch", 0),
    ("prefetch", -5),
    ("interleave_cycle", 0),
    ("interleave_parallel", -3),
]
UNCHECKED_BAD_VALUES = [
    ("private_threadpool", -2),
    ("max_intra_op", -1),
    ("autotune_ram_budget_mb", -512),
    ("autotune_cpu_budget", -1),
]


@pytest.mark.parametrize("name", ["tfdata", "tfdata-naive"])
@pytest.mark.parametrize(
    "option, value",
    [
        *TFDATA_BAD_VALUES,
        *(
            pytest.param(
                option,
                value,
            )
            for option, value in UNCHECKED_BAD_VALUES
        ),
    ],
)
def test_invalid_tfdata_option_values_are_value_errors_naming_the_option(name: str, option: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"`{option}`"):
        build_pipeline(name, **{option: value})


def test_valid_tfdata_option_values_are_kept_verbatim() -> None:
    overrides = {
        "map_parallel": 3,
        "prefetch": None,
        "cache": "memory",
        "cache_at": "augment",
        "interleave_cycle": 2,
        "shuffle_buffer": 1,
        "vectorize": False,
        "deterministic": True,
    }
    pipeline = build_pipeline("tfdata", **overrides)
    assert pipeline.options() == {**dataclasses.asdict(TfDataOptions()), **overrides}
    assert build_pipeline("tfdata", map_parallel=-1).options()["map_parallel"] == -1  # AUTOTUNE
    naive = build_pipeline("tfdata-naive").options()
    assert (naive["map_parallel"], naive["prefetch"], naive["vectorize"]) == (None, None, False)


@pytest.mark.parametrize(
    "options, named",
    [
        ({"workers": 0}, "workers"),
        ({"service": "nowhere"}, "service"),
        ({"service": "local:0"}, "local:N"),
        ({"processing_mode": "sometimes"}, "processing_mode"),
        ({"sharding": "by-hash"}, "sharding"),
        ({"compression": "zstd"}, "compression"),
    ],
)
def test_other_invalid_option_values_are_value_errors(options: dict, named: str) -> None:
    name = "idg" if "workers" in options else SERVICE
    with pytest.raises(ValueError, match=named):
        build_pipeline(name, **options)


# ---- the service's servers -------------------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = f"/proc/{pid}/status"
    return not (os.path.exists(status) and "zombie" in open(status).read())


@pytest.mark.slow
def test_tfdata_service_close_stops_its_servers_promptly(service_pipeline) -> None:
    service_pipeline.dispatcher_address()  # make sure the servers run
    pids = list(service_pipeline.server_pids)
    assert len(pids) == 2  # dispatcher + 1 worker
    start = time.monotonic()
    service_pipeline.close()
    elapsed = time.monotonic() - start
    assert not [pid for pid in pids if _alive(pid)], "a server outlived close()"
    assert elapsed < 5, f"close() took {elapsed:.1f} s: the servers ignored SIGTERM"


# ---- optional packages -----------------------------------------------------------------------------------------
def test_a_pipeline_whose_package_is_absent_is_refused_in_one_line_naming_it() -> None:
    from imgcls.errors import UserFacingError
    from imgcls.pipelines import PipelineSpec, register_pipeline
    from imgcls.pipelines.base import pipeline_registry
    from imgcls.pipelines.options import NoOptions

    with pipeline_registry().isolated():
        register_pipeline(
            PipelineSpec(
                "needs-absent",
                "candidate",
                "a loader whose package is not installed",
                NoOptions(),
                "imgcls.pipelines.synthetic:SyntheticPipeline",
                requires=(("no_such_module_for_imgcls", "'no-such-package>=1'"),),
            )
        )
        with pytest.raises(UserFacingError) as error:
            build_pipeline("needs-absent")
    message = str(error.value)
    assert "no-such-package>=1" in message and "needs-absent" in message and "\n" not in message


def test_a_pipeline_whose_package_fails_to_import_is_refused_in_one_line_naming_it(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A package that is installed but broken (PyPI's CUDA torchvision beside a CPU torch raises RuntimeError at
    import) is the same one line, never a traceback."""
    from imgcls.errors import UserFacingError
    from imgcls.pipelines import PipelineSpec, register_pipeline
    from imgcls.pipelines.base import pipeline_registry
    from imgcls.pipelines.options import NoOptions

    (tmp_path / "broken_loader_pkg.py").write_text("raise RuntimeError('operator torchvision::nms does not exist')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pipeline_registry().isolated():
        register_pipeline(
            PipelineSpec(
                "needs-broken",
                "candidate",
                "a loader whose package is broken",
                NoOptions(),
                "broken_loader_pkg:Pipeline",
                requires=(("broken_loader_pkg", "'broken-loader-pkg==1'"),),
            )
        )
        with pytest.raises(UserFacingError) as error:
            build_pipeline("needs-broken")
    message = str(error.value)
    assert "broken-loader-pkg==1" in message and "torchvision::nms" in message and "\n" not in message


def test_a_dotted_package_whose_parent_is_absent_is_missing_not_an_error() -> None:
    """`nvidia.dali` where no `nvidia` package is installed at all: `find_spec` raises for the parent; the pipeline
    is missing (and refused in one line), not a traceback at `bench list` or at test collection."""
    from imgcls.errors import UserFacingError
    from imgcls.pipelines import PipelineSpec, register_pipeline
    from imgcls.pipelines.base import pipeline_registry
    from imgcls.pipelines.options import NoOptions

    spec = PipelineSpec(
        "needs-absent-parent",
        "candidate",
        "a loader in a namespace package that is not installed",
        NoOptions(),
        "imgcls.pipelines.synthetic:SyntheticPipeline",
        requires=(("no_such_namespace_for_imgcls.loader", "'no-such-loader==1'"),),
    )
    assert spec.missing() == ["no_such_namespace_for_imgcls.loader"]
    with pipeline_registry().isolated():
        register_pipeline(spec)
        with pytest.raises(UserFacingError, match="no-such-loader==1"):
            build_pipeline("needs-absent-parent")
