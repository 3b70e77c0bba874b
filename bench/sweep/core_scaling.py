"""`bench scale`: pipeline-only throughput against CPU cores, to show where a pipeline stops scaling.

Each point (pipeline x core count) runs in a fresh process pinned to the first N cores (`sched_setaffinity`, set
before TensorFlow starts, so its thread pools size themselves to N) with tf.data's private thread pool and TF's
intra-op pool set to N and ImageDataGenerator given N workers. Beside the pipelines, the JPEG decode alone (read +
decode, no resize, uint8) is timed at each point: the hardware limit a JPEG pipeline can approach. `--vary KNOB=V1,V2`
adds a row per value of one knob (thread budgets: `private_threadpool=off,1,4`, `max_intra_op=1`, ...), the value
given winning over the sizes set per point. Records go to
`RESULTS/scaling.jsonl`, one line per point; `scaling_table` turns them into rates and efficiency vs linear.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from bench.knobs import argument_type
from bench.records import read_records
from bench.sweep.fresh_process import (
    add_places_argument,
    add_timeout_argument,
    measure_in_fresh_process,
    parse_places,
    succeeded,
)
from imgcls.data.catalogue import get_dataset_info
from imgcls.errors import UserFacingError
from imgcls.options import positive_int
from imgcls.pipelines import BASELINE, get_pipeline_spec, list_pipelines
from imgcls.workloads import Workload, get_workload, list_workloads

SCALING_FILE = "scaling.jsonl"
DECODE_ONLY = "decode-only"  # the row of the JPEG decode limit
# Efficiency above this is flagged: N cores beating N times the fewest cores' rate is no speed-up a pipeline can
# have, but noise in one of the two points (as `of ceiling` flags e2e beating a separate ceiling run).
ABOVE_LINEAR = 1.05


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def core_counts(limit: int) -> list[int]:
    """1, 2, 4, ... up to `limit`, and `limit` itself."""
    counts, n = [], 1
    while n < limit:
        counts.append(n)
        n *= 2
    return [*counts, limit]


def _cores_arg(text: str) -> list[int]:
    try:
        values = sorted({int(v) for v in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated core counts, got {text!r}") from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"core counts must be >= 1, got {text!r}")
    return values


def add_scale_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workload", default="imagenette", choices=list_workloads(), help="default imagenette")
    parser.add_argument(
        "--pipelines",
        default="tfdata,tfdata-naive,idg",
        help="comma-separated pipelines (default tfdata,tfdata-naive,idg)",
    )
    parser.add_argument("--cores", type=_cores_arg, default=None, help="core counts (default 1,2,4,... all)")
    parser.add_argument(
        "--batches",
        type=argument_type(positive_int),
        default=40,
        help="batches timed per point after 5 warm-up batches",
    )
    parser.add_argument("--data", default="auto", help="data source (as for `bench run`)")
    parser.add_argument("--data-dir", default=None, help="a data directory")
    add_places_argument(parser, default="host")
    parser.add_argument("--no-decode-limit", action="store_true", help="skip the decode-only row (file inputs)")
    add_timeout_argument(parser)
    parser.add_argument(
        "--vary",
        type=_vary_arg,
        default=None,
        metavar="KNOB=V1,V2",
        help="also one row per value of a pipeline knob, e.g. private_threadpool=off,1,4 (pipelines with the knob)",
    )


def _vary_arg(text: str) -> tuple[str, list[str]]:
    knob, _, values = text.partition("=")
    listed = [v.strip() for v in values.split(",") if v.strip()]
    if not knob.strip() or not listed:
        raise argparse.ArgumentTypeError(f"expected KNOB=V1,V2,..., got {text!r}")
    return knob.strip(), listed


def _varied_rows(pipelines: list[str], places: list[str], vary: tuple[str, list[str]]) -> list[tuple]:
    """(pipeline, place, {knob: value}) for every pipeline that has the knob, each value checked up front.

    Raises:
        UserFacingError: no listed pipeline has the knob, or a value does not parse.
    """
    knob, values = vary
    having = [name for name in pipelines if knob in {k.name for k in get_pipeline_spec(name).knobs}]
    if not having:
        raise UserFacingError(f"--vary: none of {', '.join(pipelines)} has a knob {knob!r}")
    for value in values:
        try:
            get_pipeline_spec(having[0]).options_with({knob: value})
        except ValueError as err:
            raise UserFacingError(f"--vary {knob}={value}: {getattr(err, 'reason', err)}") from None
    return [(name, place, {knob: value}) for name in having for value in values for place in places]


def scale_rows(
    workload: Workload,
    pipelines: list[str],
    places: list[str],
    vary: tuple[str, list[str]] | None,
    decode_limit: bool = True,
) -> list[tuple]:
    """(pipeline, place, overrides) per row. The decode-only row times the JPEG decode: only image-file workloads
    have one (arrays are never decoded, so the row would only fail)."""
    rows: list[tuple] = [(name, place, {}) for name in pipelines for place in places]
    rows += _varied_rows(pipelines, places, vary) if vary else []
    rows += [(DECODE_ONLY, "host", {})] if decode_limit and get_dataset_info(workload.dataset).as_files else []
    return rows


def run_scale(args: argparse.Namespace, results_dir: Path) -> int:
    """Runs every (pipeline, cores) point in its own pinned process; prints the table; returns 1 when a point
    failed (its failure record is in the file), else 0."""
    pipelines = [p.strip() for p in args.pipelines.split(",") if p.strip()]
    for name in pipelines:
        if name not in list_pipelines():
            raise UserFacingError(f"--pipelines: unknown pipeline {name!r}; known: {', '.join(list_pipelines())}")
    workload = get_workload(args.workload)
    limit = available_cores()
    cores = args.cores or core_counts(limit)
    if cores[-1] > limit:
        raise UserFacingError(f"--cores {cores[-1]}: this machine lets the process use {limit} cores")
    rows = scale_rows(workload, pipelines, parse_places(args.augment_on), args.vary, not args.no_decode_limit)
    total = len(rows) * len(cores)
    done = failures = 0
    for n in cores:
        for name, place, overrides in rows:
            done += 1
            label = point_label(name, place, overrides)
            print(f"point {done}/{total}: {workload.name} {label} on {n} core(s)...", file=sys.stderr, flush=True)
            payload = point_payload(workload.name, name, place, overrides, n, args.batches, args.data, args.data_dir)
            record = measure_in_fresh_process(
                "bench.sweep.core_scaling", payload, results_dir / SCALING_FILE, args.point_timeout
            )
            if record is None:
                failures += 1
                continue
            print(f"  {record['images_per_sec']:,.0f} img/s", file=sys.stderr)
    table = scaling_table(read_records(results_dir / SCALING_FILE))
    print(scaling_text(table))
    print(f"records in {results_dir / SCALING_FILE}" + (f"; {failures} point(s) FAILED" if failures else ""))
    return 1 if failures else 0


def point_payload(
    workload: str,
    pipeline: str,
    place: str,
    overrides: dict[str, Any],
    cores: int,
    batches: int,
    data: str,
    data_dir: str | None,
) -> dict[str, Any]:
    """What one point's fresh process is told (`measure_point` reads it)."""
    return {
        "workload": workload,
        "pipeline": pipeline,
        "augment_on": place,
        "overrides": overrides,
        "cores": cores,
        "batches": batches,
        "data": data,
        "data_dir": data_dir,
    }


