"""A local tf.data service deployment: one `DispatchServer` and N `WorkerServer`s, each in its own process.

Processes, not threads of the trainer, so preprocessing really leaves the training process (what the measurement
is about). Every server picks a free port itself (port 0) and prints its address on stdout, so there is no race on
"free" ports. Servers are started in their own session and with a parent-death signal, and `close()` (also on
error, via the context manager) terminates the whole group: no server outlives the run.

    python -m imgcls.service dispatcher            # prints "READY grpc://localhost:PORT"
    python -m imgcls.service worker --dispatcher localhost:PORT

Upstream deployment docs: https://www.tensorflow.org/api_docs/python/tf/data/experimental/service (dispatcher and
worker servers, processing modes, sharding) and the tf.data service guide for multi-host setups.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

from imgcls.errors import UserFacingError
from imgcls.procs import tied_to_parent

READY = "READY"


class ServiceError(UserFacingError):
    """The tf.data service cannot be started or reached; one line for the user."""


def parse_service(spec: str) -> tuple[str, int | str]:
    """`local:N` -> ("local", N); `grpc://HOST:PORT` -> ("remote", "HOST:PORT").

    Raises:
        ServiceError: anything else.
    """
    if spec.startswith("local:"):
        try:
            workers = int(spec.split(":", 1)[1])
        except ValueError:
            workers = 0
        if workers < 1:
            raise ServiceError(f"service {spec!r}: expected local:N with N >= 1 workers")
        return "local", workers
    parsed = urlparse(spec)
    if parsed.scheme == "grpc" and parsed.hostname and parsed.port:
        return "remote", f"{parsed.hostname}:{parsed.port}"
    raise ServiceError(f"service {spec!r}: expected local:N or grpc://HOST:PORT (a dispatcher address)")


def check_reachable(address: str, timeout_sec: float = 10.0) -> None:
    """Fails fast with one line when nothing listens at `HOST:PORT` (tf.data itself would retry for minutes)."""
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout_sec
    last_error: OSError | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=min(2.0, timeout_sec)):
                return
        except OSError as err:
            last_error = err
            time.sleep(0.2)
    raise ServiceError(f"tf.data service dispatcher at {address} is unreachable ({last_error}); is it running?")


@dataclass
class LocalCluster:
    """One dispatcher and `num_workers` workers on loopback, each a child process."""

    num_workers: int
    start_timeout_sec: float = 60.0
    dispatcher_address: str | None = None
    processes: list[subprocess.Popen] = field(default_factory=list)

    def _spawn(self, *args: str) -> str:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
        process = subprocess.Popen(
            [sys.executable, "-m", "imgcls.service", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            **tied_to_parent(),
        )
        self.processes.append(process)
        deadline = time.monotonic() + self.start_timeout_sec
        while time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 0.5)
            if ready:
                line = process.stdout.readline().strip()
                if line.startswith(READY):
                    return line.split(" ", 1)[1]
                if not line and process.poll() is not None:
                    break
            elif process.poll() is not None:
                break
        self.close()
        raise ServiceError(f"tf.data service {args[0]} did not start within {self.start_timeout_sec:.0f} s")

    def start(self) -> LocalCluster:
        target = self._spawn("dispatcher")
        self.dispatcher_address = target.removeprefix("grpc://")
        for _ in range(self.num_workers):
            self._spawn("worker", "--dispatcher", self.dispatcher_address)
        return self

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def close(self) -> None:
        """Terminates every server (gracefully, then by force); safe to call twice."""
        for process in reversed(self.processes):  # workers before their dispatcher
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            if process.stdout:
                process.stdout.close()
        self.processes.clear()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _serve(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imgcls.service")
    parser.add_argument("role", choices=["dispatcher", "worker"])
    parser.add_argument("--dispatcher", help="dispatcher HOST:PORT (workers)")
    parser.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    args = parser.parse_args(argv)
    import tensorflow as tf

    service = tf.data.experimental.service
    if args.role == "dispatcher":
        server = service.DispatchServer(service.DispatcherConfig(port=args.port))
        print(f"{READY} {server.target}", flush=True)
    else:
        if not args.dispatcher:
            parser.error("a worker needs --dispatcher HOST:PORT")
        server = service.WorkerServer(
            service.WorkerConfig(dispatcher_address=args.dispatcher, port=args.port, worker_address="localhost:%port%")
        )
        print(f"{READY} worker-of-{args.dispatcher}", flush=True)
    # server.join() would block inside TF where Python signal handlers never run; sleep in Python instead, so
    # SIGTERM (close(), or the parent dying) stops the server at once.
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    while not stop["now"]:
        time.sleep(0.2)
    # A graceful gRPC teardown can block for seconds (a worker keeps calling a dispatcher that is already gone);
    # the OS frees the sockets of an exiting process, so leave at once. `server` stays referenced until then.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(_serve())
