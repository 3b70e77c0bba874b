"""The stages of an arbitrary tf.data graph, found by walking the dataset's own chain of transformations.

A `tf.data.Dataset` built by chained calls (`from_tensor_slices(...).map(...).batch(...)`) keeps each step as a
dataset object whose `_inputs()` are the datasets it was made from. Walking from the final dataset back to its
source gives every prefix of the graph, each a dataset of its own that can be iterated and timed alone (the
Plumber idea, on a graph this project did not build). A stage is named by the `name=` the user gave the
transformation (`ds.map(decode, name="decode")`), else by its kind (`map`, `batch`, `prefetch`, ...).

The walk follows single-input steps; a step with several inputs (zip, concatenate, interleave's sources) or
none is where the walk stops, and is the first stage. `with_options` steps are not stages: the final graph's
options are put back on every prefix, so each runs with the threading and optimisation settings it runs with in
training. A prefix that comes before the graph's first batching step is batched to the run's batch size
(Python's per-element cost would otherwise mask the stage's own) and repeated, like the built-in pipelines'.

`_inputs()` and `_name` are TensorFlow's own attributes (not a public API): where they are missing the graph is
`not staged` and says why.
"""

from __future__ import annotations

import re
from typing import Any

import tensorflow as tf


class NotStaged(Exception):  # noqa: N818 - reads as the record's words
    """The graph cannot be walked; the message says why."""


def _kind(ds: tf.data.Dataset) -> str:
    """`_ParallelMapDataset` -> `parallel_map`."""
    name = type(ds).__name__.strip("_").removesuffix("Dataset").removesuffix("V2") or "dataset"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _is_options(ds: tf.data.Dataset) -> bool:
    return type(ds).__name__ == "_OptionsDataset"


def chain(ds: tf.data.Dataset) -> list[tuple[str, tf.data.Dataset]]:
    """`(stage name, prefix)` from the source to `ds`, in graph order; `with_options` steps left out.

    Raises:
        NotStaged: a step without TensorFlow's `_inputs()`.
    """
    steps: list[tf.data.Dataset] = []
    node: tf.data.Dataset | None = ds
    while node is not None:
        if not _is_options(node):
            steps.append(node)
        try:
            inputs = node._inputs()  # noqa: SLF001 - TensorFlow's own record of what a dataset was made from
        except (AttributeError, NotImplementedError) as err:
            raise NotStaged(f"{type(node).__name__} does not say what it was made from") from err
        node = inputs[0] if len(inputs) == 1 and isinstance(inputs[0], tf.data.Dataset) else None
    named: list[tuple[str, tf.data.Dataset]] = []
    seen: dict[str, int] = {}
    for step in reversed(steps):
        name = getattr(step, "_name", None) or _kind(step)
        seen[name] = seen.get(name, 0) + 1
        named.append((name if seen[name] == 1 else f"{name}#{seen[name]}", step))
    return named


def _batches(ds: tf.data.Dataset) -> bool:
    """A batching step (`batch`, `padded_batch`, `ragged_batch`, tf.data's parallel batch; not `unbatch`)."""
    name = type(ds).__name__
    return "Batch" in name and "Unbatch" not in name and "Rebatch" not in name


def _as_pair(*parts: Any) -> tuple[Any, Any]:
    """Any element -> `(first component, last component)`: the timing counts images by the second's length."""
    flat = tf.nest.flatten(parts)
    return flat[0], flat[-1]


def stage_prefixes(ds: tf.data.Dataset, batch_size: int) -> dict[str, tf.data.Dataset]:
    """Every prefix of `ds` as an endless batched dataset of pairs, by stage name in graph order.

    Raises:
        NotStaged: the graph cannot be walked, or it has one stage only (nothing to tell apart).
    """
    steps = chain(ds)
    if len(steps) < 2:
        raise NotStaged("the graph has a single step")
    options = ds.options()
    first_batch = next((i for i, (_, step) in enumerate(steps) if _batches(step)), len(steps))
    prefixes: dict[str, tf.data.Dataset] = {}
    for index, (name, prefix) in enumerate(steps):
        if index < first_batch:  # before the batch: batch it as the graph will
            prefix = prefix.batch(batch_size)
        if not isinstance(prefix.element_spec, tuple) or len(prefix.element_spec) != 2:
            prefix = prefix.map(_as_pair)
        prefixes[name] = prefix.repeat().with_options(options)
    return prefixes
