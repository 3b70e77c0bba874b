"""Every committed table, and every number in the README, is what the commands make of the committed records.

`results/` (this CPU) and `results/gpu/` (a GPU machine) are regenerated in a temporary folder and compared byte for
byte; README.md's generated blocks are re-rendered from `results/`. A stale file fails with the command to run.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from bench.records import read_records
from bench.report.accuracy_parity import build_accuracy_report
from bench.report.document import BENCHMARKS_FILE, build_report
from bench.report.loaders_table import loaders_markdown
from bench.report.readme_blocks import BLOCK, render
from bench.sweep.cache_payoff import CACHE_FILE
from bench.sweep.core_scaling import SCALING_FILE
from bench.sweep.loaders import LOADERS_FILE, LOADERS_SPEC

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results"
RECORD_FILES = ["runs.jsonl", BENCHMARKS_FILE, SCALING_FILE, CACHE_FILE]


def _copy(names: list[str], source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        if (source / name).exists():
            shutil.copy(source / name, target / name)


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["results", "results/gpu"])
def test_results_readme_matches_the_committed_records(folder: str, tmp_path: Path) -> None:
    source = ROOT / folder
    if not (source / "runs.jsonl").exists():
        pytest.skip(f"no committed records in {folder}")
    _copy(RECORD_FILES, source, tmp_path)
    _copy(["runs.jsonl"], source / "accuracy", tmp_path / "accuracy")
    build_report(tmp_path, plots=True, command=f"python -m bench report --results {folder}")
    assert (tmp_path / "README.md").read_text() == (source / "README.md").read_text(), (
        f"{folder}/README.md is stale: regenerate it with `python -m bench report --results {folder}`"
    )
    assert (tmp_path / "report.csv").read_text() == (source / "report.csv").read_text()


@pytest.mark.skipif(not (RESULTS / "accuracy" / "runs.jsonl").exists(), reason="no committed accuracy records")
def test_accuracy_table_matches_the_committed_records(tmp_path: Path) -> None:
    _copy(["runs.jsonl"], RESULTS / "accuracy", tmp_path / "accuracy")
    build_accuracy_report(tmp_path, plots=False)
    assert (tmp_path / "accuracy.md").read_text() == (RESULTS / "accuracy.md").read_text(), (
        "results/accuracy.md is stale: regenerate it with `python -m bench report --accuracy --results results`"
    )
    assert (tmp_path / "accuracy.csv").read_text() == (RESULTS / "accuracy.csv").read_text()


@pytest.mark.skipif(not (RESULTS / LOADERS_FILE).exists(), reason="no committed loader records")
def test_loaders_table_matches_the_committed_records() -> None:
    runs = read_records(RESULTS / LOADERS_SPEC / "runs.jsonl")
    assert loaders_markdown(read_records(RESULTS / LOADERS_FILE), runs) == (RESULTS / "loaders.md").read_text(), (
        "results/loaders.md is stale: rerun `python -m bench loaders --results results` (it resumes its records)"
    )


def test_readme_numbers_are_generated_from_the_committed_records() -> None:
    text = (ROOT / "README.md").read_text()
    assert {m.group("name") for m in BLOCK.finditer(text)} >= {"sample", "gpu", "scaling", "layout"}
    assert render(text, RESULTS) == text, "README.md is stale: regenerate its tables with `python -m bench readme`"


def test_every_source_path_the_readme_names_exists() -> None:
    """Prose outside the generated blocks names files too (`bench/gate/rules.py has the margins`)."""
    named = set(re.findall(r"\b((?:bench|imgcls|tests)/[\w/]+\.py)\b", (ROOT / "README.md").read_text()))
    assert named and sorted(path for path in named if not (ROOT / path).exists()) == []


def _doctor_rows() -> list[list[str]]:
    text = (RESULTS / "doctor" / "README.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]  # the table body: a folder a row
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in rows]


@pytest.mark.skipif(not (RESULTS / "doctor" / "README.md").exists(), reason="no committed doctor consultations")
def test_the_doctor_index_states_what_each_consultation_recorded() -> None:
    """results/doctor/README.md's commands, seconds and predicted/measured gains are the records' own."""
    rows = _doctor_rows()
    assert rows and {row[0].strip("`") for row in rows} == {
        p.name for p in (RESULTS / "doctor").iterdir() if p.is_dir()
    }
    for folder, command, shows, seconds in rows:
        (record,) = [json.loads(line) for line in (RESULTS / "doctor" / folder.strip("`") / "doctor.jsonl").open()]
        flags = dict(re.findall(r"--([\w-]+) ([\w:.]+)", command.strip("`")))
        assert (record["workload"], record["pipeline"]) == (flags["workload"], flags.get("pipeline", "tfdata"))
        assert int(seconds) == round(record["wall_sec"]), folder
        predicted = {round(fix["predicted_gain_pct"]) for fix in record["fixes"]}
        measured = {round(run["measured_gain_pct"]) for run in record["verified"] if run["measured_e2e"]}
        for pred, meas in re.findall(r"\+(\d+)%,? (?:measured |/ )\+(\d+)%", shows):
            assert int(pred) in predicted and int(meas) in measured, f"{folder}: +{pred}% / +{meas}%"
