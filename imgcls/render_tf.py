"""The tf.data rendering of an `AugmentSpec`: decode, resize and warp with TensorFlow ops, doing IDG's work.

Same work as `ImageDataGenerator`, measured against it in the tests:

- **decode**: JPEGs with `dct_method="INTEGER_ACCURATE"`, the IDCT PIL uses (byte-identical decodes; TF's default
  fast IDCT differs by ~1 grey level on average); other formats through `decode_image`.
- **resize**: antialiased bilinear (PIL's `BILINEAR` widens its triangle filter when shrinking; a plain bilinear
  resize samples 2x2 pixels and is cheaper, different work), rounded to uint8 as PIL stores it. `antialias=False`
  (the `--resize-antialias off` knob) is the plain one, what fast loaders do: not IDG's work.
- **warp**: the spec's affine matrix (`affine_transforms`), bilinear, nearest fill. A matrix without rotation maps
  each output row onto one horizontal input segment (IDG's shear, zoom, shifts and flip keep rows horizontal), so
  the warp is one `crop_and_resize` box per row -- the same samples as `ImageProjectiveTransformV3` (tested), with
  less CPU (`tests/benchmarks/test_render.py`); a rotation takes the projective op.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from imgcls.augment import TF_OPS, AugmentSpec, affine_transforms


def decode(raw: tf.Tensor, channels: int) -> tf.Tensor:
    """Image bytes -> uint8 `[H, W, channels]` (grayscale expanded, alpha dropped), decoded like PIL."""

    def jpeg() -> tf.Tensor:
        return tf.io.decode_jpeg(raw, channels=channels, dct_method="INTEGER_ACCURATE")

    def other() -> tf.Tensor:
        return tf.io.decode_image(raw, channels=channels, expand_animations=False)

    image = tf.cond(tf.io.is_jpeg(raw), jpeg, other)
    image.set_shape([None, None, channels])
    return image


def resize(image: tf.Tensor, size: tuple[int, int], interpolation: str, antialias: bool = True) -> tf.Tensor:
    """uint8 `[H, W, C]` -> uint8 `[*size, C]` as PIL resizes: antialiased when shrinking, rounded
    (`antialias=False`: sampling 2x2 pixels whatever the scale)."""
    antialias = antialias and interpolation != "nearest"
    out = tf.image.resize(image, size, method=interpolation, antialias=antialias)
    out = tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)
    out.set_shape([*size, image.shape[-1]])
    return out


def off_only(antialias: bool) -> dict[str, bool]:
    """The antialias keyword for `resize` and its callers, passed only when off: the default call stays
    `resize(image, size, interpolation)` (the same-work tests swap in cheaper resizes of that signature)."""
    return {} if antialias else {"antialias": False}


def random_params(spec: AugmentSpec, n: Any, seed: Any = None) -> dict[str, tf.Tensor]:
    """`n` draws of the spec's parameters: stateless when `seed` (a `[2]` int tensor) is given, so the same seed
    gives the same transforms whatever thread runs it; TF's stateful RNG otherwise."""
    split = tf.random.experimental.stateless_split(seed, num=7) if seed is not None else None
    draws = iter(range(7))

    def draw(low: float, high: float) -> tf.Tensor:
        if split is None:
            return tf.random.uniform([n], low, high)
        return tf.random.stateless_uniform([n], split[next(draws)], low, high)

    return spec.random_affine_params(n, draw, tf.zeros([n]), tf.ones([n]))


def random_transforms(spec: AugmentSpec, n: Any, height: Any, width: Any, seed: Any = None) -> tf.Tensor:
    """`[n, 8]` projective transforms of `random_params` draws for `[height, width]` images."""
    return affine_transforms(random_params(spec, n, seed), height, width, TF_OPS)


def projective_warp(images: tf.Tensor, transforms: tf.Tensor) -> tf.Tensor:
    """Any affine warp: bilinear, nearest fill, output the size of the input."""
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="NEAREST",
    )


def row_warp(images: tf.Tensor, transforms: tf.Tensor) -> tf.Tensor:
    """The projective warp for transforms with no rotation (`b0 == 0`): one `crop_and_resize` box per output row.

    Output row y samples input row `b1 y + b2` (clamped: nearest fill) between x = `a1 y + a2` and that plus
    `a0 (W - 1)`. Columns beyond the image are filled by replicating the edge columns, as many as the furthest
    sample needs (measured on these transforms), so no sample reads the crop's extrapolation value.
    """
    shape = tf.shape(images)
    n, height, width = shape[0], shape[1], shape[2]
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    a0, a1, a2, b1, b2 = (transforms[:, i : i + 1] for i in (0, 1, 2, 4, 5))
    rows = tf.range(h)[None, :]  # [1, H]
    x_first = a1 * rows + a2  # [n, H]: input x of output column 0
    x_last = x_first + a0 * (w - 1.0)
    reach = tf.maximum(tf.reduce_max(-tf.minimum(x_first, x_last)), tf.reduce_max(tf.maximum(x_first, x_last) - w + 1))
    pad = tf.cast(tf.math.ceil(tf.maximum(reach, 0.0)), tf.int32) + 1
    columns = tf.clip_by_value(tf.range(-pad, width + pad), 0, width - 1)
    padded = tf.gather(images, columns, axis=2)
    span = tf.cast(width + 2 * pad - 1, tf.float32)
    pad_f = tf.cast(pad, tf.float32)
    y = tf.clip_by_value(b1 * rows + b2, 0.0, h - 1.0) / tf.maximum(h - 1.0, 1.0)
    boxes = tf.stack([y, (x_first + pad_f) / span, y, (x_last + pad_f) / span], axis=-1)
    crops = tf.image.crop_and_resize(
        padded, tf.reshape(boxes, [-1, 4]), tf.repeat(tf.range(n), height), tf.stack([1, width])
    )
    return tf.reshape(crops, shape)


