"""bench.report.knob_analysis: a knob is crowned 'best' only when its interval over repeats clears the noise."""

from __future__ import annotations

import pandas as pd

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
