"""Shared fixtures: tiny generated data sets in the real formats, an isolated cache and results folder."""

from __future__ import annotations

import functools
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from imgcls.data import DATASETS, DataSet, Split, load_folder_tree  # noqa: E402
from imgcls.data.generated import make_arrays, write_jpeg_tree  # noqa: E402
from imgcls.data.locations import DATA_DIR_ENV  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated data goes to a per-session temp cache, never the user's ~/.cache."""
    monkeypatch.setenv("IMGCLS_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def tiny_arrays(name: str = "mnist", n_train: int = 512, n_test: int = 128, seed: int = 0) -> DataSet:
    """A small learnable generated arrays data set shaped like `name` (mnist or cifar10)."""
    info = DATASETS[name]
    x_train, y_train, x_test, y_test = make_arrays(n_train, n_test, info.image_shape, seed=seed)
    return DataSet(
        name=name,
        kind="generated",
        source=f"tiny generated {name} {n_train}/{n_test}",
        class_names=info.class_names,
        train=Split(labels=y_train.astype(np.int32), images=x_train),
        test=Split(labels=y_test.astype(np.int32), images=x_test),
    )


@pytest.fixture(scope="session")
def mnist_tiny() -> DataSet:
    return tiny_arrays("mnist")


@pytest.fixture(scope="session")
def cifar_tiny() -> DataSet:
    return tiny_arrays("cifar10")


@pytest.fixture(scope="session")
def jpeg_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated Imagenette-layout JPEG tree: 10 classes x (8 train, 2 val), shorter side 64 px."""
    root = tmp_path_factory.mktemp("jpegs") / "imagenette2-tiny"
    return write_jpeg_tree(root, {"train": 8, "val": 2}, DATASETS["imagenette"].class_names, shorter_side=64)


@pytest.fixture(scope="session")
def imagenette_tiny(jpeg_tree: Path) -> DataSet:
    return load_folder_tree(DATASETS["imagenette"], jpeg_tree, kind="generated")


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    return tmp_path / "results"


@pytest.fixture
def real_data_dir() -> Path:
    """The real data directory from $IMGCLS_DATA_DIR; the test is skipped without one."""
    value = os.environ.get(DATA_DIR_ENV)
    if not value or not Path(value).expanduser().is_dir():
        pytest.skip(f"no real data directory (set {DATA_DIR_ENV}, e.g. by unpacking shared/data)")
    return Path(value).expanduser()


def _gpu_count() -> int:
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml.nvmlDeviceGetCount()
    except Exception:  # no driver, no library: no GPU
        return 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`gpu` tests run only where NVML sees a GPU."""
    if _gpu_count():
        return
    skip = pytest.mark.skip(reason="no GPU on this machine")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


SKIPPED_LIST_ENV = "IMGCLS_SKIPPED_TESTS"  # a file: CI's first pass lists its skipped tests there for its second


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """With $IMGCLS_SKIPPED_TESTS set, append the id of every skipped test to that file: `.ci/run` installs the
    optional backends and loaders after the README's plain `pytest` and reruns exactly what skipped for want of
    them (a fixed list of test files would miss a new test that needs one)."""
    path = os.environ.get(SKIPPED_LIST_ENV)
    if path and report.skipped and report.when in ("setup", "call"):
        with open(path, "a") as out:
            out.write(report.nodeid + "\n")


SLOW_PIPELINES = {"tfdata-service", "grain", "torch"}  # start a server / worker processes (seconds each)


def pipeline_param(name: str, *marks: object) -> object:
    """A registered pipeline as a test parameter: slow where it starts servers, skipped (saying which package to
    install) where its optional package is absent, or where it is installed but its probe says it cannot run here
    (checked when such a test is set up, not at collection) -- every registered pipeline is a parameter either way."""
    from imgcls.pipelines import get_pipeline_spec

    extra = [pytest.mark.slow] if name in SLOW_PIPELINES else []
    spec = get_pipeline_spec(name)
    missing = spec.missing()
    if missing:
        extra.append(pytest.mark.skip(reason=f"pipeline {name!r} needs {spec.install_hint(missing)}: not installed"))
    elif name in PIPELINE_PROBES:
        extra.append(pytest.mark.pipeline_probe(name))
    return pytest.param(name, marks=[*extra, *marks], id=name)


def _tiny_jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.full((8, 12, 3), 128, np.uint8)).save(out, format="JPEG")
    return out.getvalue()


