"""The pipeline interface, and the registry of declared pipelines.

A pipeline turns (data set, input config) into something `model.fit` accepts. A registered pipeline is a
`PipelineSpec`: the CLI word, its *role* in a comparison, its options preset and where its implementation lives.
The implementation module is imported only when a pipeline is built, so listing, validating and labelling
pipelines (the CLI, a sweep's parent process, the reports) never imports TensorFlow or Keras.

Roles are what the reports ask for, never names: the `baseline` every row is compared with (one per workload:
`baseline_for` -- ImageDataGenerator, or where it cannot render the workload's crops the Keras preprocessing layers),
the `ceiling` (the model fed for free), and `candidate`s (the pipelines under test). A candidate's `tuning` says
which preset the tool recommends (`tuned`: the knob analysis reads its one-knob ablations) and which is the
first-port strawman (`naive`); the CI gate compares by these words too.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import asdict, dataclass
from typing import Any

from imgcls.augment import AugmentSpec
from imgcls.data.types import DataSet
from imgcls.errors import InvalidValue, UserFacingError
from imgcls.options import knobs_of, replace_options
from imgcls.registry import Registry

BASELINE = "baseline"
CANDIDATE = "candidate"
CEILING = "ceiling"
ROLES = (BASELINE, CANDIDATE, CEILING)
TUNED = "tuned"
NAIVE = "naive"


class PipelineUnavailable(UserFacingError):
    """A declared pipeline whose optional package is not installed; the message names the package."""


@dataclass(frozen=True, kw_only=True)
class InputConfig:
    """What every pipeline needs to know about the batches it must deliver.

    `augment` is the work to do on the host. `raw_output` asks for decoded uint8 images with no value
    preprocessing: the model does the rest (augmentation and preprocessing on the accelerator). `resize` False
    keeps file images at their stored size (every file the same size, `image_size`): the model resizes them too.
    """

    image_size: tuple[int, int]
    channels: int
    augment: AugmentSpec
    batch_size: int
    seed: int | None = None
    raw_output: bool = False
    resize: bool = True

    def __post_init__(self) -> None:
        if self.batch_size <= 0:
            raise ValueError(f"`batch_size` must be positive, got {self.batch_size}")


class Pipeline:
    """The interface. Subclasses implement `train_data`, `eval_data` and hold `name` and `opts`.

    Optional capabilities have working defaults here, so callers never probe with `hasattr`:
    `stage_datasets` (per-stage timing; None = not a staged graph) and `close` (release servers and threads).
    """

    name: str
    opts: Any

    def train_data(self, data: DataSet, config: InputConfig) -> Any:
        """Endless, shuffled, augmented batches `(images [B,H,W,C], labels int32 [B])` for `model.fit`."""
        raise NotImplementedError

    def eval_data(self, data: DataSet, config: InputConfig) -> Any | None:
        """The test split in order, preprocessed, never augmented; None when evaluation means nothing."""
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """Every option value, for the record."""
        return asdict(self.opts)

    def stage_datasets(self, data: DataSet, config: InputConfig) -> dict[str, Any] | None:
        """Growing prefixes of the training graph by stage name, or None when the pipeline has no stages."""
        return None

    def stage_note(self, data: DataSet, config: InputConfig) -> str | None:
        """Why a pipeline that could have stages has none timed (`not staged: ...`); None otherwise."""
        return None

    def check_feeds(self, model: Any, data: DataSet, config: InputConfig) -> None:
        """Raises a one-line `UserFacingError` when this pipeline's batches are not what `model` takes (called
        before any timing; the built-in pipelines deliver the input config's shapes by construction)."""

    def close(self) -> None:
        """Stops whatever the pipeline started (threads, servers). Safe to call twice."""


