"""The DALI loader's own pieces; its batches are checked with every pipeline's in test_base.py and test_same_work.py.

- The warp is ImageDataGenerator's: DALI's composed `fn.transforms` matrix, fed fixed parameters, warps a
  non-square image as `imgcls.render_np` does with the matrix `affine_transforms` builds (DALI samples at pixel
  centres, and IDG's centre puts h/2 on x: both show only off the identity and off the square).
- Rows and columns are zoomed by factors drawn apart, as IDG draws them.
- The value preprocessing of every mode is `ValuePreprocess`'s arithmetic, channel order included.
- `--decoder mixed` is refused in one line where DALI sees no GPU; on a GPU, nvJPEG's batches are the CPU
  decoder's within 1 grey level.
"""

from __future__ import annotations

import numpy as np
import pytest

from imgcls.workloads import get_workload
from tests.conftest import pipeline_skip_reason

PARAMS = {"theta": 7.0, "tx": 0.08, "ty": -0.05, "shear": 12.0, "zx": 0.85, "zy": 1.1}


@pytest.fixture(autouse=True)
def _dali_runs() -> None:
    reason = pipeline_skip_reason("dali")  # absent, or installed but unable to run a CPU pipeline here
    if reason:
        pytest.skip(reason)


def dali_warp(images: np.ndarray, params: dict[str, float]) -> np.ndarray:
    """`images` warped by `idg_matrix` of these fixed parameters (fed per sample, as the random draws are)."""
    from nvidia.dali import fn, pipeline_def, types

    from imgcls.pipelines.dali_loader import idg_matrix

    names = list(params)

    @pipeline_def(batch_size=len(images), num_threads=1, device_id=None)
    def warp():  # noqa: ANN202
        columns = [np.full(len(images), params[n], np.float32) for n in names]
        fed = fn.external_source(source=lambda: [list(images), *[list(c) for c in columns]],
                                 num_outputs=1 + len(names), batch=True)  # fmt: skip
        matrix = idg_matrix(dict(zip(names, fed[1:], strict=True)), *images.shape[1:3])
        return fn.warp_affine(fn.reshape(fed[0], layout="HWC"), matrix=matrix, dtype=types.FLOAT)

    pipe = warp()
    pipe.build()
    return pipe.run()[0].as_array()


def numpy_warp(images: np.ndarray, params: dict[str, float]) -> np.ndarray:
    """The same parameters through `imgcls.render_np` (IDG's matrix and scipy's sampling)."""
    from imgcls import render_np
    from imgcls.augment import affine_transforms

    n = len(images)
    full = {"theta": 0.0, "tx": 0.0, "ty": 0.0, "shear": 0.0, "zx": 1.0, "zy": 1.0, **params}
    arrays = {k: np.full(n, v, np.float64) for k, v in full.items()} | {"flip": np.zeros(n, bool)}
    transforms = affine_transforms(arrays, images.shape[1], images.shape[2], render_np.NP_OPS)
    return np.stack([render_np.warp(image.astype(np.float32), t) for image, t in zip(images, transforms, strict=True)])


def warp_gap(params: dict[str, float]) -> float:
    """The largest difference, in grey levels, between the two warps of a smooth non-square image (a bilinear
    sample of it is exact, so the warps agree to float rounding when their matrices and pixel grids agree)."""
    rng = np.random.default_rng(0)
    smooth = np.kron(rng.uniform(0, 255, (2, 6, 9, 3)), np.ones((1, 8, 8, 1)))
    images = np.ascontiguousarray(np.clip(smooth, 0, 255).astype(np.uint8)[:, :40, :56])
    return float(np.abs(dali_warp(images, params) - numpy_warp(images, params)).max())


@pytest.mark.parametrize(
    "params",
    [PARAMS, {"zx": 0.8, "zy": 1.2}, {"shear": 20.0}, {"tx": 0.1}, {"ty": 0.1}, {"theta": 15.0}],
    ids=["all", "zoom", "shear", "tx", "ty", "rotation"],
)
def test_the_warp_is_imagedatagenerators_matrix(params: dict[str, float]) -> None:
    assert warp_gap(params) < 0.05  # measured: 0.008 at most


