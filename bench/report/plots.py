"""Plots from the report's tables (matplotlib, headless). Each function takes data and returns a figure.

Pipelines are ordered and coloured by their role (baseline, candidates in registry order, ceiling), so a newly
registered pipeline appears without editing this module. Panels are one per workload, data and backend: real and
generated data, or two backends, never share a bar or a box. Panels sit in a grid of at most `GRID_COLUMNS`
columns, so a figure stays about as tall as it is wide however many workloads ran; titles are wrapped, never cut,
so a data label reads whole ("12000/2000", not "12000/20"); tick labels are plain numbers in the tables' format.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: CI and servers have no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, PercentFormatter  # noqa: E402

from bench.report.comparison import input_bound_text  # noqa: E402
from imgcls.pipelines import BASELINE, CANDIDATE, CEILING, get_pipeline_spec, list_pipelines  # noqa: E402

ROLE_COLORS = {BASELINE: "#c44e52", CEILING: "#8c8c8c"}
CANDIDATE_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#8172b3", "#937860")
PANEL_KEYS = ["workload", "data_kind", "data_source", "backend"]
GRID_COLUMNS = 3
TITLE_CHARS = 48  # per title line at the panels' width and font size 9: a longer label wraps onto the next line
MIN_FIGURE_WIDTH = 6.5  # inches: room for a figure's title above a single panel
LOG_STEP_RATIO = 5.0  # a step-time panel whose medians are this far apart gets a log axis


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


def number_text(value: float, _position: object = None) -> str:
    """A number as the tables print it: thousands separated and no decimals from 100 up (`6,105`), three
    significant digits below (`20.2`, `0.5`); never an exponent. Doubles as a matplotlib tick formatter."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def wrapped(text: str, width: int = TITLE_CHARS) -> str:
    """`text` broken at spaces onto lines of at most `width` characters; a word is never split."""
    return "\n".join(textwrap.fill(line, width, break_long_words=False) for line in text.split("\n"))


def _plain_ticks(axis: Any, log: bool = False) -> None:
    """Plain-number tick labels on `axis` (an x or y axis); on a log axis majors at 1-2-5 steps (every digit
    when the range is under a factor of 5, so at least two labels show) and unlabelled minors."""
    if log:
        low, high = sorted(axis.get_view_interval())
        subs = (1.0, 2.0, 5.0) if low > 0 and high / low >= 5 else tuple(float(d) for d in range(1, 10))
        axis.set_major_locator(LogLocator(base=10, subs=subs))
        axis.set_minor_formatter(NullFormatter())
    axis.set_major_formatter(FuncFormatter(number_text))


def _panels(frame: pd.DataFrame) -> list[tuple[tuple, str]]:
    """(panel key, title) per workload x data x backend: the workload, then its data and backend in full."""
    keys = list(dict.fromkeys(map(tuple, frame[PANEL_KEYS].astype(str).to_numpy())))
    return [(key, f"{key[0]}\n" + wrapped(f"{key[1]}: {key[2]}, {key[3]}")) for key in keys]


def _in_panel(frame: pd.DataFrame, key: tuple) -> pd.DataFrame:
    mask = np.logical_and.reduce([frame[k].astype(str) == v for k, v in zip(PANEL_KEYS, key, strict=True)])
    return frame[mask]


def _grid(count: int, width: float = 4.4, height: float = 3.9) -> tuple[plt.Figure, list[plt.Axes]]:
    """A figure with `count` panels of `width` x `height` inches in rows of at most `GRID_COLUMNS`; the grid's
    unused cells are removed, so the figure holds exactly one axes per panel."""
    count = max(1, count)
    columns = min(GRID_COLUMNS, count)
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(max(MIN_FIGURE_WIDTH, width * columns), height * rows), squeeze=False,
        layout="constrained",
    )  # fmt: skip
    cells = list(axes.flat)
    for ax in cells[count:]:
        fig.delaxes(ax)
    return fig, cells[:count]


def _legend_below(ax: plt.Axes) -> None:
    """The legend under the panel, where it hides no line (the constrained layout makes room for it)."""
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)


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
        _plain_ticks(ax.yaxis)
    fig.suptitle("Training throughput per input pipeline (the ceiling = the model alone)", fontsize=10)
    return fig


