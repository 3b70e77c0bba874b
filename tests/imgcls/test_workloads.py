"""Every workload through every pipeline, end to end through `run_and_record`, and learnability on generated data.

Runs are tiny (batch 8, 6 steps, small images, VGG16 with random weights) so the whole matrix stays quick; the
tf.data service pairs start server processes and are marked slow. Accuracy checks train a little longer on
generated learnable data and ask for clearly-above-chance validation accuracy (chance is 10%).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from bench.config import RunConfig
from bench.run.runner import run_and_record
from imgcls.data import DATASETS, DataSet, load_folder_tree
from imgcls.data.generated import write_jpeg_tree
from imgcls.pipelines import workload_pipelines
from imgcls.workloads import get_workload, list_workloads
from tests.conftest import pipeline_param, tiny_arrays, tiny_config

STEPS, BATCH, WARMUP = 6, 8, 2


def _pair_params() -> list:
    params = []
    for workload in list_workloads():
        for pipeline in workload_pipelines(get_workload(workload).augment):
            # All slow: the fast subset covers every workload x {idg, tfdata, synthetic} in tests/test_backends.py.
            # A loader whose package is absent skips, saying which (tests.conftest.pipeline_param).
            marks = [pytest.mark.slow, *pipeline_param(pipeline).marks]
            params.append(pytest.param(workload, pipeline, marks=marks, id=f"{workload}-{pipeline}"))
    return params


FIXTURES = {
    "mnist": "mnist_tiny",
    "cifar10": "cifar_tiny",
    "imagenette": "imagenette_tiny",
    "imagenet": "imagenette_tiny",
}


def _data_for(workload: str, request: pytest.FixtureRequest) -> DataSet:
    dataset = get_workload(workload).dataset
    fixture = {
        "mnist": "mnist_tiny",
        "cifar10": "cifar_tiny",
        "imagenette": "imagenette_tiny",
        "imagenet": "imagenette_tiny",
    }[dataset]
    return request.getfixturevalue(fixture)


def _smoke_config(workload: str, pipeline: str) -> RunConfig:
    return tiny_config(
        workload,
        pipeline,
        pipeline_options={"service": "local:1"} if pipeline == "tfdata-service" else {},
        batch_size=BATCH,
        steps_per_epoch=STEPS,
        warmup_steps=WARMUP,
        pipeline_batches=3,
        stage_batches=2,
        ceiling_steps=4,
        limit_test=32,
    )


def test_the_matrix_is_what_the_project_declares() -> None:
    assert set(list_workloads()) == {"mnist", "cifar10", "imagenette", "imagenette-vgg16", "imagenet-resnet50"}
    assert {"idg", "tfdata", "tfdata-naive", "synthetic", "tfdata-service"} <= set(workload_pipelines())
    for workload in list_workloads():
        assert get_workload(workload).dataset in DATASETS


@pytest.mark.parametrize("workload, pipeline", _pair_params())
def test_every_workload_runs_through_every_pipeline(
    workload: str, pipeline: str, request: pytest.FixtureRequest, results_dir: Path
) -> None:
    data = _data_for(workload, request)
    spec = get_workload(workload).augment
    record = run_and_record(_smoke_config(workload, pipeline), results_dir, data=data)

    assert record.status == "ok" and record.error is None
    assert (record.workload, record.pipeline) == (workload, pipeline)
    # Provenance: the generated data is labelled as such, with its (limited) source and no skipped files.
    assert record.data_kind == "generated"
    assert record.data_source.startswith(data.source) and "[first" in record.data_source
    assert record.data_skipped_files == {}
    assert record.train_examples == len(data.train) and record.test_examples == min(32, len(data.test))
    # The workload's own augmentation, recorded in full.
    assert record.augment == "seed"
    assert record.augment_spec == spec.as_dict() and record.augment_spec["name"] == "seed"
    assert record.model_weights == ("none" if "weights" in get_workload(workload).model_kwargs else None)
    # The run did what was asked and measured it.
    assert (record.batch_size, record.epochs, record.steps_per_epoch) == (BATCH, 1, STEPS)
    assert len(record.step_sec) == STEPS and len(record.epoch_sec) == 1
    assert (record.warmup_steps, record.window_steps) == (WARMUP, STEPS - WARMUP)
    assert record.train_images_per_sec > 0 and record.pipeline_images_per_sec > 0
    assert record.ceiling_images_per_sec > 0
    # Unclipped: 1 - e2e / ceiling (a negative value is noise, and the tables say so rather than show 0).
    assert record.input_bound_pct == pytest.approx(
        100 * (1 - record.train_images_per_sec / record.ceiling_images_per_sec)
    )
    assert math.isfinite(record.final_train_loss) and record.final_train_loss > 0
    if pipeline == "synthetic":  # one constant batch: evaluation means nothing
        assert record.val_accuracy is None and record.epoch_val_accuracy == []
    else:
        assert 0.0 <= record.val_accuracy <= 1.0 and len(record.epoch_val_accuracy) == 1
        assert math.isfinite(record.val_loss)
    if pipeline in ("tfdata", "tfdata-naive"):  # per-stage prefixes, in graph order
        first = ["read", "decode"] if data.input_kind == "files" else ["source"]
        prefetch = ["prefetch"] if record.pipeline_options["prefetch"] is not None else []  # only stages it has
        assert list(record.stage_images_per_sec) == [*first, "augment", *prefetch]
        assert record.slowest_stage in record.stage_images_per_sec
    # Exactly one line in the results file, and it is this record.
    lines = (results_dir / "runs.jsonl").read_text().splitlines()
    assert len(lines) == 1
    stored = json.loads(lines[0])
    assert stored["run_id"] == record.run_id and stored["status"] == "ok"
    assert stored["augment_spec"]["name"] == "seed" and stored["data_kind"] == "generated"


@pytest.mark.slow
def test_tfdata_service_run_tears_its_servers_down_promptly(mnist_tiny: DataSet, results_dir: Path) -> None:
    start = time.perf_counter()
    record = run_and_record(_smoke_config("mnist", "tfdata-service"), results_dir, data=mnist_tiny)
    total = time.perf_counter() - start
    assert record.status == "ok"
    # record.wall_sec ends before the pipeline is closed; what follows is only stopping two local servers.
    assert total - record.wall_sec < 5.0, (total, record.wall_sec)


# ---- learnability: clearly above chance on generated data ------------------------------------------------------
# imagenette-vgg16 has no accuracy check here: its model is a *frozen* VGG16 base meant for ImageNet weights, which
# cannot be had offline, and with `weights="none"` (random frozen base) the head stayed at 0.1-0.4 after 8-12 epochs
# on the generated tree, never reliably above 0.3. Its runs are covered by the pair test above.
def _accuracy_config(workload: str, pipeline: str, **overrides) -> RunConfig:  # noqa: ANN003
    return RunConfig(
        workload=workload,
        pipeline=pipeline,
        warmup_steps=2,
        pipeline_batches=3,
        stage_batches=0,
        ceiling_steps=0,
        **overrides,
    )


@pytest.mark.parametrize("pipeline", ["tfdata", "idg"])
def test_mnist_model_learns_generated_digits(pipeline: str, results_dir: Path) -> None:
    data = tiny_arrays("mnist", n_train=1024, n_test=300)
    record = run_and_record(_accuracy_config("mnist", pipeline, epochs=2, batch_size=32), results_dir, data=data)
    assert record.val_accuracy > 0.4, record.epoch_val_accuracy  # chance 0.1; seeds 0-2 gave 0.56-0.77


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", ["tfdata", "idg"])
def test_cifar10_model_learns_generated_images(pipeline: str, results_dir: Path) -> None:
    data = tiny_arrays("cifar10", n_train=1024, n_test=300)
    record = run_and_record(_accuracy_config("cifar10", pipeline, epochs=1, batch_size=32), results_dir, data=data)
    assert record.val_accuracy > 0.5, record.epoch_val_accuracy  # chance 0.1; seeds 0-2 gave 0.90-0.99


@pytest.fixture(scope="module")
def learnable_jpeg_tree(tmp_path_factory: pytest.TempPathFactory) -> DataSet:
    """A larger generated Imagenette tree: 10 classes x (30 train, 10 val), shorter side 48 px."""
    root = tmp_path_factory.mktemp("learnable") / "imagenette2-gen"
    write_jpeg_tree(root, {"train": 30, "val": 10}, DATASETS["imagenette"].class_names, shorter_side=48)
    return load_folder_tree(DATASETS["imagenette"], root, kind="generated")


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", ["tfdata", "idg"])
def test_imagenette_model_learns_generated_jpegs(
    pipeline: str, learnable_jpeg_tree: DataSet, results_dir: Path
) -> None:
    record = run_and_record(
        _accuracy_config("imagenette", pipeline, image_size=48, epochs=4, batch_size=16),
        results_dir,
        data=learnable_jpeg_tree,
    )
    assert record.test_examples == 100 and record.data_kind == "generated"
    assert record.val_accuracy > 0.5, record.epoch_val_accuracy  # chance 0.1


def test_parity_margins_are_the_declared_values() -> None:
    """The accuracy-parity verdicts (results/accuracy.md) turn on these margins: about one seed-to-seed standard
    deviation of each workload's short runs. A changed margin changes every verdict, so it changes here on purpose
    (a doubled margin, or MNIST's x10, passed every other test)."""
    declared = {
        "mnist": 0.005, "cifar10": 0.015, "imagenette": 0.03, "imagenette-vgg16": 0.03, "imagenet-resnet50": 0.03,
    }  # fmt: skip
    assert {name: get_workload(name).parity_margin for name in list_workloads()} == declared
