"""bench.doctor.clinic's flow with the fresh-process runs replaced by canned records (no TF): what it verifies, in
which order, that a crashing fix is a recorded failure the doctor goes past, and what it writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import bench.doctor.clinic as clinic
from bench.config import RunConfig

BASE = {
    "status": "ok", "run_id": "base", "env": {"gpu_name": "H200"}, "train_images_per_sec": 200.0,
    "ceiling_images_per_sec": 2000.0, "fed_ceiling_images_per_sec": 1900.0, "pipeline_images_per_sec": 210.0,
    "stage_images_per_sec": {"source": 50_000.0, "augment": 220.0},
    "pipeline_options": {"map_parallel": None, "prefetch": None, "cache": "off"},
    "train_spread_pct": 2.0, "ceiling_spread_pct": 2.0, "fed_ceiling_spread_pct": 2.0, "inconsistent": [],
    "steps_per_execution": 1, "augment_on": "host", "fed_ceiling_input": "float32[128, 28, 28, 1]",
    "train_examples": 1000, "pipeline_output_size": [28, 28],
}  # fmt: skip


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[RunConfig]:
    """Every config the doctor runs; the first fix it verifies crashes, the others speed up."""
    seen: list[RunConfig] = []

    def fake_run(config: RunConfig, results_dir: Path, log: Path, timeout: float) -> dict[str, Any]:
        seen.append(config)
        if len(seen) == 1:
            return BASE
        if len(seen) == 2:
            return {"status": "failed", "error": "RuntimeError: planted crash", "run_id": f"r{len(seen)}"}
        return {**BASE, "run_id": f"r{len(seen)}", "train_images_per_sec": 200.0 * (1 + len(seen))}

    monkeypatch.setattr(clinic, "run_in_fresh_process", fake_run)
    monkeypatch.setattr(clinic, "_one_core_rate", lambda config, runs_dir: 205.0)
    return seen


def test_the_doctor_verifies_the_best_fixes_goes_past_a_crash_and_writes_its_report(
    runs: list[RunConfig], tmp_path: Path
) -> None:
    doc = clinic.run_doctor(RunConfig(workload="mnist", pipeline="tfdata-naive"), tmp_path, verify=2)
    assert runs[0].dispatch_probe_spe == 8 and runs[0].steps_per_epoch == clinic.DOCTOR_STEPS
    assert all(config.dispatch_probe_spe == 0 for config in runs[1:])  # the probe is the diagnosis's alone
    variants = [v["variant"] for v in doc["verified"]]
    assert variants[:2] == [f["fix"] for f in doc["fixes"][:2]] and " + " in variants[2]
    crashed = [v for v in doc["verified"] if v["error"]]
    assert crashed == [doc["verified"][0]] and "planted crash" in crashed[0]["error"]
    assert crashed[0]["measured_e2e"] is None and len(doc["verified"]) == 3  # it went on
    assert doc["prescription"]["variant"] == variants[2]  # the best measured
    assert doc["prescription"]["command"].startswith("python -m bench run --workload mnist --pipeline tfdata-naive")
    assert doc["cores_to_feed"] == {"1": 10, "8": 79, "64": 625}  # ceil(N * 2000 / 205)
    (line,) = (tmp_path / "doctor.jsonl").read_text().splitlines()
    assert json.loads(line)["verdict"] == doc["verdict"] == "input-bound"
    text = (tmp_path / "doctor.md").read_text()
    assert "planted crash" in text and "## Prescription" in text and doc["fixes"][0]["code"] in text


def test_quick_verifies_nothing(runs: list[RunConfig], tmp_path: Path) -> None:
    doc = clinic.run_doctor(RunConfig(workload="mnist", pipeline="tfdata-naive"), tmp_path, quick=True)
    assert len(runs) == 1 and doc["verified"] == [] and doc["prescription"] is None
    assert "Not verified (`--quick`)" in (tmp_path / "doctor.md").read_text()


def test_a_failed_run_as_configured_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(clinic, "run_in_fresh_process", lambda *a: {"status": "failed", "error": "OOM"})
    with pytest.raises(clinic.UserFacingError, match="the run as configured failed: OOM"):
        clinic.run_doctor(RunConfig(workload="mnist", pipeline="tfdata-naive"), tmp_path)
