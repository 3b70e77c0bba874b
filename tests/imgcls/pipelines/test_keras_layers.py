"""`keras-layers`, the baseline for the workloads ImageDataGenerator cannot render: what its recipe yields (the crop,
the flip, the evaluation crop, labels beside their images) and that each workload has exactly one baseline.

The crops are read back from the images themselves: the source PNG's red channel is its column and its green
channel its row (a ramp, which bilinear resizing keeps a ramp), so an output's edges say which window of the
source it shows and whether it was flipped.
"""

from __future__ import annotations

import dataclasses
import gc
import os
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from imgcls.augment import PREPROCESSORS
from imgcls.data.types import DataSet, Split
from imgcls.errors import InvalidValue
from imgcls.pipelines import (
    BASELINE,
    InputConfig,
    baseline_for,
    build_pipeline,
    get_pipeline_spec,
    pipelines_with_role,
    workload_pipelines,
)
from imgcls.workloads import get_workload, list_workloads

WORKLOAD = get_workload("imagenet-resnet50")
SPEC = WORKLOAD.augment
HEIGHT, WIDTH = 150, 200  # 4:3, as ImageNet's typical 500x375 photo (small: quick to decode)
SIZE, LOADED = 224, 256  # the crop, and the square the loader resizes to (224 / 0.875)
SCALE = HEIGHT / LOADED  # source pixels per loaded pixel (the centred square -> 256)
LEFT = (WIDTH - HEIGHT) // 2  # the centred square's first source column (smart_resize's crop)


# ---- one baseline per workload ------------------------------------------------------------------------------
@pytest.mark.parametrize("augment", ["seed", "none"])
@pytest.mark.parametrize("workload", list_workloads())
def test_each_workload_has_exactly_one_baseline_the_one_that_renders_it(workload: str, augment: str) -> None:
    spec = get_workload(workload).augment_spec(augment)
    baselines = pipelines_with_role(BASELINE, spec)
    assert len(baselines) == 1 and baselines == [baseline_for(spec)]
    assert baselines[0] in workload_pipelines(spec)
    expected = "keras-layers" if workload == "imagenet-resnet50" else "idg"  # `none` keeps ImageNet's centre crop
    assert baseline_for(spec) == expected and baseline_for(get_workload(workload)) == expected


def test_keras_layers_is_listed_only_beside_imagenets_crops() -> None:
    spec = get_pipeline_spec("keras-layers")
    assert spec.role == BASELINE and spec.crop_only
    assert "keras-layers" not in workload_pipelines() and pipelines_with_role(BASELINE) == ["idg"]
    assert "idg" not in workload_pipelines(SPEC) and "keras-layers" in workload_pipelines(SPEC)
    for workload in list_workloads():
        if workload != "imagenet-resnet50":
            assert "keras-layers" not in workload_pipelines(get_workload(workload).augment)


def test_a_registry_with_two_baselines_for_one_workload_is_an_error() -> None:
    from imgcls.pipelines import register_pipeline
    from imgcls.pipelines.base import pipeline_registry

    with pipeline_registry().isolated():
        register_pipeline(dataclasses.replace(get_pipeline_spec("idg"), name="idg-2"))
        with pytest.raises(LookupError, match="one baseline must render"):
            baseline_for(get_workload("mnist"))
    assert baseline_for(get_workload("mnist")) == "idg"


def test_keras_ships_no_random_resized_crop_layer() -> None:
    """Why the recipe is resize + RandomCrop (the module docstring): when Keras gains one, render it instead."""
    assert not [name for name in dir(keras.layers) if "resizedcrop" in name.lower()]


# ---- what the recipe yields -----------------------------------------------------------------------------------
def _ramp_png(path: Path, height: int = HEIGHT, width: int = WIDTH, flat: float | None = None) -> str:
    """Red = column, green = row (0-255 across the image), blue constant (or every channel `flat`)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.stack([xx * 255 / (width - 1), yy * 255 / (height - 1), np.full_like(xx, 128.0)], -1)
    if flat is not None:
        image = np.full((height, width, 3), flat)
    Image.fromarray(np.round(image).astype(np.uint8)).save(path)
    return str(path)


def _data(paths: list[str], labels: list[int], test: int = 0) -> DataSet:
    split = Split(labels=np.asarray(labels, np.int32), paths=tuple(paths))
    test_split = split.take(test) if test else split
    names = tuple(f"class{i}" for i in range(max(labels) + 1))
    return DataSet(name="imagenet", kind="generated", source="ramps", class_names=names, train=split, test=test_split)


def _config(batch: int = 16, augment: str = "seed", **overrides: object) -> InputConfig:
    return InputConfig(
        image_size=(SIZE, SIZE), channels=3, augment=WORKLOAD.augment_spec(augment), batch_size=batch, seed=0,
        **overrides,
    )  # fmt: skip


def _rgb(images: np.ndarray) -> np.ndarray:
    """Undoes caffe's normalisation: BGR minus the means -> RGB 0-255."""
    offset = np.asarray(PREPROCESSORS["caffe"].offset, np.float32)
    return (np.asarray(images) - offset)[..., ::-1]


