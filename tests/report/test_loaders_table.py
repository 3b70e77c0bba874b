"""The loaders table: ratios come from the rates of one run (the newest) and one backend's process, never across
them; the adapter's cost is the own-type rate against the via-Keras rate of the same loader; shard rows stand apart
from folder rows; end-to-end columns come from the matching sweep run."""

from __future__ import annotations

import pandas as pd

from bench.report.loaders_table import adapter_cost_text, loaders_markdown, loaders_table, stage_sentence
from bench.sweep.loaders import DECODE_ONLY
from tests.report.test_document import record as run_record


def _record(
    run_id: str,
    pipeline: str,
    rate: float,
    started: float,
    backend: str = "tensorflow",
    via: float | None = None,
    storage: str = "folder",
) -> dict:
    return {"run_id": run_id, "pipeline": pipeline, "pipeline_images_per_sec": rate, "first_batch_sec": 0.5,
            "keras_images_per_sec": via if pipeline != DECODE_ONLY else None, "backend": backend, "storage": storage,
            "started": started, "workload": "imagenette", "data": "real", "machine": "m", "batch_size": 32,
            "batches": 10}  # fmt: skip


def test_ratios_are_of_the_newest_runs_own_rates() -> None:
    old = [_record("a", DECODE_ONLY, 100.0, 1), _record("a", "idg", 1.0, 2, via=1.0), _record("a", "grain", 50, 3)]
    new = [
        _record("b", DECODE_ONLY, 4000.0, 10),
        _record("b", "idg", 200.0, 11, via=200.0),
        _record("b", "grain", 800.0, 12, via=600.0),
    ]
    table = loaders_table(old + new).set_index("loader")
    assert list(table.index) == [DECODE_ONLY, "idg", "grain"]
    assert table.loc["grain", "x idg"] == 3.0 and table.loc["grain", "of decode-only"] == 0.15  # via Keras: fed
    assert table.loc["grain", "adapter cost %"] == "25"  # 1 - 600 / 800
    assert table.loc["idg", "x idg"] == 1.0


def test_each_backend_is_compared_within_its_own_process() -> None:
    records = [
        _record("b", DECODE_ONLY, 4000.0, 1),
        _record("b", "idg", 200.0, 2, via=200.0),
        _record("b", "tfdata", 1000.0, 3, via=1000.0),
        _record("b", DECODE_ONLY, 2000.0, 4, backend="jax"),
        _record("b", "idg", 100.0, 5, backend="jax", via=100.0),
        _record("b", "tfdata", 1000.0, 6, backend="jax", via=500.0),
    ]
    table = loaders_table(records).set_index(["loader", "backend"])
    assert table.loc[("tfdata", "tensorflow"), "x idg"] == 5.0
    assert table.loc[("tfdata", "jax"), "x idg"] == 5.0  # 500 / 100, not 500 / 200
    assert table.loc[("tfdata", "jax"), "adapter cost %"] == "50"
    assert table.loc[("tfdata", "jax"), "of decode-only"] == 0.25


def test_records_from_before_the_backend_and_storage_columns_read_as_tensorflow_from_the_folder() -> None:
    records = [_record("a", DECODE_ONLY, 100.0, 1), _record("a", "idg", 10.0, 2)]
    for record in records:
        del record["backend"], record["keras_images_per_sec"], record["storage"]
    table = loaders_table(records)
    assert set(table["backend"]) == {"tensorflow"} and set(table["storage"]) == {"folder"}
    assert table["adapter cost %"].isna().all()


def test_an_adapter_cost_within_the_rounds_spread_is_said_to_be_noise() -> None:
    noisy = {**_record("b", "torch", 1000.0, 2, via=900.0), "pipeline_rates": [900.0, 1000.0, 1150.0],
             "keras_rates": [880.0, 900.0, 910.0]}  # fmt: skip
    clear = {**noisy, "keras_images_per_sec": 600.0, "keras_rates": [590.0, 600.0, 610.0]}
    assert adapter_cost_text(noisy) == "< noise (25%)"  # 10% against the own route's (1150 - 900) / 1000
    assert adapter_cost_text(clear) == "40"
    assert adapter_cost_text(_record("b", "torch", 1000.0, 2, via=900.0)) == "10"  # no rounds: the number alone


