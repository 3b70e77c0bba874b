"""Knobs: a setting declared once, as a field of an options dataclass.

A knob is a dataclass field made with `knob(...)`: its default, how a typed word (`off`, `autotune`, `4`, `on`)
becomes a value, how a value prints back (in tables, labels and `--help`), its help text, and whether it shapes the
*input* (a pipeline option) or the *training* (a run setting). Everything else -- command-line flags, validation,
table labels, sweep cell labels, resume keys -- is derived from these declarations, so adding a knob is one field
plus the code that uses it.

Parsers are idempotent (a parsed value parses to itself), so the same function validates a word from the command
line, a value from a TOML spec and a value already stored in a dataclass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from imgcls.errors import InvalidValue

AUTOTUNE = -1  # tf.data.AUTOTUNE, spelled out so options serialise as plain ints and need no TensorFlow import

INPUT = "input"
TRAINING = "training"


class OptionError(InvalidValue):
    """A knob value that does not parse; `name` is the knob, so a caller can name its own flag or key."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"`{name}`: {message}")
        self.name = name
        self.reason = message


# ---- parsers: word or value -> value (ValueError with a short reason) ---------------------------------------------
def off_int_autotune(value: Any) -> int | None:
    """`off`/None -> None, `autotune`/-1 -> AUTOTUNE, `N` -> N >= 1."""
    if value in ("autotune", AUTOTUNE) and not isinstance(value, bool):
        return AUTOTUNE
    return off_int(value, expected="off, autotune or a positive integer")


def off_int(value: Any, expected: str = "off or a positive integer") -> int | None:
    """`off`/None -> None, `N` -> N >= 1."""
    if value is None or value == "off":
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected {expected}, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected {expected}, got {value!r}") from None
    if number < 1 or (isinstance(value, float) and value != number):
        raise ValueError(f"expected {expected}, got {value!r}")
    return number


def positive_int(value: Any) -> int:
    number = off_int(value, expected="a positive integer")
    if number is None:
        raise ValueError(f"expected a positive integer, got {value!r}")
    return number


