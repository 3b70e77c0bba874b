"""Record shards: sharded copies of a class-folder JPEG tree (`bench prepare`), and their checked manifest.

A prepared folder holds, per split (`train`, `val`), shards of records in the folder scan's order (class-interleaved,
so a prefix is class-balanced, as with the folder), `<split>-labels.npy` (the labels in that order) and
`manifest.json` (written last): the format, the class names, per-shard file, record count and byte size, and the
*source hash* -- a hash of the scanned file list (relative path, size, label of every image). Each record is one
serialized `tf.train.Example` with the file's encoded bytes (`image`, never re-encoded) and its integer `label`,
in either container: TFRecord (`tf.io.TFRecordWriter`, read by tf.data) or ArrayRecord (`ArrayRecordWriter`, read
by Grain's `ArrayRecordDataSource`). The decoders therefore see the very bytes they would read from the folder.

Shards are written into a temporary folder that is renamed into place at the end, so an interrupted prepare leaves
no manifest beside half-written shards. Preparing the same source, format and shard size again is a no-op.
Opening a prepared folder checks what is cheap to check for every shard -- present, the byte size the manifest
says (a torn copy), and the container's own framing (a foreign file) -- and says what is wrong in one line.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imgcls.data.types import DataSet, Records, Split
from imgcls.errors import DataUnavailable, InvalidValue, UserFacingError
from imgcls.registry import Registry

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
SPLITS = ("train", "val")
DEFAULT_SHARD_SIZE = 1024  # records per shard: ~15 MB of 224 px JPEGs, 10 train shards for Imagenette
IMAGE_KEY, LABEL_KEY = "image", "label"


class ShardError(DataUnavailable):
    """A prepared folder that is torn, foreign or not what was asked for; the message names the file."""


@dataclass(frozen=True)
class RecordFormat:
    """One record container: how to write a shard and how to check one cheaply.

    Attributes:
        name: The `--format` word and `Records.format`.
        suffix: Shard file extension.
        writer: `writer(path) -> (write(bytes), close())`.
        check: `check(path, count)` raises `ValueError` when the file is not a shard of this format holding
            `count` records (reading its header/footer, not every record).
        read: `read(path) -> iterator of records` in order (a few records for the ceiling's batch, and tests).
        package: `(module, pip install arguments)` of the optional package it needs, if any.
    """

    name: str
    suffix: str
    writer: Callable[[str], Any]
    check: Callable[[str, int], None]
    read: Callable[[str], Iterator[bytes]]
    package: tuple[str, str] | None = None

    def require(self) -> None:
        """Raises one line naming the package when this format's optional package is not installed."""
        import importlib.util

        if self.package and importlib.util.find_spec(self.package[0]) is None:
            raise DataUnavailable(f"{self.name} shards need {self.package[0]} (pip install {self.package[1]})")


def _tfrecord_writer(path: str) -> Any:
    import tensorflow as tf

    return tf.io.TFRecordWriter(path)


def _tfrecord_check(path: str, count: int) -> None:
    """The first record parses as a `tf.train.Example` with an image (TFRecord frames carry CRCs: a foreign file
    fails them)."""
    import tensorflow as tf

    try:
        first = [raw.numpy() for raw in tf.data.TFRecordDataset(path).take(1)]
        example = tf.train.Example.FromString(first[0]) if first else None
    except Exception as err:  # DataLossError (a frame's CRC fails: a foreign file), DecodeError (not an Example)
        raise ValueError(f"not a TFRecord file of image records ({type(err).__name__})") from None
    if example is None and count:
        raise ValueError("holds no records")
    if example is not None and IMAGE_KEY not in example.features.feature:
        raise ValueError(f"its records have no {IMAGE_KEY!r} feature")


def _tfrecord_read(path: str) -> Iterator[bytes]:
    import tensorflow as tf

    for record in tf.data.TFRecordDataset(path):
        yield record.numpy()


def _arrayrecord_read(path: str) -> Iterator[bytes]:
    from array_record.python.array_record_module import ArrayRecordReader

    reader = ArrayRecordReader(path)
    try:
        for index in range(reader.num_records()):
            yield reader.read([index])[0]
    finally:
        reader.close()


def _arrayrecord_writer(path: str) -> Any:
    from array_record.python.array_record_module import ArrayRecordWriter

    return ArrayRecordWriter(path, "group_size:1")  # one record per chunk: fast random access (Grain's reads)


def _arrayrecord_check(path: str, count: int) -> None:
    from array_record.python.array_record_module import ArrayRecordReader

    try:
        reader = ArrayRecordReader(path)
        found = reader.num_records()
        reader.close()
    except Exception as err:  # the reader raises RuntimeError/ValueError on a bad footer
        raise ValueError(f"not an ArrayRecord file ({type(err).__name__})") from None
    if found != count:
        raise ValueError(f"holds {found} records, the manifest says {count}")


_FORMATS: Registry[RecordFormat] = Registry("record format")
for _format in (
    RecordFormat("tfrecord", "tfrecord", _tfrecord_writer, _tfrecord_check, _tfrecord_read),
    RecordFormat(
        "arrayrecord",
        "array_record",
        _arrayrecord_writer,
        _arrayrecord_check,
        _arrayrecord_read,
        ("array_record", "array-record"),
    ),
):
    _FORMATS.register(_format.name, _format)


def record_formats() -> list[str]:
    return _FORMATS.names()


def get_record_format(name: str) -> RecordFormat:
    return _FORMATS.get(name)


def require_format(records: Records, fmt: str, pipeline: str) -> None:
    """Raises one line when a pipeline that reads `fmt` shards is handed shards of another format (the CLI says
    which pipelines read which before anything loads: `PipelineSpec.record_formats`)."""
    if records.format != fmt:
        raise InvalidValue(f"--pipeline {pipeline} reads {fmt} shards, not {records.format}")


def head_records(records: Records, n: int) -> list[tuple[bytes, int]]:
    """The first `n` `(image bytes, label)` of a split's shards, whatever their format."""
    read = get_record_format(records.format).read
    out: list[tuple[bytes, int]] = []
    for path, count in zip(records.files, records.counts, strict=True):
        for index, record in enumerate(read(path)):
            if len(out) == n or index == count:
                break
            out.append(decode_record(record))
        if len(out) == n:
            break
    return out


# -- records --------------------------------------------------------------------------------------------------
def encode_record(image_bytes: bytes, label: int) -> bytes:
    """One serialized `tf.train.Example`: the file's encoded bytes and its label."""
    import tensorflow as tf

    feature = {
        IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[image_bytes])),
        LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def decode_record(record: bytes) -> tuple[bytes, int]:
    """`(encoded image bytes, label)` of one serialized record (host loaders; tf.data parses in the graph)."""
    from tensorflow.core.example import example_pb2

    features = example_pb2.Example.FromString(record).features.feature
    return features[IMAGE_KEY].bytes_list.value[0], int(features[LABEL_KEY].int64_list.value[0])


