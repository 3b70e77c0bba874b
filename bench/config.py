"""What defines a run (`RunConfig`), checked and resolved without importing TensorFlow or Keras.

The training knobs are declared here, as knob fields of `RunConfig` (the input knobs are the pipelines' options,
declared in `imgcls.pipelines.options`). A sweep's parent process builds and checks every cell's config with this
module alone, so a typo fails before the first cell starts, and the parent never loads a framework.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from bench.backends import COMPILE_CHOICES, get_backend, list_backends
from imgcls.data.catalogue import get_dataset_info
from imgcls.errors import InvalidValue, UserFacingError
from imgcls.model_specs import model_spec_word, parse_model_spec
from imgcls.options import (
    INPUT,
    TRAINING,
    Knob,
    at_least,
    changed,
    count,
    fraction,
    knob,
    on_off,
    one_of,
    optional,
    positive_int,
    random_seed,
    setting,
    validate,
    word,
)
from imgcls.options import knobs_of as declared_knobs
from imgcls.pipelines import baseline_for, get_pipeline_spec, record_readers
from imgcls.workloads import Workload, get_workload

DATA_KIND_REAL = "real"
DATA_KIND_GENERATED = "generated"
_REAL_MODES = ("dir", "folder", "keras", "tfds")


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Everything that defines a run. `None` fields take the workload's defaults."""

    workload: str = "mnist"
    pipeline: str = "tfdata"
    pipeline_options: dict[str, Any] = field(default_factory=dict)  # input knobs set away from the preset
    # training knobs
    model: str | None = knob(
        None,
        model_spec_word,
        "your model instead of the workload's: a .keras file, package.module:function (returns a Keras model; "
        "compiled with the workload's loss and optimizer unless it comes compiled) or a keras.applications name "
        "(resnet50, mobilenetv3small, efficientnetb0, ...; weights none unless --weights PATH, its own input size "
        "and preprocessing)",
        kind=TRAINING,
        metavar="SPEC",
    )
    backend: str = knob("tensorflow", one_of(*list_backends()), "Keras backend (set before Keras loads)", kind=TRAINING)
    compile: str = knob(
        "auto",
        one_of(*COMPILE_CHOICES),
        "train-step compile path; auto = the backend's fast path (tensorflow: graph, jax: jit, torch: eager); "
        "also xla (tensorflow), eager (any), torch.compile (torch)",
        kind=TRAINING,
    )
    mixed_precision: str = knob(
        "off", one_of("off", "float16", "bfloat16"), "Keras dtype policy mixed_<dtype>", kind=TRAINING
    )
    steps_per_execution: int = knob(1, positive_int, "train steps per compiled call", kind=TRAINING, metavar="N")
    strategy: str = knob(
        "default",
        one_of("default", "mirrored", "multi-worker"),
        "tf.distribute strategy (tensorflow backend): mirrored = all local GPUs, or the CPU's logical devices",
        kind=TRAINING,
    )
    op_determinism: bool = knob(False, on_off, "deterministic model kernels (slower on a GPU)", kind=TRAINING)
    augment_on: str = knob(
        "host",
        one_of("host", "device"),
        "where augmentation and value preprocessing run: host (the pipeline) or device (a layer in the model; "
        "the pipeline then only decodes and resizes)",
        kind=INPUT,
        shapes_model=True,
    )
    # data
    data: str = "auto"
    data_dir: str | None = None
    limit_train: int | None = setting(None, optional(positive_int))
    limit_test: int | None = setting(None, optional(positive_int))
    augment: str = "seed"
    # shape of the run (every count, seed and fraction parsed where declared: RunConfig(...) refuses a bad one)
    batch_size: int | None = setting(None, optional(positive_int))
    epochs: int | None = setting(None, optional(positive_int))
    steps_per_epoch: int | None = setting(None, optional(positive_int))
    seed: int | None = setting(0, optional(random_seed))
    weights: str | None = setting(None, optional(word))
    image_size: int | None = setting(None, optional(positive_int))  # square override of the workload's image size
    target_accuracy: float | None = setting(None, optional(fraction))  # time-to-accuracy target (None = default)
    cpu_devices: int | None = setting(None, optional(positive_int))  # split the CPU into N logical devices
    # measurement
    warmup_steps: int = setting(5, count)
    pipeline_batches: int = setting(20, at_least(2))  # the first batch is timed apart from the others
    ceiling_steps: int = setting(30, count)  # steps of the same model on one constant batch after training (0 = skip)
    stage_batches: int = setting(20, count)  # batches per tf.data stage prefix timed (0 = skip)
    dispatch_probe_spe: int = setting(0, count)  # also the device ceiling at N steps per execution (0 = skip)

    def __post_init__(self) -> None:
        validate(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        """The inverse of `dataclasses.asdict` (a sweep cell's payload); unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidValue(f"unknown run settings {unknown}")
        return cls(**values)


def run_knobs() -> list[Knob]:
    """The knobs declared on `RunConfig`: the training knobs and the run-level input knobs."""
    return declared_knobs(RunConfig)


def resolved_compile(config: RunConfig) -> str:
    """The compile path the run will take (`auto` resolved for its backend)."""
    return get_backend(config.backend).resolve_compile(config.compile)


def check(config: RunConfig, installed: bool = True) -> Workload:
    """Everything that can be checked before a framework loads; returns the workload.

    A knob that makes no sense on the backend is named before a backend that is missing (the first is a mistake in
    the command, the second in the machine). `installed=False` leaves the backend's presence to the caller (a sweep
    reports such cells as skipped instead of refusing the whole spec).

    Raises:
        UserFacingError, ValueError: unknown names, a pipeline option it does not have, a knob value that makes no
            sense on the backend or (with `installed`) a backend that is not installed.
    """
    workload = get_workload(config.workload)
    spec = workload.augment_spec(config.augment)
    pipeline = get_pipeline_spec(config.pipeline)
    pipeline.options_with(config.pipeline_options)
    if not pipeline.renders(spec):
        raise UserFacingError(
            f"--pipeline {pipeline.name} cannot render {config.workload}'s augmentation; its baseline is "
            f"{baseline_for(spec)}"
        )
    shard_format = _shard_format(config)
    if shard_format is not None and shard_format not in pipeline.record_formats:
        readers = ", ".join(record_readers(shard_format)) or "no pipeline"
        raise UserFacingError(f"--pipeline {pipeline.name} cannot read {shard_format} shards; {readers} reads them")
    backend = get_backend(config.backend)
    resolved_compile(config)
    if config.steps_per_execution > 1 and not backend.multi_step:
        raise UserFacingError(f"--steps-per-execution {config.steps_per_execution}: the {backend.name} backend runs 1")
    if config.strategy != "default" and not backend.distributes:
        raise UserFacingError(f"--strategy {config.strategy} is a tf.distribute strategy: tensorflow backend only")
    files = get_dataset_info(workload.dataset).as_files
    if config.image_size is not None and not files:
        raise UserFacingError(f"--image-size resizes image files; {config.workload} is arrays at a fixed size")
    model = parse_model_spec(config.model) if config.model else None
    if model is not None and model.image_size and not files:
        raise UserFacingError(f"--model {model.text} takes {model.image_size} RGB images; {config.workload} is arrays")
    takes_weights = model.kind == "application" if model else "weights" in workload.model_kwargs
    if config.weights is not None and not takes_weights:
        what = config.model or config.workload
        raise UserFacingError(f"--weights applies to imagenette-vgg16 and keras.applications --model names, not {what}")
    if installed:
        backend.check_available()
    return workload


def _shard_format(config: RunConfig) -> str | None:
    """The record format a run reads when its data is prepared shards (`--data shards`, or `auto` on a folder
    holding a shard manifest), from the manifest alone; None otherwise.

    Raises:
        ShardError: `--data shards` on a folder without a readable manifest.
    """
    from pathlib import Path

    from imgcls.data.locations import default_data_dir
    from imgcls.data.shards import MANIFEST, read_manifest

    folder = Path(config.data_dir).expanduser() if config.data_dir else default_data_dir()
    if folder is None or config.data not in ("shards", "auto"):
        return None
    if config.data == "auto" and not (folder / MANIFEST).is_file():
        return None
    return read_manifest(folder)["format"]


def knobs_of(config: RunConfig) -> dict[str, Any]:
    """The knobs set away from the pipeline preset and the training defaults: what a table row is labelled by.

    Training knobs are compared after resolution (`--compile jit` on JAX is JAX's default, not a change).
    """
    spec = get_pipeline_spec(config.pipeline)
    knobs = changed(spec.options_with(config.pipeline_options), spec.preset)
    reference = RunConfig()
    for item in run_knobs():
        value, default = getattr(config, item.name), getattr(reference, item.name)
        if item.name == "compile":
            value, default = resolved_compile(config), get_backend(config.backend).default_compile
        if value != default:
            knobs[item.name] = value
    return knobs


def key_fields(config: RunConfig) -> dict[str, Any]:
    """The fields that make two runs comparable repeats: everything but where the data lives, and only values set
    away from their defaults -- so adding a field with a default keeps old keys (and resume) valid."""
    defaults = RunConfig()
    return {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(config)
        if f.name != "data_dir" and getattr(config, f.name) != getattr(defaults, f.name)
    }


def config_key(config: RunConfig) -> str:
    """A stable short hash of a run's comparable configuration (same config -> same key), for grouping and resume."""
    text = json.dumps(key_fields(config), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def expected_data_kind(config: RunConfig) -> str | None:
    """The data kind a run will get, when it is decided by the config alone (None: `auto` with no directory)."""
    if config.data == "generated":
        return DATA_KIND_GENERATED
    if config.data in _REAL_MODES or config.data_dir is not None:
        return DATA_KIND_REAL
    return None
