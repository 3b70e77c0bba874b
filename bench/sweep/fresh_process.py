"""One measurement in a fresh process, for `bench scale` and `bench cache`: the parent sends a JSON payload to a
module's `__main__`, which prints its record as the last line of stdout. A fresh process per point keeps thread
pools, pinning and resident memory of one point out of the next, and bounds it: a point past its timeout is
killed and recorded as a failure, and so is one stopped by Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.records import append_json_line
from imgcls.errors import UserFacingError
from imgcls.procs import kill_group, tied_to_parent

PLACES = ("host", "device")
FAILED = "failed"


def add_places_argument(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--augment-on",
        default=default,
        help="comma-separated: host, device (device: the pipeline only decodes; rows say @device)",
    )


def add_timeout_argument(parser: argparse.ArgumentParser) -> None:
    from bench.knobs import argument_type
    from imgcls.options import positive_int

    parser.add_argument(
        "--point-timeout",
        type=argument_type(positive_int),
        default=int(POINT_TIMEOUT_SEC),
        help=f"seconds before a point is killed and recorded as failed (default {POINT_TIMEOUT_SEC:.0f})",
    )


def parse_places(text: str) -> list[str]:
    """The `--augment-on` list.

    Raises:
        UserFacingError: empty, or a place that is neither host nor device.
    """
    places = [p.strip() for p in text.split(",") if p.strip()]
    if not places or set(places) - set(PLACES):
        raise UserFacingError(f"--augment-on: expected host and/or device, got {text!r}")
    return places


POINT_TIMEOUT_SEC = 1800.0  # a point that takes longer is stuck (a hung thread pool), not slow
STOP_GRACE_SEC = 5.0  # what a point killed by SIGTERM may take to exit before SIGKILL


def measure_in_fresh_process(
    module: str, payload: dict[str, Any], records_file: Path, timeout_sec: float = POINT_TIMEOUT_SEC
) -> dict[str, Any] | None:
    """Runs `python -m MODULE PAYLOAD` (tied to this process) and appends the record it printed to `records_file`.

    A point that fails, runs past `timeout_sec` or is interrupted (Ctrl-C, SIGTERM here) appends a failure record
    (`{**payload, "status": "failed", "error": ...}`) instead, with one `FAILED` line on stderr carrying the child's
    last error line; the child's process group is stopped first. Returns the record, or None for a failure (an
    interruption is re-raised, noting the record it left).
    """
    process = subprocess.Popen(
        [sys.executable, "-m", module, json.dumps(payload)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **tied_to_parent(),
    )
    interrupted: BaseException | None = None
    try:
        stdout, stderr = process.communicate(timeout=timeout_sec)
        error = None if process.returncode == 0 else (stderr.strip().splitlines() or ["no output"])[-1]
    except subprocess.TimeoutExpired:
        error = f"timed out after {timeout_sec:.0f} s"
    except BaseException as err:  # Ctrl-C, or SIGTERM turned into KeyboardInterrupt by the CLI
        interrupted, error = err, f"interrupted ({type(err).__name__})"
    finally:
        if process.poll() is None:
            stop_group(process)
    if error is None:
        record = json.loads(stdout.strip().splitlines()[-1])
        append_json_line(records_file, record)
        return record
    print(f"  FAILED: {error}", file=sys.stderr)
    append_json_line(records_file, {**payload, "status": FAILED, "error": error[:500]})
    if interrupted is not None:
        interrupted.add_note(f"failure record appended to {records_file}")
        raise interrupted
    return None


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the child's process group (a run records its failure on it), SIGKILL after `STOP_GRACE_SEC`."""
    kill_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_GRACE_SEC)
    kill_group(process.pid, signal.SIGKILL)
    process.wait()


def succeeded(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of points that measured something (failure records are kept in the file, not in tables)."""
    return [r for r in records if r.get("status", "ok") != FAILED]
