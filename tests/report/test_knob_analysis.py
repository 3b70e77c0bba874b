"""bench.report.knob_analysis: a knob is crowned 'best' only when its interval over repeats clears the noise."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.report.knob_analysis import _gain_verdict


def _row(rate: float, runs: int = 1, low: float | None = None, high: float | None = None) -> pd.Series:
    return pd.Series(
        {"images_per_sec": rate, "runs": runs, "images_per_sec_min": low or rate, "images_per_sec_max": high or rate}
    )


def test_a_single_run_gain_is_shown_but_not_crowned() -> None:
    assert _gain_verdict("prefetch=4", _row(104.0), _row(100.0), "input knob") == "prefetch=4: +4% (1 run: unconfirmed)"


def test_a_gain_within_the_runs_spread_is_unconfirmed_and_one_beyond_it_is_crowned() -> None:
    tuned = _row(100.0, runs=3, low=95.0, high=104.0)
    overlapping = _row(110.0, runs=3, low=103.0, high=115.0)
    assert _gain_verdict("k=1", overlapping, tuned, "input knob") == "k=1: +10% (within the runs' spread: unconfirmed)"
    clear = _row(120.0, runs=3, low=116.0, high=124.0)
    assert _gain_verdict("k=1", clear, tuned, "input knob") == "k=1: +20%"


def test_no_gain_beyond_the_noise_floor_is_said_so() -> None:
    assert _gain_verdict("k=1", _row(102.0, 3), _row(100.0, 3), "input knob") == "no input knob changes it by > 3%"


# ---- the whole analysis, from records: 'best pipeline' and 'best training knob' crowned the same way ----------
def _record(pipeline: str, rate: float, **extra: object) -> dict:
    from bench.records import RunRecord

    record = RunRecord(workload="mnist", pipeline=pipeline, augment="seed", batch_size=64, data_kind="real",
                       data_source="MNIST", train_images_per_sec=rate, pipeline_images_per_sec=2 * rate,
                       env={"cpu_model": "test cpu", "cpu_cores": 2})  # fmt: skip
    return {**json.loads(record.to_json()), **extra}


def _runs(pipeline: str, rates: list[float], **extra: object) -> list[dict]:
    return [_record(pipeline, rate, **extra) for rate in rates]


BF16 = {"knobs": {"mixed_precision": "bfloat16"}, "mixed_precision": "bfloat16"}


def _analysis(records: list[dict]) -> dict:
    from bench.report.comparison import summarize
    from bench.report.knob_analysis import knob_analysis
    from bench.report.records_frame import records_frame

    (row,) = knob_analysis(summarize(records_frame(records))).to_dict("records")
    return row


def test_a_fastest_pipeline_from_single_runs_is_shown_with_its_lead_but_not_crowned() -> None:
    row = _analysis([_record("idg", 100.0), _record("tfdata-naive", 150.0), _record("tfdata", 300.0)])
    assert row["best pipeline"] == "tfdata default (+100% over tfdata-naive default, 1 run: unconfirmed)"
    assert row["best / baseline"] == pytest.approx(3.0)  # the number itself is still shown


def test_a_fastest_pipeline_is_crowned_only_when_its_interval_clears_the_runner_up() -> None:
    idg = _runs("idg", [100.0, 101.0])
    clear = _analysis(idg + _runs("tfdata-naive", [150.0, 160.0]) + _runs("tfdata", [290.0, 300.0, 310.0]))
    assert clear["best pipeline"] == "tfdata default"
    overlapping = _analysis(idg + _runs("tfdata-naive", [150.0, 290.0]) + _runs("tfdata", [280.0, 300.0]))
    assert overlapping["best pipeline"] == (
        "tfdata default (+32% over tfdata-naive default, within the runs' spread: unconfirmed)"
    )
    tied = _analysis(idg + _runs("tfdata-naive", [298.0, 299.0]) + _runs("tfdata", [300.0, 301.0]))
    assert tied["best pipeline"] == "tfdata default (within 3% of tfdata-naive default: unconfirmed)"
    alone = _analysis(idg + _runs("tfdata", [300.0]))  # the only candidate: nothing to beat
    assert alone["best pipeline"] == "tfdata default"


def test_the_best_training_knob_is_crowned_only_when_its_interval_clears_the_noise() -> None:
    base = _runs("idg", [100.0, 100.0])
    single = _analysis(base + _runs("tfdata", [300.0]) + _runs("tfdata", [600.0], **BF16))
    assert single["best training knob"] == "mixed_precision=bfloat16: +100% (1 run: unconfirmed)"
    clear = _analysis(base + _runs("tfdata", [290.0, 310.0]) + _runs("tfdata", [590.0, 610.0], **BF16))
    assert clear["best training knob"] == "mixed_precision=bfloat16: +100%"
    overlapping = _analysis(base + _runs("tfdata", [250.0, 350.0]) + _runs("tfdata", [340.0, 400.0], **BF16))
    assert overlapping["best training knob"] == "mixed_precision=bfloat16: +23% (within the runs' spread: unconfirmed)"
    costly = _analysis(base + _runs("tfdata", [300.0, 300.0]) + _runs("tfdata", [150.0, 150.0], **BF16))
    assert costly["best training knob"] == "no training knob gains > 3%"  # never 'changes it by < 3%' at -50%


def test_which_knob_matters_prints_rates_as_the_other_tables_do() -> None:
    """img/s as whole numbers (`,.0f`, as the comparison tables), ratios to two decimals."""
    from bench.report.comparison import summarize
    from bench.report.knob_analysis import analysis_text
    from bench.report.records_frame import records_frame

    records = [_record("idg", 6104.59), _record("tfdata", 9379.86), _record("synthetic", 10479.54)]
    header, _, row = analysis_text(summarize(records_frame(records))).splitlines()
    cells = dict(zip([h.strip() for h in header.split("|")], [c.strip() for c in row.split("|")], strict=True))
    assert (cells["baseline img/s"], cells["tuned img/s"], cells["ceiling img/s"]) == ("6,105", "9,380", "10,480")
    assert (cells["best / baseline"], cells["tuned of ceiling"]) == ("1.54", "0.90")
