"""Records -> comparative tables (terminal, markdown, CSV). Reads records only; never runs anything.

One row per (workload, pipeline, knobs, augmentation, batch size, data); repeats are summarised by their median
(and the min-max spread of throughput). Each row gets its speedup over the `idg` row of the same workload, data,
augmentation and batch size, and its fraction of the `synthetic` ceiling of the same workload, batch size and
training knobs.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.records import ACCURACY_SUBFOLDER, RUNS_FILE, RunRecord, read_records
from bench.stages import slowest_stage

ROW_KEYS = ["workload", "pipeline", "knobs_label", "augment", "batch_size", "data_kind", "data_source"]
IDG_MATCH = ["workload", "augment", "batch_size", "data_kind", "data_source"]
CEILING_MATCH = ["workload", "batch_size", "training_knobs"]
TRAINING_KNOBS = ("mixed_precision", "xla", "steps_per_execution", "strategy")


def _knob_value(value: Any) -> str:
    if value is None:
        return "off"
    if value == -1 and not isinstance(value, bool):
        return "autotune"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def knobs_label(knobs: dict[str, Any] | None) -> str:
    """`prefetch=off,xla=on`, or `default` when nothing was set away from the preset."""
    if not knobs:
        return "default"
    return ",".join(f"{k}={_knob_value(v)}" for k, v in sorted(knobs.items()))


def records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Successful records as a DataFrame with the derived label columns the tables group by."""
    ok = [r for r in records if r.get("status") == "ok"]
    frame = pd.DataFrame(ok)
    if frame.empty:
        return frame
    for name in (f.name for f in dataclasses.fields(RunRecord)):
        if name not in frame.columns:  # records from an older schema lack newer fields
            frame[name] = None
    frame["knobs_label"] = frame["knobs"].apply(knobs_label)
    # Derived from the raw stage rates, so the rule can improve without re-running anything.
    frame["slowest_stage"] = frame["stage_images_per_sec"].apply(
        lambda rates: slowest_stage(rates) if isinstance(rates, dict) and rates else None
    )
    frame["training_knobs"] = frame["knobs"].apply(
        lambda k: knobs_label({n: v for n, v in (k or {}).items() if n in TRAINING_KNOBS})
    )
    return frame


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: medians over repeats, speedup over idg, fraction of the synthetic ceiling."""
    grouped = frame.groupby(ROW_KEYS + ["training_knobs"], dropna=False, sort=False)
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
        window_steps=("window_steps", "median"),
        input_bound_pct=("input_bound_pct", "median"),
        slowest_stage=("slowest_stage", lambda v: v.mode().iloc[0] if v.notna().any() else None),
        compile_sec_est=("compile_sec_est", "median"),
    ).reset_index()

    idg = table[table["pipeline"] == "idg"].groupby(IDG_MATCH, dropna=False)["images_per_sec"].median()
    ceiling = table[table["pipeline"] == "synthetic"].groupby(CEILING_MATCH, dropna=False)["images_per_sec"].median()

    def lookup(series: pd.Series, row: pd.Series, keys: list[str]) -> float:
        key = tuple(row[k] for k in keys)
        return float(series.get(key, np.nan)) if len(series) else np.nan

    table["speedup_vs_idg"] = table.apply(lambda r: r["images_per_sec"] / lookup(idg, r, IDG_MATCH), axis=1)
    table["fraction_of_ceiling"] = table.apply(
        lambda r: r["images_per_sec"] / lookup(ceiling, r, CEILING_MATCH), axis=1
    )
    return table.drop(columns=["training_knobs"])


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
    "speedup_vs_idg": "x idg",
    "fraction_of_ceiling": "of ceiling",
    "input_bound_pct": "input-bound %",
    "slowest_stage": "slowest stage",
    "val_accuracy": "val acc",
    "peak_host_rss_mb": "peak RSS MB",
    "runs": "runs",
}


def display_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Formatted for reading: rounded numbers, '-' for what does not apply."""

    def num(value: float, fmt: str) -> str:
        return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, fmt)

    out = pd.DataFrame()
    out["workload"] = table["workload"]
    out["pipeline"] = table["pipeline"]
    out["knobs_label"] = table["knobs_label"] + table["augment"].map(lambda a: "" if a == "seed" else f" aug={a}")
    out["data"] = table["data_kind"] + ": " + table["data_source"].astype(str)
    out["batch_size"] = table["batch_size"]
    out["images_per_sec"] = table["images_per_sec"].map(lambda v: num(v, ",.0f"))
    out["spread"] = [
        "-" if r == 1 else f"{lo:,.0f}-{hi:,.0f}"
        for r, lo, hi in zip(table["runs"], table["images_per_sec_min"], table["images_per_sec_max"], strict=False)
    ]
    out["step_ms_p50"] = table["step_ms_p50"].map(lambda v: num(v, ".1f"))
    out["step_ms_p95"] = table["step_ms_p95"].map(lambda v: num(v, ".1f"))
    out["pipeline_images_per_sec"] = table["pipeline_images_per_sec"].map(lambda v: num(v, ",.0f"))
    out["speedup_vs_idg"] = table["speedup_vs_idg"].map(lambda v: num(v, ".2f"))
    out["fraction_of_ceiling"] = table["fraction_of_ceiling"].map(lambda v: num(v, ".0%"))
    out["input_bound_pct"] = table["input_bound_pct"].map(lambda v: num(v, ".0f"))
    out["slowest_stage"] = table["slowest_stage"].fillna("-")
    out["val_accuracy"] = table["val_accuracy"].map(lambda v: num(v, ".4f"))
    out["peak_host_rss_mb"] = table["peak_host_rss_mb"].map(lambda v: num(v, ",.0f"))
    out["runs"] = table["runs"]
    return out.rename(columns=DISPLAY_COLUMNS)


