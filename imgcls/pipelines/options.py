"""Every pipeline's options, as knob declarations (TensorFlow-free, so the CLI and a sweep can validate them).

Each field made with `knob(...)` is a knob: the command line, tables and sweep specs derive from it. Presets of
one pipeline class (`tfdata`, `tfdata-naive`) are instances of the same options type with other values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from imgcls.options import AUTOTUNE, knob, off_int, off_int_autotune, on_off, one_of, positive_int, validate, word


@dataclass(frozen=True, kw_only=True)
class TfDataOptions:
    """tf.data knobs. `None` means off; `AUTOTUNE` (-1) lets tf.data tune the value."""

    map_parallel: int | None = knob(AUTOTUNE, off_int_autotune, "parallel map calls: off | N | autotune")
    prefetch: int | None = knob(AUTOTUNE, off_int_autotune, "prefetch buffer in batches: off | N | autotune")
    cache: str = knob("off", one_of("off", "memory", "file"), "cache decoded data: off | memory | file")
    cache_at: str = knob("decode", one_of("decode", "augment"), "where the cache sits in the graph")
    interleave_cycle: int | None = knob(
        None,
        off_int,
        "file inputs: read through interleave with this cycle; record shards: shards read at once "
        "(off: tf.data's default)",
    )
    interleave_parallel: int | None = knob(AUTOTUNE, off_int_autotune, "interleave parallel calls")
    deterministic: bool = knob(False, on_off, "tf.data keeps element order under parallelism (input only)")
    vectorize: bool = knob(True, on_off, "augment per batch (on) or per image (off)")
    shuffle_buffer: int = knob(10_000, positive_int, "shuffle buffer size in elements")
    private_threadpool: int | None = knob(None, off_int, "tf.data private thread pool size (off = shared pool)")
    max_intra_op: int | None = knob(None, off_int, "tf.data max intra-op parallelism (off = TF's default)")
    autotune_ram_budget_mb: int | None = knob(None, off_int, "tf.data autotune RAM budget in MB")
    autotune_cpu_budget: int | None = knob(None, off_int, "tf.data autotune CPU budget in cores (off = all)")
    crop_decode: str = knob(
        "fused",
        one_of("fused", "plain"),
        "random resized crop specs (imagenet-resnet50): crop inside the JPEG decode (fused: decode_and_crop_jpeg, "
        "only the crop is decoded) or decode the whole image, then crop (plain)",
    )
    resize_antialias: bool = knob(
        True,
        on_off,
        "file inputs: resize with an antialiasing filter when shrinking, as PIL does (on: ImageDataGenerator's "
        "work) or sample 2x2 pixels, as fast loaders do (off)",
    )
    cache_dir: str | None = None  # for cache="file"; a temporary folder when None

    def __post_init__(self) -> None:
        validate(self)


# The tool's best default: parallel everything, autotuned, vectorised augmentation.
TUNED = TfDataOptions()
# What a first tf.data port looks like: sequential map, no prefetch, no cache, per-image augmentation, ordered.
NAIVE = TfDataOptions(map_parallel=None, prefetch=None, vectorize=False, deterministic=True, crop_decode="plain")


def keras_workers(default: int) -> int:
    """The `workers` knob of the loaders Keras's `OrderedEnqueuer` runs (IDG, PyDataset): declared once."""
    return knob(default, positive_int, "batches prepared by N Keras enqueuer workers (1 = in the training loop)")


@dataclass(frozen=True, kw_only=True)
class IdgOptions:
    """`workers` > 1 runs the iterator in Keras's thread pool; 1 (the Keras 3 default) is synchronous."""

    workers: int = keras_workers(1)
    use_multiprocessing: bool = False

    def __post_init__(self) -> None:
        validate(self)


def _service_address(value: object) -> str:
    """`local:N` or `grpc://HOST:PORT`, checked (the parser of the `service` knob)."""
    from imgcls.service import ServiceError, parse_service

    text = word(value)
    try:
        parse_service(text)
    except ServiceError as err:
        raise ValueError(str(err).split(": ", 1)[-1]) from None
    return text


SHARDING_POLICIES = ("off", "dynamic", "file", "data", "file_or_data", "hint")


@dataclass(frozen=True, kw_only=True)
class ServiceOptions(TfDataOptions):
    """tf.data service knobs, plus the tf.data knobs of the graph the workers run.

    `sharding=None` follows the processing mode: `dynamic` for `distributed_epoch`; for `parallel_epochs` no
    sharding, every worker producing its own stream (seeded apart, so N workers never send the same batches).
    """

    service: str = knob(
        "local:2", _service_address, "local:N (N workers on loopback) or grpc://HOST:PORT", metavar="ADDR"
    )
    processing_mode: str = knob(
        "parallel_epochs", one_of("parallel_epochs", "distributed_epoch"), "tf.data service processing mode"
    )
    sharding: str | None = knob(None, one_of(None, *SHARDING_POLICIES), "tf.data service sharding policy")
    compression: str = knob("auto", one_of("auto", "none"), "tf.data service compression")
    connect_timeout_sec: float = 5.0  # how long a remote dispatcher may take to answer before a clear error

    def worker_options(self) -> TfDataOptions:
        """The tf.data knobs alone (what the graph on each worker is built with)."""
        fields = {f.name for f in dataclasses.fields(TfDataOptions)}
        return TfDataOptions(**{name: getattr(self, name) for name in fields})


