"""`bench doctor`: measure the run as it is, name its bottleneck, predict each fix, then verify the best ones.

Every measurement runs in a fresh process (as a sweep cell does), so one variant's threads, memory and compiled
graphs never leak into the next:

1. the run as configured, with both ceilings, the dispatch probe, per-stage prefix rates and pipeline-only;
2. the pipeline alone pinned to one core (the per-core rate; the run itself gives the all-core point);
3. the probe (`bench.doctor.probe`): how busy the pipeline alone keeps the CPU, and the pipeline-only rate of each
   variant a rule needs measured (vectorized augmentation, the tuned tf.data on the same data) beside the run's;
4. the diagnosis and predictions (`bench.doctor.diagnose`, a stated model, no TF), the RAM a decode cache would
   take against free RAM;
5. unless `--quick`: the top verifiable fixes, each alone, and their combination, predicted vs measured (training
   only: the ceilings and stage timings are the run's, not re-measured per variant);
6. the prescription (flags and the lines for a user's own tf.data code) and a plan past this machine: the cores,
   and the tf.data service workers, that would feed 1, 8 and 64 accelerators.

Output: the terminal summary, `RESULTS/doctor.md` (written whole or not at all), and one JSON line in
`RESULTS/doctor.jsonl`; the runs' own records go to `RESULTS/doctor/runs.jsonl`, the probes' to
`RESULTS/doctor/probes.jsonl`. A fix that crashes is a recorded failure and the doctor goes on.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import RunConfig, check
from bench.doctor.diagnose import Diagnosis, diagnose
from bench.doctor.predict import Facts, Model, cores_to_feed, parallelism, workers_to_feed
from bench.doctor.rules import (
    DISPATCH_PROBE_SPE,
    Context,
    FixRule,
    combinable,
    combine,
    probe_rules,
    switch_target,
)
from bench.paths import check_results_dir, write_text_atomically
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
PROBES_FILE = "probes.jsonl"
ACCELERATORS = (1, 8, 64)
DOCTOR_STEPS = 40  # training steps measured per variant (one epoch), after the warm-up
DOCTOR_CEILING_STEPS = 36  # 3 alternating rounds of 12 per ceiling
DOCTOR_TIMEOUT_SEC = 600.0
RELIABLE_NOISE_PCT = 25.0  # training steps spreading more than this: the diagnosis is flagged unreliable
MEASURE_STEPS = 3  # the run as configured, the one-core point, the probe
# A verification run measures training only: the ceilings, stage prefixes and dispatch probe are the diagnosis's.
VERIFY_SETTINGS: dict[str, int] = {
    "ceiling_steps": 0,
    "stage_batches": 0,
    "dispatch_probe_spe": 0,
    "pipeline_batches": 2,
}


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
    """`config` with a fix's changes: pipeline options merged into the run's -- or, where the fix replaces the
    pipeline, the new pipeline's own (the old one's knobs mean nothing to it) -- and other fields set."""
    kept = {} if "pipeline" in changes else config.pipeline_options
    options = {**kept, **changes.get("pipeline_options", {})}
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


class Progress:
    """`doctor i/N: ...` lines on stderr, one per fresh process; `N` is exact for the phase under way (the
    measurements, then the verification runs, whose count the diagnosis decides)."""

    def __init__(self, total: int, phase: str = "") -> None:
        self.total, self.phase, self.done = total, phase, 0

    def step(self, what: str) -> None:
        self.done += 1
        _say(f"doctor {self.phase}{self.done}/{self.total}: {what}")


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
        batch_size=record.get("batch_size"),
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


def _probe(base: RunConfig, rules: list[FixRule], facts: Facts, ctx: Context, runs_dir: Path) -> dict[str, Any]:
    """The probe's record (`bench.doctor.probe`): the run's pipeline alone and each rule's variant; {} if it failed."""
    from bench.doctor.probe import probe_payload

    variants = {rule.name: apply_changes(base, rule.config(facts, ctx)) for rule in rules}
    payload = probe_payload(base, variants, parallelism(facts.options, facts.cores))
    return measure_in_fresh_process("bench.doctor.probe", payload, runs_dir / PROBES_FILE) or {}


def _free_ram() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil is a dependency
        return None


