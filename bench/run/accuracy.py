"""Accuracy as a first-class result: held-out evaluation after every epoch, and time-to-accuracy.

Evaluation runs in `on_epoch_end` of a callback placed *after* the step timer, so its time is never counted as
training time: the cumulative training seconds are the sum of the timer's epoch durations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras

from imgcls.errors import InvalidValue


@dataclass
class EpochHistory:
    val_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)


class EpochEvaluator(keras.callbacks.Callback):
    """Evaluates the model on `eval_data` after every epoch; keeps the epoch's mean training loss too."""

    def __init__(self, eval_data: Any, on_result: Any = None) -> None:
        super().__init__()
        self.eval_data = eval_data
        self.history = EpochHistory()
        self.on_result = on_result

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs and "loss" in logs:
            self.history.train_loss.append(float(logs["loss"]))
        if self.eval_data is None:
            return
        loss, accuracy = self.model.evaluate(self.eval_data, verbose=0)
        self.history.val_loss.append(float(loss))
        self.history.val_accuracy.append(float(accuracy))
        if self.on_result is not None:
            self.on_result(epoch, float(accuracy), float(loss))


def time_to_target(
    val_accuracy: Sequence[float], epoch_sec: Sequence[float], target: float
) -> tuple[float | None, int | None]:
    """Training seconds and epochs until validation accuracy first reached `target` (None, None if never).

    Args:
        val_accuracy: Accuracy after each epoch.
        epoch_sec: Training time of each epoch (evaluation excluded).
        target: Accuracy to reach, in [0, 1].
    """
    if not 0.0 <= target <= 1.0:
        raise InvalidValue(f"`target_accuracy` must be in [0, 1], got {target}")
    elapsed = 0.0
    for epoch, (accuracy, seconds) in enumerate(zip(val_accuracy, epoch_sec, strict=False), 1):
        elapsed += seconds
        if accuracy >= target:
            return elapsed, epoch
    return None, None