ABLATION_NOISE = 0.03


def _ablation_verdict(knobs: str | None, cost: float) -> str | None:
    if knobs is None:
        return None
    if cost <= ABLATION_NOISE:
        return f"none costs > {ABLATION_NOISE:.0%}"
    return f"{knobs}: -{cost:.0%}"


def knob_analysis(table: pd.DataFrame) -> pd.DataFrame:
    """Per workload (and data): which knob matters and by how much, from a `summarize` table.

    - `best`: the fastest tf.data configuration end to end, and its gain over `tfdata-naive` and over `idg`;
    - `costliest one-knob change`: among ablations of the `tfdata` preset (one knob changed), the one that costs
      the most end-to-end throughput, i.e. the preset setting that matters most here; when no change costs more
      than `ABLATION_NOISE` (run-to-run noise on a shared machine), it says so rather than crown a noise winner;
    - `tfdata of ceiling` and `tfdata/idg pipeline-only`: the targets the README states.
    """
    rows = []
    for (workload, data), group in table.groupby(["workload", "data_source"], sort=False):

        def pick(pipeline: str, knobs: str = "default", frame: pd.DataFrame = group) -> pd.Series | None:
            match = frame[(frame["pipeline"] == pipeline) & (frame["knobs_label"] == knobs)]
            return match.iloc[0] if len(match) else None

        idg, naive, tuned, ceiling = pick("idg"), pick("tfdata-naive"), pick("tfdata"), pick("synthetic")
        tfdata_rows = group[group["pipeline"].str.startswith("tfdata")]
        best = tfdata_rows.loc[tfdata_rows["images_per_sec"].idxmax()] if len(tfdata_rows) else None
        ablations = group[(group["pipeline"] == "tfdata") & (group["knobs_label"] != "default")]
        important, cost = None, np.nan
        if tuned is not None and len(ablations):
            worst = ablations.loc[ablations["images_per_sec"].idxmin()]
            important, cost = worst["knobs_label"], 1 - worst["images_per_sec"] / tuned["images_per_sec"]

        def ratio(a: pd.Series | None, b: pd.Series | None, column: str = "images_per_sec") -> float:
            return float(a[column] / b[column]) if a is not None and b is not None else np.nan

        rows.append(
            {
                "workload": workload,
                "data": data,
                "idg img/s": idg["images_per_sec"] if idg is not None else np.nan,
                "tfdata-naive img/s": naive["images_per_sec"] if naive is not None else np.nan,
                "tfdata img/s": tuned["images_per_sec"] if tuned is not None else np.nan,
                "ceiling img/s": ceiling["images_per_sec"] if ceiling is not None else np.nan,
                "best tf.data": None if best is None else f"{best['pipeline']} {best['knobs_label']}",
                "best / naive": ratio(best, naive),
                "best / idg": ratio(best, idg),
                "costliest one-knob change": _ablation_verdict(important, cost),
                "tfdata of ceiling": ratio(tuned, ceiling),
                "tfdata/idg pipeline-only": ratio(tuned, idg, "pipeline_images_per_sec"),
                "tfdata input-bound %": tuned["input_bound_pct"] if tuned is not None else np.nan,
                "tfdata slowest stage": tuned["slowest_stage"] if tuned is not None else None,
            }
        )
    return pd.DataFrame(rows)


