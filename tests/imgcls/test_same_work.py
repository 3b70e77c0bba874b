"""Same work, proven on what the pipelines yield (not on the spec alone).

- Decode and resize: the unaugmented batches of every pipeline that reads files match ImageDataGenerator's within
  1 grey level on average, and the same check fails for a resize that is not antialiased, or nearest-neighbour.
- Augmentation: every pipeline under test augments -- two epochs of the same image differ with `--augment seed`
  and are identical with `--augment none` -- and its outputs follow the spec's distributions (flip rate, zoom and
  shear ranges), measured on a probe image whose pixels encode their own coordinates. The same measurement on the
  unaugmented pipeline fails the distribution checks, so they can fail.
- Every workload's own spec, in every registered pipeline that renders it: flip rate, zooms (each inside its range,
  covering it, drawn apart as IDG draws them), rotation (mnist: 10 degrees), shifts (mnist and cifar10: 10%) and
  shear (imagenette: 0.2 degrees); ImageNet's RandomResizedCrop (area, aspect, inside the image, flip, drawn afresh
  every epoch). Each check fails on a pipeline that does not render the spec. A difference known in code this
  suite does not own is an expected failure of that one check (`KNOWN_DIFFERENCES`, strict).
- The model an `--augment-on device` run trains (built by the runner) warps in training only.
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
from imgcls.workloads import get_workload, list_workloads
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
def fitted_maps(images: np.ndarray, border: int | None = None) -> np.ndarray:
    """Per image the fitted affine map from output pixel (x, y) to the input (column, row) it came from, as the
    2x3 matrix `[[a0, a1, c], [b0, b1, d]]`, fitted on the central third: mnist's 10 degrees, 1.1 zoom and 10%
    shift take the central half's corners past the probe's edge, where the nearest fill would bend the fit. A
    crop never reaches past the image, so it is fitted on all but a `border` (a wider span: edges to ~0.1 px)."""
    size = images.shape[1]
    lo = size // 3 if border is None else border
    hi = size - lo
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


ZOOM_TOLERANCE = 0.03  # a column's length read from the 32 px probe's central third (uint8 ramps)
ROTATION_TOLERANCE_DEG = 0.5


def fitted_flips(maps: np.ndarray) -> np.ndarray:
    """Per image, whether its map mirrors (a negative determinant): the horizontal flip, whatever else it does."""
    return np.linalg.det(maps[:, :, :2]) < 0


def fitted_zooms(maps: np.ndarray) -> np.ndarray:
    """Per image the two zooms: the lengths of the linear map's columns. IDG's `R(theta) @ shear(s) @ diag(zx, zy)`
    keeps each zoom as one column's length (the rotation turns both, the shear only tilts one, a flip negates
    one), so they are read exactly whatever else the spec does."""
    return np.linalg.norm(maps[:, :, :2], axis=1)


def fitted_rotations_deg(maps: np.ndarray) -> np.ndarray:
    """Per image the rotation: the angle of the map's first column, turned back by a flip (the determinant's
    sign). Exact for a spec without shear; with one, within the shear angle."""
    flip = np.sign(np.linalg.det(maps[:, :, :2]))
    return np.degrees(np.arctan2(flip * maps[:, 1, 0], flip * maps[:, 0, 0]))


def check_flip(maps: np.ndarray, spec: AugmentSpec) -> None:
    flips = fitted_flips(maps)
    if spec.horizontal_flip:
        assert abs(flips.mean() - 0.5) < 0.15, f"flip rate {flips.mean():.2f}, spec 0.5"
    else:
        assert not flips.any(), f"{flips.sum()} of {len(flips)} images flipped; the spec flips none"


def check_zoom_and_rotation(maps: np.ndarray, spec: AugmentSpec) -> None:
    """Each zoom inside [1 - z, 1 + z] and covering it (none in the spec: 1); the rotation inside +-r, reaching
    it, both ways (none in the spec: none)."""
    zooms = fitted_zooms(maps)
    low, high = 1 - spec.zoom, 1 + spec.zoom
    for axis, values in (("x", zooms[:, 0]), ("y", zooms[:, 1])):
        span = f"zoom {axis} in [{values.min():.3f}, {values.max():.3f}], spec [{low:.2f}, {high:.2f}]"
        assert values.min() > low - ZOOM_TOLERANCE and values.max() < high + ZOOM_TOLERANCE, span
        if spec.zoom:
            assert values.min() < low + 0.08 and values.max() > high - 0.08, span
    angles = fitted_rotations_deg(maps)
    top = np.abs(angles).max()
    assert top < spec.rotation_deg + max(spec.shear_deg, ROTATION_TOLERANCE_DEG), f"rotation up to {top:.2f} degrees"
    if spec.rotation_deg:
        assert top > 0.8 * spec.rotation_deg, f"rotation only up to {top:.2f} of {spec.rotation_deg} degrees"
        assert (angles > 0).mean() > 0.3 and (angles < 0).mean() > 0.3, "rotation one way only"


class ZoomsNotIndependent(AssertionError):
    """The x and y zooms move together, where IDG draws each from the zoom range on its own."""


def check_zooms_independent(maps: np.ndarray, spec: AugmentSpec) -> None:
    """IDG draws `zx` and `zy` apart (`np.random.uniform(1 - z, 1 + z, 2)`): a rendering with one isotropic zoom
    never changes an image's aspect, which IDG does."""
    if spec.zoom:
        zooms = fitted_zooms(maps)
        correlation = np.corrcoef(zooms[:, 0], zooms[:, 1])[0, 1]
        if abs(correlation) > 0.4:
            raise ZoomsNotIndependent(f"x and y zooms correlate {correlation:.2f}; IDG draws them independently")


