"""The committed tables in results/ are what `python -m bench report` makes of the committed records (not stale)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.accuracy_report import build_accuracy_report
from bench.report import BENCHMARKS_FILE, build_report

RESULTS = Path(__file__).resolve().parent.parent / "results"


def _copy(names: list[str], source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        if (source / name).exists():
            shutil.copy(source / name, target / name)


@pytest.mark.skipif(not (RESULTS / "runs.jsonl").exists(), reason="no committed reference records")
def test_results_readme_matches_the_committed_records(tmp_path: Path) -> None:
    _copy(["runs.jsonl", BENCHMARKS_FILE], RESULTS, tmp_path)
    _copy(["runs.jsonl"], RESULTS / "accuracy", tmp_path / "accuracy")
    build_report(tmp_path, plots=False)
    assert (tmp_path / "README.md").read_text() == (RESULTS / "README.md").read_text(), (
        "results/README.md is stale: regenerate it with `python -m bench report`"
    )
    assert (tmp_path / "report.csv").read_text() == (RESULTS / "report.csv").read_text()


@pytest.mark.skipif(not (RESULTS / "accuracy" / "runs.jsonl").exists(), reason="no committed accuracy records")
def test_accuracy_table_matches_the_committed_records(tmp_path: Path) -> None:
    _copy(["runs.jsonl"], RESULTS / "accuracy", tmp_path / "accuracy")
    build_accuracy_report(tmp_path, plots=False)
    assert (tmp_path / "accuracy.md").read_text() == (RESULTS / "accuracy.md").read_text(), (
        "results/accuracy.md is stale: regenerate it with `python -m bench report --accuracy`"
    )
    assert (tmp_path / "accuracy.csv").read_text() == (RESULTS / "accuracy.csv").read_text()
