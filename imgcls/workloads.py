"""Workloads: a data set + image size + model + augmentation spec + defaults, one declared object each."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from imgcls.augment import AugmentSpec
from imgcls.errors import InvalidValue
from imgcls.registry import Registry


@dataclass(frozen=True, kw_only=True)
class Workload:
    """One benchmark workload.

    Attributes:
        name: The CLI word (`--workload NAME`).
        dataset: Key into `imgcls.data.sources.DATASETS`.
        image_size: (height, width) the model takes; file inputs are resized to it.
        channels: Image channels the model takes.
        model: Name of the builder in `imgcls.models`: `fn(input_shape, num_classes, **model_kwargs)` returning an
            uncompiled `keras.Model`. Named, not imported, so declaring workloads imports no Keras (the backend is
            chosen first).
        augment: The workload's reference augmentation (`--augment seed`); `none` keeps its preprocessing only.
        batch_size: Default batch size.
        epochs: Default epochs.
        steps_per_epoch: Default steps per epoch (None = the whole training split).
        target_accuracy: Default validation accuracy for time-to-accuracy.
        learning_rate: Adam learning rate.
        parity_margin: Accuracy difference (a fraction) within which two pipelines count as training the model
            equally well: about one seed-to-seed standard deviation of this workload's short training runs.
        description: One line for `bench list`.
    """

    name: str
    dataset: str
    image_size: tuple[int, int]
    channels: int
    model: str
    augment: AugmentSpec
    batch_size: int = 128
    epochs: int = 1
    steps_per_epoch: int | None = None
    target_accuracy: float = 0.9
    learning_rate: float = 1e-3
    parity_margin: float = 0.01
    description: str = ""
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (*self.image_size, self.channels)

    def build_model(self, input_shape: tuple[int, int, int], num_classes: int, **model_kwargs: Any) -> Any:
        """The workload's uncompiled `keras.Model` (imports Keras: call once the backend is set)."""
        builder = getattr(importlib.import_module("imgcls.models"), self.model)
        return builder(input_shape, num_classes, **model_kwargs)

    def augment_spec(self, which: str) -> AugmentSpec:
        """`seed` -> the workload's augmentation; `none` -> the same preprocessing, no random transform."""
        if which == "seed":
            return self.augment
        if which == "none":
            return self.augment.without_augmentation()
        raise InvalidValue(f"Unknown augmentation {which!r}; known: seed, none")


_WORKLOADS: Registry[Workload] = Registry("workload")


def register_workload(workload: Workload) -> Workload:
    return _WORKLOADS.register(workload.name, workload)


def get_workload(name: str) -> Workload:
    return _WORKLOADS.get(name)


def list_workloads() -> list[str]:
    return _WORKLOADS.names()


# The seed trained MNIST and CIFAR-10 without augmentation; their `seed` specs are the classic Keras examples'
# ImageDataGenerator arguments, so the input side has real per-image work. Imagenette's is the seed's own
# ImageDataGenerator(rescale=1./255, shear_range=0.2, zoom_range=0.2, horizontal_flip=True); note IDG reads
# shear_range in degrees, so 0.2 is a tiny shear -- kept verbatim, it is what the seed ran.
register_workload(
    Workload(
        name="mnist",
        dataset="mnist",
        image_size=(28, 28),
        channels=1,
        model="mnist_cnn",
        augment=AugmentSpec(name="seed", rotation_deg=10, width_shift=0.1, height_shift=0.1, zoom=0.1),
        batch_size=128,
        epochs=1,
        target_accuracy=0.97,
        parity_margin=0.005,
        description="MNIST 28x28x1 arrays, the seed's simple CNN",
    )
)
register_workload(
    Workload(
        name="cifar10",
        dataset="cifar10",
        image_size=(32, 32),
        channels=3,
        model="cifar10_cnn",
        augment=AugmentSpec(name="seed", width_shift=0.1, height_shift=0.1, horizontal_flip=True),
        batch_size=128,
        epochs=1,
        steps_per_epoch=100,
        target_accuracy=0.6,
        parity_margin=0.015,
        description="CIFAR-10 32x32x3 arrays, the seed's deeper CNN with dropout",
    )
)
register_workload(
    Workload(
        name="imagenette",
        dataset="imagenette",
        image_size=(160, 160),
        channels=3,
        model="imagenette_cnn",
        augment=AugmentSpec(name="seed", shear_deg=0.2, zoom=0.2, horizontal_flip=True),
        batch_size=32,
        epochs=1,
        steps_per_epoch=50,
        target_accuracy=0.5,
        parity_margin=0.03,
        description="Imagenette JPEG class folders at 160 px, the seed's basic CNN",
    )
)
register_workload(
    Workload(
        name="imagenette-vgg16",
        dataset="imagenette",
        image_size=(224, 224),
        channels=3,
        model="vgg16_transfer",
        augment=AugmentSpec(name="seed", shear_deg=0.2, zoom=0.2, horizontal_flip=True, preprocess="vgg16"),
        batch_size=32,
        epochs=1,
        steps_per_epoch=10,
        target_accuracy=0.8,
        parity_margin=0.03,
        description="Imagenette JPEG class folders at 224 px, frozen VGG16 base + new head (transfer)",
        model_kwargs={"weights": "imagenet"},
    )
)

# The field's reference workload: every public loader claim (MLPerf, DALI, FFCV) is ResNet-50 at 224 px with
# ImageNet's training input -- RandomResizedCrop (area 8-100%, aspect 3/4-4/3) and a horizontal flip, then the
# model's own normalisation (caffe for Keras's ResNet-50) -- and a centre crop (224 of 256) for evaluation.
register_workload(
    Workload(
        name="imagenet-resnet50",
        dataset="imagenet",
        image_size=(224, 224),
        channels=3,
        model="resnet50",
        augment=AugmentSpec(
            name="seed",
            crop_scale=(0.08, 1.0),
            crop_ratio=(3 / 4, 4 / 3),
            horizontal_flip=True,
            preprocess="caffe",
            eval_center_crop=0.875,
        ),
        batch_size=64,
        epochs=1,
        steps_per_epoch=10,
        target_accuracy=0.5,
        parity_margin=0.03,
        description="ImageNet-layout JPEG folders at 224 px, Keras ResNet-50, RandomResizedCrop + flip",
        model_kwargs={"weights": None},
    )
)
