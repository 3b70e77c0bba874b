"""The run record: one flat JSON object per run, appended as one line to a `.jsonl` file.

Raw timings are kept (step and epoch seconds) and rates derived from them. Failures are records too, with
`status="failed"` and the error. A line is written with a single `write()` on an `O_APPEND` descriptor, so
concurrent or crashing runs never interleave or truncate each other's lines.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
RUNS_FILE = "runs.jsonl"
ACCURACY_SUBFOLDER = "accuracy"  # where `bench matrix accuracy` keeps its records (the spec's `subfolder`)


@dataclass(kw_only=True)
class RunRecord:
    # identity and configuration
    schema_version: int = SCHEMA_VERSION
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    status: str = "ok"  # ok | failed
    error: str | None = None
    config_key: str = ""
    workload: str = ""
    pipeline: str = ""
    pipeline_options: dict[str, Any] = field(default_factory=dict)  # every option value
    pipeline_role: str | None = None  # baseline | candidate | ceiling: what the reports compare by
    knobs: dict[str, Any] = field(default_factory=dict)  # what was set away from the preset/defaults
    # training knobs, resolved (compile: the path the backend really took)
    backend: str = "tensorflow"
    compile: str | None = None
    mixed_precision: str = "off"
    steps_per_execution: int = 1
    strategy: str = "default"
    op_determinism: bool = False
    augment_on: str = "host"
    replicas: int = 1
    per_replica_batch_size: int | None = None
    batch_size: int = 0
    image_size: list[int] | None = None  # (height, width) the model was fed, after any --image-size override
    pipeline_output_size: list[int] | None = None  # what the pipeline delivered (stored size: the model resizes)
    epochs: int = 0
    steps_per_epoch: int = 0
    augment: str = ""
    augment_spec: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    model_weights: str | None = None
    model: str | None = None  # --model as given (None: the workload's own)
    model_name: str | None = None  # what was trained: the workload's builder or the --model spec
    model_params: int | None = None
    model_input_shape: list[int | None] | None = None  # without the batch dimension
    model_compiled_by: str | None = None  # harness (the workload's loss and optimizer) | user (kept as given)
    # data provenance
    data_kind: str | None = None  # real | generated
    data_source: str | None = None
    data_location: str | None = None
    data_skipped_files: dict[str, int] = field(default_factory=dict)
    train_examples: int | None = None
    test_examples: int | None = None
    num_classes: int | None = None  # chance accuracy is 1 / num_classes
    # end-to-end steady state
    warmup_steps: int | None = None
    window_steps: int | None = None
    train_images_per_sec: float | None = None
    step_ms_p50: float | None = None
    step_ms_p95: float | None = None
    step_ms_mean: float | None = None
    step_ms_std: float | None = None
    first_step_sec: float | None = None
    first_epoch_sec: float | None = None
    compile_sec_est: float | None = None  # first step minus a steady step: tracing (+ XLA compile)
    epoch_sec: list[float] = field(default_factory=list)
    step_sec: list[float] = field(default_factory=list)
    # pipeline alone
    pipeline_images_per_sec: float | None = None
    pipeline_first_batch_sec: float | None = None
    pipeline_batches: int | None = None  # asked for, the first included: the least timed
    pipeline_window_sec: float | None = None  # the seconds the rate is measured over (at least MIN_WINDOW_SEC)
    pipeline_window_batches: int | None = None  # the batches in that window (after the first)
    stage_images_per_sec: dict[str, float] = field(default_factory=dict)  # tf.data prefixes, in graph order
    slowest_stage: str | None = None
    stage_note: str | None = None  # why no stage was timed (`not staged: ...`, a user pipeline that is no graph)
    # model alone, same process
    train_spread_pct: float | None = None  # (max - min) / median of the training window's block rates
    # The ceilings (bench.run.ceilings). Records before `ceiling_kind` existed hold the fed ceiling here.
    ceiling_images_per_sec: float | None = None  # the device ceiling: the batch resident on the accelerator
    ceiling_spread_pct: float | None = None  # (max - min) / median of the ceiling's block rates: its noise
    ceiling_steps: int | None = None  # steps that ran, warm-up included
    ceiling_warmup_steps: int | None = None
    ceiling_kind: str | None = None  # device | None (an older record: a constant host batch, i.e. fed)
    fed_ceiling_images_per_sec: float | None = None  # a constant host batch through the Keras data adapter
    fed_ceiling_spread_pct: float | None = None
    fed_ceiling_steps: int | None = None
    fed_ceiling_warmup_steps: int | None = None
    fed_ceiling_input: str | None = None  # its dtype and shape: what the pipeline delivers
    probe_steps_per_execution: int | None = None  # the doctor's dispatch probe: the device ceiling at more steps
    probe_ceiling_images_per_sec: float | None = None  # per compiled call
    probe_ceiling_steps: int | None = None  # the dispatch probe's steps, as for the ceilings
    probe_ceiling_spread_pct: float | None = None  # the dispatch probe's block-rate spread: its noise
    input_bound_pct: float | None = None  # 1 - e2e / ceiling, unclipped (below 0: e2e beat the ceiling)
    transfer_stall_pct: float | None = None  # of the e2e step time: moving the batch (fed vs device ceiling)
    pipeline_stall_pct: float | None = None  # of the e2e step time: waiting for the pipeline (e2e vs fed)
    inconsistent: list[str] = field(default_factory=list)  # broken invariants (bench.run.stall), each a sentence
    # accuracy
    val_accuracy: float | None = None  # after the last epoch
    val_loss: float | None = None
    final_train_loss: float | None = None
    first_epoch_loss: float | None = None  # mean training loss of epoch 1 (the determinism check)
    epoch_val_accuracy: list[float] = field(default_factory=list)
    epoch_val_loss: list[float] = field(default_factory=list)
    epoch_train_loss: list[float] = field(default_factory=list)
    target_accuracy: float | None = None
    time_to_target_sec: float | None = None  # training seconds (evaluation excluded) until target reached
    epochs_to_target: int | None = None
    # resources
    peak_host_rss_mb: float | None = None
    gpu_peak_mem_mb: float | None = None  # the backend allocator's own peak (TF, JAX or torch)
    gpu_peak_mem_nvml_mb: float | None = None  # device memory in use (NVML), preallocation off
    gpu_preallocation: str | None = None  # how GPU memory was allocated: "off (...)" says what was set
    gpu_util_mean_pct: float | None = None
    gpu_util_peak_pct: float | None = None
    gpu_note: str | None = None
    wall_sec: float | None = None
    env: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """Strict JSON: a non-finite measurement (a diverged loss, an unmeasurably fast rate) becomes null."""
        return json.dumps(_finite(dataclasses.asdict(self)), sort_keys=False, allow_nan=False, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def absorb(self, result: Any, rename: dict[str, str] | None = None) -> None:
        """Copies a result dataclass's fields onto same-named record fields (`rename` maps the others).

        Raises:
            AttributeError: a result field with no record field: a measurement must never vanish silently.
        """
        rename = rename or {}
        known = {f.name for f in dataclasses.fields(self)}
        for item in dataclasses.fields(result):
            name = rename.get(item.name, item.name)
            if name is None:
                continue
            if name not in known:
                raise AttributeError(f"RunRecord has no field {name!r} for {type(result).__name__}.{item.name}")
            setattr(self, name, getattr(result, item.name))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def append_record(path: Path, record: RunRecord) -> None:
    """Appends `record` to a `.jsonl` file (see `append_json_line`)."""
    append_json_line(path, record)


def append_json_line(path: Path, record: Any) -> None:
    """Appends `record` as one JSON line with a single write (atomic for appends on local filesystems).

    A file whose last line was torn (a writer killed mid-write, an editor) does not end in a newline: the record
    then starts on a new line, so it is never glued onto the torn one and lost with it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = record.to_json() if isinstance(record, RunRecord) else json.dumps(_finite(record), default=str)
    line = (text + "\n").encode()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        written = os.write(fd, line)
        if written != len(line):  # pragma: no cover - a full disk
            raise OSError(f"short write to {path}: {written} of {len(line)} bytes")
    finally:
        os.close(fd)


def read_records(path: Path) -> list[dict[str, Any]]:
    """All records in a `.jsonl` file; a torn or non-JSON line is skipped with a warning, never fatal."""
    import warnings

    records = []
    path = Path(path)
    if not path.exists():
        return records
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            warnings.warn(f"{path}:{number}: not a JSON record, skipped", stacklevel=2)
    return records
