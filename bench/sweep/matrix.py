"""`bench matrix SPEC`: run a TOML sweep, every cell in a fresh process, resumable, failures recorded.

A fresh process per cell keeps the Keras backend, dtype policies, XLA caches, tf.data threads and GPU memory from
leaking between cells, and turns an OOM kill or a crash into a failure record instead of the end of the sweep.
The parent only reads the spec, checks every cell and starts processes: it loads no framework. A cell runs in its
own process group and dies with the parent, however the parent dies (Ctrl-C, SIGTERM, SIGKILL).

Spec format (see bench/sweep/specs/*.toml):

    description = "..."
    subfolder = "accuracy"     # optional: records go to <--results>/accuracy/, apart from the throughput records
    [defaults]                 # RunConfig fields and knobs for every cell
    steps_per_epoch = 30
    repeats = 1
    [[cells]]                  # one block: workloads x pipelines, plus knob variations
    workloads = ["mnist", "cifar10"]
    pipelines = ["idg", "tfdata-naive", "tfdata", "synthetic"]
    set = { batch_size = 64 }  # fixed values for this block
    vary = { prefetch = ["off"], backend = ["jax"] }   # one knob at a time away from the block's base
    vary_on = ["tfdata"]       # the pipelines the variations apply to (default: the tuned candidate preset)
    seeds = [0, 1, 2]          # optional: every cell once per seed (accuracy parity)

`vary` is an ablation (each value alone, the rest at the base), which is what "which knob matters" asks and grows
linearly; the base cell itself runs too.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.backends import get_backend
from bench.config import RunConfig, check, config_key, expected_data_kind, knobs_of
from bench.knobs import all_knobs, knobs_label, split_knobs
from bench.records import RUNS_FILE, append_record, read_records
from bench.run.runner import new_record
from bench.sweep.fresh_process import stop_group
from imgcls.errors import UserFacingError
from imgcls.options import positive_int
from imgcls.pipelines import pipeline_specs
from imgcls.procs import tied_to_parent

SPECS_DIR = Path(__file__).parent / "specs"
_RUN_FIELDS = {f.name for f in dataclasses.fields(RunConfig)}
_BLOCK_KEYS = {"workloads", "pipelines", "set", "vary", "vary_on", "seeds"}


class SpecError(UserFacingError):
    """A sweep spec that cannot be run; the message names the file and the key."""


@dataclass(frozen=True)
class Cell:
    config: RunConfig
    repeat: int

    @property
    def label(self) -> str:
        extra = knobs_label(knobs_of(self.config))
        extra = "" if extra == "default" else extra
        if self.config.seed:
            extra = ",".join(filter(None, [extra, f"seed={self.config.seed}"]))
        return f"{self.config.workload}/{self.config.pipeline}" + (f" [{extra}]" if extra else "")

    @property
    def missing(self) -> str | None:
        """Why this cell cannot run on this machine (its backend is not installed), or None."""
        backend = get_backend(self.config.backend)
        return None if backend.available() else f"{backend.package} not installed ({backend.install})"

    @property
    def key(self) -> tuple[str, str | None]:
        """What resume matches on: the comparable configuration, and the data kind the cell will get."""
        return config_key(self.config), expected_data_kind(self.config)


@dataclass(frozen=True)
class Sweep:
    path: Path
    description: str
    cells: list[Cell]
    subfolder: str | None = None

    def records_dir(self, results_dir: Path) -> Path:
        return Path(results_dir) / self.subfolder if self.subfolder else Path(results_dir)


def resolve_spec_path(name_or_path: str) -> Path:
    """A spec file path, or the name of a shipped spec (`quick`, `full`, `accuracy`, ...)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = SPECS_DIR / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    known = ", ".join(sorted(p.stem for p in SPECS_DIR.glob("*.toml")))
    raise SpecError(f"no spec file {name_or_path!r}; pass a .toml path or one of: {known}")


