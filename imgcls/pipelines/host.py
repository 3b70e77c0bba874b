"""What the map-style host loaders (PyDataset, torch DataLoader, Grain) share: a split read by index, rendered by
`imgcls.render_np`, and one deterministic order.

A loader that reads by index must not hold state its workers would race on, so everything here is a pure
function of (seed, index): the training stream is the concatenation of per-epoch permutations of the split (so a
split smaller than one batch still gives full batches, and every epoch is reshuffled), and batch `i` is augmented
with a generator seeded by (seed, i) -- the same batches whichever worker, thread or process computes them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from imgcls import render_np
from imgcls.augment import AugmentSpec
from imgcls.data.types import Split
from imgcls.pipelines.base import InputConfig


@dataclass(frozen=True)
class SplitReader:
    """Index -> (uint8 image `[H, W, C]` as IDG loads it, int label); picklable (process workers get a copy)."""

    split: Split
    config: InputConfig

    def __len__(self) -> int:
        return len(self.split)

    def image(self, index: int) -> np.ndarray:
        if self.split.images is not None:
            return self.split.images[index]
        size = self.config.image_size if self.config.resize else None
        return render_np.load(
            self.split.paths[index], size, self.config.channels, self.config.augment.resize_interpolation
        )

    def label(self, index: int) -> int:
        return int(self.split.labels[index])

    def batch(self, indices: np.ndarray, spec: AugmentSpec, rng: np.random.Generator | None) -> tuple:
        """`(images, int32 labels)` for these indices: warped with `rng` (None: not augmented), preprocessed."""
        images = render_np.finish([self.image(int(i)) for i in indices], spec, rng, raw=self.config.raw_output)
        return images, self.split.labels[np.asarray(indices)].astype(np.int32)


@functools.lru_cache(maxsize=8)
def epoch_order(seed: int, size: int, epoch: int) -> np.ndarray:
    """The permutation of `range(size)` for one epoch of a seeded stream."""
    return np.random.default_rng([seed, epoch]).permutation(size)


def stream_indices(seed: int, size: int, start: int, count: int) -> np.ndarray:
    """Elements `[start, start + count)` of the endless stream of per-epoch permutations."""
    positions = np.arange(start, start + count)
    epochs, offsets = np.divmod(positions, size)
    return np.array([epoch_order(seed, size, int(e))[o] for e, o in zip(epochs, offsets, strict=True)])


def batch_rng(seed: int, index: int) -> np.random.Generator:
    """The augmentation generator of training batch `index` (independent of the order stream)."""
    return np.random.default_rng([seed, 1, index])


def seed_of(config: InputConfig) -> int:
    """The run's seed as the loaders use it (None -> 0, as the tf.data graph does)."""
    return config.seed or 0
