"""`python -m bench prepare` and runs on its shards: progress, idempotence, one-line errors (exit 2), and a few
training steps through each pipeline that reads a format, the record naming the format it read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.cli.parser import main
from imgcls.data.shards import record_formats
from imgcls.pipelines import record_readers
from tests.conftest import pipeline_param, tiny_config

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _prepare(tree: Path, out: Path, fmt: str, *extra: str) -> int:
    return main(["prepare", "--data-dir", str(tree), "--format", fmt, "--shard-size", "30", "--out", str(out), *extra])


def _one_error_line(capsys: pytest.CaptureFixture) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture(scope="module")
def tfrecords(jpeg_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "tfr"
    assert _prepare(jpeg_tree, out, "tfrecord") == 0
    return out


def test_prepare_says_its_progress_then_that_nothing_was_rewritten(
    jpeg_tree: Path, tfrecords: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tfrecords.with_name("again")
    assert _prepare(jpeg_tree, out, "tfrecord") == 0
    text = capsys.readouterr().out
    assert "train: shard 1/3 written (30/80 images)" in text and "val: shard 1/1 written (20/20 images)" in text
    assert f"prepared: {out} (tfrecord, 80/20 images" in text
    assert _prepare(jpeg_tree, out, "tfrecord") == 0
    assert "already prepared (nothing rewritten)" in capsys.readouterr().out


def test_a_torn_shard_is_one_line_and_exit_2_for_prepare_and_run(
    jpeg_tree: Path, tfrecords: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    torn = Path(shutil.copytree(tfrecords, tmp_path / "torn"))
    shard = torn / "train-00002-of-00003.tfrecord"
    shard.write_bytes(shard.read_bytes()[:1000])
    assert _prepare(jpeg_tree, torn, "tfrecord") == 2
    assert "train-00002-of-00003.tfrecord is torn" in _one_error_line(capsys)
    argv = ["run", "--workload", "imagenette", "--data", "shards", "--data-dir", str(torn)]
    assert main([*argv, "--results", str(tmp_path / "r")]) == 2
    assert "is torn: 1000 bytes" in _one_error_line(capsys)
    assert _prepare(jpeg_tree, torn, "tfrecord", "--force") == 0  # --force rewrites it


def test_a_folder_prepare_did_not_write_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["run", "--workload", "imagenette", "--data", "shards", "--data-dir", str(tmp_path)]
    assert main([*argv, "--results", str(tmp_path / "r")]) == 2
    assert "has no manifest.json: not a folder `python -m bench prepare` wrote" in _one_error_line(capsys)


def test_a_pipeline_that_cannot_read_the_format_is_refused_naming_the_readers(
    tfrecords: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["run", "--workload", "imagenette", "--pipeline", "idg", "--data-dir", str(tfrecords)]
    assert main([*argv, "--results", str(tmp_path)]) == 2  # `auto` on a prepared folder reads it
    line = _one_error_line(capsys)
    assert "--pipeline idg cannot read tfrecord shards" in line and "tfdata" in line


READERS = [
    pytest.param(fmt, name, marks=[pytest.mark.slow, *pipeline_param(name).marks], id=f"{fmt}-{name}")
    for fmt in record_formats()
    for name in record_readers(fmt)
    if name != "tfdata-naive"  # tfdata's graph, read the same way (its batches are checked in test_shards)
]


@pytest.mark.parametrize("fmt, name", READERS)
def test_each_reader_trains_a_few_steps_on_its_shards(
    fmt: str, name: str, jpeg_tree: Path, tmp_path: Path, results_dir: Path
) -> None:
    if fmt == "arrayrecord":
        pytest.importorskip("array_record", reason="arrayrecord shards need array-record")
    from bench.run.runner import run_and_record

    out = tmp_path / fmt
    assert _prepare(jpeg_tree, out, fmt) == 0
    record = run_and_record(tiny_config("imagenette", name, data="shards", data_dir=str(out)), results_dir)
    assert record.status == "ok" and record.train_images_per_sec > 0
    assert record.data_source == f"imagenette2-tiny {fmt} 80/20 [first 80/16]"
