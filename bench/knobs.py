"""Every knob a user can turn, gathered from where each is declared, and everything derived from them.

Training knobs (and run-level input knobs such as `augment_on`) are fields of `RunConfig`; input knobs are fields
of the pipelines' options (`imgcls.pipelines.options`). This module derives the command-line flags, the split of
typed values into pipeline options and run fields, and the labels that tables and sweep cells print -- so none of
those lists a knob by hand.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from bench.config import RunConfig, run_knobs
from imgcls.errors import InvalidValue
from imgcls.options import INPUT, TRAINING, Knob, OptionError, format_value
from imgcls.pipelines import pipeline_specs


def all_knobs() -> dict[str, Knob]:
    """Every declared knob by name: the run's own, then each pipeline's (a name shared by pipelines is one knob).

    Raises:
        ValueError: two declarations of one name that differ (a knob is declared once).
    """
    knobs: dict[str, Knob] = {k.name: k for k in run_knobs()}
    for spec in pipeline_specs():
        for item in spec.knobs:
            seen = knobs.setdefault(item.name, item)
            if seen != item:
                raise ValueError(f"knob {item.name!r} is declared twice, differently (pipeline {spec.name!r})")
    return knobs


def _default_text(item: Knob) -> str:
    """`default X` for a run knob; for a pipeline knob, each preset's own default (`tfdata autotune, ...`)."""
    if item.name in {k.name for k in run_knobs()}:
        return f"default {format_value(getattr(RunConfig(), item.name))}"
    values = {spec.name: format_value(getattr(spec.preset, item.name)) for spec in pipeline_specs()
              if any(k.name == item.name for k in spec.knobs)}  # fmt: skip
    if len(set(values.values())) == 1:
        return f"{', '.join(values)}; default {next(iter(values.values()))}"
    return "default " + ", ".join(f"{name} {value}" for name, value in values.items())


def argument_type(parse: Callable[[Any], Any]) -> Callable[[str], Any]:
    """An argparse `type=` from a declared parser (`imgcls.options.positive_int`, `count`, ...): a flag is checked
    by the same function as the setting it fills, before any work starts, and fails as one line."""

    def typed(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    typed.__name__ = parse.__name__  # argparse names the type in its message
    return typed


def add_knob_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per knob; defaults are None so only what the user sets reaches the config."""
    groups = {
        TRAINING: parser.add_argument_group("training knobs"),
        INPUT: parser.add_argument_group("input knobs (pipeline options: each says which pipelines take it)"),
    }
    for item in all_knobs().values():
        # On/off knobs also work as bare flags: `--deterministic` means `--deterministic on`.
        extra = {"nargs": "?", "const": "on"} if item.is_switch() else {}
        groups[item.kind].add_argument(
            item.flag,
            dest=f"knob_{item.name}",
            default=None,
            metavar=item.metavar,
            help=f"{item.help} ({_default_text(item)})",
            **extra,
        )


def knob_values(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pipeline options, run fields) from the flags the user set, parsed."""
    return split_knobs({name: getattr(args, f"knob_{name}", None) for name in all_knobs()})


def split_knobs(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parses `{knob name: raw value}` (None = unset) into (pipeline options, run fields).

    Raises:
        OptionError: a value does not parse (names the knob); ValueError: an unknown knob name.
    """
    knobs = all_knobs()
    run_names = {k.name for k in run_knobs()}
    pipeline_options: dict[str, Any] = {}
    run_fields: dict[str, Any] = {}
    for name, raw in values.items():
        if raw is None:
            continue
        if name not in knobs:
            raise InvalidValue(f"unknown knob {name!r}; known: {', '.join(sorted(knobs))}")
        try:
            value = knobs[name].parse(raw)
        except ValueError as err:
            raise OptionError(name, str(err)) from None
        (run_fields if name in run_names else pipeline_options)[name] = value
    return pipeline_options, run_fields


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def knobs_label(knobs: dict[str, Any] | None) -> str:
    """`prefetch=off,backend=jax`, sorted, values as a user types them; `default` when nothing was changed."""
    if not knobs:
        return "default"
    return ",".join(f"{name}={format_value(value)}" for name, value in sorted(knobs.items()))
