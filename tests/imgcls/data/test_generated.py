"""Generated data: deterministic, in the real formats, learnable; the JPEG tree looks like imagenette2-160."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgcls.data import DATASETS, load_folder_tree
from imgcls.data.generated import make_arrays, write_jpeg_tree
from imgcls.workloads import get_workload

WNIDS = DATASETS["imagenette"].class_names


# ---- arrays ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_arrays_have_the_real_formats(shape: tuple[int, int, int]) -> None:
    x_train, y_train, x_test, y_test = make_arrays(300, 70, shape)
    assert x_train.shape == (300, *shape) and x_test.shape == (70, *shape)
    assert y_train.shape == (300,) and y_test.shape == (70,)
    assert x_train.dtype == np.uint8 and x_test.dtype == np.uint8
    assert y_train.dtype == np.uint8 and y_test.dtype == np.uint8
    assert set(np.unique(y_train)) <= set(range(10))
    # The whole uint8 range is used (rescaling by 1/255 then means something), not a constant image.
    assert x_train.min() == 0 and x_train.max() == 255 and x_train.std() > 20


def test_arrays_are_a_pure_function_of_the_seed() -> None:
    first = make_arrays(200, 50, (28, 28, 1), seed=5)
    again = make_arrays(200, 50, (28, 28, 1), seed=5)
    other = make_arrays(200, 50, (28, 28, 1), seed=6)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    assert not np.array_equal(first[1], other[1])


def test_train_and_test_are_different_draws() -> None:
    x_train, _, x_test, _ = make_arrays(100, 100, (28, 28, 1), seed=0)
    flat_train = x_train.reshape(100, -1)
    assert not any((flat_train == image.reshape(1, -1)).all(axis=1).any() for image in x_test)


def test_labels_are_roughly_balanced() -> None:
    _, y_train, _, y_test = make_arrays(5000, 2000, (8, 8, 1), seed=1)
    for labels, n in ((y_train, 5000), (y_test, 2000)):
        counts = np.bincount(labels, minlength=10)
        assert len(counts) == 10
        assert counts.min() > 0.8 * n / 10 and counts.max() < 1.2 * n / 10, counts


def test_num_classes_is_respected() -> None:
    _, y_train, _, y_test = make_arrays(600, 300, (8, 8, 1), num_classes=3)
    assert set(np.unique(y_train)) == {0, 1, 2} and set(np.unique(y_test)) == {0, 1, 2}


def test_classes_differ_on_average_more_than_examples_within_a_class() -> None:
    x, y, _, _ = make_arrays(2000, 10, (28, 28, 1), seed=2)
    x = x.reshape(len(x), -1).astype(np.float32)
    means = np.stack([x[y == c].mean(axis=0) for c in range(10)])
    between = np.abs(means[:, None] - means[None]).mean()
    assert between > 10  # grey levels: the class pattern is a real signal


def test_generated_mnist_is_learnable_by_the_mnist_workload_model() -> None:
    import keras

    keras.utils.set_random_seed(0)
    x_train, y_train, x_test, y_test = make_arrays(2000, 500, (28, 28, 1), seed=0)
    workload = get_workload("mnist")
    model = workload.build_model(workload.input_shape, 10)
    model.compile(
        optimizer=keras.optimizers.Adam(workload.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train / 255.0, y_train, batch_size=64, epochs=2, verbose=0)
    _, accuracy = model.evaluate(x_test / 255.0, y_test, verbose=0)
    assert accuracy > 0.5, accuracy  # chance is 0.1
    assert accuracy < 0.999  # noisy enough that a broken pipeline would show as lost accuracy


# ---- the JPEG tree --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tree_160(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gen") / "imagenette2-160"
    return write_jpeg_tree(root, {"train": 3, "val": 1}, WNIDS, shorter_side=160)


def test_tree_has_the_imagenette_layout(tree_160: Path) -> None:
    assert (tree_160 / ".complete").is_file()
    assert sorted(p.name for p in tree_160.iterdir() if not p.name.startswith(".")) == ["train", "val"]
    for split, count in (("train", 3), ("val", 1)):
        classes = sorted(p.name for p in (tree_160 / split).iterdir())
        assert tuple(classes) == WNIDS
        for wnid in WNIDS:
            files = sorted((tree_160 / split / wnid).iterdir())
            assert len(files) == count
            assert all(f.suffix == ".JPEG" and f.name.startswith(wnid) for f in files)
    # Written to a temporary sibling and renamed: nothing else is left beside the tree.
    assert [p.name for p in tree_160.parent.iterdir()] == [tree_160.name]


def test_tree_images_are_photo_like_jpegs_at_shorter_side_160(tree_160: Path) -> None:
    files = sorted(tree_160.rglob("*.JPEG"))
    assert len(files) == 40
    for path in files:
        with Image.open(path) as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            width, height = image.size
        assert height == 160 and 160 <= width <= 240  # shorter side fixed, aspect 1.0-1.5
        # imagenette2-160's JPEGs are mostly 10-40 KB: photo-like, not noise (~100 KB) and not flat (~2 KB).
        assert 10_000 <= path.stat().st_size <= 40_000, (path.name, path.stat().st_size)
    widths = {Image.open(p).size[0] for p in files}
    assert len(widths) > 5  # widths vary like the real set's


def test_tree_loads_as_a_data_set_with_balanced_classes(tree_160: Path) -> None:
    data = load_folder_tree(DATASETS["imagenette"], tree_160, kind="generated")
    assert data.class_names == WNIDS
    assert (len(data.train), len(data.test)) == (30, 10)
    assert np.bincount(data.train.labels).tolist() == [3] * 10
    for path, label in zip(data.train.paths, data.train.labels, strict=True):
        assert Path(path).parent.name == WNIDS[label]
    assert data.kind == "generated" and data.skipped_files == {}


def test_tree_is_reused_not_rewritten(tree_160: Path) -> None:
    files = sorted(tree_160.rglob("*.JPEG"))
    stamps = {p: p.stat().st_mtime_ns for p in files}
    marker = (tree_160 / ".complete").stat().st_mtime_ns
    # Even when asked for another size: a complete tree is returned as it is.
    again = write_jpeg_tree(tree_160, {"train": 5, "val": 5}, WNIDS, shorter_side=160)
    assert again == tree_160
    assert sorted(tree_160.rglob("*.JPEG")) == files
    assert {p: p.stat().st_mtime_ns for p in files} == stamps
    assert (tree_160 / ".complete").stat().st_mtime_ns == marker


def test_tree_is_a_pure_function_of_the_seed(tmp_path: Path) -> None:
    def contents(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.JPEG"))}

    small = {"train": 1, "val": 1}
    a = write_jpeg_tree(tmp_path / "a", small, WNIDS[:3], shorter_side=48, seed=3)
    b = write_jpeg_tree(tmp_path / "b", small, WNIDS[:3], shorter_side=48, seed=3)
    c = write_jpeg_tree(tmp_path / "c", small, WNIDS[:3], shorter_side=48, seed=4)
    assert contents(a) == contents(b)
    assert contents(a).keys() == contents(c).keys() and contents(a) != contents(c)


def test_an_interrupted_write_is_not_taken_for_a_tree(tmp_path: Path) -> None:
    # A crashed writer leaves a .tmp<pid> sibling, never `root` itself; the next call writes a complete tree.
    root = tmp_path / "tree"
    (tmp_path / "tree.tmp999999" / "train" / WNIDS[0]).mkdir(parents=True)
    write_jpeg_tree(root, {"train": 1, "val": 1}, WNIDS[:2], shorter_side=32)
    assert (root / ".complete").exists()
    assert len(list(root.rglob("*.JPEG"))) == 4


@pytest.mark.filterwarnings("error::UserWarning")  # the one warning below is expected; any other fails
def test_auto_without_real_data_warns_that_generated_numbers_are_not_comparable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No data directory, no cache, no network: generated data, one warning that says its numbers cannot be set
    beside the README's (the README's main job runs exactly this on a fresh machine)."""
    import imgcls.data.sources as sources
    from imgcls.data import load_dataset
    from imgcls.data.locations import DATA_DIR_ENV

    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(sources, "default_data_dir", lambda: None)
    monkeypatch.setattr(sources, "keras_cache_file", lambda info: None)
    monkeypatch.setattr(sources, "tfds_prepared", lambda info: False)
    monkeypatch.setattr(sources, "host_reachable", lambda host, *args, **kwargs: False)
    with pytest.warns(UserWarning) as caught:
        data = load_dataset("mnist", "auto", None)
    assert data.kind == "generated"
    (warning,) = [str(w.message) for w in caught]
    assert "using GENERATED data" in warning and "not comparable with the README's real-data tables" in warning
    assert "\n" not in warning and "--data-dir" in warning
