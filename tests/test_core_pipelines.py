"""Pipelines deliver the same work: batch contracts, augmentation equivalence with ImageDataGenerator, folders."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from keras.src.legacy.preprocessing.image import ImageDataGenerator
from PIL import Image

from bench.runner import RunConfig, run_and_record
from imgcls.augment import AugmentSpec, affine_transforms_tf
from imgcls.data.folder import scan_class_folders
from imgcls.data.sources import DATASETS, load_dataset, load_folder_tree
from imgcls.errors import DataUnavailable, FolderLayoutError
from imgcls.pipelines import InputConfig, build_pipeline, list_pipelines
from imgcls.workloads import get_workload, list_workloads
from tests.conftest import tiny_arrays

TRAINING_PIPELINES = [p for p in list_pipelines() if p != "tfdata-service"]  # service: tests/test_service.py


def _batches(eval_data) -> list:  # noqa: ANN001
    """All batches of an eval input: a Keras PyDataset (idg) by index -- iterating it never ends -- or a dataset."""
    if hasattr(eval_data, "__getitem__") and hasattr(eval_data, "__len__"):
        return [eval_data[i] for i in range(len(eval_data))]
    return list(eval_data)


def _config(workload: str, batch: int = 16, size: tuple[int, int] | None = None, augment: str = "seed") -> InputConfig:
    w = get_workload(workload)
    return InputConfig(
        image_size=size or w.image_size, channels=w.channels, augment=w.augment_spec(augment), batch_size=batch, seed=0
    )


# ---- batch contracts -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("pipeline", TRAINING_PIPELINES)
@pytest.mark.parametrize("source", ["arrays", "files"])
def test_train_batches_have_the_contracted_shape_dtype_and_range(pipeline, source, mnist_tiny, imagenette_tiny):
    data, workload, size = (
        (mnist_tiny, "mnist", (28, 28)) if source == "arrays" else (imagenette_tiny, "imagenette", (40, 56))
    )
    config = _config(workload, size=size)
    iterator = iter(build_pipeline(pipeline).train_data(data, config))
    for _ in range(3):
        images, labels = next(iterator)
        images, labels = np.asarray(images), np.asarray(labels)
        assert images.shape == (16, *size, get_workload(workload).channels)
        assert images.dtype == np.float32
        assert images.min() >= -1e-5 and images.max() <= 1 + 1e-5 and images.max() > 0.2  # rescaled, not black
        assert labels.shape == (16,) and labels.min() >= 0 and labels.max() < 10


@pytest.mark.parametrize("pipeline", ["idg", "tfdata", "tfdata-naive"])
def test_eval_covers_the_test_split_in_order_with_a_partial_batch(pipeline, mnist_tiny):
    config = _config("mnist", batch=50)  # 128 test examples: 50 + 50 + 28
    batches = _batches(build_pipeline(pipeline).eval_data(mnist_tiny, config))
    labels = np.concatenate([np.asarray(y) for _, y in batches])
    assert [len(np.asarray(y)) for _, y in batches] == [50, 50, 28]
    np.testing.assert_array_equal(labels[:128], mnist_tiny.test.labels)


def test_idg_and_tfdata_preprocess_evaluation_identically(mnist_tiny, imagenette_tiny):
    for data, workload, size in ((mnist_tiny, "mnist", (28, 28)), (imagenette_tiny, "imagenette", (48, 48))):
        config = _config(workload, batch=20, size=size)
        idg_images, _ = next(iter(build_pipeline("idg").eval_data(data, config)))
        tf_images, _ = next(iter(build_pipeline("tfdata").eval_data(data, config)))
        # Arrays: identical; files: PIL vs TF bilinear resize differ by a little.
        tolerance = 1e-6 if workload == "mnist" else 0.04
        assert np.abs(np.asarray(idg_images) - np.asarray(tf_images)).mean() < tolerance


def test_augment_none_keeps_preprocessing_and_removes_randomness(mnist_tiny):
    config = _config("mnist", augment="none")
    pipeline = build_pipeline("tfdata", deterministic=True)
    first, _ = next(iter(pipeline.train_data(mnist_tiny, config)))
    x = np.asarray(first)
    assert x.max() <= 1.0
    # Every training image is then one of the (rescaled) source images, untouched.
    source = mnist_tiny.train.images.reshape(len(mnist_tiny.train), -1).astype(np.float32) / 255.0
    distances = np.abs(source[None] - x.reshape(len(x), 1, -1)).max(axis=2).min(axis=1)
    assert distances.max() < 1e-6


# ---- the same augmentation in both renderings ---------------------------------------------------------------
def _smooth_image(height: int = 40, width: int = 56) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    red = 255 * (xx / width)
    green = 255 * (0.5 + 0.5 * np.sin(yy / 6.0))
    blue = 255 * ((xx + 2 * yy) / (width + 2 * height))
    return np.stack([red, green, blue], axis=-1)


def _tf_warp(image: np.ndarray, p: dict, height: int, width: int) -> np.ndarray:
    params = {
        "theta": tf.constant([p["theta"]], tf.float32),
        "tx": tf.constant([p["tx"] / height], tf.float32),  # IDG tx: rows in pixels; TF params: fraction of rows
        "ty": tf.constant([p["ty"] / width], tf.float32),
        "shear": tf.constant([p["shear"]], tf.float32),
        "zx": tf.constant([p["zx"]], tf.float32),
        "zy": tf.constant([p["zy"]], tf.float32),
        "flip": tf.constant([p["flip_horizontal"]]),
    }
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None],
        transforms=affine_transforms_tf(params, height, width),
        output_shape=[height, width],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="NEAREST",
    )
    return out.numpy()[0]


BASE = {"theta": 0.0, "tx": 0.0, "ty": 0.0, "shear": 0.0, "zx": 1.0, "zy": 1.0, "flip_horizontal": False}


@pytest.mark.parametrize(
    "params",
    [
        {"flip_horizontal": True},
        {"theta": 17.0},
        {"tx": 3.0, "ty": -5.0},
        {"zx": 1.2, "zy": 0.85},
        {"shear": 12.0},
        {"theta": -8.0, "tx": 2.0, "ty": 4.0, "shear": 5.0, "zx": 0.9, "zy": 1.1, "flip_horizontal": True},
    ],
    ids=["flip", "rotation", "shift", "zoom", "shear", "combined"],
)
def test_tf_warp_equals_imagedatagenerator_for_the_same_parameters(params: dict) -> None:
    image = _smooth_image()
    p = {**BASE, **params}
    spec = AugmentSpec(name="t")
    reference = ImageDataGenerator(fill_mode="nearest", interpolation_order=1).apply_transform(image, p)
    ours = _tf_warp(image, p, *image.shape[:2])
    assert np.abs(reference - image).mean() > 2.0  # the transform does something visible...
    assert np.abs(reference - ours).mean() < 1.0, spec  # ...and both renderings do the same thing


def test_same_spec_gives_the_same_output_statistics_in_both_pipelines() -> None:
    spec = AugmentSpec(
        name="s", rotation_deg=20, width_shift=0.1, height_shift=0.1, shear_deg=10, zoom=0.2, horizontal_flip=True
    )
    image = _smooth_image()
    draws = 300
    idg = ImageDataGenerator(**{**spec.idg_kwargs(), "preprocessing_function": None})
    np.random.seed(0)
    reference = np.stack([idg.random_transform(image) for _ in range(draws)])
    tf.random.set_seed(0)
    ours = spec.augment_batch(tf.constant(np.repeat(image[None], draws, axis=0))).numpy()
    # Per-pixel mean over draws, and the spread, agree within a few grey levels.
    assert np.abs(reference.mean(0) - ours.mean(0)).mean() < 4.0
    assert abs(reference.std(0).mean() - ours.std(0).mean()) < 4.0


def test_flips_really_flip_half_of_the_time() -> None:
    spec = AugmentSpec(name="flip", horizontal_flip=True)
    image = _smooth_image()
    out = spec.augment_batch(tf.constant(np.repeat(image[None], 400, axis=0))).numpy()
    flipped = np.isclose(out, image[:, ::-1], atol=1e-3).all(axis=(1, 2, 3))
    kept = np.isclose(out, image, atol=1e-3).all(axis=(1, 2, 3))
    assert (flipped | kept).all()
    assert 0.4 < flipped.mean() < 0.6


def test_sampled_ranges_match_imagedatagenerator() -> None:
    spec = AugmentSpec(name="r", zoom=0.2, shear_deg=10, rotation_deg=15)
    params = {k: v.numpy() for k, v in spec.random_affine_params(5000).items()}
    idg = ImageDataGenerator(**{**spec.idg_kwargs(), "preprocessing_function": None})
    np.random.seed(1)
    ref = [idg.get_random_transform((32, 32, 3)) for _ in range(5000)]
    for ours, key in ((params["zx"], "zx"), (params["shear"], "shear"), (params["theta"], "theta")):
        theirs = np.array([r[key] for r in ref])
        assert ours.min() >= theirs.min() - 0.02 * abs(theirs.min()) - 1e-6
        assert ours.max() <= theirs.max() + 0.02 * abs(theirs.max()) + 1e-6
        assert abs(ours.mean() - theirs.mean()) < 0.05 * (theirs.max() - theirs.min())
    assert params["zx"].min() >= 0.8 and params["zx"].max() <= 1.2


def test_spec_validation_and_idg_rendering() -> None:
    spec = get_workload("imagenette").augment
    kwargs = spec.idg_kwargs()
    assert (kwargs["shear_range"], kwargs["zoom_range"], kwargs["horizontal_flip"]) == (0.2, 0.2, True)
    assert spec.without_augmentation().preprocess == spec.preprocess and not spec.without_augmentation().has_warp
    with pytest.raises(ValueError, match="zoom"):
        AugmentSpec(name="bad", zoom=1.5)
    with pytest.raises(ValueError, match="preprocess"):
        AugmentSpec(name="bad", preprocess="imagenet-magic")


# ---- class folders and odd files ----------------------------------------------------------------------------
def _jpeg(path: Path, mode: str = "RGB", size: tuple[int, int] = (40, 30)) -> bytes:
    rng = np.random.default_rng(len(str(path)))
    channels = {"RGB": 3, "L": 1, "CMYK": 4}[mode]
    array = rng.integers(0, 255, (size[1], size[0], channels), dtype=np.uint8).squeeze()
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="JPEG")
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def _tree(root: Path, classes: tuple[str, ...] = ("a", "b"), per_class: int = 3) -> Path:
    for split in ("train", "val"):
        for name in classes:
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                _jpeg(root / split / name / f"{i}.jpg")
    return root


def test_odd_files_are_decoded_or_skipped_and_counted(tmp_path: Path) -> None:
    root = _tree(tmp_path / "tree")
    folder = root / "train" / "a"
    good = _jpeg(folder / "whole.jpg")
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (folder / "text.jpg").write_text("not an image")
    (folder / "README.txt").write_text("notes")
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(folder / "image.png")
    _jpeg(folder / "gray.jpg", mode="L")
    _jpeg(folder / "cmyk.jpg", mode="CMYK")
    scan = scan_class_folders(root / "train")
    names = {Path(p).name for p in scan.paths}
    assert {"image.png", "gray.jpg", "whole.jpg"} <= names
    assert not names & {"truncated.jpg", "text.jpg", "README.txt", "cmyk.jpg"}
    assert scan.skipped == {"truncated": 1, "not_an_image": 2, "cmyk": 1}
    data = load_folder_tree(DATASETS["imagenette"], root, kind="real")
    assert data.skipped_files == scan.skipped
    config = InputConfig(image_size=(24, 24), channels=3, augment=AugmentSpec(name="none"), batch_size=4)
    for pipeline in ("idg", "tfdata"):  # every kept file decodes to 3 channels in both
        batches = _batches(build_pipeline(pipeline).eval_data(data, config))
        assert sum(len(np.asarray(y)) for _, y in batches) == len(data.test)
        assert all(np.asarray(x).shape[-1] == 3 for x, _ in batches)
    gray_only = tmp_path / "gray"
    _tree(gray_only, per_class=1)
    for path in gray_only.rglob("*.jpg"):
        _jpeg(path, mode="L")
    gray_data = load_folder_tree(DATASETS["imagenette"], gray_only, "real")
    for pipeline in ("idg", "tfdata"):
        batch, _ = _batches(build_pipeline(pipeline).eval_data(gray_data, config))[0]
        assert np.asarray(batch).shape == (2, 24, 24, 3)


@pytest.mark.parametrize(
    "layout, message",
    [
        ("missing", "does not exist"),
        ("no_classes", "has no class folders"),
        ("empty_class", "has no readable images"),
        ("flat", "has no class folders"),
        ("val_differs", "classes differ"),
    ],
)
def test_bad_layouts_name_the_folder(tmp_path: Path, layout: str, message: str) -> None:
    root = tmp_path / "tree"
    if layout != "missing":
        _tree(root)
    if layout == "no_classes":
        for path in sorted((root / "train").rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
    if layout == "empty_class":
        (root / "train" / "c").mkdir()
    if layout == "flat":
        for path in (root / "train").rglob("*.jpg"):
            path.rename(root / "train" / f"{path.parent.name}-{path.name}")
        for folder in [p for p in (root / "train").iterdir() if p.is_dir()]:
            folder.rmdir()
    if layout == "val_differs":
        (root / "val" / "b").rename(root / "val" / "z")
    with pytest.raises(FolderLayoutError, match=message) as error:
        load_folder_tree(DATASETS["imagenette"], root, kind="real")
    assert str(root) in str(error.value)


def test_missing_data_dir_is_data_unavailable(tmp_path: Path) -> None:
    with pytest.raises(DataUnavailable, match=str(tmp_path / "nope")):
        load_dataset("imagenette", "folder", tmp_path / "nope")
    with pytest.raises(DataUnavailable, match="no mnist.npz"):
        load_dataset("mnist", "dir", tmp_path)


def test_generated_tree_is_written_once_and_reused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("IMGCLS_CACHE_DIR", str(tmp_path))
    monkeypatch.setitem(DATASETS, "imagenette", dataclasses.replace(DATASETS["imagenette"], generated_sizes=(2, 1)))
    first = load_dataset("imagenette", "generated")
    marker = next(tmp_path.glob("generated-imagenette-*/.complete"))
    stamp = marker.stat().st_mtime_ns
    second = load_dataset("imagenette", "generated")
    assert marker.stat().st_mtime_ns == stamp and first.train.paths == second.train.paths
    assert first.kind == "generated" and "generated" in first.source
    sizes = [Path(p).stat().st_size for p in first.train.paths]
    assert 10_000 < np.median(sizes) < 40_000  # photo-like JPEGs at 160 px, not noise, not flat


# ---- every workload through every pipeline, and learnability ----------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("workload", list_workloads())
@pytest.mark.parametrize("pipeline", TRAINING_PIPELINES)
def test_every_workload_runs_through_every_pipeline(
    workload, pipeline, mnist_tiny, cifar_tiny, imagenette_tiny, tmp_path
):
    data = {"mnist": mnist_tiny, "cifar10": cifar_tiny}.get(workload, imagenette_tiny)
    config = RunConfig(
        workload=workload,
        pipeline=pipeline,
        batch_size=8,
        steps_per_epoch=5,
        warmup_steps=2,
        pipeline_batches=3,
        stage_batches=2,
        ceiling_steps=4,
        limit_test=32,
        image_size={"imagenette": 40, "imagenette-vgg16": 32}.get(workload),
        weights="none" if workload == "imagenette-vgg16" else None,
    )
    record = run_and_record(config, tmp_path, data=data)
    assert record.status == "ok" and record.data_kind == "generated"
    assert record.augment_spec["name"] == "seed"
    assert record.train_images_per_sec > 0 and record.ceiling_images_per_sec > 0
    assert (record.val_accuracy is None) == (pipeline == "synthetic")


@pytest.mark.slow
@pytest.mark.parametrize("workload, n_train, epochs", [("mnist", 3000, 2), ("cifar10", 3000, 3)])
def test_generated_arrays_are_learnable(workload: str, n_train: int, epochs: int, tmp_path: Path) -> None:
    data = tiny_arrays(workload, n_train=n_train, n_test=500)
    record = run_and_record(
        RunConfig(
            workload=workload,
            pipeline="tfdata",
            epochs=epochs,
            batch_size=64,
            warmup_steps=2,
            pipeline_batches=3,
            stage_batches=0,
            ceiling_steps=0,
        ),
        tmp_path,
        data=data,
    )
    assert record.val_accuracy > 0.4, record.epoch_val_accuracy  # chance is 0.1


@pytest.mark.slow
def test_generated_jpegs_are_learnable(tmp_path: Path) -> None:
    from imgcls.data.generated import write_jpeg_tree

    root = write_jpeg_tree(
        tmp_path / "tree", {"train": 30, "val": 10}, DATASETS["imagenette"].class_names, shorter_side=48
    )
    data = load_folder_tree(DATASETS["imagenette"], root, kind="generated")
    record = run_and_record(
        RunConfig(
            workload="imagenette",
            pipeline="tfdata",
            image_size=48,
            epochs=4,
            batch_size=16,
            warmup_steps=2,
            pipeline_batches=3,
            stage_batches=0,
            ceiling_steps=0,
        ),
        tmp_path,
        data=data,
    )
    assert record.val_accuracy > 0.3, record.epoch_val_accuracy
