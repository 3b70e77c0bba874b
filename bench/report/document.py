"""Records -> the results document (markdown), report.csv and plots. Reads records only; never runs anything.

The document is a pure function of the records (and the benchmark, scaling and cache files beside them), so a test can
regenerate it and compare with what is committed. The tables themselves are `bench.report.comparison`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from tabulate import tabulate

from bench.paths import atomic_write, write_text_atomically
from bench.records import ACCURACY_SUBFOLDER, RUNS_FILE, read_records
from bench.report.benchmark_json import benchmark_table
from bench.report.comparison import display_frame, failures_frame, summarize
from bench.report.knob_analysis import analysis_text, service_scaling
from bench.report.records_frame import records_frame
from bench.sweep.cache_payoff import CACHE_FILE, cache_table, cache_text
from bench.sweep.core_scaling import SCALING_FILE, scaling_table, scaling_text


def _epoch_runs_text(records: list[dict]) -> str:
    """`79 runs (73 of full epochs, 6 of a few steps)`: a run covers full epochs when its steps take in every full
    batch of the training split each epoch."""
    full = sum(
        1
        for r in records
        if (r.get("steps_per_epoch") or 0) >= (r.get("train_examples") or 1) // max(1, r.get("batch_size") or 1)
    )
    short = len(records) - full
    return f"{len(records)} runs ({full} of full epochs" + (f", {short} of a few steps)" if short else ")")


HOW_TO_READ = """\
How to read the tables:
- **img/s (e2e)**: median steady-state training throughput, model fed by the pipeline (warm-up steps excluded,
  step ends synchronised); **min-max** its spread over repeats.
- **pipeline-only img/s**: the input pipeline iterated with no model (first batch timed apart).
- **x baseline**: speedup over the baseline row (`idg`, ImageDataGenerator) of the same workload, data, batch
  size and training knobs (backend, compile path, precision, ...): a training knob is never credited to a pipeline.
- **of ceiling**: fraction of the ceiling row (`synthetic`: the model fed one constant batch) matched the same way;
  above 105% it is flagged `(above the ceiling run)`: e2e beat a separate run of the model alone.
- **input-bound %**: 1 - end-to-end / device ceiling, measured in the *same process* right after training: the
  device ceiling is the compiled step on a batch already resident on the accelerator (the model's limit). Near 0
  the model is the bottleneck, near 100 the accelerator waits for input. `< noise (N%)` when it is below the
  ceiling's own spread (its block rates' (max - min) / median) or 3%, whichever is larger; `N? (... unreliable)`
  when that spread is above 50%; a negative value is printed and flagged `(e2e above ceiling)`.
- **transfer + pipeline %**: the two parts of input-bound % (they add up to it): moving the batch to the device
  (fed ceiling -- a constant host batch through the same Keras adapter -- against the device ceiling) and
  waiting for the pipeline (e2e against the fed ceiling). **ceiling**: `device`, or `fed` for a record measured
  before the device ceiling existed.
- **checks**: `ok`, or `INCONSISTENT:` and each broken invariant with its two numbers -- e2e above the device
  ceiling or above the pipeline-only rate, the fed ceiling above the device ceiling (each beyond the measurements'
  spread), or the `synthetic` row's e2e and its fed ceiling (the same constant batch) disagreeing.
- **slowest stage**: the tf.data stage that adds the most seconds per image: each growing prefix of the graph
  (read, decode, augment, prefetch) is timed alone, and a stage's cost is 1/rate of its prefix minus 1/rate of
  the prefix before it.
