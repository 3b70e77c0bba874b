"""Which model a run trains -- the workload's, or the user's `--model` -- and what that fixes about its input.

An application brings its own input size and value preprocessing (ResNet-50: 224 px, caffe); a file or a
function takes the workload's (and is checked to accept them). `--image-size` still overrides the size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bench.config import RunConfig
from bench.records import RunRecord
from imgcls.augment import AugmentSpec
from imgcls.model_specs import ModelSpec, parse_model_spec
from imgcls.workloads import Workload


@dataclass(frozen=True)
class ModelChoice:
    """The model a run builds, with the image size and augmentation spec its input must have."""

    workload: Workload
    spec: ModelSpec | None  # None: the workload's own model
    image_size: tuple[int, int]
    augment: AugmentSpec
    weights: str | None = None  # --weights, for an application

    def build(self, num_classes: int, model_kwargs: dict[str, Any], record: RunRecord, say: Any, label: str) -> Any:
        """The model, its facts on the record; returns `(model, compiled_by_user)`."""
        input_shape = (*self.image_size, self.workload.channels)
        if self.spec is None:
            model = self.workload.build_model(input_shape, num_classes, **model_kwargs)
            name, compiled = self.workload.model, False
        else:
            built = self.spec.build(input_shape, num_classes, self.weights)
            model, name, compiled = built.model, built.name, built.compiled
            how = (
                "comes compiled: its own optimizer and loss are kept"
                if compiled
                else f"is not compiled: compiling it with {self.workload.name}'s Adam and sparse categorical "
                "cross-entropy"
            )
            say(f"[{label}] model {name} ({model.count_params():,} parameters) {how}")
        record.model_name = name
        record.model_params = int(model.count_params())
        record.model_input_shape = list(model.input_shape[1:]) if hasattr(model, "input_shape") else None
        record.model_compiled_by = "user" if compiled else "harness"
        return model, compiled


def choose_model(config: RunConfig, workload: Workload, augment: AugmentSpec) -> ModelChoice:
    spec = parse_model_spec(config.model) if config.model else None
    size = workload.image_size
    if spec is not None and spec.image_size:
        size = spec.image_size
    if config.image_size:
        size = (config.image_size, config.image_size)
    if spec is not None and spec.preprocess:
        augment = dataclasses.replace(augment, preprocess=spec.preprocess)
    return ModelChoice(workload, spec, size, augment, config.weights)
