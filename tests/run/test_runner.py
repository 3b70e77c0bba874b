"""`run_and_record`: what the user is told while a run works."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bench.run.runner import run_and_record
from tests.conftest import tiny_config


def test_files_left_out_of_the_data_are_one_line_on_stderr_and_in_the_record(
    mnist_tiny, results_dir: Path, capsys: pytest.CaptureFixture
) -> None:  # noqa: ANN001
    data = dataclasses.replace(mnist_tiny, skipped_files={"truncated": 2, "undecodable_name": 1})
    record = run_and_record(tiny_config("mnist", ceiling_steps=0, pipeline_batches=2), results_dir, data=data)
    (line,) = [x for x in capsys.readouterr().err.splitlines() if "skipped" in x]
    assert "skipped 3 file(s)" in line and "2 truncated" in line and "1 undecodable_name" in line
    assert record.data_skipped_files == {"truncated": 2, "undecodable_name": 1}
