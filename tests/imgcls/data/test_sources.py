"""Real data (skipped without $IMGCLS_DATA_DIR; CI unpacks shared/data and sets it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.config import RunConfig
from bench.run.runner import run_and_record
from imgcls.data.sources import load_dataset

pytestmark = pytest.mark.realdata


def test_data_dir_copies_are_named(real_data_dir: Path) -> None:
    mnist = load_dataset("mnist", "dir", real_data_dir)
    assert mnist.kind == "real" and "pixel-identical" in mnist.source and "60000/10000" in mnist.source
    cifar = load_dataset("cifar10", "dir", real_data_dir)
    assert "q75 JPEG copy" in cifar.source
    imagenette = load_dataset("imagenette", "dir", real_data_dir)
    assert "subset 5000/2500" in imagenette.source and imagenette.input_kind == "files"


def test_auto_prefers_the_data_dir(real_data_dir: Path) -> None:
    assert load_dataset("mnist", "auto", real_data_dir).kind == "real"


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", ["idg", "tfdata"])
def test_mnist_one_epoch_reaches_97_percent(real_data_dir: Path, tmp_path: Path, pipeline: str) -> None:
    """The seed's CNN, one epoch of real MNIST (with the workload's augmentation), through each pipeline."""
    record = run_and_record(
        RunConfig(
            workload="mnist",
            pipeline=pipeline,
            data="dir",
            data_dir=str(real_data_dir),
            epochs=1,
            pipeline_batches=3,
            stage_batches=0,
            ceiling_steps=0,
            seed=0,
        ),
        tmp_path,
    )
    assert record.data_kind == "real"
    assert record.val_accuracy >= 0.97, record.epoch_val_accuracy