def augment(images: tf.Tensor, spec: AugmentSpec, seed: Any = None) -> tf.Tensor:
    """The spec's random warp on a float32 batch `[B, H, W, C]` (values unchanged in range)."""
    if not spec.has_warp:
        return images
    shape = tf.shape(images)
    transforms = random_transforms(spec, shape[0], shape[1], shape[2], seed)
    return projective_warp(images, transforms) if spec.rotation_deg else row_warp(images, transforms)


# ---- random resized crop (ImageNet training) and centre crop (its evaluation) ----------------------------------
_WHOLE_IMAGE = ((0.0, 0.0, 1.0, 1.0),)


def crop_window(shape: tf.Tensor, spec: AugmentSpec, seed: tf.Tensor) -> tf.Tensor:
    """`[offset_y, offset_x, height, width]` of a random resized crop of an image of `shape` (`[H, W, C]`).

    `sample_distorted_bounding_box` draws the area fraction in `spec.crop_scale` and the aspect ratio in
    `spec.crop_ratio`, 10 attempts (as torchvision's RandomResizedCrop), the whole image when all fail.
    """
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        image_size=shape,
        bounding_boxes=tf.constant([_WHOLE_IMAGE], tf.float32),
        seed=seed,
        min_object_covered=0.0,
        aspect_ratio_range=spec.crop_ratio,
        area_range=spec.crop_scale,
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    return tf.stack([begin[0], begin[1], size[0], size[1]])


def decode_window(raw: tf.Tensor, window: tf.Tensor, channels: int, fused: bool) -> tf.Tensor:
    """`window` (`[y, x, h, w]`) of the image in `raw`, uint8."""
    decoded = decoder_output(raw, window, channels, fused)
    if fused:
        return decoded
    return tf.slice(decoded, [window[0], window[1], 0], [window[2], window[3], channels])


def decoder_output(raw: tf.Tensor, window: tf.Tensor, channels: int, fused: bool) -> tf.Tensor:
    """What the decoder produces for `window`: fused, only the window (JPEG's `decode_and_crop_jpeg` skips the rows
    and MCU columns outside it); plain, the whole image (cut afterwards)."""
    if fused:

        def crop_in_decode() -> tf.Tensor:
            return tf.io.decode_and_crop_jpeg(raw, window, channels=channels, dct_method="INTEGER_ACCURATE")

        def other() -> tf.Tensor:  # not a JPEG: nothing to fuse
            return tf.slice(decode(raw, channels), [window[0], window[1], 0], [window[2], window[3], channels])

        image = tf.cond(tf.io.is_jpeg(raw), crop_in_decode, other)
        image.set_shape([None, None, channels])
        return image
    return decode(raw, channels)


def image_shape(raw: tf.Tensor, channels: int) -> tf.Tensor:
    """`[H, W, channels]` from the header alone for a JPEG (no decode), else by decoding."""
    return tf.cond(
        tf.io.is_jpeg(raw),
        lambda: tf.concat([tf.io.extract_jpeg_shape(raw)[:2], [channels]], 0),
        lambda: tf.shape(decode(raw, channels), out_type=tf.int32),
    )


def decode_random_crop(
    raw: tf.Tensor,
    spec: AugmentSpec,
    size: tuple[int, int],
    channels: int,
    seed: tf.Tensor,
    fused: bool,
    antialias: bool = True,
) -> tf.Tensor:
    """Image bytes -> uint8 `[*size, channels]`: a random resized crop, resized as PIL does (or without
    antialiasing), flipped with probability 1/2 when the spec flips. `fused` changes how much is decoded, never
    which crop is taken."""
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    window = crop_window(image_shape(raw, channels), spec, crop_seed)
    image = resize(decode_window(raw, window, channels, fused), size, spec.resize_interpolation, **off_only(antialias))
    if spec.horizontal_flip:
        image = tf.image.stateless_random_flip_left_right(image, flip_seed)
    return image


def decode_center_crop(
    raw: tf.Tensor, spec: AugmentSpec, size: tuple[int, int], channels: int, antialias: bool = True
) -> tf.Tensor:
    """Image bytes -> the centred square `eval_center_crop` of the shorter side, resized to `size` (evaluation)."""
    shape = image_shape(raw, channels)
    side = tf.cast(tf.cast(tf.minimum(shape[0], shape[1]), tf.float32) * spec.eval_center_crop, tf.int32)
    window = tf.stack([(shape[0] - side) // 2, (shape[1] - side) // 2, side, side])
    window_image = decode_window(raw, window, channels, fused=True)
    return resize(window_image, size, spec.resize_interpolation, **off_only(antialias))
