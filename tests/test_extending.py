"""Adding a pipeline with a new knob is one declaration plus the code that uses it.

A throwaway pipeline is registered (in an isolated registry) with an options dataclass declaring one new knob;
without editing anything else it shows in `--help`, `bench list`, the run's record and the report's table, and
its role puts it in the comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bench.cli.parser import build_parser, main
from bench.records import RUNS_FILE, read_records
from bench.report.comparison import table_text
from imgcls.options import knob, positive_int, validate
from imgcls.pipelines import CANDIDATE, Pipeline, PipelineSpec, build_pipeline, register_pipeline
from imgcls.pipelines.base import pipeline_registry


@dataclass(frozen=True, kw_only=True)
class StrideOptions:
    """One knob nobody else declares."""

    fake_stride: int = knob(1, positive_int, "keep every Nth batch of the tuned tf.data pipeline", metavar="N")

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class StridedPipeline(Pipeline):
    """The tuned tf.data pipeline, keeping every `fake_stride`-th batch (the code that uses the knob)."""

    name: str = "strided"
    opts: StrideOptions = field(default_factory=StrideOptions)

    def train_data(self, data: Any, config: Any) -> Any:
        return build_pipeline("tfdata").train_data(data, config).shard(self.opts.fake_stride, 0)

    def eval_data(self, data: Any, config: Any) -> Any:
        return build_pipeline("tfdata").eval_data(data, config)


@pytest.fixture
def strided() -> Any:
    """The throwaway pipeline, registered for this test only."""
    with pipeline_registry().isolated():
        register_pipeline(
            PipelineSpec(
                "strided",
                CANDIDATE,
                "every Nth batch of tfdata (a test's throwaway)",
                StrideOptions(),
                f"{__name__}:StridedPipeline",
            )
        )
        yield


def test_a_new_knob_is_in_the_help_and_the_listing(strided, capsys: pytest.CaptureFixture) -> None:
    run_help = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    assert "--fake-stride N" in run_help and "keep every Nth batch" in run_help
    assert "strided; default 1" in run_help
    assert main(["list"]) == 0
    assert "strided" in capsys.readouterr().out


def test_a_new_knob_reaches_the_record_and_the_table(strided, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["run", "--pipeline", "strided", "--fake-stride", "2", "--data", "generated", "--steps", "4"]
    argv += ["--batch-size", "32", "--warmup-steps", "1", "--pipeline-batches", "2", "--ceiling-steps", "3"]
    assert main([*argv, "--limit-test", "64", "--results", str(tmp_path)]) == 0
    (record,) = read_records(tmp_path / RUNS_FILE)
    assert record["knobs"] == {"fake_stride": 2} and record["pipeline_options"] == {"fake_stride": 2}
    assert record["pipeline_role"] == CANDIDATE
    assert "fake_stride=2" in table_text([record])


def test_a_bad_value_of_a_new_knob_is_one_line_naming_its_flag(strided, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--pipeline", "strided", "--fake-stride", "0"]) == 2
    err = capsys.readouterr().err
    assert "--fake-stride" in err and "positive integer" in err and "Traceback" not in err


def test_the_registry_is_back_to_what_it_was(strided) -> None:
    assert "strided" in pipeline_registry()


def test_after_the_fixture_the_throwaway_is_gone() -> None:
    assert "strided" not in pipeline_registry()
