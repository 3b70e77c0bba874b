"""The pipeline protocol and its registry.

A pipeline turns (data set, input config) into something `model.fit` accepts. Each registered name is a factory;
presets of one class (e.g. `tfdata` and `tfdata-naive`) are two names with different default options. Input knobs
(prefetch, cache, parallel map) are pipeline options; compute knobs (mixed precision, XLA) belong to the run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from imgcls.augment import AugmentSpec
from imgcls.data.sources import DataSet
from imgcls.registry import Registry


@dataclass(frozen=True, kw_only=True)
class InputConfig:
    """What every pipeline needs to know about the images it must deliver."""

    image_size: tuple[int, int]
    channels: int
    augment: AugmentSpec
    batch_size: int
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.batch_size <= 0:
            raise ValueError(f"`batch_size` must be positive, got {self.batch_size}")


class Pipeline(Protocol):
    """Anything with these members is a pipeline."""

    name: str

    def train_data(self, data: DataSet, config: InputConfig) -> Any:
        """Endless, shuffled, augmented batches `(images float32 [B,H,W,C], labels int [B])` for `model.fit`."""

    def eval_data(self, data: DataSet, config: InputConfig) -> Any | None:
        """The test split in order, preprocessed, not augmented; None when evaluation means nothing."""

    def options(self) -> dict[str, Any]:
        """Every option value, for the record."""


PipelineFactory = Callable[..., Pipeline]
_PIPELINES: Registry[PipelineFactory] = Registry("pipeline")


def register_pipeline(name: str, factory: PipelineFactory) -> None:
    """Registers `factory(**option_overrides) -> Pipeline` under the CLI word `name`."""
    _PIPELINES.register(name, factory)


def list_pipelines() -> list[str]:
    return _PIPELINES.names()


def build_pipeline(name: str, **overrides: Any) -> Pipeline:
    """Builds pipeline `name` with option overrides (knobs); unknown names and options are errors."""
    return _PIPELINES.get(name)(**overrides)


def replace_options(options: Any, overrides: dict[str, Any], pipeline: str) -> Any:
    """`dataclasses.replace` with an error naming the pipeline and its options for an unknown knob."""
    known = {f.name for f in dataclasses.fields(options)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(
            f"Pipeline {pipeline!r} has no option {', '.join(unknown)}; its options: {', '.join(sorted(known))}"
        )
    return dataclasses.replace(options, **overrides)
