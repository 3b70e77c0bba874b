"""`python -m bench doctor` end to end on planted faults (fresh processes, real TF): the first-named cause is the
planted one and its verified fix measures a gain beyond the run's measured noise; a healthy pipeline is model-bound
and gets no input fix; bad input is one line before anything trains.

Each consultation costs one to two minutes on 2 cores, so each test makes one, verifies only the fixes it needs
(`--verify 1` or `2`) and asserts everything it can on it. "Beyond the noise" is the doctor's own bar: a verified e2e
above the run's e2e by more than the widest spread its measurements showed (`noise_pct`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.cli.parser import main
from bench.doctor.rules import RULES, WAITING_CAUSE
from imgcls.pipelines import get_pipeline_spec

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--data", "generated", "--limit", "2048", "--limit-test", "256"]
TINY_MODEL = ["--model", "examples.own_training:small_cnn"]
INPUT_FIXES = {rule.name for rule in RULES if rule.input_side}


def _doctor(tmp_path: Path, *args: str, data: list[str] = SMALL) -> dict:
    assert main(["doctor", *data, "--results", str(tmp_path), *args]) == 0
    (doc,) = [json.loads(line) for line in (tmp_path / "doctor.jsonl").read_text().splitlines()]
    assert (tmp_path / "doctor.md").read_text().startswith("# bench doctor")
    return doc


def _verified_gain_beyond_noise(doc: dict, variant: str | None = None) -> dict:
    """The verified run (the named one, else the best) that beat the run's e2e by more than its measured noise."""
    measured = [v for v in doc["verified"] if v["measured_e2e"] and variant in (None, v["variant"])]
    assert measured, f"nothing verified: {doc['verified']}"
    best = max(measured, key=lambda v: v["measured_e2e"])
    bar = doc["e2e_images_per_sec"] * (1 + doc["noise_pct"] / 100)
    assert best["measured_e2e"] > bar, f"{best['variant']}: {best['measured_e2e']:,.0f} img/s, not beyond {bar:,.0f}"
    return best


