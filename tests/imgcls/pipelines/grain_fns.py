"""Grain pipeline functions a user might write for `--pipeline-fn` (CIFAR-10-shaped batches, as `user_fns`)."""

from __future__ import annotations

from typing import Any

import grain

from tests.imgcls.user_fns import _arrays


def map_dataset(batch_size: int, seed: int = 0) -> Any:
    """A `grain.MapDataset`: shuffled, endless, batched."""
    x, y = _arrays(seed=seed)
    source = grain.MapDataset.source([(x[i], y[i]) for i in range(len(y))])
    return source.shuffle(seed=seed).repeat().batch(batch_size, drop_remainder=True)


def iter_dataset(batch_size: int, seed: int = 0) -> Any:
    """The same as a `grain.IterDataset` (what `to_iter_dataset` makes for prefetching)."""
    return map_dataset(batch_size, seed).to_iter_dataset()
