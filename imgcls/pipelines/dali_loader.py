"""NVIDIA DALI: one `pipeline_def` graph rendering the workload's spec, built as DALI's docs build an image pipeline.

- **source**: JPEG folders through `fn.readers.file(files, labels)`: training with `shuffle_after_epoch` (a new
  permutation of the whole list every epoch, seeded by the run's seed), evaluation in order with `pad_last_batch`
  (the padded tail is cut off on the host, so the last batch is partial). Arrays (mnist, cifar10) through
  `fn.external_source` with a per-sample callback that reads the split at the position DALI's `SampleInfo` gives,
  in the per-epoch permutations the other map-style loaders use (`imgcls.pipelines.host`).
- **decode + resize**: `fn.decoders.image` with `device="cpu"` (libjpeg-turbo, accurate IDCT and fancy
  upsampling: PIL's decode, bit for bit) or `"mixed"` (nvJPEG on the GPU; the operators after it then run on the GPU
  too, and arrays are moved there with `.gpu()`). `fn.resize` linear with antialiasing (PIL's bilinear widens its
  triangle filter when shrinking too), rounded to uint8: measured 0.19 grey levels from ImageDataGenerator on
  average (max 4) on textured JPEGs like the same-work suite's, 0.17 on real Imagenette (tf.data: 0.16), where PIL
  and DALI weigh the filter taps slightly differently. Not measured here: nvJPEG (`mixed`, checked against the CPU
  decoder only where a GPU is) and a greyscale decode of colour files (DALI keeps the JPEG's luma, PIL converts
  RGB; no workload reads grey files).
- **warp**: the matrix `ImageDataGenerator` builds (`imgcls.augment.affine_transforms`: rotation @ shift @ shear
  @ zoom about IDG's centre) as `fn.transforms.combine` of `fn.transforms.scale` (the zoom, rows and columns
  drawn apart), `scale` + `shear` (IDG's shear `[[1, -sin s], [0, cos s]]`), `translation` and `rotation`, each
  drawn per sample with `fn.random.uniform`; `fn.warp_affine` samples at pixel centres (x + 0.5), so IDG's centre
  `(h/2 - 0.5, w/2 - 0.5)` is `(h/2, w/2)` here. Bilinear, border clamped (IDG's nearest fill), float output (IDG
  warps float arrays: a uint8 warp would round away a 0.2 degree shear).
- **flip**: `fn.flip(horizontal=fn.random.coin_flip())` after the warp, as IDG flips its warped output.
- **values**: `fn.crop_mirror_normalize` with the spec's `ValuePreprocess` numbers as mean and std (`x * scale +
  offset` = `(x - mean) / std`); the caffe modes' BGR order from the decoder (`output_type=BGR`), or
  `fn.color_space_conversion` for arrays.

**What Keras is fed**: numpy batches (`TensorList.as_array()`, after `as_cpu()` for GPU outputs), because that is
what Keras's data adapters take on every backend and a DALI pipeline is none of the types they know. Training is a
Python generator over `pipe.run()` (Keras's `GeneratorDataAdapter`; TensorFlow wraps it in
`tf.data.Dataset.from_generator`); evaluation is a finite `keras.utils.PyDataset` read by index, since
`model.evaluate` re-reads it every epoch, which a generator cannot give. DALI's framework plugins
(`nvidia.dali.plugin.pytorch.DALIGenericIterator`, `nvidia.dali.plugin.jax`'s iterator) are the GPU-resident
alternative: they hand batches over on the device without this host round trip, to a training loop of one
framework -- not what `model.fit` on three backends takes here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
from nvidia.dali import fn, pipeline_def, types
from nvidia.dali import math as dmath
from nvidia.dali.backend import TensorListGPU

from imgcls.augment import PREPROCESSORS, AugmentSpec
from imgcls.data.types import DataSet, Split
from imgcls.errors import InvalidValue, UserFacingError
from imgcls.pipelines import host
from imgcls.pipelines.base import InputConfig, Pipeline
from imgcls.pipelines.options import DaliOptions

_INTERPOLATION = {"bilinear": types.INTERP_LINEAR, "nearest": types.INTERP_NN, "bicubic": types.INTERP_CUBIC,
                  "lanczos": types.INTERP_LANCZOS3}  # fmt: skip


def gpu_visible() -> bool:
    """Whether DALI sees a CUDA device (CUDA_VISIBLE_DEVICES honoured; no driver: none)."""
    try:
        from nvidia.dali.backend import GetCUDADeviceCount

        return GetCUDADeviceCount() > 0
    except Exception:  # no CUDA runtime or driver at all
        return False


def decoder_device(choice: str) -> str:
    """The `decoder` knob's value as a device: `cpu` or `mixed` (`auto`: mixed where a GPU is visible).

    Raises:
        UserFacingError: `mixed` asked for where DALI sees no GPU.
    """
    if choice == "auto":
        return "mixed" if gpu_visible() else "cpu"
    if choice == "mixed" and not gpu_visible():
        raise UserFacingError("--decoder mixed needs a GPU that DALI can see, and there is none: use cpu or auto")
    return choice


@dataclass(frozen=True)
class _ArraySamples:
    """`fn.external_source` callback: `SampleInfo` -> (uint8 image, int32 label `[1]`) of an arrays split.

    Training reads the endless stream of per-epoch permutations (`host.stream_indices`); evaluation reads the
    split in order, its last batch padded with the last sample (as `readers.file(pad_last_batch=True)` pads).
    """

    split: Split
    seed: int
    batch_size: int
    train: bool

    def __call__(self, info: Any) -> tuple[np.ndarray, np.ndarray]:
        size = len(self.split)
        position = info.idx_in_epoch  # never reset: the callback never ends an epoch
        if self.train:
            index = int(host.stream_indices(self.seed, size, position, 1)[0])
        else:
            index = min(position % (math.ceil(size / self.batch_size) * self.batch_size), size - 1)
        return np.ascontiguousarray(self.split.images[index]), np.array([self.split.labels[index]], np.int32)


def spec_params(spec: AugmentSpec) -> dict[str, Any]:
    """IDG's warp parameters (`AugmentSpec.random_affine_params`' names and distributions), each drawn per sample by
    `fn.random.uniform`; only those the spec draws (the flip is `fn.flip`'s, after the warp)."""
    drawn = {"theta": spec.rotation_deg, "tx": spec.height_shift, "ty": spec.width_shift, "shear": spec.shear_deg}
    params = {name: fn.random.uniform(range=[-limit, limit]) for name, limit in drawn.items() if limit}
    if spec.zoom:
        params.update({name: fn.random.uniform(range=[1 - spec.zoom, 1 + spec.zoom]) for name in ("zx", "zy")})
    return params


def idg_matrix(params: dict[str, Any], height: int, width: int) -> Any:
    """Per-sample 2x3 destination -> source matrices of IDG's warp (see the module docstring) from its parameters
    (per-sample DALI nodes; those absent are not drawn); None when there are none."""
    centre = [height / 2.0, width / 2.0]  # x takes h/2, as `affine_transforms` reproduces IDG's centring
    steps = []
    if "zx" in params:
        steps.append(fn.transforms.scale(scale=fn.stack(params["zx"], params["zy"]), center=centre))
    if "shear" in params:
        shear = params["shear"]
        steps.append(fn.transforms.scale(scale=fn.stack(1.0, dmath.cos(shear * (math.pi / 180))), center=centre))
        steps.append(fn.transforms.shear(angles=fn.stack(-shear, 0.0), center=centre))
    if "tx" in params or "ty" in params:  # IDG's "height" shift tx is scaled by h and moves x
        offset = fn.stack(params.get("tx", 0.0) * float(height), params.get("ty", 0.0) * float(width))
        steps.append(fn.transforms.translation(offset=offset))
    if "theta" in params:
        steps.append(fn.transforms.rotation(angle=params["theta"], center=centre))
    if len(steps) > 1:
        return fn.transforms.combine(*steps)  # applied in the order listed: zoom first, rotation last
    return steps[0] if steps else None


def normalize_args(spec: AugmentSpec, channels: int) -> tuple[list[float], list[float]]:
    """`crop_mirror_normalize`'s (mean, std) for the spec's value preprocessing `x * scale + offset`."""
    pre = PREPROCESSORS[spec.preprocess]
    scale = np.broadcast_to(np.asarray(pre.scale, np.float64), (channels,))
    offset = np.broadcast_to(np.asarray(pre.offset or 0.0, np.float64), (channels,))
    return (-offset / scale).tolist(), (1.0 / scale).tolist()


@pipeline_def
def spec_graph(split: Split, config: InputConfig, train: bool, device: str) -> tuple[Any, Any]:
    """(images, labels) of one split: decoded, resized, warped, flipped and preprocessed as `config` asks."""
    spec = config.augment if train else config.augment.without_augmentation()
    bgr = PREPROCESSORS[spec.preprocess].reverse_channels and not config.raw_output
    seed = host.seed_of(config)
    if split.paths is not None:
        order = {"shuffle_after_epoch": True, "shuffle_after_epoch_seed": seed} if train else {"pad_last_batch": True}
        encoded, labels = fn.readers.file(files=list(split.paths), labels=[int(v) for v in split.labels], **order)
        output = types.GRAY if config.channels == 1 else types.BGR if bgr else types.RGB
        images = fn.decoders.image(encoded, device=device, output_type=output)
        if config.resize:
            if spec.resize_interpolation not in _INTERPOLATION:
                raise InvalidValue(f"DALI has no {spec.resize_interpolation!r} resize ({', '.join(_INTERPOLATION)})")
            images = fn.resize(images, size=list(config.image_size),
                               interp_type=_INTERPOLATION[spec.resize_interpolation], antialias=True)  # fmt: skip
        height, width = config.image_size
    else:
        source = _ArraySamples(split, seed, config.batch_size, train)
        images, labels = fn.external_source(source=source, num_outputs=2, batch=False, layout=["HWC", ""],
                                            dtype=[types.UINT8, types.INT32])  # fmt: skip
        if bgr:
            images = fn.color_space_conversion(images, image_type=types.RGB, output_type=types.BGR)
        if device == "mixed":
            images = images.gpu()
        height, width = split.images.shape[1:3]
    if config.raw_output:
        return images, labels
    matrix = idg_matrix(spec_params(spec), height, width)
    if matrix is not None:
        images = fn.warp_affine(images, matrix=matrix, dtype=types.FLOAT, interp_type=types.INTERP_LINEAR)
    if spec.horizontal_flip:
        images = fn.flip(images, horizontal=fn.random.coin_flip(probability=0.5))
    mean, std = normalize_args(spec, config.channels)
    return fn.crop_mirror_normalize(images, dtype=types.FLOAT, output_layout="HWC", mean=mean, std=std), labels


def to_numpy(outputs: tuple[Any, Any]) -> tuple[np.ndarray, np.ndarray]:
    """A pipeline's (images, labels) outputs as numpy `[B, H, W, C]` and int32 `[B]` (GPU outputs copied back)."""
    images, labels = (o.as_cpu() if isinstance(o, TensorListGPU) else o for o in outputs)
    return images.as_array(), labels.as_array().reshape(-1).astype(np.int32)


def stream(pipe: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The endless training batches, as a generator (what Keras's `GeneratorDataAdapter` takes)."""
    while True:
        yield to_numpy(pipe.run())


class EvalBatches(keras.utils.PyDataset):
    """The test split once, in order, partial last batch included, read by index as Keras reads a PyDataset (in
    order, one worker): batch `i` is the pipeline's next output, its padded tail cut off. The in-order pipeline
    pads its last batch, so each epoch starts on a batch boundary; an index out of turn rebuilds it and runs up to
    that index (Keras peeks at batches 0 and 1 before reading 0, 1, 2, ...: one rebuild and two batches more per
    evaluation)."""

    def __init__(self, build: Callable[[], Any], size: int, batch_size: int) -> None:
        super().__init__()  # one worker: Keras reads it in the training loop, in order
        self._build = build
        self.size = size
        self.batch_size = batch_size
        self._pipe: Any = None
        self._next = 0

    @property
    def num_batches(self) -> int:
        return math.ceil(self.size / self.batch_size)

    def __len__(self) -> int:
        return self.num_batches

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < self.num_batches:
            raise IndexError(index)
        if self._pipe is None or index < self._next:
            self._pipe, self._next = self._build(), 0
        for _ in range(index - self._next):
            self._pipe.run()
        images, labels = to_numpy(self._pipe.run())
        self._next = (index + 1) % self.num_batches
        keep = min(self.batch_size, self.size - index * self.batch_size)
        return images[:keep], labels[:keep]

    def close(self) -> None:
        self._pipe = None


@dataclass(frozen=True)
class DaliPipeline(Pipeline):
    name: str = "dali"
    opts: DaliOptions = field(default_factory=DaliOptions)
    _made: list = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        decoder_device(self.opts.decoder)  # `mixed` without a GPU: one line now, not at the first batch

    def _built(self, split: Split, config: InputConfig, train: bool) -> Any:
        if split.records is not None:
            raise InvalidValue(f"--pipeline {self.name} reads JPEG folders and arrays, not {split.records.format}")
        device = decoder_device(self.opts.decoder)
        pipe = spec_graph(
            split,
            config,
            train,
            device,
            batch_size=config.batch_size,
            num_threads=self.opts.num_threads,
            device_id=0 if device == "mixed" else None,  # None: a CPU-only pipeline
            seed=host.seed_of(config),
            prefetch_queue_depth=self.opts.prefetch_queue_depth,
        )
        pipe.build()
        return pipe

    def train_data(self, data: DataSet, config: InputConfig) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        batches = stream(self._built(data.train, config, train=True))
        self._made.append(batches)
        return batches

    def eval_data(self, data: DataSet, config: InputConfig) -> EvalBatches:
        batches = EvalBatches(lambda: self._built(data.test, config, train=False), len(data.test), config.batch_size)
        self._made.append(batches)
        return batches

    def close(self) -> None:
        """Drops every pipeline this object built (DALI stops a pipeline's threads when it is freed)."""
        while self._made:
            self._made.pop().close()
