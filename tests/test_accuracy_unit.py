"""Time-to-accuracy arithmetic, the per-epoch record and the parity verdicts, on fake numbers."""

from __future__ import annotations

import pytest

from bench.accuracy import time_to_target
from bench.accuracy_report import accuracy_table


def test_time_to_target_counts_training_time_until_first_hit() -> None:
    seconds, epochs = time_to_target([0.50, 0.80, 0.95, 0.97], [10.0, 9.0, 9.5, 9.0], target=0.9)
    assert (seconds, epochs) == (pytest.approx(28.5), 3)


def test_time_to_target_never_reached_is_none() -> None:
    assert time_to_target([0.5, 0.6], [1.0, 1.0], target=0.9) == (None, None)


def test_time_to_target_rejects_a_percentage() -> None:
    with pytest.raises(ValueError, match="target_accuracy"):
        time_to_target([0.5], [1.0], target=97)


def _record(pipeline: str, seed: int, accuracy: float, knobs: dict | None = None) -> dict:
    return {
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


def test_parity_within_idg_spread_and_flag_outside() -> None:
    records = [_record("idg", s, a) for s, a in enumerate([0.965, 0.975, 0.972])]
    records += [_record("tfdata", s, a) for s, a in enumerate([0.971, 0.974, 0.973])]
    records += [_record("tfdata", s, a, {"mixed_precision": "bfloat16"}) for s, a in enumerate([0.90, 0.91, 0.92])]
    table = accuracy_table(records).set_index(["pipeline", "knobs_label"])
    assert table.loc[("idg", "default"), "parity"] == "baseline"
    assert table.loc[("tfdata", "default"), "parity"] == "parity"
    flagged = table.loc[("tfdata", "mixed_precision=bfloat16"), "parity"]
    assert flagged.startswith("FLAGGED (below")
    assert table.loc[("idg", "default"), "seeds"] == 3
    assert table.loc[("idg", "default"), "reached"] == 2  # 0.965 never reached the 0.97 target


def test_same_seed_with_deterministic_gives_the_same_first_epoch_loss(tmp_path, mnist_tiny) -> None:
    """`--seed S --deterministic`: two tfdata runs agree on the first-epoch loss and per-epoch accuracy."""
    from bench.runner import RunConfig, run_and_record

    def run(seed: int):
        config = RunConfig(
            workload="mnist",
            pipeline="tfdata",
            pipeline_options={"deterministic": True},
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
