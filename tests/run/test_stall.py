"""bench.run.stall: the stall split adds up, and every invariant a reader relies on is checked, both numbers said."""

from __future__ import annotations

import pytest

from bench.run.stall import consistency_problems, noise_pct, spread_pct, stall_split


def test_the_stall_split_adds_up_to_input_bound() -> None:
    # device 1000 img/s (1 ms/img), fed 800 (1.25 ms), e2e 500 (2 ms): 50% waiting = 12.5 transfer + 37.5 pipeline
    split = stall_split(e2e=500.0, device=1000.0, fed=800.0)
    assert split.input_bound_pct == pytest.approx(50.0)
    assert split.transfer_pct == pytest.approx(12.5) and split.pipeline_pct == pytest.approx(37.5)
    assert split.transfer_pct + split.pipeline_pct == pytest.approx(split.input_bound_pct)


def test_input_bound_is_unclipped_and_needs_positive_rates() -> None:
    assert stall_split(e2e=1200.0, device=1000.0, fed=None).input_bound_pct == pytest.approx(-20.0)
    with pytest.raises(ValueError):
        stall_split(e2e=0.0, device=1000.0, fed=None)


def test_a_consistent_run_breaks_nothing() -> None:
    assert consistency_problems(e2e=500.0, device=1000.0, fed=800.0, pipeline_only=600.0) == []
    # within the noise band (the widest spread) is the same number
    assert consistency_problems(e2e=1080.0, e2e_spread_pct=10.0, device=1000.0, device_spread_pct=2.0) == []


@pytest.mark.parametrize(
    ("rates", "expected"),
    [
        ({"e2e": 1200.0, "device": 1000.0}, "e2e 1,200 img/s is above the device ceiling 1,000 (+20%"),
        ({"e2e": 1200.0, "pipeline_only": 1000.0}, "e2e 1,200 img/s is above the pipeline-only rate 1,000"),
        ({"e2e": 100.0, "fed": 1200.0, "device": 1000.0}, "the fed ceiling 1,200 img/s is above the device ceiling"),
        ({"e2e": 1200.0, "fed": 1000.0}, "e2e 1,200 img/s is above the fed ceiling 1,000"),
        (
            {"e2e": 1200.0, "fed": 1000.0, "is_ceiling_pipeline": True},
            "e2e 1,200 img/s is above the fed ceiling (the same constant batch) 1,000",
        ),
        (
            {"e2e": 800.0, "fed": 1000.0, "is_ceiling_pipeline": True},
            "the fed ceiling 1,000 img/s is above the e2e of the same constant batch 800",
        ),
    ],
)
def test_each_broken_invariant_is_one_sentence_with_both_numbers(rates: dict, expected: str) -> None:
    problems = consistency_problems(**rates)
    assert len(problems) == 1 and problems[0].startswith(expected)


def test_the_noise_band_is_the_floor_or_the_widest_spread() -> None:
    assert noise_pct(None, 1.0) == 3.0 and noise_pct(2.0, 12.5) == 12.5


def test_the_spread_of_repeated_rates_is_their_range_over_their_median() -> None:
    assert spread_pct([900.0, 1000.0, 1150.0]) == 25.0  # (1150 - 900) / 1000
    assert spread_pct([4.0, 2.0]) == pytest.approx(200.0 / 3)  # the median of two is their mean
    assert spread_pct([1000.0]) is None and spread_pct([]) is None  # one measurement has no spread
