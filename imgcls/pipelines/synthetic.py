"""The ceiling: one real, preprocessed batch held in memory and fed again and again.

What the model can consume when input costs nothing. The batch is real (the first examples of the training split,
preprocessed like the other pipelines) so numerics and shapes match; training on it teaches nothing, so
evaluation returns None and accuracy is recorded as null for this pipeline.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from imgcls.data.types import DataSet
from imgcls.pipelines.base import InputConfig, Pipeline
from imgcls.pipelines.options import NAIVE, NoOptions
from imgcls.pipelines.tfdata import TfDataPipeline, decoded_head


@dataclass(frozen=True)
class SyntheticPipeline(Pipeline):
    name: str = "synthetic"
    opts: NoOptions = field(default_factory=NoOptions)

    def constant_batch(self, data: DataSet, config: InputConfig) -> tuple[np.ndarray, np.ndarray]:
        """The first training examples, decoded and preprocessed once by the plain tf.data graph (no augmentation),
        tiled to a full batch: exactly the dtype and shape the run's pipeline delivers."""
        head = dataclasses.replace(data, test=data.train.take(config.batch_size))
        if head.test.records is not None:  # shards of any format: decoded here, preprocessed below
            head = dataclasses.replace(head, test=decoded_head(head.test, config, config.batch_size))
        images, labels = next(iter(TfDataPipeline(name="synthetic-source", opts=NAIVE).eval_data(head, config)))
        images, labels = np.asarray(images), np.asarray(labels)
        if images.shape[0] < config.batch_size:
            reps = -(-config.batch_size // images.shape[0])
            images = np.concatenate([images] * reps)[: config.batch_size]
            labels = np.concatenate([labels] * reps)[: config.batch_size]
        return images, labels

    def train_data(self, data: DataSet, config: InputConfig) -> tf.data.Dataset:
        images, labels = self.constant_batch(data, config)
        return tf.data.Dataset.from_tensors((tf.constant(images), tf.constant(labels))).repeat()

    def eval_data(self, data: DataSet, config: InputConfig) -> None:
        return None
