"""One run: load data, build the pipeline and model, time the pipeline alone, train, evaluate, record.

`execute` returns a `RunRecord`; `run_and_record` also appends it to `runs.jsonl`, and on any failure appends a
failure record carrying the error before re-raising, so a run that dies half way leaves a trace, never a
half-written line.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from bench import resources
from bench.accuracy import EpochEvaluator, time_to_target
from bench.records import RUNS_FILE, RunRecord, append_record, config_key, environment
from bench.stages import slowest_stage
from bench.timing import StepTimer, summarize_steps, time_pipeline
from imgcls.data.sources import DataSet, load_dataset
from imgcls.pipelines import InputConfig, build_pipeline
from imgcls.workloads import Workload, get_workload

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Everything that defines a run. `None` fields take the workload's defaults."""

    workload: str = "mnist"
    pipeline: str = "tfdata"
    pipeline_options: dict[str, Any] = field(default_factory=dict)
    data: str = "auto"
    data_dir: str | None = None
    limit_train: int | None = None
    limit_test: int | None = None
    augment: str = "seed"
    batch_size: int | None = None
    epochs: int | None = None
    steps_per_epoch: int | None = None
    warmup_steps: int = 5
    pipeline_batches: int = 20
    seed: int | None = 0
    mixed_precision: str = "off"
    xla: bool = False
    steps_per_execution: int = 1
    strategy: str = "default"  # default | mirrored | multi-worker
    cpu_devices: int | None = None  # split the CPU into N logical devices (mirrored training without GPUs)
    gpu_mem_growth: bool = False  # allocate GPU memory as needed instead of all at start
    weights: str | None = None
    image_size: int | None = None  # square override of the workload's image size (e.g. small VGG16 in tests)
    target_accuracy: float | None = None  # time-to-accuracy target (None = the workload's default)
    ceiling_steps: int = 12  # steps of the same model on one constant batch after training (0 = skip)
    stage_batches: int = 8  # batches per tf.data stage prefix timed (0 = skip)

    def key_fields(self) -> dict[str, Any]:
        """The fields that make two runs comparable repeats: everything but where the data lives, and only
        values set away from their defaults -- so adding a new field with a default keeps old keys (and resume)
        valid."""
        defaults = RunConfig()
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "data_dir" and getattr(self, f.name) != getattr(defaults, f.name)
        }


@dataclass
class Resolved:
    """A config with the workload's defaults filled in."""

    workload: Workload
    batch_size: int
    epochs: int
    steps_per_epoch: int | None


def resolve(config: RunConfig) -> Resolved:
    workload = get_workload(config.workload)
    batch_size = config.batch_size or workload.batch_size
    epochs = config.epochs or workload.epochs
    for name, value in (
        ("batch_size", batch_size),
        ("epochs", epochs),
        ("steps_per_execution", config.steps_per_execution),
    ):
        if value < 1:
            raise ValueError(f"`{name}` must be >= 1, got {value}")
    if config.steps_per_epoch is not None and config.steps_per_epoch < 1:
        raise ValueError(f"`steps` must be >= 1, got {config.steps_per_epoch}")
    return Resolved(workload, batch_size, epochs, config.steps_per_epoch or workload.steps_per_epoch)


class ProgressLine(keras.callbacks.Callback):
    """One progress line on stderr: rewritten in place on a terminal, every `every_sec` seconds otherwise."""

    async_safe = True  # printing needs no step to be finished: never stall the training loop for it

    def __init__(self, label: str, epochs: int, steps: int, batch_size: int, every_sec: float = 5.0) -> None:
        super().__init__()
        self.label, self.epochs, self.steps, self.batch_size = label, epochs, steps, batch_size
        self.tty = sys.stderr.isatty()
        self.every_sec = 0.5 if self.tty else every_sec
        self._last_print = 0.0
        self._epoch = 0
        self._epoch_start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        self._epoch_start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        if now - self._last_print < self.every_sec and batch + 1 < self.steps:
            return
        self._last_print = now
        rate = (batch + 1) * self.batch_size / max(now - self._epoch_start, 1e-9)
        loss = (logs or {}).get("loss")
        loss_text = f" loss {loss:.4f}" if loss is not None else ""
        text = (
            f"[{self.label}] epoch {self._epoch + 1}/{self.epochs} step {batch + 1}/{self.steps}"
            f"{loss_text} {rate:,.0f} img/s"
        )
        print(("\r" + text + "\033[K") if self.tty else text, end="" if self.tty else "\n", file=sys.stderr)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.tty:
            print(file=sys.stderr)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _compile(model: keras.Model, workload: Workload, config: RunConfig) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(workload.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=config.xla,
        steps_per_execution=config.steps_per_execution,
    )


