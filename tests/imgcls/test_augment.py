"""One AugmentSpec, two renderings: ImageDataGenerator keyword arguments (idg) and a TF projective warp (tfdata).

The reference is always the real Keras `ImageDataGenerator`; the TF side is `affine_transforms` fed to
`ImageProjectiveTransformV3`, and `render_tf.augment` (which takes the row warp for rotation-free matrices). Images
are smooth, non-symmetric and non-square (so a transposed matrix, a wrong centre or a swapped shift would show).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
from keras.src.legacy.preprocessing.image import ImageDataGenerator
from scipy import stats

from imgcls import render_tf
from imgcls.augment import PREPROCESSORS, AugmentSpec, affine_transforms
from imgcls.workloads import get_workload, list_workloads

HEIGHT, WIDTH = 40, 56  # non-square on purpose: IDG's centring quirk and the tx/ty scaling only show here


def smooth_image(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A smooth RGB image in [0, 255] with no mirror or rotational symmetry."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    red = 255.0 * (xx / (width - 1)) ** 1.3  # left-right ramp: a flip or horizontal shift changes it
    green = 127.5 + 127.5 * np.sin(yy / 5.0 + xx / 17.0)
    blue = 255.0 * ((xx + 2.0 * yy) / (width - 1 + 2.0 * (height - 1))) ** 2
    return np.stack([red, green, blue], axis=-1).astype(np.float32)


def gradient_image(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """Channel 0 = column ramp, channel 1 = row ramp: their means track horizontal and vertical motion."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([255.0 * xx / (width - 1), 255.0 * yy / (height - 1), 128.0 + 0.0 * xx], axis=-1)


def idg_without_preprocessing(spec: AugmentSpec) -> ImageDataGenerator:
    kwargs = spec.idg_kwargs()
    kwargs.pop("preprocessing_function")
    return ImageDataGenerator(**kwargs)


IDENTITY = {"theta": 0.0, "tx": 0.0, "ty": 0.0, "shear": 0.0, "zx": 1.0, "zy": 1.0, "flip_horizontal": False}


def tf_warp(images: np.ndarray, idg_params: dict) -> np.ndarray:
    """The TF rendering of IDG's `apply_transform` parameters, on a batch `[n, H, W, C]`."""
    height, width = images.shape[1:3]
    n = len(images)
    params = {
        "theta": tf.fill([n], float(idg_params["theta"])),  # degrees, as IDG
        "tx": tf.fill([n], float(idg_params["tx"]) / height),  # IDG: pixels, scaled by rows; TF: fraction of rows
        "ty": tf.fill([n], float(idg_params["ty"]) / width),  # IDG: pixels, scaled by cols; TF: fraction of cols
        "shear": tf.fill([n], float(idg_params["shear"])),  # degrees
        "zx": tf.fill([n], float(idg_params["zx"])),
        "zy": tf.fill([n], float(idg_params["zy"])),
        "flip": tf.fill([n], bool(idg_params["flip_horizontal"])),
    }
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.constant(images, tf.float32),
        transforms=affine_transforms(params, height, width),
        output_shape=[height, width],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="NEAREST",
    )
    return out.numpy()


# ---- a. exactness for fixed parameters ------------------------------------------------------------------------
FIXED_CASES = {
    "flip": {"flip_horizontal": True},
    "rotation": {"theta": 17.0},
    "rotation_large_negative": {"theta": -70.0},
    "shift": {"tx": 3.0, "ty": -5.0},
    "shift_fractional": {"tx": -6.5, "ty": 2.25},
    "zoom_in_out": {"zx": 1.2, "zy": 0.85},
    "zoom_uniform": {"zx": 0.75, "zy": 0.75},
    "shear": {"shear": 12.0},
    "shear_negative": {"shear": -25.0},
    "combined": {"theta": -8.0, "tx": 2.0, "ty": 4.0, "shear": 5.0, "zx": 0.9, "zy": 1.1, "flip_horizontal": True},
    "combined_strong": {
        "theta": 25.0,
        "tx": -4.0,
        "ty": 6.0,
        "shear": -10.0,
        "zx": 1.15,
        "zy": 0.8,
        "flip_horizontal": True,
    },
}


