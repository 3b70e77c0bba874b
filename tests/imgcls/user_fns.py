"""Pipeline functions a user might write, one per return type `--pipeline-fn` accepts (and some it refuses).

Each yields CIFAR-10-shaped batches (32x32x3 float32 in [0, 1], int32 labels) so a `cifar10` run can train on it.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

SHAPE = (32, 32, 3)


def _arrays(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, *SHAPE), dtype=np.float32), rng.integers(0, 10, n).astype(np.int32)


def dataset(batch_size: int, seed: int = 0) -> tf.data.Dataset:
    x, y = _arrays(seed=seed)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).map(lambda a, b: (a * 1.0, b), name="scale")
    return ds.batch(batch_size, drop_remainder=True, name="batch").repeat()


class Batches(keras.utils.PyDataset):
    def __init__(self, batch_size: int) -> None:
        super().__init__()
        self.x, self.y = _arrays()
        self.batch_size = batch_size

    def __len__(self) -> int:
        return len(self.x) // self.batch_size

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[part], self.y[part]


def py_dataset(batch_size: int) -> keras.utils.PyDataset:
    return Batches(batch_size)


def generator(batch_size: int):  # noqa: ANN201
    x, y = _arrays()
    while True:
        for start in range(0, len(x) - batch_size + 1, batch_size):
            yield x[start : start + batch_size], y[start : start + batch_size]


def torch_loader(batch_size: int):  # noqa: ANN201
    import torch

    x, y = _arrays()
    data = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    return torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True, drop_last=True)


def a_list(batch_size: int) -> list:
    return [_arrays()]


def wrong_size(batch_size: int) -> tf.data.Dataset:
    x, y = _arrays()
    return tf.data.Dataset.from_tensor_slices((x[:, :16, :16], y)).batch(batch_size, drop_remainder=True).repeat()


def broken(batch_size: int) -> tf.data.Dataset:
    raise RuntimeError("my pipeline is broken")


def not_a_model() -> str:
    return "a model"


def small_model(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    inputs = keras.Input(input_shape)
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


def compiled_model(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    model = small_model(input_shape, num_classes)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def fixed_input_model() -> keras.Model:
    inputs = keras.Input((64, 64, 3))
    return keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))
