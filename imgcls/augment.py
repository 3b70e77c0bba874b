"""One augmentation + preprocessing spec per workload, rendered by every pipeline.

A comparison between pipelines is only fair if they do the same work. `AugmentSpec` names the work once (the
seed's `ImageDataGenerator` arguments, plus the resize and the final value preprocessing); `idg` renders it as
`ImageDataGenerator` keyword arguments, `tfdata` (`imgcls.render_tf`) and the device layer (`imgcls.augment_layer`)
as one warp built from *the same matrix* `ImageDataGenerator.apply_affine_transform` builds (rotation @ shift @
shear @ zoom, centred as IDG centres it), with the horizontal flip folded into the warp. All sample the same
distributions, interpolate bilinearly and fill with the nearest pixel, so the same spec gives the same images for
the same parameters and the same output statistics (checked in tests/imgcls/test_augment.py and
tests/imgcls/test_same_work.py).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ValuePreprocess:
    """The value preprocessing after augmentation: optionally reverse the channels, then `x * scale + offset`.

    Declared as numbers, not as a call to `keras.applications.*.preprocess_input` (which runs `keras.ops` of the
    active Keras backend and fails on a symbolic tf.Tensor inside a tf.data graph under JAX or torch), so every
    renderer applies the same arithmetic with its own ops: numpy (idg), TensorFlow (tf.data), the Keras backend
    (augmentation on the device). Tested equal to Keras's own functions.
    """

    name: str
    scale: float | tuple[float, ...] = 1.0  # one factor, or one per channel
    offset: tuple[float, ...] = ()  # per channel, after any reversal; () = none
    reverse_channels: bool = False  # RGB -> BGR

    def __call__(self, x: Any) -> Any:
        """On a float32 numpy array or tf.Tensor `[..., C]` (both take `x[..., ::-1]`)."""
        return self.apply(x, flip_channels=lambda v: v[..., ::-1])

    def apply(self, x: Any, flip_channels: Callable[[Any], Any]) -> Any:
        import numpy as np

        if self.reverse_channels:
            x = flip_channels(x)
        if self.scale != 1.0:
            x = x * (np.asarray(self.scale, dtype=np.float32) if isinstance(self.scale, tuple) else self.scale)
        if self.offset:
            x = x + np.asarray(self.offset, dtype=np.float32)
        return x


# ImageNet channel means in BGR order: what `keras.applications.vgg16.preprocess_input` (caffe mode) subtracts.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)

# ImageNet channel means and standard deviations (RGB, of [0, 1] values): `torch` mode of Keras's applications.
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)

# Value preprocessing applied after augmentation, by name (the name goes in the record). Besides the seed's
# `unit`, the modes of `keras.applications.imagenet_utils.preprocess_input` (each tested equal to an application's
# own `preprocess_input`) and `raw` for the applications that normalise inside the model (EfficientNet,
# MobileNetV3, ConvNeXt, RegNet take 0-255 values).
PREPROCESSORS: dict[str, ValuePreprocess] = {
    "unit": ValuePreprocess("unit", scale=1.0 / 255.0),  # [0, 255] -> [0, 1], the seed's rescale=1./255
    "vgg16": ValuePreprocess("vgg16", offset=tuple(-m for m in CAFFE_BGR_MEAN), reverse_channels=True),  # caffe
    "caffe": ValuePreprocess("caffe", offset=tuple(-m for m in CAFFE_BGR_MEAN), reverse_channels=True),
    "tf": ValuePreprocess("tf", scale=1.0 / 127.5, offset=(-1.0, -1.0, -1.0)),  # [-1, 1]
    "torch": ValuePreprocess(
        "torch",
        scale=tuple(1.0 / (255.0 * s) for s in TORCH_STD),
        offset=tuple(-m / s for m, s in zip(TORCH_MEAN, TORCH_STD, strict=True)),
    ),
    "raw": ValuePreprocess("raw"),  # 0-255 float: the model normalises
}


@dataclass(frozen=True, kw_only=True)
class AugmentSpec:
    """What happens to every training image between the file/array and the model.

    Ranges follow `ImageDataGenerator` semantics so that `idg` renders them verbatim.

    Attributes:
        name: Short name quoted in records and tables (`seed`, `none`).
        rotation_deg: Rotation drawn uniformly in [-r, r] degrees.
        width_shift: Horizontal shift, a fraction of the width, uniform in [-s, s].
        height_shift: Vertical shift, a fraction of the height, uniform in [-s, s].
        shear_deg: Shear angle uniform in [-s, s] degrees.
        zoom: Zoom factors for rows and columns drawn independently in [1 - z, 1 + z].
        horizontal_flip: Flip left-right with probability 0.5.
        preprocess: Key into `PREPROCESSORS`, applied after augmentation (also at evaluation).
        resize_interpolation: How file inputs are resized to the workload's image size.
        crop_scale: Random resized crop (ImageNet training's RandomResizedCrop): the crop's area, a fraction of the
            image's, drawn uniformly in this range; None = no crop. The flip then goes with the crop, not a warp.
        crop_ratio: The crop's aspect ratio (width / height) range, drawn log-uniformly.
        eval_center_crop: At evaluation (and with `--augment none`), the centred crop of this fraction of the
            shorter side, resized to the model's size (ImageNet's 224 of 256 = 0.875); None = the whole image.
    """

    name: str
    rotation_deg: float = 0.0
    width_shift: float = 0.0
    height_shift: float = 0.0
    shear_deg: float = 0.0
    zoom: float = 0.0
    horizontal_flip: bool = False
    preprocess: str = "unit"
    resize_interpolation: str = "bilinear"
    crop_scale: tuple[float, float] | None = None
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    eval_center_crop: float | None = None

    def __post_init__(self) -> None:
        if self.preprocess not in PREPROCESSORS:
            raise ValueError(f"Unknown preprocess {self.preprocess!r}; known: {', '.join(PREPROCESSORS)}")
        for field in ("width_shift", "height_shift", "zoom"):
            value = getattr(self, field)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"`{field}` must be in [0, 1), got {value}")
        if self.crop_scale is not None and not 0.0 < self.crop_scale[0] <= self.crop_scale[1] <= 1.0:
            raise ValueError(f"`crop_scale` must be 0 < low <= high <= 1, got {self.crop_scale}")

    @property
    def has_crop(self) -> bool:
        """A random resized crop (rendered at decode, per image: the flip goes with it)."""
        return self.crop_scale is not None

    @property
    def has_warp(self) -> bool:
        """Whether any geometric augmentation (one affine warp per image) is asked for."""
        return bool(
            self.rotation_deg
            or self.width_shift
            or self.height_shift
            or self.shear_deg
            or self.zoom
            or (self.horizontal_flip and not self.has_crop)
        )

    def without_augmentation(self) -> AugmentSpec:
        """The same preprocessing with no random transform (what evaluation and `--augment none` use)."""
        return AugmentSpec(
            name="none",
            preprocess=self.preprocess,
            resize_interpolation=self.resize_interpolation,
            eval_center_crop=self.eval_center_crop,
        )

    def as_dict(self) -> dict[str, Any]:
        """The fields as JSON keeps them (ranges as lists), so a record read back equals the one written."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    # ---- rendering for ImageDataGenerator -------------------------------------------------------------
    def idg_kwargs(self, preprocess: bool = True) -> dict[str, Any]:
        """Keyword arguments for `ImageDataGenerator` doing exactly this work (`preprocess=False`: values stay
        0-255, for a model that preprocesses itself).

        Raises:
            InvalidValue: a random resized crop or a centre crop, which ImageDataGenerator has no argument for.
        """
        if self.has_crop or self.eval_center_crop:
            from imgcls.errors import InvalidValue

            raise InvalidValue("ImageDataGenerator has no random resized crop or centre crop; use a tf.data pipeline")
        return {
            "rotation_range": self.rotation_deg,
            "width_shift_range": self.width_shift,
            "height_shift_range": self.height_shift,
            "shear_range": self.shear_deg,
            "zoom_range": self.zoom,
            "horizontal_flip": self.horizontal_flip,
            "fill_mode": "nearest",
            "interpolation_order": 1,
            "preprocessing_function": PREPROCESSORS[self.preprocess] if preprocess else None,
        }

    # ---- random transforms, for any renderer -------------------------------------------------------------
    def random_affine_params(self, n: Any, draw: Callable[[float, float], Any], zeros: Any, ones: Any) -> dict:
        """Draws `n` transforms with the distributions `ImageDataGenerator.get_random_transform` uses.

        Args:
            n: Number of transforms.
            draw: `draw(low, high)` -> `[n]` uniform floats; a renderer passes its own RNG (stateless tf.random
                in tf.data, `keras.random` on the device). Called in a fixed order, once per drawn parameter.
            zeros, ones: `[n]` float tensors of the renderer's kind, for parameters the spec does not draw.
        """

        def symmetric(limit: float) -> Any:
            return draw(-limit, limit) if limit else zeros

        zoom = (1.0 - self.zoom, 1.0 + self.zoom)
        return {
            "theta": symmetric(self.rotation_deg),
            "tx": symmetric(self.height_shift),  # fraction of rows, as in IDG
            "ty": symmetric(self.width_shift),  # fraction of cols
            "shear": symmetric(self.shear_deg),
            "zx": draw(*zoom) if self.zoom else ones,
            "zy": draw(*zoom) if self.zoom else ones,
            "flip": draw(0.0, 1.0) < 0.5 if self.horizontal_flip else zeros > 1.0,
        }


