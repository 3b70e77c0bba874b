"""Host peak RSS and an NVML sampler thread (device memory and utilisation); each backend's allocator peak is
read by `bench.backends`.

Without a GPU every GPU field is `None` and the reason says why; a metadata lookup never fails a run.
"""

from __future__ import annotations

import logging
import resource
import sys
import threading
from dataclasses import dataclass

logger = logging.getLogger(__name__)


def peak_host_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


@dataclass
class NvmlStats:
    device_mem_peak_mb: float | None = None
    util_peak_pct: float | None = None
    util_mean_pct: float | None = None
    samples: int = 0
    reason: str | None = None  # why the fields are None


class NvmlSampler:
    """Samples device memory used and GPU utilisation of GPU 0 every `interval_sec` in a daemon thread.

    Use as a context manager around the steady state. Without NVML or a GPU, `stats.reason` says why.
    """

    def __init__(self, interval_sec: float = 0.1) -> None:
        self.interval_sec = interval_sec
        self.stats = NvmlStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handle = None
        self._mem: list[float] = []
        self._util: list[float] = []

    def __enter__(self) -> NvmlSampler:
        try:
            import pynvml

            pynvml.nvmlInit()
            if pynvml.nvmlDeviceGetCount() == 0:
                self.stats.reason = "NVML found no GPU"
                return self
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        except Exception as err:  # no driver, no library: not an error for a CPU run
            self.stats.reason = f"no NVML ({type(err).__name__})"
            return self
        self._thread = threading.Thread(target=self._loop, name="nvml-sampler", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        import pynvml

        while not self._stop.is_set():
            try:
                self._mem.append(pynvml.nvmlDeviceGetMemoryInfo(self._handle).used / 2**20)
                self._util.append(float(pynvml.nvmlDeviceGetUtilizationRates(self._handle).gpu))
            except Exception as err:
                self.stats.reason = f"NVML sampling failed ({type(err).__name__})"
                return
            self._stop.wait(self.interval_sec)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._mem:
            self.stats.device_mem_peak_mb = max(self._mem)
            self.stats.util_peak_pct = max(self._util)
            self.stats.util_mean_pct = sum(self._util) / len(self._util)
            self.stats.samples = len(self._mem)
