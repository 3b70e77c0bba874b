"""Record shards (`imgcls.data.shards`): prepare round-trips the folder's bytes and labels, preparing twice rewrites
nothing, torn and foreign shards are one clear error, and every pipeline that reads a format delivers the very batches
it delivers from the folder."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from imgcls.data import DATASETS, DataSet, load_dataset, load_folder_tree
from imgcls.data.shards import (
    MANIFEST,
    ShardError,
    decode_record,
    open_prepared,
    prepare_shards,
    record_formats,
)
from imgcls.errors import InvalidValue
from imgcls.pipelines import InputConfig, build_pipeline, record_readers
from imgcls.workloads import get_workload
from tests.conftest import pipeline_param

SHARD_SIZE = 30  # 80 train images -> 3 shards, the last one short; 20 val -> 1


def _format_param(fmt: str) -> object:
    marks = [pytest.mark.skipif(not _installed(fmt), reason=f"{fmt} needs array-record: not installed")]
    return pytest.param(fmt, marks=marks, id=fmt)


def _installed(fmt: str) -> bool:
    from imgcls.data.shards import get_record_format

    try:
        get_record_format(fmt).require()
    except Exception:
        return False
    return True


FORMATS = [_format_param(fmt) for fmt in record_formats()]
READERS = [
    pytest.param(fmt, pipeline_param(name).values[0], marks=[*_format_param(fmt).marks, *pipeline_param(name).marks])
    for fmt in record_formats()
    for name in record_readers(fmt)
]


@pytest.fixture(scope="module")
def prepared(imagenette_tiny: DataSet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny JPEG tree prepared once per installed format (tests that tear shards copy it first)."""
    root = tmp_path_factory.mktemp("shards")
    return {
        fmt: prepare_shards(imagenette_tiny, root / fmt, fmt, SHARD_SIZE).folder
        for fmt in record_formats()
        if _installed(fmt)
    }


def _records(folder: Path, fmt: str, split: str) -> list[bytes]:
    data = open_prepared(folder)
    files = (data.train if split == "train" else data.test).records.files
    if fmt == "tfrecord":
        import tensorflow as tf

        return [r.numpy() for r in tf.data.TFRecordDataset(list(files))]
    from imgcls.data.shards import _arrayrecord_read  # array_record's own reader: no grain needed to check bytes

    return [record for path in files for record in _arrayrecord_read(str(path))]


@pytest.mark.parametrize("fmt", FORMATS)
def test_prepare_round_trips_bytes_labels_and_counts(fmt: str, prepared: dict, imagenette_tiny: DataSet) -> None:
    data = open_prepared(prepared[fmt], dataset="imagenette")
    assert data.source == f"imagenette2-tiny {fmt} 80/20" and data.input_kind == "records"
    assert data.class_names == imagenette_tiny.class_names
    assert data.train.records.counts == (30, 30, 20) and data.test.records.counts == (20,)
    for split, folder_split in (("train", imagenette_tiny.train), ("val", imagenette_tiny.test)):
        decoded = [decode_record(r) for r in _records(prepared[fmt], fmt, split)]
        assert [b for b, _ in decoded] == [Path(p).read_bytes() for p in folder_split.paths]
        assert [label for _, label in decoded] == folder_split.labels.tolist()
    assert np.array_equal(data.train.labels, imagenette_tiny.train.labels)


@pytest.mark.parametrize("fmt", FORMATS)
def test_preparing_twice_rewrites_nothing(fmt: str, prepared: dict, imagenette_tiny: DataSet) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in prepared[fmt].iterdir()}
    again = prepare_shards(imagenette_tiny, prepared[fmt], fmt, SHARD_SIZE)
    assert not again.written
    assert {p.name: p.stat().st_mtime_ns for p in prepared[fmt].iterdir()} == before


def _copy(prepared: dict, fmt: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(prepared[fmt], tmp_path / fmt))


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_torn_shard_is_one_line_naming_it(fmt: str, prepared: dict, tmp_path: Path) -> None:
    folder = _copy(prepared, fmt, tmp_path)
    shard = sorted(folder.glob("train-00001-*"))[0]
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(ShardError, match=rf"shard .*{shard.name} is torn") as err:
        open_prepared(folder)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_foreign_file_of_the_right_size_is_named(fmt: str, prepared: dict, tmp_path: Path) -> None:
    folder = _copy(prepared, fmt, tmp_path)
    shard = sorted(folder.glob("val-*"))[0]
    shard.write_bytes(np.random.default_rng(0).bytes(shard.stat().st_size))
    with pytest.raises(ShardError, match=rf"shard .*{shard.name}: not an? .* file"):
        open_prepared(folder)


def test_shards_of_the_other_format_under_its_name_are_named(prepared: dict, tmp_path: Path) -> None:
    if len(prepared) < 2:
        pytest.skip("needs both formats installed")
    folder = _copy(prepared, "tfrecord", tmp_path)
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["format"] = "arrayrecord"
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ShardError, match="not an ArrayRecord file"):
        open_prepared(folder)


