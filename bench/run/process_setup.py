"""Process set-up for one run: the backend, TensorFlow's devices, seeds, determinism, precision, distribution.

Everything here changes process-global state, which is why every sweep cell is a fresh process. Order matters:
the backend and the environment first (before Keras loads), then TensorFlow's device configuration (before its
runtime starts), then Keras-level policies.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from bench import backends
from bench.config import RunConfig
from imgcls.errors import UserFacingError
from imgcls.registry import Registry

logger = logging.getLogger(__name__)


def import_tensorflow_quietly() -> Any:
    """Imports TF with fd 2 pointed at /dev/null (its C++ start-up chatter is not for the user); returns it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return tf


def prepare(config: RunConfig) -> backends.Backend:
    """Selects the backend and configures TensorFlow's devices; call before Keras is imported.

    TensorFlow always runs the input pipelines. It grows GPU memory as needed instead of reserving it all (so
    memory columns mean use), and under another backend it sees no GPU at all: tf.data stays on the host and the
    GPU belongs to the backend that trains.
    """
    backend = backends.activate(config.backend, deterministic=config.op_determinism)
    tf = import_tensorflow_quietly()
    try:
        gpus = tf.config.list_physical_devices("GPU")
        if config.backend != "tensorflow" and gpus:
            tf.config.set_visible_devices([], "GPU")
        for gpu in gpus if config.backend == "tensorflow" else []:
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError as err:  # the runtime already started in this process (tests): keep what it has
        logger.debug("TensorFlow device configuration kept: %s", err)
    _split_cpu(tf, config.cpu_devices)
    return backend


def _split_cpu(tf: Any, cpu_devices: int | None) -> None:
    if not cpu_devices:
        return
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(cpu_devices)]
        )
    except RuntimeError:
        if len(tf.config.list_logical_devices("CPU")) != cpu_devices:
            raise UserFacingError(
                "--cpu-devices must be set before TensorFlow starts its runtime: run it in a fresh process"
            ) from None


def seed_everything(config: RunConfig, backend: backends.Backend) -> None:
    """Seeds Python, NumPy and the backend; `op_determinism` also makes the model's kernels deterministic.

    tf.data's own determinism is a pipeline option (`deterministic`), independent of this.
    """
    import keras

    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    if config.op_determinism:
        backend.make_deterministic()


@contextlib.contextmanager
def precision_policy(mixed_precision: str) -> Iterator[None]:
    """The Keras dtype policy for the block; always reset (it is process-global)."""
    import keras

    if mixed_precision != "off":
        keras.mixed_precision.set_global_policy(f"mixed_{mixed_precision}")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


# ---- tf.distribute strategies (tensorflow backend) ------------------------------------------------------------
StrategyBuilder = Callable[[], Any]
_STRATEGIES: Registry[StrategyBuilder] = Registry("strategy")


def _default() -> Any:
    import tensorflow as tf

    return tf.distribute.get_strategy()


def _mirrored() -> Any:
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=devices)


def _multi_worker() -> Any:
    import tensorflow as tf

    return tf.distribute.MultiWorkerMirroredStrategy()  # reads the cluster from TF_CONFIG


_STRATEGIES.register("default", _default)
_STRATEGIES.register("mirrored", _mirrored)
_STRATEGIES.register("multi-worker", _multi_worker)


class _NoScope:
    """The strategy stand-in for backends without tf.distribute: one replica, a scope that does nothing."""

    num_replicas_in_sync = 1

    def scope(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


def build_strategy(config: RunConfig) -> Any:
    """The `tf.distribute` strategy of the run (tensorflow backend), or a one-replica stand-in.

    The batch fed to `fit` is the global batch; Keras splits it per replica.
    """
    if config.backend != "tensorflow":
        return _NoScope()
    return _STRATEGIES.get(config.strategy)()
