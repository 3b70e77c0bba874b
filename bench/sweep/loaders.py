"""`python -m bench.sweep.loaders`: every registered loader x every installed Keras backend, pipeline-only, with the
cost of Keras's data adapter measured apart.

Each pipeline (the baseline, every installed candidate) yields `--batches` training batches of the workload's real
data with its preset options and the workload's one `AugmentSpec`, timed twice in one process per backend:

- **own type**: the stream as the loader yields it (tf tensors, numpy arrays, torch tensors; a PyDataset through
  its enqueuer, as it is fed);
- **via Keras**: the same loader, freshly built, through the `DataAdapter` Keras picks for it
  (`keras.src.trainers.data_adapters.get_data_adapter`) and the iterator that backend's trainer draws from
  (`Backend.adapter_iterator`: TensorFlow `get_tf_dataset`, JAX `get_jax_iterator`, torch
  `get_torch_dataloader`) -- the conversions users report (tf.data -> numpy for JAX and torch; torch and Grain
  -> `tf.data.Dataset.from_generator` on TensorFlow).

`adapter cost` is the share of the own-type rate lost on the way in. The tf.data decode-only limit (read + decode
every file, nothing else) is timed beside them in every process. Ratios (`x idg`, `of decode-only`) are between
rates measured in the same process, so a shared machine's load shifts them less than it shifts the rates. A
backend is a process-wide choice, so each runs in its own child process (`--backend`); one record per loader and
backend goes to `RESULTS/loaders.jsonl`; `--table FILE` writes the markdown table of the newest run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from bench.records import append_json_line, read_records

LOADERS_FILE = "loaders.jsonl"
DECODE_ONLY = "decode-only"
BASELINE_LOADER = "idg"  # the `x idg` column's denominator: the registry's baseline (checked in `measure`)


def through_keras(stream: Any, backend: str) -> Any:
    """`stream` as `model.fit` on `backend` iterates it: Keras's adapter for its type, the trainer's iterator."""
    from keras.src.trainers.data_adapters import get_data_adapter

    from bench.backends import get_backend

    return getattr(get_data_adapter(stream), get_backend(backend).adapter_iterator)()


def measure(workload: str, data_dir: Path, limit: int, batches: int, backend: str, run_id: str) -> list[dict]:
    """One record per loader (and the decode-only limit) under the Keras backend this process loaded."""
    from bench.environment import environment
    from bench.run.timing import time_pipeline
    from imgcls.data import load_dataset
    from imgcls.pipelines import (
        BASELINE,
        CANDIDATE,
        InputConfig,
        build_pipeline,
        pipeline_specs,
        pipelines_with_role,
        workload_pipelines,
    )
    from imgcls.pipelines.tfdata import decode_only_dataset
    from imgcls.workloads import get_workload

    if pipelines_with_role(BASELINE) != [BASELINE_LOADER]:
        raise RuntimeError(f"the loaders table divides by {BASELINE_LOADER}, not {pipelines_with_role(BASELINE)}")
    spec = get_workload(workload)
    data = load_dataset(spec.dataset, "dir", data_dir).limit(limit, 64)
    config = InputConfig(
        image_size=spec.image_size, channels=spec.channels, augment=spec.augment, batch_size=spec.batch_size, seed=0
    )
    env = environment()
    machine = f"{env.get('cpu_model')}, {env.get('cpu_cores')} cores"
    renders = set(workload_pipelines())  # a user's own pipeline brings its own data and work: not a loader here
    names = [
        s.name for s in pipeline_specs() if s.role in (BASELINE, CANDIDATE) and not s.missing() and s.name in renders
    ]

    def timed(name: str, via_keras: bool) -> tuple[Any, dict[str, Any]]:
        """A freshly built stream of loader `name` (or the decode-only limit), timed; and the loader's options."""
        if name == DECODE_ONLY:
            return time_pipeline(decode_only_dataset(data, config), batches), {}
        pipeline = build_pipeline(name)
        stream = pipeline.train_data(data, config)
        timing = time_pipeline(through_keras(stream, backend) if via_keras else stream, batches)
        pipeline.close()
        return timing, pipeline.options()

    records = []
    for name in [DECODE_ONLY, *names]:
        started = time.time()
        own, options = timed(name, via_keras=False)
        via = None if name == DECODE_ONLY else timed(name, via_keras=True)[0]  # a limit feeds no model
        records.append(
            {
                "run_id": run_id,
                "machine": machine,
                "workload": workload,
                "data": data.source,
                "backend": backend,
                "pipeline": name,
                "options": options,
                "batch_size": config.batch_size,
                "batches": batches,
                "pipeline_images_per_sec": own.images_per_sec,
                "keras_images_per_sec": via.images_per_sec if via is not None else None,
                "first_batch_sec": own.first_batch_sec,
                "started": started,
            }
        )
    return records


