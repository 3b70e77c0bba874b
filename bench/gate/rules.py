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

from bench.gate.cases import DECODE_ONLY
from bench.report.benchmark_json import BenchmarkResult, read_benchmarks
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


# Margins under the ratios measured on the reference 2-core machine (results/README.md, pytest-benchmark table):
# each catches a named fault that a test injects (tests/gate/test_rules.py).
GATES = (
    Gate("tf.data optimisations pay on arrays", "arrays", "tuned", "naive", 2.0),
    Gate("tf.data beats ImageDataGenerator on arrays", "arrays", "tuned", BASELINE, 2.0),
    Gate("tf.data beats ImageDataGenerator on JPEG, same work on the host", "jpeg", "tuned", BASELINE, 1.8),
    Gate(
        "tf.data feeds 7x ImageDataGenerator on JPEG, augmenting on the device", "jpeg", "tuned@device", BASELINE, 7.0
    ),
    Gate("tf.data on the device reaches the JPEG decode limit", "jpeg", "tuned@device", DECODE_ONLY, 0.6),
)
MIN_OVERLAP = 0.75  # input ready when a model step ends: the overlap benchmark's rate / the consumer's own rate


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


def _rate(rates: dict[tuple[str, str], float], kind: str, side: str) -> float | None:
    """The rate of a gate side: a role or tuning (`tuned`, `naive`, `baseline`), optionally `@device`, or a
    literal row such as `decode-only`."""
    role, at, place = side.partition("@")
    names = pipelines_with_role(role) if role != DECODE_ONLY else [DECODE_ONLY]
    found = [rates[(kind, name + at + place)] for name in names if (kind, name + at + place) in rates]
    return found[0] if found else None


def check_gates(rates: dict[tuple[str, str], float], gates: tuple[Gate, ...] = GATES) -> list[GateResult]:
    results = []
    for gate in gates:
        fast, slow = _rate(rates, gate.input_kind, gate.faster), _rate(rates, gate.input_kind, gate.slower)
        ratio = fast / slow if fast and slow else None
        results.append(GateResult(gate, ratio, ratio is not None and ratio >= gate.min_ratio))
    return results


def overlap_efficiency(results: list[BenchmarkResult]) -> float | None:
    """The overlap benchmark's rate over its consumer's own rate (1.0: input never kept a step waiting)."""
    for result in results:
        ideal = result.extra_info.get("ideal_images_per_sec")
        if result.extra_info.get("overlap") and ideal and result.images_per_sec:
            return result.images_per_sec / ideal
    return None


def harness_overheads(results: list[BenchmarkResult]) -> dict[str, tuple[float, list[float] | None]]:
    """Per backend: the overhead benchmark's estimate (harness fit / plain fit - 1) and its 90% interval, if any."""
    return {
        r.extra_info.get("backend", "tensorflow"): (r.extra_info["overhead"], r.extra_info.get("overhead_ci90"))
        for r in results
        if r.group.startswith(OVERHEAD_GROUP) and "overhead" in r.extra_info
    }


@dataclass(frozen=True)
class Check:
    """A gate that is not a ratio of two pipelines: overlap, harness overhead."""

    passed: bool
    text: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.text}"


def overlap_check(efficiency: float) -> Check:
    return Check(
        efficiency >= MIN_OVERLAP,
        f"input overlaps a model step: {efficiency:.2f} of the step's rate (needs >= {MIN_OVERLAP})",
    )


def harness_overhead_check(backend: str, overhead: float, interval: list[float] | None = None) -> Check:
    """Fails when the overhead is above the bound -- with an interval, when all of it is.

    `bench.run.harness_overhead` says why an interval.
    """
    if interval is None:
        return Check(
            overhead <= MAX_OVERHEAD,
            f"harness overhead on {backend}: {overhead:+.2%} of a plain model.fit (needs <= {MAX_OVERHEAD:.0%})",
        )
    low, high = interval
    return Check(
        low <= MAX_OVERHEAD,
        f"harness overhead on {backend}: {overhead:+.2%} of a plain model.fit, 90% CI [{low:+.1%}, {high:+.1%}] "
        f"(needs the CI to reach <= {MAX_OVERHEAD:.0%})",
    )


def evaluate(results: list[BenchmarkResult]) -> list[GateResult | Check]:
    """Every check the benchmark results allow: the pipeline ratios, the overlap, each backend's overhead."""
    rates = rates_by_pipeline(results)
    checks: list[GateResult | Check] = list(check_gates(rates)) if rates else []
    overlap = overlap_efficiency(results)
    if overlap is not None:
        checks.append(overlap_check(overlap))
    checks.extend(harness_overhead_check(b, o, ci) for b, (o, ci) in sorted(harness_overheads(results).items()))
    return checks


def run_gate(paths: list[Path]) -> int:
    """Prints every check's verdict; 1 when any fails."""
    results: list[BenchmarkResult] = []
    for path in paths:
        if not path.is_file():
            raise UserFacingError(f"no benchmark file {path}; run pytest tests/benchmarks --benchmark-json={path}")
        results += read_benchmarks(path)[0]
    checks = evaluate(results)
    for check in checks:
        print(check.line())
    failed = sum(not c.passed for c in checks)
    print(f"gate: {len(checks) - failed} passed, {failed} failed")
    return 1 if failed or not checks else 0
