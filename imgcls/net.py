"""A quick network probe, so nothing sits in a library's minutes-long download retry loop on an offline machine."""

from __future__ import annotations

import socket


def host_reachable(host: str, port: int = 443, timeout_sec: float = 2.0) -> bool:
    """Whether a TCP connection to `host:port` opens within `timeout_sec`."""
    try:
        with socket.create_connection((host, port), timeout=timeout_sec):
            return True
    except OSError:
        return False
