"""Native libraries that crash a process when loaded in the wrong order, and the order that works.

PyPI's torch (2.14.1) depends on triton, torch's GPU kernel compiler. triton's native module bundles its own LLVM,
and loading it after TensorFlow's (TF 2.21) segfaults the process -- as soon as `torch._dynamo`, which torchvision
and Keras's torch backend import, asks for triton. Loaded before TensorFlow, both work. A harness that runs tf.data
beside a torch model or a torch DataLoader needs both in one process, so the package loads triton first.
"""

from __future__ import annotations

import importlib.util
import sys


def load_triton_before_tensorflow() -> str:
    """Make triton safe beside TensorFlow in this process; returns what was done (for a test to read).

    - `"absent"`: triton is not installed (torch's CPU builds, or no torch): nothing to do.
    - `"loaded"`: TensorFlow is not loaded yet, so triton is loaded now (about 0.2 s) and TensorFlow loads after it.
    - `"hidden"`: TensorFlow is already loaded, so loading triton would crash; torch is told it is not installed
      (`sys.modules["triton"] = None`), which costs nothing on the CPU and only `torch.compile`'s GPU kernels on a GPU.
    """
    if "triton" in sys.modules:
        return "hidden" if sys.modules["triton"] is None else "loaded"
    if importlib.util.find_spec("triton") is None:
        return "absent"
    if "tensorflow" in sys.modules:
        sys.modules["triton"] = None  # type: ignore[assignment]
        return "hidden"
    import triton  # noqa: F401

    return "loaded"
