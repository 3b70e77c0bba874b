"""`bench.cli.parser.main([...])`: listing, environment, argument errors, offline data errors, and run -> report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cli.parser import main
from bench.records import RUNS_FILE, read_records
from imgcls.data import list_data_modes
from imgcls.net import host_reachable
from imgcls.pipelines import list_pipelines
from imgcls.workloads import get_workload, list_workloads


def _exit_code(argv: list[str]) -> int:
    """`main`'s return value, or argparse's exit code when it exits."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return exit_.code


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:") or ": error:" in line]


# ---- list and env ---------------------------------------------------------------------------------------------
def test_list_names_every_workload_pipeline_and_data_source(capsys: pytest.CaptureFixture) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    words = out.split()
    for name in (*list_workloads(), *list_pipelines()):
        assert name in words, name
    for name in list_workloads():
        assert get_workload(name).description in out
    data_line = out.split("data sources:")[1].strip()
    assert [m.strip() for m in data_line.split(",")] == list_data_modes()


def test_env_prints_the_fingerprint_as_json(capsys: pytest.CaptureFixture) -> None:
    assert main(["env"]) == 0
    env = json.loads(capsys.readouterr().out)
    assert {"python", "tensorflow", "keras", "numpy", "cpu_model", "cpu_cores", "git_commit", "taken_at"} <= set(env)
    import tensorflow as tf

    assert env["tensorflow"] == tf.__version__
    assert (env["gpu_count"] == 0) == (env["gpu_name"] is None)  # a name exactly when NVML sees a GPU


