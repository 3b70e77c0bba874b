"""Where data lives on this machine: the user's data directory and the cache for generated data."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "IMGCLS_DATA_DIR"
CACHE_DIR_ENV = "IMGCLS_CACHE_DIR"


def default_data_dir() -> Path | None:
    """`$IMGCLS_DATA_DIR`, or None when it is unset."""
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Where generated data is written once and reused (outside any checkout)."""
    value = os.environ.get(CACHE_DIR_ENV)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "imgcls-bench"