def execute(config: RunConfig, record: RunRecord, data: DataSet | None = None) -> RunRecord:
    """Runs `config`, filling `record` in place as it goes (so a failure keeps what was known).

    Args:
        config: The run.
        record: A record with identity fields set; measured fields are filled here.
        data: An already loaded data set (tests); loaded from `config.data` when None.
    """
    wall_start = time.perf_counter()
    resolved = resolve(config)
    workload = resolved.workload
    spec = workload.augment_spec(config.augment)
    pipeline = build_pipeline(config.pipeline, **config.pipeline_options)
    record.pipeline_options = pipeline.options()
    record.augment_spec = spec.as_dict()
    record.batch_size, record.epochs = resolved.batch_size, resolved.epochs

    if data is None:
        data = load_dataset(workload.dataset, config.data, config.data_dir)
    data = data.limit(config.limit_train, config.limit_test)
    record.data_kind, record.data_source, record.data_location = data.kind, data.source, data.location
    record.data_skipped_files = dict(data.skipped_files)
    record.train_examples, record.test_examples = len(data.train), len(data.test)
    record.num_classes = data.num_classes

    steps = resolved.steps_per_epoch or len(data.train) // resolved.batch_size
    if len(data.train) < resolved.batch_size:
        raise ValueError(
            f"{len(data.train)} training examples make no full batch of {resolved.batch_size}; lower --batch-size"
        )
    record.steps_per_epoch = steps
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)  # Python, NumPy and TF
    if pipeline.options().get("deterministic"):
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    image_size = (config.image_size, config.image_size) if config.image_size else workload.image_size
    input_shape = (*image_size, workload.channels)
    record.image_size = list(image_size)
    input_config = InputConfig(
        image_size=image_size,
        channels=workload.channels,
        augment=spec,
        batch_size=resolved.batch_size,
        seed=config.seed,
    )
    label = f"{workload.name}/{pipeline.name}"

    # 0. The model first: a missing weights file or an unknown policy fails in seconds, not after the timing.
    _say(f"[{label}] data: {data.kind}, {data.source}")
    model_kwargs = dict(workload.model_kwargs)
    if config.weights is not None:
        model_kwargs["weights"] = config.weights
    record.model_weights = model_kwargs.get("weights")
    if config.mixed_precision != "off":
        keras.mixed_precision.set_global_policy(f"mixed_{config.mixed_precision}")
    if config.gpu_mem_growth:
        resources.enable_gpu_memory_growth()
    strategy = build_strategy(config.strategy, config.cpu_devices)
    record.strategy, record.replicas = config.strategy, strategy.num_replicas_in_sync
    if resolved.batch_size % record.replicas:
        raise ValueError(f"batch size {resolved.batch_size} does not split over {record.replicas} replicas")
    record.per_replica_batch_size = resolved.batch_size // record.replicas
    try:
        with strategy.scope():
            model = workload.build_model(input_shape, data.num_classes, **model_kwargs)
            _compile(model, workload, config)
        return _measure(config, record, resolved, pipeline, data, input_config, model, steps, label, wall_start)
    finally:
        # The dtype policy is process-global; never leak it into the next run of this process.
        keras.mixed_precision.set_global_policy("float32")
        close = getattr(pipeline, "close", None)
        if close is not None:  # e.g. tf.data service servers: never outlive the run
            close()


def build_strategy(name: str, cpu_devices: int | None = None) -> Any:
    """A `tf.distribute` strategy. The batch fed to `fit` is the global batch; Keras splits it per replica
    (it distributes the dataset with `experimental_distribute_dataset`, which auto-shards by data).

    Args:
        name: `default` (no distribution), `mirrored` (all local GPUs, else the CPU's logical devices) or
            `multi-worker` (`MultiWorkerMirroredStrategy`; reads the cluster from `TF_CONFIG`).
        cpu_devices: Split the physical CPU into this many logical devices first (must precede TF's start-up).
    """
    import tensorflow as tf

    if cpu_devices:
        cpus = tf.config.list_physical_devices("CPU")
        try:
            tf.config.set_logical_device_configuration(
                cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(cpu_devices)]
            )
        except RuntimeError:
            if len(tf.config.list_logical_devices("CPU")) != cpu_devices:
                raise ValueError(
                    "--cpu-devices must be set before TensorFlow starts its runtime: run it in a fresh process"
                ) from None
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"Unknown strategy {name!r}; known: default, mirrored, multi-worker")


