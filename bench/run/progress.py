"""What the user sees while a run works: one line per phase, and a progress line while training."""

from __future__ import annotations

import sys
import time

import keras


def say(message: str) -> None:
    """One line on stderr (stdout is kept for the table a run prints at the end)."""
    print(message, file=sys.stderr, flush=True)


class ProgressLine(keras.callbacks.Callback):
    """One progress line on stderr: rewritten in place on a terminal, every `every_sec` seconds otherwise."""

    async_safe = True  # printing needs no step to be finished: never stall the training loop for it

    def __init__(self, label: str, epochs: int, steps: int, batch_size: int, every_sec: float = 5.0) -> None:
        super().__init__()
        self.label, self.epochs, self.steps, self.batch_size = label, epochs, steps, batch_size
        self.tty = sys.stderr.isatty()
        self.every_sec = 0.5 if self.tty else every_sec
        self._last_print = 0.0
        self._epoch = 0
        self._epoch_start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        self._epoch_start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        if now - self._last_print < self.every_sec and batch + 1 < self.steps:
            return
        self._last_print = now
        rate = (batch + 1) * self.batch_size / max(now - self._epoch_start, 1e-9)
        loss = (logs or {}).get("loss")
        loss_text = f" loss {float(loss):.4f}" if loss is not None else ""
        text = (
            f"[{self.label}] epoch {self._epoch + 1}/{self.epochs} step {batch + 1}/{self.steps}"
            f"{loss_text} {rate:,.0f} img/s"
        )
        print(("\r" + text + "\033[K") if self.tty else text, end="" if self.tty else "\n", file=sys.stderr)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.tty:
            print(file=sys.stderr)
