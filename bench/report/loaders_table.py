"""The loaders table (`RESULTS/loaders.md`): each loader x storage x backend, pipeline only and end to end.

Pipeline-only rates come from `bench.sweep.loaders`' records (one process per backend; the newest run); end-to-end
rates and input-bound % from the `loaders` sweep's run records (each a fresh `bench run` of the same loader, data
and backend: the newest ok record per loader and backend, folder storage, default knobs). Ratios are taken within
one backend's process (`x BASELINE`, `of decode-only`) or within one sweep (`e2e x BASELINE`), never across them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from bench.report.comparison import input_bound_text
from bench.report.records_frame import records_frame
from bench.run.stage_costs import stage_costs
from bench.run.stall import UNRELIABLE_SPREAD_PCT, spread_pct
from bench.sweep.loaders import DECODE_ONLY, FOLDER, LOADERS_FILE, LOADERS_SPEC

Records = Sequence[dict[str, Any]]


def newest_run(records: Records) -> pd.DataFrame:
    frame = pd.DataFrame(list(records))
    defaults = {"backend": "tensorflow", "keras_images_per_sec": None, "storage": FOLDER}  # older records
    for column, value in defaults.items():
        if column not in frame:
            frame[column] = value
    frame["storage"] = frame["storage"].fillna(FOLDER)
    return frame[frame["run_id"] == frame.sort_values("started")["run_id"].iloc[-1]]


def end_to_end(runs: Records) -> pd.DataFrame:
    """The newest ok run per (loader, backend) with no knob set but the backend, augmenting on the host."""
    frame = records_frame(list(runs))
    if frame.empty:
        return pd.DataFrame(columns=["pipeline", "backend"])
    only_backend = frame["knobs"].apply(lambda knobs: not set(knobs or {}) - {"backend"})
    frame = frame[only_backend & (frame["augment"] == "seed")]
    frame = frame.sort_values("started_at").groupby(["pipeline", "backend"], sort=False).tail(1)
    return frame.set_index(["pipeline", "backend"])


def loaders_table(records: Records, runs: Records = (), baseline: str = "idg") -> pd.DataFrame:
    """The newest pipeline-only run's rows, one per loader, storage and backend, with the end-to-end columns of the
    matching sweep run where there is one (folder storage only: the sweep trains from the folder).

    `x BASELINE` and `of decode-only` divide the rates a model is fed (via Keras; a loader's own type where it was
    not measured through Keras) within one backend's process; `adapter cost` is `1 - via Keras / own type`, said
    `< noise (N%)` when smaller than the spread of the rounds' rates (the routes alternate; records without rounds
    show the number alone).
    """
    if not records:
        return pd.DataFrame()
    e2e = end_to_end(runs)
    rows = []
    for backend, group in newest_run(records).groupby("backend", sort=False):
        fed = {
            (r["pipeline"], r["storage"]): r["keras_images_per_sec"]
            if pd.notna(r["keras_images_per_sec"])
            else r["pipeline_images_per_sec"]
            for r in group.to_dict("records")
        }
        base_rate, decode_rate = fed.get((baseline, FOLDER)), fed.get((DECODE_ONLY, FOLDER))
        base_e2e = _e2e_rate(e2e, baseline, backend)
        for r in group.to_dict("records"):
            name, storage = r["pipeline"], r["storage"]
            own, via, rate = r["pipeline_images_per_sec"], r["keras_images_per_sec"], fed[(name, storage)]
            trained = e2e.loc[(name, backend)] if storage == FOLDER and (name, backend) in e2e.index else None
            rows.append(
                {
                    "loader": name,
                    "storage": storage,
                    "backend": backend,
                    "own type img/s": round(own),
                    "via Keras img/s": round(via) if pd.notna(via) else None,
                    "adapter cost %": adapter_cost_text(r) if pd.notna(via) else None,
                    f"x {baseline}": round(rate / base_rate, 2) if base_rate else None,
                    "of decode-only": round(rate / decode_rate, 2) if decode_rate else None,
                    "e2e img/s": round(trained["train_images_per_sec"]) if trained is not None else None,
                    f"e2e x {baseline}": _ratio(trained, base_e2e),
                    "input-bound %": (
                        input_bound_text(trained["input_bound_pct"], trained["ceiling_spread_pct"])
                        if trained is not None
                        else None
                    ),
                }
            )
    return pd.DataFrame(rows)


def adapter_cost_text(record: dict[str, Any]) -> str:
    """`1 - via Keras / own type` in percent, or `< noise (N%)` within the larger of the two routes' spreads; rounds
    that spread by more than `UNRELIABLE_SPREAD_PCT` support no claim, and the cost is printed with a `?`."""
    cost = 100 * (1 - record["keras_images_per_sec"] / record["pipeline_images_per_sec"])
    spreads = [spread_pct(record.get(rates) or []) for rates in ("pipeline_rates", "keras_rates")]
    noise = max(spread or 0.0 for spread in spreads)  # records without rounds: no spread, the number alone
    if noise > UNRELIABLE_SPREAD_PCT:
        return f"{cost:.0f}? (rounds spread {noise:.0f}%: unreliable)"
    return f"< noise ({noise:.0f}%)" if abs(cost) < noise else f"{cost:.0f}"


def _e2e_rate(e2e: pd.DataFrame, name: str, backend: str) -> float | None:
    return float(e2e.loc[(name, backend), "train_images_per_sec"]) if (name, backend) in e2e.index else None


def _ratio(trained: pd.Series | None, base: float | None) -> float | None:
    return round(float(trained["train_images_per_sec"]) / base, 2) if trained is not None and base else None


def stage_sentence(runs: Records, loader: str = "tfdata", backend: str = "tensorflow") -> str:
    """Where `loader`'s host time goes, from its end-to-end run's stage prefixes: each stage's ms per image and the
    rate the host work bounds it to on one core (the gap to a faster loader is explained by these numbers)."""
    e2e = end_to_end(runs)
    if (loader, backend) not in e2e.index:
        return ""
    rates = e2e.loc[(loader, backend), "stage_images_per_sec"]
    costs = stage_costs(rates) if isinstance(rates, dict) else {}
    if not costs:
        return ""
    parts = ", ".join(f"{name} {1e3 * sec:.2f}" for name, sec in costs.items())
    total = sum(costs.values())
    return (
        f"`{loader}`'s stage costs ({backend} run, each growing prefix of its graph timed alone with the graph's own "
        f"parallelism, ms of wall time per image): {parts}; {1e3 * total:.2f} ms per image in all, which bounds it "
        f"to {1 / total:,.0f} img/s on this machine."
    )


def baseline_of(records: Records) -> str:
    """The baseline loader the newest run measured (recorded by the sweep; `idg` for records from before)."""
    return next((r["baseline"] for r in reversed(list(records)) if r.get("baseline")), "idg")


def shown_table(table: pd.DataFrame) -> pd.DataFrame:
    """Whole numbers as such, and `-` for what was not measured (a limit feeds no model; shards are not trained)."""
    shown = table.astype(object).where(table.notna(), "-")
    for column in ("own type img/s", "via Keras img/s", "e2e img/s"):
        if column in shown:
            shown[column] = shown[column].map(lambda v: f"{v:,.0f}" if isinstance(v, int | float) else v)
    return shown


def loaders_markdown(records: Records, runs: Records = ()) -> str:
    """The whole document, a function of the records alone (so a test can regenerate the committed one)."""
    baseline = baseline_of(records)
    table = loaders_table(records, runs, baseline)
    first = next((r for r in reversed(list(records)) if r.get("storage", FOLDER) == FOLDER), {})
    head = (
        f"# Loaders x storage x backends: {first.get('workload')} on {first.get('data')}\n\n"
        f"Generated by `python -m bench loaders` from `{LOADERS_FILE}` (pipeline only, newest run) and "
        f"`{LOADERS_SPEC}/runs.jsonl` (end to end: the `{LOADERS_SPEC}` sweep, a fresh `bench run` per loader and "
        f"backend); machine: {first.get('machine')}; batch {first.get('batch_size')}, {first.get('batches')} "
        f"batches per loader and route (the first timed apart), one process per backend. Each loader at its preset "
        f"options, the workload's augmentation on the host. `own type`: the loader's stream as it yields it; "
        f"`via Keras`: through the data adapter and iterator that backend's trainer uses; `adapter cost`: the share "
        f"of the own-type rate lost on the way in; `x {baseline}` and `of decode-only` compare the rates a model is "
        f"fed (via Keras) within one backend's process; `storage`: the JPEG folder or `bench prepare`'s shards of "
        f"the same files; `e2e`: training the workload's model, `input-bound %` against the device ceiling.\n\n"
    )
    stages = stage_sentence(runs)
    shown = shown_table(table)
    return head + shown.to_markdown(index=False) + "\n" + (f"\n{stages}\n" if stages else "")