def run_doctor(config: RunConfig, results_dir: Path, *, quick: bool = False, verify: int = 3) -> dict[str, Any]:
    """The whole consultation; returns the doctor record (also appended to `RESULTS/doctor.jsonl`).

    Raises:
        UserFacingError: a bad config or results folder (before anything runs), or the run as configured failed.
    """
    check(config)
    if verify < 1:
        raise UserFacingError(f"--verify must be >= 1, got {verify}")
    results_dir = check_results_dir(results_dir)
    started = time.perf_counter()
    base = doctor_config(config)
    runs_dir = results_dir / RUNS_SUBFOLDER
    logs = runs_dir / "logs"
    progress = Progress(MEASURE_STEPS)
    progress.step(f"measuring {config.workload}/{config.pipeline} as configured (fresh process)...")
    record = run_in_fresh_process(base, runs_dir, logs / "00-as-configured.log", DOCTOR_TIMEOUT_SEC)
    if record.get("status") != "ok":
        raise UserFacingError(f"the run as configured failed: {record.get('error')} [log: {logs}]")
    progress.step("the pipeline alone on one core (fresh process)...")
    one_core = _one_core_rate(config, runs_dir)
    facts = facts_from(record, one_core, available_cores())
    spec = get_pipeline_spec(config.pipeline)
    from bench.backends import get_backend

    ctx = Context(
        knobs=frozenset(k.name for k in spec.knobs),
        multi_step=get_backend(config.backend).multi_step,
        renders_spec=not spec.own_data,
        cache_bytes=_cache_bytes(record, config),
        free_bytes=_free_ram(),
        switch_to=switch_target(config.pipeline),
    )
    rules = probe_rules(facts, ctx)
    named = "".join(f", beside {rule.name}" for rule in rules)
    progress.step(f"the pipeline alone: how busy it keeps the CPU{named} (fresh process)...")
    probe = _probe(base, rules, facts, ctx, runs_dir)
    measured = probe.get("measured") or {}
    facts = dataclasses.replace(
        facts,
        busy=probe.get("busy"),
        probed={name: m["ratio"] for name, m in measured.items() if m.get("ratio")},
    )
    noise = noise_pct(
        record.get("train_spread_pct"),
        record.get("ceiling_spread_pct"),
        record.get("fed_ceiling_spread_pct"),
        record.get("probe_ceiling_spread_pct"),  # where the run records the dispatch probe's spread
    )
    diagnosis = diagnose(facts, ctx, noise)
    _say(f"diagnosis: {diagnosis.sentence}")
    for problem in record.get("inconsistent") or []:
        _say(f"warning: the measurements disagree ({problem}): the diagnosis is unreliable; rerun on a quiet machine")
    verified = [] if quick else _verify(base, facts, ctx, diagnosis, verify, runs_dir, logs)
    doc = _doctor_record(config, base, record, facts, ctx, noise, diagnosis, verified, probe)
    doc["wall_sec"] = time.perf_counter() - started
    doc["quick"] = quick
    append_json_line(results_dir / DOCTOR_FILE, doc)
    from bench.doctor.write import doctor_markdown

    write_text_atomically(results_dir / DOCTOR_REPORT, doctor_markdown(doc))
    return doc


def verification_variants(diagnosis: Diagnosis, facts: Facts, ctx: Context, verify: int) -> list[tuple]:
    """`(label, rules, predicted e2e)` of each run the verification makes: the `verify` best verifiable fixes alone,
    then those of them that combine, together (when two or more do)."""
    chosen = [fix for fix in diagnosis.fixes if fix.rule.verifiable][:verify]
    variants = [(fix.rule.name, [fix.rule], fix.predicted_e2e) for fix in chosen]
    together = combinable([fix.rule for fix in chosen], facts, ctx)
    if len(together) >= 2:
        _, setting = combine(together, facts, ctx)
        variants.append((" + ".join(rule.name for rule in together), together, Model(facts).e2e(setting)))
    return variants


