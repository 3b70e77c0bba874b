"""bench.doctor.clinic's flow with the fresh-process runs replaced by canned records (no TF): what it probes and
verifies, in which order, that a crashing fix is a recorded failure the doctor goes past, what it writes (whole or
not at all), and that a results folder it cannot write is refused before anything runs."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re
from pathlib import Path
from typing import Any

import pytest

import bench.doctor.clinic as clinic
from bench.cli.parser import main
from bench.config import RunConfig

BASE = {
    "status": "ok", "run_id": "base", "env": {"gpu_name": "H200"}, "train_images_per_sec": 200.0,
    "ceiling_images_per_sec": 2000.0, "fed_ceiling_images_per_sec": 1900.0, "pipeline_images_per_sec": 210.0,
    "stage_images_per_sec": {"source": 50_000.0, "augment": 220.0},
    "pipeline_options": {"map_parallel": None, "prefetch": None, "cache": "off"},
    "train_spread_pct": 2.0, "ceiling_spread_pct": 2.0, "fed_ceiling_spread_pct": 2.0, "inconsistent": [],
    "steps_per_execution": 1, "augment_on": "host", "fed_ceiling_input": "float32[128, 28, 28, 1]",
    "train_examples": 1000, "pipeline_output_size": [28, 28], "batch_size": 128,
}  # fmt: skip


@dataclasses.dataclass
class Clinic:
    """The canned machine: the configs run, the probe payloads sent, and what the probe answers."""

    runs: list[RunConfig] = dataclasses.field(default_factory=list)
    probes: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    base: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(BASE))
    probe_answer: dict[str, Any] | None = dataclasses.field(default_factory=lambda: {"busy": 1.0, "measured": {}})
    crash_first_fix: bool = True
    speed: Any = None  # RunConfig -> the e2e a verification run measures (None: each later run faster)


@pytest.fixture
def canned(monkeypatch: pytest.MonkeyPatch) -> Clinic:
    """Every config the doctor runs; the first fix it verifies crashes (unless told not to), the others speed up."""
    state = Clinic()

    def fake_run(config: RunConfig, results_dir: Path, log: Path, timeout: float) -> dict[str, Any]:
        state.runs.append(config)
        n = len(state.runs)
        if n == 1:
            return state.base
        if n == 2 and state.crash_first_fix:
            return {"status": "failed", "error": "RuntimeError: planted crash", "run_id": f"r{n}"}
        measured = state.speed(config) if state.speed else 200.0 * (1 + n)
        return {**state.base, "run_id": f"r{n}", "train_images_per_sec": measured, "train_spread_pct": 3.0}

    def fake_measure(module: str, payload: dict[str, Any], records: Path, *args: Any) -> dict[str, Any] | None:
        assert module == "bench.doctor.probe"
        state.probes.append(payload)
        return None if state.probe_answer is None else {**payload, **state.probe_answer}  # None: it failed

    monkeypatch.setattr(clinic, "run_in_fresh_process", fake_run)
    monkeypatch.setattr(clinic, "measure_in_fresh_process", fake_measure)
    monkeypatch.setattr(clinic, "_one_core_rate", lambda config, runs_dir: 205.0)
    monkeypatch.setattr(clinic, "available_cores", lambda: 4)
    return state


def test_the_doctor_verifies_the_best_fixes_goes_past_a_crash_and_writes_its_report(
    canned: Clinic, tmp_path: Path
) -> None:
    doc = clinic.run_doctor(RunConfig(workload="mnist", pipeline="tfdata-naive"), tmp_path, verify=2)
    runs = canned.runs
    assert runs[0].dispatch_probe_spe == 8 and runs[0].steps_per_epoch == clinic.DOCTOR_STEPS
    for config in runs[1:]:  # training only: the ceilings, stages and dispatch probe are the diagnosis's
        assert all(getattr(config, key) == value for key, value in clinic.VERIFY_SETTINGS.items())
    variants = [v["variant"] for v in doc["verified"]]
    assert variants[:2] == [f["fix"] for f in doc["fixes"][:2]] and " + " in variants[2]
    crashed = [v for v in doc["verified"] if v["error"]]
    assert crashed == [doc["verified"][0]] and "planted crash" in crashed[0]["error"]
    assert crashed[0]["measured_e2e"] is None and len(doc["verified"]) == 3  # it went on
    assert doc["prescription"]["variant"] == variants[2]  # the best measured
    assert doc["prescription"]["command"].startswith("python -m bench run --workload mnist --pipeline tfdata-naive")
    assert doc["cores_to_feed"] == {"1": 10, "8": 79, "64": 625}  # ceil(N * 2000 / 205)
    assert doc["service_worker_cores"] == 4 and doc["per_worker_images_per_sec"] == 820.0
    assert doc["service_workers_to_feed"] == {"1": 3, "8": 20, "64": 157}  # ceil(N * 2000 / (205 * 4))
    (line,) = (tmp_path / "doctor.jsonl").read_text().splitlines()
    assert json.loads(line)["verdict"] == doc["verdict"] == "input-bound"
    text = (tmp_path / "doctor.md").read_text()
    assert "planted crash" in text and "## Prescription" in text and doc["fixes"][0]["code"] in text
    assert "| 64             |    625 |" in text.replace("  ", " ") or re.search(
        r"\|\s*64\s*\|\s*625\s*\|\s*157\s*\|", text
    )


def test_quick_verifies_nothing(canned: Clinic, tmp_path: Path) -> None:
    doc = clinic.run_doctor(RunConfig(workload="mnist", pipeline="tfdata-naive"), tmp_path, quick=True)
    assert len(canned.runs) == 1 and doc["verified"] == [] and doc["prescription"] is None
    assert "Not verified (`--quick`)" in (tmp_path / "doctor.md").read_text()


def test_a_failed_run_as_configured_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(clinic, "run_in_fresh_process", lambda *a: {"status": "failed", "error": "OOM"})
    with pytest.raises(clinic.UserFacingError, match="the run as configured failed: OOM"):
        clinic.run_doctor(RunConfig(workload="mnist", pipeline="tfdata-naive"), tmp_path)


def test_progress_totals_are_exact_when_fewer_fixes_are_verifiable_than_asked(
    canned: Clinic, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A private pool of 1 on the tuned pipeline with augmentation already in the model: one verifiable fix, so
    `--verify 3` makes one verification run, and every progress line says so."""
    canned.base = {
        **BASE, "augment_on": "device",
        "pipeline_options": {"map_parallel": -1, "prefetch": -1, "cache": "off", "private_threadpool": 1},
    }  # fmt: skip
    canned.crash_first_fix = False
    doc = clinic.run_doctor(RunConfig(workload="mnist", pipeline="tfdata"), tmp_path, verify=3)
    assert [v["variant"] for v in doc["verified"]] == ["private_threadpool=off"]
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("doctor ")]
    steps = [re.match(r"doctor (verify )?(\d+)/(\d+):", line).groups() for line in lines]
    assert [(phase, int(i), int(n)) for phase, i, n in steps] == [
        (None, 1, 3), (None, 2, 3), (None, 3, 3), ("verify ", 1, 1),
    ]  # fmt: skip


