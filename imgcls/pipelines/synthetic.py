"""The ceiling: one real, preprocessed batch held in memory and fed again and again.

What the model can consume when input costs nothing. The batch is real (the first examples of the training split,
preprocessed like the other pipelines) so numerics and shapes match; training on it teaches nothing, so
evaluation returns None and accuracy is recorded as null for this pipeline.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import tensorflow as tf

from imgcls.data.types import DataSet
from imgcls.pipelines.base import InputConfig, Pipeline
from imgcls.pipelines.options import NAIVE, NoOptions
from imgcls.pipelines.tfdata import TfDataPipeline


@dataclass(frozen=True)
class SyntheticPipeline(Pipeline):
    name: str = "synthetic"
    opts: NoOptions = field(default_factory=NoOptions)

    def train_data(self, data: DataSet, config: InputConfig) -> tf.data.Dataset:
        # Decode + preprocess the first training examples once with the plain tf.data graph (no augmentation).
        head = dataclasses.replace(data, test=data.train.take(config.batch_size))
        first = next(iter(TfDataPipeline(name="synthetic-source", opts=NAIVE).eval_data(head, config)))
        images, labels = first
        if images.shape[0] < config.batch_size:
            reps = -(-config.batch_size // images.shape[0])
            images = tf.tile(images, [reps, 1, 1, 1])[: config.batch_size]
            labels = tf.tile(labels, [reps])[: config.batch_size]
        batch = (tf.constant(images), tf.constant(labels))
        return tf.data.Dataset.from_tensors(batch).repeat()

    def eval_data(self, data: DataSet, config: InputConfig) -> None:
        return None
