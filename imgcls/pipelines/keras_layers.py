"""`keras-layers`: the baseline a Keras user writes for ImageNet-style training, in Keras's own API as its docs show
it, for the workloads ImageDataGenerator cannot render (a random resized crop; a centre crop at evaluation).

    keras.utils.image_dataset_from_directory(tree, image_size=(256, 256), crop_to_aspect_ratio=True, batch_size=None)
        .map(RandomCrop(224, 224) -> RandomFlip("horizontal") -> the model's normalisation, AUTOTUNE)
        .repeat().batch(B, drop_remainder=True).prefetch(AUTOTUNE)

Keras 3 ships no RandomResizedCrop layer, so this renders the recipe that came before it (AlexNet's and VGG's, and
what Keras's layers can say): the centred square of the image resized to `size / eval_center_crop` (256 for 224),
then a random `size` crop and a horizontal flip. Its crop statistics are *not* RandomResizedCrop's (the workload's
spec, rendered by tf.data); what it yields, tested in tests/imgcls/pipelines/test_keras_layers.py:

- every crop is square (aspect 1; RandomResizedCrop: log-uniform in 3/4-4/3) and covers (224/256)^2 = 77% of the
  image's centred square -- 57% of a 500x375 photo, whose sides beyond the square are never seen (RandomResizedCrop:
  8-100% of the whole image, mean about 0.4);
- its offset is uniform over the 33 x 33 positions the 256 px square leaves, one crop per image: the layers are
  mapped before batching, because `RandomCrop` crops every image of a batch at one location (its docstring says
  so), and mapped on batches as Keras's tutorials map augmentation, a batch would share one crop;
- each image is flipped with probability 1/2, on its own;
- decoded by `tf.io.decode_image` (TF's default, fast IDCT) and resized bilinearly without antialiasing (the
  loader's `tf.image.resize`), so its pixels are Keras's, not PIL's;
- normalised by the spec's value preprocessing (caffe for ResNet-50: `keras.applications.resnet50.preprocess_input`'s
  arithmetic, tested equal to it) in TensorFlow ops: calling `preprocess_input` itself inside tf.data fails under
  JAX or torch, whose `keras.ops` cannot take a symbolic tf.Tensor. The layers themselves run in the tf.data graph
  under any backend (Keras 3 switches them to TensorFlow there).

Evaluation, and `--augment none`: the same 256 px square, `CenterCrop(224, 224)` -- the workload's 0.875 centre
crop. With `--augment-on device` the model does the work: the pipeline delivers that evaluation image as uint8.

`image_dataset_from_directory` reads a directory, so the split's files (the checked list every pipeline reads,
`--limit` honoured) are laid out as symbolic links named by their index in a temporary folder (removed by `close`,
or when the pipeline is collected), and their labels passed as its `labels` list.
The layers draw from their seeded generators inside a parallel map, so which image gets which crop depends on the
threads, as in the user's own code.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from imgcls.augment import PREPROCESSORS, AugmentSpec
from imgcls.data.types import DataSet, Split
from imgcls.errors import InvalidValue
from imgcls.pipelines.base import InputConfig, Pipeline, imagenet_crops
from imgcls.pipelines.options import NoOptions

# The centre fraction when a spec names none (ImageNet's 224 of 256).
DEFAULT_CENTER_CROP = 0.875
RECIPE = (
    "keras.utils.image_dataset_from_directory(crop_to_aspect_ratio) + keras.layers.RandomCrop, RandomFlip "
    "(per image); CenterCrop for evaluation"
)
# image_dataset_from_directory lists files with these endings (keras.src.utils.image_dataset_utils)
LISTED_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


def load_size(size: tuple[int, int], spec: AugmentSpec) -> tuple[int, int]:
    """What the loader resizes the centred square to: `size / eval_center_crop` (256 for 224)."""
    fraction = spec.eval_center_crop or DEFAULT_CENTER_CROP
    return (round(size[0] / fraction), round(size[1] / fraction))


def link_tree(split: Split, root: Path) -> Path:
    """`root/<index><suffix>` -> each file of the split: the split's own list, in its order (the alphanumeric order
    `image_dataset_from_directory` lists files in, so its explicit `labels` are the split's)."""
    root.mkdir(parents=True)
    for index, path in enumerate(split.paths):
        suffix = Path(path).suffix.lower()
        suffix = suffix if suffix in LISTED_SUFFIXES else ".jpg"  # decode_image reads the bytes, not the name
        (root / f"{index:08d}{suffix}").symlink_to(Path(path).resolve())
    return root


