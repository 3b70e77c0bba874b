"""The three measurements of a run, each returning a result object: the pipeline alone, the model fed by the
pipeline (with held-out accuracy), and the model alone (the ceiling) in the same process.

The runner copies result fields onto the record by name (`RunRecord.absorb`), so a field added here reaches the
record without a line of mapping code -- and a field the record lacks is an error, not a silent loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.backends import Backend
from bench.run import ceilings
from bench.run import memory as resources
from bench.run.accuracy import EpochEvaluator
from bench.run.ceilings import Ceilings
from bench.run.progress import ProgressLine, say
from bench.run.stage_costs import slowest_stage
from bench.run.timing import MIN_WINDOW_SEC, StepTimer, block_spread_pct, summarize_steps, time_pipeline
from imgcls.data.types import DataSet
from imgcls.pipelines import CEILING, InputConfig, Pipeline, build_pipeline, pipelines_with_role


@dataclass(frozen=True)
class PipelineAlone:
    """Input pipeline alone, no model: the first batch apart; per-stage prefix rates when it has stages."""

    pipeline_images_per_sec: float
    pipeline_first_batch_sec: float
    pipeline_batches: int
    pipeline_window_sec: float
    pipeline_window_batches: int
    stage_images_per_sec: dict[str, float] = field(default_factory=dict)
    slowest_stage: str | None = None


def measure_pipeline(
    pipeline: Pipeline, data: DataSet, config: InputConfig, batches: int, stage_batches: int, label: str
) -> PipelineAlone:
    say(f"[{label}] timing the input pipeline alone ({batches} batches, at least {MIN_WINDOW_SEC:g} s)...")
    alone = time_pipeline(pipeline.train_data(data, config), batches)
    stages: dict[str, float] = {}
    prefixes = pipeline.stage_datasets(data, config) if stage_batches else None
    if prefixes:
        say(f"[{label}] timing tf.data stage prefixes ({stage_batches} batches each)...")
        stages = {name: time_pipeline(ds, stage_batches + 1).images_per_sec for name, ds in prefixes.items()}
    return PipelineAlone(
        pipeline_images_per_sec=alone.images_per_sec,
        pipeline_first_batch_sec=alone.first_batch_sec,
        pipeline_batches=alone.batches,
        pipeline_window_sec=alone.window_sec,
        pipeline_window_batches=alone.window_batches,
        stage_images_per_sec=stages,
        slowest_stage=slowest_stage(stages),
    )


@dataclass(frozen=True)
class Training:
    """The model fed by the pipeline: steady state (warm-up excluded), raw timings, accuracy, GPU use."""

    warmup_steps: int
    window_steps: int
    train_images_per_sec: float
    train_spread_pct: float | None  # block-rate spread of the steady window, as for the ceilings
    step_ms_p50: float
    step_ms_p95: float
    step_ms_mean: float
    step_ms_std: float
    first_step_sec: float
    first_epoch_sec: float | None
    compile_sec_est: float  # the first step beyond a steady one: tracing and compilation
    epoch_sec: list[float]
    step_sec: list[float]
    final_train_loss: float | None
    epoch_val_accuracy: list[float]
    epoch_val_loss: list[float]
    epoch_train_loss: list[float]
    gpu_peak_mem_mb: float | None
    gpu_peak_mem_nvml_mb: float | None
    gpu_util_mean_pct: float | None
    gpu_util_peak_pct: float | None
    gpu_note: str | None


def train(
    model: Any,
    train_data: Any,
    eval_data: Any,
    backend: Backend,
    *,
    epochs: int,
    steps: int,
    batch_size: int,
    warmup_steps: int,
    steps_per_execution: int,
    label: str,
) -> Training:
    """`model.fit` with the step timer, the progress line and per-epoch held-out evaluation."""
    timer = StepTimer()
    progress = ProgressLine(label, epochs, steps, batch_size)

    def report_epoch(epoch: int, accuracy: float, loss: float) -> None:
        say(f"[{label}] epoch {epoch + 1}: val accuracy {accuracy:.4f}, val loss {loss:.4f}")

    # The evaluator comes after the timer, so evaluation time stays out of the epoch's training time.
    evaluator = EpochEvaluator(eval_data, on_result=report_epoch)
    backend.reset_gpu_peak()
    say(f"[{label}] training {epochs} epoch(s) x {steps} steps, batch {batch_size}...")
    with resources.NvmlSampler() as nvml:
        model.fit(
            train_data,
            epochs=epochs,
            steps_per_epoch=steps,
            callbacks=[timer, progress, evaluator],
            shuffle=False,  # every pipeline shuffles itself
            verbose=0,
        )
    spe = steps_per_execution
    # Never more warm-up than leaves 2 measured executions; the record says how many steps were left out.
    warmup = max(0, min(warmup_steps, (len(timer.log.step_sec) - 2) * spe))
    steady = summarize_steps(timer.log, batch_size, warmup, steps_per_callback=spe)
    history = evaluator.history
    return Training(
        warmup_steps=steady.warmup_steps,
        window_steps=steady.window_steps,
        train_images_per_sec=steady.images_per_sec,
        train_spread_pct=block_spread_pct(timer.log, steady.warmup_steps // max(1, spe)),
        step_ms_p50=steady.step_ms_p50,
        step_ms_p95=steady.step_ms_p95,
        step_ms_mean=steady.step_ms_mean,
        step_ms_std=steady.step_ms_std,
        first_step_sec=steady.first_step_sec,
        first_epoch_sec=steady.first_epoch_sec,
        compile_sec_est=max(0.0, steady.first_step_sec - steady.step_ms_p50 * spe / 1e3),
        epoch_sec=timer.log.epoch_sec,
        step_sec=timer.log.step_sec,
        final_train_loss=timer.log.last_loss,
        epoch_val_accuracy=history.val_accuracy,
        epoch_val_loss=history.val_loss,
        epoch_train_loss=history.train_loss,
        gpu_peak_mem_mb=backend.gpu_peak_mb(),
        gpu_peak_mem_nvml_mb=nvml.stats.device_mem_peak_mb,
        gpu_util_mean_pct=nvml.stats.util_mean_pct,
        gpu_util_peak_pct=nvml.stats.util_peak_pct,
        gpu_note=nvml.stats.reason,
    )


def measure_ceilings(
    model: Any,
    data: DataSet,
    config: InputConfig,
    steps: int,
    steps_per_execution: int,
    compile_like: Any,
    probe_spe: int = 0,
) -> Ceilings:
    """The device and fed ceilings of `model` (see `bench.run.ceilings`) on the ceiling pipeline's constant batch.

    Raises:
        ValueError: `steps` too few to leave 2 measured executions after the warm-up.
    """
    (ceiling_name,) = pipelines_with_role(CEILING)
    batch = build_pipeline(ceiling_name).constant_batch(data, config)
    return ceilings.measure_ceilings(model, batch, steps, steps_per_execution, compile_like, probe_spe)