def _config(values: dict[str, Any], where: str) -> RunConfig:
    """A checked RunConfig from spec values: knob names are parsed like CLI flags, the rest are RunConfig fields."""
    knobs = all_knobs()
    plain = {k: v for k, v in values.items() if k not in knobs}
    try:
        pipeline_options, run_fields = split_knobs({k: v for k, v in values.items() if k in knobs})
        config = RunConfig(**plain, pipeline_options=pipeline_options, **run_fields)
        check(config, installed=False)  # a cell whose backend is missing is skipped at run time, said on one line
    except (TypeError, ValueError, UserFacingError) as err:
        raise SpecError(f"{where}: {err}") from None
    return config


def load_sweep(spec: str, data_dir: str | None = None) -> Sweep:
    """Reads a spec once and expands it into checked cells (repeats included).

    Raises:
        SpecError: unreadable TOML, unknown keys, or any cell that would fail its checks (unknown names, bad knob
            values, a knob that makes no sense on its backend) -- before the first cell starts. A cell whose
            backend is not installed is not an error: `run_matrix` reports it as skipped (`Cell.missing`).
    """
    path = resolve_spec_path(spec)
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise SpecError(f"{path}: {err}") from None
    defaults = dict(raw.get("defaults", {}))
    try:
        repeats = positive_int(defaults.pop("repeats", 1))
    except ValueError as err:
        raise SpecError(f"{path} [defaults] `repeats`: {err}") from None
    if data_dir:
        defaults["data_dir"] = data_dir
    blocks = raw.get("cells", [])
    if not blocks:
        raise SpecError(f"{path}: no [[cells]] blocks")
    tuned = [s.name for s in pipeline_specs() if s.tuned]
    known_settings = _RUN_FIELDS | set(all_knobs())
    cells: list[Cell] = []
    for index, block in enumerate(blocks, 1):
        where = f"{path} [[cells]] #{index}"
        unknown = set(block) - _BLOCK_KEYS
        if unknown:
            raise SpecError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_BLOCK_KEYS)}")
        base = {**defaults, **block.get("set", {})}
        unknown = sorted((set(base) | set(block.get("vary", {}))) - known_settings)
        if unknown:
            raise SpecError(f"{where}: unknown settings {unknown}; use RunConfig fields or knob names")
        variants: list[dict[str, Any]] = [{}]
        for knob, values in block.get("vary", {}).items():
            variants += [{knob: value} for value in values]
        for workload in block.get("workloads", ["mnist"]):
            for pipeline in block.get("pipelines", tuned):
                for variant in variants:
                    if variant and pipeline not in block.get("vary_on", tuned):
                        continue  # ablations are of the tuned preset unless the block says otherwise
                    for seed in block.get("seeds", [base.get("seed", 0)]):
                        values = {**base, **variant, "workload": workload, "pipeline": pipeline, "seed": seed}
                        config = _config(values, f"{where} ({workload}/{pipeline})")
                        cells += [Cell(config, r) for r in range(repeats)]
    # Blocks may spell the same cell twice (a base shared by two blocks): it runs once.
    unique = list({(config_key(c.config), c.config.data_dir, c.repeat): c for c in cells}.values())
    return Sweep(path, raw.get("description", ""), unique, raw.get("subfolder"))


def _done_counts(results_dir: Path) -> dict[tuple[str, str | None], int]:
    """Successful records by (config key, data kind), and under (config key, None) whatever their data."""
    counts: dict[tuple[str, str | None], int] = {}
    for record in read_records(results_dir / RUNS_FILE):
        if record.get("status") == "ok":
            for key in ((record.get("config_key", ""), record.get("data_kind")), (record.get("config_key", ""), None)):
                counts[key] = counts.get(key, 0) + 1
    return counts


