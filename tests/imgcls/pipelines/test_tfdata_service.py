"""tf.data service (dispatcher + worker processes on loopback) and multi-device training on a split CPU."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cli.parser import main
from bench.config import RunConfig
from bench.run.runner import run_and_record
from bench.run.timing import time_pipeline
from imgcls.pipelines import InputConfig, build_pipeline
from imgcls.service import LocalCluster, ServiceError, check_reachable, parse_service
from imgcls.workloads import get_workload

pytestmark = pytest.mark.slow


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too (waited for by nobody yet); /proc says so.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "zombie" in status.read_text())


@pytest.mark.parametrize(
    "spec, expected",
    [("local:2", ("local", 2)), ("grpc://10.1.2.3:5050", ("remote", "10.1.2.3:5050"))],
)
def test_parse_service(spec: str, expected: tuple) -> None:
    assert parse_service(spec) == expected


@pytest.mark.parametrize("spec", ["local:0", "local:x", "grpc://nohostport", "http://h:1", "somewhere"])
def test_bad_service_address_is_one_clear_error(spec: str) -> None:
    with pytest.raises(ServiceError, match="service"):
        parse_service(spec)


def test_unreachable_dispatcher_fails_fast_not_hangs() -> None:
    start = time.monotonic()
    with pytest.raises(ServiceError, match="unreachable"):
        check_reachable("127.0.0.1:1", timeout_sec=2.0)
    assert time.monotonic() - start < 10


def test_cli_bad_and_unreachable_service_exit_2(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    argv = ["run", "--pipeline", "tfdata-service", "--service", "nowhere", "--data", "generated"]
    assert main([*argv, "--results", str(tmp_path)]) == 2
    assert "--service" in capsys.readouterr().err


def test_an_unreachable_service_fails_within_seconds(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    """Nothing listens on port 1: one line within a few seconds, not tf.data's minute of retries."""
    argv = ["run", "--pipeline", "tfdata-service", "--service", "grpc://127.0.0.1:1", "--data", "generated"]
    start = time.monotonic()
    assert main([*argv, "--steps", "3", "--results", str(tmp_path)]) == 2
    assert time.monotonic() - start < 30  # TF start-up included; the connection check itself gives up after 5 s
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert "unreachable" in line


def test_fit_through_two_workers_and_no_server_survives(imagenette_tiny, tmp_path: Path) -> None:
    """1 dispatcher + 2 worker processes serve the generated JPEG workload to a short fit."""
    config = RunConfig(
        workload="imagenette",
        pipeline="tfdata-service",
        pipeline_options={"service": "local:2"},
        image_size=48,
        batch_size=8,
        steps_per_epoch=6,
        warmup_steps=2,
        pipeline_batches=3,
        stage_batches=0,
        ceiling_steps=0,
    )
    seen_pids: list[int] = []
    import imgcls.pipelines.tfdata_service as service_module

    original = service_module.TfDataServicePipeline.close

    def spy_close(self) -> None:  # noqa: ANN001
        seen_pids.extend(self.server_pids)
        original(self)

    service_module.TfDataServicePipeline.close = spy_close
    try:
        record = run_and_record(config, tmp_path, data=imagenette_tiny)
    finally:
        service_module.TfDataServicePipeline.close = original
    assert record.status == "ok" and record.train_images_per_sec > 0
    assert record.pipeline_options["service"] == "local:2"
    assert record.pipeline_options["processing_mode"] == "parallel_epochs"
    assert len(seen_pids) == 3  # dispatcher + 2 workers, each its own process
    assert all(pid != os.getpid() for pid in seen_pids)
    time.sleep(0.5)
    assert not [pid for pid in seen_pids if _alive(pid)], "a tf.data service server outlived the run"


def test_a_worker_killed_mid_run_is_survived_and_cleaned_up(mnist_tiny) -> None:
    """Kill one of two workers while batches flow: the job goes on with the other (or fails clearly)."""
    workload = get_workload("mnist")
    config = InputConfig(image_size=(28, 28), channels=1, augment=workload.augment, batch_size=32, seed=0)
    pipeline = build_pipeline("tfdata-service", service="local:2")
    try:
        iterator = iter(pipeline.train_data(mnist_tiny, config))
        for _ in range(5):
            next(iterator)
        dispatcher, worker, *_ = pipeline.server_pids
        os.kill(worker, signal.SIGKILL)
        timing = time_pipeline(iterator, 20)  # raises if the job cannot go on
        assert timing.images_per_sec > 0
        pids = pipeline.server_pids
    finally:
        pipeline.close()
    time.sleep(0.5)
    assert not [pid for pid in pids if _alive(pid)]


def test_cluster_context_manager_closes_on_error() -> None:
    pids: list[int] = []
    with pytest.raises(RuntimeError, match="boom"), LocalCluster(num_workers=1) as cluster:
        pids = list(cluster.pids)
        raise RuntimeError("boom")
    time.sleep(0.5)
    assert len(pids) == 2 and not [pid for pid in pids if _alive(pid)]


def test_mirrored_strategy_trains_on_two_logical_cpus(tmp_path: Path) -> None:
    """A fresh process (logical devices must be set before TF starts) trains with 2 replicas."""
    results = tmp_path / "results"
    command = [
        sys.executable,
        "-m",
        "bench",
        "run",
        "--strategy",
        "mirrored",
        "--cpu-devices",
        "2",
        "--data",
        "generated",
        "--limit",
        "1024",
        "--limit-test",
        "128",
        "--steps",
        "8",
        "--batch-size",
        "32",
        "--warmup-steps",
        "2",
        "--pipeline-batches",
        "3",
        "--results",
        str(results),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    record = json.loads((results / "runs.jsonl").read_text().splitlines()[-1])
    assert record["strategy"] == "mirrored" and record["replicas"] == 2
    assert record["batch_size"] == 32 and record["per_replica_batch_size"] == 16
    assert record["train_images_per_sec"] > 0
