"""What a pipeline must deliver for a run: the `InputConfig`, decided once for `bench run` and `bench scale`."""

from __future__ import annotations

from dataclasses import dataclass

from imgcls.augment import AugmentSpec
from imgcls.data.types import DataSet
from imgcls.pipelines import InputConfig


@dataclass(frozen=True)
class Inputs:
    config: InputConfig
    model_size: tuple[int, int]  # what the model (after any device layer) is fed
    stored_size: tuple[int, int] | None  # files shipped at their one stored size: the model resizes them


def inputs_for(
    spec: AugmentSpec,
    data: DataSet,
    *,
    image_size: tuple[int, int],
    channels: int,
    batch_size: int,
    seed: int | None,
    augment_on: str,
) -> Inputs:
    """Host augmentation: the pipeline does the spec's whole work. Device augmentation: the pipeline only decodes
    (and resizes, unless every file has one size -- then the model's first layer does that too), delivering uint8.
    """
    on_device = augment_on == "device"
    stored = None
    if on_device and data.train.paths is not None:
        from imgcls.data.folder import uniform_image_size

        stored = uniform_image_size((*data.train.paths, *data.test.paths))
    config = InputConfig(
        image_size=stored or image_size,
        channels=channels,
        augment=spec.without_augmentation() if on_device else spec,
        batch_size=batch_size,
        seed=seed,
        raw_output=on_device,
        resize=stored is None,
    )
    return Inputs(config, image_size, stored)
