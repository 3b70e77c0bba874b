"""The measuring core: timing arithmetic (fake clock), records, the report's ratios, and the CLI's errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bench.cli import main
from bench.records import RunRecord, append_record, read_records
from bench.report import build_report, records_frame, summarize
from bench.timing import StepLog, StepTimer, summarize_steps, time_pipeline


# ---- timing ------------------------------------------------------------------------------------------------
class FakeClock:
    def __init__(self, ticks: list[float]) -> None:
        self.ticks = iter(ticks)

    def __call__(self) -> float:
        return next(self.ticks)


def test_steady_state_leaves_out_warmup_and_is_exact() -> None:
    log = StepLog(step_sec=[5.0, 1.0, 0.1, 0.1, 0.2, 0.1, 0.1], epoch_sec=[6.6])
    steady = summarize_steps(log, images_per_step=10, warmup_steps=2)
    assert steady.window_steps == 5
    assert steady.images_per_sec == pytest.approx(50 / 0.6)
    assert steady.step_ms_p50 == pytest.approx(100.0)
    assert steady.step_ms_p95 == pytest.approx(180.0)  # numpy linear interpolation over [.1,.1,.1,.1,.2]
    assert steady.first_step_sec == 5.0 and steady.first_epoch_sec == 6.6


def test_steps_per_execution_reports_per_step_times() -> None:
    log = StepLog(step_sec=[9.0, 0.4, 0.4, 0.4])  # each entry covers 4 steps
    steady = summarize_steps(log, images_per_step=10, warmup_steps=4, steps_per_callback=4)
    assert steady.warmup_steps == 4 and steady.window_steps == 12
    assert steady.images_per_sec == pytest.approx(120 / 1.2)
    assert steady.step_ms_p50 == pytest.approx(100.0)


def test_too_few_steps_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="raise --steps"):
        summarize_steps(StepLog(step_sec=[1.0, 1.0, 1.0]), images_per_step=1, warmup_steps=2)


def test_step_timer_with_a_fake_clock() -> None:
    timer = StepTimer(clock=FakeClock([0.0, 2.0, 2.5, 3.5, 10.0, 11.0, 11.25, 11.5]))
    timer.on_epoch_begin(0)
    timer.on_train_batch_end(0, {"loss": 1.5})
    timer.on_train_batch_end(1, {"loss": 1.0})
    timer.on_epoch_end(0)  # 3.5
    timer.on_epoch_begin(1)  # 10.0
    timer.on_train_batch_end(0, {"loss": 0.5})
    timer.on_train_batch_end(1, {"loss": 0.25})
    timer.on_epoch_end(1)
    assert timer.log.step_sec == pytest.approx([2.0, 0.5, 1.0, 0.25])
    assert timer.log.step_epoch == [0, 0, 1, 1]
    assert timer.log.epoch_sec == pytest.approx([3.5, 1.5])
    assert timer.log.last_loss == 0.25


def test_pipeline_timing_reports_first_batch_apart() -> None:
    batches = [([0] * 4, [0] * 4)] * 5
    timing = time_pipeline(batches, 5, clock=FakeClock([0.0, 3.0, 3.0, 3.5, 4.0, 4.5, 5.0]))
    assert timing.first_batch_sec == 3.0
    assert timing.images_per_sec == pytest.approx(16 / 2.0)


# ---- records ------------------------------------------------------------------------------------------------
def test_record_round_trips_through_json() -> None:
    record = RunRecord(workload="mnist", pipeline="tfdata", knobs={"prefetch": None}, step_sec=[0.1, 0.2])
    assert RunRecord.from_dict(json.loads(record.to_json())) == record


def test_records_append_whole_lines_and_torn_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    append_record(path, RunRecord(workload="a"))
    with open(path, "a") as handle:
        handle.write('{"workload": "torn')  # what a killed writer without a single write() would leave
        handle.write("\n")
    append_record(path, RunRecord(workload="b"))
    with pytest.warns(UserWarning, match="not a JSON record"):
        records = read_records(path)
    assert [r["workload"] for r in records] == ["a", "b"]


# ---- report ------------------------------------------------------------------------------------------------
def _rec(workload: str, pipeline: str, rate: float, source: str = "MNIST", **extra) -> dict:
    return {
        "run_id": f"{pipeline}{rate}",
        "status": "ok",
        "workload": workload,
        "pipeline": pipeline,
        "knobs": {},
        "augment": "seed",
        "batch_size": 128,
        "data_kind": "real",
        "data_source": source,
        "train_images_per_sec": rate,
        "step_ms_p50": 1.0,
        "step_ms_p95": 2.0,
        "pipeline_images_per_sec": rate * 2,
        "val_accuracy": 0.9,
        "peak_host_rss_mb": 100.0,
        "window_steps": 10,
        **extra,
    }


def test_report_computes_speedup_and_ceiling_fraction_from_records() -> None:
    records = [
        _rec("mnist", "idg", 100.0),
        _rec("mnist", "tfdata", 280.0),
        _rec("mnist", "tfdata", 300.0),
        _rec("mnist", "tfdata", 320.0),  # three repeats: median 300
        _rec("mnist", "synthetic", 400.0),
        _rec("cifar10", "tfdata", 50.0),  # no idg or ceiling of its own: no ratio borrowed from mnist
        _rec("mnist", "tfdata", 999.0, source="generated"),  # other data: not compared with real rows
        {**_rec("mnist", "tfdata", 1e9), "status": "failed"},  # failures never enter the table
    ]
    table = summarize(records_frame(records)).set_index(["workload", "pipeline", "data_source"])
    row = table.loc[("mnist", "tfdata", "MNIST")]
    assert row["runs"] == 3 and row["images_per_sec"] == 300.0
    assert row["speedup_vs_idg"] == pytest.approx(3.0)
    assert row["fraction_of_ceiling"] == pytest.approx(0.75)
    assert table.loc[("mnist", "idg", "MNIST"), "speedup_vs_idg"] == pytest.approx(1.0)
    assert pd_isna(table.loc[("cifar10", "tfdata", "MNIST"), "speedup_vs_idg"])
    assert pd_isna(table.loc[("mnist", "tfdata", "generated"), "speedup_vs_idg"])


def pd_isna(value: object) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_build_report_writes_markdown_csv_and_lists_failures(tmp_path: Path) -> None:
    for record in [
        _rec("mnist", "idg", 100.0),
        {**_rec("mnist", "tfdata", 5.0), "status": "failed", "error": "ValueError: boom"},
    ]:
        append_record(tmp_path / "runs.jsonl", RunRecord.from_dict(record))
    text, table = build_report(tmp_path, plots=False)
    assert len(table) == 1
    assert "ValueError: boom" in text
    assert "real: MNIST" in (tmp_path / "README.md").read_text()
    assert (tmp_path / "report.csv").read_text().startswith("workload,")


def test_report_without_records_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["report", "--results", str(tmp_path)]) == 2
    assert "bench run" in capsys.readouterr().err


# ---- CLI ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, named",
    [
        (["run", "--pipeline", "bogus"], "bogus"),
        (["run", "--workload", "imagenet"], "imagenet"),
        (["run", "--data", "internet"], "internet"),
        (["run", "--steps", "0"], "positive"),
        (["run", "--prefetch", "-3"], None),
    ],
)
def test_bad_values_exit_2_naming_the_value(argv: list[str], named: str | None, capsys) -> None:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own choice errors
        code = exit_.code
    assert code == 2
    if named:
        assert named in capsys.readouterr().err


def test_forced_tfds_offline_is_one_line_within_seconds(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no tfds or Keras cache
    start = time.monotonic()
    assert main(["run", "--data", "tfds", "--results", str(tmp_path)]) == 2
    assert time.monotonic() - start < 30
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "--data generated" in err[0]


def test_knob_for_the_wrong_pipeline_is_an_error(tmp_path: Path, capsys) -> None:
    assert main(["run", "--pipeline", "idg", "--prefetch", "2", "--data", "generated", "--results", str(tmp_path)]) == 2
    assert "has no option prefetch" in capsys.readouterr().err


def test_weights_flag_only_for_vgg(tmp_path: Path, capsys) -> None:
    assert main(["run", "--workload", "mnist", "--weights", "none", "--results", str(tmp_path)]) == 2
    assert "imagenette-vgg16" in capsys.readouterr().err


def test_list_and_env(capsys) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("mnist", "imagenette-vgg16", "idg", "tfdata-naive", "synthetic"))
    assert main(["env"]) == 0
    env = json.loads(capsys.readouterr().out)
    assert {"python", "tensorflow", "keras", "numpy", "cpu_model", "cpu_cores", "git_commit"} <= set(env)


@pytest.mark.slow
def test_run_appends_one_record_and_prints_a_table(tmp_path: Path, capsys) -> None:
    argv = [
        "run",
        "--data",
        "generated",
        "--limit",
        "2048",
        "--steps",
        "10",
        "--batch-size",
        "32",
        "--warmup-steps",
        "2",
        "--pipeline-batches",
        "3",
        "--results",
        str(tmp_path),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| mnist" in out and "generated" in out
    (record,) = read_records(tmp_path / "runs.jsonl")
    assert record["status"] == "ok" and record["data_kind"] == "generated"
    assert record["step_ms_p50"] <= record["step_ms_p95"]
    assert 0.0 <= record["val_accuracy"] <= 1.0
    assert record["gpu_peak_mem_tf_mb"] is None and record["gpu_note"]  # no GPU here: null with a reason
    assert record["env"]["git_commit"]
    assert main(["report", "--results", str(tmp_path), "--no-plots"]) == 0
    assert (tmp_path / "README.md").exists()
