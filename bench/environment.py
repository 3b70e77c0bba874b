"""The environment fingerprint every record carries: versions, CPU, GPU, the Keras backend and git state.

Every lookup degrades to "unknown" (or None): metadata never fails a run.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent


def _git(*args: str, cwd: Path = _HERE) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, cwd=cwd)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


# The committed records and tables are what runs write, not code: a sweep appending to results/runs.jsonl must not
# make its own later cells (or the next command) look like dirty code.
NOT_CODE = (":(exclude,top)results",)


def code_identity(cwd: Path = _HERE) -> dict[str, Any]:
    """Which code ran: the commit, whether tracked files other than the committed results (`NOT_CODE`) differ from
    it, and then a SHA-256 of that difference (`git diff HEAD --binary`) -- so two dirty records on one commit say
    whether they ran the same code, and a record can be matched to the patch that produced it. Unknown (None)
    outside a git checkout."""
    commit = _git("rev-parse", "HEAD", cwd=cwd)
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".", *NOT_CODE, cwd=cwd)
    dirty = bool(status) if status is not None else None
    diff = _git("diff", "HEAD", "--binary", "--", ".", *NOT_CODE, cwd=cwd) if dirty else None
    return {
        "git_commit": commit or "unknown",
        "git_dirty": dirty,
        "git_diff_sha256": hashlib.sha256(diff.encode()).hexdigest() if diff is not None else None,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _gpu_info() -> dict[str, Any]:
    try:
        import pynvml

        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        if count == 0:
            return {"gpu_name": None, "gpu_driver": None, "gpu_count": 0}
        name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(0))
        driver = pynvml.nvmlSystemGetDriverVersion()
        return {
            "gpu_name": name.decode() if isinstance(name, bytes) else name,
            "gpu_driver": driver.decode() if isinstance(driver, bytes) else driver,
            "gpu_count": count,
        }
    except Exception:  # no NVML library or driver: a CPU machine
        return {"gpu_name": None, "gpu_driver": None, "gpu_count": 0}


def _framework_version(backend: str) -> str:
    try:
        from bench.backends import get_backend

        return get_backend(backend).version()
    except Exception:  # noqa: BLE001 - metadata never fails a run
        return "unknown"


@functools.lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """Versions, CPU, GPU and git state of this process's machine, plus the UTC time it was taken.

    `keras_backend` and its framework version say what trained; `tensorflow` is what ran the input pipelines.
    """
    import keras
    import numpy
    import tensorflow as tf

    backend = keras.backend.backend()
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_backend": backend,
        "backend_version": _framework_version(backend),
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "tf_gpus": len(tf.config.list_physical_devices("GPU")),
        **_gpu_info(),
        **code_identity(),
        "taken_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
