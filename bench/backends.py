"""Keras backends, one declared object each: how to select one, its compile paths, GPU memory and determinism.

Keras 3 runs the same model on TensorFlow, JAX or PyTorch; the input pipelines (tf.data, ImageDataGenerator) feed
any of them. What differs is declared here, so no other module tests a backend's name:

- the **compile paths** it has and its fast one (the default): TensorFlow traces the step into a `tf.function`
  graph (XLA off: the quick sweep's `compile=xla` row shows it slower on a CPU), JAX jit-compiles it with XLA,
  PyTorch runs eagerly with `torch.compile` as the opt-in. Keras's `jit_compile=False` means *eager, op by op* on
  JAX -- a Python-dispatch measurement, not a model's -- so each path is spelled out as the compile arguments it
  really takes;
- how GPU memory is read (each allocator's own peak) and how preallocation is turned off, so a memory column is
  what the run used, not a reservation;
- how to make the model's kernels deterministic.

Selecting a backend must happen before Keras is imported (`KERAS_BACKEND`); `activate` enforces that.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from imgcls.errors import UserFacingError
from imgcls.registry import Registry

logger = logging.getLogger(__name__)

# What each compile path asks of `model.compile` (Keras 3 Trainer arguments).
COMPILE_ARGS: dict[str, dict[str, bool]] = {
    "graph": {"jit_compile": False, "run_eagerly": False},  # TF: tf.function graph
    "xla": {"jit_compile": True, "run_eagerly": False},  # TF: tf.function(jit_compile=True)
    "jit": {"jit_compile": True, "run_eagerly": False},  # JAX: jax.jit (XLA)
    "torch.compile": {"jit_compile": True, "run_eagerly": False},  # torch: torch.compile of the step
    "eager": {"jit_compile": False, "run_eagerly": True},  # every backend: op by op (debugging)
}
COMPILE_CHOICES = ("auto", *COMPILE_ARGS)


@dataclass(frozen=True)
class Backend:
    """One Keras backend.

    Attributes:
        name: The `KERAS_BACKEND` value and the CLI word.
        package: The module that must be importable (`tensorflow`, `jax`, `torch`).
        install: What to install when it is missing (one line for the user).
        compile_paths: The compile paths it takes, its fast path (the default for `--compile auto`) first.
        env: Environment set before the backend is imported (GPU preallocation off, ...).
        version: `() -> str`, the framework's version (imports it).
        gpu_peak_mb: `() -> float | None`, the allocator's peak since `reset_gpu_peak` (None without a GPU).
        reset_gpu_peak: `() -> None`.
        make_deterministic: `() -> None`, deterministic kernels for the model (`--op-determinism on`), called once
            the backend is loaded.
        determinism_env: Environment that makes kernels deterministic, set before the backend is imported.
        distributes: Whether `tf.distribute` strategies apply (TensorFlow only).
        multi_step: Whether Keras runs `steps_per_execution` > 1 on it (torch's trainer refuses at `fit`).
        adapter_iterator: The `DataAdapter` method its trainer draws batches with
            (`keras/src/backend/<name>/trainer.py`): what any loader's output is converted through on the way in.
    """

    name: str
    package: str
    install: str
    compile_paths: tuple[str, ...]
    version: Callable[[], str]
    gpu_peak_mb: Callable[[], float | None]
    reset_gpu_peak: Callable[[], None]
    make_deterministic: Callable[[], None]
    env: dict[str, str] = field(default_factory=dict)
    determinism_env: dict[str, str] = field(default_factory=dict)
    distributes: bool = False
    multi_step: bool = True
    adapter_iterator: str = "get_numpy_iterator"

    @property
    def default_compile(self) -> str:
        return self.compile_paths[0]

    def available(self) -> bool:
        return importlib.util.find_spec(self.package) is not None

    def resolve_compile(self, requested: str) -> str:
        """`auto` -> this backend's fast path; any other path must be one this backend has.

        Raises:
            UserFacingError: a path that makes no sense here, with the ones that do.
        """
        if requested == "auto":
            return self.default_compile
        if requested not in self.compile_paths:
            raise UserFacingError(
                f"compile path {requested!r} does not exist on the {self.name} backend; "
                f"it takes: {', '.join(self.compile_paths)} (default {self.default_compile})"
            )
        return requested

    def check_available(self) -> None:
        if not self.available():
            raise UserFacingError(f"Keras backend {self.name!r} needs the {self.package} package: {self.install}")


def _quiet(fn: Callable[[], Any]) -> Any:
    """Runs a statistic lookup; any failure (no GPU, no such API on this version) is None, never a failed run."""
    try:
        return fn()
    except Exception as err:  # noqa: BLE001 - a statistic never fails a run
        logger.debug("GPU statistic unavailable: %s", err)
        return None


# ---- TensorFlow -----------------------------------------------------------------------------------------------
def _tf_version() -> str:
    import tensorflow as tf

    return tf.__version__


def _tf_gpu_peak_mb() -> float | None:
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return None
    return _quiet(lambda: tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20)


def _tf_reset_gpu_peak() -> None:
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        _quiet(lambda: tf.config.experimental.reset_memory_stats("GPU:0"))


def _tf_deterministic() -> None:
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()


# ---- JAX --------------------------------------------------------------------------------------------------------
def _jax_version() -> str:
    import jax

    return jax.__version__


def _jax_gpu_peak_mb() -> float | None:
    import jax

    def read() -> float | None:
        device = jax.devices()[0]
        if device.platform != "gpu":
            return None
        stats = device.memory_stats() or {}
        peak = stats.get("peak_bytes_in_use")
        return None if peak is None else peak / 2**20

    return _quiet(read)


def _jax_reset_gpu_peak() -> None:
    """JAX keeps one peak per process and has no reset: each run is its own process, so its peak is the run's."""


def _nothing() -> None:
    """Nothing to do at run time (the environment did it)."""


# ---- PyTorch ----------------------------------------------------------------------------------------------------
def _torch_version() -> str:
    import torch

    return torch.__version__


def _torch_gpu_peak_mb() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return _quiet(lambda: torch.cuda.max_memory_allocated() / 2**20)


def _torch_reset_gpu_peak() -> None:
    import torch

    if torch.cuda.is_available():
        _quiet(torch.cuda.reset_peak_memory_stats)


def _torch_deterministic() -> None:
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)


