"""Every Keras backend trains every workload through every registered pipeline, and says so in its record.

The tests in this file run under whichever backend this process loaded (`KERAS_BACKEND`, TensorFlow by default).
`test_every_workload_trains_under_the_other_backends` runs this same file again in a fresh process per other
backend, since a process holds one backend for good. Under JAX or torch, a tf.data graph that called `keras.ops`
(e.g. `keras.applications.vgg16.preprocess_input`) would fail here: its ops would follow the backend and could
not take a symbolic tf.Tensor -- so VGG16 through tf.data is part of the matrix.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from bench.backends import get_backend, list_backends
from bench.run.runner import run_and_record
from imgcls.pipelines import InputConfig, build_pipeline, workload_pipelines
from imgcls.workloads import get_workload, list_workloads
from tests.conftest import SMALL_IMAGE_SIZE, pipeline_param, tiny_config

BACKEND = keras.backend.backend()
FIXTURE = {
    "mnist": "mnist_tiny",
    "cifar10": "cifar_tiny",
    "imagenette": "imagenette_tiny",
    "imagenet": "imagenette_tiny",
}


def _data(workload: str, request: pytest.FixtureRequest):  # noqa: ANN202
    return request.getfixturevalue(FIXTURE[get_workload(workload).dataset])


# The fast subset trains every pipeline on mnist; the other workloads run with the slow tests (CI runs both).
# ResNet-50 traces for a minute, even at 64 px.
SLOW_WORKLOAD = {w: [pytest.mark.slow] for w in list_workloads() if w != "mnist"}
# tfdata-naive/-service: tfdata's graph; keras-layers: the baseline of the workloads idg cannot render
TRAINED = ("idg", "keras-layers", "tfdata", "synthetic", "pydataset", "torch", "grain", "dali")


@pytest.mark.parametrize(
    ("workload", "pipeline"),
    [
        pytest.param(w, p, marks=[*pipeline_param(p).marks, *SLOW_WORKLOAD.get(w, [])], id=f"{w}-{p}")
        for w in list_workloads()
        for p in TRAINED
        if p in workload_pipelines(get_workload(w).augment)
    ],
)
def test_trains_a_few_steps_on_this_backend(
    workload: str, pipeline: str, request: pytest.FixtureRequest, results_dir: Path
) -> None:
    config = tiny_config(workload, pipeline, backend=BACKEND)
    record = run_and_record(config, results_dir, data=_data(workload, request))
    assert record.status == "ok" and record.train_images_per_sec > 0
    assert record.backend == record.env["keras_backend"] == BACKEND
    assert record.compile == get_backend(BACKEND).default_compile  # JAX: jit, never the eager trap
    assert record.knobs.get("backend", "tensorflow") == BACKEND
    # both ceilings ran on this backend: the batch held on the device as a weight, and the constant host batch
    assert record.ceiling_kind == "device" and record.ceiling_images_per_sec > 0
    assert record.fed_ceiling_images_per_sec > 0


@pytest.mark.parametrize("workload", list_workloads())
def test_tfdata_graphs_are_backend_neutral(workload: str, request: pytest.FixtureRequest) -> None:
    """Build and iterate the training and evaluation graphs under this backend: no `keras.ops` inside them."""
    spec = get_workload(workload)
    size = SMALL_IMAGE_SIZE.get(workload)
    config = InputConfig(
        image_size=(size, size) if size else spec.image_size,
        channels=spec.channels,
        augment=spec.augment,
        batch_size=4,
        seed=0,
    )
    pipeline = build_pipeline("tfdata")
    data = _data(workload, request)
    for dataset in (pipeline.train_data(data, config), pipeline.eval_data(data, config)):
        images, labels = next(iter(dataset))
        assert images.shape[0] == labels.shape[0] == 4


def test_keras_layers_run_in_the_tf_data_graph_on_this_backend(imagenette_tiny) -> None:  # noqa: ANN001
    """The `keras-layers` baseline maps Keras preprocessing layers inside tf.data: under JAX or torch Keras must
    switch them to TensorFlow there (a `keras.Sequential` of them, or `keras.ops`, would fail)."""
    spec = get_workload(RESNET)
    config = InputConfig(image_size=(64, 64), channels=3, augment=spec.augment, batch_size=4, seed=0)
    pipeline = build_pipeline("keras-layers")
    for dataset in (pipeline.train_data(imagenette_tiny, config), pipeline.eval_data(imagenette_tiny, config)):
        images, labels = next(iter(dataset))
        assert tuple(images.shape) == (4, 64, 64, 3) and labels.shape[0] == 4
    pipeline.close()


def test_device_augmentation_trains_on_this_backend(mnist_tiny, results_dir: Path) -> None:
    config = tiny_config("mnist", backend=BACKEND, augment_on="device", batch_size=16, limit_test=32)
    record = run_and_record(config, results_dir, data=mnist_tiny)
    assert record.status == "ok" and record.augment_on == "device" and record.val_accuracy is not None


OTHERS = [b for b in list_backends() if b != BACKEND]

# The reference workload on every backend: the tuned tf.data crop and the Keras-layers baseline feed ResNet-50 on
# generated ImageNet-sized JPEGs (64 px, batch 4, 3 steps, no ceilings: ResNet-50 compiles for minutes on a CPU).
RESNET = "imagenet-resnet50"
RESNET_PIPELINES = ("tfdata", "keras-layers")


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", RESNET_PIPELINES)
def test_imagenet_resnet50_trains_a_few_steps_on_this_backend(pipeline: str, results_dir: Path) -> None:
    config = tiny_config(
        RESNET, pipeline, backend=BACKEND, data="generated", batch_size=4, steps_per_epoch=3, warmup_steps=1,
        pipeline_batches=2, ceiling_steps=0, limit_test=4,
    )  # fmt: skip
    record = run_and_record(config, results_dir)
    assert record.status == "ok" and record.backend == record.env["keras_backend"] == BACKEND
    assert record.model_name == "resnet50" and record.model_params > 23_000_000 and record.data_kind == "generated"
    assert len(record.step_sec) == 3 and record.train_images_per_sec > 0 and math.isfinite(record.final_train_loss)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # measured 3 min (torch) to 8 min (JAX, 2 cores shared with other runs) per backend
@pytest.mark.parametrize("backend", OTHERS)
def test_imagenet_resnet50_trains_under_the_other_backends(backend: str) -> None:
    """The slow test above in a fresh process per other backend (the matrix below runs only the fast subset)."""
    if not get_backend(backend).available():
        pytest.skip(f"{backend} is not installed here ({get_backend(backend).install}); CI installs it")
    selected = "test_imagenet_resnet50_trains_a_few_steps_on_this_backend"
    command = [sys.executable, "-m", "pytest", __file__, "-q", "-rs", "-p", "no:cacheprovider", "-k", selected]
    completed = subprocess.run(
        command, env={**os.environ, "KERAS_BACKEND": backend}, capture_output=True, text=True, timeout=1700
    )
    output = (completed.stdout + completed.stderr).strip()
    tail = "\n".join(output.splitlines()[-15:])
    assert completed.returncode == 0, f"under {backend}:\n{tail}"
    assert f"{len(RESNET_PIPELINES)} passed" in output.splitlines()[-1], tail


@pytest.mark.slow
@pytest.mark.parametrize("backend", OTHERS)
def test_every_workload_trains_under_the_other_backends(backend: str) -> None:
    if not get_backend(backend).available():
        pytest.skip(f"{backend} is not installed here ({get_backend(backend).install}); CI installs it")
    env = {**os.environ, "KERAS_BACKEND": backend}
    command = [sys.executable, "-m", "pytest", __file__, "-q", "-rs", "-p", "no:cacheprovider", "-m", "not slow", "-x"]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
    output = (completed.stdout + completed.stderr).strip()
    tail = "\n".join(output.splitlines()[-15:])
    assert completed.returncode == 0, f"under {backend}:\n{tail}"
    assert " passed" in output.splitlines()[-1]
    # The one skip allowed is a loader whose optional package this environment lacks or cannot run (it skips
    # here too); a test that skipped for any other reason under that backend did not show the backend works.
    assert not unexplained_skips(output), f"under {backend}, skipped: {unexplained_skips(output)}"


def unexplained_skips(pytest_output: str) -> list[str]:
    """The `-rs` summary lines whose reason is not a registered pipeline's optional package, missing or unable to
    run here (`tests.conftest.pipeline_param`)."""
    skipped = [line for line in pytest_output.splitlines() if line.startswith("SKIPPED")]
    reason = r"pipeline '[\w-]+' needs .*: (not installed|installed, but cannot run here)"
    return [line for line in skipped if not re.search(reason, line)]


def test_device_resize_is_pils_resize_on_this_backend() -> None:
    """The model-side resize (files shipped at their stored size) does PIL's work: antialiased bilinear, rounded,
    within 1 grey level of `Image.resize(BILINEAR)`, on whichever backend runs the model."""
    import numpy as np
    from PIL import Image

    from imgcls.augment_layer import DeviceAugmentation

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:224, 0:224]
    stripes = 60 * np.sign(np.sin(xx * 1.9 + yy * 0.7))  # fine texture: a resize without antialiasing aliases it
    images = np.clip(128 + stripes[None, ..., None] + rng.normal(0, 20, (4, 224, 224, 3)), 0, 255).astype(np.uint8)
    spec = get_workload("imagenette").augment
    layer = DeviceAugmentation(spec, size=(160, 160))
    ours = keras.ops.convert_to_numpy(layer(images, training=False)) * 255.0
    pil = np.stack([np.asarray(Image.fromarray(i).resize((160, 160), Image.BILINEAR), np.float64) for i in images])
    assert np.abs(ours - pil).mean() < 1.0


def test_only_a_missing_loader_package_explains_a_skip_under_another_backend() -> None:
    output = (
        "SKIPPED [4] tests/test_backends.py:45: pipeline 'torch' needs torchvision (pip install ...): not installed\n"
        "SKIPPED [1] tests/test_backends.py:80: device ceiling unavailable under jax\n"
        "SKIPPED [2] tests/test_backends.py:45: pipeline 'dali' needs nvidia.dali (pip install ...): installed, but "
        "cannot run here (RuntimeError: no libcuda)\n"
        "11 passed, 7 skipped in 20.1s"
    )
    assert unexplained_skips(output) == ["SKIPPED [1] tests/test_backends.py:80: device ceiling unavailable under jax"]