def test_a_folder_without_or_with_a_foreign_manifest_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ShardError, match="has no manifest.json"):
        open_prepared(tmp_path)
    (tmp_path / MANIFEST).write_text('{"something": "else"}')
    with pytest.raises(ShardError, match="is not a shard manifest"):
        open_prepared(tmp_path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_another_preparation_or_a_foreign_folder_is_not_overwritten(
    fmt: str, prepared: dict, imagenette_tiny: DataSet, tmp_path: Path
) -> None:
    folder = _copy(prepared, fmt, tmp_path)
    with pytest.raises(ShardError, match="holds another preparation .*--force"):
        prepare_shards(imagenette_tiny, folder, fmt, shard_size=50)
    assert prepare_shards(imagenette_tiny, folder, fmt, shard_size=50, force=True).written
    assert open_prepared(folder).train.records.counts == (50, 30)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ShardError, match="holds no manifest.json: not replaced"):
        prepare_shards(imagenette_tiny, other, fmt, force=True)
    assert (other / "notes.txt").exists()


def test_a_changed_source_is_another_preparation(prepared: dict, jpeg_tree: Path, tmp_path: Path) -> None:
    fmt = next(iter(prepared))
    tree = Path(shutil.copytree(jpeg_tree, tmp_path / "tree"))
    sorted((tree / "train").glob("*/*"))[0].unlink()
    changed = load_folder_tree(DATASETS["imagenette"], tree, kind="real")
    with pytest.raises(ShardError, match="holds another preparation"):
        prepare_shards(changed, _copy(prepared, fmt, tmp_path), fmt, SHARD_SIZE)


def test_shards_of_another_data_set_are_refused(prepared: dict) -> None:
    fmt = next(iter(prepared))
    with pytest.raises(ShardError, match="holds imagenette shards, not imagenet"):
        load_dataset("imagenet", "shards", prepared[fmt])


def test_auto_reads_a_prepared_folder_and_a_limit_reads_the_first_examples(prepared: dict) -> None:
    fmt = next(iter(prepared))
    data = load_dataset("imagenette", "auto", prepared[fmt]).limit(45, 5)
    assert data.train.records.counts == (30, 15) and len(data.train) == 45 and len(data.test) == 5


def _config(batch_size: int = 8) -> InputConfig:
    w = get_workload("imagenette")
    return InputConfig(image_size=(48, 48), channels=3, augment=w.augment, batch_size=batch_size, seed=0)


def _eval_batches(pipeline_name: str, data: DataSet, limit: int = 12) -> list[tuple[np.ndarray, np.ndarray]]:
    pipeline = build_pipeline(pipeline_name)
    try:
        return [(np.asarray(x), np.asarray(y)) for x, y in pipeline.eval_data(data.limit(None, limit), _config())]
    finally:
        pipeline.close()


@pytest.mark.parametrize("fmt, name", READERS)
def test_unaugmented_batches_from_shards_equal_those_from_the_folder(
    fmt: str, name: str, prepared: dict, imagenette_tiny: DataSet
) -> None:
    # The training split (3 shards) read as the test split: reading the shards out of order would show.
    shards = open_prepared(prepared[fmt])
    from_folder = _eval_batches(name, replace(imagenette_tiny, test=imagenette_tiny.train), limit=48)
    from_shards = _eval_batches(name, replace(shards, test=shards.train), limit=48)
    assert len(from_folder) == len(from_shards) == 6
    for (xa, ya), (xb, yb) in zip(from_folder, from_shards, strict=True):
        assert np.array_equal(ya, yb) and np.array_equal(xa, xb)


@pytest.mark.slow  # Grain's worker processes start in ~10 s
@pytest.mark.parametrize("fmt, name", READERS)
def test_training_batches_from_shards_cover_the_split(fmt: str, name: str, prepared: dict) -> None:
    pipeline = build_pipeline(name)
    try:
        stream = iter(pipeline.train_data(open_prepared(prepared[fmt]).limit(40, None), _config(batch_size=10)))
        labels = np.concatenate([np.asarray(next(stream)[1]) for _ in range(4)])
    finally:
        pipeline.close()
    assert sorted(labels.tolist()) == sorted(np.tile(np.arange(10), 4).tolist())  # one epoch of the first 40


def test_a_pipeline_handed_the_other_format_says_which_it_reads(prepared: dict) -> None:
    if len(prepared) < 2:
        pytest.skip("needs both formats installed")
    pipeline = build_pipeline("tfdata")
    with pytest.raises(InvalidValue, match="--pipeline tfdata reads tfrecord shards, not arrayrecord"):
        pipeline.train_data(open_prepared(prepared["arrayrecord"]), _config())