def check_rendered_spec(maps: np.ndarray, spec: AugmentSpec, size: int) -> None:
    """Everything a warp spec asks for, read from fitted maps: flip rate, zooms, rotation, shifts, shear, and
    (last, so a known difference there never hides another) the zooms' independence."""
    check_flip(maps, spec)
    check_zoom_and_rotation(maps, spec)
    check_shift_and_shear(maps, spec, size)
    check_zooms_independent(maps, spec)


# Renderings known to differ from the spec's distribution, in code this suite does not own: each is an expected
# failure of that one check (strict: the fix fails the run until its entry goes; any other check still fails).
KNOWN_DIFFERENCES = {
    "torch": (
        lambda spec: spec.zoom > 0,
        ZoomsNotIndependent,
        "torch: v2.RandomAffine draws one isotropic scale, so x and y zooms are equal (IDG draws them apart)",
    ),
}


def _unit(workload: str) -> AugmentSpec:
    """The workload's own spec with value preprocessing left out (the probe's pixels are coordinates)."""
    return dataclasses_replace(get_workload(workload).augment, preprocess="unit")


WARP_WORKLOADS = [w for w in list_workloads() if not get_workload(w).augment.has_crop]
CROP_WORKLOADS = [w for w in list_workloads() if get_workload(w).augment.has_crop]


def _renderers(workload: str, own_recipes: bool = False) -> list:
    """Every registered pipeline under test that renders this workload's spec, as `workload-pipeline` parameters
    (an uninstalled loader skips, saying what to install); `own_recipes`: also those that render its crops in a
    recipe of their own (else they skip, saying so)."""
    params = []
    for name in workload_pipelines(get_workload(workload).augment):
        spec = get_pipeline_spec(name)
        if spec.role == CEILING:
            continue
        marks = list(_param(name).marks)
        if not own_recipes and getattr(spec, "crop_only", False):  # keras-layers: a RandomCrop of a 256 px resize
            marks.append(pytest.mark.skip(reason=f"{name} renders ImageNet's crops in a recipe of its own"))
        applies, raises, reason = KNOWN_DIFFERENCES.get(name, (lambda _: False, None, ""))
        if applies(get_workload(workload).augment):
            marks.append(pytest.mark.xfail(raises=raises, strict=True, reason=reason))
        params.append(pytest.param(workload, name, marks=marks, id=f"{workload}-{name}"))
    return params


