"""Run records: JSON round trip, whole-line appends, torn lines, failure records, and a real tiny run's fields."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

import bench.run.runner
from bench.config import RunConfig, config_key
from bench.environment import environment
from bench.records import RUNS_FILE, RunRecord, append_record, read_records
from bench.run.runner import new_record, run_and_record
from bench.run.timing import MIN_WINDOW_SEC

ENV_KEYS = {"python", "tensorflow", "keras", "numpy", "cpu_model", "cpu_cores", "git_commit", "taken_at"}


def _full_record() -> RunRecord:
    """A record with every kind of field set away from its default (nested dicts, lists, None, bools)."""
    return RunRecord(
        status="ok",
        workload="cifar10",
        pipeline="tfdata",
        pipeline_options={"map_parallel": -1, "prefetch": None, "cache": "memory", "vectorize": True},
        knobs={"prefetch": None, "compile": "xla"},
        compile="xla",
        batch_size=64,
        epochs=2,
        steps_per_epoch=10,
        augment="seed",
        augment_spec={"name": "seed", "zoom": 0.1, "horizontal_flip": True},
        seed=None,
        data_kind="generated",
        data_source="generated cifar10-shaped arrays 10000/2000 [first 640/128]",
        data_skipped_files={"truncated": 2},
        train_images_per_sec=1234.5,
        step_ms_p50=51.25,
        step_ms_p95=60.0,
        epoch_sec=[1.5, 1.25],
        step_sec=[0.5, 0.0625, 0.0625],
        stage_images_per_sec={"source": 1e6, "augment": 3000.0, "prefetch": 2900.0},
        val_accuracy=0.5,
        epoch_val_accuracy=[0.25, 0.5],
        env={"python": "3.11.7", "cpu_cores": 2, "gpu_name": None},
    )


# ---- the record itself ---------------------------------------------------------------------------------------
def test_record_round_trips_through_json_exactly() -> None:
    record = _full_record()
    text = record.to_json()
    assert "\n" not in text  # one line per record
    again = RunRecord.from_dict(json.loads(text))
    assert again == record
    assert again.to_json() == text


def test_every_field_is_in_the_json_and_unknown_keys_are_ignored_on_read() -> None:
    record = _full_record()
    data = json.loads(record.to_json())
    assert set(data) == {f.name for f in dataclasses.fields(RunRecord)}
    data["field_from_a_newer_harness"] = 42
    assert RunRecord.from_dict(data) == record


def test_new_records_get_distinct_ids_and_a_utc_timestamp() -> None:
    a, b = RunRecord(), RunRecord()
    assert a.run_id != b.run_id and len(a.run_id) == 12
    assert a.started_at.endswith("+00:00")


def test_config_key_is_stable_and_ignores_the_data_location() -> None:
    one = RunConfig(workload="mnist", pipeline="tfdata", data_dir="/data/a", batch_size=32)
    moved = dataclasses.replace(one, data_dir="/elsewhere")
    other = dataclasses.replace(one, batch_size=64)
    assert new_record(one).config_key == new_record(moved).config_key == config_key(one)
    assert new_record(one).config_key != new_record(other).config_key
    # Fields set to their defaults do not change the key (old keys stay valid when a field is added).
    assert config_key(RunConfig(batch_size=None)) == config_key(RunConfig())


# ---- the records file ----------------------------------------------------------------------------------------
def test_append_record_writes_exactly_one_whole_line_per_call(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / RUNS_FILE  # parents are created
    for i in range(3):
        append_record(path, RunRecord(workload=f"w{i}"))
        raw = path.read_bytes()
        assert raw.endswith(b"\n") and raw.count(b"\n") == i + 1
    lines = path.read_text().splitlines()
    assert [json.loads(line)["workload"] for line in lines] == ["w0", "w1", "w2"]


def test_read_records_skips_torn_and_garbage_lines_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / RUNS_FILE
    append_record(path, RunRecord(workload="first"))
    whole = RunRecord(workload="torn").to_json()
    with open(path, "a") as handle:
        handle.write(whole[: len(whole) // 2] + "\n")  # a writer killed mid-line
        handle.write("<<<<<<< HEAD\n")  # a merge conflict marker
        handle.write("\n")  # blank lines are not records and not worth a warning
    append_record(path, RunRecord(workload="last"))
    with pytest.warns(UserWarning) as caught:
        records = read_records(path)
    assert [r["workload"] for r in records] == ["first", "last"]
    messages = [str(w.message) for w in caught if "not a JSON record" in str(w.message)]
    assert len(messages) == 2
    assert f"{path}:2:" in messages[0] and f"{path}:3:" in messages[1]  # file and line named


def test_a_record_appended_after_a_torn_last_line_is_read_back(tmp_path: Path) -> None:
    """A writer killed mid-line leaves no final newline; the next record must not glue onto it and vanish."""
    path = tmp_path / RUNS_FILE
    append_record(path, RunRecord(workload="first"))
    whole = RunRecord(workload="torn").to_json()
    with open(path, "a") as handle:
        handle.write(whole[: len(whole) // 2])  # no newline: the file ends mid-record
    append_record(path, RunRecord(workload="after"))
    with pytest.warns(UserWarning, match="not a JSON record"):
        records = read_records(path)
    assert [r["workload"] for r in records] == ["first", "after"]


def test_read_records_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert read_records(tmp_path / "nothing.jsonl") == []


def test_environment_fingerprint_has_the_keys_a_table_needs() -> None:
    env = environment()
    assert set(env) >= ENV_KEYS
    assert isinstance(env["cpu_cores"], int) and env["cpu_cores"] >= 1
    assert env["git_commit"] and env["cpu_model"]
    json.dumps(env, allow_nan=False)  # serialisable as it is


# ---- code_identity: which code ran ------------------------------------------------------------------------------
def _git(repo: Path, *args: str) -> str:
    import subprocess

    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(command, cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def scratch_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with one committed file; git never looks above `tmp_path` for another."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "code.py").write_text("RATE = 1\n")
    _git(repo, "add", "code.py")
    _git(repo, "commit", "-q", "-m", "first")
    return repo


def test_a_clean_checkout_is_its_commit_with_no_diff_hash(scratch_repo: Path) -> None:
    from bench.environment import code_identity

    identity = code_identity(scratch_repo)
    assert identity == {"git_commit": _git(scratch_repo, "rev-parse", "HEAD"), "git_dirty": False,
                        "git_diff_sha256": None}  # fmt: skip


def test_a_dirty_checkout_carries_a_hash_of_its_diff_that_changes_with_the_diff(scratch_repo: Path) -> None:
    """Two dirty records on one commit say whether they ran the same code: same diff, same hash."""
    from bench.environment import code_identity

    commit = _git(scratch_repo, "rev-parse", "HEAD")
    code = scratch_repo / "code.py"
    code.write_text("RATE = 2\n")
    first = code_identity(scratch_repo)
    assert first["git_commit"] == commit and first["git_dirty"] is True
    assert len(first["git_diff_sha256"]) == 64 and int(first["git_diff_sha256"], 16) >= 0
    code.write_text("RATE = 3\n")
    second = code_identity(scratch_repo)
    assert second["git_dirty"] is True and second["git_diff_sha256"] != first["git_diff_sha256"]
    code.write_text("RATE = 2\n")
    assert code_identity(scratch_repo) == first  # the same patch again: the same identity
    _git(scratch_repo, "add", "code.py")
    assert code_identity(scratch_repo) == first  # staged or not, it is the code that runs


def test_untracked_files_leave_the_identity_alone_as_its_docstring_says(scratch_repo: Path) -> None:
    """`code_identity` hashes how tracked files differ from the commit (`--untracked-files=no`): a new file that
    is not added yet (a run's output, a scratch script) does not make a checkout dirty."""
    from bench.environment import code_identity

    clean = code_identity(scratch_repo)
    (scratch_repo / "scratch.py").write_text("print('not added')\n")
    assert code_identity(scratch_repo) == clean


def test_outside_a_git_checkout_the_code_is_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.environment import code_identity

    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    (tmp_path / "plain").mkdir()
    assert code_identity(tmp_path / "plain") == {"git_commit": "unknown", "git_dirty": None, "git_diff_sha256": None}


# ---- run_and_record: failures ---------------------------------------------------------------------------------
def _only_record(results: Path) -> dict:
    lines = (results / RUNS_FILE).read_text().splitlines()
    assert len(lines) == 1, lines
    return json.loads(lines[0])


def test_a_run_that_fails_appends_a_failure_record_and_reraises(tmp_path: Path, mnist_tiny) -> None:
    config = RunConfig(workload="mnist", pipeline="tfdata", pipeline_options={"bogus_knob": 3}, batch_size=32)
    with pytest.raises(ValueError, match="bogus_knob"):
        run_and_record(config, tmp_path, data=mnist_tiny)
    record = _only_record(tmp_path)
    assert record["status"] == "failed"
    assert record["error"].startswith("InvalidValue: Pipeline 'tfdata' has no option bogus_knob")
    # The failure keeps the run's identity, so it can be matched with its config and environment.
    assert record["workload"] == "mnist" and record["pipeline"] == "tfdata"
    assert record["config_key"] == new_record(config).config_key
    assert record["pipeline_options"] == {"bogus_knob": 3}
    assert set(record["env"]) >= ENV_KEYS
    assert record["train_images_per_sec"] is None and record["peak_host_rss_mb"] > 0


def test_failure_record_keeps_one_line_of_the_error_and_what_was_known(tmp_path: Path, monkeypatch) -> None:
    def failing_execute(config: RunConfig, record: RunRecord, data=None) -> RunRecord:  # noqa: ANN001
        record.data_kind, record.data_source = "generated", "half way"  # filled before the failure
        raise RuntimeError("first line of the error\nsecond line with a traceback")

    monkeypatch.setattr(bench.run.runner, "execute", failing_execute)
    with pytest.raises(RuntimeError, match="first line"):
        run_and_record(RunConfig(), tmp_path, run_id="cell-7")
    record = _only_record(tmp_path)
    assert record["status"] == "failed" and record["run_id"] == "cell-7"
    assert record["error"] == "RuntimeError: first line of the error"
    assert (record["data_kind"], record["data_source"]) == ("generated", "half way")


def test_an_interrupted_run_is_recorded_too(tmp_path: Path, monkeypatch) -> None:
    def interrupted(config: RunConfig, record: RunRecord, data=None) -> RunRecord:  # noqa: ANN001
        raise KeyboardInterrupt

    monkeypatch.setattr(bench.run.runner, "execute", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_and_record(RunConfig(), tmp_path)
    record = _only_record(tmp_path)
    assert record["status"] == "failed" and record["error"] == "KeyboardInterrupt"


def test_a_long_error_is_cut_to_500_characters(tmp_path: Path, monkeypatch) -> None:
    def verbose(config: RunConfig, record: RunRecord, data=None) -> RunRecord:  # noqa: ANN001
        raise OSError("x" * 5000)

    monkeypatch.setattr(bench.run.runner, "execute", verbose)
    with pytest.raises(OSError):
        run_and_record(RunConfig(), tmp_path)
    assert len(_only_record(tmp_path)["error"]) == 500


@pytest.mark.parametrize("field, value", [("val_loss", math.nan), ("pipeline_images_per_sec", math.inf)])
def test_a_completed_run_with_a_non_finite_measurement_is_still_recorded(
    field: str, value: float, tmp_path: Path, monkeypatch
) -> None:
    # A diverged model evaluates to a NaN loss; time_pipeline returns inf when no clock time elapsed.
    def measured(config: RunConfig, record: RunRecord, data=None) -> RunRecord:  # noqa: ANN001
        record.train_images_per_sec = 100.0
        setattr(record, field, value)
        return record

    monkeypatch.setattr(bench.run.runner, "execute", measured)
    run_and_record(RunConfig(), tmp_path)
    record = _only_record(tmp_path)
    assert record["train_images_per_sec"] == 100.0


# ---- run_and_record: a real tiny run ----------------------------------------------------------------------------
def test_a_tiny_real_run_fills_every_measured_field(tmp_path: Path, mnist_tiny) -> None:
    config = RunConfig(
        workload="mnist",
        pipeline="tfdata",
        batch_size=32,
        epochs=1,
        steps_per_epoch=8,
        warmup_steps=2,
        pipeline_batches=3,
        stage_batches=2,
        ceiling_steps=4,
    )
    record = run_and_record(config, tmp_path, data=mnist_tiny)
    assert record.status == "ok" and record.error is None
    # What ran, on what.
    assert record.data_kind == "generated" and record.data_source == mnist_tiny.source
    assert (record.train_examples, record.test_examples) == (512, 128)
    assert (record.batch_size, record.epochs, record.steps_per_epoch) == (32, 1, 8)
    assert record.pipeline_options["map_parallel"] == -1  # every option value, not just the changed ones
    assert record.augment_spec["name"] == "seed" and record.augment_spec["rotation_deg"] == 10
    # Timings: 8 steps, 2 left out as warm-up.
    assert len(record.step_sec) == 8 and len(record.epoch_sec) == 1
    assert (record.warmup_steps, record.window_steps) == (2, 6)
    assert record.train_images_per_sec == pytest.approx(32 * 6 / sum(record.step_sec[2:]))
    assert 0 < record.step_ms_p50 <= record.step_ms_p95
    assert record.first_step_sec == record.step_sec[0]
    assert record.pipeline_images_per_sec > 0 and record.pipeline_batches == 3
    # The rate's window: at least the batches asked for after the first, and at least MIN_WINDOW_SEC.
    assert record.pipeline_window_batches >= 2 and record.pipeline_window_sec >= MIN_WINDOW_SEC
    window = record.pipeline_window_batches / record.pipeline_window_sec
    assert record.pipeline_images_per_sec == pytest.approx(32 * window)
    assert record.pipeline_first_batch_sec > 0
    assert record.ceiling_images_per_sec > 0 and record.input_bound_pct <= 100  # unclipped: below 0 is noise
    assert record.ceiling_spread_pct is None or record.ceiling_spread_pct >= 0
    # Both ceilings, with every number that went into them; the split adds up to input-bound %.
    assert record.ceiling_kind == "device" and record.fed_ceiling_images_per_sec > 0
    assert record.ceiling_steps == record.fed_ceiling_steps == config.ceiling_steps and record.ceiling_warmup_steps == 2
    assert record.fed_ceiling_input == "float32[32, 28, 28, 1]"
    assert record.input_bound_pct == pytest.approx(
        100 * (1 - record.train_images_per_sec / record.ceiling_images_per_sec)
    )
    assert record.transfer_stall_pct + record.pipeline_stall_pct == pytest.approx(record.input_bound_pct)
    assert isinstance(record.inconsistent, list)
    assert set(record.stage_images_per_sec) == {"source", "augment", "prefetch"}
    assert record.slowest_stage in record.stage_images_per_sec
    # Accuracy on the held-out split, once per epoch.
    assert 0.0 <= record.val_accuracy <= 1.0 and record.epoch_val_accuracy == [record.val_accuracy]
    assert record.val_loss > 0 and record.final_train_loss > 0
    # Environment: which backend trained, with which compile path; GPU memory allocated as needed.
    assert set(record.env) >= ENV_KEYS
    assert record.backend == record.env["keras_backend"] == "tensorflow" and record.compile == "graph"
    assert record.gpu_preallocation.startswith("off")
    if record.env["gpu_count"] == 0:  # a CPU-only machine: GPU fields empty, with the reason said
        assert record.env["gpu_name"] is None and record.env["tf_gpus"] == 0
        assert record.gpu_peak_mem_mb is None and record.gpu_peak_mem_nvml_mb is None
        assert record.gpu_util_mean_pct is None and record.gpu_util_peak_pct is None
        assert record.gpu_note
    assert record.peak_host_rss_mb > 0 and record.wall_sec > 0
    # The appended line is this record.
    assert RunRecord.from_dict(_only_record(tmp_path)) == record


@pytest.mark.gpu
def test_on_a_gpu_machine_memory_and_utilisation_are_measured(tmp_path: Path, mnist_tiny) -> None:
    config = RunConfig(workload="mnist", batch_size=32, steps_per_epoch=8, warmup_steps=2, ceiling_steps=4)
    record = run_and_record(config, tmp_path, data=mnist_tiny)
    assert record.env["gpu_count"] >= 1 and record.env["gpu_name"]
    assert record.gpu_peak_mem_nvml_mb > 0 and record.gpu_util_peak_pct is not None
    assert record.gpu_preallocation.startswith("off")


def test_records_written_into_the_committed_results_leave_the_code_clean(scratch_repo: Path) -> None:
    """A sweep appends to results/runs.jsonl cell after cell: its later records must still say the code is clean."""
    from bench.environment import code_identity

    results = scratch_repo / "results"
    results.mkdir()
    (results / "runs.jsonl").write_text("{}\n")
    _git(scratch_repo, "add", "results")
    _git(scratch_repo, "commit", "-q", "-m", "records")
    with (results / "runs.jsonl").open("a") as out:
        out.write('{"new": 1}\n')
    assert code_identity(scratch_repo)["git_dirty"] is False
    (scratch_repo / "code.py").write_text("RATE = 9\n")
    assert code_identity(scratch_repo)["git_dirty"] is True
