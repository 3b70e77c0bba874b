"""`bench scale`: core counts, the `--vary` rows, and a real run of pinned points end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli.parser import main
from bench.sweep.core_scaling import SCALING_FILE, core_counts, point_label, scaling_table


def test_core_counts_double_up_to_the_limit_and_end_on_it() -> None:
    assert core_counts(1) == [1]
    assert core_counts(6) == [1, 2, 4, 6]
    assert core_counts(16) == [1, 2, 4, 8, 16]


def test_a_point_is_labelled_by_pipeline_place_and_varied_knob() -> None:
    assert point_label("tfdata", "host", None) == "tfdata"
    assert point_label("tfdata", "device", {}) == "tfdata@device"
    assert point_label("tfdata", "host", {"private_threadpool": "off"}) == "tfdata [private_threadpool=off]"


def test_varied_rows_scale_apart_from_the_default_row() -> None:
    records = [
        {"workload": "w", "data_source": "d", "pipeline": "tfdata", "cores": c, "images_per_sec": r}
        for c, r in ((1, 100.0), (2, 200.0))
    ] + [
        {
            "workload": "w", "data_source": "d", "pipeline": "tfdata", "augment_on": "host", "cores": c,
            "images_per_sec": r, "overrides": {"private_threadpool": "1"},
        }
        for c, r in ((1, 100.0), (2, 110.0))
    ]  # fmt: skip
    table = scaling_table(records).set_index(["pipeline", "cores"])
    assert table.loc[("tfdata", 2), "efficiency vs linear"] == pytest.approx(1.0)
    assert table.loc[("tfdata [private_threadpool=1]", 2), "efficiency vs linear"] == pytest.approx(0.55)


def test_efficiency_above_linear_is_flagged_in_the_table() -> None:
    """`132%` printed plain read as a super-linear speed-up; above 105% it is flagged, like `of ceiling`."""
    from bench.sweep.core_scaling import scaling_text

    records = [
        {"workload": "w", "data_source": "d", "pipeline": p, "cores": c, "images_per_sec": r}
        for p, c, r in (("idg", 1, 100.0), ("idg", 2, 264.0), ("tfdata", 1, 100.0), ("tfdata", 2, 210.0))
    ]
    rows = {line.split("|")[3].strip() + "@" + line.split("|")[4].strip(): line.split("|")[7].strip()
            for line in scaling_text(scaling_table(records)).splitlines()[2:]}  # fmt: skip
    assert rows == {"idg@1": "100%", "idg@2": "132% (above linear: noise)", "tfdata@1": "100%", "tfdata@2": "105%"}


@pytest.mark.parametrize(
    ("vary", "words"),
    [
        ("private_threadpool", "expected KNOB=V1,V2"),
        ("no_such_knob=1", "has a knob 'no_such_knob'"),
        ("private_threadpool=lots", "--vary private_threadpool=lots"),
    ],
)
def test_a_bad_vary_is_one_line_before_any_point(vary: str, words: str, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    try:
        code = main(["scale", "--pipelines", "tfdata", "--cores", "1", "--vary", vary, "--results", str(tmp_path)])
    except SystemExit as stop:  # argparse's own refusal of a malformed value
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1
    assert not (tmp_path / SCALING_FILE).exists()


@pytest.mark.slow
def test_scale_runs_each_point_pinned_and_records_the_varied_rows(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    argv = ["scale", "--workload", "mnist", "--data", "generated", "--pipelines", "tfdata", "--cores", "1"]
    argv += ["--batches", "5", "--no-decode-limit", "--vary", "private_threadpool=off,2", "--results", str(tmp_path)]
    assert main(argv) == 0
    records = [json.loads(line) for line in (tmp_path / SCALING_FILE).read_text().splitlines()]
    assert [r["overrides"] for r in records] == [{}, {"private_threadpool": "off"}, {"private_threadpool": "2"}]
    assert [r["options"]["private_threadpool"] for r in records] == [1, None, 2]  # default: pinned to the cores
    assert all(r["cores"] == 1 and r["images_per_sec"] > 0 for r in records)
    assert "tfdata [private_threadpool=2]" in capsys.readouterr().out


def test_a_rerun_replaces_its_point_in_place_and_rows_keep_first_appearance_order() -> None:
    def point(pipeline: str, cores: int, rate: float) -> dict:
        return {"workload": "w", "data_source": "d", "pipeline": pipeline, "cores": cores, "images_per_sec": rate}

    records = [point("idg", 1, 10.0), point("tfdata", 1, 50.0), point("idg", 1, 12.0)]
    table = scaling_table(records)
    assert list(table["pipeline"]) == ["idg", "tfdata"]
    assert list(table["img/s"]) == [12.0, 50.0]


def test_the_scaling_plot_draws_pipelines_at_their_defaults_only() -> None:
    from bench.report.plots import scaling_figure

    records = [
        {"workload": "w", "data_source": "d", "pipeline": "tfdata", "cores": 1, "images_per_sec": 100.0},
        {
            "workload": "w", "data_source": "d", "pipeline": "tfdata", "cores": 1, "images_per_sec": 90.0,
            "overrides": {"private_threadpool": "4"},
        },
    ]  # fmt: skip
    figure = scaling_figure(scaling_table(records))
    labels = [text.get_text() for ax in figure.axes for text in ax.get_legend().get_texts()]
    assert labels == ["tfdata"]


def test_a_point_that_fails_in_its_process_is_one_failed_line_and_a_failure_record(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from bench.records import read_records
    from bench.sweep.fresh_process import measure_in_fresh_process

    # no `cores`: KeyError there
    assert measure_in_fresh_process("bench.sweep.core_scaling", {"workload": "mnist"}, tmp_path / "s.jsonl") is None
    err = capsys.readouterr().err.strip()
    assert err.startswith("FAILED: KeyError") and len(err.splitlines()) == 1
    (record,) = read_records(tmp_path / "s.jsonl")
    assert record["status"] == "failed" and record["error"].startswith("KeyError") and record["workload"] == "mnist"
    assert scaling_table([record]).empty  # tables read the points that measured something


def test_a_point_past_its_timeout_is_killed_and_recorded_as_failed(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    import time

    from bench.records import read_records
    from bench.sweep.fresh_process import measure_in_fresh_process

    start = time.monotonic()
    assert measure_in_fresh_process("tests.sweep.sleeper", {"sleep": 60}, tmp_path / "s.jsonl", timeout_sec=2) is None
    assert time.monotonic() - start < 15
    (record,) = read_records(tmp_path / "s.jsonl")
    assert record["status"] == "failed" and "timed out after 2 s" in record["error"]
    assert "FAILED: timed out" in capsys.readouterr().err


def test_the_decode_only_row_is_scheduled_for_file_inputs_only() -> None:
    """`bench scale --workload mnist` always had a FAILED decode-only point (arrays are never decoded)."""
    from bench.sweep.core_scaling import DECODE_ONLY, scale_rows
    from imgcls.workloads import get_workload

    def names(workload: str) -> list[str]:
        return [row[0] for row in scale_rows(get_workload(workload), ["tfdata"], ["host"], None)]

    assert names("mnist") == names("cifar10") == ["tfdata"]
    assert names("imagenette") == ["tfdata", DECODE_ONLY]
