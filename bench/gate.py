"""The CI regression gate: ratios between pipelines measured side by side in one pytest-benchmark run, and the
harness's overhead over a plain `model.fit` per Keras backend.

Absolute times on a shared 2-core machine swing by tens of percent from run to run; the *ratio* of two pipelines
measured minutes apart in the same process is far steadier. Each gate says: on an input kind, the pipeline with
one role must be at least `min_ratio` times as fast as the pipeline with another (`tuned` and `naive` candidates,
the `baseline`). The margins sit under the ratios measured on the reference machine (see results/README.md), so a
gate fails on a real regression (a knob silently lost, a pipeline made sequential), not on noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.benchjson import BenchmarkResult, read_benchmarks
from imgcls.errors import UserFacingError
from imgcls.pipelines import BASELINE, pipelines_with_role

OVERHEAD_GROUP = "harness overhead"
MAX_OVERHEAD = 0.05  # the harness's ceiling within 5% of a plain model.fit, per backend


@dataclass(frozen=True)
class Gate:
    name: str
    input_kind: str
    faster: str  # a role or tuning: tuned, naive, baseline
    slower: str
    min_ratio: float


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    ratio: float | None  # None when a side is missing from the run
    passed: bool

    def line(self) -> str:
        g = self.gate
        measured = "missing" if self.ratio is None else f"{self.ratio:.2f}x"
        verdict = "PASS" if self.passed else "FAIL"
        return f"{verdict}  {g.name}: {g.faster}/{g.slower} on {g.input_kind} = {measured} (needs >= {g.min_ratio}x)"


GATES = (
    Gate("tf.data optimisations pay on arrays", "arrays", "tuned", "naive", 2.0),
    Gate("tf.data beats ImageDataGenerator on JPEG", "jpeg", "tuned", BASELINE, 2.5),
    Gate("tf.data beats ImageDataGenerator on arrays", "arrays", "tuned", BASELINE, 2.0),
)


def rates_by_pipeline(results: list[BenchmarkResult]) -> dict[tuple[str, str], float]:
    """`{(input_kind, pipeline): images/s}` of the pipeline-only benchmarks."""
    rates: dict[tuple[str, str], float] = {}
    for result in results:
        info = result.extra_info
        if "input_kind" in info and result.images_per_sec and not result.group.startswith("end"):
            rates[(info["input_kind"], info["pipeline"])] = result.images_per_sec
    return rates


def rates_from_benchmark_json(path: Path) -> dict[tuple[str, str], float]:
    return rates_by_pipeline(read_benchmarks(path)[0])


def _rate(rates: dict[tuple[str, str], float], kind: str, role: str) -> float | None:
    names = pipelines_with_role(role)
    found = [rates[(kind, name)] for name in names if (kind, name) in rates]
    return found[0] if found else None


def check_gates(rates: dict[tuple[str, str], float], gates: tuple[Gate, ...] = GATES) -> list[GateResult]:
    results = []
    for gate in gates:
        fast, slow = _rate(rates, gate.input_kind, gate.faster), _rate(rates, gate.input_kind, gate.slower)
        ratio = fast / slow if fast and slow else None
        results.append(GateResult(gate, ratio, ratio is not None and ratio >= gate.min_ratio))
    return results


def harness_overheads(results: list[BenchmarkResult]) -> dict[str, float]:
    """Per backend: median fit time through the harness over a plain `model.fit`, minus 1."""
    medians: dict[str, dict[str, float]] = {}
    for result in results:
        if result.group.startswith(OVERHEAD_GROUP):
            backend = result.extra_info.get("backend", "tensorflow")
            medians.setdefault(backend, {})[result.extra_info.get("callbacks")] = result.median_sec
    return {
        backend: sides["harness"] / sides["bare"] - 1.0
        for backend, sides in medians.items()
        if "bare" in sides and "harness" in sides
    }


def run_gate(paths: list[Path]) -> int:
    """Prints every gate's verdict and each backend's harness overhead; 1 when any fails."""
    results: list[BenchmarkResult] = []
    for path in paths:
        if not path.is_file():
            raise UserFacingError(f"no benchmark file {path}; run pytest tests/benchmarks --benchmark-json={path}")
        results += read_benchmarks(path)[0]
    verdicts = check_gates(rates_by_pipeline(results)) if rates_by_pipeline(results) else []
    for verdict in verdicts:
        print(verdict.line())
    failed = sum(not v.passed for v in verdicts)
    for backend, overhead in sorted(harness_overheads(results).items()):
        ok = overhead <= MAX_OVERHEAD
        failed += not ok
        print(
            f"{'PASS' if ok else 'FAIL'}  harness overhead on {backend}: {overhead:+.2%} of a plain model.fit "
            f"(needs <= {MAX_OVERHEAD:.0%})"
        )
    print(f"gate: {failed} failed")
    return 1 if failed else 0
