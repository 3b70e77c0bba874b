"""pytest-benchmark: ImageNet's random resized crop, pipeline-only, on ImageNet-sized generated JPEGs (shorter side
375, q90): fused crop-in-decode vs decode-then-crop, each with the resize antialiased (PIL's work, the default) and
without (`--resize-antialias off`, what fast loaders do), vs the decode alone and the workload's baseline
(`keras-layers`: resize 256 + RandomCrop, different crops) (`--benchmark-enable` to time)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.gate import cases as gatecases
from imgcls.data import DATASETS, DataSet, load_folder_tree
from imgcls.data.generated import write_jpeg_tree
from imgcls.pipelines import InputConfig, build_pipeline
from imgcls.pipelines.tfdata import decode_only_dataset
from imgcls.workloads import get_workload

BATCH, BATCHES = 32, 8


@pytest.fixture(scope="module")
def imagenet_jpegs(tmp_path_factory: pytest.TempPathFactory) -> DataSet:
    root = tmp_path_factory.mktemp("imagenet-jpegs") / "imagenet-bench"
    info = DATASETS["imagenet"]
    write_jpeg_tree(root, {"train": 10, "val": 1}, info.class_names, shorter_side=375, quality=90)
    return load_folder_tree(info, Path(root), kind="generated")


VARIANTS = [
    ("fused", "on"),
    ("plain", "on"),
    ("fused", "off"),
    ("plain", "off"),
    ("decode-only", None),
    ("keras-layers", None),
]


@pytest.mark.parametrize(
    ("variant", "antialias"), VARIANTS, ids=[v if a is None else f"{v}-antialias-{a}" for v, a in VARIANTS]
)
def test_crop_decode(benchmark, imagenet_jpegs: DataSet, variant: str, antialias: str | None) -> None:
    workload = get_workload("imagenet-resnet50")
    config = InputConfig(image_size=(224, 224), channels=3, augment=workload.augment, batch_size=BATCH, seed=0)
    pipeline = None
    if variant == "decode-only":
        ds = decode_only_dataset(imagenet_jpegs, config)
    else:
        tfdata = {"crop_decode": variant, "resize_antialias": antialias}
        pipeline = build_pipeline(variant) if variant == "keras-layers" else build_pipeline("tfdata", **tfdata)
        ds = pipeline.train_data(imagenet_jpegs, config)
    iterator = iter(ds)
    benchmark.group = "imagenet crop decode"
    images = benchmark.pedantic(gatecases.consume, args=(iterator, BATCHES), rounds=5, warmup_rounds=1, iterations=1)
    seconds = benchmark.stats.stats.median if benchmark.stats else None
    benchmark.extra_info.update(
        {"variant": variant, "resize_antialias": antialias, "images_per_sec": images / seconds if seconds else None}
    )
    if pipeline is not None:
        pipeline.close()
    assert images == BATCH * BATCHES