@dataclass(frozen=True, kw_only=True)
class PyDatasetOptions:
    """`keras.utils.PyDataset`'s own three arguments, as `PyDataset.__init__` takes them."""

    workers: int = keras_workers(2)
    use_multiprocessing: bool = knob(False, on_off, "PyDataset workers are processes (on) or threads (off)")
    max_queue_size: int = knob(10, positive_int, "batches Keras's enqueuer keeps ready for a PyDataset")

    def __post_init__(self) -> None:
        validate(self)


def _non_negative_int(value: object) -> int:
    """`0` or a positive integer (`worker_count` 0: Grain runs the pipeline in the training process)."""
    if value in (0, "0") and not isinstance(value, bool):
        return 0
    return positive_int(value)


@dataclass(frozen=True, kw_only=True)
class GrainOptions:
    """Grain's own knobs: `MultiprocessingOptions` (worker processes) and `ReadOptions` (threads per process)."""

    worker_count: int = knob(2, _non_negative_int, "Grain worker processes (0 = in the training process)")
    worker_buffer_size: int = knob(2, positive_int, "batches each Grain worker keeps ready")
    read_threads: int = knob(2, positive_int, "Grain ReadOptions.num_threads: elements read/mapped in parallel")
    read_buffer: int = knob(64, positive_int, "Grain ReadOptions.prefetch_buffer_size in elements")

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True, kw_only=True)
class TorchOptions:
    """`torch.utils.data.DataLoader`'s own knobs (`prefetch_factor`, `persistent_workers`, `start_method` apply with
    workers; `start_method` is DataLoader's `multiprocessing_context`)."""

    num_workers: int = knob(2, _non_negative_int, "DataLoader worker processes (0 = in the training process)")
    prefetch_factor: int = knob(2, positive_int, "batches each DataLoader worker loads ahead")
    pin_memory: bool = knob(False, on_off, "DataLoader copies batches into page-locked memory (for a GPU)")
    persistent_workers: bool = knob(True, on_off, "DataLoader keeps its workers between epochs")
    start_method: str = knob(
        "forkserver",
        one_of("forkserver", "fork", "spawn"),
        "how DataLoader starts its workers: forkserver (forked from a clean helper process: safe beside "
        "TensorFlow's and JAX's threads) | fork (a copy of the training process, other threads' held locks "
        "included) | spawn (a fresh interpreter each)",
    )

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True, kw_only=True)
class DaliOptions:
    """NVIDIA DALI's own knobs: the pipeline's `num_threads` and `prefetch_queue_depth`, and where it decodes."""

    num_threads: int = knob(2, positive_int, "DALI pipeline num_threads: CPU threads its operators run on")
    prefetch_queue_depth: int = knob(2, positive_int, "DALI pipeline prefetch_queue_depth: batches run ahead")
    decoder: str = knob(
        "auto",
        one_of("auto", "cpu", "mixed"),
        "DALI image decoder: cpu (libjpeg-turbo) | mixed (nvJPEG on the GPU, the ops after it there too) | "
        "auto (mixed where a GPU is visible)",
    )

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True, kw_only=True)
class NoOptions:
    """A pipeline without knobs (the synthetic ceiling)."""


def _function_reference(value: object) -> str | None:
    """None (the preset: no function yet) or a `package.module:function` reference (the `pipeline_fn` parser)."""
    from imgcls.user_code import check_reference

    return None if value is None else check_reference(value, "a pipeline function")


@dataclass(frozen=True, kw_only=True)
class UserOptions:
    """Your own pipeline: the function that builds it (called with `batch_size` and `seed` where it takes them)."""

    pipeline_fn: str | None = knob(
        None,
        _function_reference,
        "your pipeline: package.module:function returning what model.fit takes (a tf.data.Dataset, a "
        "keras.utils.PyDataset, a generator of (x, y), a torch DataLoader, a Grain MapDataset or IterDataset); "
        "implies --pipeline user",
        metavar="MODULE:FN",
    )
    # The same knob as tf.data's (declared alike, so one flag): applied to a tf.data graph the function returns.
    private_threadpool: int | None = knob(None, off_int, "tf.data private thread pool size (off = shared pool)")

    def __post_init__(self) -> None:
        validate(self)