@pytest.mark.parametrize(("workload", "name"), [p for w in WARP_WORKLOADS for p in _renderers(w)])
def test_every_workloads_spec_is_rendered_from_its_distribution(workload: str, name: str) -> None:
    """The probe through each workload's own spec in every pipeline that renders it, flips and all: mnist's
    rotation, shifts and zoom, cifar10's shifts and flip, imagenette's shear (IDG's `shear_range` is in degrees:
    tan(0.2 deg) = 0.0035, read to ~0.001 degrees from the probe's exact ramps), zoom and flip. A rendering that
    dropped rotation or shear, or a spec checked on some pipelines only, passed every test before."""
    spec = _unit(workload)
    config = InputConfig(image_size=(32, 32), channels=3, augment=spec, batch_size=32, seed=5)
    maps = fitted_maps(_batches(_build(name), probe_arrays(), config, count=4) * 255.0)
    check_rendered_spec(maps, spec, size=32)


@pytest.mark.parametrize("workload", WARP_WORKLOADS)
def test_the_distribution_checks_fail_when_the_spec_is_not_rendered(workload: str) -> None:
    spec = _unit(workload)
    config = InputConfig(image_size=(32, 32), channels=3, augment=spec.without_augmentation(), batch_size=32, seed=5)
    maps = fitted_maps(_batches(_build("tfdata"), probe_arrays(), config, count=2) * 255.0)
    with pytest.raises(AssertionError):
        check_rendered_spec(maps, spec, size=32)


def check_crops(maps: np.ndarray, spec: AugmentSpec, size: int) -> None:
    """A random resized crop of a `size` image resized back to `size`: the map's x and y slopes are the crop's
    width and height fractions, so their product is its area fraction and their ratio its aspect; each crop
    lies inside the image, and the flip goes with it."""
    check_flip(maps, spec)
    width, height = np.abs(maps[:, 0, 0]), maps[:, 1, 1]
    area, aspect = width * height, width / height
    (low, high), (narrow, wide) = spec.crop_scale, spec.crop_ratio
    assert area.min() > low - 0.02 and area.max() < high + 0.02, f"area in [{area.min():.3f}, {area.max():.3f}]"
    assert area.min() < low + 0.12 and area.max() > 0.7 * high, f"area only [{area.min():.3f}, {area.max():.3f}]"
    span = f"aspect in [{aspect.min():.3f}, {aspect.max():.3f}]"
    assert aspect.min() > narrow - 0.05 and aspect.max() < wide + 0.05, span
    assert aspect.min() < 0.9 and aspect.max() > 1.1, span
    edges = np.stack([maps[:, 0] @ np.array([x, (size - 1) / 2, 1.0]) for x in (-0.5, size - 0.5)], 1)
    assert edges.min() > -0.5 - 0.3 and edges.max() < size - 0.5 + 0.3, "a crop reaches outside the image"


@pytest.mark.parametrize(("workload", "name"), [p for w in CROP_WORKLOADS for p in _renderers(w)])
def test_every_crop_spec_is_rendered_from_its_distribution(workload: str, name: str, probe_files: DataSet) -> None:
    """ImageNet's RandomResizedCrop (area 8-100%, aspect 3/4-4/3) and flip, read from what each pipeline that
    renders it yields for probe files (crops are taken at decode)."""
    spec = _unit(workload)
    config = InputConfig(image_size=(PROBE, PROBE), channels=3, augment=spec, batch_size=32, seed=5)
    maps = fitted_maps(_batches(_build(name), probe_files, config, count=4) * 255.0, border=2)
    check_crops(maps, spec, size=PROBE)


