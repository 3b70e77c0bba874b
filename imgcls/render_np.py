"""The numpy rendering of an `AugmentSpec`, shared by the host loaders that are not TensorFlow (PyDataset, Grain).

Same work as `ImageDataGenerator`, piece by piece:

- **decode + resize**: `keras.utils.load_img` -- the very function `flow_from_dataframe` calls (PIL decode with the
  accurate IDCT, PIL's antialiased resize with the spec's interpolation), so the unaugmented images are IDG's.
- **warp**: the matrix `imgcls.augment.affine_transforms` builds (IDG's rotation @ shift @ shear @ zoom, its
  centring and its flip), drawn with `AugmentSpec.random_affine_params` from a numpy generator, applied as IDG
  applies it: `scipy.ndimage.affine_transform`, linear (order 1), nearest fill -- one call over `[H, W, C]` whose
  channel axis maps to itself, instead of IDG's one call per channel (same samples, tested).
- **values**: `PREPROCESSORS[spec.preprocess]`, the same numbers every renderer applies.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from imgcls.augment import PREPROCESSORS, ArrayOps, AugmentSpec, affine_transforms

NP_OPS = ArrayOps(
    np.cos, np.sin, np.stack, np.where, np.ones_like, np.zeros_like, lambda x: np.asarray(x, dtype=np.float64)
)


def load(path: str | io.BytesIO, size: tuple[int, int] | None, channels: int, interpolation: str) -> np.ndarray:
    """An image file (or its bytes in a `BytesIO`, from a record) -> uint8 `[H, W, channels]`, as
    `flow_from_dataframe` loads it (`size` None: stored size)."""
    from keras.utils import img_to_array, load_img

    image = load_img(
        path,
        color_mode="rgb" if channels == 3 else "grayscale",
        target_size=None if size is None else tuple(size),
        interpolation=interpolation,
    )
    return img_to_array(image, dtype="uint8")


def random_transforms(spec: AugmentSpec, rng: np.random.Generator, n: int, height: int, width: int) -> np.ndarray:
    """`[n, 8]` transforms (TF's projective layout, see `affine_transforms`) of `n` draws of the spec."""
    params = spec.random_affine_params(n, lambda low, high: rng.uniform(low, high, n), np.zeros(n), np.ones(n))
    return affine_transforms(params, height, width, NP_OPS)


def warp(image: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """One float image `[H, W, C]` warped by one `[8]` transform: output (col x, row y) samples input
    column `a0 x + a1 y + a2`, row `b0 x + b1 y + b2`; bilinear, nearest fill (IDG's order 1, `fill_mode`)."""
    a0, a1, a2, b0, b1, b2 = (float(v) for v in transform[:6])
    # scipy indexes (row, col, channel): input = matrix @ output + offset.
    matrix = np.array([[b1, b0, 0.0], [a1, a0, 0.0], [0.0, 0.0, 1.0]])
    return ndimage.affine_transform(image, matrix, offset=(b2, a2, 0.0), order=1, mode="nearest")


def augment(images: Sequence[np.ndarray], spec: AugmentSpec, rng: np.random.Generator) -> list[np.ndarray]:
    """The spec's random warp on float images of one size (unchanged when the spec has no warp)."""
    if not spec.has_warp or not len(images):
        return list(images)
    height, width = images[0].shape[:2]
    transforms = random_transforms(spec, rng, len(images), height, width)
    return [warp(image, t) for image, t in zip(images, transforms, strict=True)]


def finish(images: Sequence[np.ndarray], spec: AugmentSpec, rng: np.random.Generator | None, raw: bool) -> np.ndarray:
    """uint8 images -> the batch a model takes: warped (when `rng` is given) and value-preprocessed, float32.

    `raw`: the model augments and preprocesses on the device -- the decoded uint8 images, stacked.
    """
    if raw:
        return np.stack(images)
    floats = [np.asarray(image, dtype=np.float32) for image in images]
    if rng is not None:
        floats = augment(floats, spec, rng)
    return PREPROCESSORS[spec.preprocess](np.stack(floats)).astype(np.float32)