@dataclass(frozen=True)
class PipelineSpec:
    """One declared pipeline.

    Attributes:
        name: The CLI word (`--pipeline NAME`).
        role: `baseline`, `candidate` or `ceiling` (what the reports compare by).
        description: One line for `bench list`.
        preset: The options instance this name starts from (knobs override its fields).
        implementation: `"module:callable"`; `callable(name, options) -> Pipeline`, imported on first build.
        tuning: For candidates: `tuned` (the preset the tool recommends; its one-knob ablations are what the knob
            analysis reads) or `naive` (what a first port looks like); None otherwise.
        implied_by: An option only this pipeline has and cannot run without (`pipeline_fn` for `user`): setting it
            selects the pipeline when none is named, and leaving it unset is an error.
        random_crop: The pipeline renders ImageNet's crops: a random resized crop in training, the centre crop at
            evaluation (`imagenet_crops`); ImageDataGenerator has an argument for neither.
        crop_only: The pipeline renders *only* specs with ImageNet's crops, in a recipe of its own (`keras-layers`):
            it is listed for such a spec and left out of every other (and of the spec-less listings).
        own_data: The pipeline brings its own data and work (the user's function): it neither reads the run's
            `DataSet` nor renders the workload's `AugmentSpec`, so the same-work contract does not apply to it.
        record_formats: The record shard formats (`bench prepare --format`) it reads besides arrays and files.
        requires: The optional packages the implementation imports, as `(module, pip install arguments)` pairs;
            a pipeline whose package is absent (or fails to import) is refused in one line naming it and how to
            install it (and its tests skip, saying so).
    """

    name: str
    role: str
    description: str
    preset: Any
    implementation: str
    tuning: str | None = None
    implied_by: str | None = None
    own_data: bool = False
    random_crop: bool = True
    crop_only: bool = False
    record_formats: tuple[str, ...] = ()
    requires: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"pipeline {self.name!r}: role must be one of {', '.join(ROLES)}, got {self.role!r}")
        if self.tuning not in (None, TUNED, NAIVE):
            raise ValueError(f"pipeline {self.name!r}: tuning must be {TUNED!r}, {NAIVE!r} or None")
        if self.crop_only and not self.random_crop:
            raise ValueError(f"pipeline {self.name!r}: crop_only needs random_crop")

    def renders(self, spec: AugmentSpec | None = None) -> bool:
        """Whether it can render `spec` (None: the general case, any spec without ImageNet's crops)."""
        crops = spec is not None and imagenet_crops(spec)
        return (self.random_crop or not crops) and (crops or not self.crop_only)

    @property
    def tuned(self) -> bool:
        return self.tuning == TUNED

    def options_with(self, overrides: dict[str, Any]) -> Any:
        """The preset with `overrides` applied and validated (no TensorFlow needed).

        Raises:
            ValueError: an option this pipeline does not have, or a value that does not parse.
            InvalidValue: the option the pipeline cannot run without (`implied_by`) is unset.
        """
        options = replace_options(self.preset, overrides, f"Pipeline {self.name!r}")
        if self.implied_by and getattr(options, self.implied_by) is None:
            flag = "--" + self.implied_by.replace("_", "-")
            raise InvalidValue(f"--pipeline {self.name} needs {flag}")
        return options

    def missing(self) -> list[str]:
        """The modules of `requires` that are not installed (cheap: only a dotted name's parent package is
        imported, e.g. the `nvidia` namespace for `nvidia.dali`)."""
        return [module for module, _ in self.requires if not _installed(module)]

    def install_hint(self, modules: list[str]) -> str:
        """`torchvision (pip install ...)` for each module, as `requires` spells its install."""
        return ", ".join(f"{module} (pip install {args})" for module, args in self.requires if module in modules)

    def build(self, **overrides: Any) -> Pipeline:
        """The pipeline with these options.

        Raises:
            InvalidValue: an unknown option or a bad value. PipelineUnavailable: a required package is absent.
        """
        options = self.options_with(overrides)
        missing = self.missing()
        if missing:
            raise PipelineUnavailable(f"pipeline {self.name!r} needs {self.install_hint(missing)}: not installed")
        module_name, _, attribute = self.implementation.partition(":")
        try:
            module = importlib.import_module(module_name)
        except (ImportError, RuntimeError, OSError) as err:
            if not self.requires:
                raise
            # Installed but broken (e.g. a CUDA torchvision beside a CPU torch): one line, naming the packages.
            reason = (str(err).strip().splitlines() or [type(err).__name__])[-1]
            needed = self.install_hint([module for module, _ in self.requires])
            raise PipelineUnavailable(
                f"pipeline {self.name!r} could not import its packages ({reason}); it needs {needed}"
            ) from None
        return getattr(module, attribute)(self.name, options)

    @property
    def knobs(self) -> list:
        return knobs_of(self.preset)


