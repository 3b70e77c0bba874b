"""pytest-benchmark JSON files: read once here, for the report's table and for the CI gate."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tabulate import tabulate

from bench.knobs import knobs_label

BENCHMARK_OPTIONS = ("map_parallel", "prefetch", "vectorize", "cache", "deterministic", "workers")


@dataclass(frozen=True)
class BenchmarkResult:
    """One benchmark of a `--benchmark-json` file; rates recomputed from the stored median, never trusted."""

    name: str
    group: str
    median_sec: float
    rounds: int
    extra_info: dict[str, Any] = field(default_factory=dict)

    @property
    def images_per_sec(self) -> float | None:
        per_round = self.extra_info.get("images_per_round")
        return per_round / self.median_sec if per_round and self.median_sec > 0 else None


def read_benchmarks(path: Path) -> tuple[list[BenchmarkResult], dict[str, Any]]:
    """(benchmarks, machine_info) of a pytest-benchmark JSON file."""
    data = json.loads(Path(path).read_text())
    results = [
        BenchmarkResult(
            name=b["name"],
            group=b.get("group") or "",
            median_sec=b["stats"]["median"],
            rounds=b["stats"].get("rounds", 0),
            extra_info=b.get("extra_info", {}),
        )
        for b in data.get("benchmarks", [])
    ]
    return results, data.get("machine_info", {})


def benchmark_table(path: Path) -> str:
    """A pytest-benchmark JSON file as a table: name, median, images/s, rounds, knobs."""
    results, machine = read_benchmarks(path)
    rows = []
    for result in results:
        options = result.extra_info.get("options") or {}
        rate = result.images_per_sec
        rows.append(
            {
                "benchmark": result.name,
                "group": result.group,
                "median ms": f"{result.median_sec * 1e3:.1f}",
                "images/s": f"{rate:,.0f}" if rate else "-",
                "rounds": result.rounds,
                "main options": knobs_label({k: v for k, v in options.items() if k in BENCHMARK_OPTIONS})
                if options
                else "-",
            }
        )
    header = f"pytest-benchmark `{Path(path).name}` ({machine.get('cpu', {}).get('brand_raw', 'unknown CPU')}):\n\n"
    return header + tabulate(pd.DataFrame(rows), headers="keys", tablefmt="github", showindex=False)