def service_scaling(table: pd.DataFrame) -> pd.DataFrame:
    """tf.data service rows: throughput against the number of workers, beside local tf.data and the ceiling."""
    rows = []
    for (workload, data), group in table.groupby(["workload", "data_source"], sort=False):
        service = group[group["pipeline"] == "tfdata-service"]
        if service.empty:
            continue
        ceiling = group[(group["pipeline"] == "synthetic") & (group["knobs_label"] == "default")]
        local = group[(group["pipeline"] == "tfdata") & (group["knobs_label"] == "default")]
        for _, row in service.iterrows():
            match = re.search(r"service=local:(\d+)", row["knobs_label"])
            rows.append(
                {
                    "workload": workload,
                    "data": data,
                    "service": row["knobs_label"],
                    "workers": int(match.group(1)) if match else None,
                    "pipeline-only img/s": row["pipeline_images_per_sec"],
                    "e2e img/s": row["images_per_sec"],
                    "local tfdata pipeline-only img/s": local["pipeline_images_per_sec"].iloc[0]
                    if len(local)
                    else None,
                    "local tfdata e2e img/s": local["images_per_sec"].iloc[0] if len(local) else None,
                    "ceiling img/s": ceiling["images_per_sec"].iloc[0] if len(ceiling) else None,
                }
            )
    frame = pd.DataFrame(rows)
    return frame.sort_values(["workload", "workers"]) if not frame.empty else frame


def analysis_text(table: pd.DataFrame) -> str:
    if table.empty:
        return ""
    frame = knob_analysis(table)
    frame = frame.astype(object).where(frame.notna(), None)  # tabulate shows None as '-', NaN as 'nan'
    return tabulate(frame, headers="keys", tablefmt="github", showindex=False, floatfmt=",.2f", missingval="-")


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
- **x idg**: speedup over the `idg` (ImageDataGenerator) row of the same workload, data and batch size.
- **of ceiling**: fraction of the `synthetic` row (the model fed one constant batch: what it could do if input
  cost nothing) of the same workload, batch size and training knobs.
- **input-bound %**: 1 - end-to-end / ceiling, both measured in the *same process* right after each other;
  near 0 the model is the bottleneck, near 100 the GPU/CPU waits for input.