def test_the_dispatch_probes_steps_and_spread_reach_the_record_and_the_noise(canned: Clinic, tmp_path: Path) -> None:
    canned.base = {**BASE, "probe_steps_per_execution": 8, "probe_ceiling_images_per_sec": 2100.0,
                   "probe_ceiling_steps": 24, "probe_ceiling_spread_pct": 30.0}  # fmt: skip
    doc = clinic.run_doctor(RunConfig(workload="mnist", pipeline="tfdata-naive"), tmp_path, quick=True)
    assert doc["probe_ceiling_steps"] == 24 and doc["probe_ceiling_spread_pct"] == 30.0
    assert doc["noise_pct"] == 30.0  # the widest measured spread
    assert "dispatch probe, 24 steps, spread 30%" in (tmp_path / "doctor.md").read_text()


def test_a_loader_switch_is_probed_predicted_verified_and_prescribed_without_the_old_knobs(
    canned: Clinic, tmp_path: Path
) -> None:
    canned.base = {**BASE, "stage_images_per_sec": {}, "pipeline_options": {"workers": 1, "use_multiprocessing": False}}
    canned.probe_answer = {"busy": 1.0, "measured": {"pipeline=tfdata": {"images_per_sec": 2100.0, "ratio": 10.0,
                                                                           "spread_pct": 4.0}}}  # fmt: skip
    canned.crash_first_fix = False
    canned.speed = lambda config: 1_800.0 if config.pipeline == "tfdata" else 700.0
    config = RunConfig(workload="mnist", pipeline="idg", pipeline_options={"workers": 1}, batch_size=64)
    doc = clinic.run_doctor(config, tmp_path, verify=2)
    (probe,) = canned.probes
    variant = probe["variants"]["pipeline=tfdata"]
    assert variant["pipeline"] == "tfdata" and variant["pipeline_options"] == {}  # the old knobs are not carried
    assert probe["config"]["pipeline"] == "idg" and probe["threads"] == 1.0
    fixes = {f["fix"]: f for f in doc["fixes"]}
    assert fixes["pipeline=tfdata"]["predicted_gain_pct"] > 100 and "workers=<cores>" in fixes
    assert [v["variant"] for v in doc["verified"]] == [f["fix"] for f in doc["fixes"][:2]]  # the two never combine
    switched = [c for c in canned.runs[1:] if c.pipeline == "tfdata"]
    assert len(switched) == 1 and switched[0].pipeline_options == {}
    rx = doc["prescription"]
    assert rx["command"] == "python -m bench run --workload mnist --pipeline tfdata --batch-size 64"
    assert rx["flags"] == ["--pipeline tfdata"]
    assert doc["probed"]["pipeline=tfdata"]["ratio"] == 10.0
    assert "pipeline-only with `pipeline=tfdata`" in (tmp_path / "doctor.md").read_text()