def _windows(images: np.ndarray) -> pd.DataFrame:
    """Per image: the source columns and rows its first and last pixels show, and whether it is mirrored."""
    rgb = _rgb(images)
    red = rgb[..., 0].mean(axis=1)  # [n, W]: a column's red, the rows averaged
    green = rgb[..., 1].mean(axis=2)  # [n, H]
    first_col, last_col = red[:, 0] * (WIDTH - 1) / 255, red[:, -1] * (WIDTH - 1) / 255
    flipped = first_col > last_col
    return pd.DataFrame(
        {
            "left": np.minimum(first_col, last_col),
            "right": np.maximum(first_col, last_col),
            "top": green[:, 0] * (HEIGHT - 1) / 255,
            "bottom": green[:, -1] * (HEIGHT - 1) / 255,
            "flipped": flipped,
        }
    )


@pytest.fixture(scope="module")
def ramps(tmp_path_factory: pytest.TempPathFactory) -> DataSet:
    path = _ramp_png(tmp_path_factory.mktemp("ramps") / "ramp.png")
    return _data([path] * 8, list(range(8)))


@pytest.fixture(scope="module")
def crops(ramps: DataSet) -> tuple[pd.DataFrame, int]:
    """320 training crops of the one ramp, in batches of 16."""
    pipeline = build_pipeline("keras-layers")
    iterator = iter(pipeline.train_data(ramps, _config()))
    batches = [next(iterator)[0].numpy() for _ in range(20)]
    pipeline.close()
    return _windows(np.concatenate(batches)), 16


def test_every_crop_is_square_and_77_percent_of_the_centred_square(crops: tuple[pd.DataFrame, int]) -> None:
    """Not RandomResizedCrop's statistics (area 8-100%, aspect 3/4-4/3): one size and shape, always."""
    windows, _ = crops
    span = (SIZE - 1) * SCALE  # source pixels between the first and last pixel centres
    width, height = windows["right"] - windows["left"], windows["bottom"] - windows["top"]
    assert np.abs(width - span).max() < 3 and np.abs(height - span).max() < 3
    aspect = width / height
    assert aspect.min() > 0.98 and aspect.max() < 1.02
    area = (SIZE * SCALE) ** 2 / (HEIGHT * WIDTH)  # of the whole photo
    assert area == pytest.approx(0.574, abs=0.001)  # the README's number: (224/256)^2 of the 375 px square
    assert windows["left"].min() >= LEFT - 1 and windows["right"].max() <= LEFT + HEIGHT  # the sides never show


def test_offsets_are_uniform_over_the_33_positions_one_crop_per_image(crops: tuple[pd.DataFrame, int]) -> None:
    windows, batch = crops
    for edge, origin in (("left", LEFT), ("top", 0)):
        offset = (windows[edge] - origin + 0.5) / SCALE - 0.5  # in the 256 px square: 0..32
        assert offset.min() > -1.0 and offset.max() < 33.0
        assert offset.min() < 2.0 and offset.max() > 30.0
        assert abs(offset.mean() - 16) < 2.0 and abs(offset.std() - np.sqrt((33**2 - 1) / 12)) < 1.5  # uniform
        per_batch = offset.to_numpy().reshape(-1, batch)
        assert (per_batch.std(axis=1) > 3).all(), f"{edge}: some batch shares one crop"
    assert abs(np.corrcoef(windows["left"], windows["top"])[0, 1]) < 0.2  # drawn apart


def test_each_image_is_flipped_with_probability_one_half(crops: tuple[pd.DataFrame, int]) -> None:
    windows, batch = crops
    assert 0.4 < windows["flipped"].mean() < 0.6
    per_batch = windows["flipped"].to_numpy().reshape(-1, batch).mean(axis=1)
    assert ((per_batch > 0) & (per_batch < 1)).mean() > 0.9  # each image on its own, not the batch at once


def test_evaluation_and_augment_none_take_the_0875_centre_crop(ramps: DataSet) -> None:
    pipeline = build_pipeline("keras-layers")
    images, _ = next(iter(pipeline.eval_data(ramps, _config(batch=4))))
    unaugmented, _ = next(iter(pipeline.train_data(ramps, _config(batch=4, augment="none"))))
    pipeline.close()
    for batch in (images, unaugmented):
        windows = _windows(batch.numpy())
        centre = LEFT + (16 + 0.5) * SCALE - 0.5
        assert np.abs(windows["left"] - centre).max() < 2 and not windows["flipped"].any()
        assert np.abs(windows["top"] - (16 + 0.5) * SCALE + 0.5).max() < 2


# ---- the contract, on files whose colour is their label ---------------------------------------------------------
@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> DataSet:
    """24 files: file i is flat grey 10 * (i mod 12), label i mod 3; the test split is files 0..9 in order."""
    folder = tmp_path_factory.mktemp("labelled")
    paths = [_ramp_png(folder / f"{i}.png", 60, 80, flat=10.0 * (i % 12)) for i in range(24)]
    return _data(paths, [i % 3 for i in range(24)], test=10)


