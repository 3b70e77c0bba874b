"""`bench report --accuracy`: does the faster pipeline train the model just as well?

Per workload and pipeline configuration, over seeds: final validation accuracy mean +- std, time-to-target,
images/s, and a parity verdict against the `idg` baseline: a pipeline is at parity when its mean accuracy lies
within the `idg` seeds' range (min-max) widened to at least +-1 point around the `idg` mean; otherwise FLAGGED.

Two honest additions to that rule. A Welch t-test p-value against the `idg` seeds sits next to every verdict: with
3 seeds a 1-point gap can be noise, and the reader should see how much evidence a flag carries. And when the `idg`
baseline itself is within a few points of chance (1 / classes), there is no signal to compare: the verdict says so
instead of flagging noise around 10%.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.records import ACCURACY_SUBFOLDER, RUNS_FILE, read_records
from bench.report import records_frame

PARITY_POINTS = 0.01
CHANCE_MARGIN = 0.05  # a baseline within 5 points of chance has learned too little to judge parity against


def welch_p_value(a: Any, b: Any) -> float:
    """Two-sided Welch t-test p-value for equal means; NaN with fewer than 2 values on a side or no spread."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        return float("nan")
    from scipy import stats

    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def accuracy_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (workload, pipeline, knobs, data, epochs) over seeds, with the parity verdict."""
    frame = records_frame(records)
    if frame.empty or frame["val_accuracy"].isna().all():
        return pd.DataFrame()
    frame = frame[frame["val_accuracy"].notna()].copy()
    frame["augment"] = frame["augment"].fillna("seed")
    keys = ["workload", "pipeline", "knobs_label", "augment", "data_kind", "data_source", "epochs", "batch_size"]
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
            & (table["pipeline"] == "idg")
            & (table["knobs_label"] == "default")
            & (table["augment"] == row["augment"])
            & (table["data_source"] == row["data_source"])
            & (table["epochs"] == row["epochs"])
        ]
        return None if base.empty else base.iloc[0]

    def at_chance(b: pd.Series) -> bool:
        return not pd.isna(b["chance"]) and b["acc_mean"] < b["chance"] + CHANCE_MARGIN

    def compare(row: pd.Series) -> tuple[str, float]:
        """(parity verdict, Welch p-value) of one row against its idg baseline, looked up once."""
        b = baseline_of(row)
        if b is None:
            return "no idg baseline", float("nan")
        if row["pipeline"] == "idg" and row["knobs_label"] == "default":
            return (f"baseline (at chance, {b['chance'] * 100:.0f}%)" if at_chance(b) else "baseline"), float("nan")
        p_value = welch_p_value(row["accuracies"], b["accuracies"])
        if at_chance(b):
            return "no verdict: idg at chance", p_value
        low = min(b["acc_min"], b["acc_mean"] - PARITY_POINTS)
        high = max(b["acc_max"], b["acc_mean"] + PARITY_POINTS)
        if low <= row["acc_mean"] <= high:
            return "parity", p_value
        direction = "below" if row["acc_mean"] < low else "above"
        gap = abs(row["acc_mean"] - b["acc_mean"]) * 100
        return f"FLAGGED ({direction} idg by {gap:.1f} pts)", p_value

    table[["parity", "p_welch"]] = table.apply(compare, axis=1, result_type="expand")
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
    out["parity vs idg"] = table["parity"]
    out["p (Welch)"] = table["p_welch"].map(lambda v: "-" if pd.isna(v) else f"{v:.2f}")
    return out


def accuracy_records_path(results_dir: Path) -> Path:
    """`results_dir/accuracy/runs.jsonl` (where `bench matrix accuracy` writes), else `results_dir/runs.jsonl`."""
    sweep = Path(results_dir) / ACCURACY_SUBFOLDER / RUNS_FILE
    return sweep if sweep.exists() else Path(results_dir) / RUNS_FILE


def build_accuracy_report(results_dir: Path, plots: bool = True) -> str:
    """Writes `accuracy.md`, `accuracy.csv` and `accuracy_vs_time.png` in `results_dir`; returns the table."""
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
        table.to_csv(results_dir / "accuracy.csv", index=False)
    document = (
        "# Accuracy parity and time-to-accuracy\n\n"
        f"Generated by `python -m bench report --accuracy` from `{path.relative_to(results_dir).as_posix()}`. "
        "Validation accuracy is measured on the held-out split after the last epoch (never augmented); time to "
        "target counts training time only (evaluation excluded). A pipeline is at *parity* when its mean accuracy "
        "is inside the `idg` seeds' range, widened to at least +-1 point around the `idg` mean. `p (Welch)` is the "
        "two-sided Welch t-test p-value of that pipeline's seeds against the `idg` seeds: a flag with a large p is "
        "a gap the seeds cannot tell from noise. When `idg` is within 5 points of chance, no "
        "verdict is given.\n\n" + text + "\n"
    )
    if not table.empty:
        document += "\n![accuracy vs time](accuracy_vs_time.png)\n"
    if plots and not table.empty:
        import matplotlib.pyplot as plt

        from bench.plots import accuracy_vs_time_figure

        figure = accuracy_vs_time_figure(records)
        figure.savefig(results_dir / "accuracy_vs_time.png", dpi=110)
        plt.close(figure)
    (results_dir / "accuracy.md").write_text(document)
    return text
