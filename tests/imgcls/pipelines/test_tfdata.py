"""The tuned tf.data pipeline ends in its own prefetch; `--prefetch off` takes it out and keeps tf.data from
putting one back. `--resize-antialias off` resizes as fast loaders do (2x2 samples), on every resize path.

A dropped `.prefetch` goes unseen in a timing run while tf.data's `inject_prefetch` rewrite adds one at the end
of the graph, and with the rewrite off (as `prefetch=off` sets it) only a benchmark gate would notice; so these
tests read the graph itself: the chain of dataset steps (`imgcls.pipelines.graph_stages.chain`, TensorFlow's own
record of what each dataset was made from) and the options the graph carries.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from imgcls.data.types import DataSet, Split
from imgcls.pipelines import InputConfig, build_pipeline
from imgcls.pipelines.graph_stages import chain
from imgcls.pipelines.options import NAIVE, TUNED
from imgcls.workloads import get_workload
from tests.conftest import tiny_arrays


@pytest.fixture(scope="module")
def case() -> tuple:
    workload = get_workload("mnist")
    config = InputConfig(
        image_size=workload.image_size, channels=workload.channels, augment=workload.augment_spec("seed"),
        batch_size=8, seed=0,
    )  # fmt: skip
    return tiny_arrays("mnist", n_train=64, n_test=16), config


def _last_step(ds: tf.data.Dataset) -> tuple[str, tf.data.Dataset]:
    return chain(ds)[-1]


@pytest.mark.parametrize("split", ["train_data", "eval_data"])
def test_the_tuned_preset_ends_in_an_autotuned_prefetch(case: tuple, split: str) -> None:
    data, config = case
    ds = getattr(build_pipeline("tfdata"), split)(data, config)
    name, step = _last_step(ds)
    assert name == "prefetch", [n for n, _ in chain(ds)]
    assert int(step._buffer_size) == tf.data.AUTOTUNE  # noqa: SLF001 - the buffer the `prefetch` knob set
    assert ds.options().experimental_optimization.inject_prefetch is not False


def test_a_prefetch_buffer_size_reaches_the_graph(case: tuple) -> None:
    data, config = case
    _, step = _last_step(build_pipeline("tfdata", prefetch=3).train_data(data, config))
    assert int(step._buffer_size) == 3  # noqa: SLF001


@pytest.mark.parametrize("split", ["train_data", "eval_data"])
def test_prefetch_off_removes_it_and_keeps_tf_data_from_injecting_one(case: tuple, split: str) -> None:
    data, config = case
    ds = getattr(build_pipeline("tfdata", prefetch="off"), split)(data, config)
    assert "prefetch" not in [name.split("#")[0] for name, _ in chain(ds)]
    optimization = ds.options().experimental_optimization
    assert optimization.inject_prefetch is False and optimization.parallel_batch is False


def test_the_naive_preset_has_no_prefetch(case: tuple) -> None:
    data, config = case
    ds = build_pipeline("tfdata-naive").train_data(data, config)
    assert "prefetch" not in [name for name, _ in chain(ds)]
    assert ds.options().experimental_optimization.inject_prefetch is False


# ---- --resize-antialias ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def striped(tmp_path_factory: pytest.TempPathFactory) -> tuple[DataSet, list[np.ndarray]]:
    """Four 300x225 PNGs of stripes near Nyquist (a resize without a low-pass aliases them), and their pixels."""
    folder = tmp_path_factory.mktemp("striped")
    yy, xx = np.mgrid[0:225, 0:300].astype(np.float64)
    pixels, paths = [], []
    for i in range(4):
        stripes = 60 * np.sign(np.sin(xx * (1.7 + 0.1 * i) + yy * 0.7))
        image = np.clip(np.stack([128 + stripes, 128 - stripes, 96 + 0.3 * xx], -1), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(folder / f"{i}.png")
        pixels.append(image)
        paths.append(str(folder / f"{i}.png"))
    split = Split(labels=np.arange(4, dtype=np.int32), paths=tuple(paths))
    data = DataSet(name="imagenet", kind="generated", source="stripes", class_names=tuple("abcd"), train=split,
                   test=split)  # fmt: skip
    return data, pixels


def _eval_images(antialias: str, data: DataSet, workload: str, size: int = 64) -> np.ndarray:
    """One evaluation batch of the 4 files as the model would preprocess them (raw 0-255 values)."""
    spec = get_workload(workload).augment
    config = InputConfig(image_size=(size, size), channels=3, augment=spec, batch_size=4, seed=0, raw_output=True)
    images, _ = next(iter(build_pipeline("tfdata", resize_antialias=antialias).eval_data(data, config)))
    return np.asarray(images, np.float64)


def test_the_antialias_knob_is_on_by_default_in_both_presets() -> None:
    assert TUNED.resize_antialias is True and NAIVE.resize_antialias is True  # PIL's work: the same-work contract
    assert build_pipeline("tfdata", resize_antialias="off").opts.resize_antialias is False


def test_off_is_tf_images_plain_bilinear_and_on_is_pils_antialiased_one(striped: tuple) -> None:
    """Whole images (the centre crop at evaluation: decode, crop, resize): on is within a grey level of PIL's
    BILINEAR resize of the same window; off is exactly a plain bilinear resize, tens of levels away on stripes."""
    data, pixels = striped
    on = _eval_images("on", data, "imagenet-resnet50")
    off = _eval_images("off", data, "imagenet-resnet50")
    side = int(225 * 0.875)
    top, left = (225 - side) // 2, (300 - side) // 2
    windows = [p[top : top + side, left : left + side] for p in pixels]
    pil = np.stack([np.asarray(Image.fromarray(w).resize((64, 64), Image.BILINEAR), np.float64) for w in windows])
    plain = np.stack([tf.image.resize(w, (64, 64), antialias=False).numpy() for w in windows])
    assert np.abs(on - pil).mean() < 1.0
    assert np.abs(off - np.round(plain)).max() <= 1.0
    assert np.abs(off - on).mean() > 10.0


@pytest.mark.parametrize("crop_decode", ["fused", "plain"])
def test_off_changes_the_random_crops_pixels_never_which_crop(striped: tuple, crop_decode: str) -> None:
    """The same seed takes the same windows with either filter: only the resize inside them differs."""
    data, _ = striped
    spec = get_workload("imagenet-resnet50").augment
    config = InputConfig(image_size=(64, 64), channels=3, augment=spec, batch_size=4, seed=0)

    def batch(antialias: str) -> np.ndarray:
        pipeline = build_pipeline("tfdata", resize_antialias=antialias, crop_decode=crop_decode, deterministic="on")
        return np.asarray(next(iter(pipeline.train_data(data, config)))[0], np.float64)

    on, off = batch("on"), batch("off")
    assert np.abs(off - on).mean() > 3.0  # different work
    # Blue, a smooth ramp across the columns (caffe's BGR puts it first), has the same mean in the same window.
    assert np.abs(off[..., 0].mean(axis=(1, 2)) - on[..., 0].mean(axis=(1, 2))).max() < 1.0


def test_off_reaches_the_plain_decode_and_resize(striped: tuple) -> None:
    """A workload without a crop (imagenette's `none`): the plain resize path follows the knob too."""
    data, _ = striped
    on = _eval_images("on", data, "imagenette")
    off = _eval_images("off", data, "imagenette")
    assert np.abs(off - on).mean() > 10.0
