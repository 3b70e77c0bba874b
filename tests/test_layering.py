"""The architecture as a test: `imgcls` never imports `bench`, each `bench` package imports only the layers below
it (its `__init__` docstring says which), and no two modules import each other, directly or in a ring.

Imports are read from the source (every `import`, at module level or inside a function), so the check costs no
framework import and fails on a lazy import as surely as on a top-level one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VOCABULARY = "bench"  # the modules at the top of bench/: config, knobs, backends, records, environment, paths
# Which packages each package may import (besides itself, imgcls and the vocabulary). Lower layers first.
ALLOWED: dict[str, set[str]] = {
    VOCABULARY: set(),
    "bench.run": set(),
    "bench.sweep": {"bench.run"},
    "bench.report": {"bench.run", "bench.sweep"},
    "bench.gate": {"bench.run", "bench.report"},
    "bench.doctor": {"bench.run", "bench.sweep", "bench.report"},
    "bench.cli": {"bench.run", "bench.sweep", "bench.report", "bench.gate", "bench.doctor"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for top in ("bench", "imgcls") for p in sorted((ROOT / top).rglob("*.py"))}


def _imports(path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports (`from bench.x import y` counts as bench.x.y when that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import submodule` imports the submodule; `from pkg import name` imports pkg's __init__.
            names = [f"{node.module}.{a.name}" for a in node.names]
            names = [name if name in known else node.module for name in names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def _package(module: str) -> str:
    if module.startswith("imgcls"):
        return "imgcls"
    parts = module.split(".")
    if module == "bench.__main__":
        return "bench.cli"
    if len(parts) >= 2 and (ROOT / "bench" / parts[1]).is_dir():
        return f"bench.{parts[1]}"
    return VOCABULARY


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, known) - {name} for name, path in modules.items()}


def layering_violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, imported in graph.items():
        here = _package(module)
        for target in imported:
            there = _package(target)
            if here == "imgcls":
                if there != "imgcls":
                    bad.append(f"{module} -> {target} (imgcls knows nothing of bench)")
            elif there not in {here, "imgcls", VOCABULARY} | ALLOWED[here]:
                bad.append(f"{module} -> {target} ({here} may not import {there})")
    return sorted(bad)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import ring, found by depth-first search (one path per ring)."""
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                found.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_imgcls_never_imports_bench_and_each_bench_package_imports_only_lower_layers() -> None:
    assert layering_violations(import_graph()) == []


def test_there_is_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def _short_name(package: str) -> str:
    return "the shared vocabulary" if package == VOCABULARY else f"`{package}`"


def test_every_bench_package_is_a_declared_layer_whose_docstring_says_what_it_may_import() -> None:
    """Three lines or so: what the package does, then the packages it may import -- each one this test allows."""
    for init in [ROOT / "bench" / "__init__.py", *sorted((ROOT / "bench").glob("*/__init__.py"))]:
        package = _module_name(init)
        assert package in ALLOWED, f"{package} is not a declared layer in this test"
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "May import" in doc, f"{package}'s __init__ docstring does not say what it may import"
        allowed = doc[doc.index("May import") :]
        missing = [p for p in sorted(ALLOWED[package]) if f"`{p}`" not in allowed]
        assert not missing, f"{package}'s docstring omits {missing}, which it may import"
        assert package == VOCABULARY or "shared vocabulary" in allowed, f"{package}: say it may import the vocabulary"
        assert len(doc.splitlines()) <= 5, f"{package}'s __init__ docstring is {len(doc.splitlines())} lines"