- **slowest stage**: the tf.data graph prefix (read, decode, augment_batch, prefetch) with the lowest rate.
- **data**: `real` (which copy) or `generated`; a subset is always named as one.
"""


def _env_lines(records: list[dict[str, Any]]) -> str:
    """The distinct environments the records ran on (a table should never mix machines silently)."""
    keys = ("cpu_model", "cpu_cores", "gpu_name", "python", "tensorflow", "keras", "numpy")
    seen: dict[str, int] = {}
    for record in records:
        env = record.get("env", {})
        line = ", ".join(f"{k}={env.get(k)}" for k in keys)
        seen[line] = seen.get(line, 0) + 1
    return "\n".join(f"- {line} ({count} records)" for line, count in seen.items())


BENCHMARK_OPTIONS = ("map_parallel", "prefetch", "vectorize", "cache", "deterministic", "workers")


def benchmark_table(path: Path) -> str:
    """A pytest-benchmark JSON file as a table: name, median, images/s, rounds, knobs."""
    data = json.loads(Path(path).read_text())
    rows = []
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info", {})
        median = bench["stats"]["median"]
        per_round = info.get("images_per_round")
        rows.append(
            {
                "benchmark": bench["name"],
                "group": bench.get("group"),
                "median ms": f"{median * 1e3:.1f}",
                "images/s": f"{per_round / median:,.0f}" if per_round else "-",
                "rounds": bench["stats"]["rounds"],
                "main options": knobs_label(
                    {k: v for k, v in (info.get("options") or {}).items() if k in BENCHMARK_OPTIONS}
                )
                if info.get("options")
                else "-",
            }
        )
    machine = data.get("machine_info", {})
    header = f"pytest-benchmark `{Path(path).name}` ({machine.get('cpu', {}).get('brand_raw', 'unknown CPU')}):\n\n"
    return header + tabulate(pd.DataFrame(rows), headers="keys", tablefmt="github", showindex=False)


def build_report(
    results_dir: Path,
    workload: str | None = None,
    benchmarks: Path | None = None,
    plots: bool = True,
    command: str = "python -m bench report",
) -> tuple[str, pd.DataFrame]:
    """Reads `results_dir/runs.jsonl`; writes `README.md`, `report.csv` and plots there; returns (text, table).

    The markdown is a pure function of the records (and the benchmark file), so a test can regenerate it and
    compare with what is committed.

    Raises:
        FileNotFoundError: no records file.
    """
    results_dir = Path(results_dir)
    path = results_dir / RUNS_FILE
    if not path.exists():
        raise FileNotFoundError(f"no records at {path}; run `python -m bench run` first")
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
        scaling = service_scaling(table)
        if not scaling.empty:
            scaling = scaling.astype(object).where(scaling.notna(), None)
            sections.append(
                "### tf.data service scaling\n\n"
                + tabulate(scaling, headers="keys", tablefmt="github", showindex=False, floatfmt=",.0f", missingval="-")
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
            f"`{ACCURACY_SUBFOLDER}/{RUNS_FILE}`, "
            "made by `python -m bench matrix accuracy --data-dir DIR` and tabled by "
            "`python -m bench report --accuracy`: [accuracy.md](accuracy.md) (final accuracy, time-to-target, parity "
            "verdicts) and [accuracy_vs_time.png](accuracy_vs_time.png)."
        )
    failures = failures_frame(records)
    if not failures.empty:
        sections.append("### Failed runs\n\n" + tabulate(failures, headers="keys", tablefmt="github", showindex=False))
    text = "\n\n".join(sections)
    figures = list(PLOTS) if not table.empty else []
    if plots and figures:
        write_plots(results_dir, table, records)
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


PLOTS = ("throughput.png", "input_bound.png", "step_times.png")
BENCHMARKS_FILE = "benchmarks.json"  # a pytest-benchmark JSON placed beside the records is tabled too


def write_plots(results_dir: Path, table: pd.DataFrame, records: list[dict[str, Any]]) -> None:
    """Saves the report's PNG plots (`PLOTS`) in `results_dir`."""
    import matplotlib.pyplot as plt

    from bench import plots

    figures = dict(
        zip(
            PLOTS,
            (plots.throughput_figure(table), plots.input_bound_figure(table), plots.step_time_figure(records)),
            strict=True,
        )
    )
    for name, figure in figures.items():
        figure.savefig(results_dir / name, dpi=110)
        plt.close(figure)
