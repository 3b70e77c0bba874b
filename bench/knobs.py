"""Knobs: every switch a user can turn, declared once. The CLI flags, the run config and the sweep specs use this.

A knob either sets a pipeline option (passed to `build_pipeline(name, **options)`; an option the pipeline does
not have is a one-line error naming its options) or a field of `RunConfig` (training knobs: mixed precision, XLA,
steps per execution). Values are parsed from the words a user types: `off`, `autotune`, numbers, `on`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from imgcls.registry import Registry

AUTOTUNE = -1


def parse_off_int_autotune(text: str | int | None) -> int | None:
    """`off` -> None, `autotune` -> -1 (tf.data.AUTOTUNE), `N` -> N >= 1."""
    if text is None or text == "off":
        return None
    if text in ("autotune", AUTOTUNE):
        return AUTOTUNE
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise ValueError(f"expected off, autotune or a positive integer, got {text!r}") from None
    if value < 1:
        raise ValueError(f"expected off, autotune or a positive integer, got {value}")
    return value


def parse_off_int(text: str | int | None) -> int | None:
    if text is None or text == "off":
        return None
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise ValueError(f"expected off or a positive integer, got {text!r}") from None
    if value < 1:
        raise ValueError(f"expected off or a positive integer, got {value}")
    return value


def parse_positive_int(text: str | int) -> int:
    value = parse_off_int(text)
    if value is None:
        raise ValueError(f"expected a positive integer, got {text!r}")
    return value


def parse_bool(text: str | bool) -> bool:
    if isinstance(text, bool):
        return text
    if text.lower() in ("on", "true", "yes", "1"):
        return True
    if text.lower() in ("off", "false", "no", "0"):
        return False
    raise ValueError(f"expected on or off, got {text!r}")


def parse_choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {text!r}")
        return text

    return parse


@dataclass(frozen=True)
class Knob:
    """One switch: its name (option or RunConfig field), how to parse it, and what it does."""

    name: str
    parse: Callable[[Any], Any]
    help: str
    target: str = "pipeline"  # pipeline | run
    metavar: str = "VALUE"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


_KNOBS: Registry[Knob] = Registry("knob")


def register_knob(knob: Knob) -> Knob:
    return _KNOBS.register(knob.name, knob)


def get_knob(name: str) -> Knob:
    return _KNOBS.get(name)


def list_knobs() -> list[Knob]:
    return _KNOBS.values()


for _knob in (
    # tf.data input knobs (options of the tfdata pipelines)
    Knob("map_parallel", parse_off_int_autotune, "parallel map calls: off | N | autotune", metavar="off|N|autotune"),
    Knob("prefetch", parse_off_int_autotune, "prefetch buffer: off | N | autotune", metavar="off|N|autotune"),
    Knob("cache", parse_choice("off", "memory", "file"), "cache decoded data: off | memory | file", metavar="MODE"),
    Knob("cache_at", parse_choice("decode", "augment"), "where the cache sits: decode | augment", metavar="STAGE"),
    Knob("interleave_cycle", parse_off_int, "file inputs: read through interleave with this cycle length (off)"),
    Knob("interleave_parallel", parse_off_int_autotune, "interleave parallel calls: off | N | autotune"),
    Knob("deterministic", parse_bool, "keep element order under parallelism: on | off", metavar="on|off"),
    Knob("vectorize", parse_bool, "augment per batch (on) or per image (off)", metavar="on|off"),
    Knob("shuffle_buffer", parse_positive_int, "shuffle buffer size (elements)", metavar="N"),
    Knob("private_threadpool", parse_off_int, "tf.data private threadpool size (off = shared pool)"),
    Knob("max_intra_op", parse_off_int, "tf.data max intra-op parallelism (off = default)"),
    Knob("autotune_ram_budget_mb", parse_off_int, "tf.data autotune RAM budget in MB (off = default)"),
    Knob("autotune_cpu_budget", parse_off_int, "tf.data autotune CPU budget in cores (off = all)"),
    # tf.data service (tfdata-service pipeline)
    Knob("service", str, "tfdata-service: local:N (N workers on loopback) or grpc://HOST:PORT", metavar="ADDR"),
    Knob(
        "processing_mode",
        parse_choice("parallel_epochs", "distributed_epoch"),
        "tfdata-service: parallel_epochs | distributed_epoch",
        metavar="MODE",
    ),
    Knob(
        "sharding",
        parse_choice("off", "dynamic", "file", "data", "file_or_data", "hint"),
        "tfdata-service sharding policy (default: follows the processing mode)",
        metavar="POLICY",
    ),
    Knob("compression", parse_choice("auto", "none"), "tfdata-service compression: auto | none", metavar="auto|none"),
    # ImageDataGenerator
    Knob("workers", parse_positive_int, "idg: Keras PyDataset worker threads (1 = synchronous)", metavar="N"),
    # training knobs (RunConfig fields)
    Knob(
        "mixed_precision",
        parse_choice("off", "float16", "bfloat16"),
        "Keras dtype policy mixed_<dtype>: off | float16 | bfloat16",
        target="run",
        metavar="off|float16|bfloat16",
    ),
    Knob("xla", parse_bool, "compile the train step with XLA (Keras jit_compile): on | off", "run", "on|off"),
    Knob("steps_per_execution", parse_positive_int, "train steps per tf.function call", "run", "N"),
    Knob(
        "strategy",
        parse_choice("default", "mirrored", "multi-worker"),
        "tf.distribute strategy: default | mirrored (all local GPUs, or the CPU's logical devices) | multi-worker",
        "run",
        "NAME",
    ),
):
    register_knob(_knob)


def add_knob_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per knob; defaults are None so only what the user sets reaches the config."""
    group = parser.add_argument_group("knobs (tf.data options apply to tfdata pipelines; see `bench list`)")
    for knob in list_knobs():
        # On/off knobs also work as bare flags: `--deterministic` means `--deterministic on`.
        extra = {"nargs": "?", "const": "on"} if knob.parse is parse_bool else {}
        group.add_argument(
            knob.flag, dest=f"knob_{knob.name}", default=None, metavar=knob.metavar, help=knob.help, **extra
        )


def knob_values(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parsed (pipeline options, run fields) from the flags the user set.

    Raises:
        ValueError: a value does not parse; the message names the flag.
    """
    return split_knobs({k.name: getattr(args, f"knob_{k.name}") for k in list_knobs()})


def split_knobs(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parses `{knob name: raw value}` (None = unset) into (pipeline options, run fields)."""
    pipeline_options: dict[str, Any] = {}
    run_fields: dict[str, Any] = {}
    for name, raw in values.items():
        if raw is None:
            continue
        knob = get_knob(name)
        try:
            value = knob.parse(raw)
        except ValueError as err:
            raise ValueError(f"{knob.flag}: {err}") from None
        (pipeline_options if knob.target == "pipeline" else run_fields)[name] = value
    return pipeline_options, run_fields
