"""Records -> comparative tables (terminal, markdown, CSV) and plots. Reads records only; never runs anything.

One row per (workload, pipeline, knobs, augmentation, batch size, data); repeats are summarised by their median
and the min-max spread of throughput. Each row is compared with the `baseline` row and the `ceiling` row (roles,
not names) that share its workload, augmentation, batch size, data (kind and exact copy) and every knob that
changes the training step (backend, compile path, precision, ...): a training knob never passes for a pipeline
gain, and a ceiling measured on other data never becomes a denominator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.analysis import analysis_text, service_scaling
from bench.benchjson import benchmark_table
from bench.frame import DATA_KEYS, records_frame
from bench.knobs import knobs_label
from bench.records import ACCURACY_SUBFOLDER, RUNS_FILE, read_records
from bench.scale import SCALING_FILE, scaling_table, scaling_text
from imgcls.pipelines import BASELINE, CEILING

ROW_KEYS = [
    "workload", "pipeline", "role", "knobs_label", "model_label", "step_label", "input_label", "pipeline_label",
    "backend",
    *DATA_KEYS[1:],
]  # fmt: skip
MATCH_KEYS = [*DATA_KEYS, "model_label"]  # what a row shares with its baseline and its ceiling
NOISE_FLOOR_PCT = 3.0  # run-to-run noise of a steady state on a shared machine, below which nothing is claimed
ABOVE_CEILING = 1.05  # a fraction of the ceiling above this is flagged: two measurements disagree by noise


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
        slowest_stage=("slowest_stage", lambda v: v.mode().iloc[0] if v.notna().any() else None),
        compile_sec_est=("compile_sec_est", "median"),
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
    """Input-bound % as a claim the measurement supports: below the ceiling's own noise it is `< noise (N%)`."""
    if pct is None or (isinstance(pct, float) and np.isnan(pct)):
        return "-"
    noise = max(NOISE_FLOOR_PCT, 0.0 if spread_pct is None or np.isnan(spread_pct) else float(spread_pct))
    return f"< noise ({noise:.0f}%)" if pct < noise else f"{pct:.0f}"


def ceiling_fraction_text(fraction: float | None) -> str:
    if fraction is None or np.isnan(fraction):
        return "-"
    return f"{fraction:.0%} (noise)" if fraction > ABOVE_CEILING else f"{fraction:.0%}"


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
    "slowest_stage": "slowest stage",
    "val_accuracy": "val acc",
    "gpu_peak_mem_mb": "GPU peak MB",
    "gpu_util_mean_pct": "GPU util %",
    "peak_host_rss_mb": "peak RSS MB",
    "runs": "runs",
}
GPU_COLUMNS = ("gpu_peak_mem_mb", "gpu_util_mean_pct")


def display_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Formatted for reading: rounded numbers, '-' for what does not apply; GPU columns only when measured."""
    out = pd.DataFrame()
    out["workload"] = table["workload"]
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
    out["slowest_stage"] = table["slowest_stage"].fillna("-")
    out["val_accuracy"] = table["val_accuracy"].map(lambda v: _num(v, ".4f"))
    for column in GPU_COLUMNS:
        if table[column].notna().any():
            out[column] = table[column].map(lambda v: _num(v, ",.0f"))
    out["peak_host_rss_mb"] = table["peak_host_rss_mb"].map(lambda v: _num(v, ",.0f"))
    out["runs"] = table["runs"]
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


HOW_TO_READ = """\
How to read the tables:
- **img/s (e2e)**: median steady-state training throughput, model fed by the pipeline (warm-up steps excluded,
  step ends synchronised); **min-max** its spread over repeats.
- **pipeline-only img/s**: the input pipeline iterated with no model (first batch timed apart).
- **x baseline**: speedup over the baseline row (`idg`, ImageDataGenerator) of the same workload, data, batch
  size and training knobs (backend, compile path, precision, ...): a training knob is never credited to a pipeline.
- **of ceiling**: fraction of the ceiling row (`synthetic`: the model fed one constant batch) matched the same way;
  above 105% it is flagged `(noise)`: the two rows disagree by more than their measurements can tell apart.
- **input-bound %**: 1 - end-to-end / ceiling, both measured in the *same process* right after each other; near 0
  the model is the bottleneck, near 100 the accelerator waits for input. `< noise (N%)` when it is below the
  ceiling's own spread (its block rates' (max - min) / median) or 3%, whichever is larger.
- **slowest stage**: the tf.data stage that adds the most seconds per image: each growing prefix of the graph
  (read, decode, augment, prefetch) is timed alone, and a stage's cost is 1/rate of its prefix minus 1/rate of
  the prefix before it.