def test_a_probe_that_failed_leaves_its_rules_unpredicted_and_says_so(canned: Clinic, tmp_path: Path) -> None:
    canned.probe_answer = None  # the probe's process failed
    canned.base = {**BASE, "pipeline_options": {**BASE["pipeline_options"], "vectorize": False}}
    doc = clinic.run_doctor(RunConfig(workload="mnist", pipeline="tfdata-naive"), tmp_path, quick=True)
    assert "vectorize=on" not in [f["fix"] for f in doc["fixes"]]
    assert any(item.startswith("vectorize=on (not predicted") for item in doc["not_applied"])
    assert doc["pipeline_busy"] is None and "probe failed" in (tmp_path / "doctor.md").read_text()


def test_doctor_md_is_replaced_whole_or_not_at_all(
    canned: Clinic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that dies half way (a full disk, a kill) leaves the previous report as it was."""
    (tmp_path / "doctor.md").write_text("# the previous report\n")
    original = pathlib.Path.write_text

    def dies_half_way(self: Path, text: str, *args: Any, **kwargs: Any) -> int:
        if "doctor" in self.name and self.suffix == ".md":
            original(self, text[: len(text) // 2], *args, **kwargs)
            raise OSError(28, "No space left on device")
        return original(self, text, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", dies_half_way)
    with pytest.raises(OSError, match="No space left"):
        clinic.run_doctor(RunConfig(workload="mnist", pipeline="tfdata-naive"), tmp_path, quick=True)
    assert (tmp_path / "doctor.md").read_text() == "# the previous report\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".md") == ["doctor.md"]  # no partial left


def _refuses_to_run(*args: Any) -> dict[str, Any]:
    raise AssertionError("a run started before the results folder was checked")


@pytest.mark.parametrize("how", ["a file", "a folder inside a file"])
def test_an_unwritable_results_folder_is_one_line_and_exit_2_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setattr(clinic, "run_in_fresh_process", _refuses_to_run)
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    results = blocker if how == "a file" else blocker / "results"
    assert main(["doctor", "--workload", "mnist", "--results", str(results)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(results) in err
    with pytest.raises(clinic.UserFacingError, match=re.escape(str(results))):  # called directly, too
        clinic.run_doctor(RunConfig(workload="mnist"), results)
