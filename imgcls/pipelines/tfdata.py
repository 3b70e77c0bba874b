"""tf.data pipelines with every optimisation a switchable option.

The graph, in order, and why:
  source      arrays (`from_tensor_slices`), file paths + labels, or TFRecord shards (`bench prepare`)
  shuffle     early, on cheap elements (paths / in-memory rows / shard names), when nothing is cached
  read        `tf.io.read_file`, optionally through `interleave` (parallel reads; files only); shards are read
              through `interleave(TFRecordDataset)` and their records shuffled in a buffer, then parsed to the
              file's bytes and label, so the decode below is the folder's very work
  decode      decode JPEG/PNG to 3 (or 1) channels + resize to the workload's size as PIL does it (IDG's work:
              accurate IDCT, antialiased bilinear, rounded), kept uint8 -- see `imgcls.render_tf`;
              `resize_antialias` off resizes as fast loaders do (2x2 samples), cheaper and different work
  cache       `cache_at="decode"`: before the shuffle, so every epoch is reshuffled from the cache
  augment     the spec's affine warp (one op per batch when `vectorize`, else per image), then the value
              preprocessing; skipped when the model augments on the device (`raw_output`)
  batch       `drop_remainder=True`: static shapes, same steps as the idg baseline
  cache       `cache_at="augment"`: freezes augmentation after the first epoch (a measured trade-off)
  repeat      endless; the runner sets steps per epoch
  prefetch    overlaps input with the train step
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from imgcls import render_tf
from imgcls.augment import PREPROCESSORS, AugmentSpec
from imgcls.data import shards
from imgcls.data.types import DataSet, Split
from imgcls.options import changed
from imgcls.pipelines.base import InputConfig, Pipeline
from imgcls.pipelines.options import TfDataOptions


def _rotated(ds: tf.data.Dataset, size: int, stream: Any) -> tf.data.Dataset:
    """The dataset started `stream mod size` elements in (then wrapping round); itself when `stream` is None."""
    if stream is None:
        return ds
    start = tf.math.floormod(stream, size)
    return ds.skip(start).concatenate(ds.take(start))


def _decode_bytes(raw: tf.Tensor, config: InputConfig, antialias: bool = True) -> tf.Tensor:
    """File bytes -> uint8 image at the size the model takes (`config.resize` False: the stored size); a spec with
    an evaluation centre crop takes it (only the crop is decoded). `antialias`: the resize's filter."""
    resize = render_tf.off_only(antialias)
    if config.augment.eval_center_crop and config.resize:
        return render_tf.decode_center_crop(raw, config.augment, config.image_size, config.channels, **resize)
    image = render_tf.decode(raw, config.channels)
    if not config.resize:  # every file is this size (checked by the caller): the model resizes
        image.set_shape([*config.image_size, config.channels])
        return image
    return render_tf.resize(image, config.image_size, config.augment.resize_interpolation, **resize)


_RECORD_FEATURES = {
    shards.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string),
    shards.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
}


