"""The doctor's words: the prescription (flags and code lines), the terminal summary and `doctor.md`.

Text only, from the doctor record (a dict, as `doctor.jsonl` holds it), so a report can be rewritten from the record.
"""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from bench.config import RunConfig
from bench.knobs import flag_of
from imgcls.options import format_value
from imgcls.pipelines import get_pipeline_spec


def _flags(changes: dict[str, Any]) -> list[str]:
    values = {**changes.get("pipeline_options", {}), **{k: v for k, v in changes.items() if k != "pipeline_options"}}
    return [f"{flag_of(name)} {format_value(value)}" for name, value in values.items()]


def prescription(config: RunConfig, best: Any, diagnosis: Any) -> dict[str, Any]:
    """The winning variant as flags for `bench run` and as lines for a user's own code: the user's own command (every
    knob they set, the batch size) with the fix's flags in place of theirs -- on another pipeline, without the old
    one's knobs."""
    from bench.config import knobs_of
    from bench.doctor.rules import RULES

    names = best.label.split(" + ")
    codes = [rule.code for rule in RULES if rule.name in names]
    pipeline = best.changes.get("pipeline", config.pipeline)
    theirs = {**knobs_of(config)}
    if pipeline != config.pipeline:
        for knob in get_pipeline_spec(config.pipeline).knobs:
            theirs.pop(knob.name, None)
    for key, value in best.changes.items():
        for name in value if key == "pipeline_options" else [key]:
            theirs.pop(name, None)
    changes = {k: v for k, v in best.changes.items() if k != "pipeline"}
    flags = _flags(changes)
    batch = [] if "batch_size" in changes or not config.batch_size else [f"--batch-size {config.batch_size}"]
    kept = _flags({"pipeline_options": theirs}) + batch
    command = " ".join(
        ["python -m bench run", f"--workload {config.workload}", f"--pipeline {pipeline}", *kept, *flags]
    )
    if pipeline != config.pipeline:
        flags = [f"--pipeline {pipeline}", *flags]
    return {"variant": best.label, "flags": flags, "command": command.strip(), "code": codes}


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0f}%"


def cache_text(doc: dict[str, Any]) -> str:
    """What a decode cache would hold against the RAM free now."""
    if not doc.get("cache_bytes") or not doc.get("free_ram_bytes"):
        return "decode cache: size unknown"
    need, free = doc["cache_bytes"] / 2**20, doc["free_ram_bytes"] / 2**20
    from bench.doctor.rules import CACHE_RAM_FRACTION

    fits = doc["cache_bytes"] <= CACHE_RAM_FRACTION * doc["free_ram_bytes"]
    verdict = "fits" if fits else f"more than {CACHE_RAM_FRACTION:.0%} of it: not proposed"
    return f"decode cache: {need:,.0f} MB of decoded images against {free:,.0f} MB free ({verdict})"


def _fix_note(fix: dict[str, Any]) -> str:
    """`: 6 cores serving ... (planned: predicted, not verifiable on this machine)`: a fix's numbers and why the
    doctor cannot verify it."""
    detail = f": {fix['detail']}" if fix.get("detail") else ""
    reason = fix.get("unverified") or (None if fix.get("verifiable", True) else "not verifiable")
    return detail + (f" ({reason})" if reason else "")


