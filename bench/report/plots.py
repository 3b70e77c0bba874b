"""Plots from the report's tables (matplotlib, headless). Each function takes data and returns a figure.

Pipelines are ordered and coloured by their role (baseline, candidates in registry order, ceiling), so a newly
registered pipeline appears without editing this module. Panels are one per workload, data and backend: real and
generated data, or two backends, never share a bar or a box.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: CI and servers have no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.report.comparison import input_bound_text  # noqa: E402
from imgcls.pipelines import BASELINE, CANDIDATE, CEILING, get_pipeline_spec, list_pipelines  # noqa: E402

ROLE_COLORS = {BASELINE: "#c44e52", CEILING: "#8c8c8c"}
CANDIDATE_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#8172b3", "#937860")
PANEL_KEYS = ["workload", "data_kind", "data_source", "backend"]


def pipeline_order() -> list[str]:
    """Every registered pipeline: baseline first, then the candidates, then the ceiling."""
    rank = {BASELINE: 0, CANDIDATE: 1, CEILING: 2}
    return sorted(list_pipelines(), key=lambda name: rank[get_pipeline_spec(name).role])


def color_of(pipeline: str) -> str:
    if pipeline not in list_pipelines():
        return "#55a868"
    role = get_pipeline_spec(pipeline).role
    if role in ROLE_COLORS:
        return ROLE_COLORS[role]
    candidates = [n for n in pipeline_order() if get_pipeline_spec(n).role == CANDIDATE]
    return CANDIDATE_COLORS[candidates.index(pipeline) % len(CANDIDATE_COLORS)]


def _panels(frame: pd.DataFrame) -> list[tuple[tuple, str]]:
    """(panel key, title) per workload x data x backend; the title names the data and backend only when the
    workload has several."""
    keys = list(dict.fromkeys(map(tuple, frame[PANEL_KEYS].astype(str).to_numpy())))
    per_workload = pd.Series([k[0] for k in keys]).value_counts()
    titles = []
    for key in keys:
        workload, kind, source, backend = key
        extra = f"\n{kind}: {source[:38]}, {backend}" if per_workload[workload] > 1 else ""
        titles.append((key, workload + extra))
    return titles


def _in_panel(frame: pd.DataFrame, key: tuple) -> pd.DataFrame:
    mask = np.logical_and.reduce([frame[k].astype(str) == v for k, v in zip(PANEL_KEYS, key, strict=True)])
    return frame[mask]


def _grid(count: int, width: float = 3.6, height: float = 3.8) -> tuple[plt.Figure, np.ndarray]:
    fig, axes = plt.subplots(1, max(1, count), figsize=(max(6.5, width * count), height), squeeze=False)
    return fig, axes[0]


def throughput_figure(table: pd.DataFrame) -> plt.Figure:
    """End-to-end images/s of each pipeline's preset; bars are medians, whiskers the min-max of repeats."""
    rows = table[
        (table["input_label"] == "default") & (table["step_label"] == "default") & (table["augment"] == "seed")
    ]
    panels = _panels(rows)
    fig, axes = _grid(len(panels))
    for ax, (key, title) in zip(axes, panels, strict=False):
        group = _in_panel(rows, key).drop_duplicates("pipeline").set_index("pipeline")
        names = [p for p in pipeline_order() if p in group.index]
        medians = group.loc[names, "images_per_sec"].to_numpy()
        low = medians - group.loc[names, "images_per_sec_min"].to_numpy()
        high = group.loc[names, "images_per_sec_max"].to_numpy() - medians
        ax.bar(names, medians, yerr=[low, high], capsize=4, color=[color_of(n) for n in names])
        for x, value in enumerate(medians):
            ax.annotate(f"{value:,.0f}", (x, value), ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                        textcoords="offset points")  # fmt: skip
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("images/s (end to end)")
        ax.tick_params(axis="x", labelrotation=30)
        ax.margins(y=0.15)
    fig.suptitle("Training throughput per input pipeline (the ceiling = the model alone)", fontsize=10)
    fig.tight_layout()
    return fig


