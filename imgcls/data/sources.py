"""Where examples come from: a data directory, the Keras cache, tfds, or generated data.

Every loader returns the same small description (`DataSet`): uint8 arrays *or* file paths, integer labels, class
names, and the provenance (`kind` real/generated and a `source` naming the exact copy) that every record carries.

Offline machines are the normal case here: `tfds.load` retries a download for minutes before failing. So `auto`
only takes what is already on disk (data dir, Keras cache, prepared tfds) and a download only when a quick probe
says the host answers; otherwise it falls back to generated data with a one-line warning. A forced source that
cannot be had raises `DataUnavailable` with one line saying what failed and what to pass instead.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from imgcls.data import generated
from imgcls.data.folder import FolderScan, scan_class_folders
from imgcls.errors import DataUnavailable
from imgcls.registry import Registry

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "IMGCLS_DATA_DIR"
CACHE_DIR_ENV = "IMGCLS_CACHE_DIR"


@dataclass(frozen=True)
class Split:
    """One split: integer labels plus either uint8 images `[n, H, W, C]` or image file paths."""

    labels: np.ndarray
    images: np.ndarray | None = None
    paths: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, n: int) -> Split:
        """The first `n` examples (sources are already shuffled or class-interleaved)."""
        return Split(
            labels=self.labels[:n],
            images=None if self.images is None else self.images[:n],
            paths=None if self.paths is None else self.paths[:n],
        )


@dataclass(frozen=True)
class DataSet:
    """A loaded data set and where it came from."""

    name: str
    kind: str  # "real" | "generated"
    source: str  # names the exact copy, e.g. "imagenette2-224 subset 5000/2500"
    class_names: tuple[str, ...]
    train: Split
    test: Split
    skipped_files: dict[str, int] = field(default_factory=dict)  # reason -> count (file inputs)
    location: str | None = None  # file or folder it was read from

    @property
    def input_kind(self) -> str:
        return "files" if self.train.paths is not None else "arrays"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def limit(self, train: int | None, test: int | None) -> DataSet:
        """A smaller view for quick runs; the source says so, so a subset is never passed off as the set."""
        if train is None and test is None:
            return self
        new_train = self.train.take(train) if train else self.train
        new_test = self.test.take(test) if test else self.test
        note = f" [first {len(new_train)}/{len(new_test)}]"
        return replace(self, train=new_train, test=new_test, source=self.source + note)


@dataclass(frozen=True)
class DataSetInfo:
    """What the loaders need to know about one data set."""

    name: str
    image_shape: tuple[int, int, int]  # stored shape (arrays) or nominal shape (files)
    class_names: tuple[str, ...]
    tfds_name: str | None
    keras_name: str | None  # keras.datasets module name
    dir_entry: str  # file or folder looked for in a data directory (glob)
    generated_sizes: tuple[int, int]  # train/test examples when generated
    known_copies: dict[str, str] = field(default_factory=dict)  # array fingerprint -> description
    full_counts: tuple[int, int] | None = None  # official train/test sizes, to name subsets


IMAGENETTE_CLASSES = (
    "n01440764", "n02102040", "n02979186", "n03000684", "n03028079",
    "n03394916", "n03417042", "n03425413", "n03445777", "n03888257",
)  # fmt: skip

DATASETS: dict[str, DataSetInfo] = {
    "mnist": DataSetInfo(
        name="mnist",
        image_shape=(28, 28, 1),
        class_names=tuple(str(i) for i in range(10)),
        tfds_name="mnist",
        keras_name="mnist",
        dir_entry="mnist.npz",
        generated_sizes=(12000, 2000),
        known_copies={"6c083970d2ac": "MNIST (pixel-identical to the official arrays)"},
    ),
    "cifar10": DataSetInfo(
        name="cifar10",
        image_shape=(32, 32, 3),
        class_names=(
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ),  # fmt: skip
        tfds_name="cifar10",
        keras_name="cifar10",
        dir_entry="cifar10.npz",
        generated_sizes=(10000, 2000),
        known_copies={"04cc663511e9": "cifar10 (q75 JPEG copy, shuffled order)"},
    ),
    "imagenette": DataSetInfo(
        name="imagenette",
        image_shape=(160, 160, 3),
        class_names=IMAGENETTE_CLASSES,
        tfds_name="imagenette",
        keras_name=None,
        dir_entry="imagenette2*",
        generated_sizes=(40, 10),  # per class
        full_counts=(9469, 3925),
    ),
}


def get_dataset_info(name: str) -> DataSetInfo:
    if name not in DATASETS:
        raise ValueError(f"Unknown data set {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]


# ---------------------------------------------------------------------------------------------------------------
# Locations
# ---------------------------------------------------------------------------------------------------------------
def default_data_dir() -> Path | None:
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Where generated data is written once and reused (outside any checkout)."""
    value = os.environ.get(CACHE_DIR_ENV)
    base = Path(value).expanduser() if value else Path.home() / ".cache" / "imgcls-bench"
    return base


def host_reachable(host: str, port: int = 443, timeout_sec: float = 2.0) -> bool:
    """A quick TCP probe, so `auto` never enters a library's minutes-long download retry loop offline."""
    try:
        with socket.create_connection((host, port), timeout=timeout_sec):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------------------------
# Loaders: each returns a DataSet or raises DataUnavailable. Registered by the `--data` word.
# ---------------------------------------------------------------------------------------------------------------
Loader = Callable[[DataSetInfo, "Path | None"], DataSet]
_LOADERS: Registry[Loader] = Registry("data source")


