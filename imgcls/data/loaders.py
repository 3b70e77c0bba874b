"""Loaders, one per `--data` word: each returns a `DataSet` or raises `DataUnavailable` saying what to pass instead."""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from imgcls.data import generated
from imgcls.data.catalogue import DataSetInfo
from imgcls.data.folder import FolderScan, scan_class_folders
from imgcls.data.locations import DATA_DIR_ENV, cache_dir
from imgcls.data.types import DataSet, Split
from imgcls.errors import DataUnavailable, InvalidValue
from imgcls.net import host_reachable
from imgcls.registry import Registry

Loader = Callable[[DataSetInfo, "Path | None"], DataSet]
_LOADERS: Registry[Loader] = Registry("data source")


def register_loader(name: str) -> Callable[[Loader], Loader]:
    def wrap(fn: Loader) -> Loader:
        return _LOADERS.register(name, fn)

    return wrap


def list_data_modes() -> list[str]:
    return ["auto", *_LOADERS.names()]


def get_loader(mode: str) -> Loader:
    if mode not in _LOADERS:
        raise InvalidValue(f"Unknown data source {mode!r}; known: {', '.join(list_data_modes())}")
    return _LOADERS.get(mode)


def _fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    digest = hashlib.sha1(y[:256].astype("int64").tobytes() + x[:16].tobytes())
    return digest.hexdigest()[:12]