def summary_text(doc: dict[str, Any]) -> str:
    lines = [
        f"doctor: {doc['workload']}/{doc['pipeline']} on {doc['cores']} cores"
        + (" with an accelerator" if doc["accelerator"] else " (CPU only: the model runs on the same cores)"),
        f"  e2e {_rate(doc['e2e_images_per_sec'])} img/s; device ceiling {_rate(doc['device_ceiling_images_per_sec'])},"
        f" fed ceiling {_rate(doc['fed_ceiling_images_per_sec'])},"
        f" pipeline-only {_rate(doc['pipeline_images_per_sec'])}"
        f" (1 core: {_rate(doc['one_core_pipeline_images_per_sec'])}); noise {doc['noise_pct']:.0f}%",
        f"  diagnosis: {doc['diagnosis']}" + ("" if doc.get("reliable", True) else " (UNRELIABLE: see the warnings)"),
        f"  {cache_text(doc)}",
    ]
    if doc["noise_pct"] > 25:
        lines.append(
            f"  warning: the training steps spread {doc['noise_pct']:.0f}% (a busy machine?): "
            "measured gains below that are not claimed; rerun on a quiet machine"
        )
    for problem in doc.get("inconsistent") or []:
        lines.append(f"  warning: inconsistent measurement: {problem}")
    if doc["fixes"]:
        lines.append("  predicted fixes:")
        for fix in doc["fixes"]:
            lines.append(
                f"    {fix['fix']:28s} {_rate(fix['predicted_e2e'])} img/s ({_pct(fix['predicted_gain_pct'])})"
                f"{_fix_note(fix)}"
            )
    else:
        lines.append("  no fix predicts a gain beyond the noise: nothing to prescribe")
    if doc["verified"]:
        lines.append("  verified (each in a fresh process): predicted -> measured")
        for v in doc["verified"]:
            measured = (
                f"{_rate(v['measured_e2e'])} ({_pct(v['measured_gain_pct'])})" if v["measured_e2e"] else v["error"]
            )
            lines.append(f"    {v['variant']:28s} {_rate(v['predicted_e2e'])} -> {measured}")
    rx = doc.get("prescription")
    if rx:
        lines.append(f"  prescription: {rx['command']}")
        lines += [f"    in your tf.data / Keras code: {code}" for code in rx["code"]]
    elif doc["verified"]:
        lines.append("  prescription: none -- no verified fix measured a gain beyond the noise")
    if doc.get("cores_to_feed"):
        workers = doc.get("service_workers_to_feed") or {}
        plan = ", ".join(
            f"{n} accelerator(s): {c} cores or {workers.get(n, '-')} service workers"
            for n, c in doc["cores_to_feed"].items()
        )
        lines.append(
            f"  plan at the device ceiling, {_rate(doc['per_core_images_per_sec'])} img/s per core (as run; a service "
            f"worker assumed to have this machine's {doc.get('service_worker_cores')} cores): {plan}"
        )
    lines.append(f"  ({doc['wall_sec']:.0f} s)")
    return "\n".join(lines)


def _sentence_case(text: str) -> str:
    """The first letter up, the rest as written (`str.capitalize` would turn MB into mb)."""
    return text[:1].upper() + text[1:]


def _probe_label(doc: dict[str, Any]) -> str:
    steps, spread = doc.get("probe_ceiling_steps"), doc.get("probe_ceiling_spread_pct")
    timed = f", {steps} steps" if steps else ""
    timed += f", spread {spread:.0f}%" if spread is not None else ""
    return f"device ceiling at {doc['probe_steps_per_execution']} steps per execution (dispatch probe{timed})"


def _measurements(doc: dict[str, Any]) -> list[tuple[str, float | None]]:
    measured = [
        ("e2e (training, pipeline feeding the model)", doc["e2e_images_per_sec"]),
        ("device ceiling (batch resident on the accelerator)", doc["device_ceiling_images_per_sec"]),
        ("fed ceiling (constant host batch through the adapter)", doc["fed_ceiling_images_per_sec"]),
        (_probe_label(doc), doc["probe_ceiling_images_per_sec"]),
        ("pipeline-only, all cores", doc["pipeline_images_per_sec"]),
        ("pipeline-only, one core", doc["one_core_pipeline_images_per_sec"]),
    ]
    measured += [(f"stage prefix `{name}`", rate) for name, rate in doc["stage_images_per_sec"].items()]
    measured += [
        (
            f"pipeline-only with `{name}` (probe: x{m['ratio']:.2f} the run's, spread {m['spread_pct']:.0f}%)",
            m["images_per_sec"],
        )
        for name, m in (doc.get("probed") or {}).items()
    ]
    return measured


def _busy_text(doc: dict[str, Any]) -> str:
    busy = doc.get("pipeline_busy")
    if busy is None:
        return doc.get("probe_error") or "How busy the pipeline keeps the CPU: not measured."
    return (
        f"The pipeline alone ran or waited for a CPU {100 * busy:.0f}% of its threads' time (the rest they slept or "
        "waited on I/O)."
    )


