"""Sweep specs: parsing, ablation expansion, errors; a real tiny sweep with resume and a failure record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import bench.backends
from bench.sweep.matrix import SpecError, load_sweep, resolve_spec_path, run_matrix


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def load_spec(path: Path) -> tuple[str, list]:
    sweep = load_sweep(str(path))
    return sweep.description, sweep.cells


@pytest.mark.parametrize("name", sorted(p.stem for p in Path("bench/sweep/specs").glob("*.toml")))
def test_shipped_specs_parse_and_every_cell_checks(name: str) -> None:
    description, cells = load_spec(resolve_spec_path(name))
    assert description and cells


def test_vary_is_one_knob_at_a_time_on_the_tuned_preset(tmp_path: Path) -> None:
    _, cells = load_spec(
        _spec(
            tmp_path,
            """
[defaults]
steps_per_epoch = 10
[[cells]]
workloads = ["mnist"]
pipelines = ["idg", "tfdata"]
vary = { prefetch = ["off", 2], compile = ["xla"], backend = ["jax"] }
""",
        )
    )
    labels = [c.label for c in cells]
    assert labels == [
        "mnist/idg",
        "mnist/tfdata",
        "mnist/tfdata [prefetch=off]",
        "mnist/tfdata [prefetch=2]",
        "mnist/tfdata [compile=xla]",
        "mnist/tfdata [backend=jax]",
    ]
    assert all(c.config.steps_per_epoch == 10 for c in cells)
    assert cells[2].config.pipeline_options == {"prefetch": None}


def test_seeds_and_repeats_expand(tmp_path: Path) -> None:
    _, cells = load_spec(
        _spec(
            tmp_path, '[defaults]\nrepeats = 2\n[[cells]]\nworkloads = ["mnist"]\npipelines = ["idg"]\nseeds = [0, 1]\n'
        )
    )
    assert [(c.config.seed, c.repeat) for c in cells] == [(0, 0), (0, 1), (1, 0), (1, 1)]


@pytest.mark.parametrize(
    "text, message",
    [
        ('[[cells]]\nworkloads = ["mnist"]\nbogus = 1\n', "unknown keys"),
        ('[defaults]\nprefetch = "sometimes"\n[[cells]]\nworkloads = ["mnist"]\n', "prefetch.*sometimes"),
        ('[[cells]]\nworkloads = ["minst"]\n', "Unknown workload 'minst'"),
        ('[[cells]]\npipelines = ["tfdata-turbo"]\n', "Unknown pipeline 'tfdata-turbo'"),
        ('[[cells]]\npipelines = ["idg"]\nset = { prefetch = 2 }\n', "idg.*no option prefetch"),
        ('[[cells]]\nset = { backend = "jax", compile = "xla" }\n', "xla.*jax"),
        ('[[cells]]\nset = { backend = "jax", strategy = "mirrored" }\n', "tensorflow backend only"),
        ('[defaults]\nnot_a_setting = 3\n[[cells]]\nworkloads = ["mnist"]\n', "unknown settings"),
        ('[defaults]\nepochs = "one"\n[[cells]]\nworkloads = ["mnist"]\n', "epochs.*positive integer.*one"),
        ("[defaults]\nceiling_steps = -1\n[[cells]]\n", "ceiling_steps.*-1"),
        ("[defaults]\ntarget_accuracy = 2.0\n[[cells]]\n", "target_accuracy"),
        ('[defaults]\nrepeats = "x"\n[[cells]]\n', "repeats.*positive integer"),
        ("[defaults]\nrepeats = 0\n[[cells]]\n", "repeats.*positive integer"),
        ("[defaults]\nsteps_per_epoch = 3\n", "no \\[\\[cells\\]\\]"),
        ("this is not toml = = =", "spec.toml"),
    ],
)
def test_bad_specs_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load_spec(_spec(tmp_path, text))


def test_cells_whose_backend_is_not_installed_are_skipped_one_line_each_and_the_rest_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import bench.sweep.matrix as matrix

    monkeypatch.setattr(bench.backends.Backend, "available", lambda self: self.name != "torch")
    sweep = load_sweep(str(_spec(tmp_path, '[[cells]]\nvary = { backend = ["torch"] }\n')))
    ran: list[str] = []
    monkeypatch.setattr(matrix, "run_cell", lambda cell, *args: (ran.append(cell.label), ("ok", None))[1])
    assert run_matrix(sweep, tmp_path / "results") == 0
    err = capsys.readouterr().err
    assert ran == ["mnist/tfdata"]
    (line,) = [x for x in err.splitlines() if "skipped:" in x]
    assert "mnist/tfdata [backend=torch]" in line and "torch not installed" in line and "pip install torch" in line
    assert "1 skipped (backend not installed)" in err.splitlines()[-1]


def test_a_spec_subfolder_keeps_its_records_apart(tmp_path: Path) -> None:
    """The accuracy sweep's full-epoch runs must not mix into the throughput tables of results/runs.jsonl."""
    assert load_sweep("accuracy").records_dir(tmp_path) == tmp_path / "accuracy"
    assert load_sweep("quick").records_dir(tmp_path) == tmp_path
    spec = _spec(tmp_path, 'subfolder = "mine"\n[[cells]]\nworkloads = ["mnist"]\n')
    assert load_sweep(str(spec)).records_dir(tmp_path / "results") == tmp_path / "results" / "mine"