def _verify(
    base: RunConfig, facts: Facts, ctx: Context, diagnosis: Diagnosis, verify: int, runs_dir: Path, logs: Path
) -> list[Verified]:
    variants = verification_variants(diagnosis, facts, ctx, verify)
    progress = Progress(len(variants), "verify ")
    out = []
    for index, (label, rules, predicted) in enumerate(variants, 1):
        changes, _ = combine(rules, facts, ctx)
        progress.step(f"{label} (predicted {predicted:,.0f} img/s; fresh process)...")
        try:
            config = apply_changes(dataclasses.replace(base, **VERIFY_SETTINGS), changes)
        except (ValueError, UserFacingError) as err:
            out.append(Verified(label, changes, predicted, error=f"not applicable: {err}"))
            continue
        log = logs / f"{index:02d}-{label}.log"
        record = run_in_fresh_process(config, runs_dir, log, DOCTOR_TIMEOUT_SEC)
        if record.get("status") == "ok":
            measured = record["train_images_per_sec"]
            _say(f"  measured {measured:,.0f} img/s ({100 * (measured / facts.e2e - 1):+.0f}%)")
            out.append(Verified(label, changes, predicted, measured, record=record))
        else:
            _say(f"  FAILED: {record.get('error')} (recorded; going on)")
            out.append(Verified(label, changes, predicted, error=record.get("error")))
    return out


def plan(facts: Facts) -> dict[str, Any] | None:
    """The host cores, and the tf.data service workers, that keep 1, 8 and 64 accelerators at the device ceiling,
    at the measured per-core rate (a worker assumed to have this machine's cores); None without a one-core point."""
    per_core = facts.one_core_pipeline
    if not per_core:
        return None
    return {
        "per_core_images_per_sec": per_core,
        "cores_to_feed": {str(n): cores_to_feed(n, facts.device_ceiling, per_core) for n in ACCELERATORS},
        "service_worker_cores": facts.cores,
        "per_worker_images_per_sec": per_core * facts.cores,
        "service_workers_to_feed": {
            str(n): workers_to_feed(n, facts.device_ceiling, per_core, facts.cores) for n in ACCELERATORS
        },
    }


def _doctor_record(
    config: RunConfig,
    base: RunConfig,
    record: dict[str, Any],
    facts: Facts,
    ctx: Context,
    noise: float,
    diagnosis: Diagnosis,
    verified: list[Verified],
    probe: dict[str, Any],
) -> dict[str, Any]:
    from bench.doctor.write import prescription

    best = max((v for v in verified if v.measured_e2e), key=lambda v: v.measured_e2e, default=None)
    confirmed = best if best and best.measured_e2e > facts.e2e * (1 + noise / 100.0) else None
    planned = plan(facts) or {}
    return {
        "workload": config.workload,
        "pipeline": config.pipeline,
        "config": dataclasses.asdict(config),
        "measured_with": {
            k: getattr(base, k) for k in ("epochs", "steps_per_epoch", "ceiling_steps", "dispatch_probe_spe")
        },
        "verified_with": VERIFY_SETTINGS,
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
        # The dispatch probe's steps and spread, as the run records them (None where it does not yet).
        "probe_ceiling_steps": record.get("probe_ceiling_steps"),
        "probe_ceiling_spread_pct": record.get("probe_ceiling_spread_pct"),
        "pipeline_images_per_sec": facts.pipeline_only,
        "one_core_pipeline_images_per_sec": facts.one_core_pipeline,
        "stage_images_per_sec": facts.stage_rates,
        "pipeline_busy": facts.busy,
        "pipeline_cores_used": probe.get("cores_used"),  # recorded, not modelled: intra-op threads blur it
        "probe_pipeline_images_per_sec": probe.get("images_per_sec"),
        "probed": probe.get("measured") or {},
        "probe_error": None if probe else "the probe failed (its record is in doctor/probes.jsonl)",
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
                "unverified": f.rule.unverified,
                "detail": f.detail,
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
                "measured_spread_pct": v.record.get("train_spread_pct"),
                "error": v.error,
                "run_id": v.record.get("run_id"),
            }
            for v in verified
        ],
        "prescription": prescription(config, confirmed, diagnosis) if confirmed else None,
        "per_core_images_per_sec": planned.get("per_core_images_per_sec"),
        "cores_to_feed": planned.get("cores_to_feed"),
        "service_worker_cores": planned.get("service_worker_cores"),
        "per_worker_images_per_sec": planned.get("per_worker_images_per_sec"),
        "service_workers_to_feed": planned.get("service_workers_to_feed"),
    }
