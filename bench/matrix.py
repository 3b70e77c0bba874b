"""`bench matrix SPEC`: run a TOML sweep, every cell in a fresh process, resumable, failures recorded.

A fresh process per cell keeps dtype policies, XLA caches, tf.data threads and GPU memory from leaking between
cells, and turns an OOM kill or a crash into a failure record instead of the end of the sweep.

Spec format (see bench/specs/*.toml):

    description = "..."
    [defaults]                 # RunConfig fields and knobs for every cell
    steps_per_epoch = 30
    repeats = 1
    [[cells]]                  # one block: workloads x pipelines, plus knob variations
    workloads = ["mnist", "cifar10"]
    pipelines = ["idg", "tfdata-naive", "tfdata", "synthetic"]
    set = { batch_size = 64 }  # fixed values for this block
    vary = { prefetch = ["off"], vectorize = ["off"] }   # one knob at a time away from the block's base
    vary_on = ["tfdata"]       # the pipelines the variations apply to (default: the tuned tf.data preset)
    seeds = [0, 1, 2]          # optional: every cell once per seed (accuracy parity)

A top-level `subfolder = "accuracy"` sends the records to `<--results>/accuracy/`, apart from the throughput
records (the accuracy sweep's full-epoch runs would otherwise mix into the throughput tables).

`vary` is an ablation of the `vary_on` pipelines (each value alone, the rest at the base), which is what "which
knob matters" asks and grows linearly; the base cell itself runs too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib

from bench.knobs import list_knobs, split_knobs
from bench.records import RUNS_FILE, append_record, read_records
from bench.runner import RunConfig, new_record

SPECS_DIR = Path(__file__).parent / "specs"
_RUN_FIELDS = {f.name for f in dataclasses.fields(RunConfig)}
_BLOCK_KEYS = {"workloads", "pipelines", "set", "vary", "vary_on", "seeds"}


@dataclass(frozen=True)
class Cell:
    config: RunConfig
    repeat: int

    @property
    def label(self) -> str:
        knobs = ",".join(f"{k}={v}" for k, v in sorted(self.config.pipeline_options.items()))
        training = [f"{k}={getattr(self.config, k)}" for k in ("mixed_precision", "xla", "steps_per_execution")]
        training = [t for t in training if t not in ("mixed_precision=off", "xla=False", "steps_per_execution=1")]
        seed = [f"seed={self.config.seed}"] if self.config.seed else []
        extra = ",".join(filter(None, [knobs, *training, *seed]))
        return f"{self.config.workload}/{self.config.pipeline}" + (f" [{extra}]" if extra else "")


class SpecError(ValueError):
    """A sweep spec that cannot be run; the message names the file and the key."""


def resolve_spec_path(name_or_path: str) -> Path:
    """A spec file path, or the name of a shipped spec (`quick`, `full`, `accuracy`)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = SPECS_DIR / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    known = ", ".join(sorted(p.stem for p in SPECS_DIR.glob("*.toml")))
    raise SpecError(f"no spec file {name_or_path!r}; pass a .toml path or one of: {known}")


def _config(values: dict[str, Any], where: str) -> RunConfig:
    """RunConfig from spec values: knob names are parsed like CLI flags, the rest are RunConfig fields."""
    knob_names = {k.name for k in list_knobs()}
    knobs = {k: v for k, v in values.items() if k in knob_names}
    plain = {k: v for k, v in values.items() if k not in knob_names}
    try:
        pipeline_options, run_fields = split_knobs(knobs)
        return RunConfig(**plain, pipeline_options=pipeline_options, **run_fields)
    except (TypeError, ValueError) as err:
        raise SpecError(f"{where}: {err}") from None


def load_spec(path: Path) -> tuple[str, list[Cell]]:
    """Parses a spec into its description and the list of cells (repeats expanded).

    Raises:
        SpecError: unreadable TOML, unknown keys, bad knob values.
    """
    try:
        spec = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise SpecError(f"{path}: {err}") from None
    defaults = dict(spec.get("defaults", {}))
    repeats = int(defaults.pop("repeats", 1))
    blocks = spec.get("cells", [])
    if not blocks:
        raise SpecError(f"{path}: no [[cells]] blocks")
    cells: list[Cell] = []
    known_settings = _RUN_FIELDS | {k.name for k in list_knobs()}
    for index, block in enumerate(blocks, 1):
        where = f"{path} [[cells]] #{index}"
        unknown = set(block) - _BLOCK_KEYS
        if unknown:
            raise SpecError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_BLOCK_KEYS)}")
        base = {**defaults, **block.get("set", {})}
        unknown = sorted(set(base) - known_settings)
        if unknown:
            raise SpecError(f"{where}: unknown settings {unknown}; use RunConfig fields or knob names")
        variants: list[dict[str, Any]] = [{}]
        for knob, values in block.get("vary", {}).items():
            variants += [{knob: value} for value in values]
        for workload in block.get("workloads", ["mnist"]):
            for pipeline in block.get("pipelines", ["tfdata"]):
                for variant in variants:
                    if variant and pipeline not in block.get("vary_on", ["tfdata"]):
                        continue  # ablations are of the tuned preset unless the block says otherwise
                    for seed in block.get("seeds", [base.get("seed", 0)]):
                        values = {**base, **variant, "workload": workload, "pipeline": pipeline, "seed": seed}
                        config = _config(values, where)
                        cells += [Cell(config, r) for r in range(repeats)]
    return spec.get("description", ""), cells


