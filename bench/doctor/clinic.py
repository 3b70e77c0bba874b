"""`bench doctor`: measure the run as it is, name its bottleneck, predict each fix, then verify the best ones.

Every measurement runs in a fresh process (as a sweep cell does), so one variant's threads, memory and compiled
graphs never leak into the next:

1. the run as configured, with both ceilings, the dispatch probe, per-stage prefix rates and pipeline-only;
2. the pipeline alone pinned to one core (the per-core rate; the run itself gives the all-core point);
3. the diagnosis and predictions (`bench.doctor.diagnose`, a stated model, no TF), the RAM a decode cache would
   take against free RAM;
4. unless `--quick`: the top verifiable fixes, each alone, and their combination, predicted vs measured;
5. the prescription (flags and the lines for a user's own tf.data code) and a plan past this machine.

Output: the terminal summary, `RESULTS/doctor.md`, and one JSON line in `RESULTS/doctor.jsonl`; the runs' own
records go to `RESULTS/doctor/runs.jsonl`. A fix that crashes is a recorded failure and the doctor goes on.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import RunConfig, check
from bench.doctor.diagnose import DISPATCH_PROBE_SPE, Context, Diagnosis, FixRule, combine, diagnose
from bench.doctor.predict import Facts, Model, cores_to_feed
from bench.records import append_json_line
from bench.run.stall import noise_pct
from bench.sweep.core_scaling import SCALING_FILE, available_cores, point_payload
from bench.sweep.fresh_process import measure_in_fresh_process
from bench.sweep.matrix import run_in_fresh_process
from imgcls.errors import UserFacingError
from imgcls.pipelines import get_pipeline_spec

DOCTOR_FILE = "doctor.jsonl"
DOCTOR_REPORT = "doctor.md"
RUNS_SUBFOLDER = "doctor"
ACCELERATORS = (1, 8, 64)
DOCTOR_STEPS = 40  # training steps measured per variant (one epoch), after the warm-up
DOCTOR_CEILING_STEPS = 36  # 3 alternating rounds of 12 per ceiling
DOCTOR_TIMEOUT_SEC = 600.0
RELIABLE_NOISE_PCT = 25.0  # training steps spreading more than this: the diagnosis is flagged unreliable


def doctor_config(config: RunConfig) -> RunConfig:
    """The user's run with the doctor's measurement settings (where the user left them at their defaults)."""
    defaults = RunConfig()
    spe_probe = DISPATCH_PROBE_SPE if config.steps_per_execution < DISPATCH_PROBE_SPE else 0
    return dataclasses.replace(
        config,
        epochs=config.epochs or 1,
        steps_per_epoch=config.steps_per_epoch or DOCTOR_STEPS,
        ceiling_steps=DOCTOR_CEILING_STEPS if config.ceiling_steps == defaults.ceiling_steps else config.ceiling_steps,
        stage_batches=config.stage_batches or defaults.stage_batches,
        dispatch_probe_spe=spe_probe,
    )


def apply_changes(config: RunConfig, changes: dict[str, Any]) -> RunConfig:
    options = {**config.pipeline_options, **changes.get("pipeline_options", {})}
    others = {k: v for k, v in changes.items() if k != "pipeline_options"}
    return dataclasses.replace(config, pipeline_options=options, **others)


@dataclass
class Verified:
    label: str
    changes: dict[str, Any]
    predicted_e2e: float
    measured_e2e: float | None = None
    error: str | None = None
    record: dict[str, Any] = field(default_factory=dict)


def facts_from(record: dict[str, Any], one_core: float | None, cores: int) -> Facts:
    env = record.get("env") or {}
    return Facts(
        cores=cores,
        accelerator=bool(env.get("gpu_name")),
        e2e=record["train_images_per_sec"],
        device_ceiling=record["ceiling_images_per_sec"],
        fed_ceiling=record["fed_ceiling_images_per_sec"],
        pipeline_only=record["pipeline_images_per_sec"],
        one_core_pipeline=one_core,
        stage_rates=dict(record.get("stage_images_per_sec") or {}),
        options=dict(record.get("pipeline_options") or {}),
        augment_on=record.get("augment_on") or "host",
        steps_per_execution=int(record.get("steps_per_execution") or 1),
        probe_spe=record.get("probe_steps_per_execution"),
        probe_device_ceiling=record.get("probe_ceiling_images_per_sec"),
        fed_input=record.get("fed_ceiling_input") or "",
    )


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _cache_bytes(record: dict[str, Any], config: RunConfig) -> int | None:
    """The decoded training images at the size the pipeline stores them: what `--cache memory` would hold."""
    size = record.get("pipeline_output_size") or record.get("image_size")
    if not size or not record.get("train_examples"):
        return None
    from imgcls.workloads import get_workload

    channels = get_workload(config.workload).channels
    return int(record["train_examples"]) * int(size[0]) * int(size[1]) * channels


def _one_core_rate(config: RunConfig, runs_dir: Path) -> float | None:
    payload = point_payload(
        config.workload, config.pipeline, config.augment_on, dict(config.pipeline_options), 1, 20, config.data,
        config.data_dir,
    )  # fmt: skip
    point = measure_in_fresh_process("bench.sweep.core_scaling", payload, runs_dir / SCALING_FILE)
    return point["images_per_sec"] if point else None


def run_doctor(config: RunConfig, results_dir: Path, *, quick: bool = False, verify: int = 3) -> dict[str, Any]:
    """The whole consultation; returns the doctor record (also appended to `RESULTS/doctor.jsonl`).

    Raises:
        UserFacingError: a bad config (before anything runs), or the run as configured failed.
    """
    check(config)
    if verify < 1:
        raise UserFacingError(f"--verify must be >= 1, got {verify}")
    started = time.perf_counter()
    base = doctor_config(config)
    runs_dir = results_dir / RUNS_SUBFOLDER
    logs = runs_dir / "logs"
    total = 2 if quick else 2 + verify + 1
    _say(f"doctor 1/{total}: measuring {config.workload}/{config.pipeline} as configured (fresh process)...")
    record = run_in_fresh_process(base, runs_dir, logs / "00-as-configured.log", DOCTOR_TIMEOUT_SEC)
    if record.get("status") != "ok":
        raise UserFacingError(f"the run as configured failed: {record.get('error')} [log: {logs}]")
    _say(f"doctor 2/{total}: the pipeline alone on one core (fresh process)...")
    one_core = _one_core_rate(config, runs_dir)
    cores = available_cores()
    facts = facts_from(record, one_core, cores)
    spec = get_pipeline_spec(config.pipeline)
    try:
        import psutil

        free = int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil is a dependency
        free = None
    from bench.backends import get_backend

    ctx = Context(
        knobs=frozenset(k.name for k in spec.knobs),
        multi_step=get_backend(config.backend).multi_step,
        renders_spec=not spec.own_data,
        cache_bytes=_cache_bytes(record, config),
        free_bytes=free,
    )
    noise = noise_pct(
        record.get("train_spread_pct"), record.get("ceiling_spread_pct"), record.get("fed_ceiling_spread_pct")
    )
    diagnosis = diagnose(facts, ctx, noise)
    _say(f"diagnosis: {diagnosis.sentence}")
    for problem in record.get("inconsistent") or []:
        _say(f"warning: the measurements disagree ({problem}): the diagnosis is unreliable; rerun on a quiet machine")
    verified: list[Verified] = []
    if not quick:
        verified = _verify(base, facts, diagnosis, verify, runs_dir, logs, total)
    doc = _doctor_record(config, base, record, facts, ctx, noise, diagnosis, verified, one_core)
    doc["wall_sec"] = time.perf_counter() - started
    doc["quick"] = quick
    append_json_line(results_dir / DOCTOR_FILE, doc)
    from bench.doctor.write import doctor_markdown

    (results_dir / DOCTOR_REPORT).write_text(doctor_markdown(doc))
    return doc


def _verify(
    base: RunConfig, facts: Facts, diagnosis: Diagnosis, verify: int, runs_dir: Path, logs: Path, total: int
) -> list[Verified]:
    chosen: list[FixRule] = [fix.rule for fix in diagnosis.fixes if fix.rule.verifiable][:verify]
    model = Model(facts)
    variants = [(f.rule.name, [f.rule], f.predicted_e2e) for f in diagnosis.fixes if f.rule in chosen]
    if len(chosen) >= 2:
        _, setting = combine(chosen, facts)
        variants.append((" + ".join(r.name for r in chosen), chosen, model.e2e(setting)))
    out = []
    for index, (label, rules, predicted) in enumerate(variants, 3):
        changes, _ = combine(rules, facts)
        _say(f"doctor {index}/{total}: verifying {label} (predicted {predicted:,.0f} img/s)...")
        try:
            config = apply_changes(dataclasses.replace(base, dispatch_probe_spe=0), changes)
        except (ValueError, UserFacingError) as err:
            out.append(Verified(label, changes, predicted, error=f"not applicable: {err}"))
            continue
        record = run_in_fresh_process(config, runs_dir, logs / f"{index:02d}-{label}.log", DOCTOR_TIMEOUT_SEC)
        if record.get("status") == "ok":
            measured = record["train_images_per_sec"]
            _say(f"  measured {measured:,.0f} img/s ({100 * (measured / facts.e2e - 1):+.0f}%)")
            out.append(Verified(label, changes, predicted, measured, record=record))
        else:
            _say(f"  FAILED: {record.get('error')} (recorded; going on)")
            out.append(Verified(label, changes, predicted, error=record.get("error")))
    return out


def _doctor_record(
    config: RunConfig,
    base: RunConfig,
    record: dict[str, Any],
    facts: Facts,
    ctx: Context,
    noise: float,
    diagnosis: Diagnosis,
    verified: list[Verified],
    one_core: float | None,
) -> dict[str, Any]:
    from bench.doctor.write import prescription

    best = max((v for v in verified if v.measured_e2e), key=lambda v: v.measured_e2e, default=None)
    confirmed = best if best and best.measured_e2e > facts.e2e * (1 + noise / 100.0) else None
    per_core = one_core
    plan = {str(n): cores_to_feed(n, facts.device_ceiling, per_core) for n in ACCELERATORS} if per_core else None
    return {
        "workload": config.workload,
        "pipeline": config.pipeline,
        "config": dataclasses.asdict(config),
        "measured_with": {
            k: getattr(base, k) for k in ("epochs", "steps_per_epoch", "ceiling_steps", "dispatch_probe_spe")
        },
        "run_id": record.get("run_id"),
        "env": record.get("env"),
        "data_kind": record.get("data_kind"),
        "data_source": record.get("data_source"),
        "cores": facts.cores,
        "accelerator": facts.accelerator,
        "e2e_images_per_sec": facts.e2e,
        "device_ceiling_images_per_sec": facts.device_ceiling,
        "fed_ceiling_images_per_sec": facts.fed_ceiling,
        "probe_ceiling_images_per_sec": facts.probe_device_ceiling,
        "probe_steps_per_execution": facts.probe_spe,
        "pipeline_images_per_sec": facts.pipeline_only,
        "one_core_pipeline_images_per_sec": one_core,
        "stage_images_per_sec": facts.stage_rates,
        "inconsistent": record.get("inconsistent") or [],
        "noise_pct": noise,
        "reliable": not record.get("inconsistent") and noise <= RELIABLE_NOISE_PCT,
        "cache_bytes": ctx.cache_bytes,
        "free_ram_bytes": ctx.free_bytes,
        "verdict": diagnosis.verdict,
        "diagnosis": diagnosis.sentence,
        "input_bound_pct": diagnosis.input_bound_pct,
        "transfer_pct": diagnosis.transfer_pct,
        "pipeline_pct": diagnosis.pipeline_pct,
        "dispatch_points": diagnosis.dispatch_points,
        "slowest_stage": diagnosis.slowest_stage,
        "slowest_stage_ms_per_image": diagnosis.slowest_stage_ms,
        "causes": diagnosis.causes,
        "fixes": [
            {
                "fix": f.rule.name,
                "addresses": f.rule.addresses,
                "predicted_e2e": f.predicted_e2e,
                "predicted_gain_pct": f.predicted_gain_pct,
                "verifiable": f.rule.verifiable,
                "code": f.rule.code,
            }
            for f in diagnosis.fixes
        ],
        "not_applied": diagnosis.not_applied,
        "verified": [
            {
                "variant": v.label,
                "changes": v.changes,
                "predicted_e2e": v.predicted_e2e,
                "measured_e2e": v.measured_e2e,
                "measured_gain_pct": 100 * (v.measured_e2e / facts.e2e - 1) if v.measured_e2e else None,
                "error": v.error,
                "run_id": v.record.get("run_id"),
            }
            for v in verified
        ],
        "prescription": prescription(config, confirmed, diagnosis) if confirmed else None,
        "per_core_images_per_sec": per_core,
        "cores_to_feed": plan,
    }
