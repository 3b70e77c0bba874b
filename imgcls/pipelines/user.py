"""`user`: the user's own pipeline function, measured like the built-in pipelines.

`--pipeline-fn package.module:function` names a function that returns anything `model.fit` takes -- a
`tf.data.Dataset`, a `keras.utils.PyDataset`, a generator (or other iterator) of `(x, y)` batches, a torch
`DataLoader`, a Grain `MapDataset` or `IterDataset` (Keras's `GrainDatasetAdapter` takes both) -- taking
`batch_size` and `seed` if its signature names them. It is called afresh each time the run asks for data
(pipeline-only timing, stage prefixes, training), so a generator is never consumed twice.

The function brings its own data and work: the run's `DataSet` (the workload's) feeds only the ceiling, which is
why the first batch must have the shape the workload's model takes (`check_feeds`, before any timing). A
`tf.data` graph is staged by walking its own chain of transformations (`graph_stages`); anything else is
`not staged`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import keras
import tensorflow as tf

from imgcls.data.types import DataSet
from imgcls.pipelines.base import InputConfig, Pipeline
from imgcls.pipelines.graph_stages import NotStaged, stage_prefixes
from imgcls.pipelines.options import UserOptions
from imgcls.user_code import UserCodeError, call_with_known, import_callable

ACCEPTED = (
    "a tf.data.Dataset, a keras.utils.PyDataset, a generator of (x, y), a torch DataLoader or a Grain MapDataset "
    "or IterDataset"
)


def _accepted_types() -> tuple[type, ...]:
    """What `model.fit` takes, as the libraries' own classes; torch's and Grain's only when the user's code
    imported them (their objects cannot exist otherwise, and importing torch here would cost seconds)."""
    types: list[type] = [tf.data.Dataset, keras.utils.PyDataset, Iterator]
    torch = sys.modules.get("torch")
    if torch is not None:
        types.append(torch.utils.data.DataLoader)
    grain = sys.modules.get("grain")
    if grain is not None:
        types += [grain.MapDataset, grain.IterDataset]
    return tuple(types)


@dataclass(frozen=True)
class UserPipeline(Pipeline):
    name: str = "user"
    opts: UserOptions = field(default_factory=UserOptions)

    @property
    def reference(self) -> str:
        return str(self.opts.pipeline_fn)

    def _make(self, config: InputConfig) -> Any:
        """A fresh result of the user's function, checked to be something `model.fit` takes.

        Raises:
            UserCodeError: import error, the call raised, or the wrong return type; names the function.
        """
        fn = import_callable(self.reference)
        made = call_with_known(fn, self.reference, batch_size=config.batch_size, seed=config.seed)
        if not isinstance(made, _accepted_types()):
            raise UserCodeError(f"{self.reference} returned a {type(made).__name__}; model.fit takes {ACCEPTED}")
        if isinstance(made, tf.data.Dataset) and self.opts.private_threadpool is not None:
            options = tf.data.Options()
            options.threading.private_threadpool_size = self.opts.private_threadpool
            made = made.with_options(options)  # merged with the graph's own; the stage walk skips options steps
        return made

    def train_data(self, data: DataSet, config: InputConfig) -> Any:
        return self._make(config)

    def eval_data(self, data: DataSet, config: InputConfig) -> None:
        return None  # the function gives training batches only: no held-out accuracy

    def stage_datasets(self, data: DataSet, config: InputConfig) -> dict[str, tf.data.Dataset] | None:
        made = self._make(config)
        if not isinstance(made, tf.data.Dataset):
            return None
        try:
            return stage_prefixes(made, config.batch_size)
        except NotStaged:
            return None

    def stage_note(self, data: DataSet, config: InputConfig) -> str | None:
        made = self._make(config)
        if not isinstance(made, tf.data.Dataset):
            return f"not staged: a {type(made).__name__}, not a tf.data graph"
        try:
            stage_prefixes(made, config.batch_size)
        except NotStaged as err:
            return f"not staged: {err}"
        return None

    def check_feeds(self, model: Any, data: DataSet, config: InputConfig) -> None:
        """The first batch is `(x [B, H, W, C], y [B])` at the run's batch size and the model's input shape.

        Raises:
            UserCodeError: names the function, what it gave and what was expected.
        """
        batch = next(iter(self._make(config)))
        if not isinstance(batch, tuple | list) or len(batch) not in (2, 3):
            raise UserCodeError(f"{self.reference} yields a {type(batch).__name__}; expected (x, y) batches")
        x, y = batch[0], batch[1]
        shape, labels = tuple(getattr(x, "shape", ())), tuple(getattr(y, "shape", ()))
        wanted = (config.batch_size, *config.image_size, config.channels)
        if shape[:1] != (config.batch_size,) or labels[:1] != (config.batch_size,):
            raise UserCodeError(
                f"{self.reference} yields batches of x {shape}, y {labels}; the run times batches of "
                f"{config.batch_size} (take `batch_size`, or pass --batch-size)"
            )
        expected = getattr(model, "input_shape", None)
        if (
            isinstance(expected, tuple)
            and len(expected) == len(shape)
            and any(e is not None and e != s for e, s in zip(expected[1:], shape[1:], strict=True))
        ):
            raise UserCodeError(f"{self.reference} yields x {shape}; the model takes {expected}")
        if shape != wanted:
            raise UserCodeError(
                f"{self.reference} yields x {shape}; the run's workload feeds {wanted} (the ceiling): pick the "
                "--workload (or --image-size) your data has"
            )
