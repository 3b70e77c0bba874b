"""Plots from the report's tables (matplotlib, headless). Each function takes data and returns a figure."""

from __future__ import annotations

import re
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: CI and servers have no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

PIPELINE_ORDER = ["idg", "tfdata-naive", "tfdata", "synthetic"]
COLORS = {"idg": "#c44e52", "tfdata-naive": "#dd8452", "tfdata": "#4c72b0", "synthetic": "#8c8c8c"}


def _main_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Preset rows only (no knob variations), one per workload x pipeline."""
    rows = table[(table["knobs_label"] == "default") & (table["augment"] == "seed")]
    return rows.drop_duplicates(["workload", "pipeline"])


def throughput_figure(table: pd.DataFrame) -> plt.Figure:
    """End-to-end images/s per pipeline for each workload; bars are medians, whiskers the min-max of repeats."""
    rows = _main_rows(table)
    workloads = list(dict.fromkeys(rows["workload"]))
    fig, axes = plt.subplots(1, max(1, len(workloads)), figsize=(max(6.5, 3.6 * len(workloads)), 3.8), squeeze=False)
    for ax, workload in zip(axes[0], workloads, strict=False):
        group = rows[rows["workload"] == workload].set_index("pipeline")
        names = [p for p in PIPELINE_ORDER if p in group.index]
        medians = group.loc[names, "images_per_sec"].to_numpy()
        low = medians - group.loc[names, "images_per_sec_min"].to_numpy()
        high = group.loc[names, "images_per_sec_max"].to_numpy() - medians
        ax.bar(names, medians, yerr=[low, high], capsize=4, color=[COLORS[n] for n in names])
        for x, value in enumerate(medians):
            ax.annotate(
                f"{value:,.0f}",
                (x, value),
                ha="center",
                va="bottom",
                fontsize=8,
                xytext=(0, 2),
                textcoords="offset points",
            )
        ax.set_title(workload)
        ax.set_ylabel("images/s (end to end)")
        ax.tick_params(axis="x", labelrotation=30)
        ax.margins(y=0.15)
    fig.suptitle("Training throughput per input pipeline (synthetic = the model alone)", fontsize=10)
    fig.tight_layout()
    return fig


def input_bound_figure(table: pd.DataFrame) -> plt.Figure:
    """Input-bound % (1 - end-to-end / same-process ceiling) for every pipeline and knob setting."""
    rows = table[table["pipeline"] != "synthetic"].dropna(subset=["input_bound_pct"]).copy()
    rows["label"] = (
        rows["workload"] + "  " + rows["pipeline"] + "  " + rows["knobs_label"].str.replace("default", "", regex=False)
    )
    rows = rows.sort_values(["workload", "input_bound_pct"])
    fig, ax = plt.subplots(figsize=(9, 0.32 * max(4, len(rows)) + 1.2))
    positions = np.arange(len(rows))  # numeric rows: two runs with the same label must not share a bar
    ax.barh(positions, rows["input_bound_pct"], color=[COLORS.get(p, "#4c72b0") for p in rows["pipeline"]])
    sources_per_workload = rows.groupby("workload")["data_source"].nunique()

    def tick(label: str, workload: str, source: str) -> str:
        # The data only tells rows apart when a workload ran on several; then its subset note is what differs.
        if sources_per_workload[workload] < 2:
            return label
        subset = re.search(r"\[[^\]]*\]$", str(source))
        return f"{label} {subset.group(0) if subset else '(' + str(source)[:24] + ')'}"

    ax.set_yticks(
        positions,
        [tick(*row) for row in zip(rows["label"], rows["workload"], rows["data_source"], strict=True)],
    )
    for y, value in zip(positions, rows["input_bound_pct"], strict=True):
        ax.annotate(f"{value:.0f}%", (value, y), va="center", fontsize=8, xytext=(3, 0), textcoords="offset points")
    ax.set_xlabel("input-bound % (time the model waited for input)")
    ax.set_xlim(0, 105)
    ax.set_title("Input-bound % per pipeline and knob", fontsize=10)
    fig.tight_layout()
    return fig


def step_time_figure(records: list[dict[str, Any]]) -> plt.Figure:
    """Steady-state step time distribution (warm-up excluded) per pipeline, one panel per workload."""
    rows = [
        r
        for r in records
        if r.get("status") == "ok" and not r.get("knobs") and r.get("augment", "seed") == "seed" and r.get("step_sec")
    ]
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    fig, axes = plt.subplots(1, max(1, len(workloads)), figsize=(max(6.5, 3.6 * len(workloads)), 3.8), squeeze=False)
    for ax, workload in zip(axes[0], workloads, strict=False):
        data, names = [], []
        for pipeline in PIPELINE_ORDER:
            steps = [
                s * 1e3
                for r in rows
                if r["workload"] == workload and r["pipeline"] == pipeline
                for s in r["step_sec"][(r.get("warmup_steps") or 0) :]
            ]
            if steps:
                data.append(steps)
                names.append(pipeline)
        if data:
            parts = ax.boxplot(data, showfliers=True, patch_artist=True)
            ax.set_xticks(range(1, len(names) + 1), names)
            for patch, name in zip(parts["boxes"], names, strict=True):
                patch.set_facecolor(COLORS[name])
        ax.set_title(workload)
        ax.set_ylabel("step time (ms)")
        ax.tick_params(axis="x", labelrotation=30)
    fig.suptitle("Steady-state step time per pipeline (box: p25-p75, whiskers: 1.5 IQR)", fontsize=10)
    fig.tight_layout()
    return fig


def accuracy_vs_time_figure(records: list[dict[str, Any]]) -> plt.Figure:
    """Validation accuracy after each epoch against cumulative training time, one curve per run."""
    rows = [r for r in records if r.get("status") == "ok" and r.get("epoch_val_accuracy")]
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    fig, axes = plt.subplots(1, max(1, len(workloads)), figsize=(max(6.5, 4 * len(workloads)), 3.8), squeeze=False)
    for ax, workload in zip(axes[0], workloads, strict=False):
        seen: set[str] = set()
        for r in (r for r in rows if r["workload"] == workload):
            unaugmented = r.get("augment", "seed") != "seed"
            label = r["pipeline"] + (
                "" if not r.get("knobs") else " " + ",".join(f"{k}={v}" for k, v in r["knobs"].items())
            )
            label += f" aug={r['augment']}" if unaugmented else ""
            times = np.cumsum(r["epoch_sec"][: len(r["epoch_val_accuracy"])])
            color = COLORS.get(r["pipeline"], "#55a868") if not r.get("knobs") else "#55a868"
            ax.plot(
                times,
                r["epoch_val_accuracy"],
                marker="o",
                color=color,
                linestyle="--" if unaugmented else "-",
                alpha=0.8,
                label=None if label in seen else label,
            )
            seen.add(label)
        reached = [r for r in rows if r["workload"] == workload and r.get("time_to_target_sec") is not None]
        if reached:  # drawn only when some run reached it: a far-off target would flatten the curves
            target = reached[0]["target_accuracy"]
            ax.axhline(target, color="grey", linestyle=":", linewidth=1, label=f"target {target:.0%}")
        ax.set_title(workload)
        ax.set_xlabel("training time (s)")
        ax.set_ylabel("validation accuracy")
        ax.legend(fontsize=7)
    fig.suptitle("Validation accuracy against training wall time (one curve per seed)", fontsize=10)
    fig.tight_layout()
    return fig