def newest_run(records: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(records)
    if "backend" not in frame:
        frame["backend"] = "tensorflow"  # records from before the backend column: measured under TensorFlow
    if "keras_images_per_sec" not in frame:
        frame["keras_images_per_sec"] = None
    return frame[frame["run_id"] == frame.sort_values("started")["run_id"].iloc[-1]]


def loaders_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """The newest run's rows, one per loader and backend. `x idg` and `of decode-only` are of rates from the same
    process (same backend); `adapter cost` is `1 - via Keras / own type`."""
    if not records:
        return pd.DataFrame()
    rows = []
    for backend, group in newest_run(records).groupby("backend", sort=False):
        own = dict(zip(group["pipeline"], group["pipeline_images_per_sec"], strict=True))
        via = dict(zip(group["pipeline"], group["keras_images_per_sec"], strict=True))
        fed = {name: via[name] if pd.notna(via[name]) else own[name] for name in own}
        baseline_rate = fed.get(BASELINE_LOADER)
        for name in group["pipeline"]:
            cost = 1 - via[name] / own[name] if pd.notna(via[name]) else None
            rows.append(
                {
                    "loader": name,
                    "backend": backend,
                    "own type img/s": round(own[name]),
                    "via Keras img/s": round(via[name]) if pd.notna(via[name]) else None,
                    "adapter cost %": round(100 * cost) if cost is not None else None,
                    f"x {BASELINE_LOADER}": round(fed[name] / baseline_rate, 2) if baseline_rate else None,
                    "of decode-only": round(fed[name] / own[DECODE_ONLY], 2) if DECODE_ONLY in own else None,
                }
            )
    return pd.DataFrame(rows)


def loaders_markdown(records: list[dict[str, Any]], note: str = "") -> str:
    table = loaders_table(records)
    first = records[-1] if records else {}
    head = (
        f"# Loaders x backends, pipeline only: {first.get('workload')} on {first.get('data')}\n\n"
        f"Generated by `python -m bench.sweep.loaders --table results/loaders.md` from `results/{LOADERS_FILE}` "
        f"(newest run); machine: {first.get('machine')}; batch {first.get('batch_size')}, "
        f"{first.get('batches')} batches per loader and route (the first timed apart), one process per backend. "
        f"Each loader at its preset options, the workload's augmentation on the host. `own type`: the loader's "
        f"stream as it yields it; `via Keras`: through the data adapter and iterator that backend's trainer uses; "
        f"`adapter cost`: the share of the own-type rate lost on the way in; "
        f"`x {BASELINE_LOADER}` and `of decode-only` compare the rates a model is fed (via Keras) within "
        f"one backend's process. {note}\n\n"
    )
    return head + table.to_markdown(index=False) + "\n"


def installed_backends() -> list[str]:
    from bench.backends import get_backend, list_backends

    return [name for name in list_backends() if get_backend(name).available()]


def run_children(args: argparse.Namespace, backends: list[str]) -> int:
    """One child process per backend (a process holds one Keras backend), all under one run id."""
    run_id = uuid.uuid4().hex[:12]
    failed = []
    for backend in backends:
        print(f"[loaders] backend {backend}", flush=True)
        command = [sys.executable, "-m", "bench.sweep.loaders", "--backend", backend, "--run-id", run_id,
                   "--workload", args.workload, "--data-dir", str(args.data_dir), "--limit", str(args.limit),
                   "--batches", str(args.batches), "--results", str(args.results)]  # fmt: skip
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(backend)
    if failed:
        print(f"[loaders] failed under: {', '.join(failed)} (the others' records are kept)", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep.loaders", description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="imagenette")
    parser.add_argument("--data-dir", type=Path, help="real data folder (holds imagenette2-*/); omit to only render")
    parser.add_argument("--limit", type=int, default=2000, help="training images read")
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--backends", help="comma-separated Keras backends (default: every installed one)")
    parser.add_argument("--backend", help=argparse.SUPPRESS)  # a child: measure under this one, in this process
    parser.add_argument("--run-id", help=argparse.SUPPRESS)
    parser.add_argument("--table", type=Path, help="write the markdown table of the newest run here")
    parser.add_argument("--note", default="", help="a sentence for the table's text (e.g. that the machine was shared)")
    args = parser.parse_args(argv)
    path = args.results / LOADERS_FILE
    status = 0
    if args.data_dir is not None and args.backend is not None:
        from bench.backends import activate

        activate(args.backend)
        for record in measure(args.workload, args.data_dir, args.limit, args.batches, args.backend, args.run_id):
            append_json_line(path, record)
            via = record["keras_images_per_sec"]
            print(f"{args.backend:>10} {record['pipeline']:>16}: {record['pipeline_images_per_sec']:8.0f} img/s own"
                  + (f", {via:8.0f} via Keras" if via else ""), flush=True)  # fmt: skip
        return 0
    if args.data_dir is not None:
        backends = args.backends.split(",") if args.backends else installed_backends()
        status = run_children(args, backends)
    if args.table is not None:
        args.table.write_text(loaders_markdown(read_records(path), args.note))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
