"""One augmentation + preprocessing spec per workload, rendered by every pipeline.

A comparison between pipelines is only fair if they do the same work. `AugmentSpec` names the work once (the
seed's `ImageDataGenerator` arguments, plus the resize and the final value preprocessing); `idg` renders it as
`ImageDataGenerator` keyword arguments, `tfdata` as one `ImageProjectiveTransformV3` warp built from *the same
matrix* `ImageDataGenerator.apply_affine_transform` builds (rotation @ shift @ shear @ zoom, centred as IDG
centres it), with the horizontal flip folded into the warp. Both sample the same distributions, interpolate
bilinearly and fill with the nearest pixel, so the same spec gives the same images for the same parameters and
the same output statistics (checked in tests/test_core_pipelines.py).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _rescale_to_unit(x: Any) -> Any:
    return x * (1.0 / 255.0)


def _vgg16_preprocess(x: Any) -> Any:
    # Imported lazily: keras.applications pulls in every application module.
    from keras.applications.vgg16 import preprocess_input

    return preprocess_input(x)


# Value preprocessing applied after augmentation, by name (the name goes in the record).
# Each works on float32 numpy arrays (idg) and tf tensors (tfdata) alike.
PREPROCESSORS: dict[str, Callable[[Any], Any]] = {
    "unit": _rescale_to_unit,  # [0, 255] -> [0, 1], the seed's rescale=1./255
    "vgg16": _vgg16_preprocess,  # caffe-style BGR mean subtraction, VGG16's own preprocess_input
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

    def __post_init__(self) -> None:
        if self.preprocess not in PREPROCESSORS:
            raise ValueError(f"Unknown preprocess {self.preprocess!r}; known: {', '.join(PREPROCESSORS)}")
        for field in ("width_shift", "height_shift", "zoom"):
            value = getattr(self, field)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"`{field}` must be in [0, 1), got {value}")

    @property
    def has_warp(self) -> bool:
        """Whether any geometric augmentation (one affine warp per image) is asked for."""
        return bool(
            self.rotation_deg
            or self.width_shift
            or self.height_shift
            or self.shear_deg
            or self.zoom
            or self.horizontal_flip
        )

    def without_augmentation(self) -> AugmentSpec:
        """The same preprocessing with no random transform (what evaluation and `--augment none` use)."""
        return AugmentSpec(name="none", preprocess=self.preprocess, resize_interpolation=self.resize_interpolation)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    # ---- rendering for ImageDataGenerator -------------------------------------------------------------
    def idg_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `ImageDataGenerator` doing exactly this work."""
        return {
            "rotation_range": self.rotation_deg,
            "width_shift_range": self.width_shift,
            "height_shift_range": self.height_shift,
            "shear_range": self.shear_deg,
            "zoom_range": self.zoom,
            "horizontal_flip": self.horizontal_flip,
            "fill_mode": "nearest",
            "interpolation_order": 1,
            "preprocessing_function": PREPROCESSORS[self.preprocess],
        }

    # ---- rendering for tf.data --------------------------------------------------------------------------
    def random_affine_params(self, n: Any, seed: Any = None) -> dict[str, Any]:
        """Draws `n` transforms with the distributions `ImageDataGenerator.get_random_transform` uses.

        Args:
            n: Number of transforms.
            seed: Optional `[2]` int seed for stateless draws (same seed -> same transforms, whatever the
                thread that runs it); None draws from TF's stateful generator.
        """
        import tensorflow as tf

        split = tf.random.experimental.stateless_split(seed, num=7) if seed is not None else None
        draws = iter(range(7))

        def draw(low: float, high: float) -> Any:
            if split is None:
                return tf.random.uniform([n], low, high)
            return tf.random.stateless_uniform([n], split[next(draws)], low, high)

        def symmetric(limit: float) -> Any:
            return draw(-limit, limit) if limit else tf.zeros([n])

        zoom = (1.0 - self.zoom, 1.0 + self.zoom)
        return {
            "theta": symmetric(self.rotation_deg),
            "tx": symmetric(self.height_shift),  # fraction of rows, as in IDG
            "ty": symmetric(self.width_shift),  # fraction of cols
            "shear": symmetric(self.shear_deg),
            "zx": draw(*zoom) if self.zoom else tf.ones([n]),
            "zy": draw(*zoom) if self.zoom else tf.ones([n]),
            "flip": draw(0.0, 1.0) < 0.5 if self.horizontal_flip else tf.zeros([n], tf.bool),
        }

    def augment_batch(self, images: Any, seed: Any = None) -> Any:
        """Applies the spec's random augmentation to a float32 batch `[B, H, W, C]` with one fused warp op.

        Used per batch (`vectorize`) or per image (a batch of one). Values are not rescaled here. `seed` (a
        `[2]` int tensor) makes the draws stateless, hence reproducible under parallel maps.
        """
        import tensorflow as tf

        if not self.has_warp:
            return images
        shape = tf.shape(images)
        n, height, width = shape[0], shape[1], shape[2]
        params = self.random_affine_params(n, seed)
        transforms = affine_transforms_tf(params, height, width)
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=images,
            transforms=transforms,
            output_shape=shape[1:3],
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="NEAREST",
        )


