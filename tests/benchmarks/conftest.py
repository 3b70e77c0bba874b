"""Benchmark data: generated in the real formats at realistic sizes (arrays 28x28; JPEGs 224x224, like the
imagenette2-224 copy: every file one size, larger than the model's 160 px, so the resize is real work)."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgcls.data import DATASETS, DataSet, load_folder_tree
from imgcls.data.generated import write_jpeg_tree
from tests.conftest import tiny_arrays


@pytest.fixture(scope="session")
def bench_arrays() -> DataSet:
    return tiny_arrays("mnist", n_train=4096, n_test=256)


@pytest.fixture(scope="session")
def bench_jpegs(tmp_path_factory: pytest.TempPathFactory) -> DataSet:
    root = tmp_path_factory.mktemp("bench-jpegs") / "imagenette2-bench"
    write_jpeg_tree(root, {"train": 24, "val": 2}, DATASETS["imagenette"].class_names, shorter_side=224, max_aspect=1.0)
    return load_folder_tree(DATASETS["imagenette"], Path(root), kind="generated")
