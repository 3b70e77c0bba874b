"""Where records and reports go: a user's working folder by default, never the committed reference by accident.

`runs/` (ignored by git) collects what a user runs; `results/` holds the committed reference results, rewritten
only when a command is pointed at it on purpose (`--results results`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from imgcls.errors import UserFacingError

DEFAULT_RESULTS = "runs"
REFERENCE_RESULTS = "results"


def check_results_dir(path: Path) -> Path:
    """Creates `path` if needed and proves it writable, before any work is done; returns it.

    Raises:
        UserFacingError: it is a file, or it cannot be created or written (one line, naming it).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserFacingError(f"--results {path} is a file, not a folder: pass a folder for the records")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise UserFacingError(f"--results {path} is not a writable folder ({reason})") from None
    if not os.access(path, os.W_OK):  # pragma: no cover - root ignores permission bits
        raise UserFacingError(f"--results {path} is not writable")
    return path


@contextlib.contextmanager
def atomic_write(path: Path) -> Iterator[Path]:
    """Yields a temporary path beside `path` (same suffix, so a plot library picks the format); renames it onto
    `path` once the block succeeds, removes it if the block fails. A reader, a full disk or a kill mid-write never
    sees a truncated report or PNG: the old file stays until the new one is whole."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def write_text_atomically(path: Path, text: str) -> None:
    with atomic_write(path) as temporary:
        temporary.write_text(text)