@pytest.mark.parametrize(("workload", "name"), [p for w in CROP_WORKLOADS for p in _renderers(w, own_recipes=True)])
def test_every_epoch_draws_its_crops_afresh(workload: str, name: str, probe_files: DataSet) -> None:
    """32 copies of one probe, batch 32: each batch is one epoch, and its crops must not be the last epoch's
    crops again in another order (the docstring of tf.data's training graph says every epoch is augmented
    afresh)."""
    spec = _unit(workload)
    config = InputConfig(image_size=(PROBE, PROBE), channels=3, augment=spec, batch_size=32, seed=5)
    maps = fitted_maps(_batches(_build(name), probe_files, config, count=2) * 255.0, border=2)
    epochs = [np.unique(np.round(m.reshape(len(m), -1), 2), axis=0) for m in (maps[:32], maps[32:])]
    assert len(epochs[0]) > 16, f"only {len(epochs[0])} distinct crops in an epoch of 32"
    assert not (epochs[0].shape == epochs[1].shape and np.allclose(epochs[0], epochs[1], atol=0.05)), (
        "the second epoch drew exactly the first epoch's crops"
    )


@pytest.mark.parametrize("workload", CROP_WORKLOADS)
def test_the_crop_check_fails_when_the_crop_is_not_rendered(workload: str, probe_files: DataSet) -> None:
    spec = _unit(workload)
    off = dataclasses_replace(spec.without_augmentation(), eval_center_crop=None)
    config = InputConfig(image_size=(PROBE, PROBE), channels=3, augment=off, batch_size=32, seed=5)
    maps = fitted_maps(_batches(_build("tfdata"), probe_files, config, count=2) * 255.0, border=2)
    with pytest.raises(AssertionError):
        check_crops(maps, spec, size=PROBE)


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


class _ModelBuilt(Exception):
    """Raised in place of training: the model a run built is all the wiring test needs."""


def device_run_model(monkeypatch: pytest.MonkeyPatch, data: DataSet, workload: str = "imagenette"):  # noqa: ANN201
    """The model an `--augment-on device` run trains, built by the runner itself (`execute`), caught where it is
    handed to training (no step runs)."""
    from bench.run import measurements
    from bench.run.runner import execute, new_record
    from tests.conftest import tiny_config

    built = {}

    def caught(model, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        built["model"] = model
        raise _ModelBuilt

    monkeypatch.setattr(measurements, "train", caught)
    config = tiny_config(workload, augment_on="device", image_size=PROBE, ceiling_steps=0, seed=3)
    with pytest.raises(_ModelBuilt):
        execute(config, new_record(config), data=data)
    return built["model"]


def test_a_device_augmentation_run_trains_a_model_that_warps_in_training_only(
    monkeypatch: pytest.MonkeyPatch, probe_files: DataSet
) -> None:
    """The @device headlines rest on the model the runner builds, not on the layer alone: its input layer, as the
    model calls it, warps each training call afresh from the spec's distribution (flip rate, zoom, shear), and
    leaves evaluation alone. A runner that handed the layer `spec.without_augmentation()`, or a model that pinned
    it to `training=False` (a wrapper; a flag written into a functional call is overridden by the outer call's in
    Keras 3), passed every test before."""
    import keras

    model = device_run_model(monkeypatch, probe_files)
    front = keras.Model(model.input, model.get_layer("device_augmentation").output)  # as the model calls it
    images = np.repeat(probe_image()[None], 128, axis=0)

    def through(training: bool) -> np.ndarray:
        return keras.ops.convert_to_numpy(front(images, training=training)).astype(np.float64) * 255.0

    first, second = through(training=True), through(training=True)
    check_spec_distribution(fitted_transforms(first), get_workload("imagenette").augment)
    assert np.abs(first - second).mean() > 1.0, "two training calls warped the same way"
    evaluated = through(training=False)
    np.testing.assert_allclose(fitted_transforms(evaluated)[:, [0, 2]], 1.0, atol=5e-3)  # no warp at inference
    assert np.abs(evaluated - through(training=False)).max() == 0.0


def dataclasses_replace(spec: AugmentSpec, **changes: object) -> AugmentSpec:
    import dataclasses

    return dataclasses.replace(spec, **changes)