def records_dir(spec: str, results_dir: Path) -> Path:
    """Where a spec's records go: `results_dir`, or its `subfolder` when the spec names one."""
    path = resolve_spec_path(spec)
    try:
        subfolder = tomllib.loads(path.read_text()).get("subfolder")
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise SpecError(f"{path}: {err}") from None
    return Path(results_dir) / subfolder if subfolder else Path(results_dir)


def _done_counts(results_dir: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in read_records(results_dir / RUNS_FILE):
        if record.get("status") == "ok":
            counts[record.get("config_key", "")] = counts.get(record.get("config_key", ""), 0) + 1
    return counts


def _describe_exit(code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (killed: out of memory?)" if -code == signal.SIGKILL else ""
        return f"process killed by {name}{hint}"
    return f"process exited with code {code}"


def run_cell(cell: Cell, results_dir: Path, log_path: Path, timeout_sec: float) -> tuple[str, str | None]:
    """Runs one cell in a fresh `python -m bench run-config` process. Returns (status, error)."""
    run_id = uuid.uuid4().hex[:12]
    payload = json.dumps({"config": dataclasses.asdict(cell.config), "run_id": run_id})
    command = [sys.executable, "-m", "bench", "run-config", payload, "--results", str(results_dir)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        try:
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
            completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=timeout_sec, env=env)
            code = completed.returncode
            error = None if code == 0 else _describe_exit(code)
        except subprocess.TimeoutExpired:
            code, error = -1, f"cell timed out after {timeout_sec:.0f} s"
    records = [r for r in read_records(results_dir / RUNS_FILE) if r.get("run_id") == run_id]
    if records:
        return records[-1].get("status", "failed"), records[-1].get("error")
    # The child died before it could record anything (OOM kill, segfault, timeout): record it here.
    record = new_record(cell.config)
    record.run_id, record.status, record.error = run_id, "failed", error or "no record written"
    append_record(results_dir / RUNS_FILE, record)
    return "failed", record.error


def run_matrix(
    spec: str, results_dir: Path, force: bool = False, data_dir: str | None = None, timeout_sec: float = 3600
) -> int:
    """Runs every cell not yet recorded; prints `cell k/n` progress with an ETA. Returns failures count."""
    path = resolve_spec_path(spec)
    description, cells = load_spec(path)
    if data_dir:
        cells = [Cell(dataclasses.replace(c.config, data_dir=data_dir), c.repeat) for c in cells]
    results_dir = records_dir(spec, results_dir)
    done = {} if force else _done_counts(results_dir)
    todo = [c for c in cells if done.get(_key(c), 0) <= c.repeat]
    skipped = len(cells) - len(todo)
    print(f"{path.name}: {description}".rstrip(": "), file=sys.stderr)
    print(f"{len(cells)} cells, {skipped} already recorded (use --force to rerun), {len(todo)} to run", file=sys.stderr)
    failures, durations = 0, []
    logs = results_dir / "logs"
    for index, cell in enumerate(todo, 1):
        eta = ""
        if durations:
            remaining = sum(durations) / len(durations) * (len(todo) - index + 1)
            eta = f", ETA {remaining / 60:.1f} min"
        print(f"cell {index}/{len(todo)}{eta}: {cell.label} (repeat {cell.repeat + 1})", file=sys.stderr, flush=True)
        start = time.perf_counter()
        log_name = f"{index:03d}-{cell.config.workload}-{cell.config.pipeline}.log"
        status, error = run_cell(cell, results_dir, logs / log_name, timeout_sec)
        durations.append(time.perf_counter() - start)
        if status != "ok":
            failures += 1
            print(f"  FAILED ({durations[-1]:.0f} s): {error}  [log: {logs / log_name}]", file=sys.stderr)
        else:
            print(f"  ok ({durations[-1]:.0f} s)", file=sys.stderr)
    print(f"done: {len(todo) - failures} ok, {failures} failed, {skipped} skipped", file=sys.stderr)
    return failures


def _key(cell: Cell) -> str:
    from bench.records import config_key

    return config_key(cell.config.key_fields())
