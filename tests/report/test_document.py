"""bench.report.document from hand-written records with known numbers: medians, speedups, ceiling fractions, files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bench.knobs import knobs_label
from bench.records import RUNS_FILE, RunRecord, append_record
from bench.report.comparison import ceiling_fraction_text, display_frame, input_bound_text, summarize, table_text
from bench.report.document import PLOTS, build_report
from bench.report.knob_analysis import _verdict, knob_analysis
from bench.report.records_frame import records_frame
from imgcls.errors import UserFacingError


def record(pipeline: str, rate: float, *, workload: str = "mnist", source: str = "MNIST 60000/10000", **extra) -> dict:
    """A successful record as `json.loads(RunRecord.to_json())` would give it, with round numbers."""
    base = json.loads(
        RunRecord(
            workload=workload,
            pipeline=pipeline,
            augment="seed",
            batch_size=64,
            data_kind="real",
            data_source=source,
            train_images_per_sec=rate,
            pipeline_images_per_sec=2 * rate,
            step_ms_p50=1000 * 64 / rate,
            step_ms_p95=1.5 * 1000 * 64 / rate,
            val_accuracy=None if pipeline == "synthetic" else 0.9,
            peak_host_rss_mb=500.0,
            window_steps=20,
            env={"cpu_model": "test cpu", "cpu_cores": 2, "python": "3.11"},
        ).to_json()
    )
    base.update(extra)
    return base


def _records() -> list[dict]:
    return [
        record("idg", 100.0),
        record("tfdata", 280.0),
        record("tfdata", 320.0),  # two repeats of one config: median 300, spread 280-320
        record("synthetic", 400.0),
    ]


def _table(records: list[dict]) -> pd.DataFrame:
    return summarize(records_frame(records))


def _row(table: pd.DataFrame, **match) -> pd.Series:
    selected = table
    for key, value in match.items():
        selected = selected[selected[key] == value]
    assert len(selected) == 1, f"expected one row for {match}, got {len(selected)}"
    return selected.iloc[0]


def test_speedup_vs_baseline_and_fraction_of_ceiling_use_the_median_of_repeats() -> None:
    table = _table(_records())
    assert len(table) == 3
    tfdata = _row(table, pipeline="tfdata")
    assert tfdata["runs"] == 2
    assert tfdata["images_per_sec"] == pytest.approx(300.0)
    assert (tfdata["images_per_sec_min"], tfdata["images_per_sec_max"]) == (280.0, 320.0)
    assert tfdata["speedup_vs_baseline"] == pytest.approx(3.0)
    assert tfdata["fraction_of_ceiling"] == pytest.approx(0.75)
    assert tfdata["pipeline_images_per_sec"] == pytest.approx(600.0)
    idg = _row(table, pipeline="idg")
    assert idg["speedup_vs_baseline"] == pytest.approx(1.0) and idg["fraction_of_ceiling"] == pytest.approx(0.25)
    synthetic = _row(table, pipeline="synthetic")
    assert synthetic["speedup_vs_baseline"] == pytest.approx(4.0)
    assert synthetic["fraction_of_ceiling"] == pytest.approx(1.0)
    assert pd.isna(synthetic["val_accuracy"])


def test_odd_number_of_repeats_takes_the_middle_value_not_the_mean() -> None:
    records = [record("idg", 100.0), *(record("tfdata", r) for r in (100.0, 300.0, 1100.0))]
    row = _row(_table(records), pipeline="tfdata")
    assert row["runs"] == 3 and row["images_per_sec"] == pytest.approx(300.0)  # the mean would be 500
    assert row["speedup_vs_baseline"] == pytest.approx(3.0)


def test_rows_of_another_workload_or_data_source_do_not_borrow_a_baseline() -> None:
    records = [
        *_records(),
        record("tfdata", 300.0, workload="cifar10"),  # same data source name, other workload
        record("tfdata", 300.0, source="generated mnist-shaped arrays 12000/2000"),  # same workload, other data
        record("tfdata", 300.0, data_kind="generated"),  # same source text, other kind
    ]
    table = _table(records)
    assert len(table) == 6
    assert pd.isna(_row(table, workload="cifar10")["speedup_vs_baseline"])
    assert pd.isna(_row(table, workload="cifar10")["fraction_of_ceiling"])
    other_source = _row(table, data_source="generated mnist-shaped arrays 12000/2000")
    assert pd.isna(other_source["speedup_vs_baseline"])
    assert pd.isna(_row(table, workload="mnist", pipeline="tfdata", data_kind="generated")["speedup_vs_baseline"])
    # ...while the original comparison is untouched by the extra rows.
    assert _row(table, workload="mnist", pipeline="tfdata", data_kind="real", data_source="MNIST 60000/10000")[
        "speedup_vs_baseline"
    ] == pytest.approx(3.0)


def test_batch_size_and_training_knobs_separate_rows_and_ceilings() -> None:
    records = [
        *_records(),
        record("tfdata", 600.0, batch_size=128),  # no idg or ceiling at batch 128
        record("tfdata", 300.0, knobs={"compile": "xla"}, compile="xla"),  # a training knob: no xla ceiling
        record("tfdata", 150.0, knobs={"prefetch": None}),  # a pipeline knob: same ceiling as the preset
    ]
    table = _table(records)
    big = _row(table, batch_size=128)
    assert pd.isna(big["speedup_vs_baseline"]) and pd.isna(big["fraction_of_ceiling"])
    xla = _row(table, knobs_label="compile=xla")
    # Baseline and ceiling must share the training knobs: an XLA gain is never credited to the pipeline.
    assert pd.isna(xla["speedup_vs_baseline"]) and pd.isna(xla["fraction_of_ceiling"])
    no_prefetch = _row(table, knobs_label="prefetch=off")
    assert no_prefetch["speedup_vs_baseline"] == pytest.approx(1.5)
    assert no_prefetch["fraction_of_ceiling"] == pytest.approx(150 / 400)


def test_failed_records_are_excluded_from_the_table() -> None:
    failed = record("tfdata", 1e9, status="failed", error="RuntimeError: boom")
    table = _table([*_records(), failed])
    assert _row(table, pipeline="tfdata")["runs"] == 2
    assert table["images_per_sec"].max() == pytest.approx(400.0)
    assert records_frame([failed]).empty
    assert table_text([failed]) == ""


def test_knobs_label_spells_values_as_a_user_types_them() -> None:
    assert knobs_label({}) == "default" and knobs_label(None) == "default"
    knobs = {"prefetch": None, "map_parallel": -1, "vectorize": False, "backend": "jax", "cache": "memory"}
    assert knobs_label(knobs) == "backend=jax,cache=memory,map_parallel=autotune,prefetch=off,vectorize=off"
    assert knobs_label({"shuffle_buffer": 1}) == "shuffle_buffer=1"  # 1 is not "on"


NEWER_FIELDS = ("stage_images_per_sec", "slowest_stage", "input_bound_pct", "compile_sec_est")


def _old(item: dict) -> dict:
    """The record as an older version of the harness wrote it (same schema_version, fewer fields)."""
    return {k: v for k, v in item.items() if k not in NEWER_FIELDS}


def test_records_of_an_older_harness_still_summarize() -> None:
    table = _table([_old(r) for r in _records()])
    assert _row(table, pipeline="tfdata")["speedup_vs_baseline"] == pytest.approx(3.0)
    assert table["slowest_stage"].isna().all()


def test_old_and_new_records_mixed_in_one_file_still_summarize() -> None:
    # A resumable sweep appends to the same runs.jsonl across harness versions; SCHEMA_VERSION did not change
    # when stage_images_per_sec was added, so old and new records share one file.
    records = [_old(record("idg", 100.0)), record("tfdata", 300.0, stage_images_per_sec={"source": 900.0})]
    table = _table(records)
    assert _row(table, pipeline="tfdata")["speedup_vs_baseline"] == pytest.approx(3.0)
    assert pd.isna(_row(table, pipeline="idg")["slowest_stage"])


# ---- build_report ----------------------------------------------------------------------------------------
def _write(results: Path, records: list[dict]) -> Path:
    for item in records:
        append_record(results / RUNS_FILE, RunRecord.from_dict(item))
    return results


def test_build_report_writes_markdown_and_csv_and_lists_failures(tmp_path: Path) -> None:
    failed = record("tfdata-naive", 5.0, status="failed", error="ValueError: bad knob")
    results = _write(tmp_path / "results", [*_records(), failed])
    text, table = build_report(results, plots=False)
    assert len(table) == 3 and "tfdata-naive" not in set(table["pipeline"])
    # Failures are listed with their error, not tabled.
    assert "### Failed runs" in text and "ValueError: bad knob" in text
    markdown = (results / "README.md").read_text()
    assert "### mnist" in markdown and "ValueError: bad knob" in markdown
    assert "3.00" in markdown and "75%" in markdown  # x idg and of-ceiling of the tfdata row
    assert "280-320" in markdown  # the spread of the two repeats
    assert "5 record(s)" in markdown  # failures count as records read
    assert "cpu_model=test cpu" in markdown
    csv = pd.read_csv(results / "report.csv")
    assert list(csv["pipeline"]) == list(table["pipeline"])
    row = csv[csv["pipeline"] == "tfdata"].iloc[0]
    assert row["speedup_vs_baseline"] == pytest.approx(3.0) and row["fraction_of_ceiling"] == pytest.approx(0.75)
    assert not list(results.glob("*.png"))  # plots=False writes no figures


@pytest.mark.slow
def test_build_report_with_plots_writes_every_figure(tmp_path: Path) -> None:
    records = [record(p, r, step_sec=[0.5, 0.1, 0.12, 0.11], warmup_steps=1) for p, r in _records_args()]
    results = _write(tmp_path, records)
    build_report(results, plots=True)
    for name in PLOTS:
        assert (results / name).stat().st_size > 1000, name
        assert f"![{name}]({name})" in (results / "README.md").read_text()


def _records_args() -> list[tuple[str, float]]:
    return [("idg", 100.0), ("tfdata", 300.0), ("synthetic", 400.0)]


def test_build_report_filters_by_workload(tmp_path: Path) -> None:
    results = _write(tmp_path, [*_records(), record("tfdata", 50.0, workload="cifar10")])
    _, table = build_report(results, workload="cifar10", plots=False)
    assert set(table["workload"]) == {"cifar10"}
    assert "### mnist" not in (results / "README.md").read_text()


def test_build_report_with_only_failures_says_so_and_writes_no_csv(tmp_path: Path) -> None:
    results = _write(tmp_path, [record("tfdata", 1.0, status="failed", error="OSError: disk")])
    text, table = build_report(results, plots=False)
    assert table.empty
    assert "No successful runs" in text and "OSError: disk" in text
    assert (results / "README.md").exists() and not (results / "report.csv").exists()


def test_build_report_without_records_raises_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserFacingError, match="runs.jsonl"):
        build_report(tmp_path / "empty", plots=False)
    assert not (tmp_path / "empty").exists()  # nothing written on the way out


def test_report_is_a_pure_function_of_the_records(tmp_path: Path) -> None:
    a = _write(tmp_path / "a", _records())
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / RUNS_FILE).write_bytes((a / RUNS_FILE).read_bytes())
    build_report(a, plots=False)
    build_report(tmp_path / "b", plots=False)  # another folder, another moment: the same bytes
    assert (a / "README.md").read_text() == (tmp_path / "b" / "README.md").read_text()
    assert (a / "report.csv").read_text() == (tmp_path / "b" / "report.csv").read_text()


def test_knob_verdict_does_not_crown_a_noise_winner() -> None:
    """An ablation that costs nothing (or helps) is not 'the knob that mattered'."""
    assert _verdict("prefetch=off", -0.40, "input knob") == "prefetch=off: -40%"
    assert _verdict("interleave_cycle=4", 0.01, "input knob") == "no input knob changes it by > 3%"
    assert _verdict(None, float("nan"), "input knob") is None


def test_a_ceiling_on_other_data_is_never_a_denominator() -> None:
    """A synthetic row on generated data must not be the ceiling of rows on real data (and vice versa)."""
    records = [record("idg", 100.0), record("tfdata", 300.0), record("synthetic", 200.0, data_kind="generated")]
    table = _table(records)
    assert pd.isna(_row(table, pipeline="tfdata")["fraction_of_ceiling"])


def test_above_the_ceiling_and_below_the_noise_are_said_not_hidden() -> None:
    assert ceiling_fraction_text(1.22) == "122% (above the ceiling run)" and ceiling_fraction_text(0.85) == "85%"
    assert input_bound_text(-3.7, 2.0) == "-4 (e2e above ceiling)"  # a negative value is the number, flagged
    assert input_bound_text(-40.0, 80.0) == "-40 (e2e above ceiling)"  # never "< noise", whatever the spread
    assert input_bound_text(6.0, 12.5) == "< noise (12%)"  # the ceiling's own spread is the bar
    assert input_bound_text(20.0, 104.0) == "20? (ceiling spread 104%: unreliable)"  # no "< noise (104%)"
    assert input_bound_text(40.0, 5.0) == "40"


def test_a_record_that_breaks_an_invariant_is_flagged_in_its_row_with_both_numbers() -> None:
    """Old records (the one ceiling was a fed one) are checked from their numbers too."""
    records = [record("tfdata", 14115.0, ceiling_images_per_sec=13015.0, ceiling_spread_pct=1.0)]
    shown = display_frame(_table(records)).iloc[0]
    assert shown["checks"].startswith("INCONSISTENT: e2e 14,115 img/s is above the fed ceiling 13,015")
    assert shown["ceiling"] == "fed"
    fine = [record("tfdata", 12000.0, ceiling_images_per_sec=13015.0, ceiling_spread_pct=1.0, ceiling_kind="device")]
    assert display_frame(_table(fine)).iloc[0]["checks"] == "ok"


def test_knob_analysis_credits_training_knobs_apart_from_pipelines() -> None:
    """bfloat16 makes the tfdata row fastest; the best *pipeline* is still judged on the default training step."""
    records = [
        record("idg", 100.0),
        record("tfdata-naive", 150.0),
        record("tfdata", 300.0),
        record("tfdata", 200.0, knobs={"prefetch": None}),
        record("tfdata", 600.0, knobs={"mixed_precision": "bfloat16"}, mixed_precision="bfloat16"),
        record("synthetic", 400.0),
    ]
    (row,) = knob_analysis(_table(records)).to_dict("records")
    # Single runs: each winner is shown with its lead, never crowned (tests/report/test_knob_analysis.py).
    assert row["best pipeline"] == "tfdata default (+50% over tfdata prefetch=off, 1 run: unconfirmed)"
    assert row["best / baseline"] == pytest.approx(3.0)
    assert row["best training knob"] == "mixed_precision=bfloat16: +100% (1 run: unconfirmed)"
    assert row["costliest input change"] == "prefetch=off: -33%"
    assert row["best input change"] == "no input knob gains > 3%"  # the only change costs: none helps
    assert row["tuned of ceiling"] == pytest.approx(0.75)


def test_report_tables_a_folder_that_holds_only_scaling_records_and_names_only_what_it_wrote(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from bench.cli.parser import main
    from bench.records import append_json_line
    from bench.sweep.core_scaling import SCALING_FILE

    for cores, rate in ((1, 100.0), (2, 180.0)):
        record = {"workload": "imagenette", "data_source": "d", "pipeline": "tfdata", "cores": cores}
        append_json_line(tmp_path / SCALING_FILE, {**record, "images_per_sec": rate})
    assert main(["report", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Core scaling" in out and "180" in out
    assert out.strip().splitlines()[-1] == f"wrote README.md in {tmp_path}"  # no report.csv, no plots: none made
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", SCALING_FILE]


def test_a_report_that_fails_half_way_leaves_the_previous_files_whole(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001

    results = _write(tmp_path / "r", _records())
    build_report(results, plots=True)
    before = {p.name: p.read_bytes() for p in results.iterdir()}

    def full_disk(self, path, **kwargs):  # noqa: ANN001, ANN202 - a savefig that dies after writing half a PNG
        Path(path).write_bytes(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("matplotlib.figure.Figure.savefig", full_disk)
    with pytest.raises(OSError, match="No space"):
        build_report(results, plots=True)
    assert {p.name: p.read_bytes() for p in results.iterdir()} == before  # no torn PNG, no stray temp file


def test_the_accuracy_section_counts_full_epoch_runs_apart_from_short_ones() -> None:
    from bench.report.document import _epoch_runs_text

    runs = [
        {"steps_per_epoch": 468, "batch_size": 128, "train_examples": 60000},  # every full batch: a full epoch
        {"steps_per_epoch": 10, "batch_size": 32, "train_examples": 1000},
    ]
    assert _epoch_runs_text(runs) == "2 runs (1 of full epochs, 1 of a few steps)"


def test_a_device_rows_x_idg_is_labelled_a_host_work_ratio() -> None:
    from bench.sweep.cache_payoff import cache_text

    table = pd.DataFrame(
        [
            {"pipeline": p, "cache": c, "epoch 1 img/s": 1.0, "later epochs img/s": 1.0, "cached data MB": None,
             "RAM held MB": 1.0, "later speed-up": None, "x idg": x, "ahead from epoch": None}
            for p, c, x in [("idg", None, 1.0), ("tfdata", "off", 3.2), ("tfdata@device", "off", 16.5)]
        ]
    )  # fmt: skip
    text = cache_text(table)
    assert "16.50x (host work)" in text and "3.20x (host work)" not in text and "3.20x" in text


def test_a_model_trained_from_random_weights_says_so_in_its_row() -> None:
    records = [record("tfdata", 300.0, workload="imagenette-vgg16", model_weights="none"), record("idg", 100.0)]
    shown = display_frame(_table(records))
    assert set(shown["workload"]) == {"imagenette-vgg16 (random weights)", "mnist"}


def test_a_slice_of_the_table_shows_every_row_with_its_own_numbers() -> None:
    """The report tables each workload's slice of the summary (index 4.., not 0..): every column must stay on its
    row (a frame built from lists beside Series once aligned them by label, so later workloads showed `nan` rows
    and input-bound values beside the wrong pipelines)."""
    above = {
        "ceiling_images_per_sec": 100.0,
        "ceiling_spread_pct": 1.0,
        "ceiling_kind": "device",
        "input_bound_pct": -50,
    }
    records = [
        *_records(),
        record("idg", 50.0, workload="cifar10"),
        record("tfdata", 150.0, workload="cifar10", **above),
    ]
    table = _table(records)
    cifar = table[table["workload"] == "cifar10"]
    assert list(cifar.index) != list(range(len(cifar)))  # the case that broke: a slice not indexed from 0
    shown = display_frame(cifar)
    assert list(shown["pipeline"]) == list(cifar["pipeline"])
    assert list(shown["img/s (e2e)"]) == ["50", "150"]
    tfdata = shown[shown["pipeline"] == "tfdata"].iloc[0]
    assert tfdata["input-bound %"] == "-50 (e2e above ceiling)" and tfdata["checks"].startswith("INCONSISTENT")
    assert "nan" not in shown.to_string()
