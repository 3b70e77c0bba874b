"""The comparative table: one row per configuration, compared with its baseline and ceiling by role.

One row per (workload, pipeline, knobs, augmentation, batch size, data); repeats are summarised by their median
and the min-max spread of throughput. Each row is compared with the `baseline` row and the `ceiling` row (roles,
not names) that share its workload, augmentation, batch size, data (kind and exact copy) and every knob that
changes the training step (backend, compile path, precision, ...): a training knob never passes for a pipeline
gain, and a ceiling measured on other data never becomes a denominator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.knobs import knobs_label
from bench.report.records_frame import DATA_KEYS, records_frame
from bench.run.stall import UNRELIABLE_SPREAD_PCT, noise_pct
from imgcls.pipelines import BASELINE, CEILING

ROW_KEYS = [
    "workload", "pipeline", "role", "knobs_label", "model_label", "step_label", "input_label", "pipeline_label",
    "backend",
    *DATA_KEYS[1:],
]  # fmt: skip
MATCH_KEYS = [*DATA_KEYS, "model_label"]  # what a row shares with its baseline and its ceiling
ABOVE_CEILING = 1.05  # a fraction of the ceiling row above this is flagged: e2e beat a separate ceiling run


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: medians over repeats, speedup over the baseline, fraction of the ceiling."""
    grouped = frame.groupby(ROW_KEYS, dropna=False, sort=False)
    table = grouped.agg(
        runs=("run_id", "count"),
        images_per_sec=("train_images_per_sec", "median"),
        images_per_sec_min=("train_images_per_sec", "min"),
        images_per_sec_max=("train_images_per_sec", "max"),
        step_ms_p50=("step_ms_p50", "median"),
        step_ms_p95=("step_ms_p95", "median"),
        pipeline_images_per_sec=("pipeline_images_per_sec", "median"),
        val_accuracy=("val_accuracy", "median"),
        peak_host_rss_mb=("peak_host_rss_mb", "max"),
        gpu_peak_mem_mb=("gpu_peak_mem_mb", "max"),
        gpu_peak_mem_nvml_mb=("gpu_peak_mem_nvml_mb", "max"),
        gpu_util_mean_pct=("gpu_util_mean_pct", "median"),
        window_steps=("window_steps", "median"),
        input_bound_pct=("input_bound_pct", "median"),
        ceiling_spread_pct=("ceiling_spread_pct", "median"),
        ceiling_kind=("ceiling_kind", "first"),
        fed_ceiling_images_per_sec=("fed_ceiling_images_per_sec", "median"),
        transfer_stall_pct=("transfer_stall_pct", "median"),
        pipeline_stall_pct=("pipeline_stall_pct", "median"),
        checks=("checks", lambda v: "; ".join(dict.fromkeys(p for problems in v for p in problems))),
        slowest_stage=("slowest_stage", lambda v: v.mode().iloc[0] if v.notna().any() else None),
        compile_sec_est=("compile_sec_est", "median"),
        model_weights=("model_weights", "first"),
    ).reset_index()

    def reference(role: str) -> pd.Series:
        rows = table[(table["role"] == role) & (table["pipeline_label"] == "default")]
        return rows.groupby(MATCH_KEYS, dropna=False)["images_per_sec"].median()

    baseline, ceiling = reference(BASELINE), reference(CEILING)

    def lookup(series: pd.Series, row: pd.Series) -> float:
        key = tuple(row[k] for k in MATCH_KEYS)
        return float(series.get(key, np.nan)) if len(series) else np.nan

    table["speedup_vs_baseline"] = table.apply(lambda r: r["images_per_sec"] / lookup(baseline, r), axis=1)
    table["fraction_of_ceiling"] = table.apply(lambda r: r["images_per_sec"] / lookup(ceiling, r), axis=1)
    return table


def _num(value: Any, fmt: str) -> str:
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, fmt)


def input_bound_text(pct: float | None, spread_pct: float | None) -> str:
    """Input-bound % as a claim the measurement supports, never clipped or hidden.

    Below 0 the run trained faster than its ceiling: the number is printed and flagged. A ceiling whose own block
    rates spread by more than `UNRELIABLE_SPREAD_PCT` supports no claim. Between 0 and the noise band (the noise
    floor or the ceiling's spread) it is `< noise (N%)`.
    """
    if pct is None or (isinstance(pct, float) and np.isnan(pct)):
        return "-"
    if pct < 0:
        return f"{pct:.0f} (e2e above ceiling)"
    noise = noise_pct(None if spread_pct is None or np.isnan(spread_pct) else float(spread_pct))
    if noise > UNRELIABLE_SPREAD_PCT:
        return f"{pct:.0f}? (ceiling spread {noise:.0f}%: unreliable)"
    return f"< noise ({noise:.0f}%)" if pct < noise else f"{pct:.0f}"