- **data**: `real` (which copy) or `generated`; a subset is always named as one.
"""


def _env_lines(records: list[dict[str, Any]]) -> str:
    """The distinct environments the records ran on (a table should never mix machines silently)."""
    keys = ("cpu_model", "cpu_cores", "gpu_name", "keras_backend", "python", "tensorflow", "keras")
    seen: dict[str, int] = {}
    for record in records:
        env = record.get("env", {})
        line = ", ".join(f"{k}={env.get(k)}" for k in keys)
        seen[line] = seen.get(line, 0) + 1
    return "\n".join(f"- {line} ({count} records)" for line, count in seen.items())


PLOTS = ("throughput.png", "input_bound.png", "step_times.png")
SCALING_PLOT = "scaling.png"
BENCHMARKS_FILE = "benchmarks.json"  # a pytest-benchmark JSON placed beside the records is tabled too


def build_report(
    results_dir: Path,
    workload: str | None = None,
    benchmarks: Path | None = None,
    plots: bool = True,
    command: str = "python -m bench report",
) -> tuple[str, pd.DataFrame]:
    """Reads `results_dir/runs.jsonl`; writes `README.md`, `report.csv` (and plots) there; returns (text, table).

    The markdown is a pure function of the records (and the benchmark file), so a test can regenerate it and
    compare with what is committed. With `plots=False` no plot is written or linked.

    Raises:
        UserFacingError: no records file.
    """
    from imgcls.errors import UserFacingError

    results_dir = Path(results_dir)
    path = results_dir / RUNS_FILE
    if not path.exists():
        raise UserFacingError(f"no records at {path}; run `python -m bench run --results {results_dir}` first")
    records = read_records(path)
    if workload:
        records = [r for r in records if r.get("workload") == workload]
    frame = records_frame(records)
    table = summarize(frame) if not frame.empty else pd.DataFrame()
    sections = []
    if table.empty:
        sections.append(f"No successful runs in {path}.")
    else:
        for name in dict.fromkeys(table["workload"]):
            shown = display_frame(table[table["workload"] == name])
            sections.append(f"### {name}\n\n" + tabulate(shown, headers="keys", tablefmt="github", showindex=False))
        sections.append("### Which knob matters\n\n" + analysis_text(table))
        scaling = service_scaling(table, frame)
        if not scaling.empty:
            scaling = scaling.astype(object).where(scaling.notna(), None)
            sections.append(
                "### tf.data service scaling\n\n"
                + tabulate(scaling, headers="keys", tablefmt="github", showindex=False, floatfmt=",.0f", missingval="-")
            )
    scaling_path = results_dir / SCALING_FILE
    scaling = scaling_table(read_records(scaling_path)) if scaling_path.exists() else pd.DataFrame()
    if not scaling.empty:
        sections.append(
            "### Core scaling, pipeline only\n\n"
            f"`python -m bench scale` ({SCALING_FILE}): each point a fresh process pinned to that many cores; "
            "`@device` rows leave augmentation to the model (the host only decodes); `decode-only` is the "
            "hardware limit of reading and decoding the files.\n\n" + scaling_text(scaling)
        )
    if benchmarks is None and (results_dir / BENCHMARKS_FILE).exists():
        benchmarks = results_dir / BENCHMARKS_FILE
    if benchmarks is not None:
        sections.append("### pytest-benchmark\n\n" + benchmark_table(benchmarks))
    accuracy_records = results_dir / ACCURACY_SUBFOLDER / RUNS_FILE
    if accuracy_records.exists():
        sections.append(
            "### Accuracy parity (real data)\n\n"
            f"{len(read_records(accuracy_records))} full-epoch runs over seeds, kept apart in "
            f"`{ACCURACY_SUBFOLDER}/{RUNS_FILE}`, made by `python -m bench matrix accuracy --results {results_dir} "
            "--data-dir DIR` and tabled by `python -m bench report --accuracy`: [accuracy.md](accuracy.md) "
            "(final accuracy, time-to-target, parity verdicts) and [accuracy_vs_time.png](accuracy_vs_time.png)."
        )
    failures = failures_frame(records)
    if not failures.empty:
        sections.append("### Failed runs\n\n" + tabulate(failures, headers="keys", tablefmt="github", showindex=False))
    text = "\n\n".join(sections)
    figures = [*PLOTS, *([SCALING_PLOT] if not scaling.empty else [])] if plots and not table.empty else []
    if figures:
        write_plots(results_dir, table, records, scaling)
    document = (
        "# imgcls-bench results\n\n"
        f"Generated by `{command}` from {len(records)} record(s) in `{RUNS_FILE}`; "
        "regenerate with that command (it rewrites this file, `report.csv` and the plots).\n\n"
        f"{HOW_TO_READ}\nEnvironments:\n{_env_lines(records)}\n\n{text}\n"
    )
    if figures:
        document += "\n### Plots\n\n" + "\n\n".join(f"![{name}]({name})" for name in figures) + "\n"
    (results_dir / "README.md").write_text(document)
    if not table.empty:
        table.to_csv(results_dir / "report.csv", index=False)
    return text, table


def write_plots(
    results_dir: Path, table: pd.DataFrame, records: list[dict[str, Any]], scaling: pd.DataFrame | None = None
) -> None:
    """Saves the report's PNG plots (`PLOTS`, and `SCALING_PLOT` with scaling records) in `results_dir`."""
    import matplotlib.pyplot as plt

    from bench import plots

    figures = dict(
        zip(
            PLOTS,
            (plots.throughput_figure(table), plots.input_bound_figure(table), plots.step_time_figure(records)),
            strict=True,
        )
    )
    if scaling is not None and not scaling.empty:
        figures[SCALING_PLOT] = plots.scaling_figure(scaling)
    for name, figure in figures.items():
        figure.savefig(results_dir / name, dpi=110)
        plt.close(figure)