def _measure(
    config: RunConfig,
    record: RunRecord,
    resolved: Resolved,
    pipeline: Any,
    data: DataSet,
    input_config: InputConfig,
    model: keras.Model,
    steps: int,
    label: str,
    wall_start: float,
) -> RunRecord:
    """Pipeline alone, per-stage prefixes, training with per-epoch evaluation, then the ceiling."""
    workload = resolved.workload
    # 1. The pipeline alone (a fresh instance, so training starts cold as it would).
    _say(f"[{label}] timing the input pipeline alone ({config.pipeline_batches} batches)...")
    alone = time_pipeline(pipeline.train_data(data, input_config), config.pipeline_batches)
    record.pipeline_images_per_sec = alone.images_per_sec
    record.pipeline_first_batch_sec = alone.first_batch_sec
    record.pipeline_batches = alone.batches
    if config.stage_batches and hasattr(pipeline, "stage_datasets"):
        _say(f"[{label}] timing tf.data stage prefixes ({config.stage_batches} batches each)...")
        stages = pipeline.stage_datasets(data, input_config)
        record.stage_images_per_sec = {
            name: time_pipeline(ds, config.stage_batches + 1).images_per_sec for name, ds in stages.items()
        }
        record.slowest_stage = slowest_stage(record.stage_images_per_sec)

    # 2. Model fed by the pipeline.
    timer = StepTimer()
    progress = ProgressLine(label, resolved.epochs, steps, resolved.batch_size)
    eval_data = pipeline.eval_data(data, input_config)
    if eval_data is not None:
        _say(f"[{label}] held-out evaluation after every epoch on {len(data.test)} examples")

    def report_epoch(epoch: int, accuracy: float, loss: float) -> None:
        _say(f"[{label}] epoch {epoch + 1}: val accuracy {accuracy:.4f}, val loss {loss:.4f}")

    # The evaluator comes after the timer, so evaluation time stays out of the epoch's training time.
    evaluator = EpochEvaluator(eval_data, on_result=report_epoch)
    resources.reset_tf_gpu_peak()
    _say(f"[{label}] training {resolved.epochs} epoch(s) x {steps} steps, batch {resolved.batch_size}...")
    with resources.NvmlSampler() as nvml:
        model.fit(
            pipeline.train_data(data, input_config),
            epochs=resolved.epochs,
            steps_per_epoch=steps,
            callbacks=[timer, progress, evaluator],
            shuffle=False,  # every pipeline shuffles itself; Keras's own shuffle would be ignored anyway
            verbose=0,
        )
    spe = config.steps_per_execution
    # Never more warm-up than leaves 2 measured executions; the record says how many steps were left out.
    warmup = max(0, min(config.warmup_steps, (len(timer.log.step_sec) - 2) * spe))
    steady = summarize_steps(timer.log, resolved.batch_size, warmup, steps_per_callback=spe)
    record.warmup_steps, record.window_steps = steady.warmup_steps, steady.window_steps
    record.train_images_per_sec = steady.images_per_sec
    record.step_ms_p50, record.step_ms_p95 = steady.step_ms_p50, steady.step_ms_p95
    record.step_ms_mean, record.step_ms_std = steady.step_ms_mean, steady.step_ms_std
    record.first_step_sec, record.first_epoch_sec = steady.first_step_sec, steady.first_epoch_sec
    # The first step pays tracing (and XLA compilation with --xla); what it costs beyond a steady step.
    record.compile_sec_est = max(0.0, steady.first_step_sec - steady.step_ms_p50 / 1e3)
    record.epoch_sec, record.step_sec = timer.log.epoch_sec, timer.log.step_sec
    record.final_train_loss = timer.log.last_loss
    record.gpu_peak_mem_tf_mb = resources.tf_gpu_peak_mb()
    record.gpu_peak_mem_nvml_mb = nvml.stats.device_mem_peak_mb
    record.gpu_util_mean_pct, record.gpu_util_peak_pct = nvml.stats.util_mean_pct, nvml.stats.util_peak_pct
    record.gpu_note = nvml.stats.reason

    # 3. Accuracy on the held-out split (never augmented), per epoch, and time-to-accuracy.
    history = evaluator.history
    record.epoch_val_accuracy, record.epoch_val_loss = history.val_accuracy, history.val_loss
    record.epoch_train_loss = history.train_loss
    record.first_epoch_loss = history.train_loss[0] if history.train_loss else None
    if history.val_accuracy:
        record.val_accuracy, record.val_loss = history.val_accuracy[-1], history.val_loss[-1]
        record.target_accuracy = config.target_accuracy or workload.target_accuracy
        record.time_to_target_sec, record.epochs_to_target = time_to_target(
            history.val_accuracy, timer.log.epoch_sec, record.target_accuracy
        )

    # 4. The ceiling in this same process: the same compiled model on one constant batch (after evaluation,
    #    because training on one batch changes the weights). input-bound % = 1 - end-to-end / ceiling.
    if config.ceiling_steps:
        _say(f"[{label}] measuring the model alone on a constant batch ({config.ceiling_steps} steps)...")
        ceiling = measure_ceiling(model, data, input_config, config.ceiling_steps, spe)
        record.ceiling_images_per_sec = ceiling
        record.input_bound_pct = 100.0 * max(0.0, 1.0 - record.train_images_per_sec / ceiling)
    record.peak_host_rss_mb = resources.peak_host_rss_mb()
    record.wall_sec = time.perf_counter() - wall_start
    return record