# -- the manifest -----------------------------------------------------------------------------------------------
def source_hash(data: DataSet) -> str:
    """Hash of the scanned file list (relative path, size, label per image, both splits) and the class names."""
    root = Path(data.location or "")
    digest = hashlib.sha256("\n".join(data.class_names).encode())
    for name, split in zip(SPLITS, (data.train, data.test), strict=True):
        for path, label in zip(split.paths, split.labels, strict=True):
            rel = os.path.relpath(path, root)
            digest.update(f"\n{name}\t{rel}\t{os.path.getsize(path)}\t{int(label)}".encode())
    return digest.hexdigest()[:16]


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest, its shape checked (no shard is opened).

    Raises:
        ShardError: no folder or manifest, or a manifest this version does not read.
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        what = "does not exist" if not folder.is_dir() else f"has no {MANIFEST}"
        raise ShardError(f"{folder} {what}: not a folder `python -m bench prepare` wrote")
    try:
        manifest = json.loads(path.read_text())
        ok = manifest.get("version") == MANIFEST_VERSION and all(s in manifest["splits"] for s in SPLITS)
        get_record_format(manifest["format"])
    except (ValueError, KeyError, TypeError, AttributeError, UserFacingError):
        ok = False
    if not ok:
        raise ShardError(f"{path} is not a shard manifest (version {MANIFEST_VERSION}) that `bench prepare` wrote")
    return manifest


def _check_shards(folder: Path, manifest: dict[str, Any]) -> None:
    fmt = get_record_format(manifest["format"])
    fmt.require()
    for split in SPLITS:
        labels = folder / manifest["splits"][split]["labels"]
        if not labels.is_file():
            raise ShardError(f"{labels} is missing; re-run `python -m bench prepare` with --force")
        for shard in manifest["splits"][split]["shards"]:
            path = folder / shard["file"]
            if not path.is_file():
                raise ShardError(f"shard {path} is missing; re-run `python -m bench prepare` with --force")
            size = path.stat().st_size
            if size != shard["bytes"]:
                raise ShardError(
                    f"shard {path} is torn: {size} bytes, the manifest says {shard['bytes']}; "
                    "re-run `python -m bench prepare` with --force"
                )
            try:
                fmt.check(str(path), shard["count"])
            except ValueError as err:
                raise ShardError(f"shard {path}: {err}; the manifest says {fmt.name}") from None