# ---- argument errors ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "flag, bad",
    [("--pipeline", "tfdata-turbo"), ("--workload", "imagenet21k"), ("--data", "internet"), ("--augment", "heavy")],
)
def test_bad_choice_exits_2_naming_the_bad_value(
    flag: str, bad: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", flag, bad, "--results", str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert bad in err and flag in err
    assert "Traceback" not in err
    assert not (tmp_path / RUNS_FILE).exists()  # nothing ran, nothing recorded


@pytest.mark.parametrize("flag", ["--steps", "--batch-size", "--epochs"])
@pytest.mark.parametrize("bad", ["0", "-4", "many"])
def test_non_positive_counts_exit_2(flag: str, bad: str, capsys: pytest.CaptureFixture) -> None:
    assert _exit_code(["run", flag, bad]) == 2
    err = capsys.readouterr().err
    assert flag in err and bad in err and "positive integer" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--ceiling-steps", "-1"],  # ran forever at full CPU
        ["run", "--warmup-steps", "-2"],
        ["run", "--seed", "-1"],  # exit 1, an internal error, before
        ["run", "--seed", str(2**66)],
        ["run", "--target-accuracy", "nan"],  # refused only after training, before
        ["run", "--target-accuracy", "2"],
        ["run", "--target-accuracy", "0"],
        ["run", "--pipeline-batches", "1"],  # failed half way: its first batch is timed apart
        ["scale", "--batches", "0"],  # the idg point then hung 13+ minutes
        ["scale", "--point-timeout", "0"],
        ["cache", "--epochs", "-1"],
        ["cache", "--limit-train", "0"],
        ["matrix", "quick", "--cell-timeout", "0"],
    ],
)
def test_every_count_seed_and_fraction_is_refused_before_any_work(argv: list, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    start = time.monotonic()
    assert _exit_code([*argv, "--results", str(tmp_path)]) == 2
    (line,) = _error_lines(capsys.readouterr().err)
    assert argv[-2] in line and argv[-1] in line
    assert not any(tmp_path.iterdir())  # nothing ran, nothing recorded
    assert time.monotonic() - start < 5


def test_a_run_config_refuses_a_bad_setting_wherever_it_comes_from() -> None:
    from bench.config import RunConfig
    from imgcls.options import OptionError

    for field, value in [("epochs", "one"), ("ceiling_steps", -1), ("seed", -1), ("target_accuracy", float("nan"))]:
        with pytest.raises(OptionError, match=field):
            RunConfig(**{field: value})
    assert RunConfig(seed="3", epochs=2.0, target_accuracy="0.5").seed == 3  # words from a spec parse


def test_unknown_subcommand_and_missing_subcommand_exit_2(capsys: pytest.CaptureFixture) -> None:
    assert _exit_code(["launch"]) == 2
    assert "launch" in capsys.readouterr().err
    assert _exit_code([]) == 2


def test_weights_with_a_non_vgg_workload_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = _exit_code(["run", "--workload", "cifar10", "--weights", "imagenet", "--results", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    (line,) = _error_lines(err)
    assert "imagenette-vgg16" in line and "cifar10" in line
    assert not (tmp_path / RUNS_FILE).exists()  # rejected before anything ran


def test_a_bad_knob_value_exits_2_naming_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _exit_code(["run", "--map-parallel", "lots", "--results", str(tmp_path)]) == 2
    (line,) = _error_lines(capsys.readouterr().err)
    assert "--map-parallel" in line and "lots" in line


# ---- offline data ---------------------------------------------------------------------------------------------
@pytest.fixture
def offline_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No tfds or Keras cache under HOME; the test is skipped on a machine that can reach the download host."""
    if host_reachable("storage.googleapis.com"):
        pytest.skip("this machine is online: the offline error path cannot be exercised")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("TFDS_DATA_DIR", "KERAS_HOME", "IMGCLS_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


@pytest.mark.parametrize("workload", ["mnist", "cifar10"])
def test_forced_tfds_offline_is_one_error_line_saying_what_to_pass(
    workload: str, offline_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tensorflow_datasets as tfds

    def no_download(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("tfds.load was called offline: it would sit in its download retry loop")

    monkeypatch.setattr(tfds, "load", no_download)
    results = tmp_path / "results"
    start = time.monotonic()
    code = main(["run", "--workload", workload, "--data", "tfds", "--results", str(results)])
    elapsed = time.monotonic() - start
    assert code == 2
    assert elapsed < 20, f"took {elapsed:.1f} s"
    err = capsys.readouterr().err
    assert "Traceback" not in err and "AssertionError" not in err
    (line,) = _error_lines(err)
    assert "--data generated" in line and "--data-dir" in line  # what to pass instead
    assert workload in line
    # The failed attempt is on record.
    (record,) = read_records(results / RUNS_FILE)
    assert record["status"] == "failed" and record["error"].startswith("DataUnavailable:")


def test_forced_tfds_for_imagenette_says_what_to_pass(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--workload", "imagenette", "--data", "tfds", "--results", str(tmp_path)]) == 2
    (line,) = _error_lines(capsys.readouterr().err)
    assert "--data generated" in line and "imagenette2" in line


def test_data_dir_without_the_file_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "data"
    empty.mkdir()
    assert main(["run", "--data", "dir", "--data-dir", str(empty), "--results", str(tmp_path / "r")]) == 2
    (line,) = _error_lines(capsys.readouterr().err)
    assert "mnist.npz" in line and str(empty) in line


def test_a_named_data_dir_that_lacks_the_data_is_an_error_not_generated_data(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`--data auto` (the default) with a mistyped or wrong `--data-dir`: one line naming what was looked for."""
    for data_dir in (tmp_path / "no-such-dir", tmp_path):
        code = _exit_code(["run", "--data-dir", str(data_dir), "--results", str(tmp_path / "r")])
        assert code == 2
        (line,) = _error_lines(capsys.readouterr().err)
        assert str(data_dir) in line and "mnist.npz" in line
    assert [r["status"] for r in read_records(tmp_path / "r" / RUNS_FILE)] == ["failed", "failed"]


@pytest.mark.parametrize("kind", ["file", "unwritable"])
def test_a_bad_results_folder_fails_before_any_work(kind: str, tmp_path: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    import bench.run.runner

    target = tmp_path / "results"
    if kind == "file":
        target.write_text("not a folder")
    else:
        target.mkdir()
        target.chmod(0o500)
        if os.access(target, os.W_OK):  # root ignores permission bits
            pytest.skip("this user can write anywhere")
    monkeypatch.setattr(bench.run.runner, "execute", lambda *a, **k: pytest.fail("the run started"))
    assert _exit_code(["run", "--data", "generated", "--results", str(target)]) == 2
    (line,) = _error_lines(capsys.readouterr().err)
    assert str(target) in line and "--results" in line


# ---- run, then report ------------------------------------------------------------------------------------------
@pytest.mark.slow  # two subprocesses, each importing TensorFlow (11 s); tests/test_records.py runs in-process
def test_run_appends_one_record_prints_a_table_and_report_tables_it(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    results = tmp_path / "results"
    argv = [
        "run",
        "--workload",
        "mnist",
        "--pipeline",
        "tfdata",
        "--data",
        "generated",
        "--steps",
        "8",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--warmup-steps",
        "2",
        "--pipeline-batches",
        "3",
        "--results",
        str(results),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| mnist" in out and "| tfdata" in out and "generated" in out
    assert "recorded run" in out and str(results / RUNS_FILE) in out
    (record,) = read_records(results / RUNS_FILE)
    assert record["status"] == "ok" and record["data_kind"] == "generated"
    assert record["workload"] == "mnist" and record["pipeline"] == "tfdata"
    assert (record["batch_size"], record["steps_per_epoch"], record["warmup_steps"]) == (32, 8, 2)
    assert record["pipeline_batches"] == 3
    assert record["run_id"] in out

    assert main(["report", "--results", str(results), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "| mnist" in out
    readme = (results / "README.md").read_text()
    assert "### mnist" in readme and "generated" in readme
    assert (results / "report.csv").read_text().startswith("workload,")
    # A second run appends, never rewrites.
    assert main(argv) == 0
    assert len(read_records(results / RUNS_FILE)) == 2


def test_report_on_an_empty_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["report", "--results", str(tmp_path / "nothing")]) == 2
    (line,) = _error_lines(capsys.readouterr().err)
    assert "runs.jsonl" in line and "bench run" in line


def test_a_backend_that_is_not_installed_is_one_line_naming_the_package(monkeypatch, capsys) -> None:  # noqa: ANN001
    import bench.backends

    monkeypatch.setattr(bench.backends.Backend, "available", lambda self: self.name == "tensorflow")
    assert _exit_code(["run", "--backend", "torch", "--data", "generated"]) == 2
    (line,) = _error_lines(capsys.readouterr().err)
    assert "torch" in line and "pip install torch" in line


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--backend", "jax", "--compile", "xla"], ["xla", "jax", "jit"]),
        (["--backend", "torch", "--compile", "graph"], ["graph", "torch", "torch.compile"]),
        (["--backend", "torch", "--steps-per-execution", "4"], ["steps-per-execution", "torch"]),
        (["--backend", "jax", "--strategy", "mirrored"], ["tensorflow backend only"]),
    ],
)
def test_a_knob_that_makes_no_sense_on_a_backend_is_refused(argv: list, words: list, capsys) -> None:  # noqa: ANN001
    assert _exit_code(["run", *argv, "--data", "generated"]) == 2
    (line,) = _error_lines(capsys.readouterr().err)
    assert all(word in line for word in words), line


def test_help_says_what_compile_means_on_each_backend(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "tensorflow: graph, jax: jit, torch: eager" in text
    assert "--backend" in text and "--augment-on" in text and "--op-determinism" in text


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_run_stopped_by_a_signal_appends_its_failure_record_and_exits_within_seconds(
    sig: int, code: int, tmp_path: Path
) -> None:
    """idg is the pipeline whose interrupted fit hung at exit (TF's generator iterator at interpreter teardown)."""
    argv = ["run", "--pipeline", "idg", "--workload", "imagenette", "--data", "generated", "--image-size", "32"]
    argv += ["--limit", "320", "--limit-test", "64", "--steps", "100000", "--results", str(tmp_path)]
    child = subprocess.Popen([sys.executable, "-c", _WITH_DEFAULT_SIGINT, *argv], stderr=subprocess.PIPE, text=True)
    try:
        for line in child.stderr:  # wait until it trains
            if " step " in line:
                break
        start = time.monotonic()
        child.send_signal(sig)
        rest = child.communicate(timeout=30)[1]
        stopped_in = time.monotonic() - start
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == code and stopped_in < 10, (child.returncode, stopped_in, rest[-500:])
    (record,) = [json.loads(line) for line in (tmp_path / RUNS_FILE).read_text().splitlines()]
    assert record["status"] == "failed"
    assert f"failure record appended to {tmp_path / RUNS_FILE}" in rest.strip().splitlines()[-1]


# A child started from a non-interactive shell may inherit SIGINT ignored; Ctrl-C reaches a process that has not.
_WITH_DEFAULT_SIGINT = (
    "import signal, runpy, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv = ['bench', *sys.argv[1:]]; runpy.run_module('bench', run_name='__main__')"
)


def test_an_interruption_claims_a_record_only_when_one_was_written(monkeypatch, capsys) -> None:  # noqa: ANN001
    import bench.cli.commands as commands

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "cmd_list", interrupted)
    assert main(["list"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted (no record written)"


def test_a_closed_pipe_ends_list_quietly() -> None:
    """`python -m bench list | head`: the reader going away is not an error (it raised BrokenPipeError)."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    completed = subprocess.run([sys.executable, "-m", "bench", "list"], stdout=write, stderr=subprocess.PIPE, text=True)
    os.close(write)
    assert completed.returncode == 0 and completed.stderr == ""


def test_help_lists_no_internal_command(capsys: pytest.CaptureFixture) -> None:
    assert _exit_code(["--help"]) == 0
    out = capsys.readouterr().out
    assert "run-config" not in out and "SUPPRESS" not in out and "{run,doctor,matrix," in out
