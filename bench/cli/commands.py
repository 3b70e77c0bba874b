"""What each `python -m bench` command does, given its parsed arguments (`bench.cli.parser` parses and dispatches).

Handlers import what they need when they run: the CLI loads no framework before a run has chosen its backend.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.backends import get_backend
from bench.config import RunConfig, check
from bench.knobs import flag_of, knob_values
from bench.paths import check_results_dir
from imgcls.data import list_data_modes
from imgcls.errors import UserFacingError
from imgcls.options import OptionError
from imgcls.pipelines import get_pipeline_spec, implied_pipeline, list_pipelines
from imgcls.workloads import get_workload, list_workloads


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The run's config from the flags, checked (no framework loaded yet).

    Raises:
        UserFacingError: a bad knob value (naming its flag), a knob the pipeline does not take, a backend that is
            not installed.
    """
    try:
        pipeline_options, run_fields = knob_values(args)
        config = _config(args, pipeline_options, run_fields)
        check(config)
    except OptionError as err:  # a knob or setting whose value does not parse (a count, seed, fraction, ...)
        raise UserFacingError(f"{flag_of(err.name)}: {err.reason}") from None
    return config


def _config(args: argparse.Namespace, pipeline_options: dict, run_fields: dict) -> RunConfig:
    # `--pipeline-fn F` alone means `--pipeline user`: an option only one pipeline has selects it.
    pipeline = args.pipeline or implied_pipeline(pipeline_options) or RunConfig().pipeline
    return RunConfig(
        workload=args.workload,
        pipeline=pipeline,
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
        ceiling_steps=args.ceiling_steps,
        seed=args.seed,
        weights=args.weights,
        image_size=args.image_size,
        target_accuracy=args.target_accuracy,
        cpu_devices=args.cpu_devices,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from bench.run.runner import run_and_record

    config = config_from_args(args)
    results = check_results_dir(Path(args.results))  # before any data is loaded
    record = run_and_record(config, results)
    from bench.report.comparison import table_text

    print(table_text([json.loads(record.to_json())]))
    print(f"recorded run {record.run_id} in {results / 'runs.jsonl'} ({record.wall_sec:.1f} s)")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from bench.doctor.clinic import run_doctor
    from bench.doctor.write import summary_text

    config = config_from_args(args)
    if args.verify < 1:
        raise UserFacingError(f"--verify must be >= 1, got {args.verify}")
    results = check_results_dir(Path(args.results))  # before anything runs
    doc = run_doctor(config, results, quick=args.quick, verify=args.verify)
    print(summary_text(doc))
    print(f"wrote {results / 'doctor.md'}; record in {results / 'doctor.jsonl'}")
    return 0


def cmd_matrix(args: argparse.Namespace) -> int:
    from bench.sweep.matrix import load_sweep, run_matrix

    sweep = load_sweep(args.spec, data_dir=args.data_dir)  # every cell checked before the first one starts
    where = check_results_dir(sweep.records_dir(Path(args.results)))
    failures = run_matrix(sweep, where, force=args.force, timeout_sec=args.cell_timeout)
    how = "report --accuracy" if sweep.subfolder else "report"
    print(f"records in {where / 'runs.jsonl'}; `python -m bench {how} --results {args.results}` tables them")
    return 1 if failures else 0


def cmd_scale(args: argparse.Namespace) -> int:
    from bench.sweep.core_scaling import run_scale

    return run_scale(args, check_results_dir(Path(args.results)))


def cmd_cache(args: argparse.Namespace) -> int:
    from bench.sweep.cache_payoff import run_cache

    return run_cache(args, check_results_dir(Path(args.results)))


def cmd_loaders(args: argparse.Namespace) -> int:
    """Pipeline only (one child process per backend), then end to end (a sweep cell per loader and backend), then
    the table; every name, backend and format checked and the data found before the first process starts."""
    from bench.paths import write_text_atomically
    from bench.records import read_records
    from bench.report.loaders_table import loaders_markdown
    from bench.sweep import loaders
    from bench.sweep.matrix import run_matrix
    from imgcls.data.catalogue import get_dataset_info
    from imgcls.data.loaders import find_in_dir
    from imgcls.data.locations import DATA_DIR_ENV, default_data_dir

    results = check_results_dir(Path(args.results))
    installed = loaders.loader_names(args.workload)
    names = _names(args.loaders, installed, "--loaders", f"installed loaders that render {args.workload}")
    backends = _names(args.backends, loaders.installed_backends(), "--backends", "installed backends")
    formats = _names(args.formats, loaders.installed_formats(), "--formats", "installed record formats")
    data_dir = Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
    if data_dir is None:
        raise UserFacingError(f"bench loaders measures real data: pass --data-dir DIR (or set {DATA_DIR_ENV})")
    find_in_dir(get_dataset_info(get_workload(args.workload).dataset), data_dir)  # one line when it lacks the data
    status = loaders.run_children(args.workload, names, data_dir, args.limit, args.batches, results, backends, formats)
    if not args.no_e2e:
        sweep = loaders.end_to_end_sweep(args.workload, names, data_dir, args.limit, backends)
        status |= 1 if run_matrix(sweep, check_results_dir(sweep.records_dir(results)), force=args.force) else 0
    runs = read_records(results / loaders.LOADERS_SPEC / "runs.jsonl")
    table = results / "loaders.md"
    text = loaders_markdown(read_records(results / loaders.LOADERS_FILE), runs)
    write_text_atomically(table, text)
    print(f"wrote {table}")
    return status


def _names(given: str | None, installed: list[str], flag: str, what: str) -> list[str]:
    """A comma-separated selection, each name checked against what is installed (None: all of them)."""
    if given is None:
        return installed
    names = [n for n in given.split(",") if n]
    unknown = [n for n in names if n not in installed]
    if unknown:
        raise UserFacingError(f"{flag}: {', '.join(unknown)} not among the {what} ({', '.join(installed) or 'none'})")
    return names


def cmd_run_config(args: argparse.Namespace) -> int:
    from bench.run.runner import run_and_record

    payload = json.loads(args.payload)
    run_and_record(RunConfig.from_dict(payload["config"]), Path(args.results), run_id=payload.get("run_id"))
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    from bench.gate.rules import run_gate

    return run_gate([Path(p) for p in args.benchmark_json])


def cmd_prepare(args: argparse.Namespace) -> int:
    from bench.run.process_setup import import_tensorflow_quietly
    from imgcls.data import load_dataset
    from imgcls.data.shards import default_out, prepare_shards

    import_tensorflow_quietly()  # records are tf.train.Examples in either container
    data = load_dataset(args.dataset, "folder", args.data_dir)
    out = Path(args.out) if args.out else default_out(data, args.format)
    done = prepare_shards(data, out, args.format, args.shard_size, force=args.force, say=print)
    counts = "/".join(str(done.manifest["splits"][s]["count"]) for s in ("train", "val"))
    what = f"{args.format}, {counts} images, source hash {done.manifest['source_hash']}"
    print(f"{'prepared' if done.written else 'already prepared (nothing rewritten)'}: {out} ({what})")
    print(f"read it with --data shards --data-dir {out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    results = Path(args.results)
    if args.accuracy:
        from bench.report.accuracy_parity import build_accuracy_report

        written: list[str] = []
        print(build_accuracy_report(results, plots=not args.no_plots, written_files=written))
        print(f"\nwrote {', '.join(written)} in {results}")
        return 0
    from bench.report.document import build_report

    written: list[str] = []
    text, _ = build_report(
        results,
        workload=args.workload,
        benchmarks=Path(args.benchmarks) if args.benchmarks else None,
        plots=not args.no_plots,
        command=f"python -m bench report --results {args.results}",
        written_files=written,
    )
    print(text)
    print(f"\nwrote {', '.join(written)} in {results}")
    return 0


def cmd_readme(args: argparse.Namespace) -> int:
    from bench.report.readme_blocks import update_readme

    changed = update_readme(Path(args.readme), Path(args.results))
    print(f"{args.readme}: {'updated' if changed else 'already up to date'} from {args.results}/")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    print("workloads (default batch size, steps per epoch):")
    for name in list_workloads():
        w = get_workload(name)
        steps = f"{w.steps_per_epoch} steps" if w.steps_per_epoch else "one pass"
        print(f"  {name:18s} {w.description} (batch {w.batch_size}, {steps} per epoch)")
    print("pipelines (role):")
    for name in list_pipelines():
        spec = get_pipeline_spec(name)
        print(f"  {name:18s} [{spec.role}] {spec.description}")
    print("backends (compile paths, default first):")
    for name in ("tensorflow", "jax", "torch"):
        backend = get_backend(name)
        state = "installed" if backend.available() else f"not installed: {backend.install}"
        print(f"  {name:18s} {', '.join(backend.compile_paths)} ({state})")
    print("data sources:")
    print(f"  {', '.join(list_data_modes())}")
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    from bench.environment import environment
    from bench.run.process_setup import import_tensorflow_quietly

    import_tensorflow_quietly()
    print(json.dumps(environment(), indent=2, sort_keys=True))
    return 0
