"""The data sets the workloads train on: what each is, where a data directory keeps it, how big the real one is.

What differs between data sets is said here, as data, so loaders never test a data set's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imgcls.errors import InvalidValue

ARRAYS = "arrays"
FILES = "files"


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
    stored_as: str = ARRAYS  # ARRAYS (uint8 arrays in memory) | FILES (a class-folder tree of images)
    keras_cache_entries: tuple[str, ...] = ()  # what keras.datasets leaves in ~/.keras/datasets
    generated_shorter_side: int | None = None  # generated JPEGs' shorter side (None: image_shape's height)
    generated_quality: int = 92  # generated JPEGs' quality

    @property
    def as_files(self) -> bool:
        return self.stored_as == FILES


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
        keras_cache_entries=("mnist.npz",),
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
        keras_cache_entries=("cifar-10-batches-py",),
        generated_sizes=(10000, 2000),
        known_copies={"04cc663511e9": "cifar10 (q75 JPEG copy, shuffled order)"},
    ),
    "imagenette": DataSetInfo(
        name="imagenette",
        image_shape=(160, 160, 3),
        class_names=IMAGENETTE_CLASSES,
        tfds_name=None,  # tfds keeps it as TFRecords, not the JPEG files both pipelines decode
        keras_name=None,
        stored_as=FILES,
        dir_entry="imagenette2*",
        generated_sizes=(40, 10),  # per class
        full_counts=(9469, 3925),
    ),
    # ImageNet (ILSVRC-2012) in its usual folder layout, train/<wnid>/*.JPEG and val/<wnid>/*.JPEG, never
    # downloaded. Generated stand-ins have its size spread: typical photos are 500x375 (shorter side 375, widths
    # 375-560 here), saved at quality 90; 10 of its classes.
    "imagenet": DataSetInfo(
        name="imagenet",
        image_shape=(224, 224, 3),
        class_names=IMAGENETTE_CLASSES,
        tfds_name=None,
        keras_name=None,
        stored_as=FILES,
        dir_entry="imagenet*",
        generated_sizes=(16, 4),  # per class
        full_counts=(1281167, 50000),
        generated_shorter_side=375,
        generated_quality=90,
    ),
}


def file_datasets() -> list[str]:
    """The data sets stored as image-file trees (what `bench prepare` can shard)."""
    return [name for name, info in DATASETS.items() if info.as_files]


def get_dataset_info(name: str) -> DataSetInfo:
    if name not in DATASETS:
        raise InvalidValue(f"Unknown data set {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]