@pytest.mark.slow
def test_a_sequential_map_without_prefetch_gets_a_parallel_map_or_prefetch_that_gains_beyond_the_noise(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # The tuned pipeline with both knobs planted off, so the fault is the knobs (tfdata-naive would also be offered
    # the switch to tfdata). A tiny model on JPEGs, so the host pipeline is the bottleneck even though the model
    # shares the 2 cores (at 64 px the "sequential" map's ops already run on both cores: nothing left to widen).
    doc = _doctor(
        tmp_path, *TINY_MODEL, "--workload", "imagenette", "--pipeline", "tfdata", "--map-parallel", "off",
        "--prefetch", "off", "--verify", "2", "--steps", "24",
    )  # fmt: skip
    assert doc["verdict"] == "input-bound"
    assert doc["causes"][0] in {"a sequential (or narrow) map", "no prefetch: input and training take turns"}
    verifiable = [f["fix"] for f in doc["fixes"] if f["verifiable"]][:2]
    assert [v["variant"] for v in doc["verified"][: len(verifiable)]] == verifiable
    if len(verifiable) == 2:
        assert doc["verified"][-1]["variant"] == " + ".join(verifiable)  # and the two together
    best = _verified_gain_beyond_noise(doc)
    rx = doc["prescription"]
    assert rx is not None and rx["variant"] == best["variant"]
    assert rx["command"].startswith("python -m bench run --workload imagenette --pipeline tfdata")
    out = capsys.readouterr().out
    assert "predicted fixes:" in out and "verified (each in a fresh process)" in out and "prescription: " in out


@pytest.fixture(scope="module")
def per_image_behind_a_pool_of_one(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One consultation for two planted faults: MNIST augmented one image at a time (the warp dominates: the source
    is arrays) behind a private pool of one thread. Per-image ops on 28x28 images find no intra-op threads to run on,
    so the pool really confines the pipeline to one core (measured here: 1.9x without it) -- on imagenette TF's
    decode and batched ops run on intra-op threads the pool does not govern, and a pool of one costs 5-44% there,
    which the doctor rightly predicts no gain beyond. The three best fixes are verified (the pool among them), and
    those that combine, together: MNIST's runs are short."""
    return _doctor(
        tmp_path_factory.mktemp("doctor"), *TINY_MODEL, "--workload", "mnist", "--pipeline", "tfdata",
        "--vectorize", "off", "--private-threadpool", "1", "--verify", "3", "--steps", "24",
    )  # fmt: skip


@pytest.mark.slow
def test_a_private_threadpool_of_one_is_named_and_removing_it_gains_beyond_the_noise(
    per_image_behind_a_pool_of_one: dict,
) -> None:
    doc = per_image_behind_a_pool_of_one
    assert doc["verdict"] == "input-bound"
    # Named among the verified three: the per-image augmentation (vectorized, or moved into the model) is the larger
    # fault planted here, and on 2 cores shared with the model a second pipeline thread buys less than those.
    assert "a private thread pool smaller than the cores" in doc["causes"][:3]
    assert "private_threadpool=off" in [v["variant"] for v in doc["verified"]]
    _verified_gain_beyond_noise(doc, "private_threadpool=off")


@pytest.mark.slow
def test_heavy_host_augmentation_is_named_first_and_its_fix_gains_beyond_the_noise(
    per_image_behind_a_pool_of_one: dict,
) -> None:
    """On a CPU-only machine `--augment-on device` moves the same work onto the same cores, so the doctor predicts
    it no gain here (on an accelerator it is the fix); vectorized augmentation is predicted from the probe."""
    doc = per_image_behind_a_pool_of_one
    assert doc["verdict"] == "input-bound" and doc["slowest_stage"] == "augment"
    assert doc["causes"][0] in {"augmenting one image at a time", "augmentation on the host"}
    assert doc["probed"]["vectorize=on"]["ratio"] > 1
    _verified_gain_beyond_noise(doc, doc["fixes"][0]["fix"])
    assert doc["prescription"] is not None


SLEEPING = """from examples.own_training import build_jpeg_pipeline


def slow_augment(batch_size, seed):
    return build_jpeg_pipeline(batch_size, seed, sleep_in="augment")
"""


@pytest.mark.slow
def test_a_slow_py_function_stage_in_the_users_own_pipeline_is_named_and_its_fix_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example's pipeline with a `tf.py_function` sleeping 2 ms an image in augment, run with verification: the
    slow stage is named, the first cause is a stage that waits, and no fix only the harness's own pipelines have
    (device augmentation, a decode cache, another loader) is offered."""
    (tmp_path / "planted_sleep.py").write_text(SLEEPING)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(tmp_path)]))
    monkeypatch.syspath_prepend(str(tmp_path))
    doc = _doctor(
        tmp_path / "r", "--workload", "cifar10", *TINY_MODEL, "--pipeline-fn", "planted_sleep:slow_augment",
        "--batch-size", "16", "--steps", "24", "--verify", "1",
        data=["--data", "generated", "--limit", "512", "--limit-test", "64"],
    )  # fmt: skip
    assert doc["verdict"] == "input-bound" and doc["slowest_stage"] == "augment"
    assert "slowest stage is augment" in doc["diagnosis"] and WAITING_CAUSE in doc["diagnosis"]
    assert doc["causes"][0] == WAITING_CAUSE
    offered = [fix["fix"] for fix in doc["fixes"]] + [item.split(" (")[0] for item in doc["not_applied"]]
    assert not {"augment_on=device", "cache=memory", "pipeline=tfdata"} & set(offered)  # fix names, not cause texts
    assert doc["quick"] is False
    if "private_threadpool" not in {knob.name for knob in get_pipeline_spec("user").knobs}:
        (advice,) = [fix for fix in doc["fixes"] if fix["addresses"] == WAITING_CAUSE]
        assert not advice["verifiable"] and "private_threadpool_size" in advice["code"]
        pytest.skip("the user pipeline has no private_threadpool knob: the doctor names the fix but cannot verify it")
    assert doc["verified"][0]["variant"] == doc["fixes"][0]["fix"]
    _verified_gain_beyond_noise(doc, doc["fixes"][0]["fix"])


@pytest.mark.slow
def test_a_healthy_pipeline_is_model_bound_and_nothing_is_prescribed_on_input(tmp_path: Path) -> None:
    # On a CPU the pipeline shares the model's cores, so it costs e2e / (its own rate) of them however healthy it is:
    # imagenette decoding at ~1,700 img/s beside a 130 img/s model takes ~8% (measured 8% against a 6% noise band in
    # CI: rightly input-bound). MNIST with augmentation in the model leaves the host batching arrays (~1% of 2 cores).
    doc = _doctor(
        tmp_path, "--workload", "mnist", "--pipeline", "tfdata", "--augment-on", "device", "--quick", "--steps", "60",
    )  # fmt: skip
    assert doc["verdict"] == "model-bound"
    assert [f["fix"] for f in doc["fixes"] if f["fix"] in INPUT_FIXES] == []
    assert [item for item in doc["not_applied"] if item.split(" (")[0] in INPUT_FIXES] == []  # not even weighed
    assert doc["verified"] == [] and doc["prescription"] is None
    assert doc["cores_to_feed"]["64"] >= doc["cores_to_feed"]["8"] >= doc["cores_to_feed"]["1"] >= 1
    workers = doc["service_workers_to_feed"]
    assert workers["64"] >= workers["8"] >= workers["1"] >= 1 and doc["service_worker_cores"] == doc["cores"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pipeline", "nope"], "invalid choice"),
        (["--map-parallel", "sideways"], "--map-parallel"),
        (["--pipeline", "idg", "--map-parallel", "4"], "map_parallel"),
        (["--verify", "0"], "--verify must be >= 1"),
    ],
)
def test_bad_input_is_one_line_before_anything_trains(
    tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    try:
        code = main(["doctor", "--results", str(tmp_path), *args])
    except SystemExit as exit_:  # argparse's own refusal (an unknown choice)
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) <= 2
    assert not (tmp_path / "doctor.jsonl").exists()


@pytest.mark.slow
def test_a_dispatch_bound_tiny_model_gets_more_steps_per_execution_and_it_measures_a_gain(tmp_path: Path) -> None:
    doc = _doctor(
        tmp_path, "--workload", "mnist", "--model", "examples.own_training:small_cnn", "--batch-size", "8",
        "--verify", "1",
    )  # fmt: skip
    assert doc["verdict"] == "dispatch-bound"
    assert doc["fixes"][0]["fix"] == "steps_per_execution=8"
    (verified,) = doc["verified"]
    assert verified["variant"] == "steps_per_execution=8" and verified["measured_gain_pct"] > 0
    assert doc["prescription"]["flags"] == ["--steps-per-execution 8"]
