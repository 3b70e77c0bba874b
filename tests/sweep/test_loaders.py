"""`bench loaders`: every installed loader measured pipeline-only (own type and via Keras) from the folder and from
each record format's shards, end to end through a fresh `bench run` each, and tabled; bad selections are one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli.parser import main
from bench.records import read_records
from bench.report.loaders_table import loaders_table
from bench.sweep.loaders import DECODE_ONLY, LOADERS_FILE, LOADERS_SPEC, baseline_loader, loader_names


def test_the_baseline_is_the_one_that_renders_the_workload() -> None:
    assert baseline_loader("imagenette") == "idg" and baseline_loader("imagenet-resnet50") == "keras-layers"
    assert "idg" in loader_names("imagenette") and "synthetic" not in loader_names("imagenette")
    assert "user" not in loader_names("imagenette")  # a user's pipeline brings its own data: not a loader


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--backends", "nope"], "--backends: nope not among the installed backends"),
        (["--loaders", "tfdata,nope"], "--loaders: nope not among the installed loaders"),
        (["--formats", "zip"], "--formats: zip not among the installed record formats"),
        (["--limit", "0"], "argument --limit: expected a positive integer"),
    ],
)
def test_a_bad_selection_is_one_line_before_anything_runs(
    flags: list[str], message: str, jpeg_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["loaders", "--data-dir", str(jpeg_tree.parent), "--results", str(tmp_path), *flags]
    try:
        code = main(argv)
    except SystemExit as exit_info:  # argparse's own one line for a value its type refuses
        code = exit_info.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / LOADERS_FILE).exists()


def test_a_folder_without_the_data_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["loaders", "--data-dir", str(tmp_path), "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "has no imagenette2* for imagenette" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_every_loader_and_storage_is_measured_both_ways_and_trained_end_to_end(jpeg_tree: Path, tmp_path: Path) -> None:
    pytest.importorskip("array_record", reason="the arrayrecord rows need array-record")
    argv = ["loaders", "--data-dir", str(jpeg_tree.parent), "--backends", "tensorflow", "--limit", "40", "--batches",
            "3", "--loaders", "idg,tfdata", "--formats", "tfrecord", "--results", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    runs = read_records(tmp_path / LOADERS_SPEC / "runs.jsonl")
    table = loaders_table(read_records(tmp_path / LOADERS_FILE), runs)
    rows = set(zip(table["loader"], table["storage"], strict=True))
    assert rows == {(DECODE_ONLY, "folder"), ("idg", "folder"), ("tfdata", "folder"), ("tfdata", "tfrecord")}
    loaders = table[table["loader"] != DECODE_ONLY]
    assert (loaders["via Keras img/s"] > 0).all() and set(loaders["backend"]) == {"tensorflow"}
    trained = table[table["storage"] == "folder"].set_index("loader")
    assert trained.loc["tfdata", "e2e img/s"] > 0 and trained.loc["idg", "e2e x idg"] == 1.0
    assert {r["pipeline"] for r in runs} == {"idg", "tfdata"} and all(r["status"] == "ok" for r in runs)
    text = (tmp_path / "loaders.md").read_text()
    assert "adapter cost" in text and "tfrecord" in text and "stage costs" in text
    assert main(argv + ["--no-e2e"]) == 0  # again, pipeline only: the end-to-end records stay as they were
    assert len(read_records(tmp_path / LOADERS_SPEC / "runs.jsonl")) == len(runs)
