"""`bench cache`: when caching decoded images pays -- pipeline-only epoch times with and without the cache, and the
RAM the cache holds.

`tfdata` with `cache=memory` (at decode: the decoded, resized uint8 images, reshuffled every epoch from memory)
spends its first epoch filling the cache and its later epochs only augmenting; without the cache every epoch reads,
decodes and resizes again. The baseline (`idg`) is timed the same way beside them, so `x idg` is a ratio measured in
one run. Each variant runs in a fresh process (so the RAM it holds is its own) and times `epochs`
full epochs of its training stream, pipeline only. Records go to `RESULTS/cache.jsonl`; `cache_table` says, per
place of augmentation, the epoch from which the cached run is ahead in total time and what RAM it took (resident
memory at the end less that before the first batch: the cache, and every buffer and batch in flight).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
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
from imgcls.errors import UserFacingError
from imgcls.options import positive_int
from imgcls.pipelines import baseline_for, get_pipeline_spec
from imgcls.workloads import get_workload, list_workloads

CACHE_FILE = "cache.jsonl"
CANDIDATE_PIPELINE = "tfdata"  # the pipeline whose `cache` knob is compared
VARIANTS = ("off", "memory")  # the `cache` knob's values compared


DEVICE_SUFFIX = "@device"


def _label(pipeline: str, place: str) -> str:
    return pipeline if place == "host" else f"{pipeline}{DEVICE_SUFFIX}"


def add_cache_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workload", default="imagenette", choices=list_workloads(), help="default imagenette")
    parser.add_argument(
        "--epochs", type=argument_type(positive_int), default=3, help="full epochs timed per variant (default 3, >= 2)"
    )
    parser.add_argument(
        "--limit-train", type=argument_type(positive_int), default=None, help="use only the first N training examples"
    )
    parser.add_argument("--data", default="auto", help="data source (as for `bench run`)")
    parser.add_argument("--data-dir", default=None, help="a data directory")
    add_places_argument(parser, default="host,device")
    parser.add_argument("--no-baseline", action="store_true", help="skip the ImageDataGenerator row")
    add_timeout_argument(parser)


def run_cache(args: argparse.Namespace, results_dir: Path) -> int:
    """Runs each (place, cache) variant in its own process; prints the table; returns 1 when a variant failed (its
    failure record is in the file), else 0."""
    if args.epochs < 2:
        raise UserFacingError(f"--epochs {args.epochs}: the cache can only pay from a second epoch; use >= 2")
    places = parse_places(args.augment_on)
    workload = get_workload(args.workload)
    baseline = baseline_for(workload)
    variants = [] if args.no_baseline else [(baseline, "host", "off")]
    variants += [(CANDIDATE_PIPELINE, place, cache) for place in places for cache in VARIANTS]
    failures = 0
    for done, (pipeline, place, cache) in enumerate(variants, start=1):
        label = _label(pipeline, place) + (f" cache={cache}" if pipeline == CANDIDATE_PIPELINE else "")
        print(f"variant {done}/{len(variants)}: {workload.name} {label}, {args.epochs} epochs...", file=sys.stderr)
        payload = {
            "workload": workload.name,
            "pipeline": pipeline,
            "cache": cache,
            "augment_on": place,
            "epochs": args.epochs,
            "limit_train": args.limit_train,
            "data": args.data,
            "data_dir": args.data_dir,
        }
        record = measure_in_fresh_process(
            "bench.sweep.cache_payoff", payload, results_dir / CACHE_FILE, args.point_timeout
        )
        if record is None:
            failures += 1
            continue
        rates = ", ".join(f"{record['epoch_images'] / s:,.0f}" for s in record["epoch_sec"])
        print(f"  img/s per epoch: {rates}; RAM held {record['held_mb']:,.0f} MB", file=sys.stderr)
    print(cache_text(cache_table(read_records(results_dir / CACHE_FILE))))
    print(f"records in {results_dir / CACHE_FILE}" + (f"; {failures} variant(s) FAILED" if failures else ""))
    return 1 if failures else 0


def pays_from_epoch(off_sec: list[float], cached_sec: list[float]) -> int | None:
    """The first epoch (1-based) after which the cached run has spent no more time in all than the uncached one;
    None when it never catches up within the epochs measured."""
    spent_off = spent_cached = 0.0
    for epoch, (off, cached) in enumerate(zip(off_sec, cached_sec, strict=False), start=1):
        spent_off, spent_cached = spent_off + off, spent_cached + cached
        if spent_cached <= spent_off:
            return epoch
    return None


def cache_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Per (workload, data): the baseline row, then per place the uncached and cached `tfdata` rows -- first-epoch
    and later-epoch rates, later epochs against the baseline's (`x idg`), the RAM each held, and for a cached row
    the epoch from which it is ahead of its uncached one and its later-epoch speed-up."""
    frame = pd.DataFrame(succeeded(records))
    if frame.empty:
        return frame
    frame["pipeline"] = frame["pipeline"].fillna(CANDIDATE_PIPELINE) if "pipeline" in frame else CANDIDATE_PIPELINE
    frame = frame.drop_duplicates(["workload", "data_source", "pipeline", "augment_on", "cache"], keep="last")
    rows = []
    for (workload, data), group in frame.groupby(["workload", "data_source"], sort=False):
        baseline = group[group["pipeline"] != CANDIDATE_PIPELINE]
        baseline_later = _later_rate(baseline.iloc[-1]) if not baseline.empty else None
        for _, row in baseline.iterrows():
            rows.append(_row(workload, data, row, baseline_later, None))
        candidate = group[group["pipeline"] == CANDIDATE_PIPELINE]
        for _place, by_place in candidate.groupby("augment_on", sort=False):
            by_cache = {row["cache"]: row for _, row in by_place.iterrows()}
            for cache in VARIANTS:
                if cache in by_cache:
                    rows.append(_row(workload, data, by_cache[cache], baseline_later, by_cache.get("off")))
    return pd.DataFrame(rows)


