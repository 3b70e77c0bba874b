"""`bench report --accuracy`: does the faster pipeline train the model just as well?

Per workload and pipeline configuration, over seeds: final validation accuracy mean +- std, time-to-target,
images/s, and a parity verdict against the baseline (`idg`) with the same training knobs. The verdict is an
equivalence test with a stated margin (two one-sided tests, TOST): the 90% Welch confidence interval of the mean
difference must lie inside +-margin, the workload's declared `parity_margin` (about one seed-to-seed standard
deviation of its short runs). Three outcomes, each a claim the seeds support:

- `parity`: the whole interval is inside the margin;
- `FLAGGED`: the whole interval is outside it (the pipeline trains measurably worse, or better);
- `not enough seeds`: the interval straddles the margin, or a side has fewer than 2 seeds -- the spread of a few
  seeds cannot tell, and the table says so instead of calling it parity.

When the baseline itself is within a few points of chance (1 / classes) there is no signal to compare: no verdict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.paths import atomic_write, write_text_atomically
from bench.records import ACCURACY_SUBFOLDER, RUNS_FILE, read_records
from bench.report.records_frame import records_frame
from imgcls.pipelines import BASELINE
from imgcls.workloads import get_workload, list_workloads

CONFIDENCE = 0.90  # a 90% interval is the two one-sided 5% tests of TOST
CHANCE_MARGIN = 0.05  # a baseline within 5 points of chance has learned too little to judge parity against
DEFAULT_MARGIN = 0.01


def margin_of(workload: str) -> float:
    return get_workload(workload).parity_margin if workload in list_workloads() else DEFAULT_MARGIN


def difference_interval(candidate: Any, baseline: Any) -> tuple[float, float, float]:
    """(mean difference, low, high): the Welch `CONFIDENCE` interval of mean(candidate) - mean(baseline).

    NaN bounds with fewer than 2 values on a side; a zero-width interval when neither side varies.
    """
    a, b = np.asarray(candidate, dtype=float), np.asarray(baseline, dtype=float)
    diff = float(a.mean() - b.mean()) if len(a) and len(b) else float("nan")
    if len(a) < 2 or len(b) < 2:
        return diff, float("nan"), float("nan")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = float(np.sqrt(va + vb))
    if se == 0:
        return diff, diff, diff
    from scipy import stats

    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, dof)) * se
    return diff, diff - half, diff + half


def parity_verdict(low: float, high: float, margin: float) -> str:
    if np.isnan(low):
        return "not enough seeds (need 2 a side)"
    if -margin <= low and high <= margin:
        return "parity"
    if high < -margin or low > margin:
        return f"FLAGGED ({'below' if high < -margin else 'above'} idg by more than {margin * 100:.1f} pts)"
    return "not enough seeds to decide"


def accuracy_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (workload, pipeline, knobs, data, epochs) over seeds, with the parity verdict."""
    frame = records_frame(records)
    if frame.empty or frame["val_accuracy"].isna().all():
        return pd.DataFrame()
    frame = frame[frame["val_accuracy"].notna()].copy()
    frame["augment"] = frame["augment"].fillna("seed")
    keys = [
        "workload", "pipeline", "role", "knobs_label", "input_label", "step_label", "backend", "augment",
        "data_kind", "data_source", "epochs", "batch_size",
    ]  # fmt: skip
    grouped = frame.groupby(keys, sort=False, dropna=False)
    table = grouped.agg(
        seeds=("seed", "nunique"),
        acc_mean=("val_accuracy", "mean"),
        acc_std=("val_accuracy", "std"),
        acc_min=("val_accuracy", "min"),
        acc_max=("val_accuracy", "max"),
        target=("target_accuracy", "first"),
        reached=("time_to_target_sec", lambda v: int(v.notna().sum())),
        time_to_target_sec=("time_to_target_sec", "median"),
        train_sec=("epoch_sec", lambda v: float(np.median([sum(x) for x in v]))),
        images_per_sec=("train_images_per_sec", "median"),
        accuracies=("val_accuracy", list),
        chance=("num_classes", lambda v: 1.0 / v.dropna().iloc[0] if v.notna().any() else float("nan")),
    ).reset_index()

    def baseline_of(row: pd.Series) -> pd.Series | None:
        base = table[
            (table["workload"] == row["workload"])
            & (table["role"] == BASELINE)
            & (table["input_label"] == "default")
            & (table["step_label"] == row["step_label"])
            & (table["backend"] == row["backend"])
            & (table["augment"] == row["augment"])
            & (table["data_source"] == row["data_source"])
            & (table["epochs"] == row["epochs"])
        ]
        return None if base.empty else base.iloc[0]

    def at_chance(b: pd.Series) -> bool:
        return not pd.isna(b["chance"]) and b["acc_mean"] < b["chance"] + CHANCE_MARGIN

    def compare(row: pd.Series) -> tuple[str, float, float, float, float]:
        """(verdict, difference, interval low, high, margin) of one row against its baseline, looked up once."""
        margin = margin_of(row["workload"])
        b = baseline_of(row)
        if b is None:
            return "no idg baseline", np.nan, np.nan, np.nan, margin
        if row["role"] == BASELINE and row["input_label"] == "default":
            verdict = f"baseline (at chance, {b['chance'] * 100:.0f}%)" if at_chance(b) else "baseline"
            return verdict, np.nan, np.nan, np.nan, margin
        diff, low, high = difference_interval(row["accuracies"], b["accuracies"])
        if at_chance(b):
            return "no verdict: idg at chance", diff, low, high, margin
        return parity_verdict(low, high, margin), diff, low, high, margin

    table[["parity", "diff", "diff_low", "diff_high", "margin"]] = table.apply(compare, axis=1, result_type="expand")
    return table.drop(columns=["accuracies"])


