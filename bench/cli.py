"""`python -m bench run | report | list | env`.

`build_parser()` stands apart so tests call `main([...])`. This module turns the argparse Namespace into a
`RunConfig`; nothing else sees argparse. Bad input exits 2 with one line, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from pathlib import Path

# Quiet TF's C++ start-up chatter before TensorFlow is imported anywhere; the user sees our lines.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.knobs import add_knob_arguments, knob_values  # noqa: E402
from imgcls.data.sources import DATA_DIR_ENV, list_data_modes  # noqa: E402
from imgcls.errors import UserFacingError  # noqa: E402
from imgcls.pipelines import list_pipelines  # noqa: E402
from imgcls.workloads import get_workload, list_workloads  # noqa: E402

EXIT_USAGE = 2
DEFAULT_RESULTS = "results"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workload", default="mnist", choices=list_workloads(), help="what to train (default mnist)")
    parser.add_argument("--pipeline", default="tfdata", choices=list_pipelines(), help="input pipeline")
    parser.add_argument(
        "--data",
        default="auto",
        choices=list_data_modes(),
        help="data source; auto = data dir, then Keras/tfds caches, then generated (labelled)",
    )
    parser.add_argument("--data-dir", default=None, help=f"a data directory (default ${DATA_DIR_ENV})")
    parser.add_argument("--augment", default="seed", choices=["seed", "none"], help="augmentation spec")
    parser.add_argument("--epochs", type=_positive_int, default=None, help="epochs (workload default)")
    parser.add_argument("--steps", type=_positive_int, default=None, help="steps per epoch (default: one pass)")
    parser.add_argument("--batch-size", type=_positive_int, default=None, help="batch size (workload default)")
    parser.add_argument("--warmup-steps", type=int, default=5, help="steps left out of the steady state")
    parser.add_argument("--pipeline-batches", type=_positive_int, default=20, help="batches timed pipeline-only")
    parser.add_argument("--limit", type=_positive_int, default=None, help="use only the first N training examples")
    parser.add_argument("--limit-test", type=_positive_int, default=None, help="use only the first N test examples")
    parser.add_argument("--seed", type=int, default=0, help="seeds Python, NumPy and TF")
    parser.add_argument(
        "--target-accuracy", type=float, default=None, help="time-to-accuracy target (workload default)"
    )
    parser.add_argument("--weights", default=None, help="imagenette-vgg16 only: imagenet | none | PATH to an .h5 file")
    parser.add_argument(
        "--image-size", type=_positive_int, default=None, help="square image size override (file inputs only)"
    )
    parser.add_argument("--gpu-mem-growth", action="store_true", help="allocate GPU memory as needed")
    parser.add_argument(
        "--cpu-devices", type=_positive_int, default=None, help="split the CPU into N logical devices (mirrored)"
    )
    parser.add_argument("--results", default=DEFAULT_RESULTS, help="results folder (default results/)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="train one workload through one pipeline and record it")
    _add_run_arguments(run)
    add_knob_arguments(run)
    run.set_defaults(handler=cmd_run)

    report = commands.add_parser("report", help="table every record in results/runs.jsonl")
    report.add_argument("--results", default=DEFAULT_RESULTS, help="results folder (default results/)")
    report.add_argument("--workload", default=None, help="only this workload")
    report.add_argument("--benchmarks", default=None, help="also table this pytest-benchmark JSON file")
    report.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    report.add_argument(
        "--accuracy",
        action="store_true",
        help="accuracy parity and time-to-accuracy table (accuracy.md) from RESULTS/accuracy/runs.jsonl "
        "(else RESULTS/runs.jsonl)",
    )
    report.set_defaults(handler=cmd_report)

    matrix = commands.add_parser("matrix", help="run a TOML sweep, each cell in a fresh process (resumable)")
    matrix.add_argument("spec", help="a spec file, or a shipped spec name: quick, full, accuracy")
    matrix.add_argument("--results", default=DEFAULT_RESULTS, help="results folder (default results/)")
    matrix.add_argument("--data-dir", default=None, help=f"data directory for every cell (default ${DATA_DIR_ENV})")
    matrix.add_argument("--force", action="store_true", help="rerun cells that are already recorded")
    matrix.add_argument("--cell-timeout", type=float, default=3600, help="seconds before a cell is killed")
    matrix.set_defaults(handler=cmd_matrix)

    cell = commands.add_parser("run-config", help=argparse.SUPPRESS)  # internal: one matrix cell
    cell.add_argument("payload", help="JSON {config, run_id}")
    cell.add_argument("--results", default=DEFAULT_RESULTS)
    cell.set_defaults(handler=cmd_run_config)

    gate = commands.add_parser("gate", help="CI gate: pipeline ratios in a pytest-benchmark JSON file")
    gate.add_argument("benchmark_json", help="the file `pytest --benchmark-json=FILE` wrote")
    gate.set_defaults(handler=cmd_gate)

    listing = commands.add_parser("list", help="name the workloads, pipelines and data sources")
    listing.set_defaults(handler=cmd_list)

    env = commands.add_parser("env", help="print the environment fingerprint")
    env.set_defaults(handler=cmd_env)
    return parser


def config_from_args(args: argparse.Namespace):  # -> RunConfig (imported lazily: it pulls in TF)
    from bench.runner import RunConfig

    if args.weights is not None and "weights" not in get_workload(args.workload).model_kwargs:
        raise UserFacingError(f"--weights applies to imagenette-vgg16 only, not {args.workload}")
    pipeline_options, run_fields = knob_values(args)
    return RunConfig(
        workload=args.workload,
        pipeline=args.pipeline,
        pipeline_options=pipeline_options,
        **run_fields,
        data=args.data,
        data_dir=args.data_dir,
        limit_train=args.limit,
        limit_test=args.limit_test,
        augment=args.augment,
        batch_size=args.batch_size,
        epochs=args.epochs,
        steps_per_epoch=args.steps,
        warmup_steps=args.warmup_steps,
        pipeline_batches=args.pipeline_batches,
        seed=args.seed,
        weights=args.weights,
        image_size=args.image_size,
        target_accuracy=args.target_accuracy,
        cpu_devices=args.cpu_devices,
        gpu_mem_growth=args.gpu_mem_growth,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from bench.report import table_text
    from bench.runner import run_and_record

    config = config_from_args(args)
    results = Path(args.results)
    record = run_and_record(config, results)
    print(table_text([json.loads(record.to_json())]))
    print(f"recorded run {record.run_id} in {results / 'runs.jsonl'} ({record.wall_sec:.1f} s)")
    return 0


def cmd_matrix(args: argparse.Namespace) -> int:
    from bench.matrix import records_dir, run_matrix
    from bench.records import ACCURACY_SUBFOLDER

    failures = run_matrix(
        args.spec, Path(args.results), force=args.force, data_dir=args.data_dir, timeout_sec=args.cell_timeout
    )
    where = records_dir(args.spec, Path(args.results))
    how = "report --accuracy" if where.name == ACCURACY_SUBFOLDER else "report"
    print(f"records in {where / 'runs.jsonl'}; `python -m bench {how}` tables them")
    return 1 if failures else 0


def cmd_run_config(args: argparse.Namespace) -> int:
    from bench.runner import RunConfig, run_and_record

    payload = json.loads(args.payload)
    run_and_record(RunConfig(**payload["config"]), Path(args.results), run_id=payload.get("run_id"))
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    from bench.gate import check_gates, harness_overhead, rates_from_benchmark_json

    path = Path(args.benchmark_json)
    if not path.is_file():
        raise FileNotFoundError(f"no benchmark file {path}; run pytest tests/benchmarks --benchmark-json={path}")
    results = check_gates(rates_from_benchmark_json(path))
    for result in results:
        print(result.line())
    failed = [r for r in results if not r.passed]
    overhead = harness_overhead(path)
    if overhead is not None:
        print(f"info  harness overhead (step timer + progress line): {overhead:+.2%} of fit time (target < 1%)")
    print(f"gate: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def cmd_report(args: argparse.Namespace) -> int:
    from bench.report import build_report

    if args.accuracy:
        from bench.accuracy_report import build_accuracy_report

        print(build_accuracy_report(Path(args.results), plots=not args.no_plots))
        print(f"\nwrote {Path(args.results) / 'accuracy.md'}, accuracy.csv and accuracy_vs_time.png")
        return 0
    text, _ = build_report(
        Path(args.results),
        workload=args.workload,
        benchmarks=Path(args.benchmarks) if args.benchmarks else None,
        plots=not args.no_plots,
    )
    print(text)
    print(f"\nwrote {Path(args.results) / 'README.md'}, report.csv and plots")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    print("workloads:")
    for name in list_workloads():
        print(f"  {name:18s} {get_workload(name).description}")
    print("pipelines:")
    for name in list_pipelines():
        print(f"  {name}")
    print("data sources:")
    print(f"  {', '.join(list_data_modes())}")
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    from bench.records import environment

    print(json.dumps(environment(), indent=2, sort_keys=True))
    return 0


def _one_line_warnings(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    warnings.showwarning = _one_line_warnings
    try:
        return args.handler(args)
    except (UserFacingError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted (a failure record was written)", file=sys.stderr)
        return 130
    except Exception as err:  # a run that failed half way: its failure record is written; one line here
        if args.verbose:
            raise
        name = type(err).__name__
        hint = "; lower --batch-size" if "ResourceExhausted" in name or "out of memory" in str(err).lower() else ""
        first_line = (str(err).strip().splitlines() or [""])[0][:300]
        print(f"error: run failed ({name}: {first_line}){hint}; details with --verbose", file=sys.stderr)
        return 1
