"""`keras.utils.PyDataset`: the Keras-native successor of ImageDataGenerator, rendering the spec with numpy.

A real `PyDataset` subclass, handed to `model.fit` as is: Keras's `PyDatasetAdapter` runs it (its
`OrderedEnqueuer` with `workers` threads, or processes with `use_multiprocessing`, keeping `max_queue_size`
batches ready) on every backend. Training is endless (`num_batches` None, the PyDataset way of saying so); batch
`i` is a pure function of (seed, i) (`imgcls.pipelines.host`), so workers never share mutable state.
Decode, resize and warp are IDG's own (`imgcls.render_np`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from imgcls.augment import AugmentSpec
from imgcls.data.types import DataSet
from imgcls.pipelines import host
from imgcls.pipelines.base import InputConfig, Pipeline
from imgcls.pipelines.options import PyDatasetOptions


class SpecBatches(keras.utils.PyDataset):
    """Batches of one split. `endless`: the shuffled, augmented training stream; else the split once, in order,
    partial last batch included, never augmented."""

    def __init__(self, reader: host.SplitReader, spec: AugmentSpec, *, endless: bool, opts: PyDatasetOptions) -> None:
        super().__init__(
            workers=opts.workers, use_multiprocessing=opts.use_multiprocessing, max_queue_size=opts.max_queue_size
        )
        self.reader = reader
        self.spec = spec
        self.endless = endless
        self.seed = host.seed_of(reader.config)
        self.batch_size = reader.config.batch_size
        self._adapters: list[Any] = []

    @property
    def num_batches(self) -> int | None:
        return None if self.endless else math.ceil(len(self.reader) / self.batch_size)

    def __len__(self) -> int:  # evaluation callers index a finite PyDataset by position
        if self.endless:
            raise TypeError("the training PyDataset is endless")
        return self.num_batches

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if self.endless:
            indices = host.stream_indices(self.seed, len(self.reader), index * self.batch_size, self.batch_size)
            return self.reader.batch(indices, self.spec, host.batch_rng(self.seed, index))
        if not 0 <= index < self.num_batches:
            raise IndexError(index)
        indices = np.arange(index * self.batch_size, min(len(self.reader), (index + 1) * self.batch_size))
        return self.reader.batch(indices, self.spec, None)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Batches as `model.fit` gets them: through Keras's own `PyDatasetAdapter` (its enqueuer when the
        options ask for workers), so the pipeline-alone timing measures what training is fed by."""
        from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

        adapter = PyDatasetAdapter(self, shuffle=False)
        stream = adapter.get_numpy_iterator()
        self._adapters.append((adapter, stream))
        return stream

    def stop(self) -> None:
        """Stops any enqueuer an iteration started (its worker pool)."""
        while self._adapters:
            adapter, stream = self._adapters.pop()
            stream.close()  # before the enqueuer stops, so the generator does not outlive its queue
            if adapter.enqueuer is not None:
                adapter.enqueuer.stop()


@dataclass(frozen=True)
class PyDatasetPipeline(Pipeline):
    name: str = "pydataset"
    opts: PyDatasetOptions = field(default_factory=PyDatasetOptions)
    _made: list = field(default_factory=list, repr=False, compare=False)

    def _batches(self, data: DataSet, config: InputConfig, train: bool) -> SpecBatches:
        split = data.train if train else data.test
        spec = config.augment if train else config.augment.without_augmentation()
        batches = SpecBatches(host.SplitReader(split, config), spec, endless=train, opts=self.opts)
        self._made.append(batches)
        return batches

    def train_data(self, data: DataSet, config: InputConfig) -> SpecBatches:
        return self._batches(data, config, train=True)

    def eval_data(self, data: DataSet, config: InputConfig) -> SpecBatches:
        return self._batches(data, config, train=False)

    def close(self) -> None:
        while self._made:
            self._made.pop().stop()