_BACKENDS: Registry[Backend] = Registry("backend")

for _backend in (
    Backend(
        "tensorflow",
        "tensorflow",
        "pip install tensorflow (or tensorflow-cpu)",
        ("graph", "xla", "eager"),
        _tf_version,
        _tf_gpu_peak_mb,
        _tf_reset_gpu_peak,
        _tf_deterministic,
        distributes=True,
        adapter_iterator="get_tf_dataset",
    ),
    Backend(
        "jax",
        "jax",
        "pip install jax (CPU) or 'jax[cuda12]' (GPU)",
        ("jit", "eager"),
        _jax_version,
        _jax_gpu_peak_mb,
        _jax_reset_gpu_peak,
        _nothing,
        env={"XLA_PYTHON_CLIENT_PREALLOCATE": "false"},  # JAX reserves 75% of the GPU at start-up otherwise
        determinism_env={"XLA_FLAGS": "--xla_gpu_deterministic_ops=true"},
        adapter_iterator="get_jax_iterator",
    ),
    Backend(
        "torch",
        "torch",
        "pip install torch",
        ("eager", "torch.compile"),
        _torch_version,
        _torch_gpu_peak_mb,
        _torch_reset_gpu_peak,
        _torch_deterministic,
        multi_step=False,
        adapter_iterator="get_torch_dataloader",
    ),
):
    _BACKENDS.register(_backend.name, _backend)


def effective_compile(model: Any, backend: str) -> str:
    """The compile path a compiled Keras model really takes (Keras may turn `jit_compile` off itself, e.g. for a
    layer that does not support it, with only a warning)."""
    if model.run_eagerly:
        return "eager"
    if backend == "torch":
        return "torch.compile" if model.jit_compile else "eager"
    if backend == "jax":
        return "jit" if model.jit_compile else "eager"
    return "xla" if model.jit_compile else "graph"


def get_backend(name: str) -> Backend:
    return _BACKENDS.get(name)


def list_backends() -> list[str]:
    return _BACKENDS.names()


def loaded_keras_backend() -> str | None:
    """The backend of the Keras already imported in this process, or None when Keras is not loaded yet."""
    keras = sys.modules.get("keras")
    if keras is None:
        return None
    try:
        return keras.backend.backend()
    except AttributeError:  # a partially imported module
        return os.environ.get("KERAS_BACKEND", "tensorflow")


def activate(name: str, deterministic: bool = False) -> Backend:
    """Selects backend `name` for this process: must run before Keras is imported (or with the same backend).

    Also turns GPU memory preallocation off for the backend, so memory columns mean use, not reservation.

    Raises:
        UserFacingError: not installed, or Keras is already loaded here with another backend.
    """
    backend = get_backend(name)
    backend.check_available()
    loaded = loaded_keras_backend()
    if loaded is not None and loaded != name:
        raise UserFacingError(
            f"Keras is already loaded with the {loaded} backend in this process; {name} needs a fresh process "
            f"(`python -m bench run --backend {name}` and sweeps start one per cell)"
        )
    os.environ["KERAS_BACKEND"] = name
    for key, value in backend.env.items():
        os.environ.setdefault(key, value)
    for key, value in (backend.determinism_env if deterministic else {}).items():
        os.environ[key] = f"{os.environ.get(key, '')} {value}".strip()
    return backend
