"""bench.doctor.probe: how busy a pipeline keeps the CPU it could use (a sleeping stage low, a computing one high,
whatever else the machine runs), and a variant's rate relative to the run's."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest

from bench.config import RunConfig
from bench.doctor.probe import BASE, busy_share, demand_seconds, measure_probe, probe_payload
from bench.doctor.rules import WAITING_BUSY


def test_busy_share_is_the_threads_time_spent_running_or_runnable() -> None:
    assert busy_share(1.8, wall=1.0, threads=2) == pytest.approx(0.9)
    assert busy_share(0.3, wall=1.0, threads=2) == pytest.approx(0.15)
    assert busy_share(5.0, wall=1.0, threads=2) == 1.0  # other threads (autotune, the iterator) count too: capped
    assert busy_share(None, wall=1.0, threads=2) is None and busy_share(1.0, wall=0.0, threads=2) is None


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@pytest.mark.skipif(demand_seconds() is None, reason="the kernel gives no per-thread schedstat here")
@pytest.mark.parametrize(("work", "busy"), [(_spin, True), (time.sleep, False)])
def test_demand_counts_a_thread_that_computes_and_not_one_that_sleeps(work, busy: bool) -> None:  # noqa: ANN001
    done, leave = threading.Event(), threading.Event()

    def worker() -> None:
        work(0.3)
        done.set()
        leave.wait()  # alive while measured: an exited thread's counters are gone

    before, start = demand_seconds(), time.perf_counter()
    thread = threading.Thread(target=worker)
    thread.start()
    done.wait()
    share = (demand_seconds() - before) / (time.perf_counter() - start)
    leave.set()
    thread.join()
    assert (share > 0.8) if busy else (share < 0.3)


SLEEPING = """from examples.own_training import build_jpeg_pipeline


def slow_augment(batch_size, seed):
    return build_jpeg_pipeline(batch_size, seed, sleep_in="augment")
"""


@pytest.mark.slow
def test_a_sleeping_stage_keeps_the_cpu_idle_and_a_computing_pipeline_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "planted_sleep.py").write_text(SLEEPING)
    monkeypatch.syspath_prepend(str(tmp_path))
    sleeping = RunConfig(
        workload="cifar10", data="generated", pipeline="user", batch_size=16, limit_train=512, limit_test=64,
        pipeline_options={"pipeline_fn": "planted_sleep:slow_augment"},
    )  # fmt: skip
    computing = RunConfig(workload="mnist", data="generated", pipeline="tfdata-naive", limit_train=2048, limit_test=64)
    vectorized = dataclasses.replace(computing, pipeline_options={"vectorize": True})
    waits = measure_probe(probe_payload(sleeping, {}, threads=2.0))
    works = measure_probe(probe_payload(computing, {"vectorize=on": vectorized}, threads=1.0))
    assert waits["busy"] < WAITING_BUSY <= works["busy"]
    measured = works["measured"]["vectorize=on"]
    assert measured["ratio"] > 1.5 and measured["images_per_sec"] > works["images_per_sec"]
    assert set(works) >= {"images_per_sec", "busy", "rounds", "config"} and BASE not in works["measured"]