@pytest.mark.parametrize("shape", [(HEIGHT, WIDTH), (WIDTH, HEIGHT), (33, 33)], ids=["wide", "tall", "square"])
@pytest.mark.parametrize("case", list(FIXED_CASES), ids=list(FIXED_CASES))
def test_tf_warp_matches_imagedatagenerator_for_fixed_parameters(case: str, shape: tuple[int, int]) -> None:
    image = smooth_image(*shape)
    params = {**IDENTITY, **FIXED_CASES[case]}
    spec = AugmentSpec(name="fixed")  # the ranges do not matter to apply_transform; fill and order do
    reference = idg_without_preprocessing(spec).apply_transform(image, params)
    ours = tf_warp(image[None], params)[0]
    assert reference.shape == ours.shape == image.shape
    # The transform does something visible (so agreement is not the identity agreeing with itself)...
    assert np.abs(reference - image).mean() > 3.0
    # ...and both renderings do the same thing, to well under a grey level.
    assert np.abs(reference - ours).mean() < 0.5, case
    assert np.abs(reference - ours).max() < 8.0, case


def test_each_fixed_case_differs_from_the_others() -> None:
    """Guards the exactness test: if a parameter were silently ignored, two cases would render the same."""
    image = smooth_image()
    idg = idg_without_preprocessing(AugmentSpec(name="fixed"))
    rendered = {k: idg.apply_transform(image, {**IDENTITY, **v}) for k, v in FIXED_CASES.items()}
    names = list(rendered)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.abs(rendered[a] - rendered[b]).mean() > 1.0, (a, b)


def test_flip_is_a_mirror_and_idg_flips_after_the_warp() -> None:
    """IDG applies the warp, then mirrors; composing them in the other order gives a different image."""
    image = smooth_image()
    shifted = {**IDENTITY, "tx": 5.0, "theta": 10.0}
    idg = idg_without_preprocessing(AugmentSpec(name="f"))
    warped = idg.apply_transform(image, shifted)
    warped_then_flipped = idg.apply_transform(image, {**shifted, "flip_horizontal": True})
    np.testing.assert_allclose(warped_then_flipped, warped[:, ::-1], atol=1e-4)
    flipped_then_warped = idg.apply_transform(image[:, ::-1].copy(), shifted)
    assert np.abs(flipped_then_warped - warped_then_flipped).mean() > 3.0  # order matters: the test can tell
    ours = tf_warp(image[None], {**shifted, "flip_horizontal": True})[0]
    assert np.abs(ours - warped_then_flipped).mean() < 0.5
    np.testing.assert_allclose(
        tf_warp(image[None], {**IDENTITY, "flip_horizontal": True})[0], image[:, ::-1], atol=1e-3
    )


def test_identity_parameters_leave_the_image_unchanged() -> None:
    image = smooth_image()
    np.testing.assert_allclose(tf_warp(image[None], IDENTITY)[0], image, atol=1e-3)


def test_single_channel_and_batched_warps_match_idg() -> None:
    """Grayscale (MNIST-like) images, and a batch of different transforms in one op, each match IDG."""
    image = smooth_image()[..., 1:2]
    cases = [FIXED_CASES["combined"], FIXED_CASES["rotation"], FIXED_CASES["shift"], FIXED_CASES["zoom_in_out"]]
    idg = idg_without_preprocessing(AugmentSpec(name="g"))
    n = len(cases)
    params = {key: [] for key in IDENTITY}
    for case in cases:
        for key, value in {**IDENTITY, **case}.items():
            params[key].append(value)
    tf_params = {
        "theta": tf.constant(params["theta"], tf.float32),
        "tx": tf.constant(params["tx"], tf.float32) / HEIGHT,
        "ty": tf.constant(params["ty"], tf.float32) / WIDTH,
        "shear": tf.constant(params["shear"], tf.float32),
        "zx": tf.constant(params["zx"], tf.float32),
        "zy": tf.constant(params["zy"], tf.float32),
        "flip": tf.constant(params["flip_horizontal"]),
    }
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.constant(np.repeat(image[None], n, axis=0)),
        transforms=affine_transforms(tf_params, HEIGHT, WIDTH),
        output_shape=[HEIGHT, WIDTH],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="NEAREST",
    ).numpy()
    for i, case in enumerate(cases):
        reference = idg.apply_transform(image, {**IDENTITY, **case})
        assert np.abs(reference - out[i]).mean() < 0.5, case


