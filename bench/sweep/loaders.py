"""`python -m bench loaders`: every registered loader x every installed Keras backend, from every storage format a
loader reads, pipeline only (with the cost of Keras's data adapter measured apart) and end to end.

Pipeline only. Each loader (the baseline, every installed candidate) yields `--batches` training batches of the
workload's real data with its preset options and the workload's one `AugmentSpec`, timed twice in one process per
backend:

- **own type**: the stream as the loader yields it (tf tensors, numpy arrays, torch tensors; a PyDataset through
  its enqueuer, as it is fed);
- **via Keras**: the same loader, freshly built, through the `DataAdapter` Keras picks for it
  (`keras.src.trainers.data_adapters.get_data_adapter`) and the iterator that backend's trainer draws from
  (`Backend.adapter_iterator`: TensorFlow `get_tf_dataset`, JAX `get_jax_iterator`, torch
  `get_torch_dataloader`) -- the conversions users report (tf.data -> numpy for JAX and torch; torch and Grain
  -> `tf.data.Dataset.from_generator` on TensorFlow).

Storage: the JPEG folder, and each record format a loader reads (`bench prepare`'s TFRecord / ArrayRecord shards of
the same files, prepared once into the cache and reused): the readers of a format are timed on its shards too.
The tf.data decode-only limit (read + decode every file, nothing else) is timed beside them in every process.
Ratios are between rates measured in the same process, so a shared machine's load shifts them less than the rates;
the two routes alternate over `ROUNDS` rounds (medians recorded, with each round's rate: the spread is the noise an
adapter cost must clear).
A backend is a process-wide choice, so each runs in its own child process (`--backend`); one record per loader,
storage and backend goes to `RESULTS/loaders.jsonl`.

End to end: the `loaders` sweep spec (`bench/sweep/specs/loaders.toml`: every loader x backend training the
workload's model, each cell a fresh `bench run`) puts full run records -- e2e, ceilings, input-bound % -- in
`RESULTS/loaders/runs.jsonl`; `bench.report.loaders_table` joins the two into `RESULTS/loaders.md`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from bench.records import append_json_line

LOADERS_FILE = "loaders.jsonl"
LOADERS_SPEC = "loaders"  # the end-to-end sweep (bench/sweep/specs/loaders.toml); its records go to loaders/
DECODE_ONLY = "decode-only"
ROUNDS = 3  # each loader's two routes are timed this many times, alternating; the records keep the median
FOLDER = "folder"  # the storage of the JPEG tree itself


def through_keras(stream: Any, backend: str) -> Any:
    """`stream` as `model.fit` on `backend` iterates it: Keras's adapter for its type, the trainer's iterator."""
    from keras.src.trainers.data_adapters import get_data_adapter

    from bench.backends import get_backend

    return getattr(get_data_adapter(stream), get_backend(backend).adapter_iterator)()


def storages(workload: str, data_dir: Path, limit: int, formats: list[str]) -> list[tuple[str, Any]]:
    """`(storage, DataSet)` pairs: the folder, then each record format's shards of the same files (prepared once
    into the cache -- preparing again rewrites nothing -- and limited to the same first images)."""
    from imgcls.data import load_dataset
    from imgcls.data.shards import default_out, open_prepared, prepare_shards
    from imgcls.workloads import get_workload

    dataset = get_workload(workload).dataset
    folder = load_dataset(dataset, "dir", data_dir)
    found = [(FOLDER, folder.limit(limit, 64))]
    for fmt in formats:
        out = default_out(folder, fmt)
        prepare_shards(folder, out, fmt, say=lambda line: None)
        found.append((fmt, open_prepared(out, dataset).limit(limit, 64)))
    return found


def measure(
    workload: str,
    loaders: list[str],
    data_dir: Path,
    limit: int,
    batches: int,
    backend: str,
    run_id: str,
    formats: list[str],
) -> list[dict]:
    """One record per loader and storage (and the decode-only limit) under the Keras backend this process loaded."""
    from bench.environment import environment
    from bench.run.timing import time_pipeline
    from imgcls.pipelines import InputConfig, build_pipeline, record_readers
    from imgcls.pipelines.tfdata import decode_only_dataset
    from imgcls.workloads import get_workload

    spec = get_workload(workload)
    config = InputConfig(
        image_size=spec.image_size, channels=spec.channels, augment=spec.augment, batch_size=spec.batch_size, seed=0
    )
    env = environment()
    machine = f"{env.get('cpu_model')}, {env.get('cpu_cores')} cores"

    records = []
    for storage, data in storages(workload, data_dir, limit, formats):
        readers = loaders if storage == FOLDER else [n for n in loaders if n in record_readers(storage)]
        for name in [DECODE_ONLY, *readers] if storage == FOLDER else readers:
            started = time.time()
            if name == DECODE_ONLY:
                own = [time_pipeline(decode_only_dataset(data, config), batches) for _ in range(ROUNDS)]
                via, options = [], {}
            else:  # the two routes alternate, so neither gets the warm file cache or a quiet spell to itself
                own, via = [], []
                for _ in range(ROUNDS):
                    timing, options = _timed(build_pipeline(name), data, config, batches, None)
                    own.append(timing)
                    via.append(_timed(build_pipeline(name), data, config, batches, backend)[0])
            own_rates, via_rates = [t.images_per_sec for t in own], [t.images_per_sec for t in via]
            records.append(
                {
                    "run_id": run_id,
                    "machine": machine,
                    "workload": workload,
                    "data": data.source,
                    "storage": storage,
                    "backend": backend,
                    "pipeline": name,
                    "baseline": baseline_loader(workload),
                    "options": options,
                    "batch_size": config.batch_size,
                    "batches": batches,
                    "pipeline_images_per_sec": float(np.median(own_rates)),
                    # a limit feeds no model: no via-Keras rate
                    "keras_images_per_sec": float(np.median(via_rates)) if via_rates else None,
                    "pipeline_rates": own_rates,  # one per round: their spread is the measurement's noise
                    "keras_rates": via_rates,
                    "first_batch_sec": float(np.median([t.first_batch_sec for t in own])),
                    "started": started,
                }
            )
    return records


def _timed(pipeline: Any, data: Any, config: Any, batches: int, backend: str | None) -> tuple[Any, dict[str, Any]]:
    """A freshly built stream of `pipeline`, timed as it yields (`backend` None) or through that backend's Keras
    adapter; and the pipeline's options."""
    from bench.run.timing import time_pipeline

    stream = pipeline.train_data(data, config)
    try:
        return time_pipeline(through_keras(stream, backend) if backend else stream, batches), pipeline.options()
    finally:
        pipeline.close()


