"""The user's own code: `package.module:function` references, imported from the current directory or PYTHONPATH.

A user brings a model builder or a pipeline function as a dotted reference. Its syntax is checked without importing
anything (a sweep's parent process and the CLI check it before a framework loads); the import itself happens when
the run builds its model or pipeline, and any failure there -- no such module, an exception while importing, no
such attribute, not callable -- is one line naming the reference (`UserCodeError`), never the user's traceback.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imgcls.errors import UserFacingError

_REFERENCE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


class UserCodeError(UserFacingError):
    """The user's module or function cannot be imported or called, or returns the wrong thing; names it."""


def is_reference(text: str) -> bool:
    """Whether `text` reads as `package.module:function` (nothing imported)."""
    return bool(_REFERENCE.match(text))


def check_reference(text: Any, what: str) -> str:
    """`text` when it is a `package.module:function` reference.

    Raises:
        ValueError: anything else (the knob parsers turn it into a one-line error naming the flag).
    """
    if not isinstance(text, str) or not is_reference(text):
        raise ValueError(f"expected {what} as package.module:function, got {text!r}")
    return text


def import_callable(reference: str) -> Callable[..., Any]:
    """The function `reference` names, imported with the current directory first on the path.

    Raises:
        UserCodeError: the module does not import (its own error, first line), has no such attribute, or the
            attribute is not callable.
    """
    module_name, _, attribute = check_reference(reference, "a function").partition(":")
    cwd = str(Path.cwd())
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)  # `python -m bench` from the user's project: their modules import as in a script
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as err:  # noqa: BLE001 - the user's import error, whatever it is, in one line
        text = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise UserCodeError(f"{reference}: cannot import {module_name} ({type(err).__name__}: {text})") from err
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise UserCodeError(f"{reference}: {module_name} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise UserCodeError(f"{reference}: {attribute} is a {type(target).__name__}, not a function")
    return target


def call_with_known(fn: Callable[..., Any], reference: str, **available: Any) -> Any:
    """Calls `fn` with those of `available` its signature names (all of them when it takes `**kwargs`).

    Raises:
        UserCodeError: the call raised; names the function and the error's first line.
    """
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature: call it bare
        parameters = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    kwargs = {k: v for k, v in available.items() if takes_any or k in parameters}
    try:
        return fn(**kwargs)
    except UserFacingError:
        raise
    except Exception as err:  # noqa: BLE001 - the user's error, in one line naming their function
        text = (str(err).strip().splitlines() or [""])[0][:300]
        raise UserCodeError(f"{reference} raised {type(err).__name__}: {text}") from err
