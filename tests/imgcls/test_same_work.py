"""Same work, proven on what the pipelines yield (not on the spec alone).

- Decode and resize: the unaugmented batches of every pipeline that reads files match ImageDataGenerator's within
  1 grey level on average, and the same check fails for a resize that is not antialiased, or nearest-neighbour.
- Augmentation: every pipeline under test augments -- two epochs of the same image differ with `--augment seed`
  and are identical with `--augment none` -- and its outputs follow the spec's distributions (flip rate, zoom and
  shear ranges), measured on a probe image whose pixels encode their own coordinates. The same measurement on the
  unaugmented pipeline fails the distribution checks, so they can fail.
- Every workload's own spec: its rotation, shifts (mnist and cifar10: 10%) and shear (imagenette: 0.2 degrees)
  reach their ranges and stay inside them, in every pipeline under test.
- tf.data service in `parallel_epochs` mode: N workers never send the same batch twice.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from imgcls import render_tf
from imgcls.augment import AugmentSpec
from imgcls.data import DATASETS, DataSet, Split, load_folder_tree
from imgcls.pipelines import CEILING, InputConfig, build_pipeline, get_pipeline_spec, workload_pipelines
from imgcls.workloads import get_workload
from tests.conftest import pipeline_param

UNDER_TEST = [name for name in workload_pipelines() if get_pipeline_spec(name).role != CEILING]
FILE_PIPELINES = UNDER_TEST


def _param(name: str):  # noqa: ANN202
    return pipeline_param(name)


def _build(name: str, **options):  # noqa: ANN003, ANN202
    if name == "tfdata-service":
        options.setdefault("service", "local:1")
    return build_pipeline(name, **options)


def _batches(pipeline, data: DataSet, config: InputConfig, count: int, train: bool = True) -> np.ndarray:  # noqa: ANN001
    stream = pipeline.train_data(data, config) if train else pipeline.eval_data(data, config)
    out = []
    try:
        for images, _ in stream:
            out.append(np.asarray(images, dtype=np.float64))
            if len(out) == count:
                break
    finally:
        pipeline.close()
    return np.concatenate(out)


# ---- decode and resize ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def textured_jpegs(tmp_path_factory: pytest.TempPathFactory) -> DataSet:
    """JPEGs larger than the model's size, with fine texture (where an antialiasing filter changes the result)."""
    root = tmp_path_factory.mktemp("textured") / "imagenette2-textured"
    rng = np.random.default_rng(4)
    classes = DATASETS["imagenette"].class_names[:2]
    for split in ("train", "val"):
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(4):
                yy, xx = np.mgrid[0:224, 0:300].astype(np.float64)
                smooth = 128 + 80 * np.sin(xx / (9 + i) + c) * np.cos(yy / 13)
                stripes = 60 * np.sign(np.sin(xx * 1.9 + yy * 0.7))  # near Nyquist: aliases without a low-pass
                image = np.stack([smooth + stripes, smooth - stripes, smooth + rng.normal(0, 20, smooth.shape)], -1)
                Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(folder / f"{i}.JPEG", quality=95)
    return load_folder_tree(DATASETS["imagenette"], root, kind="generated")


def _unaugmented(name: str, data: DataSet, size: int = 160) -> np.ndarray:
    spec = get_workload("imagenette").augment.without_augmentation()
    config = InputConfig(image_size=(size, size), channels=3, augment=spec, batch_size=4, seed=0)
    return _batches(_build(name), data, config, count=2, train=False) * 255.0


def grey_level_gap(name: str, data: DataSet) -> float:
    """Mean absolute difference, in grey levels, between `name`'s and ImageDataGenerator's unaugmented batches."""
    return float(np.abs(_unaugmented(name, data) - _unaugmented("idg", data)).mean())


@pytest.mark.parametrize("name", [_param(n) for n in FILE_PIPELINES if n != "idg"])
def test_pipelines_decode_and_resize_like_imagedatagenerator(name: str, textured_jpegs: DataSet) -> None:
    assert grey_level_gap(name, textured_jpegs) < 1.0