def register_loader(name: str) -> Callable[[Loader], Loader]:
    def wrap(fn: Loader) -> Loader:
        return _LOADERS.register(name, fn)

    return wrap


def list_data_modes() -> list[str]:
    return ["auto", *_LOADERS.names()]


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


def _find_in_dir(info: DataSetInfo, data_dir: Path) -> Path:
    if not data_dir.is_dir():
        raise DataUnavailable(f"data directory {data_dir} does not exist (set --data-dir or {DATA_DIR_ENV})")
    matches = sorted(p for p in data_dir.glob(info.dir_entry) if not p.name.endswith(".tmp"))
    if not matches:
        raise DataUnavailable(
            f"no {info.dir_entry} in data directory {data_dir}; lay it out as README 'Real data offline' says, "
            f"or pass --data generated"
        )
    return matches[0]


@register_loader("dir")
def load_from_dir(info: DataSetInfo, data_dir: Path | None) -> DataSet:
    """A data directory: `mnist.npz`/`cifar10.npz` (Keras array layout) or an `imagenette2-*` class-folder tree."""
    if data_dir is None:
        raise DataUnavailable(f"--data dir needs --data-dir DIR (or {DATA_DIR_ENV}) naming a data directory")
    path = _find_in_dir(info, Path(data_dir))
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
    elif info.full_counts and (n_train, n_val) != info.full_counts:
        source = f"{root.name} subset {counts}"
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
        root = _find_in_dir(info, root)
    if not root.is_dir():
        raise DataUnavailable(f"data folder {root} does not exist")
    return load_folder_tree(info, root, kind="real")


def _keras_cache_file(info: DataSetInfo) -> Path | None:
    base = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
    candidates = {"mnist": [base / "mnist.npz"], "cifar10": [base / "cifar-10-batches-py"]}
    for path in candidates.get(info.name, []):
        if path.exists():
            return path
    return None


@register_loader("keras")
def load_keras(info: DataSetInfo, data_dir: Path | None) -> DataSet:
    """`keras.datasets.<name>.load_data()`: its cache, or its own download when the host answers."""
    if info.keras_name is None:
        raise DataUnavailable(f"keras.datasets has no {info.name}; pass --data dir --data-dir DIR or --data generated")
    if _keras_cache_file(info) is None and not host_reachable("storage.googleapis.com"):
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


def _tfds_prepared(info: DataSetInfo, tfds_dir: Path | None) -> bool:
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
    if info.tfds_name is None or info.name == "imagenette":
        raise DataUnavailable(
            f"--data tfds is not wired for {info.name} (tfds stores it as TFRecords, not files the pipelines "
            f"decode); pass --data dir --data-dir DIR with an imagenette2-* folder, or --data generated"
        )
    if not _tfds_prepared(info, None) and not host_reachable("storage.googleapis.com"):
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
    if info.name == "imagenette":
        root = cache_dir() / f"generated-imagenette-{n_train}x{n_test}-s{info.image_shape[0]}"
        generated.write_jpeg_tree(
            root, {"train": n_train, "val": n_test}, info.class_names, shorter_side=info.image_shape[0]
        )
        return load_folder_tree(info, root, kind="generated")
    arrays = generated.make_arrays(n_train, n_test, info.image_shape, len(info.class_names))
    return _arrays_dataset(info, "generated", f"generated {info.name}-shaped arrays {n_train}/{n_test}", arrays)


def load_dataset(name: str, mode: str = "auto", data_dir: Path | str | None = None) -> DataSet:
    """Loads data set `name` from the source `mode` names.

    Args:
        name: A key of `DATASETS`.
        mode: `auto` or a registered loader (`dir`, `folder`, `keras`, `tfds`, `generated`).
        data_dir: A data directory; defaults to `$IMGCLS_DATA_DIR`.

    Returns:
        The DataSet, its provenance filled in.

    Raises:
        DataUnavailable: the source cannot be had; the message says what to pass instead.
        ValueError: unknown `name` or `mode`.
    """
    info = get_dataset_info(name)
    data_dir = Path(data_dir).expanduser() if data_dir else default_data_dir()
    if mode != "auto":
        if mode not in _LOADERS:
            raise ValueError(f"Unknown data source {mode!r}; known: {', '.join(list_data_modes())}")
        return _LOADERS.get(mode)(info, data_dir)

    # auto: what is on disk first, then a download only if its host answers, else generated.
    attempts: list[str] = []
    candidates: list[tuple[str, Callable[[], bool]]] = [
        ("dir", lambda: data_dir is not None and any(Path(data_dir).glob(info.dir_entry))),
        ("keras", lambda: info.keras_name is not None and _keras_cache_file(info) is not None),
        ("tfds", lambda: info.name != "imagenette" and _tfds_prepared(info, None)),
        ("keras", lambda: info.keras_name is not None and host_reachable("storage.googleapis.com")),
    ]
    for mode_name, available in candidates:
        if not available():
            continue
        try:
            return _LOADERS.get(mode_name)(info, data_dir)
        except DataUnavailable as err:
            attempts.append(str(err))
    reason = "; ".join(attempts) if attempts else "no data directory, no Keras/tfds cache, no network"
    warnings.warn(
        f"real {name} not available ({reason}); using GENERATED data. "
        f"For real data pass --data-dir DIR or set {DATA_DIR_ENV}.",
        stacklevel=2,
    )
    return load_generated(info, data_dir)