def input_bound_figure(table: pd.DataFrame) -> plt.Figure:
    """Input-bound % (1 - end-to-end / same-process ceiling) for every row but the ceiling's, one panel per
    workload x data x backend stacked in a column on one x scale; values below the ceiling's noise are drawn at 0
    and say `< noise`."""
    rows = table[table["role"] != CEILING].dropna(subset=["input_bound_pct"])
    panels = _panels(rows) if not rows.empty else []
    members = [_in_panel(rows, key).sort_values("input_bound_pct") for key, _ in panels]
    heights = [len(m) + 2.0 for m in members] or [1.0]  # a bar per row, and room for the title's lines
    fig, axes = plt.subplots(
        len(heights), 1, figsize=(9, 0.3 * sum(heights) + 1.2), squeeze=False, sharex=True, layout="constrained",
        gridspec_kw={"height_ratios": heights},
    )  # fmt: skip
    axes = list(axes[:, 0])
    for ax, (_, title), group in zip(axes, panels, members, strict=False):
        labels = [
            pipeline + ("" if knobs == "default" else f"  {knobs}")
            for pipeline, knobs in zip(group["pipeline"], group["knobs_label"], strict=True)
        ]
        positions = np.arange(len(group))  # numeric rows: two runs with the same label must not share a bar
        ax.barh(positions, group["input_bound_pct"].clip(lower=0), color=[color_of(p) for p in group["pipeline"]])
        ax.set_yticks(positions, labels, fontsize=8)
        ax.set_ylim(-0.6, len(group) - 0.4)
        for y, (value, spread) in enumerate(zip(group["input_bound_pct"], group["ceiling_spread_pct"], strict=True)):
            ax.annotate(input_bound_text(value, spread), (max(value, 0), y), va="center", fontsize=7, xytext=(3, 0),
                        textcoords="offset points")  # fmt: skip
        ax.set_title(title, fontsize=9, loc="left")
    axes[-1].set_xlim(0, 130)  # room right of a 100% bar for its label
    axes[-1].set_xlabel("input-bound % (time the model waited for input)")
    _plain_ticks(axes[-1].xaxis)
    fig.suptitle("Input-bound % per pipeline and knob", fontsize=10)
    return fig


def step_time_figure(records: list[dict[str, Any]]) -> plt.Figure:
    """Steady-state step time distribution (warm-up excluded) per pipeline preset, one panel per workload x data x
    backend, on a linear ms axis unless the panel's medians are `LOG_STEP_RATIO` apart."""
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
        medians = [float(np.median(steps)) for steps in data]
        log = bool(medians) and min(medians) > 0 and max(medians) / min(medians) >= LOG_STEP_RATIO
        if log:  # a linear axis would flatten the fast pipelines' boxes onto the floor
            ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("step time (ms, log scale)" if log else "step time (ms)")
        ax.tick_params(axis="x", labelrotation=30)
        _plain_ticks(ax.yaxis, log=log)
    fig.suptitle("Steady-state step time per pipeline (box: p25-p75, whiskers: 1.5 IQR)", fontsize=10)
    return fig


def scaling_figure(table: pd.DataFrame) -> plt.Figure:
    """Pipeline-only images/s against cores (linear cores, ticks at the measured counts; log images/s, since one
    panel holds rates 30x apart), with the linear extrapolation of each row's first point. Pipelines at their
    defaults only: `--vary` rows are a table's job."""
    if "knobs" in table:
        table = table[table["knobs"] == ""]
    groups = list(dict.fromkeys(zip(table["workload"], table["data"], strict=True)))
    fig, axes = _grid(len(groups), width=5.0, height=4.6)
    for ax, (workload, data) in zip(axes, groups, strict=False):
        panel = table[(table["workload"] == workload) & (table["data"] == data)]
        for pipeline, rows in panel.groupby("pipeline", sort=False):
            base = pipeline.split("@")[0]
            color = "#333333" if base not in list_pipelines() else color_of(base)
            style = "--" if pipeline.endswith("@device") else "-"
            ax.plot(rows["cores"], rows["img/s"], style, marker="o", color=color, label=pipeline)
            first = rows.iloc[0]
            ax.plot(rows["cores"], first["img/s"] * rows["cores"] / first["cores"], ":", color=color, alpha=0.4)
        cores = sorted(int(c) for c in panel["cores"].unique())
        ax.set_xticks(cores)
        ax.set_xlim(0, max(cores) * 1.08)
        ax.set_yscale("log")
        _plain_ticks(ax.xaxis)
        _plain_ticks(ax.yaxis, log=True)
        ax.set_xlabel("CPU cores")
        ax.set_ylabel("pipeline-only images/s (log scale)")
        ax.set_title(f"{workload}\n{wrapped(data)}", fontsize=9)
        _legend_below(ax)
    fig.suptitle("Core scaling (dotted: linear from the fewest cores)", fontsize=10)
    return fig


def accuracy_vs_time_figure(records: list[dict[str, Any]]) -> plt.Figure:
    """Validation accuracy after each epoch against cumulative training time, one curve per run."""
    rows = [r for r in records if r.get("status") == "ok" and r.get("epoch_val_accuracy")]
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    fig, axes = _grid(len(workloads), height=4.6)
    for ax, workload in zip(axes, workloads, strict=False):
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
        ax.set_title(workload, fontsize=9)
        ax.set_xlabel("training time (s)")
        ax.set_ylabel("validation accuracy")
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1))
        _plain_ticks(ax.xaxis)
        _legend_below(ax)
    fig.suptitle("Validation accuracy against training wall time (one curve per seed)", fontsize=10)
    return fig