@pytest.mark.parametrize(
    "method, antialias",
    [("bilinear", False), ("nearest", False)],
    ids=["bilinear-without-antialias", "nearest"],
)
def test_the_resize_check_fails_on_cheaper_resizes(
    method: str, antialias: bool, textured_jpegs: DataSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cheaper(image: tf.Tensor, size: tuple[int, int], interpolation: str) -> tf.Tensor:
        out = tf.image.resize(image, size, method=method, antialias=antialias)
        return tf.cast(tf.clip_by_value(tf.round(out), 0, 255), tf.uint8)

    monkeypatch.setattr(render_tf, "resize", cheaper)
    assert grey_level_gap("tfdata", textured_jpegs) > 1.0


@pytest.mark.realdata
def test_tfdata_decodes_and_resizes_real_jpegs_like_imagedatagenerator(real_data_dir: Path) -> None:
    from imgcls.data import load_dataset

    data = load_dataset("imagenette", "dir", real_data_dir).limit(8, 64)
    assert grey_level_gap("tfdata", data) < 1.0


# ---- augmentation ----------------------------------------------------------------------------------------------
PROBE = 64  # probe images are stored at the model's size: no resize, only the warp under test
SHEAR_TOLERANCE_DEG = 0.03  # the fits read a shear to ~0.001 degrees; the smallest spec shear is 0.2
SHIFT_TOLERANCE_PX = 0.2  # and a shift to ~0.01 px (-0.06 px with none: a fixed half-level offset of the ramps)


def probe_image(size: int = PROBE) -> np.ndarray:
    """Channel 0 = column (x) ramp, channel 1 = row (y) ramp, channel 2 = a constant: pixels say where they came
    from, so a plane fit to an augmented image recovers its transform."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    return np.stack([255 * xx / (size - 1), 255 * yy / (size - 1), np.full_like(xx, 128)], -1).astype(np.uint8)


@pytest.fixture(scope="module")
def probe_files(tmp_path_factory: pytest.TempPathFactory) -> DataSet:
    """32 copies of the probe as lossless PNG files (one class folder per label the layout needs)."""
    root = tmp_path_factory.mktemp("probe") / "imagenette2-probe"
    classes = DATASETS["imagenette"].class_names[:2]
    for split in ("train", "val"):
        for name in classes:
            (root / split / name).mkdir(parents=True)
            for i in range(16):
                Image.fromarray(probe_image()).save(root / split / name / f"{i}.png")
    return load_folder_tree(DATASETS["imagenette"], root, kind="generated")


def probe_arrays() -> DataSet:
    images = np.repeat(probe_image(32)[None], 32, axis=0)
    labels = np.arange(32, dtype=np.int32) % 10
    split = Split(labels=labels, images=images)
    return DataSet("cifar10", "generated", "probe", DATASETS["cifar10"].class_names, split, split)


def fitted_transforms(images: np.ndarray) -> np.ndarray:
    """Per image `[a0, a1, b1]`: the input column/row each output pixel came from, fitted as planes on the
    central half (edges are clamped by the nearest fill). a0 < 0 is a flip, |a0| and b1 the zooms, a1 the shear."""
    n, size = len(images), images.shape[1]
    lo, hi = size // 4, 3 * size // 4
    yy, xx = np.mgrid[lo:hi, lo:hi].astype(np.float64)
    design = np.stack([xx.ravel(), yy.ravel(), np.ones(xx.size)], 1)
    scale = (size - 1) / 255.0
    fits = []
    for image in images:
        column = np.linalg.lstsq(design, image[lo:hi, lo:hi, 0].ravel() * scale, rcond=None)[0]
        row = np.linalg.lstsq(design, image[lo:hi, lo:hi, 1].ravel() * scale, rcond=None)[0]
        fits.append([column[0], column[1], row[1]])
    return np.array(fits).reshape(n, 3)


def check_spec_distribution(fits: np.ndarray, spec: AugmentSpec) -> None:
    """Flip rate, zoom and shear ranges of fitted transforms against the spec (imagenette's: zoom, shear, flip)."""
    flips = fits[:, 0] < 0
    assert abs(flips.mean() - 0.5) < 0.15, f"flip rate {flips.mean():.2f}"
    zoom_low, zoom_high = 1 - spec.zoom, 1 + spec.zoom
    for name, values in (("zoom x", np.abs(fits[:, 0])), ("zoom y", fits[:, 2])):
        assert values.min() > zoom_low - 0.02 and values.max() < zoom_high + 0.02, name  # inside the range
        assert values.min() < zoom_low + 0.08 and values.max() > zoom_high - 0.08, name  # and covering it
    # Without rotation the fitted map is [[a0, a1], [0, b1]] = shear(s) @ zoom: the angle between its columns,
    # arcsin(|a1| / hypot(a1, b1)), is the shear angle whatever the zooms and flip (exact to ~0.001 degrees).
    shears = np.degrees(np.arcsin(np.abs(fits[:, 1]) / np.hypot(fits[:, 1], fits[:, 2])))
    assert shears.max() < spec.shear_deg + SHEAR_TOLERANCE_DEG, f"shear {shears.max():.3f} beyond its range"
    if spec.shear_deg:
        assert shears.max() > 0.6 * spec.shear_deg, f"shear up to {shears.max():.3f} of {spec.shear_deg} degrees"


@pytest.mark.parametrize("name", [_param(n) for n in UNDER_TEST])
def test_every_pipeline_augments_from_the_spec_distribution(name: str, probe_files: DataSet) -> None:
    spec = get_workload("imagenette").augment
    config = InputConfig(image_size=(PROBE, PROBE), channels=3, augment=spec, batch_size=32, seed=3)
    fits = fitted_transforms(_batches(_build(name), probe_files, config, count=4) * 255.0)
    check_spec_distribution(fits, spec)


def test_the_distribution_check_fails_without_augmentation(probe_files: DataSet) -> None:
    spec = get_workload("imagenette").augment
    config = InputConfig(
        image_size=(PROBE, PROBE), channels=3, augment=spec.without_augmentation(), batch_size=32, seed=3
    )
    fits = fitted_transforms(_batches(_build("tfdata"), probe_files, config, count=2) * 255.0)
    np.testing.assert_allclose(fits[:, [0, 2]], 1.0, atol=5e-3)  # the fit reads an identity (uint8 ramps)
    with pytest.raises(AssertionError):
        check_spec_distribution(fits, spec)


@pytest.mark.parametrize("name", [_param(n) for n in UNDER_TEST])
@pytest.mark.parametrize("augment", ["seed", "none"])
def test_two_epochs_of_the_same_images_differ_only_when_augmented(name: str, augment: str) -> None:
    """32 copies of one image, batch 32: each batch is one epoch of the same image."""
    workload = get_workload("cifar10")
    spec = workload.augment_spec(augment)
    config = InputConfig(image_size=(32, 32), channels=3, augment=spec, batch_size=32, seed=1)
    batches = _batches(_build(name), probe_arrays(), config, count=2).reshape(2, 32, 32, 32, 3)
    epoch_gap = np.abs(batches[0] - batches[1]).mean() * 255
    within_gap = np.abs(batches[0] - batches[0][:1]).mean() * 255
    if augment == "seed":
        assert epoch_gap > 1.0 and within_gap > 1.0
    else:
        assert epoch_gap == 0.0 and within_gap == 0.0


@pytest.mark.parametrize(("cache_at", "fresh"), [("decode", True), ("augment", False)])
def test_a_memory_cache_at_decode_keeps_augmentation_fresh_each_epoch(cache_at: str, fresh: bool) -> None:
    """`--cache memory` (at decode, what `bench cache` measures) holds decoded images, so every epoch is augmented
    afresh; at `augment` the cache freezes the first epoch's augmentation -- the trade-off the knob names."""
    spec = get_workload("cifar10").augment_spec("seed")
    config = InputConfig(image_size=(32, 32), channels=3, augment=spec, batch_size=32, seed=1)
    pipeline = build_pipeline("tfdata", cache="memory", cache_at=cache_at)
    batches = _batches(pipeline, probe_arrays(), config, count=2).reshape(2, 32, 32, 32, 3)
    epoch_gap = np.abs(batches[0] - batches[1]).mean() * 255
    assert (epoch_gap > 1.0) if fresh else (epoch_gap == 0.0)


def test_a_memory_cache_at_decode_reshuffles_every_epoch() -> None:
    from tests.conftest import tiny_arrays

    data = tiny_arrays("mnist", n_train=256, n_test=32)
    config = InputConfig(image_size=(28, 28), channels=1, augment=get_workload("mnist").augment_spec("none"),
                         batch_size=256, seed=0)  # fmt: skip
    epochs = [labels.numpy() for _, labels in build_pipeline("tfdata", cache="memory").train_data(data, config).take(2)]
    assert sorted(epochs[0]) == sorted(epochs[1]) and list(epochs[0]) != list(epochs[1])


# ---- tf.data service -------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("augment", ["seed", "none"])
def test_service_workers_in_parallel_epochs_never_send_the_same_batch(augment: str) -> None:
    from tests.conftest import tiny_arrays

    data = tiny_arrays("cifar10", n_train=256, n_test=32)
    spec = get_workload("cifar10").augment_spec(augment)
    config = InputConfig(image_size=(32, 32), channels=3, augment=spec, batch_size=32, seed=0)
    pipeline = build_pipeline("tfdata-service", service="local:2", processing_mode="parallel_epochs")
    batches = _batches(pipeline, data, config, count=24)
    digests = [hashlib.sha1(b.tobytes()).hexdigest() for b in batches.reshape(24, -1)]
    assert len(set(digests)) == len(digests), "two workers sent the same batch"


# ---- every workload's spec, and the device rendering ---------------------------------------------------------
def fitted_rotations_deg(images: np.ndarray) -> np.ndarray:
    """Per image, the rotation of its fitted linear map (column 0 of `R(theta) @ diag(zx, zy)`): exact for a spec
    without shear, whatever its zooms and shifts."""
    size = images.shape[1]
    lo, hi = size // 4, 3 * size // 4
    yy, xx = np.mgrid[lo:hi, lo:hi].astype(np.float64)
    design = np.stack([xx.ravel(), yy.ravel(), np.ones(xx.size)], 1)
    scale = (size - 1) / 255.0
    angles = []
    for image in images:
        column = np.linalg.lstsq(design, image[lo:hi, lo:hi, 0].ravel() * scale, rcond=None)[0]
        row = np.linalg.lstsq(design, image[lo:hi, lo:hi, 1].ravel() * scale, rcond=None)[0]
        angles.append(np.degrees(np.arctan2(row[0], column[0])))
    return np.array(angles)


@pytest.mark.parametrize("workload", [w for w in ("mnist", "cifar10", "imagenette", "imagenette-vgg16")])
@pytest.mark.parametrize("name", ["idg", "tfdata", _param("dali")])
def test_every_workloads_spec_is_rendered_with_its_rotation(workload: str, name: str) -> None:
    """The probe through each workload's own spec (not only imagenette's): its rotation range is covered and never
    exceeded (a rendering that dropped rotation passed every test), and with no rotation in the spec there is none.
    Value preprocessing is left out (the probe's pixels are coordinates)."""
    import dataclasses

    spec = dataclasses.replace(get_workload(workload).augment, preprocess="unit", horizontal_flip=False)
    spec = dataclasses.replace(spec, shear_deg=0.0)  # rotation is read exactly without shear (checked apart)
    config = InputConfig(image_size=(32, 32), channels=3, augment=spec, batch_size=32, seed=5)
    angles = fitted_rotations_deg(_batches(_build(name), probe_arrays(), config, count=4) * 255.0)
    if spec.rotation_deg:
        assert np.abs(angles).max() < spec.rotation_deg + 0.5 and np.abs(angles).max() > 0.8 * spec.rotation_deg
        assert (angles > 0).mean() > 0.3 and (angles < 0).mean() > 0.3  # both directions
    else:
        assert np.abs(angles).max() < 0.5


def fitted_maps(images: np.ndarray) -> np.ndarray:
    """Per image the fitted affine map from output pixel (x, y) to the input (column, row) it came from, as the
    2x3 matrix `[[a0, a1, c], [b0, b1, d]]`, fitted on the central third: mnist's 10 degrees, 1.1 zoom and 10%
    shift take the central half's corners past the probe's edge, where the nearest fill would bend the fit."""
    size = images.shape[1]
    lo, hi = size // 3, size - size // 3
    yy, xx = np.mgrid[lo:hi, lo:hi].astype(np.float64)
    design = np.stack([xx.ravel(), yy.ravel(), np.ones(xx.size)], 1)
    scale = (size - 1) / 255.0
    rows = [
        [np.linalg.lstsq(design, image[lo:hi, lo:hi, c].ravel() * scale, rcond=None)[0] for c in (0, 1)]
        for image in images
    ]
    return np.array(rows)


def fitted_shifts_px(maps: np.ndarray, size: int) -> np.ndarray:
    """Per image the shift `(tx, ty)` in pixels. IDG's map is `centre + R(theta) @ (t + shear @ zoom @ (p -
    centre))`, then the flip about the centre: the centre pixel comes from `centre + R(theta) @ t`, so the shift is
    that displacement turned back by the rotation, read as the angle of the map's first column (negated by a
    flip: the determinant's sign)."""
    centre = (size - 1) / 2
    moved = maps @ np.array([centre, centre, 1.0]) - centre
    flip = np.sign(np.linalg.det(maps[:, :, :2]))
    theta = np.arctan2(flip * maps[:, 1, 0], flip * maps[:, 0, 0])
    cos, sin = np.cos(theta), np.sin(theta)
    return np.stack([cos * moved[:, 0] + sin * moved[:, 1], -sin * moved[:, 0] + cos * moved[:, 1]], 1)


def fitted_shears_deg(maps: np.ndarray) -> np.ndarray:
    """Per image the shear angle of the fitted linear map `R(theta) @ shear(s) @ diag(zx, zy)` (IDG's order): the
    angle between its columns is 90 - s degrees, whatever the rotation, zooms and flip."""
    first, second = maps[:, :, 0], maps[:, :, 1]
    cosine = np.abs((first * second).sum(1)) / (np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1))
    return np.degrees(np.arcsin(np.clip(cosine, 0.0, 1.0)))


def check_shift_and_shear(maps: np.ndarray, spec: AugmentSpec, size: int) -> None:
    """Each axis's shift covers [-s, s] of the image (both signs) and never leaves it; the shear angle reaches
    the spec's and never passes it (none in the spec: none), the upper bound read where the spec does not rotate
    (no workload both rotates and shears)."""
    shifts = fitted_shifts_px(maps, size)
    for axis, limit in (("x", spec.width_shift), ("y", spec.height_shift)):
        values = shifts[:, 0 if axis == "x" else 1]
        assert np.abs(values).max() < limit * size + SHIFT_TOLERANCE_PX, f"{axis} shift {np.abs(values).max():.2f}"
        if limit:
            assert values.min() < -0.7 * limit * size and values.max() > 0.7 * limit * size, (
                f"{axis} shift in [{values.min():.2f}, {values.max():.2f}] px, spec +-{limit * size:.2f}"
            )
    shears = fitted_shears_deg(maps)
    if not spec.rotation_deg:  # rotated, the uint8 ramps sampled off their grid read a shear to ~0.1 degree only
        assert shears.max() < spec.shear_deg + SHEAR_TOLERANCE_DEG, f"shear {shears.max():.3f} degrees"
    if spec.shear_deg:
        assert shears.max() > 0.6 * spec.shear_deg, f"shear up to {shears.max():.3f} of {spec.shear_deg} degrees"


@pytest.mark.parametrize("workload", ["mnist", "cifar10", "imagenette", "imagenette-vgg16"])
@pytest.mark.parametrize("name", [_param(n) for n in UNDER_TEST])
def test_every_workloads_spec_is_rendered_with_its_shift_and_shear(workload: str, name: str) -> None:
    """The probe through each workload's own spec, flips and all: mnist's and cifar10's 10% shifts, imagenette's
    0.2 degree shear (IDG's `shear_range` is in degrees: tan(0.2 deg) = 0.0035, far under what a look at an image
    shows, yet read to ~0.001 degrees from the probe's exact ramps). A rendering that dropped either passed
    every test before. Value preprocessing is left out (the probe's pixels are coordinates)."""
    spec = dataclasses_replace(get_workload(workload).augment, preprocess="unit")
    config = InputConfig(image_size=(32, 32), channels=3, augment=spec, batch_size=32, seed=5)
    maps = fitted_maps(_batches(_build(name), probe_arrays(), config, count=4) * 255.0)
    check_shift_and_shear(maps, spec, size=32)


@pytest.mark.parametrize("workload", ["cifar10", "imagenette"])
def test_the_shift_and_shear_check_fails_when_the_spec_is_not_rendered(workload: str) -> None:
    spec = dataclasses_replace(get_workload(workload).augment, preprocess="unit")
    config = InputConfig(image_size=(32, 32), channels=3, augment=spec.without_augmentation(), batch_size=32, seed=5)
    maps = fitted_maps(_batches(_build("tfdata"), probe_arrays(), config, count=2) * 255.0)
    with pytest.raises(AssertionError):
        check_shift_and_shear(maps, spec, size=32)


@pytest.mark.parametrize("training, augmented", [(True, True), (False, False)])
def test_device_augmentation_follows_the_spec_distribution(training: bool, augmented: bool) -> None:
    """`--augment-on device` headlines (the @device rows) rest on the model-side warp doing the spec's work: the
    same distribution check as the host pipelines; evaluation (training=False) is not augmented."""
    import keras

    from imgcls.augment_layer import DeviceAugmentation

    spec = get_workload("imagenette").augment
    layer = DeviceAugmentation(dataclasses_replace(spec, preprocess="unit"), size=(PROBE, PROBE), seed=3)
    images = np.repeat(probe_image()[None], 128, axis=0)
    out = keras.ops.convert_to_numpy(layer(images, training=training)) * 255.0
    fits = fitted_transforms(out.astype(np.float64))
    if augmented:
        check_spec_distribution(fits, spec)
    else:
        np.testing.assert_allclose(fits[:, [0, 2]], 1.0, atol=5e-3)


def dataclasses_replace(spec: AugmentSpec, **changes: object) -> AugmentSpec:
    import dataclasses

    return dataclasses.replace(spec, **changes)