def stall_text(transfer_pct: float | None, pipeline_pct: float | None) -> str:
    """The two parts of input-bound % (they add up to it): moving the batch, and waiting for the pipeline."""
    if transfer_pct is None or pipeline_pct is None or np.isnan(transfer_pct) or np.isnan(pipeline_pct):
        return "-"
    return f"{transfer_pct:.0f} + {pipeline_pct:.0f}"


def ceiling_fraction_text(fraction: float | None) -> str:
    if fraction is None or np.isnan(fraction):
        return "-"
    return f"{fraction:.0%} (above the ceiling run)" if fraction > ABOVE_CEILING else f"{fraction:.0%}"


DISPLAY_COLUMNS = {
    "workload": "workload",
    "pipeline": "pipeline",
    "knobs_label": "knobs",
    "data": "data",
    "batch_size": "batch",
    "images_per_sec": "img/s (e2e)",
    "spread": "min-max",
    "step_ms_p50": "step p50 ms",
    "step_ms_p95": "step p95 ms",
    "pipeline_images_per_sec": "pipeline-only img/s",
    "speedup_vs_baseline": "x baseline",
    "fraction_of_ceiling": "of ceiling",
    "input_bound": "input-bound %",
    "stall": "transfer + pipeline %",
    "ceiling": "ceiling",
    "slowest_stage": "slowest stage",
    "val_accuracy": "val acc",
    "gpu_peak_mem_mb": "GPU peak MB",
    "gpu_util_mean_pct": "GPU util %",
    "peak_host_rss_mb": "peak RSS MB",
    "runs": "runs",
    "checks": "checks",
}
GPU_COLUMNS = ("gpu_peak_mem_mb", "gpu_util_mean_pct")


def display_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Formatted for reading: rounded numbers, '-' for what does not apply; GPU columns only when measured."""
    out = pd.DataFrame(index=table.index)  # columns from lists and from Series line up on the table's own rows
    # A model trained from random weights (VGG16 here: no weights hub is reachable) says so in its own row.
    out["workload"] = [
        f"{w} (random weights)" if weights == "none" else w
        for w, weights in zip(table["workload"], table["model_weights"], strict=True)
    ]
    out["pipeline"] = table["pipeline"]
    out["knobs_label"] = table["knobs_label"] + table["augment"].map(lambda a: "" if a == "seed" else f" aug={a}")
    out["data"] = table["data_kind"] + ": " + table["data_source"].astype(str)
    out["batch_size"] = table["batch_size"]
    out["images_per_sec"] = table["images_per_sec"].map(lambda v: _num(v, ",.0f"))
    out["spread"] = [
        "-" if r == 1 else f"{lo:,.0f}-{hi:,.0f}"
        for r, lo, hi in zip(table["runs"], table["images_per_sec_min"], table["images_per_sec_max"], strict=True)
    ]
    out["step_ms_p50"] = table["step_ms_p50"].map(lambda v: _num(v, ".1f"))
    out["step_ms_p95"] = table["step_ms_p95"].map(lambda v: _num(v, ".1f"))
    out["pipeline_images_per_sec"] = table["pipeline_images_per_sec"].map(lambda v: _num(v, ",.0f"))
    out["speedup_vs_baseline"] = table["speedup_vs_baseline"].map(lambda v: _num(v, ".2f"))
    out["fraction_of_ceiling"] = table["fraction_of_ceiling"].map(ceiling_fraction_text)
    out["input_bound"] = [
        input_bound_text(p, s) for p, s in zip(table["input_bound_pct"], table["ceiling_spread_pct"], strict=True)
    ]
    out["stall"] = [
        stall_text(a, b) for a, b in zip(table["transfer_stall_pct"], table["pipeline_stall_pct"], strict=True)
    ]
    out["ceiling"] = table["ceiling_kind"].map(lambda k: k if isinstance(k, str) else "fed")
    out["slowest_stage"] = table["slowest_stage"].fillna("-")
    out["val_accuracy"] = table["val_accuracy"].map(lambda v: _num(v, ".4f"))
    for column in GPU_COLUMNS:
        if table[column].notna().any():
            out[column] = table[column].map(lambda v: _num(v, ",.0f"))
    out["peak_host_rss_mb"] = table["peak_host_rss_mb"].map(lambda v: _num(v, ",.0f"))
    out["runs"] = table["runs"]
    out["checks"] = table["checks"].map(lambda text: f"INCONSISTENT: {text}" if text else "ok")
    return out.rename(columns=DISPLAY_COLUMNS)


def table_text(records: list[dict[str, Any]]) -> str:
    """The comparative table of `records` as github-flavoured markdown (empty string when none succeeded)."""
    frame = records_frame(records)
    if frame.empty:
        return ""
    return tabulate(display_frame(summarize(frame)), headers="keys", tablefmt="github", showindex=False)


def failures_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    failed = [r for r in records if r.get("status") != "ok"]
    return pd.DataFrame(
        [
            {
                "started_at": r.get("started_at"),
                "workload": r.get("workload"),
                "pipeline": r.get("pipeline"),
                "knobs": knobs_label(r.get("knobs")),
                "error": r.get("error"),
            }
            for r in failed
        ]
    )