def affine_transforms_tf(params: dict[str, Any], height: Any, width: Any) -> Any:
    """Builds `[n, 8]` projective transforms equal to what `ImageDataGenerator.apply_affine_transform` does.

    IDG builds `M = rotation @ shift @ shear @ zoom` in (x, y) = (column, row) order, centres it with
    `transform_matrix_offset_center(M, h, w)` -- which offsets x by h/2 and y by w/2, a quirk that only shows on
    non-square images and is reproduced here so both renderings agree -- and lets scipy sample input
    `(x, y) = M @ (x_out, y_out, 1)`. TF's transform `[a0, a1, a2, b0, b1, b2, 0, 0]` samples input
    `(a0 x + a1 y + a2, b0 x + b1 y + b2)`: its coefficients are the first two rows of M. Note `tx` (IDG's
    "height" shift, scaled by h) moves x. IDG flips the output after warping (`x -> W - 1 - x`), composed on the
    right.
    """
    import tensorflow as tf

    theta = params["theta"] * (math.pi / 180.0)
    shear = params["shear"] * (math.pi / 180.0)
    h = tf.cast(height, tf.float32)
    w = tf.cast(width, tf.float32)
    tx = params["tx"] * h
    ty = params["ty"] * w
    zx, zy = params["zx"], params["zy"]
    one, zero = tf.ones_like(theta), tf.zeros_like(theta)

    def mat(rows: list[list[Any]]) -> Any:
        return tf.stack([tf.stack(r, axis=-1) for r in rows], axis=-2)  # [n, 3, 3]

    cos, sin = tf.cos(theta), tf.sin(theta)
    rotation = mat([[cos, -sin, zero], [sin, cos, zero], [zero, zero, one]])
    shift = mat([[one, zero, tx], [zero, one, ty], [zero, zero, one]])
    shear_m = mat([[one, -tf.sin(shear), zero], [zero, tf.cos(shear), zero], [zero, zero, one]])
    zoom = mat([[zx, zero, zero], [zero, zy, zero], [zero, zero, one]])
    o_x, o_y = h / 2.0 - 0.5, w / 2.0 - 0.5  # IDG's centring, quirk included
    offset = mat([[one, zero, one * o_x], [zero, one, one * o_y], [zero, zero, one]])
    reset = mat([[one, zero, -o_x * one], [zero, one, -o_y * one], [zero, zero, one]])
    flip_sign = tf.where(params["flip"], -one, one)
    flip_shift = tf.where(params["flip"], (w - 1.0) * one, zero)
    flip = mat([[flip_sign, zero, flip_shift], [zero, one, zero], [zero, zero, one]])
    m = offset @ rotation @ shift @ shear_m @ zoom @ reset @ flip
    return tf.stack([m[:, 0, 0], m[:, 0, 1], m[:, 0, 2], m[:, 1, 0], m[:, 1, 1], m[:, 1, 2], zero, zero], axis=-1)