- **data**: `real` (which copy) or `generated`; a subset is always named as one.
"""


def _env_lines(records: list[dict[str, Any]]) -> str:
    """The distinct environments the records ran on (a table should never mix machines silently)."""
    keys = ("cpu_model", "cpu_cores", "gpu_name", "keras_backend", "python", "tensorflow", "keras")
    seen: dict[str, int] = {}
    for record in records:
        env = record.get("env", {})
        line = ", ".join(f"{k}={env.get(k)}" for k in keys)
        seen[line] = seen.get(line, 0) + 1
    return "\n".join(f"- {line} ({count} records)" for line, count in seen.items())


PLOTS = ("throughput.png", "input_bound.png", "step_times.png")
SCALING_PLOT = "scaling.png"
BENCHMARKS_FILE = "benchmarks.json"  # a pytest-benchmark JSON placed beside the records is tabled too


def build_report(
    results_dir: Path,
    workload: str | None = None,
    benchmarks: Path | None = None,
    plots: bool = True,
    command: str = "python -m bench report",
    written_files: list[str] | None = None,
) -> tuple[str, pd.DataFrame]:
    """Reads `results_dir/runs.jsonl` (and the scaling and cache records beside it); writes `README.md`,
    `report.csv` (and plots) there, each whole or not at all; returns (text, table). `written_files`, when given,
    receives the names of the files it wrote.

    The markdown is a pure function of the records (and the benchmark file), so a test can regenerate it and
    compare with what is committed. With `plots=False` no plot is written or linked.

    Raises:
        UserFacingError: none of the records files.
    """
    from imgcls.errors import UserFacingError

    results_dir = Path(results_dir)
    path = results_dir / RUNS_FILE
    if not any((results_dir / name).exists() for name in (RUNS_FILE, SCALING_FILE, CACHE_FILE)):
        raise UserFacingError(f"no records at {path}; run `python -m bench run --results {results_dir}` first")
    records = read_records(path)
    if workload:
        records = [r for r in records if r.get("workload") == workload]
    frame = records_frame(records)
    table = summarize(frame) if not frame.empty else pd.DataFrame()
    sections = []
    if table.empty:
        sections.append(f"No successful runs in {path}.")
    else:
        for name in dict.fromkeys(table["workload"]):
            shown = display_frame(table[table["workload"] == name])
            sections.append(f"### {name}\n\n" + tabulate(shown, headers="keys", tablefmt="github", showindex=False))
        sections.append("### Which knob matters\n\n" + analysis_text(table))
        scaling = service_scaling(table, frame)
        if not scaling.empty:
            scaling = scaling.astype(object).where(scaling.notna(), None)
            sections.append(
                "### tf.data service scaling\n\n"
                + tabulate(scaling, headers="keys", tablefmt="github", showindex=False, floatfmt=",.0f", missingval="-")
            )
    scaling = scaling_table(read_records(results_dir / SCALING_FILE))  # no file: no records, an empty table
    if not scaling.empty:
        sections.append(
            "### Core scaling, pipeline only\n\n"
            f"`python -m bench scale` ({SCALING_FILE}): each point a fresh process pinned to that many cores; "
            "`@device` rows leave augmentation to the model (the host only decodes); `decode-only` is the "
            "hardware limit of reading and decoding the files.\n\n" + scaling_text(scaling)
        )
    cache = cache_table(read_records(results_dir / CACHE_FILE))
    if not cache.empty:
        sections.append(
            "### When the decode cache pays, pipeline only\n\n"
            f"`python -m bench cache` ({CACHE_FILE}): `tfdata` with `--cache off` and `--cache memory` (decoded, "
            "resized uint8 images, reshuffled each epoch) beside `idg`, full epochs, each variant in a fresh process; "
            "**x idg**: later epochs against idg's, measured in the same run. "
            "**ahead from epoch**: the first epoch after which the cached run has spent no more time in all; "
            "**cached data MB**: images x height x width x channels; **RAM held MB**: resident memory at the end "
            "less that before the first batch (the cache, and every buffer and batch in flight).\n\n"
            + cache_text(cache)
        )
    if benchmarks is None and (results_dir / BENCHMARKS_FILE).exists():
        benchmarks = results_dir / BENCHMARKS_FILE
    if benchmarks is not None:
        sections.append("### pytest-benchmark\n\n" + benchmark_table(benchmarks))
    accuracy_records = results_dir / ACCURACY_SUBFOLDER / RUNS_FILE
    if accuracy_records.exists():
        sections.append(
            "### Accuracy parity (real data)\n\n"
            f"{_epoch_runs_text(read_records(accuracy_records))} over seeds, kept apart in "
            f"`{ACCURACY_SUBFOLDER}/{RUNS_FILE}`, made by `python -m bench matrix accuracy --results FOLDER "
            "--data-dir DIR` and tabled by `python -m bench report --accuracy --results FOLDER` (FOLDER: this one): "
            "[accuracy.md](accuracy.md) "
            "(final accuracy, time-to-target, parity verdicts) and [accuracy_vs_time.png](accuracy_vs_time.png)."
        )
    failures = failures_frame(records)
    if not failures.empty:
        sections.append("### Failed runs\n\n" + tabulate(failures, headers="keys", tablefmt="github", showindex=False))
    text = "\n\n".join(sections)
    figures = [*PLOTS, *([SCALING_PLOT] if not scaling.empty else [])] if plots and not table.empty else []
    if figures:
        write_plots(results_dir, table, records, scaling)
    document = (
        "# imgcls-bench results\n\n"
        f"Generated by `{command}` from {len(records)} record(s) in `{RUNS_FILE}`; "
        "regenerate with that command (it rewrites this file, `report.csv` and the plots).\n\n"
        f"{HOW_TO_READ}\nEnvironments:\n{_env_lines(records)}\n\n{text}\n"
    )
    if figures:
        document += "\n### Plots\n\n" + "\n\n".join(f"![{name}]({name})" for name in figures) + "\n"
    write_text_atomically(results_dir / "README.md", document)
    written = ["README.md"]
    if not table.empty:
        with atomic_write(results_dir / "report.csv") as temporary:
            table.to_csv(temporary, index=False)
        written.append("report.csv")
    if written_files is not None:
        written_files += [*written, *figures]
    return text, table


def write_plots(
    results_dir: Path, table: pd.DataFrame, records: list[dict[str, Any]], scaling: pd.DataFrame | None = None
) -> None:
    """Saves the report's PNG plots (`PLOTS`, and `SCALING_PLOT` with scaling records) in `results_dir`."""
    import matplotlib.pyplot as plt

    from bench.report import plots

    figures = dict(
        zip(
            PLOTS,
            (plots.throughput_figure(table), plots.input_bound_figure(table), plots.step_time_figure(records)),
            strict=True,
        )
    )
    if scaling is not None and not scaling.empty:
        figures[SCALING_PLOT] = plots.scaling_figure(scaling)
    for name, figure in figures.items():
        with atomic_write(results_dir / name) as temporary:
            figure.savefig(temporary, dpi=110)
        plt.close(figure)