def test_an_adapter_cost_from_rounds_that_spread_past_half_the_rate_is_unreliable_not_noise() -> None:
    """A noise band wider than half the rate would hide any cost behind `< noise (104%)`: it claims nothing."""
    wild = {**_record("b", "tfdata-service", 800.0, 2, via=1200.0), "pipeline_rates": [500.0, 800.0, 1330.0],
            "keras_rates": [1190.0, 1200.0, 1210.0]}  # fmt: skip
    assert adapter_cost_text(wild) == "-50? (rounds spread 104%: unreliable)"


def test_shard_rows_stand_apart_and_are_compared_with_the_folder_baseline() -> None:
    records = [
        _record("b", DECODE_ONLY, 4000.0, 1),
        _record("b", "idg", 200.0, 2, via=200.0),
        _record("b", "tfdata", 1000.0, 3, via=1000.0),
        _record("b", "tfdata", 1200.0, 4, via=1100.0, storage="tfrecord"),
    ]
    table = loaders_table(records).set_index(["loader", "storage"])
    assert table.loc[("tfdata", "folder"), "x idg"] == 5.0
    assert table.loc[("tfdata", "tfrecord"), "x idg"] == 5.5  # 1100 / the folder's idg
    assert pd.isna(table.loc[("tfdata", "tfrecord"), "e2e img/s"])  # the sweep trains from the folder only


def test_end_to_end_columns_come_from_the_newest_matching_run() -> None:
    records = [
        _record("b", DECODE_ONLY, 4000.0, 1),
        _record("b", "idg", 200.0, 2, via=200.0),
        _record("b", "tfdata", 1000.0, 3, via=1000.0),
        _record("b", "tfdata", 900.0, 4, backend="jax"),
    ]
    runs = [
        run_record(
            "tfdata",
            90.0,
            workload="imagenette",
            started_at="2026-12-01T00:00:02",
            knobs={"backend": "jax"},
            backend="jax",
        ),
        run_record("idg", 100.0, workload="imagenette", started_at="2026-12-01T00:00:00", input_bound_pct=70.0),
        run_record("tfdata", 150.0, workload="imagenette", started_at="2026-12-01T00:00:01", input_bound_pct=50.0),
        run_record("tfdata", 300.0, workload="imagenette", started_at="2026-12-02T00:00:00", input_bound_pct=10.0),
        run_record("tfdata", 999.0, workload="imagenette", started_at="2026-12-03T00:00:00", knobs={"prefetch": None}),
    ]
    table = loaders_table(records, runs).set_index(["loader", "backend"])
    assert table.loc[("tfdata", "tensorflow"), "e2e img/s"] == 300  # newest default-knob run, not the ablation
    assert table.loc[("tfdata", "tensorflow"), "e2e x idg"] == 3.0
    assert table.loc[("tfdata", "tensorflow"), "input-bound %"] == "10"
    assert table.loc[("tfdata", "jax"), "e2e img/s"] == 90  # the backend is the one knob a loader's row may set


def test_the_markdown_names_the_baseline_the_sweep_recorded_and_the_tuned_pipelines_stage_costs() -> None:
    records = [_record("b", DECODE_ONLY, 4000.0, 10), _record("b", "idg", 200.0, 11, via=190.0)]
    stages = {"read": 10000.0, "decode": 2000.0, "augment": 1000.0}  # 0.1, then +0.4, then +0.5 ms per image
    runs = [run_record("tfdata", 300.0, workload="imagenette", started_at="t", stage_images_per_sec=stages)]
    records = [{**r, "baseline": "keras-layers"} for r in records] + [_record("b", "keras-layers", 100.0, 12, via=95)]
    text = loaders_markdown(records, runs)
    assert "x keras-layers" in text and "| -" in text and "nan" not in text
    sentence = stage_sentence(runs)
    assert "read 0.10, decode 0.40, augment 0.50" in sentence and "1.00 ms per image in all" in sentence
    assert "bounds it to 1,000 img/s" in sentence
    assert sentence in text