def knobs_of(config: RunConfig) -> dict[str, Any]:
    """The knobs set away from the pipeline preset and training defaults (what a table row is labelled by)."""
    knobs = dict(sorted(config.pipeline_options.items()))
    if config.mixed_precision != "off":
        knobs["mixed_precision"] = config.mixed_precision
    if config.xla:
        knobs["xla"] = True
    if config.steps_per_execution != 1:
        knobs["steps_per_execution"] = config.steps_per_execution
    if config.strategy != "default":
        knobs["strategy"] = config.strategy
    return knobs


def measure_ceiling(
    model: keras.Model, data: DataSet, config: InputConfig, steps: int, steps_per_execution: int = 1
) -> float:
    """Steady-state images/s of `model` fed one constant in-memory batch (the synthetic pipeline).

    Raises:
        ValueError: `steps` too few to leave 2 measured executions after one warm-up execution.
    """
    synthetic = build_pipeline("synthetic")
    timer = StepTimer()
    model.fit(
        synthetic.train_data(data, config), epochs=1, steps_per_epoch=steps, callbacks=[timer], shuffle=False, verbose=0
    )
    warmup = max(0, min(2 * steps_per_execution, (len(timer.log.step_sec) - 2) * steps_per_execution))
    return summarize_steps(timer.log, config.batch_size, warmup, steps_per_callback=steps_per_execution).images_per_sec


def new_record(config: RunConfig) -> RunRecord:
    """A record with the config's identity filled in (what a failure record will carry too)."""
    return RunRecord(
        config_key=config_key(config.key_fields()),
        workload=config.workload,
        pipeline=config.pipeline,
        pipeline_options=dict(config.pipeline_options),
        knobs=knobs_of(config),
        mixed_precision=config.mixed_precision,
        xla=config.xla,
        steps_per_execution=config.steps_per_execution,
        batch_size=config.batch_size or 0,
        epochs=config.epochs or 0,
        steps_per_epoch=config.steps_per_epoch or 0,
        augment=config.augment,
        seed=config.seed,
        env=environment(),
    )


def run_and_record(
    config: RunConfig, results_dir: Path, data: DataSet | None = None, run_id: str | None = None
) -> RunRecord:
    """Executes `config` and appends its record (or a failure record, then re-raises) to `results_dir`."""
    record = new_record(config)
    if run_id:
        record.run_id = run_id
    path = Path(results_dir) / RUNS_FILE
    try:
        execute(config, record, data)
    except BaseException as err:
        record.status = "failed"
        record.error = f"{type(err).__name__}: {err}".splitlines()[0][:500] if str(err) else type(err).__name__
        record.peak_host_rss_mb = resources.peak_host_rss_mb()
        append_record(path, record)
        raise
    append_record(path, record)
    return record