@dataclass(frozen=True)
class ArrayOps:
    """The few array functions the transform matrix needs, from one framework (TensorFlow or `keras.ops`)."""

    cos: Callable
    sin: Callable
    stack: Callable
    where: Callable
    ones_like: Callable
    zeros_like: Callable
    to_float: Callable


def _tf_ops() -> ArrayOps:
    import tensorflow as tf

    return ArrayOps(tf.cos, tf.sin, tf.stack, tf.where, tf.ones_like, tf.zeros_like, lambda x: tf.cast(x, "float32"))


def keras_ops() -> ArrayOps:
    """The same functions from the active Keras backend (augmentation inside the model, on the device)."""
    from keras import ops

    return ArrayOps(
        ops.cos, ops.sin, ops.stack, ops.where, ops.ones_like, ops.zeros_like, lambda x: ops.cast(x, "float32")
    )


class _LazyTfOps:
    def __getattr__(self, name: str) -> Any:
        return getattr(_tf_ops(), name)


TF_OPS: Any = _LazyTfOps()


def affine_transforms(params: dict[str, Any], height: Any, width: Any, xp: Any = TF_OPS) -> Any:
    """Builds `[n, 8]` projective transforms equal to what `ImageDataGenerator.apply_affine_transform` does.

    IDG builds `M = rotation @ shift @ shear @ zoom` in (x, y) = (column, row) order, centres it with
    `transform_matrix_offset_center(M, h, w)` -- which offsets x by h/2 and y by w/2, a quirk that only shows on
    non-square images and is reproduced here so both renderings agree -- and lets scipy sample input
    `(x, y) = M @ (x_out, y_out, 1)`. TF's transform `[a0, a1, a2, b0, b1, b2, 0, 0]` samples input
    `(a0 x + a1 y + a2, b0 x + b1 y + b2)`: its coefficients are the first two rows of M. Note `tx` (IDG's
    "height" shift, scaled by h) moves x. IDG flips the output after warping (`x -> W - 1 - x`), composed on the
    right.
    """
    theta = params["theta"] * (math.pi / 180.0)
    shear = params["shear"] * (math.pi / 180.0)
    h = xp.to_float(height)
    w = xp.to_float(width)
    tx = params["tx"] * h
    ty = params["ty"] * w
    zx, zy = params["zx"], params["zy"]
    one, zero = xp.ones_like(theta), xp.zeros_like(theta)

    def mat(rows: list[list[Any]]) -> Any:
        return xp.stack([xp.stack(r, axis=-1) for r in rows], axis=-2)  # [n, 3, 3]

    cos, sin = xp.cos(theta), xp.sin(theta)
    rotation = mat([[cos, -sin, zero], [sin, cos, zero], [zero, zero, one]])
    shift = mat([[one, zero, tx], [zero, one, ty], [zero, zero, one]])
    shear_m = mat([[one, -xp.sin(shear), zero], [zero, xp.cos(shear), zero], [zero, zero, one]])
    zoom = mat([[zx, zero, zero], [zero, zy, zero], [zero, zero, one]])
    o_x, o_y = h / 2.0 - 0.5, w / 2.0 - 0.5  # IDG's centring, quirk included
    offset = mat([[one, zero, one * o_x], [zero, one, one * o_y], [zero, zero, one]])
    reset = mat([[one, zero, -o_x * one], [zero, one, -o_y * one], [zero, zero, one]])
    flip_sign = xp.where(params["flip"], -one, one)
    flip_shift = xp.where(params["flip"], (w - 1.0) * one, zero)
    flip = mat([[flip_sign, zero, flip_shift], [zero, one, zero], [zero, zero, one]])
    m = offset @ rotation @ shift @ shear_m @ zoom @ reset @ flip
    return xp.stack([m[:, 0, 0], m[:, 0, 1], m[:, 0, 2], m[:, 1, 0], m[:, 1, 1], m[:, 1, 2], zero, zero], axis=-1)