# Where a module's tests live when they are not in the mirrored `test_<module>.py` (one suite tests several modules
# together: the pipeline contract, the run, the command line). Every source module has one or the other.
TESTED_IN: dict[str, str] = {
    "bench.cli.parser": "tests/cli/test_commands.py",
    "bench.config": "tests/cli/test_commands.py",
    "bench.environment": "tests/test_records.py",
    "bench.knobs": "tests/test_extending.py",
    "bench.paths": "tests/cli/test_commands.py",
    "bench.gate.cases": "tests/gate/test_rules.py",
    "bench.report.benchmark_json": "tests/gate/test_rules.py",
    "bench.report.comparison": "tests/report/test_document.py",
    "bench.report.records_frame": "tests/report/test_document.py",
    "bench.run.accuracy": "tests/report/test_accuracy_parity.py",
    "bench.run.harness_overhead": "tests/gate/test_rules.py",
    "bench.run.input_config": "tests/run/test_runner.py",
    "bench.run.measurements": "tests/run/test_runner.py",
    "bench.run.memory": "tests/run/test_runner.py",
    "bench.run.model_choice": "tests/run/test_runner.py",
    "bench.run.process_setup": "tests/run/test_runner.py",
    "bench.run.progress": "tests/run/test_runner.py",
    "bench.sweep.fresh_process": "tests/sweep/test_core_scaling.py",
    "imgcls.augment_layer": "tests/imgcls/test_same_work.py",
    "imgcls.errors": "tests/cli/test_commands.py",
    "imgcls.models": "tests/imgcls/test_workloads.py",
    "imgcls.net": "tests/cli/test_commands.py",
    "imgcls.options": "tests/test_extending.py",
    "imgcls.procs": "tests/sweep/test_matrix.py",
    "imgcls.registry": "tests/test_extending.py",
    "imgcls.render_np": "tests/imgcls/test_augment.py",
    "imgcls.render_tf": "tests/imgcls/test_augment.py",
    "imgcls.service": "tests/imgcls/pipelines/test_tfdata_service.py",
    "imgcls.user_code": "tests/imgcls/test_model_specs.py",
    "imgcls.data.catalogue": "tests/imgcls/data/test_sources.py",
    "imgcls.data.loaders": "tests/imgcls/data/test_folder.py",
    "imgcls.data.locations": "tests/imgcls/data/test_sources.py",
    "imgcls.data.types": "tests/imgcls/data/test_folder.py",
    "imgcls.pipelines.graph_stages": "tests/imgcls/pipelines/test_user.py",
    "imgcls.pipelines.grain_loader": "tests/imgcls/pipelines/test_base.py",
    "imgcls.pipelines.host": "tests/imgcls/pipelines/test_base.py",
    "imgcls.pipelines.idg": "tests/imgcls/pipelines/test_base.py",
    "imgcls.pipelines.options": "tests/imgcls/pipelines/test_base.py",
    "imgcls.pipelines.pydataset": "tests/imgcls/pipelines/test_base.py",
    "imgcls.pipelines.synthetic": "tests/imgcls/pipelines/test_base.py",
    "imgcls.pipelines.torch_loader": "tests/imgcls/pipelines/test_base.py",
}


def mirrored_test_file(module: str) -> Path:
    """`bench.run.timing` -> tests/run/test_timing.py; `bench.records` -> tests/test_records.py;
    `imgcls.data.folder` -> tests/imgcls/data/test_folder.py."""
    parts = module.split(".")
    folder = parts[1:-1] if parts[0] == "bench" else parts[:-1]
    return ROOT.joinpath("tests", *folder, f"test_{parts[-1]}.py")


def test_every_module_has_an_obvious_test_file() -> None:
    """The mirrored `test_<module>.py`, or the suite `TESTED_IN` names -- and never both (a stale entry misleads)."""
    modules = [m for m, path in _modules().items() if path.name not in ("__init__.py", "__main__.py")]
    unmapped = [m for m in modules if m not in TESTED_IN and not mirrored_test_file(m).exists()]
    assert unmapped == [], f"no tests/.../test_<module>.py and no TESTED_IN entry for {unmapped}"
    stale = [m for m in TESTED_IN if m not in modules or mirrored_test_file(m).exists()]
    assert stale == [], f"TESTED_IN entries for modules that are gone or now have their own test file: {stale}"
    dangling = [f for f in TESTED_IN.values() if not (ROOT / f).exists()]
    assert dangling == [], f"TESTED_IN names test files that do not exist: {dangling}"


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"imgcls.models": {"bench.config"}, "bench.config": set()}, "imgcls knows nothing of bench"),
        ({"bench.run.runner": {"bench.report.plots"}, "bench.report.plots": set()}, "bench.run may not import"),
        ({"bench.config": {"bench.run.timing"}, "bench.run.timing": set()}, "bench may not import bench.run"),
    ],
)
def test_the_layering_check_catches_a_planted_upward_import(graph: dict[str, set[str]], expected: str) -> None:
    assert any(expected in line for line in layering_violations(graph))


def test_the_cycle_check_catches_a_planted_ring() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