class KerasLayersPipeline(Pipeline):
    """`image_dataset_from_directory` + Keras preprocessing layers in the tf.data graph (see the module)."""

    def __init__(self, name: str = "keras-layers", opts: NoOptions | None = None) -> None:
        self.name = name
        self.opts = opts or NoOptions()
        self._trees: dict[int, tuple[Split, Path]] = {}

    def __repr__(self) -> str:
        return f"KerasLayersPipeline({self.name!r})"

    def options(self) -> dict[str, Any]:
        return {"implementation": RECIPE}

    # -- pieces ---------------------------------------------------------------------------------------------
    def _tree(self, split: Split) -> str:
        """The split's link tree, laid out once per split."""
        if split.paths is None:
            raise InvalidValue(f"--pipeline {self.name} reads image files (image_dataset_from_directory), not arrays")
        if id(split) not in self._trees:
            root = Path(tempfile.mkdtemp(prefix="imgcls-keras-layers-"))
            weakref.finalize(self, shutil.rmtree, root, ignore_errors=True)  # unclosed: gone with the pipeline
            self._trees[id(split)] = (split, link_tree(split, root / "tree"))  # the split is held: its id stays
        return str(self._trees[id(split)][1])

    def _loader(self, split: Split, config: InputConfig, size: tuple[int, int], **kwargs: Any) -> tf.data.Dataset:
        """`image_dataset_from_directory` over the split: float32 `[*size, C]` 0-255 images (the centred crop of
        the target's aspect, resized) and int32 labels (given, as its docs allow, in the files' order)."""
        return keras.utils.image_dataset_from_directory(
            self._tree(split),
            labels=[int(label) for label in split.labels],
            label_mode="int",
            color_mode="rgb" if config.channels == 3 else "grayscale",
            image_size=size,
            crop_to_aspect_ratio=True,
            verbose=False,
            **kwargs,
        )

    def _check(self, spec: AugmentSpec) -> None:
        if not imagenet_crops(spec):
            raise InvalidValue(
                f"--pipeline {self.name} renders ImageNet's crops only (a random resized crop or a centre crop); "
                "this workload's augmentation is ImageDataGenerator's: use idg"
            )

    def _finish(self, config: InputConfig, layers: list[Any]) -> Any:
        """`fn(image, label)`: the layers one after another, then the value preprocessing (or uint8 for a model
        that preprocesses itself)."""
        preprocess = PREPROCESSORS[config.augment.preprocess]

        def fn(image: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            for layer in layers:  # a list, not keras.Sequential: a Sequential would run the backend's own ops
                image = layer(image)
            if config.raw_output:
                return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8), label
            return preprocess(tf.cast(image, tf.float32)), label

        return fn

    def _layers(self, config: InputConfig, train: bool) -> list[Any]:
        """Training: RandomCrop + RandomFlip (as the spec flips); evaluation and an unaugmented spec: CenterCrop."""
        height, width = config.image_size
        if not config.resize:  # the files are the model's size already: the model does the rest
            return []
        spec = config.augment
        if not (train and spec.has_crop) or config.raw_output:
            return [keras.layers.CenterCrop(height, width)]
        seed = config.seed
        layers = [keras.layers.RandomCrop(height, width, seed=seed)]
        if spec.horizontal_flip:
            layers.append(keras.layers.RandomFlip("horizontal", seed=None if seed is None else seed + 1))
        return layers

    def _load_size(self, config: InputConfig) -> tuple[int, int]:
        return load_size(config.image_size, config.augment) if config.resize else config.image_size

    def _train_images(self, data: DataSet, config: InputConfig) -> tf.data.Dataset:
        """The loader's unbatched, shuffled training elements, endless."""
        return self._loader(
            data.train, config, self._load_size(config), batch_size=None, shuffle=True, seed=config.seed
        ).repeat()

    def _train(self, data: DataSet, config: InputConfig) -> tf.data.Dataset:
        self._check(config.augment)
        ds = self._train_images(data, config)
        ds = ds.map(self._finish(config, self._layers(config, train=True)), num_parallel_calls=tf.data.AUTOTUNE)
        return ds.batch(config.batch_size, drop_remainder=True)

    # -- the protocol ---------------------------------------------------------------------------------------
    def train_data(self, data: DataSet, config: InputConfig) -> tf.data.Dataset:
        return self._train(data, config).prefetch(tf.data.AUTOTUNE)

    def eval_data(self, data: DataSet, config: InputConfig) -> tf.data.Dataset:
        self._check(config.augment)
        ds = self._loader(data.test, config, self._load_size(config), batch_size=config.batch_size, shuffle=False)
        ds = ds.map(self._finish(config, self._layers(config, train=False)), num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)

    def stage_datasets(self, data: DataSet, config: InputConfig) -> dict[str, tf.data.Dataset]:
        """`decode` (the loader: read, decode, crop to square, resize), `augment` (+ the layers), `prefetch`."""
        self._check(config.augment)
        return {
            "decode": self._train_images(data, config).batch(config.batch_size, drop_remainder=True),
            "augment": self._train(data, config),
            "prefetch": self.train_data(data, config),
        }

    def close(self) -> None:
        for _, tree in self._trees.values():
            shutil.rmtree(tree.parent, ignore_errors=True)
        self._trees.clear()