def input_bound_figure(table: pd.DataFrame) -> plt.Figure:
    """Input-bound % (1 - end-to-end / same-process ceiling) for every row but the ceiling's, labelled by its data
    when a workload ran on several; values below the ceiling's noise are drawn at 0 and say `< noise`."""
    rows = table[table["role"] != CEILING].dropna(subset=["input_bound_pct"]).copy()
    panels = dict(_panels(rows))
    rows["label"] = [
        f"{title.replace(chr(10), ' | ')}  {pipeline}  {'' if knobs == 'default' else knobs}"
        for title, pipeline, knobs in zip(
            (panels[tuple(k)] for k in rows[PANEL_KEYS].astype(str).to_numpy()),
            rows["pipeline"],
            rows["knobs_label"],
            strict=True,
        )
    ]
    rows = rows.sort_values(["workload", "input_bound_pct"])
    fig, ax = plt.subplots(figsize=(10, 0.34 * max(4, len(rows)) + 1.2))
    positions = np.arange(len(rows))  # numeric rows: two runs with the same label must not share a bar
    ax.barh(positions, rows["input_bound_pct"].clip(lower=0), color=[color_of(p) for p in rows["pipeline"]])
    ax.set_yticks(positions, rows["label"], fontsize=7)
    for y, (value, spread) in enumerate(zip(rows["input_bound_pct"], rows["ceiling_spread_pct"], strict=True)):
        ax.annotate(input_bound_text(value, spread), (max(value, 0), y), va="center", fontsize=7, xytext=(3, 0),
                    textcoords="offset points")  # fmt: skip
    ax.set_xlabel("input-bound % (time the model waited for input)")
    ax.set_xlim(0, 115)
    ax.set_title("Input-bound % per pipeline and knob", fontsize=10)
    fig.tight_layout()
    return fig


def step_time_figure(records: list[dict[str, Any]]) -> plt.Figure:
    """Steady-state step time distribution (warm-up excluded) per pipeline preset, one panel per workload x data x
    backend."""
    rows = [
        r
        for r in records
        if r.get("status") == "ok"
        and not {k for k in (r.get("knobs") or {}) if k != "backend"}
        and r.get("augment", "seed") == "seed"
        and r.get("step_sec")
    ]
    frame = pd.DataFrame(
        [{**{k: str(r.get(k) or "tensorflow") for k in PANEL_KEYS}, "record": i} for i, r in enumerate(rows)]
    )
    panels = _panels(frame) if not frame.empty else []
    fig, axes = _grid(len(panels))
    for ax, (key, title) in zip(axes, panels, strict=False):
        members = [rows[i] for i in _in_panel(frame, key)["record"]]
        data, names = [], []
        for pipeline in pipeline_order():
            steps = [
                s * 1e3
                for r in members
                if r["pipeline"] == pipeline
                for s in r["step_sec"][(r.get("warmup_steps") or 0) // max(1, r.get("steps_per_execution") or 1) :]
            ]
            if steps:
                data.append(steps)
                names.append(pipeline)
        if data:
            parts = ax.boxplot(data, showfliers=True, patch_artist=True)
            ax.set_xticks(range(1, len(names) + 1), names)
            for patch, name in zip(parts["boxes"], names, strict=True):
                patch.set_facecolor(color_of(name))
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("step time (ms)")
        ax.set_yscale("log")
        ax.tick_params(axis="x", labelrotation=30)
    fig.suptitle("Steady-state step time per pipeline (box: p25-p75, whiskers: 1.5 IQR)", fontsize=10)
    fig.tight_layout()
    return fig


def scaling_figure(table: pd.DataFrame) -> plt.Figure:
    """Pipeline-only images/s against cores (log-log), with the linear extrapolation of each row's first point.
    Pipelines at their defaults only: `--vary` rows are a table's job."""
    if "knobs" in table:
        table = table[table["knobs"] == ""]
    groups = list(dict.fromkeys(zip(table["workload"], table["data"], strict=True)))
    fig, axes = _grid(len(groups), width=5.0, height=4.2)
    for ax, (workload, data) in zip(axes, groups, strict=False):
        panel = table[(table["workload"] == workload) & (table["data"] == data)]
        for pipeline, rows in panel.groupby("pipeline", sort=False):
            base = pipeline.split("@")[0]
            color = "#333333" if base not in list_pipelines() else color_of(base)
            style = "--" if pipeline.endswith("@device") else "-"
            ax.plot(rows["cores"], rows["img/s"], style, marker="o", color=color, label=pipeline)
            first = rows.iloc[0]
            ax.plot(rows["cores"], first["img/s"] * rows["cores"] / first["cores"], ":", color=color, alpha=0.4)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("CPU cores")
        ax.set_ylabel("pipeline-only images/s")
        ax.set_title(f"{workload}: {data[:40]}", fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle("Core scaling (dotted: linear from the fewest cores)", fontsize=10)
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
            color = color_of(r["pipeline"]) if not r.get("knobs") else "#55a868"
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
