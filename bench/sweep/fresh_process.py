"""One measurement in a fresh process, for `bench scale` and `bench cache`: the parent sends a JSON payload to a
module's `__main__`, which prints its record as the last line of stdout. A fresh process per point keeps thread
pools, pinning and resident memory of one point out of the next."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from imgcls.errors import UserFacingError
from imgcls.procs import tied_to_parent

PLACES = ("host", "device")


def add_places_argument(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--augment-on",
        default=default,
        help="comma-separated: host, device (device: the pipeline only decodes; rows say @device)",
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


def measure_in_fresh_process(module: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Runs `python -m MODULE PAYLOAD` (tied to this process) and returns the record it printed; None, with one
    `FAILED` line on stderr carrying the child's last error line, when it fails."""
    completed = subprocess.run(
        [sys.executable, "-m", module, json.dumps(payload)],
        capture_output=True,
        text=True,
        **tied_to_parent(),
    )
    if completed.returncode != 0:
        tail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"  FAILED: {tail}", file=sys.stderr)
        return None
    return json.loads(completed.stdout.strip().splitlines()[-1])
