"""The augmentation spec as a Keras layer: augment (and preprocess) on the accelerator, inside the model.

`--augment-on device` leaves the input pipeline only decoding and resizing (uint8 batches: a quarter of the bytes
to move) and runs the same `AugmentSpec` here, with the active Keras backend's ops on whatever device trains: the
same transform matrix as the host renderings (`affine_transforms`), the same distributions (`random_affine_params`
with `keras.random`), bilinear sampling with nearest fill (`keras.ops.image.affine_transform`), then the same value
preprocessing. Active only in training; evaluation sees the preprocessed image without augmentation.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from imgcls.augment import PREPROCESSORS, AugmentSpec, affine_transforms, keras_ops


class DeviceAugmentation(keras.layers.Layer):
    """uint8 or float images `[B, H, W, C]` in 0-255 -> resized to `size` (antialiased and rounded, as PIL does),
    augmented (training only) and preprocessed float32."""

    def __init__(
        self, spec: AugmentSpec, size: tuple[int, int] | None = None, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(dtype="float32", **kwargs)  # warp in float32 whatever the mixed-precision policy
        self.spec = spec
        self.size = tuple(size) if size else None
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # TensorFlow's XLA has no kernel for the projective transform: under TF, Keras then keeps the step in a
        # plain graph (it would otherwise fail); JAX's and torch's versions compile.
        self.supports_jit = keras.backend.backend() != "tensorflow"

    def call(self, images: Any, training: bool | None = None) -> Any:
        x = ops.cast(images, "float32")
        if self.size and tuple(images.shape[1:3]) != self.size:
            antialias = self.spec.resize_interpolation != "nearest"
            x = ops.image.resize(x, self.size, interpolation=self.spec.resize_interpolation, antialias=antialias)
            x = ops.clip(ops.round(x), 0.0, 255.0)  # PIL stores the resized image as uint8
        if training and self.spec.has_warp:
            x = self._warp(x)
        return PREPROCESSORS[self.spec.preprocess].apply(x, flip_channels=lambda v: ops.flip(v, axis=-1))

    def _warp(self, x: Any) -> Any:
        shape = ops.shape(x)
        n, height, width = shape[0], shape[1], shape[2]

        def draw(low: float, high: float) -> Any:
            return keras.random.uniform((n,), minval=low, maxval=high, seed=self.seed_generator)

        zeros = ops.zeros((n,), "float32")
        params = self.spec.random_affine_params(n, draw, zeros, zeros + 1.0)
        transforms = affine_transforms(params, height, width, keras_ops())
        return ops.image.affine_transform(x, transforms, interpolation="bilinear", fill_mode="nearest")

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], *(self.size or input_shape[1:3]), input_shape[3])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "spec": self.spec.as_dict(), "size": self.size, "seed": self.seed}


def with_device_augmentation(
    model: keras.Model, spec: AugmentSpec, input_size: tuple[int, int] | None = None, seed: int | None = None
) -> keras.Model:
    """`model` behind a `DeviceAugmentation` layer that takes the pipeline's raw uint8 batches.

    Args:
        input_size: The size of the images the pipeline delivers, when it leaves the resize to the model too.
    """
    size = tuple(model.input_shape[1:3])
    inputs = keras.Input((*(input_size or size), model.input_shape[3]), dtype="uint8", name="raw_images")
    layer = DeviceAugmentation(spec, size=size, seed=seed, name="device_augmentation")
    outputs = model(layer(inputs))
    return keras.Model(inputs, outputs, name=f"{model.name}_device_augmented")
