"""`python -m bench run | doctor | matrix | scale | cache | loaders | prepare | report | readme | gate | list | env`.

`build_parser()` stands apart so tests call `main([...])`. This module turns the argparse Namespace into a
`RunConfig`; nothing else sees argparse. Bad input exits 2 with one line, never a traceback; an internal error
exits 1 with one line (and its traceback with `-v`). Importing this module loads no framework: the backend of a
run is chosen before Keras is imported.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import warnings
from typing import NoReturn

from bench.cli import commands
from bench.config import RunConfig
from bench.knobs import add_knob_arguments, argument_type
from bench.paths import DEFAULT_RESULTS, REFERENCE_RESULTS
from imgcls.data import list_data_modes
from imgcls.data.catalogue import file_datasets
from imgcls.data.locations import DATA_DIR_ENV
from imgcls.data.shards import DEFAULT_SHARD_SIZE, record_formats
from imgcls.errors import UserFacingError
from imgcls.options import at_least, count, fraction, positive_int, random_seed
from imgcls.pipelines import list_pipelines
from imgcls.workloads import list_workloads

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it
EXIT_TERMINATED = 143  # 128 + SIGTERM


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: the problem and where to look, not 25 lines of usage first."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see `{self.prog} --help`)\n")


_positive_int = argument_type(positive_int)
_count = argument_type(count)
_seed = argument_type(random_seed)
_fraction = argument_type(fraction)
at_least_two = argument_type(at_least(2))


def file_datasets_workloads() -> list[str]:
    """The workloads that read a JPEG folder (the loaders compare storage and decoding)."""
    from imgcls.workloads import get_workload

    return [name for name in list_workloads() if get_workload(name).dataset in file_datasets()]


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = RunConfig()
    parser.add_argument("--workload", default="mnist", choices=list_workloads(), help="what to train (default mnist)")
    parser.add_argument(
        "--pipeline",
        default=None,
        choices=list_pipelines(),
        help=f"input pipeline (default {defaults.pipeline}; user with --pipeline-fn)",
    )
    parser.add_argument(
        "--data",
        default="auto",
        choices=list_data_modes(),
        help="data source; auto = the data directory if one is named (it must hold the data), else the Keras/tfds "
        "caches, else generated data (labelled as such)",
    )
    parser.add_argument("--data-dir", default=None, help=f"a data directory (default ${DATA_DIR_ENV})")
    parser.add_argument("--augment", default="seed", choices=["seed", "none"], help="augmentation spec")
    parser.add_argument("--epochs", type=_positive_int, default=None, help="epochs (workload default)")
    parser.add_argument(
        "--steps",
        type=_positive_int,
        default=None,
        help="steps per epoch (workload default, see `bench list`; else one pass over the training split)",
    )
    parser.add_argument("--batch-size", type=_positive_int, default=None, help="batch size (workload default)")
    parser.add_argument(
        "--warmup-steps", type=_count, default=defaults.warmup_steps, help="steps left out of the steady state"
    )
    parser.add_argument(
        "--pipeline-batches",
        type=argument_type(at_least(2)),
        default=defaults.pipeline_batches,
        help=f"batches timed pipeline-only (default {defaults.pipeline_batches})",
    )
    parser.add_argument(
        "--ceiling-steps",
        type=_count,
        default=defaults.ceiling_steps,
        help=f"steps of the model alone after training, 0 = skip (default {defaults.ceiling_steps})",
    )
    parser.add_argument("--limit", type=_positive_int, default=None, help="use only the first N training examples")
    parser.add_argument("--limit-test", type=_positive_int, default=None, help="use only the first N test examples")
    parser.add_argument("--seed", type=_seed, default=0, help="seeds Python, NumPy and the backend (default 0)")
    parser.add_argument(
        "--target-accuracy", type=_fraction, default=None, help="time-to-accuracy target (workload default)"
    )
    parser.add_argument(
        "--weights",
        default=None,
        help="imagenette-vgg16: imagenet | none | PATH to an .h5 file; a keras.applications --model: none | PATH "
        "(its no-top weights file)",
    )
    parser.add_argument(
        "--image-size", type=_positive_int, default=None, help="square image size override (image-file workloads)"
    )
    parser.add_argument(
        "--cpu-devices", type=_positive_int, default=None, help="split the CPU into N logical devices (mirrored)"
    )


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a subcommand's default must not undo a `-v` given before the subcommand.
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug details")


def _add_common(parser: argparse.ArgumentParser, results_help: str = "results folder") -> None:
    _add_verbose(parser)
    parser.add_argument("--results", default=DEFAULT_RESULTS, help=f"{results_help} (default {DEFAULT_RESULTS}/)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details and show tracebacks")
    subcommands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = subcommands.add_parser("run", help="train one workload through one pipeline and record it")
    _add_run_arguments(run)
    _add_common(run, "records go to RESULTS/runs.jsonl")
    add_knob_arguments(run)
    run.set_defaults(handler=commands.cmd_run)

    doctor = subcommands.add_parser(
        "doctor", help="name the bottleneck of a run, predict each fix, verify the best and prescribe the winner"
    )
    _add_run_arguments(doctor)
    _add_common(doctor, "the report goes to RESULTS/doctor.md, records to RESULTS/doctor.jsonl and RESULTS/doctor/")
    add_knob_arguments(doctor)
    doctor.add_argument("--quick", action="store_true", help="diagnose and predict only: verify nothing")
    doctor.add_argument("--verify", type=int, default=3, metavar="N", help="verify the N best fixes (default 3)")
    doctor.set_defaults(handler=commands.cmd_doctor)

    matrix = subcommands.add_parser("matrix", help="run a TOML sweep, each cell in a fresh process (resumable)")
    matrix.add_argument("spec", help="a spec file, or a shipped spec name: quick, full, accuracy, service, gpu")
    _add_common(matrix)
    matrix.add_argument("--data-dir", default=None, help=f"data directory for every cell (default ${DATA_DIR_ENV})")
    matrix.add_argument("--force", action="store_true", help="rerun cells that are already recorded")
    matrix.add_argument(
        "--cell-timeout", type=_positive_int, default=3600, help="seconds before a cell is killed (default 3600)"
    )
    matrix.set_defaults(handler=commands.cmd_matrix)

    from bench.sweep.core_scaling import add_scale_arguments

    scale = subcommands.add_parser("scale", help="pipeline-only throughput against CPU cores (1, 2, 4, ... all)")
    add_scale_arguments(scale)
    _add_common(scale, "scaling records go to RESULTS/scaling.jsonl")
    scale.set_defaults(handler=commands.cmd_scale)

    from bench.sweep.cache_payoff import add_cache_arguments

    cache = subcommands.add_parser("cache", help="when caching decoded images pays: epoch times with and without it")
    add_cache_arguments(cache)
    _add_common(cache, "cache records go to RESULTS/cache.jsonl")
    cache.set_defaults(handler=commands.cmd_cache)

    loaders = subcommands.add_parser(
        "loaders", help="every loader x storage x Keras backend, pipeline only and end to end -> RESULTS/loaders.md"
    )
    loaders.add_argument(
        "--workload", default="imagenette", choices=file_datasets_workloads(), help="default imagenette"
    )
    loaders.add_argument("--data-dir", default=None, help=f"real data (default ${DATA_DIR_ENV}); it must hold the data")
    loaders.add_argument("--limit", type=_positive_int, default=2000, help="training images read (default 2000)")
    loaders.add_argument(
        "--batches", type=at_least_two, default=30, help="batches per loader and route, pipeline only (default 30)"
    )
    loaders.add_argument(
        "--loaders", default=None, help="comma-separated pipelines (default: every installed one that renders it)"
    )
    loaders.add_argument("--backends", default=None, help="comma-separated Keras backends (default: every installed)")
    loaders.add_argument(
        "--formats", default=None, help="record formats besides the folder (default: every installed one; '' none)"
    )
    loaders.add_argument("--no-e2e", action="store_true", help="pipeline only: skip the end-to-end training runs")
    loaders.add_argument("--force", action="store_true", help="rerun end-to-end cells that are already recorded")
    _add_common(loaders, "records go to RESULTS/loaders.jsonl and RESULTS/loaders/, the table to RESULTS/loaders.md")
    loaders.set_defaults(handler=commands.cmd_loaders)

    prepare = subcommands.add_parser(
        "prepare", help="write sharded TFRecord/ArrayRecord copies of a JPEG folder tree (train/ and val/)"
    )
    prepare.add_argument(
        "--data-dir", default=None, help=f"the tree, or a data directory holding it (default ${DATA_DIR_ENV})"
    )
    prepare.add_argument("--format", required=True, choices=record_formats(), help="record container")
    prepare.add_argument(
        "--dataset", default="imagenette", choices=file_datasets(), help="what the tree holds (default imagenette)"
    )
    prepare.add_argument(
        "--shard-size",
        type=_positive_int,
        default=DEFAULT_SHARD_SIZE,
        help=f"records per shard (default {DEFAULT_SHARD_SIZE})",
    )
    prepare.add_argument("--out", default=None, help="the prepared folder (default: the cache, named by source)")
    prepare.add_argument("--force", action="store_true", help="replace a folder holding another or a torn preparation")
    _add_verbose(prepare)
    prepare.set_defaults(handler=commands.cmd_prepare)

    report = subcommands.add_parser("report", help="table every record in RESULTS/runs.jsonl")
    _add_common(report)
    report.add_argument("--workload", default=None, help="only this workload")
    report.add_argument("--benchmarks", default=None, help="also table this pytest-benchmark JSON file")
    report.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    report.add_argument(
        "--accuracy",
        action="store_true",
        help="accuracy parity and time-to-accuracy table (accuracy.md) from RESULTS/accuracy/runs.jsonl "
        "(else RESULTS/runs.jsonl)",
    )
    report.set_defaults(handler=commands.cmd_report)

    readme = subcommands.add_parser("readme", help="rewrite README.md's generated tables from the reference records")
    readme.add_argument("--readme", default="README.md", help="the file to update (default README.md)")
    readme.add_argument("--results", default=REFERENCE_RESULTS, help="reference records (default results/)")
    _add_verbose(readme)
    readme.set_defaults(handler=commands.cmd_readme)

    cell = subcommands.add_parser("run-config")  # internal (one matrix cell): no help, so --help never lists it
    cell.add_argument("payload", help="JSON {config, run_id}")
    _add_common(cell)
    cell.set_defaults(handler=commands.cmd_run_config)

    gate = subcommands.add_parser("gate", help="CI gate: pipeline ratios and harness overhead in pytest-benchmark JSON")
    gate.add_argument("benchmark_json", nargs="+", help="files `pytest --benchmark-json=FILE` wrote")
    _add_verbose(gate)
    gate.set_defaults(handler=commands.cmd_gate)

    listing = subcommands.add_parser("list", help="name the workloads, pipelines, backends and data sources")
    _add_verbose(listing)
    listing.set_defaults(handler=commands.cmd_list)

    env = subcommands.add_parser("env", help="print the environment fingerprint")
    _add_verbose(env)
    env.set_defaults(handler=commands.cmd_env)
    subcommands.metavar = "{" + ",".join(name for name in subcommands.choices if name != "run-config") + "}"
    return parser


def _one_line_warnings(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"warning: {message}", file=sys.stderr)


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(name)s: %(message)s")
    for noisy in ("PIL", "matplotlib", "absl", "h5py"):  # their debug output buries ours under -v
        logging.getLogger(noisy).setLevel(logging.WARNING)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so every `except KeyboardInterrupt`/`finally` that cleans up after a
    Ctrl-C (the failure record, a sweep's child processes) runs for `kill`, `timeout` and schedulers too."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(signal.Signals(signum).name)


def _interrupted_line(err: KeyboardInterrupt) -> str:
    """`interrupted (failure record appended to X)` -- naming a record only when one was written (the code that
    wrote it added that note to the exception)."""
    word = "terminated" if isinstance(err, Terminated) else "interrupted"
    notes = [n for n in getattr(err, "__notes__", []) if n.startswith("failure record")]
    return f"{word} ({'; '.join(notes) if notes else 'no record written'})"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    warnings.showwarning = _one_line_warnings
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    previous_term = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return args.handler(args)
    except UserFacingError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `bench list | head`: the reader has gone; nothing left to say to it
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not raise it again
        return 0
    except KeyboardInterrupt as err:
        print(_interrupted_line(err), file=sys.stderr)
        return EXIT_TERMINATED if isinstance(err, Terminated) else EXIT_INTERRUPTED
    except Exception as err:  # a run that failed half way: its failure record is written; one line here
        if args.verbose:
            raise
        name = type(err).__name__
        hint = "; lower --batch-size" if "ResourceExhausted" in name or "out of memory" in str(err).lower() else ""
        first_line = (str(err).strip().splitlines() or [""])[0][:300]
        print(f"error: run failed ({name}: {first_line}){hint}; details with -v", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous_term)
