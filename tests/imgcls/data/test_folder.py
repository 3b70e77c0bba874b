"""Class-folder trees: clear errors naming the file or folder, and the skip policy for odd files.

The policy (imgcls/data/folder.py): JPEG, PNG and BMP that both pipelines decode are kept, grayscale included;
`not_an_image`, `truncated` and `cmyk` files are skipped and counted; structural mistakes are errors that name the
folder. Kept files must then really decode, to 3 channels, through both the idg and the tfdata pipelines.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from bench.cli.parser import main
from imgcls.augment import AugmentSpec
from imgcls.data import DATASETS, load_dataset, load_folder_tree
from imgcls.data.folder import check_image_file, scan_class_folders
from imgcls.errors import DataUnavailable, FolderLayoutError, UserFacingError
from imgcls.pipelines import InputConfig, build_pipeline
from imgcls.workloads import get_workload

INFO = DATASETS["imagenette"]
SIZE = (24, 24)


# ---- writing files --------------------------------------------------------------------------------------------
def photo(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth RGB array (compresses like a photo, so half a JPEG is real entropy-coded data)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = rng.uniform(40, 200, 3)
    image = base + 40 * np.sin(xx[..., None] / 5.0 + rng.uniform(0, 6, 3)) + 30 * np.cos(yy[..., None] / 7.0)
    image = image + rng.normal(0.0, 10.0, image.shape)  # texture: most of the file is entropy-coded data
    return np.clip(image, 0, 255).astype(np.uint8)


def jpeg_bytes(array: np.ndarray, mode: str | None = None, quality: int = 90) -> bytes:
    image = Image.fromarray(array)
    if mode is not None:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def cut_in_half(jpeg: bytes) -> bytes:
    """The first half of a JPEG's scan data: headers intact (PIL identifies it), end-of-image marker gone."""
    start_of_scan = jpeg.index(b"\xff\xda")
    cut = jpeg[: (start_of_scan + len(jpeg)) // 2]
    assert b"\xff\xd9" not in cut
    return cut


def write_jpeg(path: Path, seed: int = 0, mode: str | None = None) -> bytes:
    data = jpeg_bytes(photo(seed=seed), mode=mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def write_tree(root: Path, classes: tuple[str, ...] = ("cat", "dog"), train: int = 3, val: int = 2) -> Path:
    for split, count in (("train", train), ("val", val)):
        for c, name in enumerate(classes):
            for i in range(count):
                write_jpeg(root / split / name / f"{name}_{i}.jpg", seed=100 * c + i)
    return root


# ---- structural errors name the folder ------------------------------------------------------------------------
def test_missing_split_folder_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "train"
    with pytest.raises(FolderLayoutError, match="does not exist") as error:
        scan_class_folders(missing)
    assert str(missing) in str(error.value)
    assert "\n" not in str(error.value)


def test_tree_without_train_names_the_train_folder(tmp_path: Path) -> None:
    (tmp_path / "tree" / "val" / "cat").mkdir(parents=True)
    with pytest.raises(FolderLayoutError) as error:
        load_folder_tree(INFO, tmp_path / "tree", kind="real")
    assert str(tmp_path / "tree" / "train") in str(error.value)


def test_train_without_class_folders(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "train").mkdir(parents=True)
    write_tree(root, train=0)  # val has classes, train is empty
    with pytest.raises(FolderLayoutError, match="has no class folders") as error:
        load_folder_tree(INFO, root, kind="real")
    assert str(root / "train") in str(error.value)


def test_images_directly_in_train_is_a_wrong_layout(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree")
    for path in list((root / "train").rglob("*.jpg")):
        path.rename(root / "train" / path.name)
    for folder in [p for p in (root / "train").iterdir() if p.is_dir()]:
        folder.rmdir()
    assert len(list((root / "train").glob("*.jpg"))) == 6
    with pytest.raises(FolderLayoutError, match="has no class folders") as error:
        load_folder_tree(INFO, root, kind="real")
    message = str(error.value)
    assert str(root / "train") in message and "<class>" in message  # says what layout it expected


def test_empty_class_folder_is_named(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree")
    (root / "train" / "emu").mkdir()
    with pytest.raises(FolderLayoutError, match="no readable images") as error:
        load_folder_tree(INFO, root, kind="real")
    assert str(root / "train" / "emu") in str(error.value)


def test_class_folder_of_only_unreadable_files_is_named(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree")
    bad = root / "train" / "emu"
    bad.mkdir()
    (bad / "notes.txt").write_text("no images here")
    (bad / "fake.jpg").write_text("not a jpeg")
    with pytest.raises(FolderLayoutError, match="no readable images") as error:
        load_folder_tree(INFO, root, kind="real")
    assert str(bad) in str(error.value)


def test_val_classes_differing_from_train_names_both_sides(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", classes=("cat", "dog", "fox"))
    (root / "val" / "fox").rename(root / "val" / "owl")
    with pytest.raises(FolderLayoutError, match="differ") as error:
        load_folder_tree(INFO, root, kind="real")
    message = str(error.value)
    assert str(root / "val") in message
    assert "fox" in message and "owl" in message  # what is missing and what is extra


def test_missing_val_split_is_named(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", val=0)
    assert not (root / "val").exists()
    with pytest.raises(FolderLayoutError, match="does not exist") as error:
        load_folder_tree(INFO, root, kind="real")
    assert str(root / "val") in str(error.value)


def test_layout_errors_are_user_facing_data_errors() -> None:
    assert issubclass(FolderLayoutError, DataUnavailable) and issubclass(DataUnavailable, UserFacingError)


def test_load_dataset_folder_on_missing_dir_raises_data_unavailable(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    with pytest.raises(DataUnavailable) as error:
        load_dataset("imagenette", "folder", data_dir=missing)
    assert str(missing) in str(error.value)
    assert "\n" not in str(error.value)


def test_load_dataset_folder_without_data_dir_says_what_to_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMGCLS_DATA_DIR", raising=False)
    with pytest.raises(DataUnavailable, match="--data-dir"):
        load_dataset("imagenette", "folder", data_dir=None)


def test_load_dataset_folder_accepts_the_tree_or_a_dir_holding_it(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "data" / "imagenette2-160")
    direct = load_dataset("imagenette", "folder", data_dir=tree)
    holding = load_dataset("imagenette", "folder", data_dir=tmp_path / "data")
    assert direct.train.paths == holding.train.paths and len(direct.train) == 6 and len(direct.test) == 4
    assert direct.kind == "real" and direct.location == str(tree)
    assert direct.class_names == ("cat", "dog")


def test_cli_missing_folder_exits_2_with_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "nonexistent"
    results = tmp_path / "results"
    argv = [
        "run",
        "--workload",
        "imagenette",
        "--data",
        "folder",
        "--data-dir",
        str(missing),
        "--results",
        str(results),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, err
    assert str(missing) in error_lines[0]
    assert "Traceback" not in err
    # The failed run still leaves a trace in the results, carrying the same error.
    records = [json.loads(line) for line in (results / "runs.jsonl").read_text().splitlines()]
    assert len(records) == 1 and records[0]["status"] == "failed"
    assert str(missing) in records[0]["error"]


def test_cli_bad_layout_exits_2_naming_the_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "tree"
    (root / "train").mkdir(parents=True)
    (root / "val").mkdir()
    write_jpeg(root / "train" / "stray.jpg")
    argv = ["run", "--workload", "imagenette", "--data", "folder", "--data-dir", str(root)]
    assert main([*argv, "--results", str(tmp_path / "results")]) == 2
    error_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and str(root / "train") in error_lines[0]


# ---- the skip policy -------------------------------------------------------------------------------------------
@pytest.fixture
def odd_tree(tmp_path: Path) -> Path:
    """Two classes; `train/cat` holds every kind of odd file next to good JPEGs."""
    root = write_tree(tmp_path / "odd", classes=("cat", "dog"), train=2, val=2)
    cat = root / "train" / "cat"
    whole = write_jpeg(cat / "whole.jpg", seed=7)
    (cat / "half.jpg").write_bytes(cut_in_half(whole))  # a real JPEG cut in half
    (cat / "x.jpg").write_text("I am text with a .jpg name\n")
    (cat / "README.txt").write_text("images of cats\n")
    Image.fromarray(np.full((30, 40, 3), (10, 200, 90), np.uint8)).save(cat / "flat.png")  # kept
    Image.fromarray(np.full((30, 40), 128, np.uint8), mode="L").save(cat / "gray.jpg", quality=95)  # kept
    Image.fromarray(photo(seed=3)).convert("CMYK").save(cat / "cmyk.jpg", format="JPEG")
    return root


def test_check_image_file_reasons(odd_tree: Path) -> None:
    cat = odd_tree / "train" / "cat"
    verdicts = {p.name: check_image_file(p) for p in cat.iterdir()}
    assert verdicts == {
        "cat_0.jpg": None,
        "cat_1.jpg": None,
        "whole.jpg": None,
        "half.jpg": "truncated",
        "x.jpg": "not_an_image",
        "README.txt": "not_an_image",
        "flat.png": None,
        "gray.jpg": None,
        "cmyk.jpg": "cmyk",
    }
    with Image.open(cat / "cmyk.jpg") as image:  # the fixture really wrote what it says
        assert image.mode == "CMYK"
    with Image.open(cat / "gray.jpg") as image:
        assert image.mode == "L"
    with Image.open(cat / "half.jpg") as image:  # the header still reads: only the end is missing
        assert image.format == "JPEG"
        with pytest.raises(OSError):
            image.load()


def test_scan_keeps_png_and_grayscale_and_counts_the_rest(odd_tree: Path) -> None:
    scan = scan_class_folders(odd_tree / "train")
    kept = {Path(p).name for p in scan.paths}
    assert kept == {"cat_0.jpg", "cat_1.jpg", "whole.jpg", "flat.png", "gray.jpg", "dog_0.jpg", "dog_1.jpg"}
    assert scan.skipped == {"truncated": 1, "not_an_image": 2, "cmyk": 1}
    assert scan.class_names == ("cat", "dog")
    # Labels follow the folders (classes in sorted order), whatever the interleaving.
    for path, label in zip(scan.paths, scan.labels, strict=True):
        assert scan.class_names[label] == Path(path).parent.name
    assert scan.labels.dtype == np.int32


def test_truncated_png_is_skipped(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(photo()).save(buffer, format="PNG")
    data = buffer.getvalue()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "whole.png").write_bytes(data)
    assert check_image_file(tmp_path / "cut.png") == "truncated"
    assert check_image_file(tmp_path / "whole.png") is None


def test_empty_file_is_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert check_image_file(tmp_path / "empty.jpg") == "not_an_image"


def test_scan_interleaves_classes_so_a_prefix_is_balanced(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", classes=("a", "b", "c"), train=4, val=1)
    write_jpeg(root / "train" / "a" / "a_extra.jpg", seed=9)  # an uneven class: the longest one trails
    scan = scan_class_folders(root / "train")
    assert list(scan.labels[:12]) == [0, 1, 2] * 4
    assert list(scan.labels[12:]) == [0]
    assert len(set(scan.paths)) == len(scan.paths) == 13


def test_nested_folders_inside_a_class_are_counted_as_skipped(tmp_path: Path) -> None:
    """ImageDataGenerator reads a class folder flat; images in a sub-folder are not read by either pipeline, and
    the record says so instead of losing them silently."""
    root = write_tree(tmp_path / "tree", classes=("a", "b"), train=2, val=1)
    write_jpeg(root / "train" / "a" / "nested" / "deep.jpg", seed=3)
    scan = scan_class_folders(root / "train")
    assert scan.skipped == {"nested folder": 1} and len(scan.paths) == 4


def test_non_utf8_file_and_class_names_are_skipped_and_counted_and_both_pipelines_read_the_rest(
    tmp_path: Path,
) -> None:
    """One such name failed the whole run (rc 1) in both pipelines, where other unreadable files are skipped."""
    import os

    from imgcls.data.types import DataSet, Split
    from imgcls.pipelines import InputConfig, build_pipeline
    from imgcls.workloads import get_workload

    root = write_tree(tmp_path / "tree", classes=("a", "b"), train=4, val=1)
    train = os.fsencode(root / "train")
    os.rename(root / "train" / "a" / os.listdir(root / "train" / "a")[0], os.path.join(train, b"a", b"caf\xe9.jpg"))
    os.makedirs(os.path.join(train, b"\xff-class"))
    write_jpeg(Path(os.fsdecode(os.path.join(train, b"\xff-class", b"x.jpg"))), seed=5)
    scan = scan_class_folders(root / "train")
    assert scan.skipped == {"undecodable_name": 2} and scan.class_names == ("a", "b") and len(scan.paths) == 7
    config = InputConfig(image_size=(16, 16), channels=3, augment=get_workload("imagenette").augment, batch_size=7)
    split = Split(labels=scan.labels, paths=scan.paths)

    data = DataSet(
        name="imagenette", kind="generated", source="t", class_names=scan.class_names, train=split, test=split
    )
    for name in ("idg", "tfdata"):
        images, labels = next(iter(build_pipeline(name).eval_data(data, config)))
        assert len(labels) == 7, name


def test_fifos_and_symlink_loops_are_counted_not_opened(tmp_path: Path) -> None:
    import os

    root = write_tree(tmp_path / "tree", classes=("a", "b"), train=2, val=1)
    os.mkfifo(root / "train" / "a" / "pipe.jpg")  # opening it would block the scan
    os.symlink("loop.jpg", root / "train" / "b" / "loop.jpg")
    os.symlink("nowhere.jpg", root / "train" / "b" / "broken.jpg")
    scan = scan_class_folders(root / "train")
    assert scan.skipped == {"not_a_regular_file": 3} and len(scan.paths) == 4


def test_dataset_records_skips_from_both_splits(odd_tree: Path) -> None:
    (odd_tree / "val" / "dog" / "notes.md").write_text("val notes")
    data = load_folder_tree(INFO, odd_tree, kind="real")
    assert data.skipped_files == {"truncated": 1, "not_an_image": 3, "cmyk": 1}
    assert len(data.train) == 7 and len(data.test) == 4
    assert data.input_kind == "files" and data.location == str(odd_tree)
    assert "7/4" in data.source


def _input_config(batch_size: int, augment: AugmentSpec) -> InputConfig:
    return InputConfig(image_size=SIZE, channels=3, augment=augment, batch_size=batch_size, seed=0)


@pytest.mark.parametrize("pipeline", ["idg", "tfdata"])
def test_kept_files_decode_to_three_channels_in_a_train_batch(odd_tree: Path, pipeline: str) -> None:
    data = load_folder_tree(INFO, odd_tree, kind="real")
    # One batch holding the whole training split: every kept file (PNG and grayscale JPEG included) is decoded.
    config = _input_config(len(data.train), get_workload("imagenette").augment)
    images, labels = next(iter(build_pipeline(pipeline).train_data(data, config)))
    images, labels = np.asarray(images), np.asarray(labels)
    assert images.shape == (len(data.train), *SIZE, 3)
    assert images.dtype == np.float32 and np.isfinite(images).all()
    assert images.min() >= 0.0 and images.max() <= 1.0 and images.std() > 0.05
    assert sorted(labels.tolist()) == sorted(data.train.labels.tolist())


@pytest.mark.parametrize("pipeline", ["idg", "tfdata"])
def test_png_and_grayscale_jpeg_decode_to_their_colours(odd_tree: Path, pipeline: str) -> None:
    """Evaluation (no augmentation) in scan order: the flat PNG keeps its colour; the gray JPEG has R = G = B."""
    data = load_folder_tree(INFO, odd_tree, kind="real")
    config = _input_config(len(data.train), AugmentSpec(name="none"))
    as_test = dataclasses.replace(data, test=data.train)  # evaluate the training files, in order
    eval_data = build_pipeline(pipeline).eval_data(as_test, config)
    images = np.asarray(eval_data[0][0] if hasattr(eval_data, "__getitem__") else next(iter(eval_data))[0])
    names = [Path(p).name for p in data.train.paths]
    assert images.shape == (len(names), *SIZE, 3)
    flat = images[names.index("flat.png")]
    np.testing.assert_allclose(flat.reshape(-1, 3).mean(0), np.array([10, 200, 90]) / 255.0, atol=2 / 255)
    gray = images[names.index("gray.jpg")]
    np.testing.assert_allclose(gray[..., 0], gray[..., 1], atol=1e-6)
    np.testing.assert_allclose(gray[..., 0], gray[..., 2], atol=1e-6)
    assert abs(gray.mean() - 128 / 255) < 3 / 255


# ---- skip-policy edge cases: every kept file decodes, every complete file is kept ------------------------------
def test_complete_jpeg_with_trailing_bytes_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "trailer.jpg"
    path.write_bytes(jpeg_bytes(photo()) + b"SEFH" + bytes(60))  # a phone-style trailer after end-of-image
    with Image.open(path) as image:
        image.load()  # PIL decodes it whole...
    decoded = tf.io.decode_image(tf.io.read_file(str(path)), channels=3, expand_animations=False)
    assert decoded.shape == (48, 64, 3)  # ...and so does TF
    assert check_image_file(path) is None


def test_complete_jpeg_with_a_long_trailer_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "motion.jpg"
    path.write_bytes(jpeg_bytes(photo()) + b"\x00\x00\x00\x18ftypmp42" + bytes(20_000))
    with Image.open(path) as image:
        image.load()
    decoded = tf.io.decode_image(tf.io.read_file(str(path)), channels=3, expand_animations=False)
    assert decoded.shape == (48, 64, 3)
    assert check_image_file(path) is None


def test_truncated_jpeg_with_an_embedded_thumbnail_is_skipped(tmp_path: Path) -> None:
    thumbnail = jpeg_bytes(photo(16, 16, seed=1))  # a complete JPEG, end-of-image marker included
    buffer = io.BytesIO()
    Image.fromarray(photo()).save(buffer, format="JPEG", quality=90, comment=thumbnail)
    whole = buffer.getvalue()
    assert whole.count(b"\xff\xd9") == 2  # the thumbnail's end-of-image marker, then the image's own
    start_of_scan = whole.rindex(b"\xff\xda")  # the image's own scan, after the thumbnail
    path = tmp_path / "cut.jpg"
    path.write_bytes(whole[: (start_of_scan + len(whole)) // 2])  # the image cut half way through its scan
    with Image.open(path) as image, pytest.raises(OSError):
        image.load()  # PIL (idg) cannot read it
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.io.decode_image(tf.io.read_file(str(path)), channels=3, expand_animations=False)
    assert check_image_file(path) == "truncated"


def test_truncated_bmp_is_skipped(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(photo()).save(buffer, format="BMP")
    (tmp_path / "cut.bmp").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with Image.open(tmp_path / "cut.bmp") as image, pytest.raises(OSError):
        image.load()  # PIL (idg) cannot read it
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.io.decode_image(tf.io.read_file(str(tmp_path / "cut.bmp")), channels=3, expand_animations=False)
    assert check_image_file(tmp_path / "cut.bmp") == "truncated"


def test_bmp_variants_are_kept_only_when_both_pipelines_decode_them_alike(tmp_path: Path) -> None:
    """RGB, grayscale, RGBA, palette and 1-bit BMPs: each is either skipped (and counted) or decodes the same way
    in idg (PIL) and tfdata (TF) -- a palette BMP that TF reads as gray indices would be kept wrongly."""
    root = write_tree(tmp_path / "tree", train=1, val=1)
    rgb = photo(seed=5)
    folder = root / "val" / "cat"
    variants = {
        "rgb.bmp": Image.fromarray(rgb),
        "gray.bmp": Image.fromarray(rgb[..., 0]),
        "rgba.bmp": Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])),
        "palette.bmp": Image.fromarray(rgb).convert("P"),
        "bilevel.bmp": Image.fromarray(rgb[..., 0]).convert("1"),
    }
    for name, image in variants.items():
        image.save(folder / name, format="BMP")
    data = load_folder_tree(INFO, root, kind="real")
    kept = [Path(p).name for p in data.test.paths]
    assert {"rgb.bmp", "gray.bmp"} <= set(kept)  # the plain kinds stay
    skipped_bmps = sum(1 for name in variants if name not in kept)
    assert sum(data.skipped_files.values()) == skipped_bmps  # everything left out is counted
    config = InputConfig(image_size=(48, 64), channels=3, augment=AugmentSpec(name="none"), batch_size=len(kept))
    idg_eval = build_pipeline("idg").eval_data(data, config)
    from_idg = np.asarray(idg_eval[0][0])
    from_tf = np.asarray(next(iter(build_pipeline("tfdata").eval_data(data, config)))[0])  # must not raise
    assert from_idg.shape == from_tf.shape == (len(kept), 48, 64, 3)
    for i, name in enumerate(kept):  # native size: no resize, so the decoders must agree closely
        assert np.abs(from_idg[i] - from_tf[i]).mean() < 2 / 255, name


@pytest.mark.parametrize("options", [{"progressive": True}, {"progressive": True, "restart_marker_blocks": 1}])
def test_progressive_jpeg_is_kept_whole_and_skipped_cut(tmp_path: Path, options: dict) -> None:
    """Progressive JPEGs carry several scans with tables between them; only the final end marker counts."""
    buffer = io.BytesIO()
    Image.fromarray(photo(96, 128)).save(buffer, format="JPEG", quality=90, **options)
    whole = buffer.getvalue()
    assert whole.count(b"\xff\xda") > 1  # really several scans
    (tmp_path / "whole.jpg").write_bytes(whole)
    (tmp_path / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    assert check_image_file(tmp_path / "whole.jpg") is None
    assert check_image_file(tmp_path / "cut.jpg") == "truncated"


def test_a_users_own_folder_is_named_as_itself_and_a_cut_official_copy_as_a_subset(tmp_path: Path) -> None:
    from imgcls.data import DATASETS
    from imgcls.data.loaders import load_folder_tree

    info = DATASETS["imagenette"]
    classes = info.class_names
    mine = load_folder_tree(info, write_tree(tmp_path / "MYTREE", classes=classes, train=1, val=1), kind="real")
    copy = load_folder_tree(info, write_tree(tmp_path / "imagenette2-160", classes=classes, train=1, val=1), "real")
    assert mine.source == "MYTREE 10/10" and copy.source == "imagenette2-160 subset 10/10"