# ---- b. the same random distribution -------------------------------------------------------------------------
STAT_SPEC = AugmentSpec(
    name="stats", rotation_deg=20, width_shift=0.1, height_shift=0.1, shear_deg=10, zoom=0.2, horizontal_flip=True
)
DRAWS = 300


def idg_draws(spec: AugmentSpec, image: np.ndarray, draws: int = DRAWS, seed: int = 0) -> np.ndarray:
    idg = idg_without_preprocessing(spec)
    np.random.seed(seed)
    return np.stack([idg.random_transform(image) for _ in range(draws)])


def tf_draws(spec: AugmentSpec, image: np.ndarray, draws: int = DRAWS, seed: int = 0) -> np.ndarray:
    batch = tf.constant(np.repeat(image[None], draws, axis=0))
    return render_tf.augment(batch, spec, seed=tf.constant([seed, 7], tf.int64)).numpy()


def test_same_spec_gives_the_same_per_pixel_statistics() -> None:
    image = smooth_image()
    reference, ours = idg_draws(STAT_SPEC, image), tf_draws(STAT_SPEC, image)
    assert reference.shape == ours.shape == (DRAWS, HEIGHT, WIDTH, 3)
    # The spec really randomises (per-pixel spread of tens of grey levels), in both renderings...
    assert reference.std(0).mean() > 20 and ours.std(0).mean() > 20
    # ...and the per-pixel mean and spread over draws agree within a few grey levels.
    assert np.abs(reference.mean(0) - ours.mean(0)).mean() < 4.0
    assert np.abs(reference.std(0) - ours.std(0)).mean() < 4.0
    assert abs(reference.mean() - ours.mean()) < 2.0
    assert abs(reference.std() - ours.std()) < 2.0


@pytest.mark.parametrize(
    "spec",
    [
        STAT_SPEC,
        # Unequal shifts on a non-square image: swapping width/height shift, or scaling by the wrong side, shows.
        AugmentSpec(name="shifts", width_shift=0.3, height_shift=0.05),
        AugmentSpec(name="zoom_shear", zoom=0.3, shear_deg=20),
        AugmentSpec(name="rotation", rotation_deg=45),
    ],
    ids=lambda s: s.name,
)
def test_per_image_statistics_have_the_same_distribution(spec: AugmentSpec) -> None:
    """Per-output scalars (mean of the column ramp, of the row ramp) are equally distributed (two-sample KS)."""
    image = gradient_image()
    reference, ours = idg_draws(spec, image, seed=3), tf_draws(spec, image, seed=3)
    for channel, what in ((0, "horizontal"), (1, "vertical")):
        a, b = reference[..., channel].mean(axis=(1, 2)), ours[..., channel].mean(axis=(1, 2))
        result = stats.ks_2samp(a, b)
        assert result.pvalue > 1e-3, (spec.name, what, result, a.std(), b.std())


def test_the_distribution_test_can_tell_a_swapped_shift() -> None:
    """Power check for the KS test above: a spec with width and height shift swapped is rejected."""
    image = gradient_image()
    spec = AugmentSpec(name="shifts", width_shift=0.3, height_shift=0.05)
    swapped = AugmentSpec(name="swapped", width_shift=0.05, height_shift=0.3)
    reference, other = idg_draws(spec, image, seed=3), tf_draws(swapped, image, seed=3)
    pvalues = [
        stats.ks_2samp(reference[..., c].mean(axis=(1, 2)), other[..., c].mean(axis=(1, 2))).pvalue for c in (0, 1)
    ]
    assert min(pvalues) < 1e-6