def _describe_exit(code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (killed: out of memory?)" if -code == signal.SIGKILL else ""
        return f"process killed by {name}{hint}"
    return f"process exited with code {code}"


def run_in_fresh_process(config: RunConfig, results_dir: Path, log_path: Path, timeout_sec: float) -> dict[str, Any]:
    """Runs `config` in a fresh `python -m bench run-config` process (output to `log_path`); returns its record --
    a failure record, written here, when the child died before it could write one (OOM kill, segfault, timeout)."""
    run_id = uuid.uuid4().hex[:12]
    payload = json.dumps({"config": dataclasses.asdict(config), "run_id": run_id})
    command = [sys.executable, "-m", "bench", "run-config", payload, "--results", str(results_dir)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    interrupted: BaseException | None = None
    stopped = False  # by this sweep: a timeout or an interruption (the cell's record then says only SIGTERM)
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **tied_to_parent())
        try:
            code = process.wait(timeout=timeout_sec)
            error = None if code == 0 else _describe_exit(code)
        except subprocess.TimeoutExpired:
            code, error, stopped = -1, f"cell timed out after {timeout_sec:.0f} s", True
        except BaseException as err:  # Ctrl-C, SIGTERM: stop the cell, then account for it below
            interrupted, error, stopped = err, f"sweep interrupted ({type(err).__name__})", True
        finally:  # the cell and its own children go too; SIGTERM first, so the cell writes its failure record
            if process.poll() is None:
                stop_group(process)
    records = [r for r in read_records(results_dir / RUNS_FILE) if r.get("run_id") == run_id]
    if records:
        record = records[-1]
        if stopped and record.get("status") != "ok":  # the reason, beside how the cell says it died
            record = {**record, "error": f"{error}; the cell recorded: {record.get('error')}"}
    else:
        # The child died before it could record anything (OOM kill, segfault, timeout): record it here.
        failure = new_record(config)
        failure.run_id, failure.status, failure.error = run_id, "failed", error or "no record written"
        append_record(results_dir / RUNS_FILE, failure)
        record = json.loads(failure.to_json())
    if interrupted is not None:
        interrupted.add_note(f"failure record appended to {results_dir / RUNS_FILE}")
        raise interrupted
    return record


def run_cell(cell: Cell, results_dir: Path, log_path: Path, timeout_sec: float) -> tuple[str, str | None]:
    """Runs one cell in a fresh process. Returns (status, error)."""
    record = run_in_fresh_process(cell.config, results_dir, log_path, timeout_sec)
    return record.get("status", "failed"), record.get("error")


def run_matrix(sweep: Sweep, results_dir: Path, force: bool = False, timeout_sec: float = 3600) -> int:
    """Runs every cell not yet recorded into `results_dir`; prints `cell k/n` progress with an ETA.

    Returns:
        The number of failed cells.
    """
    done = {} if force else _done_counts(results_dir)
    pending = [c for c in sweep.cells if done.get(c.key, 0) <= c.repeat]
    skipped = len(sweep.cells) - len(pending)
    print(f"{sweep.path.name}: {sweep.description}".rstrip(": "), file=sys.stderr)
    unrunnable = [c for c in pending if c.missing]
    todo = [c for c in pending if not c.missing]
    print(
        f"{len(sweep.cells)} cells, {skipped} already recorded (use --force to rerun), {len(todo)} to run"
        + (f", {len(unrunnable)} skipped (backend not installed)" if unrunnable else ""),
        file=sys.stderr,
    )
    for cell in unrunnable:
        print(f"  skipped: {cell.label} (repeat {cell.repeat + 1}): {cell.missing}", file=sys.stderr)
    failures, durations = 0, []
    logs = results_dir / "logs"
    previous_term = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # clean up the cell on SIGTERM too
    try:
        for index, cell in enumerate(todo, 1):
            eta = ""
            if durations:
                remaining = sum(durations) / len(durations) * (len(todo) - index + 1)
                eta = f", ETA {remaining / 60:.1f} min"
            text = f"cell {index}/{len(todo)}{eta}: {cell.label} (repeat {cell.repeat + 1})"
            print(text, file=sys.stderr, flush=True)
            start = time.perf_counter()
            log_name = f"{index:03d}-{cell.config.workload}-{cell.config.pipeline}.log"
            status, error = run_cell(cell, results_dir, logs / log_name, timeout_sec)
            durations.append(time.perf_counter() - start)
            if status != "ok":
                failures += 1
                print(f"  FAILED ({durations[-1]:.0f} s): {error}  [log: {logs / log_name}]", file=sys.stderr)
            else:
                print(f"  ok ({durations[-1]:.0f} s)", file=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    missing = f", {len(unrunnable)} skipped (backend not installed)" if unrunnable else ""
    print(f"done: {len(todo) - failures} ok, {failures} failed, {skipped} already recorded{missing}", file=sys.stderr)
    return failures


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
