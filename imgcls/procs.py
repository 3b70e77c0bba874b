"""Child processes that never outlive their parent: the tf.data service servers and the sweep's cells."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from typing import Any

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: a session (process group) of its own, and SIGTERM when the parent dies, however it dies."""
    os.setsid()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def tied_to_parent() -> dict[str, Any]:
    """`subprocess.Popen` keyword arguments for a child in its own process group that dies with its parent.

    Its own group, so `kill_group` reaches the child's children too; the parent-death signal, so a parent killed
    by SIGKILL (which runs no handler) still takes it down.
    """
    return {"preexec_fn": _die_with_parent} if sys.platform.startswith("linux") else {"start_new_session": True}


def kill_group(pid: int, sig: int = signal.SIGTERM) -> None:
    """Signals the process group `pid` leads (a child started with `tied_to_parent`); gone already is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
