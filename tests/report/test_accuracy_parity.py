"""Time-to-accuracy arithmetic, the per-epoch record and the parity verdicts, on fake numbers."""

from __future__ import annotations

import pytest

from bench.report.accuracy_parity import accuracy_table, parity_verdict
from bench.run.accuracy import time_to_target


def test_time_to_target_counts_training_time_until_first_hit() -> None:
    seconds, epochs = time_to_target([0.50, 0.80, 0.95, 0.97], [10.0, 9.0, 9.5, 9.0], target=0.9)
    assert (seconds, epochs) == (pytest.approx(28.5), 3)


def test_time_to_target_never_reached_is_none() -> None:
    assert time_to_target([0.5, 0.6], [1.0, 1.0], target=0.9) == (None, None)


def test_time_to_target_rejects_a_percentage() -> None:
    with pytest.raises(ValueError, match="target_accuracy"):
        time_to_target([0.5], [1.0], target=97)


def _record(pipeline: str, seed: int, accuracy: float, knobs: dict | None = None, classes: int = 10) -> dict:
    return {
        "num_classes": classes,
        "status": "ok",
        "workload": "mnist",
        "pipeline": pipeline,
        "knobs": knobs or {},
        "seed": seed,
        "data_kind": "real",
        "data_source": "MNIST",
        "epochs": 1,
        "batch_size": 128,
        "val_accuracy": accuracy,
        "target_accuracy": 0.97,
        "time_to_target_sec": 6.0 if accuracy >= 0.97 else None,
        "epoch_sec": [6.0],
        "train_images_per_sec": 9000.0,
    }


def test_parity_is_an_equivalence_test_with_the_workloads_margin() -> None:
    """MNIST's margin is 0.5 points: inside it with tight seeds is parity, wholly outside is flagged."""
    records = [_record("idg", s, a) for s, a in enumerate([0.970, 0.971, 0.972, 0.971])]
    records += [_record("tfdata", s, a) for s, a in enumerate([0.971, 0.972, 0.971, 0.970])]
    records += [_record("tfdata", s, a, {"prefetch": None}) for s, a in enumerate([0.90, 0.91, 0.92, 0.905])]
    table = accuracy_table(records).set_index(["pipeline", "knobs_label"])
    assert table.loc[("idg", "default"), "parity"] == "baseline"
    assert table.loc[("tfdata", "default"), "parity"] == "parity"
    assert table.loc[("tfdata", "prefetch=off"), "parity"].startswith("FLAGGED (below")
    assert table.loc[("idg", "default"), "seeds"] == 4
    assert table.loc[("idg", "default"), "reached"] == 4
    low, high = table.loc[("tfdata", "default"), ["diff_low", "diff_high"]]
    assert -0.005 <= low <= high <= 0.005


@pytest.mark.parametrize(
    "low, high, verdict",
    [
        (-0.0049, 0.0049, "parity"),
        (-0.005, 0.005, "parity"),  # the margin itself is inside
        (-0.0051, 0.0049, "not enough seeds to decide"),
        (-0.0049, 0.0051, "not enough seeds to decide"),
        (0.0051, 0.006, "FLAGGED (above idg by more than 0.5 pts)"),
        (-0.006, -0.0051, "FLAGGED (below idg by more than 0.5 pts)"),
    ],
)
def test_the_verdict_turns_exactly_at_the_margin(low: float, high: float, verdict: str) -> None:
    """Intervals a hair inside and outside +-0.5 points: a margin doubled (or halved) inside the verdict moves one
    of them across (a doubled margin once left every unit test green)."""
    assert parity_verdict(low, high, 0.005) == verdict


# The margins results/accuracy.md states (`margin pts`): a workload's margin scaled by mistake changes verdicts.
STATED_MARGINS = {"mnist": 0.005, "cifar10": 0.015, "imagenette": 0.03, "imagenette-vgg16": 0.03,
                  "imagenet-resnet50": 0.03}  # fmt: skip


def test_every_workload_states_its_margin() -> None:
    from imgcls.workloads import list_workloads

    assert set(STATED_MARGINS) == set(list_workloads())


@pytest.mark.parametrize("workload", sorted(STATED_MARGINS))
@pytest.mark.parametrize("fraction, verdict", [(0.9, "parity"), (1.1, "FLAGGED (below")])
def test_each_workloads_margin_decides_a_tight_difference(workload: str, fraction: float, verdict: str) -> None:
    """Four tight seeds a side, the candidate 0.9x or 1.1x the stated margin below idg: parity just inside,
    flagged just outside (MNIST's margin x10 was caught only because a committed table happened to change)."""
    margin = STATED_MARGINS[workload]
    base = [0.8, 0.8001, 0.7999, 0.8]
    records = [{**_record("idg", s, a), "workload": workload} for s, a in enumerate(base)]
    records += [{**_record("tfdata", s, a - fraction * margin), "workload": workload} for s, a in enumerate(base)]
    table = accuracy_table(records).set_index("pipeline")
    assert table.loc["tfdata", "margin"] == pytest.approx(margin)
    assert table.loc["tfdata", "parity"].startswith(verdict)