def open_prepared(folder: Path, dataset: str | None = None) -> DataSet:
    """A prepared folder as a `DataSet` whose splits are `Records`, every shard checked.

    Args:
        folder: What `bench prepare` wrote (holds `manifest.json`).
        dataset: The data set the caller expects (a workload's); None accepts any.

    Raises:
        ShardError: a missing, torn or foreign shard, or shards of another data set.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    if dataset is not None and manifest["dataset"] != dataset:
        raise ShardError(f"{folder} holds {manifest['dataset']} shards, not {dataset}")
    _check_shards(folder, manifest)
    splits = []
    for split in SPLITS:
        entry = manifest["splits"][split]
        labels = np.load(folder / entry["labels"], allow_pickle=False).astype(np.int32)
        if len(labels) != entry["count"]:
            where = folder / entry["labels"]
            raise ShardError(f"{where} holds {len(labels)} labels, the manifest says {entry['count']}")
        files = tuple(str(folder / s["file"]) for s in entry["shards"])
        counts = tuple(int(s["count"]) for s in entry["shards"])
        splits.append(Split(labels=labels, records=Records(manifest["format"], files, counts)))
    train, test = splits
    return DataSet(
        name=manifest["dataset"],
        kind=manifest["kind"],
        source=f"{manifest['source_name']} {manifest['format']} {len(train)}/{len(test)}",
        class_names=tuple(manifest["class_names"]),
        train=train,
        test=test,
        skipped_files=dict(manifest.get("skipped", {})),
        location=str(folder),
    )


# -- prepare ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prepared:
    folder: Path
    manifest: dict[str, Any]
    written: bool  # False: the folder already held this preparation, nothing was rewritten


def default_out(data: DataSet, fmt: str) -> Path:
    """Where `bench prepare` writes without `--out`: the cache folder, named by the source and the format."""
    from imgcls.data.locations import cache_dir

    return cache_dir() / "shards" / f"{Path(data.location or data.name).name}-{fmt}"


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(start + size, n)


def _write_split(
    tmp: Path, name: str, split: Split, fmt: RecordFormat, shard_size: int, say: Callable[[str], None]
) -> dict[str, Any]:
    spans = list(_chunks(len(split), shard_size))
    shards = []
    for index, (start, stop) in enumerate(spans):
        file = f"{name}-{index:05d}-of-{len(spans):05d}.{fmt.suffix}"
        writer = fmt.writer(str(tmp / file))
        try:
            for path, label in zip(split.paths[start:stop], split.labels[start:stop], strict=True):
                writer.write(encode_record(Path(path).read_bytes(), int(label)))
        finally:
            writer.close()
        shards.append({"file": file, "count": stop - start, "bytes": (tmp / file).stat().st_size})
        say(f"{name}: shard {index + 1}/{len(spans)} written ({stop}/{len(split)} images)")
    labels = f"{name}-labels.npy"
    np.save(tmp / labels, np.asarray(split.labels, np.int32), allow_pickle=False)
    return {"count": len(split), "labels": labels, "shards": shards}


def prepare_shards(
    data: DataSet,
    out: Path,
    fmt: str,
    shard_size: int = DEFAULT_SHARD_SIZE,
    force: bool = False,
    say: Callable[[str], None] = lambda line: None,
) -> Prepared:
    """Writes `data` (a folder-tree `DataSet`) as `fmt` shards into `out`, unless `out` already holds exactly that.

    Args:
        data: A loaded class-folder tree (`load_folder_tree`): its file list is what is copied, skipped files
            left out as every pipeline leaves them out.
        out: The prepared folder (created; replaced only with `force`, and only if it holds a manifest).
        fmt: A record format name.
        shard_size: Records per shard.
        force: Replace a folder holding another (or a torn) preparation.
        say: Progress lines.

    Raises:
        ShardError: `out` holds another preparation or a torn one (without `force`), or is a folder of something
            else (never replaced).
    """
    record_format = get_record_format(fmt)
    record_format.require()
    if data.train.paths is None:
        raise ShardError(f"{data.source}: only a folder of image files can be prepared as shards")
    out = Path(out)
    key = {"format": fmt, "shard_size": shard_size, "source_hash": source_hash(data)}
    if out.exists():
        if not (out / MANIFEST).is_file():
            if out.is_dir() and not any(out.iterdir()):
                out.rmdir()
            else:
                raise ShardError(f"{out} exists and holds no {MANIFEST}: not replaced; pass another --out")
        elif not force:
            manifest = read_manifest(out)
            found = {k: manifest.get(k) for k in key}
            if found != key:
                raise ShardError(
                    f"{out} holds another preparation ({found['format']}, shard size {found['shard_size']}, "
                    f"source hash {found['source_hash']}); pass --force to replace it or another --out"
                )
            _check_shards(out, manifest)  # a torn copy of this preparation: one line naming the shard
            return Prepared(out, manifest, written=False)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        splits = {
            name: _write_split(tmp, name, split, record_format, shard_size, say)
            for name, split in zip(SPLITS, (data.train, data.test), strict=True)
        }
        manifest = {
            "version": MANIFEST_VERSION,
            **key,
            "dataset": data.name,
            "kind": data.kind,
            "source": data.location,
            "source_name": Path(data.location or data.source).name,
            "class_names": list(data.class_names),
            "skipped": data.skipped_files,
            "splits": splits,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Prepared(out, manifest, written=True)
