"""`python -m bench`: TensorFlow's C++ start-up chatter is silenced so the user reads our lines, not its logs."""

import os
import sys


def _import_tensorflow_quietly() -> None:
    """Imports TF (and probes devices) with fd 2 pointed at /dev/null; errors still raise after it is restored."""
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


_import_tensorflow_quietly()

from bench.cli import main  # noqa: E402

sys.exit(main())