def installed_backends() -> list[str]:
    from bench.backends import get_backend, list_backends

    return [name for name in list_backends() if get_backend(name).available()]


def installed_formats() -> list[str]:
    """The record formats whose writer/reader package is installed and that some registered pipeline reads."""
    from imgcls.data.shards import get_record_format, record_formats
    from imgcls.pipelines import record_readers

    found = []
    for fmt in record_formats():
        try:
            get_record_format(fmt).require()
        except Exception:  # the format's package is absent: no shards of it here
            continue
        if record_readers(fmt):
            found.append(fmt)
    return found


# The end-to-end cells' measurement: the reference sweep's JPEG settings (bench/sweep/specs/quick.toml, imagenette).
E2E_SETTINGS: dict[str, Any] = {
    "epochs": 1,
    "steps_per_epoch": 20,
    "warmup_steps": 5,
    "pipeline_batches": 20,
    "stage_batches": 15,
    "ceiling_steps": 30,
    "limit_test": 500,
}


def loader_names(workload: str) -> list[str]:
    """The installed loaders that render `workload` (baseline and candidates; never the ceiling or a user's own
    pipeline, which brings its own data). Cheap: no framework is imported."""
    from imgcls.pipelines import CEILING, pipeline_specs, workload_pipelines
    from imgcls.workloads import get_workload

    renders = set(workload_pipelines(get_workload(workload).augment))
    return [s.name for s in pipeline_specs() if s.role != CEILING and not s.missing() and s.name in renders]


def baseline_loader(workload: str) -> str:
    """The registered baseline that renders `workload` (the table's `x BASELINE` denominator)."""
    from imgcls.pipelines import baseline_for
    from imgcls.workloads import get_workload

    return baseline_for(get_workload(workload))


def end_to_end_sweep(workload: str, names: list[str], data_dir: Path, limit: int, backends: list[str]) -> Any:
    """The `loaders` sweep: every installed loader x backend training `workload`'s model from the folder, each cell
    a fresh `bench run` (records in RESULTS/loaders/runs.jsonl; resumable, as every sweep)."""
    from bench.config import RunConfig
    from bench.sweep.matrix import Cell, Sweep

    cells = [
        Cell(
            RunConfig(
                workload=workload,
                pipeline=name,
                backend=backend,
                data="dir",
                data_dir=str(data_dir),
                limit_train=limit,
                **E2E_SETTINGS,
            ),
            repeat=0,
        )  # fmt: skip
        for backend in backends
        for name in names
    ]
    return Sweep(
        path=Path(LOADERS_SPEC),
        description=f"every loader x backend training {workload} end to end (the loaders table's e2e columns)",
        cells=cells,
        subfolder=LOADERS_SPEC,
    )


def run_children(
    workload: str,
    names: list[str],
    data_dir: Path,
    limit: int,
    batches: int,
    results: Path,
    backends: list[str],
    formats: list[str],
) -> int:
    """One child process per backend (a process holds one Keras backend), all under one run id."""
    run_id = uuid.uuid4().hex[:12]
    failed = []
    for backend in backends:
        print(f"[loaders] pipeline only under {backend} ({', '.join([FOLDER, *formats])})", flush=True)
        command = [sys.executable, "-m", "bench.sweep.loaders", "--backend", backend, "--run-id", run_id,
                   "--workload", workload, "--data-dir", str(data_dir), "--limit", str(limit),
                   "--batches", str(batches), "--results", str(results), "--formats", ",".join(formats),
                   "--loaders", ",".join(names)]  # fmt: skip
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(backend)
    if failed:
        print(f"[loaders] failed under: {', '.join(failed)} (the others' records are kept)", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """The child: measure under one backend, in this process, and append the records."""
    parser = argparse.ArgumentParser(prog="python -m bench.sweep.loaders", description="one backend's measurements")
    parser.add_argument("--backend", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--workload", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--limit", type=int, required=True)
    parser.add_argument("--batches", type=int, required=True)
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--formats", default="")
    parser.add_argument("--loaders", required=True)
    args = parser.parse_args(argv)
    from bench.backends import activate

    activate(args.backend)
    formats = [f for f in args.formats.split(",") if f]
    names = args.loaders.split(",")
    for record in measure(args.workload, names, args.data_dir, args.limit, args.batches, args.backend, args.run_id,
                          formats):  # fmt: skip
        append_json_line(args.results / LOADERS_FILE, record)
        via = record["keras_images_per_sec"]
        print(f"{args.backend:>10} {record['pipeline']:>16} {record['storage']:>11}: "
              f"{record['pipeline_images_per_sec']:8.0f} img/s own" + (f", {via:8.0f} via Keras" if via else ""),
              flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