def _plan_section(doc: dict[str, Any]) -> list[str]:
    if not doc.get("cores_to_feed"):
        return []
    workers = doc.get("service_workers_to_feed") or {}
    rows = [(n, c, workers.get(n, "-")) for n, c in doc["cores_to_feed"].items()]
    return [
        "",
        "## Plan past this machine",
        "",
        f"To keep N accelerators at the device ceiling ({_rate(doc['device_ceiling_images_per_sec'])} img/s each), at "
        f"the measured per-core pipeline rate of {_rate(doc['per_core_images_per_sec'])} img/s (the pipeline as run, "
        "pinned to one core, assumed to scale linearly): host cores, or tf.data service workers, each assumed to have "
        f"this machine's {doc.get('service_worker_cores')} cores ({_rate(doc.get('per_worker_images_per_sec'))} img/s "
        "per worker):",
        "",
        tabulate(
            rows,
            headers=["accelerators", "cores", f"service workers ({doc.get('service_worker_cores')} cores each)"],
            tablefmt="github",
        ),
    ]


def doctor_markdown(doc: dict[str, Any]) -> str:
    parts = [
        f"# bench doctor: {doc['workload']} / {doc['pipeline']}",
        "",
        f"**Diagnosis.** {doc['diagnosis']}."
        + ("" if doc.get("reliable", True) else " **Unreliable**: the measurements disagree or spread widely."),
        "",
        f"Input-bound {doc['input_bound_pct']:.0f}% = transfer {doc['transfer_pct'] or 0:.0f} + pipeline "
        f"{doc['pipeline_pct'] or 0:.0f} points; per-step dispatch {doc['dispatch_points']:.0f} points; "
        f"noise {doc['noise_pct']:.0f}%. Data: {doc['data_kind']}: {doc['data_source']}. Measured with "
        f"{doc['measured_with']} on {doc['cores']} cores"
        + (", with an accelerator." if doc["accelerator"] else " (CPU only)."),
        "",
        *[f"Inconsistent: {problem}." for problem in doc.get("inconsistent") or []],
        f"{_sentence_case(cache_text(doc))}. {_busy_text(doc)}",
        "",
        "## Measurements (img/s)",
        "",
        tabulate(
            [(name, _rate(rate)) for name, rate in _measurements(doc)], headers=["what", "img/s"], tablefmt="github"
        ),
        "",
        "## Candidate fixes (predicted by the model in `bench/doctor/predict.py`)",
        "",
    ]
    if doc["fixes"]:
        rows = [
            (
                f["fix"] + _fix_note(f),
                f["addresses"],
                _rate(f["predicted_e2e"]),
                _pct(f["predicted_gain_pct"]),
                f["code"],
            )
            for f in doc["fixes"]
        ]
        parts.append(
            tabulate(rows, headers=["fix", "addresses", "predicted e2e", "gain", "in your code"], tablefmt="github")
        )
    else:
        parts.append("None predicts a gain beyond the noise.")
    if doc["not_applied"]:
        parts += ["", "Applicable but not listed: " + ", ".join(doc["not_applied"]) + "."]
    if doc["verified"]:
        rows = [
            (
                v["variant"],
                _rate(v["predicted_e2e"]),
                _rate(v["measured_e2e"]),
                _pct(v["measured_gain_pct"]),
                v["error"] or "",
            )
            for v in doc["verified"]
        ]
        parts += [
            "",
            f"## Verified (each in a fresh process, training only: {doc.get('verified_with')})",
            "",
            tabulate(rows, headers=["variant", "predicted", "measured", "measured gain", "error"], tablefmt="github"),
        ]
    rx = doc.get("prescription")
    parts += ["", "## Prescription", ""]
    if rx:
        parts += [f"`{rx['command']}`", "", "In your own code:", "", "```python", *rx["code"], "```"]
    else:
        parts.append(
            "Not verified (`--quick`)." if doc.get("quick") else "None: no fix measured a gain beyond the noise."
        )
    parts += _plan_section(doc)
    return "\n".join(parts) + "\n"
