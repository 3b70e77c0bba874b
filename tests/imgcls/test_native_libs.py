"""TensorFlow, torchvision and torch's compiler in one process: importing imgcls first (or after TensorFlow) keeps
the process alive where triton's LLVM would otherwise segfault it beside TensorFlow's."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

needs_triton = pytest.mark.skipif(
    importlib.util.find_spec("triton") is None or importlib.util.find_spec("torch") is None,
    reason="triton is not installed (torch's CPU builds do without it): nothing can crash",
)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # two fresh interpreters importing TensorFlow and torch: ~15 s each
@needs_triton
@pytest.mark.parametrize(
    ("code", "action"),
    [
        ("import imgcls, tensorflow, torch._dynamo", "loaded"),  # the harness's order: triton goes first
        ("import tensorflow, imgcls, torch._dynamo", "hidden"),  # TensorFlow came first: torch goes without triton
    ],
    ids=["imgcls-first", "tensorflow-first"],
)
def test_torch_compiler_loads_beside_tensorflow(code: str, action: str) -> None:
    completed = _run(f"{code}; from imgcls.native_libs import load_triton_before_tensorflow as f; print(f())")
    assert completed.returncode == 0, f"exit {completed.returncode}: {completed.stderr[-500:]}"
    assert completed.stdout.strip().splitlines()[-1] == action