def count(value: Any) -> int:
    """`N` -> N >= 0 (0 usually means "skip")."""
    if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
        raise ValueError(f"expected 0 or a positive integer, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"expected 0 or a positive integer, got {value!r}") from None
    if number < 0:
        raise ValueError(f"expected 0 or a positive integer, got {value!r}")
    return number


def at_least(minimum: int) -> Callable[[Any], int]:
    """`N` -> N >= `minimum` (a count that needs more than one, e.g. a first batch timed apart from the rest)."""

    def parse(value: Any) -> int:
        number = count(value) if not isinstance(value, str) or value.strip().isdigit() else -1
        if number < minimum:
            raise ValueError(f"expected an integer >= {minimum}, got {value!r}")
        return number

    parse.__name__ = f"at_least_{minimum}"
    return parse


SEED_LIMIT = 2**32  # NumPy's legacy seed, which Keras's set_random_seed also sets, takes 0 .. 2**32 - 1


def random_seed(value: Any) -> int:
    """`N` -> 0 <= N < 2**32 (every generator the run seeds takes it)."""
    try:
        number = count(value)
    except ValueError:
        number = -1
    if not 0 <= number < SEED_LIMIT:
        raise ValueError(f"expected an integer from 0 to {SEED_LIMIT - 1}, got {value!r}")
    return number


def fraction(value: Any) -> float:
    """`x` -> 0 < x <= 1 (an accuracy); NaN and infinities are refused."""
    try:
        number = float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        number = float("nan")
    if not 0.0 < number <= 1.0:  # also false for NaN
        raise ValueError(f"expected a fraction above 0 and at most 1, got {value!r}")
    return number


def optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """None (unset: the caller's default applies) or a value `parse` accepts."""

    def parse_optional(value: Any) -> Any:
        return None if value is None else parse(value)

    return parse_optional


def on_off(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("on", "true", "yes", "1"):
        return True
    if str(value).lower() in ("off", "false", "no", "0"):
        return False
    raise ValueError(f"expected on or off, got {value!r}")


def one_of(*choices: str | None) -> Callable[[Any], str | None]:
    words = tuple(c for c in choices if c is not None)

    def parse(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(words)}, got {value!r}")
        return value

    # For --help and the metavar; None (when allowed) means "unset" and is not a word a user types.
    parse.choices = words  # type: ignore[attr-defined]
    return parse


def word(value: Any) -> str:
    """Any non-empty text (validated by the code that uses it)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty word, got {value!r}")
    return value


def format_value(value: Any) -> str:
    """How a knob value prints: the word a user types for it (`off`, `autotune`, `on`, `4`)."""
    if value is None:
        return "off"
    if isinstance(value, bool):
        return "on" if value else "off"
    if value == AUTOTUNE and isinstance(value, int):
        return "autotune"
    return str(value)


# ---- the declaration ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Knob:
    """What the rest of the program knows about one knob (its `name` is the field's name)."""

    name: str
    parse: Callable[[Any], Any]
    help: str
    kind: str  # INPUT | TRAINING
    metavar: str = "VALUE"
    shapes_model: bool = False  # changes what one training step computes (every training knob; some input ones)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def choices(self) -> Sequence[str] | None:
        return getattr(self.parse, "choices", None)

    def format(self, value: Any) -> str:
        return format_value(value)

    def is_switch(self) -> bool:
        """An on/off knob: a bare `--flag` means `--flag on`."""
        return self.parse is on_off


_METADATA_KEY = "imgcls.knob"


def knob(
    default: Any,
    parse: Callable[[Any], Any],
    help: str,  # noqa: A002  (argparse's word)
    *,
    kind: str = INPUT,
    metavar: str | None = None,
    shapes_model: bool = False,
) -> Any:
    """A dataclass field that is a knob. Use in an options dataclass whose `__post_init__` calls `validate`.

    `shapes_model`: the knob changes the work of a training step (always true of training knobs), so a model-alone
    ceiling is only comparable between runs that agree on it.
    """
    if kind not in (INPUT, TRAINING):
        raise ValueError(f"knob kind must be {INPUT!r} or {TRAINING!r}, got {kind!r}")
    choices = getattr(parse, "choices", None)
    meta = metavar or ("|".join(choices) if choices else "on|off" if parse is on_off else "VALUE")
    # The name is filled in by `knobs_of` (a field does not know its name when it is made).
    declared = Knob("", parse, help, kind, meta, shapes_model=shapes_model or kind == TRAINING)
    return dataclasses.field(default=default, metadata={_METADATA_KEY: declared})


_SETTING_KEY = "imgcls.setting"


def setting(default: Any, parse: Callable[[Any], Any]) -> Any:
    """A dataclass field that is not a knob (no flag of its own, no table label) but is parsed like one by
    `validate`: a count, a seed or a fraction is checked where it is declared, so every command and every spec
    gets the same check before any work starts."""
    return dataclasses.field(default=default, metadata={_SETTING_KEY: parse})


def _settings_of(options: Any) -> list[tuple[str, Callable[[Any], Any]]]:
    return [(f.name, f.metadata[_SETTING_KEY]) for f in dataclasses.fields(options) if _SETTING_KEY in f.metadata]


def knobs_of(options_type: type) -> list[Knob]:
    """The knobs an options dataclass (class or instance) declares, in field order."""
    return [
        dataclasses.replace(f.metadata[_METADATA_KEY], name=f.name)
        for f in dataclasses.fields(options_type)
        if _METADATA_KEY in f.metadata
    ]


def validate(options: Any) -> None:
    """Parses every knob and setting field of a frozen dataclass in place (call from `__post_init__`).

    Raises:
        OptionError: a value does not parse; names the knob.
    """
    parsers = [(item.name, item.parse) for item in knobs_of(options)] + _settings_of(options)
    for name, parse in parsers:
        try:
            value = parse(getattr(options, name))
        except ValueError as err:
            raise OptionError(name, str(err)) from None
        object.__setattr__(options, name, value)


def changed(options: Any, reference: Any) -> dict[str, Any]:
    """The knob values of `options` that differ from `reference` (same dataclass type), in field order."""
    return {
        item.name: getattr(options, item.name)
        for item in knobs_of(options)
        if getattr(options, item.name) != getattr(reference, item.name)
    }


def replace_options(options: Any, overrides: dict[str, Any], owner: str) -> Any:
    """`dataclasses.replace` with an error naming `owner` and its knobs for an unknown name.

    Raises:
        ValueError: a name that is not a field; OptionError: a value that does not parse.
    """
    known = {f.name for f in dataclasses.fields(options)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        names = ", ".join(sorted(known))
        raise InvalidValue(f"{owner} has no option {', '.join(unknown)}; its options: {names}")
    return dataclasses.replace(options, **overrides)