def display_accuracy(table: pd.DataFrame) -> pd.DataFrame:
    def pct(v: float) -> str:
        return "-" if pd.isna(v) else f"{v * 100:.2f}"

    out = pd.DataFrame()
    out["workload"] = table["workload"]
    out["pipeline"] = (
        table["pipeline"]
        + table["knobs_label"].map(lambda k: "" if k == "default" else f" [{k}]")
        + table["augment"].map(lambda a: "" if a == "seed" else f" aug={a}")
    )
    out["data"] = table["data_kind"] + ": " + table["data_source"].astype(str)
    out["epochs"] = table["epochs"]
    out["seeds"] = table["seeds"]
    out["val acc % (mean +- std)"] = [
        f"{pct(m)} +- {pct(s) if not pd.isna(s) else '0.00'}"
        for m, s in zip(table["acc_mean"], table["acc_std"], strict=True)
    ]
    out["target %"] = table["target"].map(pct)
    out["time to target s"] = [
        "never" if reached == 0 else f"{t:.1f} ({reached}/{n} seeds)"
        for t, reached, n in zip(table["time_to_target_sec"], table["reached"], table["seeds"], strict=True)
    ]
    out["train s"] = table["train_sec"].map(lambda v: f"{v:.1f}")
    out["img/s"] = table["images_per_sec"].map(lambda v: "-" if pd.isna(v) else f"{v:,.0f}")
    out["diff pts (90% CI)"] = [
        "-" if pd.isna(d) else f"{d * 100:+.2f} [{lo * 100:+.2f}, {hi * 100:+.2f}]"
        for d, lo, hi in zip(table["diff"], table["diff_low"], table["diff_high"], strict=True)
    ]
    out["margin pts"] = table["margin"].map(lambda v: f"+-{v * 100:.1f}")
    out["parity vs idg"] = table["parity"]
    return out


def accuracy_records_path(results_dir: Path) -> Path:
    """`results_dir/accuracy/runs.jsonl` (where `bench matrix accuracy` writes), else `results_dir/runs.jsonl`."""
    sweep = Path(results_dir) / ACCURACY_SUBFOLDER / RUNS_FILE
    return sweep if sweep.exists() else Path(results_dir) / RUNS_FILE


def build_accuracy_report(results_dir: Path, plots: bool = True, written_files: list[str] | None = None) -> str:
    """Writes `accuracy.md`, `accuracy.csv` and `accuracy_vs_time.png` in `results_dir` (each whole or not at all;
    the table and plot only with a successful run); returns the table. `written_files` receives what it wrote."""
    results_dir = Path(results_dir)
    path = accuracy_records_path(results_dir)
    if not path.exists():
        raise FileNotFoundError(f"no records at {path}; run `python -m bench matrix accuracy` first")
    records = read_records(path)
    table = accuracy_table(records)
    if table.empty:
        text = f"No successful runs with a validation accuracy in {path}."
    else:
        text = tabulate(display_accuracy(table), headers="keys", tablefmt="github", showindex=False)
        with atomic_write(results_dir / "accuracy.csv") as temporary:
            table.to_csv(temporary, index=False)
    document = (
        "# Accuracy parity and time-to-accuracy\n\n"
        f"Generated by `python -m bench report --accuracy` from `{path.relative_to(results_dir).as_posix()}`. "
        "Validation accuracy is measured on the held-out split after the last epoch (never augmented); time to "
        "target counts training time only (evaluation excluded). Parity is an equivalence test (TOST): `diff pts` "
        "is the pipeline's mean accuracy minus the `idg` mean (same training knobs), with its 90% Welch "
        "confidence interval; *parity* when the whole interval lies within +-`margin pts` (declared per workload), "
        "*FLAGGED* when it lies wholly outside, *not enough seeds* otherwise. When `idg` is within 5 points of "
        "chance, no verdict is given.\n\n" + text + "\n"
    )
    if not table.empty:
        document += "\n![accuracy vs time](accuracy_vs_time.png)\n"
    if plots and not table.empty:
        import matplotlib.pyplot as plt

        from bench.report.plots import accuracy_vs_time_figure

        figure = accuracy_vs_time_figure(records)
        with atomic_write(results_dir / "accuracy_vs_time.png") as temporary:
            figure.savefig(temporary, dpi=110)
        plt.close(figure)
    write_text_atomically(results_dir / "accuracy.md", document)
    if written_files is not None:
        written_files += ["accuracy.md"] + ([] if table.empty else ["accuracy.csv"])
        written_files += ["accuracy_vs_time.png"] if plots and not table.empty else []
    return text