def _arrays_dataset(info: DataSetInfo, kind: str, source: str, arrays: tuple[np.ndarray, ...]) -> DataSet:
    x_train, y_train, x_test, y_test = arrays

    def as_nhwc(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim == 3:
            x = x[..., None]
        if x.shape[1:] != info.image_shape or x.dtype != np.uint8:
            raise DataUnavailable(
                f"{source}: expected uint8 images of shape {info.image_shape}, got {x.dtype} {x.shape[1:]}"
            )
        return x

    return DataSet(
        name=info.name,
        kind=kind,
        source=source,
        class_names=info.class_names,
        train=Split(labels=np.asarray(y_train).reshape(-1).astype(np.int32), images=as_nhwc(x_train)),
        test=Split(labels=np.asarray(y_test).reshape(-1).astype(np.int32), images=as_nhwc(x_test)),
    )


def _load_npz(info: DataSetInfo, path: Path) -> DataSet:
    try:
        # allow_pickle=False: a data file must never be able to run code.
        with np.load(path, allow_pickle=False) as data:
            arrays = tuple(data[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    except KeyError as err:
        raise DataUnavailable(f"{path}: missing array {err}; expected x_train, y_train, x_test, y_test") from err
    except (OSError, ValueError) as err:
        raise DataUnavailable(f"{path}: not a readable .npz array file ({err})") from err
    copy = info.known_copies.get(_fingerprint(arrays[0], arrays[1]), f"{path.name} (unrecognised copy)")
    counts = f"{len(arrays[1])}/{len(arrays[3])}"
    return replace(_arrays_dataset(info, "real", f"{copy} {counts}", arrays), location=str(path))


def find_in_dir(info: DataSetInfo, data_dir: Path, named_by: str = "data directory") -> Path:
    """The data set's file or folder (`info.dir_entry`) inside `data_dir`.

    Raises:
        DataUnavailable: no such directory, or it lacks the entry; says what was looked for, where, and who named it.
    """
    if not data_dir.is_dir():
        raise DataUnavailable(f"{named_by} {data_dir} does not exist (it should hold {info.dir_entry})")
    matches = sorted(p for p in data_dir.glob(info.dir_entry) if not p.name.endswith(".tmp"))
    if not matches:
        present = ", ".join(sorted(p.name for p in data_dir.iterdir())[:6]) or "nothing"
        raise DataUnavailable(
            f"{named_by} {data_dir} has no {info.dir_entry} for {info.name} (it holds: {present}); "
            "lay it out as README 'Data' says, or pass --data generated"
        )
    return matches[0]


@register_loader("dir")
def load_from_dir(info: DataSetInfo, data_dir: Path | None) -> DataSet:
    """A data directory: `mnist.npz`/`cifar10.npz` (Keras array layout) or an `imagenette2-*` class-folder tree."""
    if data_dir is None:
        raise DataUnavailable(f"--data dir needs --data-dir DIR (or {DATA_DIR_ENV}) naming a data directory")
    path = find_in_dir(info, Path(data_dir))
    if path.is_dir():
        return load_folder_tree(info, path, kind="real")
    return _load_npz(info, path)


def load_folder_tree(info: DataSetInfo, root: Path, kind: str) -> DataSet:
    """A `train/` + `val/` tree of class folders (the imagenette2 layout, or the user's own images)."""
    train_scan: FolderScan = scan_class_folders(root / "train")
    val_scan: FolderScan = scan_class_folders(root / "val", class_names=train_scan.class_names)
    n_train, n_val = len(train_scan.paths), len(val_scan.paths)
    counts = f"{n_train}/{n_val}"
    if kind == "generated":
        source = f"generated JPEG tree {counts}"
    elif info.full_counts and (n_train, n_val) != info.full_counts and fnmatch.fnmatch(root.name, info.dir_entry):
        source = f"{root.name} subset {counts}"  # a copy of the official set with fewer images; a user's own is not
    else:
        source = f"{root.name} {counts}"
    skipped: dict[str, int] = {}
    for scan in (train_scan, val_scan):
        for reason, count in scan.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + count
    return DataSet(
        name=info.name,
        kind=kind,
        source=source,
        class_names=train_scan.class_names,
        train=Split(labels=train_scan.labels, paths=train_scan.paths),
        test=Split(labels=val_scan.labels, paths=val_scan.paths),
        skipped_files=skipped,
        location=str(root),
    )


@register_loader("folder")
def load_folder(info: DataSetInfo, data_dir: Path | None) -> DataSet:
    """`--data folder --data-dir DIR`: DIR itself is the train/val class-folder tree (bring your own images)."""
    if data_dir is None:
        raise DataUnavailable("--data folder needs --data-dir DIR naming a folder with train/ and val/ inside")
    root = Path(data_dir)
    if not (root / "train").is_dir() and root.is_dir():
        # Also accept a data directory that holds the tree (e.g. DIR/imagenette2-224/train).
        root = find_in_dir(info, root)
    if not root.is_dir():
        raise DataUnavailable(f"data folder {root} does not exist")
    return load_folder_tree(info, root, kind="real")


def keras_cache_file(info: DataSetInfo) -> Path | None:
    base = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
    for path in (base / entry for entry in info.keras_cache_entries):
        if path.exists():
            return path
    return None


@register_loader("shards")
def load_shards(info: DataSetInfo, data_dir: Path | None) -> DataSet:
    """`--data shards --data-dir DIR`: the record shards `python -m bench prepare` wrote into DIR, each checked."""
    from imgcls.data.shards import open_prepared

    if data_dir is None:
        raise DataUnavailable("--data shards needs --data-dir DIR naming a folder `python -m bench prepare` wrote")
    return open_prepared(Path(data_dir), dataset=info.name)


@register_loader("keras")
def load_keras(info: DataSetInfo, data_dir: Path | None) -> DataSet:
    """`keras.datasets.<name>.load_data()`: its cache, or its own download when the host answers."""
    if info.keras_name is None:
        raise DataUnavailable(f"keras.datasets has no {info.name}; pass --data dir --data-dir DIR or --data generated")
    if keras_cache_file(info) is None and not host_reachable("storage.googleapis.com"):
        raise DataUnavailable(
            f"keras.datasets.{info.keras_name} is not cached in ~/.keras/datasets and its download host is "
            f"unreachable; pass --data-dir DIR with {info.dir_entry} or --data generated"
        )
    import keras

    try:
        arrays = getattr(keras.datasets, info.keras_name).load_data()
    except Exception as err:  # network, corrupt cache: one line for the user
        raise DataUnavailable(
            f"keras.datasets.{info.keras_name}.load_data() failed ({type(err).__name__}: {err}); "
            f"pass --data-dir DIR with {info.dir_entry} or --data generated"
        ) from err
    (x_train, y_train), (x_test, y_test) = arrays
    return _arrays_dataset(
        info,
        "real",
        f"keras.datasets.{info.keras_name} {len(y_train)}/{len(y_test)}",
        (x_train, y_train, x_test, y_test),
    )


def tfds_prepared(info: DataSetInfo, tfds_dir: Path | None = None) -> bool:
    try:
        import absl.logging
        import tensorflow_datasets as tfds

        absl.logging.set_verbosity(absl.logging.ERROR)  # "variant folder has no dataset_info" is not news here
        return tfds.builder(info.tfds_name, data_dir=tfds_dir).is_prepared()
    except Exception:  # not installed, unknown builder, unreadable dir: simply not available
        return False


@register_loader("tfds")
def load_tfds(info: DataSetInfo, data_dir: Path | None) -> DataSet:
    """`tfds.load`: a prepared copy, or tfds's own download when its host answers."""
    if info.tfds_name is None or info.as_files:
        raise DataUnavailable(
            f"--data tfds is not wired for {info.name} (tfds stores it as TFRecords, not files the pipelines "
            f"decode); pass --data dir --data-dir DIR with an imagenette2-* folder, or --data generated"
        )
    if not tfds_prepared(info) and not host_reachable("storage.googleapis.com"):
        raise DataUnavailable(
            f"tfds {info.tfds_name!r} is not prepared in ~/tensorflow_datasets and its download host is "
            f"unreachable; pass --data-dir DIR with {info.dir_entry} or --data generated"
        )
    try:
        import tensorflow_datasets as tfds

        train, test = tfds.load(
            info.tfds_name, split=["train", "test"], batch_size=-1, as_supervised=True, download=True
        )
        (x_train, y_train), (x_test, y_test) = tfds.as_numpy(train), tfds.as_numpy(test)
    except Exception as err:
        raise DataUnavailable(
            f"tfds.load({info.tfds_name!r}) failed ({type(err).__name__}); "
            f"pass --data-dir DIR with {info.dir_entry} or --data generated"
        ) from err
    return _arrays_dataset(
        info, "real", f"tfds {info.tfds_name} {len(y_train)}/{len(y_test)}", (x_train, y_train, x_test, y_test)
    )


@register_loader("generated")
def load_generated(info: DataSetInfo, data_dir: Path | None) -> DataSet:
    """Learnable generated data in the real format: arrays, or a JPEG class-folder tree cached on disk."""
    n_train, n_test = info.generated_sizes
    if info.as_files:
        side = info.generated_shorter_side or info.image_shape[0]
        root = cache_dir() / f"generated-{info.name}-{n_train}x{n_test}-s{side}-q{info.generated_quality}"
        generated.write_jpeg_tree(
            root, {"train": n_train, "val": n_test}, info.class_names, shorter_side=side,
            quality=info.generated_quality,
        )  # fmt: skip
        return load_folder_tree(info, root, kind="generated")
    arrays = generated.make_arrays(n_train, n_test, info.image_shape, len(info.class_names))
    return _arrays_dataset(info, "generated", f"generated {info.name}-shaped arrays {n_train}/{n_test}", arrays)
