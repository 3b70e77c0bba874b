"""Which knob matters: the knob analysis and the tf.data service scaling table, from a `summarize` table.

Input knobs and training knobs are analysed apart. The *best pipeline* is the fastest candidate configuration
with the training step at its defaults (only input knobs differ), compared with the baseline on that same step;
the *best training knob* is the largest gain a training-step change gives the tuned candidate. Crediting bfloat16
to tf.data would tell a user to rewrite an input pipeline for a gain that came from the model. Nothing is called
best from single runs: a winner is crowned only when its interval over repeats clears the noise.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from tabulate import tabulate

from imgcls.pipelines import BASELINE, CANDIDATE, CEILING, pipeline_specs

ABLATION_NOISE = 0.03  # a one-knob change costing less than this is run-to-run noise on a shared machine


def _tuned_names() -> set[str]:
    return {spec.name for spec in pipeline_specs() if spec.tuned}


def _verdict(knobs: str | None, change: float, what: str) -> str | None:
    if knobs is None:
        return None
    if abs(change) <= ABLATION_NOISE:
        return f"no {what} changes it by > {ABLATION_NOISE:.0%}"
    return f"{knobs}: {change:+.0%}"


def _unconfirmed(row: pd.Series, reference: pd.Series) -> str | None:
    """Why a lead of `row` over `reference` is not confirmed, or None when it is: over repeats, the slowest run of
    `row` must beat the fastest of `reference` by more than the noise. A single run has no interval."""
    if min(row["runs"], reference["runs"]) < 2:
        return "1 run: unconfirmed"
    if row["images_per_sec_min"] / reference["images_per_sec_max"] - 1 <= ABLATION_NOISE:
        return "within the runs' spread: unconfirmed"
    return None


def _gain_verdict(knobs: str | None, row: pd.Series | None, reference: pd.Series | None, what: str) -> str | None:
    """A gain is crowned only when its interval clears the noise (`_unconfirmed`); otherwise its number is shown,
    marked unconfirmed. When even the best change costs more than the noise, none gains: it says so."""
    if knobs is None or row is None or reference is None:
        return None
    change = row["images_per_sec"] / reference["images_per_sec"] - 1
    if change < -ABLATION_NOISE:
        return f"no {what} gains > {ABLATION_NOISE:.0%}"
    if change <= ABLATION_NOISE:
        return f"no {what} changes it by > {ABLATION_NOISE:.0%}"
    why = _unconfirmed(row, reference)
    return f"{knobs}: {change:+.0%}" + (f" ({why})" if why else "")


def _pipeline_name(row: pd.Series) -> str:
    return f"{row['pipeline']} {row['input_label']}"


def _best_pipeline(candidates: pd.DataFrame) -> tuple[pd.Series | None, str | None]:
    """The fastest candidate configuration and its verdict: crowned (its name alone) only when it leads the
    runner-up beyond the noise over repeats (`_unconfirmed`); else its lead is shown, marked unconfirmed."""
    if not len(candidates):
        return None, None
    ranked = candidates.sort_values("images_per_sec", ascending=False, kind="stable")
    best, name = ranked.iloc[0], _pipeline_name(ranked.iloc[0])
    if len(ranked) == 1:
        return best, name  # the only candidate measured: there is no other to beat
    runner_up = ranked.iloc[1]
    lead = best["images_per_sec"] / runner_up["images_per_sec"] - 1
    if lead <= ABLATION_NOISE:
        return best, f"{name} (within {ABLATION_NOISE:.0%} of {_pipeline_name(runner_up)}: unconfirmed)"
    why = _unconfirmed(best, runner_up)
    return best, name if why is None else f"{name} ({lead:+.0%} over {_pipeline_name(runner_up)}, {why})"


def knob_analysis(table: pd.DataFrame) -> pd.DataFrame:
    """Per workload and data: baseline, tuned candidate and ceiling; the best pipeline; knob effects.

    - `best pipeline`: the fastest candidate with default training knobs, and its gain over the baseline; crowned
      only when it leads the runner-up candidate beyond the noise over repeats, else shown with its lead, marked
      unconfirmed (`_best_pipeline`);
    - `costliest input change` / `best input change`: among one-input-knob changes of the tuned candidate, the one
      that costs most (the preset setting that matters most) and the one that gains most (what to change), or a
      no-effect verdict within `ABLATION_NOISE`;
    - `best training knob`: among training-knob changes of the tuned candidate, the largest gain;
    - a gain (best input change, best training knob) is crowned only when its interval over repeats clears the
      noise (`_gain_verdict`), else it is marked unconfirmed: a single run has no interval;
    - `tuned of ceiling`, `tuned/baseline pipeline-only`: the targets the README states.
    """
    tuned_names = _tuned_names()
    rows = []
    for (workload, data, backend), group in table.groupby(["workload", "data_source", "backend"], sort=False):
        plain = group[(group["step_label"] == "default") & (group["augment"] == "seed")]

        def first(frame: pd.DataFrame) -> pd.Series | None:
            return frame.iloc[0] if len(frame) else None

        defaults = plain[plain["input_label"] == "default"]  # the presets as they ship: host augmentation
        baseline = first(defaults[defaults["role"] == BASELINE])
        ceiling = first(defaults[defaults["role"] == CEILING])
        tuned = first(defaults[defaults["pipeline"].isin(tuned_names)])
        best, best_verdict = _best_pipeline(plain[plain["role"] == CANDIDATE])

        costliest, cost, helpful, top = None, np.nan, None, None
        ablations = plain[plain["pipeline"].isin(tuned_names) & (plain["input_label"] != "default")]
        if tuned is not None and len(ablations):
            worst = ablations.loc[ablations["images_per_sec"].idxmin()]
            costliest, cost = worst["input_label"], min(0.0, worst["images_per_sec"] / tuned["images_per_sec"] - 1)
            top = ablations.loc[ablations["images_per_sec"].idxmax()]
            helpful = top["input_label"]

        training, trained, untrained = _best_training_knob(
            group[group["pipeline"].isin(tuned_names) & (group["augment"] == "seed")]
        )

        def ratio(a: pd.Series | None, b: pd.Series | None, column: str = "images_per_sec") -> float:
            return float(a[column] / b[column]) if a is not None and b is not None else np.nan

        def value(row: pd.Series | None, column: str = "images_per_sec") -> float:
            return row[column] if row is not None else np.nan

        rows.append(
            {
                "workload": workload,
                "data": data,
                "backend": backend,
                "baseline img/s": value(baseline),
                "tuned img/s": value(tuned),
                "ceiling img/s": value(ceiling),
                "best pipeline": best_verdict,
                "best / baseline": ratio(best, baseline),
                "costliest input change": _verdict(costliest, cost, "input knob"),
                "best input change": _gain_verdict(helpful, top, tuned, "input knob"),
                "best training knob": _gain_verdict(training, trained, untrained, "training knob"),
                "tuned of ceiling": ratio(tuned, ceiling),
                "tuned/baseline pipeline-only": ratio(tuned, baseline, "pipeline_images_per_sec"),
                "tuned slowest stage": value(tuned, "slowest_stage") if tuned is not None else None,
            }
        )
    return pd.DataFrame(rows)


def _best_training_knob(rows: pd.DataFrame) -> tuple[str | None, pd.Series | None, pd.Series | None]:
    """The training-knob change with the largest gain, each against the row with the same input knobs and the
    default training step (so a knob measured with augmentation on the device is compared on the device): its
    label, its row and that reference row."""
    best, row_of_best, reference_of_best, gain = None, None, None, np.nan
    references = rows[rows["step_label"] == "default"].drop_duplicates("input_label").set_index("input_label")
    for _, row in rows[rows["step_label"] != "default"].iterrows():
        if row["input_label"] not in references.index:
            continue
        reference = references.loc[row["input_label"]]
        change = row["images_per_sec"] / reference["images_per_sec"] - 1
        if best is None or change > gain:
            context = "" if row["input_label"] == "default" else f" (with {row['input_label']})"
            best, row_of_best, reference_of_best, gain = row["step_label"] + context, row, reference, change
    return best, row_of_best, reference_of_best


def analysis_text(table: pd.DataFrame) -> str:
    if table.empty:
        return ""
    frame = knob_analysis(table)
    frame = frame.astype(object).where(frame.notna(), None)  # tabulate shows None as '-', NaN as 'nan'
    # Rates as every other table prints them (whole images/s); ratios to two decimals, as `x baseline`.
    formats = [",.0f" if column.endswith("img/s") else ",.2f" for column in frame.columns]
    return tabulate(frame, headers="keys", tablefmt="github", showindex=False, floatfmt=formats, missingval="-")


def service_scaling(table: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of a pipeline with a `service` option: throughput against its workers, beside the tuned local
    pipeline and the ceiling of the same workload and data."""
    has_service = {p for p, options in zip(frame["pipeline"], frame["pipeline_options"], strict=True)
                   if isinstance(options, dict) and "service" in options}  # fmt: skip
    tuned_names = _tuned_names()
    rows = []
    for (workload, data), group in table.groupby(["workload", "data_source"], sort=False):
        service = group[group["pipeline"].isin(has_service)]
        if service.empty:
            continue
        plain = group[(group["input_label"] == "default") & (group["step_label"] == "default")]
        ceiling = plain[plain["role"] == CEILING]
        local = plain[plain["pipeline"].isin(tuned_names)]
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
                    "local tuned pipeline-only img/s": local["pipeline_images_per_sec"].iloc[0] if len(local) else None,
                    "local tuned e2e img/s": local["images_per_sec"].iloc[0] if len(local) else None,
                    "ceiling img/s": ceiling["images_per_sec"].iloc[0] if len(ceiling) else None,
                }
            )
    result = pd.DataFrame(rows)
    return result.sort_values(["workload", "workers"]) if not result.empty else result
