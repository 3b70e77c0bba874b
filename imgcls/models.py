"""The seed tutorial's models as plain functions returning uncompiled `keras.Model`s.

Every model ends in a float32 softmax so that mixed-precision policies keep the loss numerically stable.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
from keras import layers

from imgcls.errors import WeightsUnavailable


def _softmax_head(x: keras.KerasTensor, num_classes: int) -> keras.KerasTensor:
    x = layers.Dense(num_classes)(x)
    return layers.Activation("softmax", dtype="float32")(x)


def mnist_cnn(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """The seed's simple MNIST CNN: Conv2D(25, 3x3) -> MaxPool(1x1) -> Dense(100) -> softmax."""
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(25, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D(pool_size=1)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(100, activation="relu")(x)
    return keras.Model(inputs, _softmax_head(x, num_classes), name="mnist_cnn")


def cifar10_cnn(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """The seed's deeper CIFAR-10 CNN: Conv 50-75-125, Dropout, Dense 500-250."""
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(50, 3, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(75, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Conv2D(125, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(500, activation="relu")(x)
    x = layers.Dropout(0.4)(x)
    x = layers.Dense(250, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    return keras.Model(inputs, _softmax_head(x, num_classes), name="cifar10_cnn")


def imagenette_cnn(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """The seed's basic Imagenette CNN: three Conv/MaxPool blocks (32-64-64) and a Dense(128) head."""
    inputs = keras.Input(input_shape)
    x = inputs
    for filters in (32, 64, 64):
        x = layers.Conv2D(filters, 3, activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, _softmax_head(x, num_classes), name="imagenette_cnn")


VGG16_NOTOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"


def _resolve_vgg16_weights(weights: str | None) -> str | None:
    """Maps `--weights imagenet|none|PATH` to what `keras.applications.VGG16` takes, or a one-line error."""
    if weights in (None, "none"):
        return None
    if weights == "imagenet":
        cached = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / VGG16_NOTOP_FILE
        if cached.exists():
            return str(cached)
        from imgcls.net import host_reachable

        if not host_reachable("storage.googleapis.com"):
            raise WeightsUnavailable(
                f"ImageNet VGG16 weights are not cached and cannot be downloaded here: put {VGG16_NOTOP_FILE} "
                f"at {cached}, or pass --weights PATH (an .h5 file) or --weights none"
            )
        return "imagenet"
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsUnavailable(f"--weights {weights}: no such file; pass imagenet, none, or an .h5 file path")
    return str(path)


def vgg16_transfer(
    input_shape: tuple[int, int, int], num_classes: int, weights: str | None = "imagenet"
) -> keras.Model:
    """The seed's transfer model: a frozen VGG16 base (ImageNet weights) and a new classification head.

    Args:
        input_shape: At least 32x32x3 (VGG16's five poolings).
        num_classes: Output classes.
        weights: `imagenet` (Keras's cache/download), `none` (random init), or a path to an .h5 file.

    Raises:
        WeightsUnavailable: ImageNet weights neither cached nor downloadable, or a missing weights file.
    """
    from keras.applications import VGG16

    base = VGG16(include_top=False, weights=_resolve_vgg16_weights(weights), input_shape=input_shape)
    base.trainable = False
    inputs = keras.Input(input_shape)
    x = base(inputs, training=False)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, _softmax_head(x, num_classes), name="vgg16_transfer")


def resnet50(input_shape: tuple[int, int, int], num_classes: int, weights: str | None = None) -> keras.Model:
    """Keras's ResNet-50 (`keras.applications.ResNet50`, random init unless `weights` names its no-top weights
    file) with a float32 softmax head for `num_classes`: what `--model resnet50` builds."""
    from imgcls.model_specs import parse_model_spec

    return parse_model_spec("resnet50").build(input_shape, num_classes, weights).model