def _knobs_text(overrides: dict[str, str] | None) -> str:
    """`private_threadpool=1` for a `--vary` point; "" for a point at the pipeline's defaults (or an older record)."""
    return ",".join(f"{k}={v}" for k, v in (overrides if isinstance(overrides, dict) else {}).items())


def point_label(pipeline: str, place: str, overrides: dict[str, str] | None) -> str:
    """`tfdata`, `tfdata@device`, `tfdata [private_threadpool=1]`: the row a point belongs to."""
    label = pipeline if place == "host" else f"{pipeline}@device"
    knobs = _knobs_text(overrides)
    return f"{label} [{knobs}]" if knobs else label


def scaling_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Latest rate per (workload, data, pipeline, cores); efficiency = rate / (cores x rate at the fewest cores).

    Rows keep the order in which their pipeline first appears in the records (a rerun replaces a point in place);
    `knobs` says which knob a `--vary` row sets ("" for the pipeline's defaults), `base` the row it varies.
    """
    frame = pd.DataFrame(succeeded(records))
    if frame.empty:
        return frame
    frame["augment_on"] = frame["augment_on"].fillna("host") if "augment_on" in frame else "host"  # older records
    if "overrides" not in frame:
        frame["overrides"] = None
    frame["base"] = [point_label(p, a, None) for p, a in zip(frame["pipeline"], frame["augment_on"], strict=True)]
    frame["knobs"] = [_knobs_text(o) for o in frame["overrides"]]
    frame["pipeline"] = [f"{b} [{k}]" if k else b for b, k in zip(frame["base"], frame["knobs"], strict=True)]
    keys = ["workload", "data_source", "pipeline"]
    first_seen = {key: i for i, key in enumerate(dict.fromkeys(zip(*(frame[k] for k in keys), strict=True)))}
    frame = frame.drop_duplicates([*keys, "cores"], keep="last")
    rows = []
    groups = sorted(frame.groupby(keys, sort=False), key=lambda item: first_seen[item[0]])
    for (workload, data, pipeline), group in groups:
        group = group.sort_values("cores")
        base_cores, base_rate = group["cores"].iloc[0], group["images_per_sec"].iloc[0]
        for _, row in group.iterrows():
            linear = base_rate * row["cores"] / base_cores
            rows.append(
                {
                    "workload": workload,
                    "data": data,
                    "pipeline": pipeline,
                    "knobs": row["knobs"],
                    "base": row["base"],
                    "cores": int(row["cores"]),
                    "img/s": row["images_per_sec"],
                    "img/s per core": row["images_per_sec"] / row["cores"],
                    "efficiency vs linear": row["images_per_sec"] / linear,
                }
            )
    return pd.DataFrame(rows)


def efficiency_text(efficiency: float) -> str:
    """`81%`; above `ABOVE_LINEAR`, `132% (above linear: noise)`: faster per core than on the fewest cores."""
    text = f"{efficiency:.0%}"
    return f"{text} (above linear: noise)" if efficiency > ABOVE_LINEAR else text


def scaling_text(table: pd.DataFrame) -> str:
    from tabulate import tabulate

    if table.empty:
        return "no scaling records"
    shown = table.drop(columns=["knobs", "base"])
    shown["img/s"] = shown["img/s"].map(lambda v: f"{v:,.0f}")
    shown["img/s per core"] = shown["img/s per core"].map(lambda v: f"{v:,.0f}")
    shown["efficiency vs linear"] = shown["efficiency vs linear"].map(efficiency_text)
    return tabulate(shown, headers="keys", tablefmt="github", showindex=False)


# ---- one point, in its own process -----------------------------------------------------------------------------
def measure_point(payload: dict[str, Any]) -> dict[str, Any]:
    """Pins this process to `cores` cores, then times one pipeline (or the decode limit) alone."""
    cores = int(payload["cores"])
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cores]))
    from bench.run.process_setup import import_tensorflow_quietly

    tf = import_tensorflow_quietly()
    tf.config.threading.set_intra_op_parallelism_threads(cores)
    tf.config.threading.set_inter_op_parallelism_threads(cores)

    from bench.environment import environment
    from bench.run.input_config import inputs_for
    from bench.run.timing import time_pipeline
    from imgcls.data import load_dataset
    from imgcls.pipelines import build_pipeline

    workload = get_workload(payload["workload"])
    data = load_dataset(workload.dataset, payload["data"], payload["data_dir"])
    config = inputs_for(
        workload.augment,
        data,
        image_size=workload.image_size,
        channels=workload.channels,
        batch_size=workload.batch_size,
        seed=0,
        augment_on=payload.get("augment_on", "host"),
    ).config
    name = payload["pipeline"]
    if name == DECODE_ONLY:
        from imgcls.pipelines.tfdata import decode_only_dataset

        dataset, options = decode_only_dataset(data, config, threads=cores), {"threads": cores}
    else:
        spec = get_pipeline_spec(name)
        knobs = {k.name for k in spec.knobs}
        overrides = {"workers": cores} if spec.role == BASELINE and "workers" in knobs else {}
        if "private_threadpool" in knobs:
            overrides["private_threadpool"] = cores
        overrides.update(payload.get("overrides") or {})  # a varied knob wins over the sizes set here
        pipeline = build_pipeline(name, **overrides)
        dataset, options = pipeline.train_data(data, config), pipeline.options()
    iterator = iter(dataset)
    for _ in range(5):  # warm-up: graph building, thread start-up, first file reads
        next(iterator)
    timing = time_pipeline(iterator, int(payload["batches"]) + 1)
    return {
        **payload,
        "images_per_sec": timing.images_per_sec,
        "batch_ms_p50": timing.batch_ms_p50,
        "window_sec": timing.window_sec,  # the rate's window: at least the batches asked for and MIN_WINDOW_SEC
        "window_batches": timing.window_batches,
        "options": options,
        "data_kind": data.kind,
        "data_source": data.source,
        "image_size": list(workload.image_size),
        "batch_size": workload.batch_size,
        "env": environment(),
    }


if __name__ == "__main__":
    print(json.dumps(measure_point(json.loads(sys.argv[1])), default=str))
