"""The loaders table: ratios come from the rates of one run (the newest), never across runs."""

from __future__ import annotations

from bench.sweep.loaders import DECODE_ONLY, loaders_markdown, loaders_table


def _record(run_id: str, pipeline: str, rate: float, started: float) -> dict:
    return {"run_id": run_id, "pipeline": pipeline, "pipeline_images_per_sec": rate, "first_batch_sec": 0.5,
            "started": started, "workload": "imagenette", "data": "real", "machine": "m", "batch_size": 32,
            "batches": 10}  # fmt: skip


def test_ratios_are_of_the_newest_runs_own_rates() -> None:
    old = [_record("a", DECODE_ONLY, 100.0, 1), _record("a", "idg", 1.0, 2), _record("a", "grain", 50.0, 3)]
    new = [_record("b", DECODE_ONLY, 4000.0, 10), _record("b", "idg", 200.0, 11), _record("b", "grain", 600.0, 12)]
    table = loaders_table(old + new).set_index("loader")
    assert list(table.index) == [DECODE_ONLY, "idg", "grain"]
    assert table.loc["grain", "x idg"] == 3.0 and table.loc["grain", "of decode-only"] == 0.15
    assert table.loc["idg", "x idg"] == 1.0


def test_the_markdown_carries_the_note() -> None:
    records = [_record("b", DECODE_ONLY, 4000.0, 10), _record("b", "idg", 200.0, 11)]
    assert "the machine was shared" in loaders_markdown(records, "the machine was shared")
