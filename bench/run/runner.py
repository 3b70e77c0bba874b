"""One run: check, set the process up, load data, build pipeline and model, measure, record.

`execute` fills a `RunRecord` as it goes; `run_and_record` appends it to `runs.jsonl`, and on any failure appends a
failure record carrying the error before re-raising, so a run that dies half way leaves a trace, never a
half-written line.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench import config as run_config
from bench.config import RunConfig
from bench.environment import environment
from bench.records import RUNS_FILE, RunRecord, append_record
from bench.run import memory as resources
from bench.run import process_setup as process
from imgcls.data.types import DataSet
from imgcls.errors import UserFacingError
from imgcls.pipelines import get_pipeline_spec

PREALLOCATION_NOTE = {
    "tensorflow": "off (TF memory growth)",
    "jax": "off (XLA_PYTHON_CLIENT_PREALLOCATE=false)",
    "torch": "off (torch caching allocator, no preallocation)",
}


def execute(config: RunConfig, record: RunRecord, data: DataSet | None = None) -> RunRecord:
    """Runs `config`, filling `record` in place as it goes (so a failure keeps what was known).

    Args:
        config: The run.
        record: A record with identity fields set; measured fields are filled here.
        data: An already loaded data set (tests); loaded from `config.data` when None.
    """
    wall_start = time.perf_counter()
    workload = run_config.check(config)
    backend = process.prepare(config)  # before Keras loads

    from bench.run import measurements as measure
    from bench.run.input_config import inputs_for
    from imgcls.augment_layer import with_device_augmentation
    from imgcls.data import load_dataset
    from imgcls.pipelines import build_pipeline

    record.env = environment()
    record.gpu_preallocation = PREALLOCATION_NOTE.get(config.backend)
    batch_size = config.batch_size or workload.batch_size
    epochs = config.epochs or workload.epochs
    from bench.run.model_choice import choose_model

    chosen = choose_model(config, workload, workload.augment_spec(config.augment))  # --model: its size, its values
    spec = chosen.augment
    pipeline = build_pipeline(config.pipeline, **config.pipeline_options)
    record.pipeline_options = pipeline.options()
    record.augment_spec = spec.as_dict()
    record.batch_size, record.epochs = batch_size, epochs

    if data is None:
        data = load_dataset(workload.dataset, config.data, config.data_dir)
    data = data.limit(config.limit_train, config.limit_test)
    record.data_kind, record.data_source, record.data_location = data.kind, data.source, data.location
    record.data_skipped_files = dict(data.skipped_files)
    record.train_examples, record.test_examples = len(data.train), len(data.test)
    record.num_classes = data.num_classes
    if len(data.train) < batch_size:
        raise UserFacingError(f"{len(data.train)} training examples make no full batch of {batch_size}")
    steps = config.steps_per_epoch or workload.steps_per_epoch or len(data.train) // batch_size
    record.steps_per_epoch = steps
    process.seed_everything(config, backend)

    image_size = chosen.image_size
    record.image_size = list(image_size)
    on_device = config.augment_on == "device"
    inputs = inputs_for(
        spec,
        data,
        image_size=image_size,
        channels=workload.channels,
        batch_size=batch_size,
        seed=config.seed,
        augment_on=config.augment_on,
    )
    input_config, stored_size = inputs.config, inputs.stored_size
    record.pipeline_output_size = list(input_config.image_size)
    label = f"{workload.name}/{pipeline.name}" + ("" if config.backend == "tensorflow" else f"@{config.backend}")
    say = measure.say
    say(f"[{label}] data: {data.kind}, {data.source}")
    if data.skipped_files:  # the user sees every skip, not only the record
        skips = ", ".join(f"{count} {reason}" for reason, count in sorted(data.skipped_files.items()))
        say(f"[{label}] skipped {sum(data.skipped_files.values())} file(s) neither pipeline can read: {skips}")

    # The model before any timing: a missing weights file or an unknown policy fails in seconds.
    model_kwargs = dict(workload.model_kwargs)
    if config.weights is not None:
        model_kwargs["weights"] = config.weights
    record.model_weights = model_kwargs.get("weights")
    strategy = process.build_strategy(config)
    record.replicas = strategy.num_replicas_in_sync
    if batch_size % record.replicas:
        raise UserFacingError(f"batch size {batch_size} does not split over {record.replicas} replicas")
    record.per_replica_batch_size = batch_size // record.replicas
    try:
        with process.precision_policy(config.mixed_precision), strategy.scope():
            model, compiled_by_user = chosen.build(data.num_classes, model_kwargs, record, say, label)
            if on_device:
                model = with_device_augmentation(model, spec, input_size=stored_size, seed=config.seed)
            if not compiled_by_user:
                _compile(model, workload.learning_rate, config)
            record.compile = _checked_compile(model, config, label)
            pipeline.check_feeds(model, data, input_config)  # a batch the model cannot take: one line, no timing
            record.stage_note = pipeline.stage_note(data, input_config) if config.stage_batches else None
            record.absorb(
                measure.measure_pipeline(
                    pipeline, data, input_config, config.pipeline_batches, config.stage_batches, label
                )
            )
            training = measure.train(
                model,
                pipeline.train_data(data, input_config),
                pipeline.eval_data(data, input_config),
                backend,
                epochs=epochs,
                steps=steps,
                batch_size=batch_size,
                warmup_steps=config.warmup_steps,
                steps_per_execution=config.steps_per_execution,
                label=label,
            )
            record.absorb(training)
            _accuracy_fields(record, training, config.target_accuracy or workload.target_accuracy)
            # The ceilings after evaluation: training on one constant batch changes the weights.
            if config.ceiling_steps:
                say(
                    f"[{label}] measuring the model alone: fed and device-resident batch ({config.ceiling_steps} steps)"
                )
                ceilings = measure.measure_ceilings(
                    model,
                    data,
                    input_config,
                    config.ceiling_steps,
                    config.steps_per_execution,
                    compile_like=lambda m, spe: _compile(m, workload.learning_rate, config, spe),
                    probe_spe=config.dispatch_probe_spe,
                )
                record.absorb(ceilings)
                _stall_fields(record)
    finally:
        pipeline.close()  # e.g. tf.data service servers: never outlive the run
    record.peak_host_rss_mb = resources.peak_host_rss_mb()
    record.wall_sec = time.perf_counter() - wall_start
    return record


def _compile(model: object, learning_rate: float, config: RunConfig, steps_per_execution: int | None = None) -> None:
    import keras

    from bench.backends import COMPILE_ARGS

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution or config.steps_per_execution,
        **COMPILE_ARGS[run_config.resolved_compile(config)],
    )


def _checked_compile(model: object, config: RunConfig, label: str) -> str:
    """The compile path Keras really took; a silent fallback (Keras warns only) is said on a line of its own."""
    from bench.backends import effective_compile
    from bench.run.progress import say

    asked, took = run_config.resolved_compile(config), effective_compile(model, config.backend)
    if took != asked:
        say(f"[{label}] warning: asked to compile with {asked}, Keras runs {took} (a layer does not support it)")
    return took


def _stall_fields(record: RunRecord) -> None:
    """Input-bound % against the device ceiling, its transfer and pipeline parts, and every broken invariant."""
    from bench.run.progress import say
    from bench.run.stall import consistency_problems, stall_split

    split = stall_split(record.train_images_per_sec, record.ceiling_images_per_sec, record.fed_ceiling_images_per_sec)
    record.input_bound_pct = split.input_bound_pct
    record.transfer_stall_pct, record.pipeline_stall_pct = split.transfer_pct, split.pipeline_pct
    record.inconsistent = consistency_problems(
        e2e=record.train_images_per_sec,
        e2e_spread_pct=record.train_spread_pct,
        device=record.ceiling_images_per_sec,
        device_spread_pct=record.ceiling_spread_pct,
        fed=record.fed_ceiling_images_per_sec,
        fed_spread_pct=record.fed_ceiling_spread_pct,
        pipeline_only=record.pipeline_images_per_sec,
        is_ceiling_pipeline=record.pipeline_role == "ceiling",
    )
    for problem in record.inconsistent:
        say(f"warning: inconsistent run: {problem}")


def _accuracy_fields(record: RunRecord, training: object, target: float) -> None:
    from bench.run.accuracy import time_to_target

    accuracies = record.epoch_val_accuracy
    record.first_epoch_loss = record.epoch_train_loss[0] if record.epoch_train_loss else None
    if accuracies:
        record.val_accuracy, record.val_loss = accuracies[-1], record.epoch_val_loss[-1]
        record.target_accuracy = target
        record.time_to_target_sec, record.epochs_to_target = time_to_target(accuracies, record.epoch_sec, target)


def new_record(config: RunConfig) -> RunRecord:
    """A record with the config's identity filled in (what a failure record will carry too)."""
    record = RunRecord(
        config_key=run_config.config_key(config),
        workload=config.workload,
        pipeline=config.pipeline,
        pipeline_options=dict(config.pipeline_options),
        batch_size=config.batch_size or 0,
        epochs=config.epochs or 0,
        steps_per_epoch=config.steps_per_epoch or 0,
        augment=config.augment,
        seed=config.seed,
    )
    try:
        record.pipeline_role = get_pipeline_spec(config.pipeline).role
        record.knobs = run_config.knobs_of(config)
        record.compile = run_config.resolved_compile(config)
    except (ValueError, UserFacingError):  # a bad config still gets a failure record
        record.knobs = dict(config.pipeline_options)
    for item in run_config.run_knobs():
        if item.name != "compile" and hasattr(record, item.name):
            setattr(record, item.name, getattr(config, item.name))
    return record


def _environment_or_reason() -> dict:
    """The environment for a failure record; a run that failed before its backend loaded may not get it."""
    try:
        return environment()
    except Exception as err:  # noqa: BLE001 - metadata never hides the run's own error
        return {"unavailable": f"{type(err).__name__}: {err}"[:200]}


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
        record.env = record.env or _environment_or_reason()
        record.status = "failed"
        record.error = f"{type(err).__name__}: {err}".splitlines()[0][:500] if str(err) else type(err).__name__
        record.peak_host_rss_mb = resources.peak_host_rss_mb()
        append_record(path, record)
        err.add_note(f"failure record appended to {path}")  # the CLI's line says so only when it is true
        raise
    append_record(path, record)
    return record
