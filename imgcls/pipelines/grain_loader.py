"""Grain: `grain.MapDataset` rendering the spec with numpy (`imgcls.render_np`), as Grain's docs build a pipeline.

Training: `MapDataset.range(n).seed(seed).shuffle().repeat()` (Grain reseeds the shuffle and every `random_map` per
epoch), `.map` decodes (IDG's `load_img`), `.random_map` warps with the generator Grain hands each element (so the
draws do not depend on which worker computes them), `.batch(drop_remainder=True)`, then
`.to_iter_dataset(ReadOptions)` and, with `worker_count` > 0, `.mp_prefetch(MultiprocessingOptions)`. Keras's
`GrainDatasetAdapter` takes the result on every backend. Evaluation is the `MapDataset` of the test split in order
(random access by batch index, as `model.evaluate` reads it).

ArrayRecord shards (`bench prepare --format arrayrecord`) are the source instead of the index range:
`MapDataset.source(grain.sources.ArrayRecordDataSource(files))` (random access into the shards, so the same global
shuffle), each record parsed to the file's bytes and label and decoded from memory by the same `load_img` call.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import grain
import numpy as np

from imgcls import render_np
from imgcls.data import shards
from imgcls.data.types import DataSet, Split
from imgcls.pipelines import host
from imgcls.pipelines.base import InputConfig, Pipeline
from imgcls.pipelines.options import GrainOptions


@dataclass(frozen=True)
class _Decode:
    """Index -> (uint8 image, label): picklable, so worker processes get it."""

    reader: host.SplitReader

    def __call__(self, index: int) -> tuple[np.ndarray, int]:
        return self.reader.image(index), self.reader.label(index)


@dataclass(frozen=True)
class _Augment:
    """(uint8 image, label), Grain's per-element generator -> (float32 warped + preprocessed image, label)."""

    config: InputConfig
    augment: bool

    def __call__(self, element: tuple[np.ndarray, int], rng: np.random.Generator) -> tuple[np.ndarray, int]:
        image, label = element
        out = render_np.finish([image], self.config.augment, rng if self.augment else None, self.config.raw_output)
        return out[0], label


@dataclass(frozen=True)
class _DecodeRecord:
    """Serialized record -> (uint8 image, label), decoded exactly as `_Decode` decodes the file; picklable."""

    config: InputConfig

    def __call__(self, record: bytes) -> tuple[np.ndarray, int]:
        image_bytes, label = shards.decode_record(record)
        size = self.config.image_size if self.config.resize else None
        interpolation = self.config.augment.resize_interpolation
        return render_np.load(io.BytesIO(image_bytes), size, self.config.channels, interpolation), label


def _decoded(split: Split, config: InputConfig, name: str) -> tuple[grain.MapDataset, grain.MapDataset | None]:
    """`(source, decode map)` of a split: an index range and the file reader, or the ArrayRecord shards."""
    if split.records is None:
        reader = host.SplitReader(split, config)
        return grain.MapDataset.range(len(reader)), _Decode(reader)
    shards.require_format(split.records, "arrayrecord", name)
    source = grain.sources.ArrayRecordDataSource(list(split.records.files))
    return grain.MapDataset.source(source)[: len(split)], _DecodeRecord(config)


def _absl_flags_parsed() -> None:
    """Grain's worker start reads an absl flag, which raises `UnparsedFlagAccessError` outside `absl.app` when JAX
    is installed (google/grain#1355, fixed after 0.2.18); the workaround that issue gives: mark the flags parsed."""
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


def _stack(elements: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray]:
    return np.stack([e[0] for e in elements]), np.array([e[1] for e in elements], dtype=np.int32)


@dataclass(frozen=True)
class GrainPipeline(Pipeline):
    name: str = "grain"
    opts: GrainOptions = field(default_factory=GrainOptions)

    def train_data(self, data: DataSet, config: InputConfig) -> grain.IterDataset:
        source, decode = _decoded(data.train, config, self.name)
        ds = source.seed(host.seed_of(config)).shuffle().repeat()
        ds = ds.map(decode).random_map(_Augment(config, augment=config.augment.has_warp))
        ds = ds.batch(config.batch_size, drop_remainder=True, batch_fn=_stack)
        stream = ds.to_iter_dataset(
            grain.ReadOptions(num_threads=self.opts.read_threads, prefetch_buffer_size=self.opts.read_buffer)
        )
        if self.opts.worker_count:
            _absl_flags_parsed()
            stream = stream.mp_prefetch(
                grain.MultiprocessingOptions(
                    num_workers=self.opts.worker_count, per_worker_buffer_size=self.opts.worker_buffer_size
                )
            )
        return stream

    def eval_data(self, data: DataSet, config: InputConfig) -> Any:
        spec = config.augment.without_augmentation()
        source, decode = _decoded(data.test, config, self.name)
        ds = source.map(decode)
        ds = ds.map(lambda e: (render_np.finish([e[0]], spec, None, config.raw_output)[0], e[1]))
        return ds.batch(config.batch_size, batch_fn=_stack)