@functools.cache
def dali_runs() -> str | None:
    """None where DALI builds and runs a CPU pipeline (`device_id=None`) doing the `dali` loader's kinds of work
    (decode, resize, warp, flip, normalize) here; else why not, in one line. About a second, once per session."""
    try:
        from nvidia.dali import fn, pipeline_def, types

        jpeg = np.frombuffer(_tiny_jpeg(), np.uint8)

        @pipeline_def(batch_size=2, num_threads=1, device_id=None, seed=0)
        def probe():  # noqa: ANN202
            images = fn.decoders.image(fn.external_source(source=lambda: [jpeg, jpeg], batch=True), device="cpu")
            images = fn.resize(images, size=[4, 6], antialias=True)
            images = fn.warp_affine(images, matrix=fn.transforms.rotation(angle=1.0), dtype=types.FLOAT)
            images = fn.flip(images, horizontal=fn.random.coin_flip())
            return fn.crop_mirror_normalize(images, dtype=types.FLOAT, output_layout="HWC", mean=[0.0], std=[1.0])

        pipe = probe()
        pipe.build()
        (out,) = pipe.run()
        if out.as_array().shape != (2, 4, 6, 3):
            return f"a CPU pipeline gave shape {out.as_array().shape}, not (2, 4, 6, 3)"
    except Exception as err:  # any failure to import, build or run is a reason to skip, said in one line
        return f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0]}"
    return None


PIPELINE_PROBES = {"dali": dali_runs}  # installed loaders that may still fail to run on a machine


def pipeline_skip_reason(name: str) -> str | None:
    """Why a registered pipeline's tests skip here -- its optional package is absent, or installed but its probe
    says it cannot run -- naming the package; None where it runs."""
    from imgcls.pipelines import get_pipeline_spec

    spec = get_pipeline_spec(name)
    missing = spec.missing()
    if missing:
        return f"pipeline {name!r} needs {spec.install_hint(missing)}: not installed"
    reason = PIPELINE_PROBES[name]() if name in PIPELINE_PROBES else None
    if reason:
        hint = spec.install_hint([module for module, _ in spec.requires])
        return f"pipeline {name!r} needs {hint}: installed, but cannot run here ({reason})"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A `pipeline_probe(name)` test skips, naming the package and the reason, where that pipeline cannot run."""
    for marker in item.iter_markers("pipeline_probe"):
        reason = pipeline_skip_reason(marker.args[0])
        if reason:
            pytest.skip(reason)


SMALL_IMAGE_SIZE = {
    "imagenette": 48,
    "imagenette-vgg16": 32,
    "imagenet-resnet50": 64,
}  # small overrides of 160 / 224 px for quick runs


def tiny_config(workload: str = "mnist", pipeline: str = "tfdata", **overrides: object):  # noqa: ANN201
    """A RunConfig that trains a few steps of `workload` on small images (VGG16 with random weights)."""
    from bench.config import RunConfig
    from imgcls.workloads import get_workload

    values = {
        "workload": workload,
        "pipeline": pipeline,
        "batch_size": 8,
        "steps_per_epoch": 4,
        "warmup_steps": 1,
        "pipeline_batches": 2,
        "stage_batches": 0,
        "ceiling_steps": 3,
        "limit_test": 16,
        "image_size": SMALL_IMAGE_SIZE.get(workload),
        "weights": "none" if "weights" in get_workload(workload).model_kwargs else None,
    }
    return RunConfig(**{**values, **overrides})