def test_a_noisy_mean_inside_the_margin_is_not_parity() -> None:
    """The old rule passed anything inside the baseline's (wide) range; the interval says the seeds cannot tell."""
    records = [_record("idg", s, a) for s, a in enumerate([0.95, 0.97, 0.99])]
    records += [_record("tfdata", s, a) for s, a in enumerate([0.93, 0.97, 1.0])]
    table = accuracy_table(records).set_index("pipeline")
    assert table.loc["tfdata", "parity"] == "not enough seeds to decide"
    one_seed = accuracy_table(records[:4]).set_index("pipeline")
    assert one_seed.loc["tfdata", "parity"] == "not enough seeds (need 2 a side)"


def test_training_knobs_are_compared_with_a_baseline_of_the_same_knobs() -> None:
    records = [_record("idg", s, a) for s, a in enumerate([0.970, 0.971, 0.972])]
    records += [_record("tfdata", s, 0.971, {"mixed_precision": "bfloat16"}) for s in range(3)]
    table = accuracy_table(records).set_index(["pipeline", "knobs_label"])
    assert table.loc[("tfdata", "mixed_precision=bfloat16"), "parity"] == "no idg baseline"


def test_no_parity_verdict_when_the_baseline_is_at_chance() -> None:
    """Ten classes at ~10%: a 1.5-point gap is noise around chance, not a pipeline bug."""
    records = [_record("idg", s, a) for s, a in enumerate([0.095, 0.10, 0.105])]
    records += [_record("tfdata", s, a) for s, a in enumerate([0.115, 0.12, 0.125])]
    table = accuracy_table(records).set_index("pipeline")
    assert table.loc["idg", "parity"] == "baseline (at chance, 10%)"
    assert table.loc["tfdata", "parity"] == "no verdict: idg at chance"
    # Two classes: idg at 71% is clearly above chance (50%), so a 10-point gap is flagged.
    records = [_record("idg", s, a, classes=2) for s, a in enumerate([0.70, 0.72, 0.71])]
    records += [_record("tfdata", s, a, classes=2) for s, a in enumerate([0.60, 0.61, 0.62])]
    table = accuracy_table(records).set_index("pipeline")
    assert table.loc["tfdata", "parity"].startswith("FLAGGED (below")


def test_records_without_num_classes_still_get_a_verdict() -> None:
    records = [{k: v for k, v in _record("idg", s, a).items() if k != "num_classes"} for s, a in enumerate([0.1] * 2)]
    records += [{k: v for k, v in _record("tfdata", s, 0.2).items() if k != "num_classes"} for s in range(2)]
    table = accuracy_table(records).set_index("pipeline")
    assert table.loc["tfdata", "parity"].startswith("FLAGGED (above")


@pytest.mark.slow  # two tiny runs: ~8 s on 2 shared cores
def test_same_seed_with_deterministic_gives_the_same_first_epoch_loss(tmp_path, mnist_tiny) -> None:
    """`--seed S --deterministic --op-determinism`: two runs agree on the first-epoch loss and accuracy."""
    from bench.config import RunConfig
    from bench.run.runner import run_and_record

    def run(seed: int):
        config = RunConfig(
            workload="mnist",
            pipeline="tfdata",
            pipeline_options={"deterministic": True},
            op_determinism=True,
            seed=seed,
            batch_size=32,
            steps_per_epoch=8,
            epochs=2,
            warmup_steps=2,
            pipeline_batches=3,
            stage_batches=0,
            ceiling_steps=0,
        )
        return run_and_record(config, tmp_path, data=mnist_tiny)

    first, again, other = run(7), run(7), run(8)
    assert first.first_epoch_loss == again.first_epoch_loss
    assert first.epoch_val_accuracy == again.epoch_val_accuracy and len(first.epoch_val_accuracy) == 2
    assert other.first_epoch_loss != first.first_epoch_loss
    assert len(first.epoch_train_loss) == 2 and first.epoch_val_loss


def test_tfdata_determinism_leaves_the_model_alone() -> None:
    """tf.data's `deterministic` orders the input only; the model's kernels turn deterministic on
    `--op-determinism` alone (costly on a GPU, so a tf.data ablation never pays it unasked)."""
    import dataclasses

    import bench.run.process_setup
    from bench.backends import get_backend
    from bench.config import RunConfig

    calls = []
    backend = dataclasses.replace(get_backend("tensorflow"), make_deterministic=lambda: calls.append(1))
    config = RunConfig(pipeline="tfdata-naive", pipeline_options={"deterministic": True})
    bench.run.process_setup.seed_everything(config, backend)
    assert calls == []
    bench.run.process_setup.seed_everything(RunConfig(op_determinism=True), backend)
    assert calls == [1]
