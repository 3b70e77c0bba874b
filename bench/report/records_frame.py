"""Records as a DataFrame, with the derived columns every table groups and matches by.

A row's *role* (baseline, candidate, ceiling) comes from its record, or for an older record from the pipeline
registry. Its knobs are labelled by what they change: `model_label`, the knobs that change the training step
(backend, compile path, precision, ... and augmentation on the device), which a ceiling and a baseline must share
with a row to be compared with it; `pipeline_label`, the rest (which a reference row leaves at default);
`input_label`, every input knob, and `step_label`, every training knob but the backend (the knob analysis keeps
these two apart).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from bench.knobs import all_knobs, knobs_label
from bench.records import RunRecord
from bench.run.stage_costs import slowest_stage
from bench.run.stall import consistency_problems
from imgcls.options import TRAINING
from imgcls.pipelines import role_of

# Rows that can be compared with each other share all of these (and their model label).
DATA_KEYS = ["workload", "augment", "batch_size", "data_kind", "data_source"]


def shapes_model(name: str) -> bool:
    """Whether knob `name` changes the training step; a name no longer declared counts as one that does."""
    item = all_knobs().get(name)
    return item is None or item.shapes_model


def model_label(knobs: dict[str, Any] | None) -> str:
    return knobs_label({k: v for k, v in (knobs or {}).items() if shapes_model(k)})


def is_training_knob(name: str) -> bool:
    item = all_knobs().get(name)
    return item is None or item.kind == TRAINING


def step_label(knobs: dict[str, Any] | None) -> str:
    """The training knobs other than the backend (which the analysis groups by instead): what the knob analysis
    credits to training, never to the pipeline. Input knobs that move work into the model (`augment_on`) stay
    with the pipeline."""
    return knobs_label({k: v for k, v in (knobs or {}).items() if is_training_knob(k) and k != "backend"})


def input_label(knobs: dict[str, Any] | None) -> str:
    """The input knobs (the pipeline's options, and where augmentation runs)."""
    return knobs_label({k: v for k, v in (knobs or {}).items() if not is_training_knob(k)})


def pipeline_label(knobs: dict[str, Any] | None) -> str:
    """The knobs that change only the pipeline (not the training step): what a reference row must leave default."""
    return knobs_label({k: v for k, v in (knobs or {}).items() if not shapes_model(k)})


def records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Successful records as a DataFrame with the derived label columns the tables group by."""
    frame = pd.DataFrame([r for r in records if r.get("status") == "ok"])
    if frame.empty:
        return frame
    for name in (f.name for f in dataclasses.fields(RunRecord)):
        if name not in frame.columns:  # records from an older schema lack newer fields
            frame[name] = None
    pairs = zip(frame["pipeline_role"], frame["pipeline"], strict=True)
    frame["role"] = [role if isinstance(role, str) else role_of(name) for role, name in pairs]
    frame["knobs_label"] = frame["knobs"].apply(knobs_label)
    frame["model_label"] = frame["knobs"].apply(model_label)
    frame["input_label"] = frame["knobs"].apply(input_label)
    frame["pipeline_label"] = frame["knobs"].apply(pipeline_label)
    frame["step_label"] = frame["knobs"].apply(step_label)
    frame["backend"] = frame["backend"].fillna("tensorflow")
    frame["augment"] = frame["augment"].fillna("seed")
    frame["checks"] = [_checks(row) for row in frame.to_dict("records")]
    # Derived from the raw stage rates, so the rule can improve without re-running anything.
    frame["slowest_stage"] = frame["stage_images_per_sec"].apply(
        lambda rates: slowest_stage(rates) if isinstance(rates, dict) and rates else None
    )
    return frame


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and value == value else None


def _checks(record: dict[str, Any]) -> list[str]:
    """The invariants a record breaks, derived from its numbers (so a record older than the checks is checked too;
    before `ceiling_kind` the one ceiling was a constant host batch: the fed ceiling)."""
    device_kind = record.get("ceiling_kind") == "device"
    ceiling, spread = _number(record.get("ceiling_images_per_sec")), _number(record.get("ceiling_spread_pct"))
    return consistency_problems(
        e2e=_number(record.get("train_images_per_sec")),
        e2e_spread_pct=_number(record.get("train_spread_pct")),
        device=ceiling if device_kind else None,
        device_spread_pct=spread if device_kind else None,
        fed=_number(record.get("fed_ceiling_images_per_sec")) if device_kind else ceiling,
        fed_spread_pct=_number(record.get("fed_ceiling_spread_pct")) if device_kind else spread,
        pipeline_only=_number(record.get("pipeline_images_per_sec")),
        is_ceiling_pipeline=record.get("role") == "ceiling",
    )