@pytest.mark.parametrize("renderer", ["idg", "tf"])
def test_flip_only_spec_flips_about_half_the_time_and_nothing_else(renderer: str) -> None:
    spec = AugmentSpec(name="flip", horizontal_flip=True)
    image = smooth_image()
    draws = 400
    out = idg_draws(spec, image, draws) if renderer == "idg" else tf_draws(spec, image, draws)
    flipped = np.isclose(out, image[:, ::-1], atol=1e-3).all(axis=(1, 2, 3))
    kept = np.isclose(out, image, atol=1e-3).all(axis=(1, 2, 3))
    assert (flipped ^ kept).all()  # every output is exactly one of the two
    assert 0.4 < flipped.mean() < 0.6, flipped.mean()  # 400 fair coin flips: sd 0.025


def test_no_flip_spec_never_flips() -> None:
    spec = AugmentSpec(name="rot", rotation_deg=5)
    image = gradient_image()
    out = tf_draws(spec, image, 200)
    # The column ramp's mean stays near its unflipped value (a mirror would send the left edge to the right).
    left_minus_right = out[:, :, : WIDTH // 4, 0].mean(axis=(1, 2)) - out[:, :, -WIDTH // 4 :, 0].mean(axis=(1, 2))
    assert (left_minus_right < 0).all()


def test_sampled_parameter_ranges_match_imagedatagenerator() -> None:
    spec = AugmentSpec(
        name="ranges", rotation_deg=15, width_shift=0.2, height_shift=0.05, shear_deg=10, zoom=0.2, horizontal_flip=True
    )
    n = 4000
    ours = {k: v.numpy() for k, v in render_tf.random_params(spec, n, seed=tf.constant([5, 6], tf.int64)).items()}
    idg = idg_without_preprocessing(spec)
    np.random.seed(1)
    ref_draws = [idg.get_random_transform((HEIGHT, WIDTH, 3)) for _ in range(n)]
    ref = {key: np.array([r[key] for r in ref_draws], np.float64) for key in ("theta", "tx", "ty", "shear", "zx", "zy")}
    ref["flip"] = np.array([bool(r["flip_horizontal"]) for r in ref_draws])
    # TF's tx/ty are fractions of rows/cols; IDG's are pixels scaled by rows/cols.
    ours_pixels = {**ours, "tx": ours["tx"] * HEIGHT, "ty": ours["ty"] * WIDTH}
    bounds = {
        "theta": (-15, 15),
        "tx": (-0.05 * HEIGHT, 0.05 * HEIGHT),
        "ty": (-0.2 * WIDTH, 0.2 * WIDTH),
        "shear": (-10, 10),
        "zx": (0.8, 1.2),
        "zy": (0.8, 1.2),
    }
    for key, (low, high) in bounds.items():
        a, b = ours_pixels[key], ref[key]
        span = high - low
        for values in (a, b):
            assert values.min() >= low - 1e-5 and values.max() <= high + 1e-5, key  # inside the range
            assert values.min() < low + 0.01 * span and values.max() > high - 0.01 * span, key  # and covers it
        assert abs(a.mean() - b.mean()) < 0.03 * span, key  # both uniform over the same interval
        assert abs(a.std() - span / math.sqrt(12)) < 0.03 * span, key
        assert stats.ks_2samp(a, b).pvalue > 1e-3, key
    assert abs(ours["flip"].mean() - 0.5) < 0.04 and abs(ref["flip"].mean() - 0.5) < 0.04
    # IDG draws zx and zy independently; so must we (a shared draw would be an isotropic zoom).
    assert abs(np.corrcoef(ours["zx"], ours["zy"])[0, 1]) < 0.1
    assert abs(np.corrcoef(ours["theta"], ours["shear"])[0, 1]) < 0.1
    assert abs(np.corrcoef(ours["tx"], ours["ty"])[0, 1]) < 0.1


def test_zero_ranges_draw_identity_parameters() -> None:
    params = render_tf.random_params(AugmentSpec(name="none"), 16)
    for key in ("theta", "tx", "ty", "shear"):
        np.testing.assert_array_equal(params[key].numpy(), 0.0)
    np.testing.assert_array_equal(params["zx"].numpy(), 1.0)
    np.testing.assert_array_equal(params["zy"].numpy(), 1.0)
    assert not params["flip"].numpy().any()


def test_seeded_draws_are_reproducible_and_seed_dependent() -> None:
    image = smooth_image()
    batch = tf.constant(np.repeat(image[None], 8, axis=0))
    a = render_tf.augment(batch, STAT_SPEC, seed=tf.constant([1, 2], tf.int64)).numpy()
    b = render_tf.augment(batch, STAT_SPEC, seed=tf.constant([1, 2], tf.int64)).numpy()
    c = render_tf.augment(batch, STAT_SPEC, seed=tf.constant([1, 3], tf.int64)).numpy()
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 1.0
    # Within one batch every image gets its own transform.
    assert min(np.abs(a[i] - a[j]).mean() for i in range(8) for j in range(i + 1, 8)) > 0.5


def test_spec_without_warp_is_the_identity() -> None:
    image = tf.constant(smooth_image()[None])
    for spec in (AugmentSpec(name="none"), STAT_SPEC.without_augmentation()):
        assert not spec.has_warp
        np.testing.assert_array_equal(render_tf.augment(image, spec).numpy(), image.numpy())


# ---- c. the rendering and the spec itself ---------------------------------------------------------------------
def test_idg_kwargs_carry_the_ranges_verbatim() -> None:
    spec = AugmentSpec(
        name="verbatim",
        rotation_deg=12.5,
        width_shift=0.125,
        height_shift=0.0625,
        shear_deg=7.0,
        zoom=0.15,
        horizontal_flip=True,
        preprocess="vgg16",
    )
    kwargs = spec.idg_kwargs()
    assert kwargs["rotation_range"] == 12.5
    assert kwargs["width_shift_range"] == 0.125
    assert kwargs["height_shift_range"] == 0.0625
    assert kwargs["shear_range"] == 7.0
    assert kwargs["zoom_range"] == 0.15
    assert kwargs["horizontal_flip"] is True
    assert kwargs["fill_mode"] == "nearest"  # what the TF warp's fill_mode="NEAREST" reproduces
    assert kwargs["interpolation_order"] == 1  # bilinear, like the TF warp
    assert kwargs["preprocessing_function"] is PREPROCESSORS["vgg16"]
    # Nothing IDG would do on top of the spec (rescale, standardisation, vertical flips, brightness...).
    assert set(kwargs) == {
        "rotation_range",
        "width_shift_range",
        "height_shift_range",
        "shear_range",
        "zoom_range",
        "horizontal_flip",
        "fill_mode",
        "interpolation_order",
        "preprocessing_function",
    }
    idg = ImageDataGenerator(**kwargs)  # IDG accepts them and reads them as the spec means them
    assert idg.rotation_range == 12.5 and idg.shear_range == 7.0
    assert idg.width_shift_range == 0.125 and idg.height_shift_range == 0.0625
    np.testing.assert_allclose(idg.zoom_range, [0.85, 1.15])
    assert idg.horizontal_flip and not idg.vertical_flip
    assert idg.rescale is None and not idg.featurewise_center and not idg.samplewise_center


@pytest.mark.parametrize("workload", [w for w in list_workloads() if not get_workload(w).augment.has_crop])
def test_every_workload_spec_renders_for_idg(workload: str) -> None:
    spec = get_workload(workload).augment
    kwargs = spec.idg_kwargs()
    assert kwargs["rotation_range"] == spec.rotation_deg and kwargs["zoom_range"] == spec.zoom
    assert kwargs["horizontal_flip"] == spec.horizontal_flip
    assert kwargs["preprocessing_function"] is PREPROCESSORS[spec.preprocess]
    ImageDataGenerator(**kwargs)


def test_without_augmentation_keeps_the_preprocessing_only() -> None:
    spec = AugmentSpec(
        name="seed",
        rotation_deg=10,
        width_shift=0.1,
        height_shift=0.1,
        shear_deg=5,
        zoom=0.1,
        horizontal_flip=True,
        preprocess="vgg16",
        resize_interpolation="nearest",
    )
    plain = spec.without_augmentation()
    assert plain.name == "none"
    assert plain.preprocess == "vgg16" and plain.resize_interpolation == "nearest"
    assert not plain.has_warp
    kwargs = plain.idg_kwargs()
    assert kwargs["preprocessing_function"] is PREPROCESSORS["vgg16"]
    assert not any(kwargs[k] for k in ("rotation_range", "width_shift_range", "height_shift_range", "shear_range"))
    assert kwargs["zoom_range"] == 0 and kwargs["horizontal_flip"] is False
    assert spec.has_warp  # the original is untouched (frozen)


@pytest.mark.parametrize(
    "field_name",
    ["rotation_deg", "width_shift", "height_shift", "shear_deg", "zoom", "horizontal_flip"],
)
def test_any_single_range_makes_a_warp(field_name: str) -> None:
    value = True if field_name == "horizontal_flip" else 0.1
    assert AugmentSpec(name="one", **{field_name: value}).has_warp


@pytest.mark.parametrize(
    "kwargs, field_name",
    [
        ({"zoom": 1.0}, "zoom"),
        ({"zoom": 1.5}, "zoom"),
        ({"zoom": -0.1}, "zoom"),
        ({"width_shift": 1.0}, "width_shift"),
        ({"width_shift": -0.2}, "width_shift"),
        ({"height_shift": 3}, "height_shift"),  # IDG would read 3 as pixels; the spec only speaks fractions
        ({"height_shift": float("nan")}, "height_shift"),
        ({"preprocess": "imagenet-magic"}, "preprocess"),
    ],
)
def test_invalid_ranges_raise_value_error_naming_the_field(kwargs: dict, field_name: str) -> None:
    with pytest.raises(ValueError, match=field_name):
        AugmentSpec(name="bad", **kwargs)


def test_boundary_ranges_are_accepted() -> None:
    AugmentSpec(name="edge", zoom=0.0, width_shift=0.0, height_shift=0.0)
    AugmentSpec(name="edge", zoom=0.99, width_shift=0.99, height_shift=0.99)


def test_preprocessors_agree_on_numpy_and_tensors() -> None:
    """idg applies the preprocess to numpy arrays, tfdata to tensors: same numbers either way."""
    rng = np.random.default_rng(0)
    batch = rng.uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    for name, fn in PREPROCESSORS.items():
        from_numpy = np.asarray(fn(batch.copy()))
        from_tensor = np.asarray(fn(tf.constant(batch)))
        np.testing.assert_allclose(from_numpy, from_tensor, rtol=1e-6, atol=1e-4, err_msg=name)
    np.testing.assert_allclose(PREPROCESSORS["unit"](batch), batch / 255.0, rtol=1e-6)
    vgg = np.asarray(PREPROCESSORS["vgg16"](tf.constant(batch)))
    # caffe style: RGB -> BGR, ImageNet channel means subtracted, no scaling.
    np.testing.assert_allclose(vgg[..., 0], batch[..., 2] - 103.939, atol=1e-3)
    np.testing.assert_allclose(vgg[..., 2], batch[..., 0] - 123.68, atol=1e-3)


def test_vgg16_preprocessing_equals_keras_own_and_uses_no_keras_ops() -> None:
    """The caffe preprocessing written as plain arithmetic equals `keras.applications.vgg16.preprocess_input` on
    numpy, and inside a tf.data graph it runs on tf.Tensors (Keras's own would call the backend's ops)."""
    from keras.applications.vgg16 import preprocess_input

    batch = np.random.default_rng(1).uniform(0, 255, (3, 6, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(PREPROCESSORS["vgg16"](batch), np.asarray(preprocess_input(batch.copy())), atol=1e-4)
    graph = tf.data.Dataset.from_tensors(batch).map(PREPROCESSORS["vgg16"])
    np.testing.assert_allclose(next(iter(graph)).numpy(), np.asarray(preprocess_input(batch.copy())), atol=1e-4)


@pytest.mark.parametrize("shape", [(16, 40, 56, 3), (8, 64, 64, 1), (4, 160, 160, 3)])
def test_the_row_warp_samples_what_the_projective_warp_samples(shape: tuple) -> None:
    """tf.data's faster warp for rotation-free matrices (zoom, shear, shifts, flip) equals the projective op."""
    spec = AugmentSpec(name="rows", width_shift=0.2, height_shift=0.1, shear_deg=10, zoom=0.3, horizontal_flip=True)
    images = tf.random.stateless_uniform(shape, [7, 8], 0, 255)
    transforms = render_tf.random_transforms(spec, shape[0], shape[1], shape[2], tf.constant([1, 2], tf.int64))
    rows, projective = render_tf.row_warp(images, transforms), render_tf.projective_warp(images, transforms)
    assert float(tf.reduce_max(tf.abs(rows - projective))) < 0.05  # grey levels, float rounding of two samplers


def test_a_rotation_takes_the_projective_warp() -> None:
    """`row_warp` cannot rotate (rows would not stay horizontal): the renderer must not pick it then."""
    spec = AugmentSpec(name="rotate", rotation_deg=30)
    image = tf.constant(smooth_image()[None])
    out = render_tf.augment(tf.repeat(image, 8, axis=0), spec, seed=tf.constant([1, 2], tf.int64))
    transforms = render_tf.random_transforms(spec, 8, HEIGHT, WIDTH, tf.constant([1, 2], tf.int64))
    np.testing.assert_allclose(out.numpy(), render_tf.projective_warp(tf.repeat(image, 8, 0), transforms).numpy())


# ---- the numpy rendering (PyDataset, Grain) ----------------------------------------------------------------------
def np_warp(image: np.ndarray, idg_params: dict) -> np.ndarray:
    """`imgcls.render_np`'s warp of IDG's `apply_transform` parameters, on one image `[H, W, C]`."""
    from imgcls import render_np

    height, width = image.shape[:2]
    params = {
        "theta": np.array([idg_params["theta"]]),
        "tx": np.array([idg_params["tx"] / height]),
        "ty": np.array([idg_params["ty"] / width]),
        "shear": np.array([idg_params["shear"]]),
        "zx": np.array([idg_params["zx"]]),
        "zy": np.array([idg_params["zy"]]),
        "flip": np.array([idg_params["flip_horizontal"]]),
    }
    transform = affine_transforms(params, height, width, render_np.NP_OPS)[0]
    return render_np.warp(image.astype(np.float32), transform)


@pytest.mark.parametrize("shape", [(HEIGHT, WIDTH), (WIDTH, HEIGHT), (33, 33)], ids=["wide", "tall", "square"])
@pytest.mark.parametrize("case", list(FIXED_CASES), ids=list(FIXED_CASES))
def test_numpy_warp_is_imagedatagenerators_for_fixed_parameters(case: str, shape: tuple[int, int]) -> None:
    """Same matrix, same scipy call: the numpy rendering gives IDG's pixels (to float32 rounding)."""
    image = smooth_image(*shape)
    params = {**IDENTITY, **FIXED_CASES[case]}
    reference = idg_without_preprocessing(AugmentSpec(name="fixed")).apply_transform(image, params)
    ours = np_warp(image, params)
    assert np.abs(reference - image).mean() > 3.0
    np.testing.assert_allclose(ours, reference, atol=1e-3)


def test_numpy_draws_follow_the_spec_ranges() -> None:
    from imgcls import render_np

    spec = AugmentSpec(name="ranges", shear_deg=20, zoom=0.2, horizontal_flip=True)
    transforms = render_np.random_transforms(spec, np.random.default_rng(0), 2000, 32, 32)
    flips = transforms[:, 0] < 0
    assert abs(flips.mean() - 0.5) < 0.05
    zoom_x = np.abs(transforms[:, 0])
    assert zoom_x.min() >= 0.8 - 1e-6 and zoom_x.max() <= 1.2 + 1e-6 and zoom_x.min() < 0.81 and zoom_x.max() > 1.19
