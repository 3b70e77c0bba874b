"""torch `DataLoader` over a map-style `Dataset`, decoding with `torchvision.io` and augmenting with
`torchvision.transforms.v2`, as torchvision's docs build an image pipeline.

The spec rendered with v2's own transforms, not with IDG's matrix: `RandomAffine(degrees, translate, scale,
shear)` + `RandomHorizontalFlip(0.5)`. v2's `scale` magnifies the image while IDG's zoom scales the sampling grid
(an image zoomed by z looks magnified by 1/z), so the scale range is the reciprocal, `[1/(1+z), 1/(1-z)]`: the
zooms stay in the spec's `[1-z, 1+z]`. Three differences from ImageDataGenerator are torchvision's, stated rather
than hidden: v2 draws the magnification uniformly (IDG the zoom: a mean zoom of 0.97 instead of 1.0 at z = 0.2),
the zoom is one factor for both axes (IDG draws rows and columns apart), and the fill outside the image is a
constant (IDG repeats the nearest pixel). Decode is libjpeg-turbo
through `decode_jpeg`, the resize v2's antialiased bilinear (`Resize(antialias=True)`, PIL's filter).
Endless training: a `RandomSampler` drawing more samples than the split (whole permutations, one per epoch).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torchvision import io as tvio
from torchvision.transforms import v2

from imgcls.augment import PREPROCESSORS, AugmentSpec
from imgcls.data.types import DataSet, Split
from imgcls.pipelines import host
from imgcls.pipelines.base import InputConfig, Pipeline
from imgcls.pipelines.options import TorchOptions

_INTERPOLATION = {"bilinear": v2.InterpolationMode.BILINEAR, "nearest": v2.InterpolationMode.NEAREST,
                  "bicubic": v2.InterpolationMode.BICUBIC}  # fmt: skip


def spec_transforms(spec: AugmentSpec, augment: bool) -> v2.Compose:
    """The spec's random warp as v2 transforms on uint8 `[C, H, W]` tensors, giving float32 in [0, 255].

    The cast comes first, as IDG warps float arrays: warping the uint8 tensor would round every warped pixel (v2
    interpolates in float and casts back), and a 0.2 degree shear moves pixels by less than that rounding.
    """
    steps: list[Any] = [v2.ToDtype(torch.float32, scale=False)]
    if augment and (spec.rotation_deg or spec.width_shift or spec.height_shift or spec.shear_deg or spec.zoom):
        steps.append(
            v2.RandomAffine(
                degrees=spec.rotation_deg,
                translate=(spec.width_shift, spec.height_shift) if spec.width_shift or spec.height_shift else None,
                scale=(1 / (1 + spec.zoom), 1 / (1 - spec.zoom)) if spec.zoom else None,  # zoom z: 1/z larger
                shear=spec.shear_deg or None,
                interpolation=v2.InterpolationMode.BILINEAR,
            )
        )
    if augment and spec.horizontal_flip:
        steps.append(v2.RandomHorizontalFlip(0.5))
    return v2.Compose(steps)


class SplitDataset(torch.utils.data.Dataset):
    """Map-style: index -> (image `[H, W, C]` float32 preprocessed, or uint8 when raw, int label)."""

    def __init__(self, split: Split, config: InputConfig, augment: bool) -> None:
        self.split = split
        self.config = config
        spec = config.augment
        self.transforms = spec_transforms(spec, augment)
        self.resize = (
            v2.Resize(config.image_size, interpolation=_INTERPOLATION[spec.resize_interpolation], antialias=True)
            if config.resize
            else None
        )

    def __len__(self) -> int:
        return len(self.split)

    def _decoded(self, index: int) -> torch.Tensor:
        if self.split.images is not None:
            return torch.from_numpy(np.ascontiguousarray(self.split.images[index])).permute(2, 0, 1)
        mode = tvio.ImageReadMode.RGB if self.config.channels == 3 else tvio.ImageReadMode.GRAY
        image = tvio.decode_image(tvio.read_file(self.split.paths[index]), mode=mode)  # decode_jpeg for JPEGs
        return self.resize(image) if self.resize is not None else image

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self._decoded(index)
        label = int(self.split.labels[index])
        if self.config.raw_output:
            return image.permute(1, 2, 0).contiguous(), label
        x = self.transforms(image).permute(1, 2, 0)
        return torch.as_tensor(PREPROCESSORS[self.config.augment.preprocess](x.numpy())), label


def _worker_context(start_method: str) -> multiprocessing.context.BaseContext:
    """The start method's context; a forkserver preloads this module, so each worker forks with torch imported.

    Forking the training process itself copies it mid-flight: TensorFlow's and JAX's thread pools hold locks that
    no thread in the child will ever release, and a worker crashed on one in CI ("segmentation fault encountered
    in worker"). The forkserver is a fresh interpreter that only imports this module, then forks each worker.
    """
    context = multiprocessing.get_context(start_method)
    if start_method == "forkserver":
        context.set_forkserver_preload([__name__])
    return context


@dataclass(frozen=True)
class TorchPipeline(Pipeline):
    name: str = "torch"
    opts: TorchOptions = field(default_factory=TorchOptions)

    def _loader(self, dataset: SplitDataset, config: InputConfig, train: bool) -> torch.utils.data.DataLoader:
        workers = self.opts.num_workers
        sampler = None
        if train:
            generator = torch.Generator().manual_seed(host.seed_of(config))
            sampler = torch.utils.data.RandomSampler(dataset, num_samples=sys.maxsize, generator=generator)
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=config.batch_size,
            sampler=sampler,
            shuffle=False if sampler is None else None,
            drop_last=train,
            num_workers=workers,
            prefetch_factor=self.opts.prefetch_factor if workers else None,
            persistent_workers=self.opts.persistent_workers and workers > 0,
            pin_memory=self.opts.pin_memory,
            multiprocessing_context=_worker_context(self.opts.start_method) if workers else None,
        )

    def train_data(self, data: DataSet, config: InputConfig) -> torch.utils.data.DataLoader:
        return self._loader(SplitDataset(data.train, config, augment=True), config, train=True)

    def eval_data(self, data: DataSet, config: InputConfig) -> torch.utils.data.DataLoader:
        return self._loader(SplitDataset(data.test, config, augment=False), config, train=False)