def _parse_record(record: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """A serialized `tf.train.Example` -> (the image file's bytes, int32 label), as the folder path reads them."""
    features = tf.io.parse_single_example(record, _RECORD_FEATURES)
    return features[shards.IMAGE_KEY], tf.cast(features[shards.LABEL_KEY], tf.int32)


def _augment_and_preprocess(
    images: tf.Tensor, spec: AugmentSpec, per_image: bool, seed: tf.Tensor | None = None, raw: bool = False
) -> tf.Tensor:
    if raw:  # the model augments and preprocesses (on the device): deliver the decoded uint8 images
        return images
    x = tf.cast(images, tf.float32)
    if spec.has_warp:
        x = render_tf.augment(x[None], spec, seed)[0] if per_image else render_tf.augment(x, spec, seed)
    return PREPROCESSORS[spec.preprocess](x)


@dataclass(frozen=True)
class TfDataPipeline(Pipeline):
    """A tf.data pipeline; `opts` holds every knob."""

    name: str = "tfdata"
    opts: TfDataOptions = field(default_factory=TfDataOptions)

    def __repr__(self) -> str:
        return f"TfDataPipeline({self.name!r}, {changed(self.opts, TfDataOptions())})"

    # -- pieces ---------------------------------------------------------------------------------------------
    def _tf_options(self) -> tf.data.Options:
        options = tf.data.Options()
        options.deterministic = self.opts.deterministic
        # tf.data's default rewrites would undo `off`: it injects a prefetch after the last stage, batches ahead in
        # the background (parallel batch) and parallelises stateless maps. A knob set to off means off.
        if self.opts.prefetch is None:
            options.experimental_optimization.inject_prefetch = False
            options.experimental_optimization.parallel_batch = False
        if self.opts.map_parallel is None:
            options.experimental_optimization.map_parallelization = False
        if self.opts.private_threadpool is not None:
            options.threading.private_threadpool_size = self.opts.private_threadpool
        if self.opts.max_intra_op is not None:
            options.threading.max_intra_op_parallelism = self.opts.max_intra_op
        if self.opts.autotune_ram_budget_mb is not None:
            options.autotune.ram_budget = self.opts.autotune_ram_budget_mb * 1024 * 1024
        if self.opts.autotune_cpu_budget is not None:
            options.autotune.cpu_budget = self.opts.autotune_cpu_budget
        return options

    def _map(self, ds: tf.data.Dataset, fn: Any) -> tf.data.Dataset:
        if self.opts.map_parallel is None:  # sequential: `deterministic` has no meaning (and TF warns)
            return ds.map(fn)
        return ds.map(fn, num_parallel_calls=self.opts.map_parallel, deterministic=self.opts.deterministic)

    def _cache(self, ds: tf.data.Dataset, tag: str) -> tf.data.Dataset:
        if self.opts.cache == "memory":
            return ds.cache()
        if self.opts.cache == "file":
            import tempfile

            folder = self.opts.cache_dir or tempfile.mkdtemp(prefix="imgcls-tfdata-cache-")
            return ds.cache(f"{folder}/{tag}")
        return ds

    def _decoder(self, config: InputConfig, train: bool) -> tuple[Any, bool]:
        """`(fn(raw, label) -> (image, label), counted)`. A training spec with a random resized crop decodes and
        crops in one step (`crop_decode`: fused into the JPEG decode, or plain), seeded by the element's counter
        (`counted`: `fn` takes `(index, (raw, label))`), so which image gets which crop never depends on threads."""
        spec = config.augment
        antialias = self.opts.resize_antialias
        if not (train and spec.has_crop and not config.raw_output):
            resize = render_tf.off_only(antialias)  # the default call stays `_decode_bytes(raw, config)`
            return (lambda raw, y: (_decode_bytes(raw, config, **resize), y)), False
        base = tf.constant(config.seed or 0, tf.int64)
        fused = self.opts.crop_decode == "fused"

        def crop(index: tf.Tensor, element: tuple[tf.Tensor, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
            raw, y = element
            seed = tf.stack([base, index])
            size, channels = config.image_size, config.channels
            return render_tf.decode_random_crop(raw, spec, size, channels, seed, fused, antialias), y

        return crop, True

    def _load(
        self,
        split: Split,
        config: InputConfig,
        shuffle: bool,
        stop: str = "decode",
        stream: Any = None,
        train: bool = True,
        repeat: bool = False,
    ) -> tf.data.Dataset:
        """Source -> (early shuffle) -> read -> decode: elements `(uint8 image [H,W,C], int32 label)`.

        `stop="read"` ends after reading file bytes (the first stage of the per-stage timing). `stream` (an int64
        tensor) rotates the source by that many elements first: streams seeded alike then differ. `train` False
        (evaluation) never crops at random. `repeat`: the files (or shards) repeat, each pass reshuffled, before
        the decode's counter is zipped in, so a crop seeded by it is drawn afresh every epoch (a counter zipped in
        before a later `repeat` restarts with each epoch, and every epoch would draw the same crops).
        """
        if split.images is not None:
            ds = _rotated(tf.data.Dataset.from_tensor_slices((split.images, split.labels)), len(split), stream)
            if shuffle:
                ds = ds.shuffle(min(self.opts.shuffle_buffer, len(split)), seed=config.seed)
            return ds
        if split.records is not None:
            ds = self._read_records(split, config, shuffle, stream, repeat)
            if stop == "read":
                return ds
            decode, counted = self._decoder(config, train)
            return self._map(tf.data.Dataset.zip(tf.data.Dataset.counter(), ds) if counted else ds, decode)
        ds = _rotated(tf.data.Dataset.from_tensor_slices((list(split.paths), split.labels)), len(split), stream)
        if shuffle:
            # Shuffling paths is free, so the whole list is shuffled whatever the buffer knob says.
            ds = ds.shuffle(len(split), seed=config.seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        if self.opts.interleave_cycle is not None:
            ds = ds.interleave(
                lambda p, y: tf.data.Dataset.from_tensors((tf.io.read_file(p), y)),
                cycle_length=self.opts.interleave_cycle,
                num_parallel_calls=self.opts.interleave_parallel,
                deterministic=self.opts.deterministic,
            )
            if stop == "read":
                return ds
            decode, counted = self._decoder(config, train)
            return self._map(tf.data.Dataset.zip(tf.data.Dataset.counter(), ds) if counted else ds, decode)
        if stop == "read":
            return self._map(ds, lambda p, y: (tf.io.read_file(p), y))
        decode, counted = self._decoder(config, train)
        if counted:
            ds = tf.data.Dataset.zip(tf.data.Dataset.counter(), ds)
            return self._map(ds, lambda i, element: decode(i, (tf.io.read_file(element[0]), element[1])))
        return self._map(ds, lambda p, y: decode(tf.io.read_file(p), y))

    def _read_records(
        self, split: Split, config: InputConfig, shuffle: bool, stream: Any, repeat: bool = False
    ) -> tf.data.Dataset:
        """TFRecord shards -> `(file bytes, label)`: the shard list shuffled (as `Dataset.list_files` would, with
        each shard's record count beside it so a limited split reads exactly its first examples), read through
        `interleave(TFRecordDataset)` (`interleave_cycle` shards at once, `interleave_parallel` calls), records
        shuffled in a `shuffle_buffer`. Unshuffled (evaluation) reads the shards one after another: the folder's
        order."""
        records = split.records
        shards.require_format(records, "tfrecord", self.name)
        files = tf.data.Dataset.from_tensor_slices((list(records.files), tf.constant(records.counts, tf.int64)))
        files = _rotated(files, len(records.files), stream)
        if shuffle:
            files = files.shuffle(len(records.files), seed=config.seed, reshuffle_each_iteration=True)
        if repeat:
            files = files.repeat()
        read = lambda file, count: tf.data.TFRecordDataset(file).take(count)  # noqa: E731
        if not shuffle:
            ds = files.interleave(read, cycle_length=1)
        elif self.opts.interleave_parallel is None:
            ds = files.interleave(read, cycle_length=self.opts.interleave_cycle or tf.data.AUTOTUNE)
        else:
            ds = files.interleave(
                read,
                cycle_length=self.opts.interleave_cycle or tf.data.AUTOTUNE,
                num_parallel_calls=self.opts.interleave_parallel,
                deterministic=self.opts.deterministic,
            )
        if shuffle:
            ds = ds.shuffle(min(self.opts.shuffle_buffer, len(split)), seed=config.seed)
        return self._map(ds, _parse_record)

    def train_graph(
        self, data: DataSet, config: InputConfig, endless: bool = True, stream: Any = None
    ) -> tf.data.Dataset:
        """The training graph, endless (or one epoch), up to (not including) prefetch.

        `stream` (an int64 tensor, e.g. a tf.data service worker's nonce) makes this stream differ from another
        built with the same seed: the source is rotated by it and it is mixed into the augmentation seed.

        Augmentation randomness is stateless, seeded by (run seed, element counter): the counter is zipped in
        before the (possibly parallel) augment map, so which element gets which transform does not depend on
        thread timing. Hence `repeat` comes before augmentation (the counter keeps running across epochs, every
        epoch is augmented afresh) -- except with `cache_at="augment"`, where the cache freezes it anyway.
        """
        spec = config.augment
        if spec.has_crop and self.opts.cache != "off":
            from imgcls.errors import InvalidValue

            raise InvalidValue("--cache with a random resized crop would freeze the crops; use --cache off")
        cache_late = self.opts.cache != "off" and self.opts.cache_at == "augment"
        seed = config.seed
        # A crop is drawn at decode, seeded by a counter zipped in there: the files repeat before it (no cache).
        early_repeat = endless and spec.has_crop and data.train.images is None and not config.raw_output
        ds = self._load(data.train, config, shuffle=self.opts.cache == "off", stream=stream, repeat=early_repeat)
        if self.opts.cache != "off" and self.opts.cache_at == "decode":
            ds = self._cache(ds, "decoded")
            ds = ds.shuffle(min(self.opts.shuffle_buffer, len(data.train)), seed=seed)
        if endless and not cache_late and not early_repeat:
            ds = ds.repeat()
        base_seed = tf.constant(seed or 0, tf.int64) + (0 if stream is None else stream * 1_000_003)

        def augment(per_image: bool):  # noqa: ANN202
            def fn(index: tf.Tensor, element: tuple[tf.Tensor, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
                x, y = element
                seed = tf.stack([base_seed, index])
                return _augment_and_preprocess(x, spec, per_image, seed, raw=config.raw_output), y

            return fn

        if self.opts.vectorize:
            ds = ds.batch(config.batch_size, drop_remainder=True)
            ds = self._map(tf.data.Dataset.zip(tf.data.Dataset.counter(), ds), augment(per_image=False))
        else:
            ds = self._map(tf.data.Dataset.zip(tf.data.Dataset.counter(), ds), augment(per_image=True))
            ds = ds.batch(config.batch_size, drop_remainder=True)
        if cache_late:
            ds = self._cache(ds, "augmented")
            ds = ds.shuffle(max(1, self.opts.shuffle_buffer // config.batch_size), seed=seed)
            if endless:
                ds = ds.repeat()
        return ds

    # -- the protocol ---------------------------------------------------------------------------------------
    def train_data(self, data: DataSet, config: InputConfig) -> tf.data.Dataset:
        ds = self.train_graph(data, config)
        if self.opts.prefetch is not None:
            ds = ds.prefetch(self.opts.prefetch)
        return ds.with_options(self._tf_options())

    def stage_datasets(self, data: DataSet, config: InputConfig) -> dict[str, tf.data.Dataset]:
        """Growing prefixes of the training graph, in order (Plumber-style per-stage throughput).

        Each prefix is batched (if it is not yet) so Python's per-element cost does not mask the stage's own;
        the slowest prefix rate bounds the whole pipeline, and the first stage whose rate drops names the culprit.
        """
        batch = config.batch_size
        stages: dict[str, tf.data.Dataset] = {}
        if data.train.images is None:  # files or record shards
            stages["read"] = self._load(data.train, config, shuffle=True, stop="read").batch(batch)
            stages["decode"] = self._load(data.train, config, shuffle=True).batch(batch)
        else:
            stages["source"] = self._load(data.train, config, shuffle=True).batch(batch)
        stages = {name: ds.repeat() for name, ds in stages.items()}
        stages["augment"] = self.train_graph(data, config)
        stages = {name: ds.with_options(self._tf_options()) for name, ds in stages.items()}
        if self.opts.prefetch is not None:  # a stage that is not in the graph is not timed
            stages["prefetch"] = self.train_data(data, config)
        return stages

    def eval_data(self, data: DataSet, config: InputConfig) -> tf.data.Dataset:
        """The test split in order, whatever `deterministic` says for training (order is part of the contract)."""
        ordered = TfDataPipeline(name=self.name, opts=dataclasses.replace(self.opts, deterministic=True))
        spec = config.augment.without_augmentation()
        ds = ordered._load(data.test, config, shuffle=False, train=False)
        ds = ds.batch(config.batch_size)
        ds = ordered._map(ds, lambda x, y: (_augment_and_preprocess(x, spec, False, raw=config.raw_output), y))
        if self.opts.prefetch is not None:
            ds = ds.prefetch(self.opts.prefetch)
        return ds.with_options(ordered._tf_options())


def decoded_head(split: Split, config: InputConfig, n: int) -> Split:
    """The first `n` examples of a record split as a split of uint8 arrays, decoded as the graph decodes them
    (for the ceiling's constant batch, whatever the shards' format)."""
    head = shards.head_records(split.records, n)
    images = np.stack([_decode_bytes(tf.constant(raw), config).numpy() for raw, _ in head])
    return Split(labels=np.array([label for _, label in head], np.int32), images=images)


def decode_only_dataset(data: DataSet, config: InputConfig, threads: int | None = None) -> tf.data.Dataset:
    """The hardware limit of a file pipeline: read and decode every file (as the pipelines decode it), in
    parallel, nothing else. Yields `(shapes [B, 3], labels [B])`: only the shapes are batched, so images of any
    size pass and no copy is added to the decode's own work.

    Raises:
        ValueError: the data set is arrays, not files.
    """
    if data.train.paths is None:
        raise ValueError("the decode-only limit needs file inputs (a JPEG folder), not arrays")
    ds = tf.data.Dataset.from_tensor_slices((list(data.train.paths), data.train.labels)).repeat()
    ds = ds.map(
        lambda path, label: (tf.shape(render_tf.decode(tf.io.read_file(path), config.channels)), label),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=False,
    )
    options = tf.data.Options()
    if threads:
        options.threading.private_threadpool_size = threads
    return ds.batch(config.batch_size).prefetch(tf.data.AUTOTUNE).with_options(options)