def _later_rate(row: Any) -> float:
    """Images/s over the epochs after the first (median epoch time)."""
    return row["epoch_images"] / pd.Series(row["epoch_sec"][1:]).median()


def _row(workload: str, data: str, row: Any, baseline_later: float | None, off: Any) -> dict[str, Any]:
    cached = row["pipeline"] == CANDIDATE_PIPELINE and row["cache"] != "off"
    later = _later_rate(row)
    pays = pays_from_epoch(off["epoch_sec"], row["epoch_sec"]) if cached and off is not None else None
    return {
        "workload": workload,
        "data": data,
        "pipeline": _label(row["pipeline"], row["augment_on"]),
        "cache": row["cache"] if row["pipeline"] == CANDIDATE_PIPELINE else None,
        "images": row["train_examples"],
        "epoch 1 img/s": row["epoch_images"] / row["epoch_sec"][0],
        "later epochs img/s": later,
        "x idg": later / baseline_later if baseline_later else None,
        "later speed-up": later / _later_rate(off) if cached and off is not None else None,
        "cached data MB": row["cached_mb"] if cached else None,
        "RAM held MB": row["held_mb"],
        "ahead from epoch": (str(pays) if pays is not None else f"not within {len(row['epoch_sec'])}")
        if cached and off is not None
        else None,
    }


def cache_text(table: pd.DataFrame, columns: list[str] | None = None) -> str:
    """`cache_table` as markdown, numbers spelled for reading; `columns` picks and orders the columns shown."""
    from tabulate import tabulate

    if table.empty:
        return "no cache records"

    def text(value: Any, form: str) -> str:
        return "-" if value is None or (isinstance(value, float) and pd.isna(value)) else format(value, form)

    shown = table.copy()
    for column in ("epoch 1 img/s", "later epochs img/s", "cached data MB", "RAM held MB"):
        shown[column] = [text(v, ",.0f") for v in shown[column]]
    for column in ("later speed-up", "x idg"):
        shown[column] = [text(v, ".2f") + ("x" if text(v, "") != "-" else "") for v in shown[column]]
    # An @device row's host only decodes (the model augments): its `x idg` compares less host work with idg's whole
    # augmentation, so it is labelled a host-work ratio, never read as a training speed-up.
    shown["x idg"] = [
        f"{v} (host work)" if v != "-" and str(p).endswith(DEVICE_SUFFIX) else v
        for v, p in zip(shown["x idg"], shown["pipeline"], strict=True)
    ]
    shown["cache"] = [text(v, "") for v in shown["cache"]]
    shown["ahead from epoch"] = [text(v, "") for v in shown["ahead from epoch"]]
    shown = shown[columns] if columns else shown
    return tabulate(shown, headers="keys", tablefmt="github", showindex=False, disable_numparse=True)


# ---- one variant, in its own process ---------------------------------------------------------------------------
def resident_mb() -> float | None:
    """This process's resident memory now (Linux `/proc/self/statm`); None elsewhere."""
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure_variant(payload: dict[str, Any]) -> dict[str, Any]:
    """Times `epochs` full epochs of one pipeline alone (`tfdata` with the given cache, or the baseline); RAM held
    is the resident memory at the end less that before the first batch."""
    from bench.run.process_setup import import_tensorflow_quietly

    import_tensorflow_quietly()
    from bench.environment import environment
    from bench.run.input_config import inputs_for
    from imgcls.data import load_dataset
    from imgcls.pipelines import build_pipeline

    workload = get_workload(payload["workload"])
    data = load_dataset(workload.dataset, payload["data"], payload["data_dir"]).limit(payload["limit_train"], None)
    config = inputs_for(
        workload.augment,
        data,
        image_size=workload.image_size,
        channels=workload.channels,
        batch_size=workload.batch_size,
        seed=0,
        augment_on=payload["augment_on"],
    ).config
    name = payload.get("pipeline", CANDIDATE_PIPELINE)
    has_cache = "cache" in {k.name for k in get_pipeline_spec(name).knobs}
    pipeline = build_pipeline(name, **({"cache": payload["cache"]} if has_cache else {}))
    steps = len(data.train) // config.batch_size
    if steps < 1:
        raise UserFacingError(f"{len(data.train)} training examples make no full batch of {config.batch_size}")
    dataset = pipeline.train_data(data, config)
    before = resident_mb()
    iterator = iter(dataset)
    stamps = [time.perf_counter()]
    for _ in range(int(payload["epochs"])):
        for _ in range(steps):
            next(iterator)
        stamps.append(time.perf_counter())
    after = resident_mb()
    height, width = config.image_size
    return {
        **payload,
        "epoch_sec": [b - a for a, b in zip(stamps, stamps[1:], strict=False)],
        "epoch_images": steps * config.batch_size,
        "train_examples": len(data.train),
        "cached_mb": len(data.train) * height * width * config.channels / 2**20,  # uint8 at the decoded size
        "held_mb": after - before if before is not None and after is not None else None,
        "options": pipeline.options(),
        "data_kind": data.kind,
        "data_source": data.source,
        "image_size": list(config.image_size),
        "batch_size": config.batch_size,
        "env": environment(),
    }


if __name__ == "__main__":
    print(json.dumps(measure_variant(json.loads(sys.argv[1])), default=str))