def imagenet_crops(spec: AugmentSpec) -> bool:
    """ImageNet's crop work: a random resized crop in training, or the centre crop of evaluation (which
    `--augment none` keeps)."""
    return spec.has_crop or spec.eval_center_crop is not None


def _installed(module: str) -> bool:
    """`find_spec`, where a dotted name whose parent package is absent (`nvidia.dali` without any `nvidia`
    package) counts as not installed instead of raising."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


_PIPELINES: Registry[PipelineSpec] = Registry("pipeline")


def register_pipeline(spec: PipelineSpec) -> PipelineSpec:
    """Declares a pipeline under its CLI word; a name registers once."""
    return _PIPELINES.register(spec.name, spec)


def get_pipeline_spec(name: str) -> PipelineSpec:
    return _PIPELINES.get(name)


def list_pipelines() -> list[str]:
    return _PIPELINES.names()


def pipeline_specs() -> list[PipelineSpec]:
    return _PIPELINES.values()


def workload_pipelines(spec: AugmentSpec | None = None) -> list[str]:
    """The pipelines that render the workload's data and spec (every one but those that bring their own); given a
    spec, those that can render it; without one, those that render any spec without ImageNet's crops (a
    `crop_only` pipeline is listed only beside a spec it renders)."""
    return [p.name for p in _PIPELINES.values() if not p.own_data and p.renders(spec)]


def record_readers(fmt: str) -> list[str]:
    """The pipelines that read record shards of this format."""
    return [p.name for p in _PIPELINES.values() if fmt in p.record_formats]


def pipelines_with_role(role: str, spec: AugmentSpec | None = None) -> list[str]:
    """Names of the pipelines with this role, or with this tuning (`tuned`, `naive`), among those that render
    `spec` (without one: those that render any spec without ImageNet's crops, as `workload_pipelines`)."""
    return [p.name for p in _PIPELINES.values() if role in (p.role, p.tuning) and p.renders(spec)]


def baseline_for(workload: Any) -> str:
    """The one baseline pipeline that renders a workload (a `Workload`, or the `AugmentSpec` a run renders: its
    `augment`, or `--augment none`'s): what its rows' `x baseline` divides by.

    Raises:
        LookupError: the registry declares no baseline, or more than one, for it (a declaration error).
    """
    spec = getattr(workload, "augment", workload)
    names = pipelines_with_role(BASELINE, spec)
    if len(names) != 1:
        crops = "with" if imagenet_crops(spec) else "without"
        raise LookupError(f"one baseline must render a spec {crops} ImageNet's crops; the registry declares {names}")
    return names[0]


def role_of(name: str) -> str | None:
    """The role of a registered pipeline, None for a name no longer registered (an old record)."""
    return _PIPELINES.get(name).role if name in _PIPELINES else None


def implied_pipeline(options: dict[str, Any]) -> str | None:
    """The pipeline that options select by themselves (one only it has, such as `pipeline_fn`), else None."""
    for spec in _PIPELINES.values():
        if spec.implied_by and options.get(spec.implied_by) is not None:
            return spec.name
    return None


def build_pipeline(name: str, **overrides: Any) -> Pipeline:
    """Builds pipeline `name` with option overrides (knobs); unknown names and options are errors."""
    return _PIPELINES.get(name).build(**overrides)


def pipeline_registry() -> Registry[PipelineSpec]:
    """The registry itself (tests swap its contents with `Registry.isolated`)."""
    return _PIPELINES
