"""The doctor's probe: the pipeline alone as configured, beside variants that a fix rule needs measured, in one fresh
process (`python -m bench.doctor.probe PAYLOAD`, as `bench.sweep.fresh_process` runs a point).

Two things the run itself does not measure:

- **How busy the pipeline keeps the CPU** it could use: the time the threads of this process and its children (a
  loader's worker processes) ran or waited on a run queue while the pipeline alone runs, over its threads' time
  (`threads` x wall). A stage that waits (I/O, a sleep, a lock) adds neither; a thread kept off the CPU by another
  program on a shared machine still counts as wanting it, so a busy machine cannot make a CPU-bound pipeline look
  like one that waits.
- **A variant's pipeline-only rate relative to the run's** (vectorized augmentation, another loader on the same
  data): both are timed in alternating rounds in the same process, so a machine that gets busier moves both alike,
  and the ratio -- what a rule predicts from -- is the median of the rounds' ratios.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from typing import Any

from bench.config import RunConfig
from bench.run.stall import spread_pct

BASE = "as configured"
ROUNDS = 3
ROUND_SEC = 0.5  # each pipeline is timed at least this long per round, and at least MIN_BATCHES batches
MIN_BATCHES = 4
WARMUP_BATCHES = 3


def probe_payload(config: RunConfig, variants: dict[str, RunConfig], threads: float) -> dict[str, Any]:
    """What the probe's fresh process is told: the run's config, each variant's by the fix's name, and the threads
    the run's pipeline may use (`bench.doctor.predict.parallelism`)."""
    import dataclasses

    return {
        "config": dataclasses.asdict(config),
        "variants": {name: dataclasses.asdict(variant) for name, variant in variants.items()},
        "threads": threads,
    }


def demand_seconds() -> float | None:
    """Seconds the threads of this process and its children have run or waited to run (Linux's per-thread
    `schedstat`: time on a CPU plus time runnable on a run queue) -- a thread that sleeps or waits on I/O adds
    neither. None where the kernel does not say."""
    import psutil

    total, found = 0.0, False
    me = psutil.Process()
    for pid in [me.pid, *(child.pid for child in me.children(recursive=True))]:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:  # not Linux, or a worker that exited meanwhile
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as stat:
                    on_cpu, waiting = stat.read().split()[:2]
            except (OSError, ValueError):
                continue
            total += (int(on_cpu) + int(waiting)) / 1e9
            found = True
    return total if found else None


def busy_share(demand: float | None, wall: float, threads: float) -> float | None:
    """Of its threads' time (`threads` x wall), the share the pipeline ran or waited for a CPU -- below 1 when its
    threads sleep or wait on I/O instead; None when not measured."""
    if demand is None or wall <= 0 or threads <= 0:
        return None
    return min(1.0, demand / (threads * wall))


def _timed(iterator: Iterator, seconds: float) -> float:
    """Images per second over at least `seconds` and `MIN_BATCHES` batches (labels' length counts the images)."""
    start, images, batches = time.perf_counter(), 0, 0
    while batches < MIN_BATCHES or time.perf_counter() - start < seconds:
        _, labels = next(iterator)[:2]
        images += int(len(labels))
        batches += 1
    return images / (time.perf_counter() - start)


def _batches(config: RunConfig, data: Any) -> tuple[Iterator, Any]:
    """An endless iterator of the training batches `config`'s pipeline delivers (as the run builds it), warmed up."""
    from bench.config import check
    from bench.run.input_config import inputs_for
    from bench.run.model_choice import choose_model
    from imgcls.pipelines import build_pipeline

    workload = check(config)
    chosen = choose_model(config, workload, workload.augment_spec(config.augment))
    inputs = inputs_for(
        chosen.augment,
        data,
        image_size=chosen.image_size,
        channels=workload.channels,
        batch_size=config.batch_size or workload.batch_size,
        seed=config.seed,
        augment_on=config.augment_on,
    )
    pipeline = build_pipeline(config.pipeline, **config.pipeline_options)
    iterator = iter(pipeline.train_data(data, inputs.config))
    for _ in range(WARMUP_BATCHES):
        next(iterator)
    return iterator, pipeline


def measure_probe(payload: dict[str, Any]) -> dict[str, Any]:
    """Times the run's pipeline and each variant alone, in alternating rounds; returns the record."""
    from bench.config import check
    from bench.run import process_setup as process
    from imgcls.data import load_dataset

    config = RunConfig.from_dict(payload["config"])
    variants = {name: RunConfig.from_dict(values) for name, values in payload.get("variants", {}).items()}
    process.prepare(config)
    workload = check(config)
    data = load_dataset(workload.dataset, config.data, config.data_dir).limit(config.limit_train, config.limit_test)
    made = {BASE: _batches(config, data)} | {name: _batches(variant, data) for name, variant in variants.items()}
    rates: dict[str, list[float]] = {name: [] for name in made}
    busy: list[float] = []
    used: list[float] = []
    try:
        for _ in range(ROUNDS):
            for name, (iterator, _) in made.items():
                start, before = time.perf_counter(), demand_seconds()
                rates[name].append(_timed(iterator, ROUND_SEC))
                after, wall = demand_seconds(), time.perf_counter() - start
                demand = after - before if after is not None and before is not None else None
                share = busy_share(demand, wall, float(payload.get("threads", 1)))
                if name == BASE and share is not None and demand is not None:
                    busy.append(share)
                    used.append(demand / wall)
    finally:
        for _, pipeline in made.values():
            pipeline.close()
    ratios = {name: [rate / base for rate, base in zip(rates[name], rates[BASE], strict=True)] for name in variants}
    return {
        **payload,
        "status": "ok",
        "images_per_sec": statistics.median(rates[BASE]),
        "busy": statistics.median(busy) if busy else None,
        "cores_used": statistics.median(used) if used else None,
        "rounds": ROUNDS,
        "measured": {
            name: {
                "images_per_sec": statistics.median(rates[name]),
                "ratio": statistics.median(ratios[name]),
                "spread_pct": spread_pct(ratios[name]),
            }
            for name in variants
        },
    }


if __name__ == "__main__":
    print(json.dumps(measure_probe(json.loads(sys.argv[1])), default=str))
