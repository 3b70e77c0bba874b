"""Your own model and tf.data pipeline, measured by imgcls-bench (README: "Measure your own training").

    python -m bench run --workload cifar10 --data generated --model examples.own_training:small_cnn \
        --pipeline-fn examples.own_training:jpeg_pipeline --steps 20

`small_cnn` returns an uncompiled Keras model (the harness compiles it with the workload's loss and optimizer and
says so); `jpeg_pipeline` returns a tf.data graph of three named stages -- `decode`, `augment`, `batch` -- which
the harness finds by walking the graph and times one growing prefix at a time. The workload (`cifar10`) says what
the model is fed: 32x32x3 images, 10 classes; its data feeds the ceiling (the model alone).
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

IMAGE_SHAPE = (32, 32, 3)
NUM_CLASSES = 10


def small_cnn(input_shape: tuple[int, int, int] = IMAGE_SHAPE, num_classes: int = NUM_CLASSES) -> keras.Model:
    """A tiny uncompiled CNN (the harness passes the workload's input shape and class count)."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def _jpeg_bytes(count: int, seed: int) -> tuple[list[bytes], np.ndarray]:
    """`count` small JPEGs (a class-coloured image each) and their labels: stands in for your files."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, NUM_CLASSES, count)
    colours = rng.integers(0, 256, (NUM_CLASSES, 1, 1, 3))
    noise = rng.integers(0, 64, (count, *IMAGE_SHAPE))
    images = np.clip(colours[labels] + noise, 0, 255).astype(np.uint8)
    return [tf.io.encode_jpeg(image, quality=90).numpy() for image in images], labels.astype(np.int32)


def build_jpeg_pipeline(batch_size: int = 32, seed: int = 0, sleep_in: str | None = None) -> tf.data.Dataset:
    """decode -> augment -> batch -> prefetch; `sleep_in` names a stage to slow down (2 ms an image) for a test."""
    files, labels = _jpeg_bytes(512, seed)

    def slowed(stage: str, fn):  # noqa: ANN001, ANN202
        if stage != sleep_in:
            return fn

        def slow(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            x, y = fn(x, y)
            slept = tf.py_function(lambda: time.sleep(0.002) or 0.0, [], tf.float32)
            return tf.ensure_shape(x + tf.cast(slept, x.dtype) * 0, x.shape), y

        return slow

    def decode(data: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.io.decode_jpeg(data, channels=3)
        image.set_shape(IMAGE_SHAPE)
        return tf.cast(image, tf.float32) / 255.0, label

    def augment(image: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return tf.image.random_flip_left_right(image), label

    ds = tf.data.Dataset.from_tensor_slices((files, labels)).shuffle(512, seed=seed).repeat()
    ds = ds.map(slowed("decode", decode), num_parallel_calls=tf.data.AUTOTUNE, name="decode")
    ds = ds.map(slowed("augment", augment), num_parallel_calls=tf.data.AUTOTUNE, name="augment")
    ds = ds.batch(batch_size, drop_remainder=True, name="batch")
    return ds.prefetch(tf.data.AUTOTUNE)


def jpeg_pipeline(batch_size: int = 32, seed: int = 0) -> tf.data.Dataset:
    """The pipeline as `--pipeline-fn` calls it (with the run's batch size and seed)."""
    return build_jpeg_pipeline(batch_size, seed)
