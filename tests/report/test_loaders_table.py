"""The loaders table: ratios come from the rates of one run (the newest) and one backend's process, never across
them; the adapter's cost is the own-type rate against the via-Keras rate of the same loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.records import read_records
from bench.sweep.loaders import DECODE_ONLY, loaders_markdown, loaders_table, main


def _record(
    run_id: str, pipeline: str, rate: float, started: float, backend: str = "tensorflow", via: float | None = None
) -> dict:
    return {"run_id": run_id, "pipeline": pipeline, "pipeline_images_per_sec": rate, "first_batch_sec": 0.5,
            "keras_images_per_sec": via if pipeline != DECODE_ONLY else None, "backend": backend,
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
    assert table.loc["grain", "adapter cost %"] == 25  # 1 - 600 / 800
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
    assert table.loc[("tfdata", "jax"), "adapter cost %"] == 50
    assert table.loc[("tfdata", "jax"), "of decode-only"] == 0.25


def test_records_from_before_the_backend_column_read_as_tensorflow() -> None:
    records = [_record("a", DECODE_ONLY, 100.0, 1), _record("a", "idg", 10.0, 2)]
    for record in records:
        del record["backend"], record["keras_images_per_sec"]
    table = loaders_table(records)
    assert set(table["backend"]) == {"tensorflow"} and table["adapter cost %"].isna().all()


def test_the_markdown_carries_the_note() -> None:
    records = [_record("b", DECODE_ONLY, 4000.0, 10), _record("b", "idg", 200.0, 11, via=190.0)]
    assert "the machine was shared" in loaders_markdown(records, "the machine was shared")


@pytest.mark.slow
def test_every_installed_loader_is_measured_both_ways_in_a_backends_own_process(
    jpeg_tree: Path, tmp_path: Path
) -> None:
    from imgcls.pipelines import BASELINE, CANDIDATE, pipeline_specs, workload_pipelines

    table_file = tmp_path / "loaders.md"
    argv = ["--data-dir", str(jpeg_tree.parent), "--backends", "tensorflow", "--limit", "40", "--batches", "3",
            "--results", str(tmp_path), "--table", str(table_file)]  # fmt: skip
    assert main(argv) == 0
    table = loaders_table(read_records(tmp_path / "loaders.jsonl"))
    expected = {s.name for s in pipeline_specs() if s.role in (BASELINE, CANDIDATE) and not s.missing()}
    assert set(table["loader"]) == {DECODE_ONLY, *(expected & set(workload_pipelines()))}
    loaders = table[table["loader"] != DECODE_ONLY]
    assert (loaders["via Keras img/s"] > 0).all() and set(loaders["backend"]) == {"tensorflow"}
    assert "adapter cost" in table_file.read_text()
