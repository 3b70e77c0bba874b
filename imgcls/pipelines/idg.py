"""The legacy baseline: the real Keras `ImageDataGenerator` (never a re-implementation).

Keras 3 keeps it at `keras.src.legacy.preprocessing.image` (tf.keras re-exports the same class); this is the only
module that imports it. Arrays go through `flow`; image files through `flow_from_dataframe`, which is the same
`BatchFromFilesMixin` reader as `flow_from_directory` but takes an explicit file list, so `idg` and `tfdata` read
exactly the same files (after the folder scan's skip policy and any `--limit`).
"""

from __future__ import annotations

import contextlib
import io
import queue
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from keras.src.legacy.preprocessing.image import ImageDataGenerator

from imgcls.augment import AugmentSpec
from imgcls.data.types import DataSet, Split
from imgcls.pipelines.base import InputConfig, Pipeline
from imgcls.pipelines.options import IdgOptions

IDG_IMPLEMENTATION = "keras.src.legacy.preprocessing.image.ImageDataGenerator"


@dataclass(frozen=True)
class IdgPipeline(Pipeline):
    name: str = "idg"
    opts: IdgOptions = field(default_factory=IdgOptions)
    _enqueuers: list = field(default_factory=list, repr=False, compare=False)

    def options(self) -> dict[str, Any]:
        return {**asdict(self.opts), "implementation": IDG_IMPLEMENTATION}

    def _iterator(self, split: Split, config: InputConfig, spec: AugmentSpec, shuffle: bool) -> Any:
        generator = ImageDataGenerator(**spec.idg_kwargs(preprocess=not config.raw_output))
        if split.images is not None:
            iterator = generator.flow(
                split.images, split.labels, batch_size=config.batch_size, shuffle=shuffle, seed=config.seed
            )
        else:
            import pandas as pd  # flow_from_dataframe's own input type

            frame = pd.DataFrame({"filename": list(split.paths), "label": split.labels.astype(str)})
            # Keras prints "Found N non-validated image filenames" on stdout for every split: stdout is for the
            # run's table, and the record already says how many files were read.
            with contextlib.redirect_stdout(io.StringIO()):
                iterator = generator.flow_from_dataframe(
                    frame,
                    x_col="filename",
                    y_col="label",
                    classes=[str(i) for i in range(int(split.labels.max()) + 1)],
                    target_size=config.image_size,
                    color_mode="rgb" if config.channels == 3 else "grayscale",
                    class_mode="sparse",
                    batch_size=config.batch_size,
                    shuffle=shuffle,
                    seed=config.seed,
                    interpolation=spec.resize_interpolation,
                    validate_filenames=False,  # the folder scan already checked every file
                )
        iterator.workers = self.opts.workers
        iterator.use_multiprocessing = self.opts.use_multiprocessing
        return iterator

    def train_data(self, data: DataSet, config: InputConfig) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """An endless generator over the IDG iterator's own endless `next()` (it reshuffles every pass).

        Keras would stop a finite PyDataset early when steps x epochs exceed one pass; a generator runs as long
        as the runner asks. Keras's TF trainer wraps both the same way (`from_generator` + prefetch), so this is
        how Keras 3 really feeds an ImageDataGenerator. Partial last batches are dropped, like tf.data's
        `drop_remainder=True`, so both pipelines train the same number of full batches.
        """
        if len(data.train) < config.batch_size:
            raise ValueError(f"ImageDataGenerator needs a full batch of {config.batch_size}, has {len(data.train)}")
        iterator = self._iterator(data.train, config, config.augment, shuffle=True)
        # IDG's own endless next() reshuffles every pass; with workers, Keras's enqueuer prepares batches in parallel.
        batches = self._parallel_passes(iterator) if self.opts.workers > 1 else iterator

        def endless() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            for images, labels in batches:
                if len(labels) == config.batch_size:
                    yield images, labels.astype(np.int32)

        return endless()

    def _parallel_passes(self, iterator: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Endless batches prepared by Keras's own `OrderedEnqueuer` (what `fit` uses for a PyDataset with
        `workers` > 1); it serves one pass, so a new one is started per pass, after IDG reshuffles."""
        from keras.src.trainers.data_adapters.py_dataset_adapter import OrderedEnqueuer

        while True:
            enqueuer = OrderedEnqueuer(
                iterator, workers=self.opts.workers, use_multiprocessing=self.opts.use_multiprocessing
            )
            enqueuer.start()
            self._enqueuers.append(enqueuer)
            stream = enqueuer.get()
            try:
                for _ in range(len(iterator)):
                    yield next(stream)
            finally:
                _stop(enqueuer)
                if enqueuer in self._enqueuers:
                    self._enqueuers.remove(enqueuer)
            iterator.on_epoch_end()

    def close(self) -> None:
        """Stops the worker threads of any enqueuer started for training, within a few seconds."""
        while self._enqueuers:
            _stop(self._enqueuers.pop())

    def eval_data(self, data: DataSet, config: InputConfig) -> Any:
        return self._iterator(data.test, config, config.augment.without_augmentation(), shuffle=False)


STOP_TIMEOUT_SEC = 5.0


def _stop(enqueuer: Any, timeout_sec: float = STOP_TIMEOUT_SEC) -> None:
    """Stops a Keras enqueuer without waiting for the batches it has in flight.

    `stop()`'s default drains its queue by *computing* every queued batch (up to 10, seconds each for JPEGs on one
    core) and then joins a thread that may be blocked putting the next one: an interrupted run sat there for
    minutes. `stop(drain_queue_and_join=False)` only flags it; taking the queued futures off unblocks its thread,
    which then sees the flag, closes its pool and exits -- waited for at most `timeout_sec` (it is a daemon).
    """
    thread = enqueuer.run_thread
    enqueuer.stop(drain_queue_and_join=False)
    deadline = time.monotonic() + timeout_sec
    while thread is not None and thread.is_alive() and time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            enqueuer.future_queue.get(timeout=0.05)