def _grey(images: np.ndarray) -> np.ndarray:
    return _rgb(images).mean(axis=(1, 2, 3))


def test_training_batches_are_the_splits_images_beside_their_own_labels_shuffled(labelled: DataSet) -> None:
    limited = dataclasses.replace(labelled, train=labelled.train.take(12))  # --limit: only these files
    pipeline = build_pipeline("keras-layers")
    train = pipeline.train_data(limited, _config(batch=8))
    images_spec, labels_spec = train.element_spec
    assert tuple(images_spec.shape) == (8, SIZE, SIZE, 3) and images_spec.dtype == "float32"
    assert tuple(labels_spec.shape) == (8,) and labels_spec.dtype.is_integer
    seen = []
    for images, labels in (next(iter(train)), *list(train.take(3))):
        grey = _grey(images.numpy())
        index = np.round(grey / 10).astype(int)
        assert np.abs(grey - 10 * index).max() < 1.0 and (index < 12).all()  # a training file, nothing else
        np.testing.assert_array_equal(labels.numpy(), index % 3)  # beside its own label
        seen += index.tolist()
    assert seen[:12] != list(range(12)) and len(set(seen)) > 6  # shuffled, across the split
    pipeline.close()


def test_a_training_split_smaller_than_one_batch_still_gives_full_batches(labelled: DataSet) -> None:
    tiny = dataclasses.replace(labelled, train=labelled.train.take(3))
    pipeline = build_pipeline("keras-layers")
    images, labels = next(iter(pipeline.train_data(tiny, _config(batch=8))))
    pipeline.close()
    assert tuple(images.shape) == (8, SIZE, SIZE, 3) and set(labels.numpy().tolist()) == {0, 1, 2}


def test_evaluation_is_the_test_split_in_order_with_its_partial_last_batch(labelled: DataSet) -> None:
    pipeline = build_pipeline("keras-layers")
    batches = [(x.numpy(), y.numpy()) for x, y in pipeline.eval_data(labelled, _config(batch=4))]
    pipeline.close()
    assert [len(y) for _, y in batches] == [4, 4, 2]
    grey = np.concatenate([_grey(x) for x, _ in batches])
    np.testing.assert_allclose(grey, 10.0 * np.arange(10), atol=1.0)
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), np.arange(10) % 3)


def test_device_augmentation_gets_the_evaluation_image_as_uint8(labelled: DataSet) -> None:
    pipeline = build_pipeline("keras-layers")
    config = _config(batch=4, augment="none", raw_output=True)
    images, labels = next(iter(pipeline.train_data(labelled, config)))
    pipeline.close()
    assert images.dtype == "uint8" and tuple(images.shape) == (4, SIZE, SIZE, 3)
    grey = images.numpy().astype(float).mean(axis=(1, 2, 3))
    np.testing.assert_array_equal(labels.numpy(), np.round(grey / 10).astype(int) % 3)


def test_it_refuses_work_it_does_not_render_and_close_removes_its_link_tree(labelled: DataSet) -> None:
    pipeline = build_pipeline("keras-layers")
    mnist = InputConfig(image_size=(28, 28), channels=1, augment=get_workload("mnist").augment, batch_size=4)
    with pytest.raises(InvalidValue, match="renders ImageNet's crops only"):
        pipeline.train_data(labelled, mnist)
    arrays = dataclasses.replace(labelled, train=Split(labels=np.zeros(4, np.int32), images=np.zeros((4, 8, 8, 3))))
    with pytest.raises(InvalidValue, match="reads image files"):
        pipeline.train_data(arrays, _config())
    next(iter(pipeline.train_data(labelled, _config(batch=4))))
    (tree,) = [tree for _, tree in pipeline._trees.values()]
    assert sorted(os.listdir(tree)) == [f"{i:08d}.png" for i in range(24)]
    pipeline.close()
    assert not tree.exists()
    unclosed = build_pipeline("keras-layers")
    next(iter(unclosed.train_data(labelled, _config(batch=4))))
    (tree,) = [tree for _, tree in unclosed._trees.values()]
    del unclosed
    gc.collect()
    assert not tree.parent.exists()  # a pipeline nobody closed leaves no folder behind once collected


def test_the_report_divides_imagenet_rows_by_keras_layers_and_the_others_by_idg() -> None:
    from bench.report.comparison import summarize
    from bench.report.records_frame import records_frame
    from tests.report.test_document import record

    records = [
        record("keras-layers", 100.0, workload="imagenet-resnet50", source="generated imagenet"),
        record("tfdata", 250.0, workload="imagenet-resnet50", source="generated imagenet"),
        record("idg", 50.0),
        record("tfdata", 300.0),
    ]
    table = summarize(records_frame(records)).set_index(["workload", "pipeline"])
    assert table.loc[("imagenet-resnet50", "tfdata"), "speedup_vs_baseline"] == pytest.approx(2.5)
    assert table.loc[("imagenet-resnet50", "keras-layers"), "speedup_vs_baseline"] == pytest.approx(1.0)
    assert table.loc[("mnist", "tfdata"), "speedup_vs_baseline"] == pytest.approx(6.0)