def test_the_warp_check_fails_on_another_centre(monkeypatch: pytest.MonkeyPatch) -> None:
    """IDG's centre without DALI's half-pixel shift (h/2 - 0.5) moves every rotated pixel: the check sees it."""
    from nvidia.dali import fn

    original = fn.transforms.rotation

    def off_centre(*args, center, **kwargs):  # noqa: ANN002, ANN003, ANN202
        return original(*args, center=[c - 0.5 for c in center], **kwargs)

    monkeypatch.setattr(fn.transforms, "rotation", off_centre)
    assert warp_gap({"theta": 15.0}) > 1.0


def test_rows_and_columns_are_zoomed_apart() -> None:
    """IDG draws the row and column zooms independently (torchvision's one factor is a difference the torch loader
    states; the shared suite checks ranges only): the fitted zooms of one image differ, by up to the range."""
    from imgcls.pipelines import InputConfig, build_pipeline
    from tests.imgcls.test_same_work import fitted_transforms, probe_arrays

    spec = get_workload("imagenette").augment  # zoom 0.2, shear 0.2 degrees, flip
    config = InputConfig(image_size=(32, 32), channels=3, augment=spec, batch_size=32, seed=3)
    pipeline = build_pipeline("dali")
    images = next(pipeline.train_data(probe_arrays(), config))[0]
    pipeline.close()
    fits = fitted_transforms(np.asarray(images, np.float64) * 255.0)
    apart = np.abs(np.abs(fits[:, 0]) - fits[:, 2])  # |zoom x| - zoom y, per image
    assert apart.max() > 0.15 and np.median(apart) > 0.05, f"zooms apart by at most {apart.max():.3f}"


@pytest.mark.parametrize("preprocess", ["unit", "vgg16", "tf", "torch", "raw"])
def test_every_value_preprocessing_is_the_specs_arithmetic(preprocess: str, cifar_tiny) -> None:  # noqa: ANN001
    """`crop_mirror_normalize`'s mean and std (and BGR for caffe modes) give `ValuePreprocess`'s numbers on the
    unaugmented test images: a mode's channel order or per-channel constants gone wrong shows here (the contract's
    range check cannot see a BGR mean subtracted from RGB channels)."""
    import dataclasses

    from imgcls.augment import PREPROCESSORS
    from imgcls.pipelines import InputConfig, build_pipeline

    spec = dataclasses.replace(get_workload("cifar10").augment, preprocess=preprocess)
    config = InputConfig(image_size=(32, 32), channels=3, augment=spec, batch_size=32, seed=0)
    pipeline = build_pipeline("dali")
    images = np.concatenate([x for x, _ in pipeline.eval_data(cifar_tiny, config)])
    pipeline.close()
    expected = PREPROCESSORS[preprocess](cifar_tiny.test.images.astype(np.float32))
    np.testing.assert_allclose(images, expected, rtol=1e-5, atol=1e-4)


def test_mixed_decoder_without_a_gpu_is_refused_in_one_line() -> None:
    from imgcls.errors import UserFacingError
    from imgcls.pipelines import build_pipeline
    from imgcls.pipelines.dali_loader import gpu_visible

    if gpu_visible():
        pytest.skip("DALI sees a GPU here: mixed is allowed")
    assert build_pipeline("dali", decoder="auto").opts.decoder == "auto"  # auto falls back to the CPU decoder
    with pytest.raises(UserFacingError) as error:
        build_pipeline("dali", decoder="mixed")
    assert "mixed" in str(error.value) and "GPU" in str(error.value) and "\n" not in str(error.value)


@pytest.mark.gpu
def test_the_nvjpeg_decoder_gives_the_cpu_decoders_batches_within_a_grey_level(imagenette_tiny) -> None:  # noqa: ANN001
    from imgcls.pipelines import InputConfig, build_pipeline

    spec = get_workload("imagenette").augment.without_augmentation()
    config = InputConfig(image_size=(48, 48), channels=3, augment=spec, batch_size=8, seed=0)
    batches = {}
    for decoder in ("cpu", "mixed"):
        pipeline = build_pipeline("dali", decoder=decoder)
        batches[decoder] = np.concatenate([x for x, _ in pipeline.eval_data(imagenette_tiny, config)]) * 255.0
        pipeline.close()
    assert np.abs(batches["cpu"] - batches["mixed"]).mean() < 1.0