def test_unknown_spec_name_lists_shipped_ones() -> None:
    with pytest.raises(SpecError, match="quick"):
        resolve_spec_path("no-such-spec")


@pytest.mark.slow
def test_sweep_runs_cells_in_processes_records_failures_and_resumes(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        """
[defaults]
data = "generated"
steps_per_epoch = 6
warmup_steps = 2
pipeline_batches = 3
stage_batches = 2
ceiling_steps = 4
batch_size = 32
limit_train = 512
limit_test = 64
[[cells]]
workloads = ["mnist"]
pipelines = ["tfdata"]
[[cells]]
workloads = ["mnist"]
pipelines = ["idg"]
set = { steps_per_epoch = 1 }   # too few steps to measure: this cell fails, the sweep goes on
""",
    )
    results = tmp_path / "results"
    assert run_matrix(load_sweep(str(spec)), results) == 1
    records = [json.loads(line) for line in (results / "runs.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["ok", "failed"]
    assert "steps" in records[1]["error"]
    # Resume: the ok cell is skipped, the failed one is tried again.
    assert run_matrix(load_sweep(str(spec)), results) == 1
    records = [json.loads(line) for line in (results / "runs.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["ok", "failed", "failed"]


def test_resume_does_not_count_generated_data_as_done_once_a_data_dir_is_named(tmp_path: Path) -> None:
    """A cell recorded on generated data is not the cell the user asks for with real data."""
    from bench.sweep.matrix import _done_counts

    spec = _spec(tmp_path, '[defaults]\ndata_dir = "/data"\n[[cells]]\nworkloads = ["mnist"]\npipelines = ["idg"]\n')
    (cell,) = load_sweep(str(spec)).cells
    results = tmp_path / "results"
    results.mkdir()
    key, kind = cell.key
    assert kind == "real"
    line = json.dumps({"status": "ok", "config_key": key, "data_kind": "generated"})
    (results / "runs.jsonl").write_text(line + "\n")
    assert _done_counts(results).get(cell.key, 0) == 0
    (results / "runs.jsonl").write_text(line.replace("generated", "real") + "\n")
    assert _done_counts(results).get(cell.key, 0) == 1


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_killing_the_sweep_leaves_no_running_cell(sig: int, tmp_path: Path) -> None:
    """However the parent dies, the cell it started (and anything that cell started) goes with it."""
    spec = _spec(
        tmp_path,
        '[defaults]\ndata = "generated"\nsteps_per_epoch = 100000\n[[cells]]\nworkloads = ["mnist"]\n',
    )
    parent = subprocess.Popen(
        [sys.executable, "-m", "bench", "matrix", str(spec), "--results", str(tmp_path / "r")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        cells: list[psutil.Process] = []
        while not cells and time.monotonic() < deadline:
            cells = psutil.Process(parent.pid).children()
            time.sleep(0.2)
        assert cells, "the sweep never started its cell"
        os.kill(parent.pid, sig)
        parent.wait(timeout=30)
        gone, alive = psutil.wait_procs(cells, timeout=20)
        assert not alive, f"cells still running after {signal.Signals(sig).name}: {alive}"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_the_sweep_parent_loads_no_framework() -> None:
    """Reading, expanding and checking a sweep (and building the CLI) imports neither Keras nor TensorFlow: the
    parent stays small, and every cell chooses its own backend before Keras loads."""
    code = (
        "import sys; from bench.cli.parser import build_parser; from bench.sweep.matrix import load_sweep; "
        "build_parser(); "
        "load_sweep('quick'); load_sweep('gpu'); print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') "
        "if m in sys.modules))"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-1000:]
    assert completed.stdout.strip() == "[]"


def test_a_cell_past_its_timeout_is_stopped_and_recorded_as_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """`bench matrix --cell-timeout 1` on a cell that never ends (an interpreter that only sleeps, as
    tests/sweep/sleeper.py does for `bench scale`'s points): the cell's process is stopped within the grace
    period, the sweep records it as failed with the reason, exits 1, and goes on to the next cell."""
    from bench.cli.parser import main
    from bench.records import RUNS_FILE, read_records

    sleeper = tmp_path / "python-that-sleeps"
    sleeper.write_text(f"#!/bin/sh\necho $$ > {tmp_path / 'pid'}\nexec {sys.executable} -m tests.sweep.sleeper "
                       "'{\"sleep\": 120}'\n")  # fmt: skip
    sleeper.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(sleeper))  # what the sweep starts each cell with
    monkeypatch.setenv("PYTHONPATH", str(Path.cwd()))  # the sleeper module, wherever the cell starts
    spec = _spec(tmp_path, '[defaults]\ndata = "generated"\n[[cells]]\nworkloads = ["mnist", "cifar10"]\n')
    results = tmp_path / "r"
    start = time.monotonic()
    assert main(["matrix", str(spec), "--cell-timeout", "1", "--results", str(results)]) == 1
    assert time.monotonic() - start < 8  # each cell stopped at its timeout (the sleeper dies on the first SIGTERM)
    records = read_records(results / RUNS_FILE)
    assert [(r["workload"], r["status"]) for r in records] == [("mnist", "failed"), ("cifar10", "failed")]
    assert all(r["error"] == "cell timed out after 1 s" for r in records)
    err = capsys.readouterr().err
    assert err.count("FAILED (1 s): cell timed out after 1 s") == 2, err
    assert not psutil.pid_exists(int((tmp_path / "pid").read_text())), "the timed-out cell is still running"


@pytest.mark.slow
def test_a_real_cell_past_its_timeout_is_stopped_and_its_failure_says_so(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """A real `run-config` cell training without end: stopped at `--cell-timeout`, one failure record (the cell's
    own, written on SIGTERM, or the sweep's if it was still starting), and the FAILED line names the timeout."""
    from bench.cli.parser import main
    from bench.records import RUNS_FILE, read_records

    endless = '[defaults]\ndata = "generated"\nsteps_per_epoch = 100000\n[[cells]]\nworkloads = ["mnist"]\n'
    spec = _spec(tmp_path, endless)
    start = time.monotonic()
    assert main(["matrix", str(spec), "--cell-timeout", "20", "--results", str(tmp_path / "r")]) == 1
    assert time.monotonic() - start < 20 + 5 + 10
    (record,) = read_records(tmp_path / "r" / RUNS_FILE)
    assert record["status"] == "failed"
    assert "FAILED" in (err := capsys.readouterr().err) and "cell timed out after 20 s" in err, err
    cells = [p for p in psutil.Process().children(recursive=True) if "run-config" in " ".join(p.cmdline())]
    assert not cells, f"a cell is still running: {cells}"
