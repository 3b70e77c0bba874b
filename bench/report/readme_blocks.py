"""The numbers in the project README, generated from the committed records (never typed by hand).

README.md holds marked blocks, `<!-- generated: NAME -->` ... `<!-- /generated -->`; `python -m bench readme`
rewrites each from `results/` (the reference records), and a test fails when one is stale, so a claim in the
README cannot drift from the records behind it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from bench.paths import write_text_atomically
from bench.records import RUNS_FILE, read_records
from bench.report.comparison import display_frame, input_bound_text, summarize
from bench.report.loaders_table import baseline_of, loaders_table, shown_table
from bench.report.records_frame import records_frame
from bench.sweep.cache_payoff import CACHE_FILE, cache_table, cache_text
from bench.sweep.core_scaling import SCALING_FILE, scaling_table
from bench.sweep.loaders import LOADERS_FILE, LOADERS_SPEC
from imgcls.errors import UserFacingError

BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /generated -->)", re.DOTALL)
GPU_FOLDER = "gpu"


def _summary(results_dir: Path) -> pd.DataFrame:
    frame = records_frame(read_records(results_dir / RUNS_FILE))
    return summarize(frame) if not frame.empty else pd.DataFrame()


def sample_block(results_dir: Path) -> str:
    """The MNIST presets of the reference sweep on this CPU (the README's first table)."""
    table = _summary(results_dir)
    rows = table[(table["workload"] == "mnist") & (table["knobs_label"] == "default") & (table["augment"] == "seed")]
    if rows.empty:
        return "(no MNIST records in results/ yet)\n"
    shown = display_frame(rows)
    keep = ["pipeline", "data", "img/s (e2e)", "pipeline-only img/s", "x baseline", "of ceiling", "input-bound %"]
    return tabulate(shown[keep], headers="keys", tablefmt="github", showindex=False) + "\n"


def gpu_block(results_dir: Path) -> str:
    """Per workload on the GPU machine: the baseline, tf.data on the host and with augmentation on the device,
    and the model alone, with pipeline-only throughput and input-bound %."""
    table = _summary(results_dir / GPU_FOLDER)
    if table.empty:
        return "GPU numbers are not measured yet: run the commands above on a GPU machine.\n"
    presets = (table["step_label"] == "default") & (table["pipeline_label"] == "default")
    rows = table[presets & (table["augment"] == "seed")]
    out = pd.DataFrame(
        {
            "workload": rows["workload"],
            "pipeline": rows["pipeline"] + rows["input_label"].map(lambda k: "" if k == "default" else f" [{k}]"),
            "img/s (e2e)": rows["images_per_sec"].map(lambda v: f"{v:,.0f}"),
            "pipeline-only img/s": rows["pipeline_images_per_sec"].map(lambda v: f"{v:,.0f}"),
            "input-bound %": [
                input_bound_text(p, s) for p, s in zip(rows["input_bound_pct"], rows["ceiling_spread_pct"], strict=True)
            ],
            "ceiling": rows["ceiling_kind"].map(lambda k: k if isinstance(k, str) else "fed"),
            "checks": rows["checks"].map(lambda text: f"INCONSISTENT: {text}" if text else "ok"),
            "data": rows["data_kind"] + ": " + rows["data_source"].astype(str),
        }
    )
    env = read_records(results_dir / GPU_FOLDER / RUNS_FILE)[0].get("env", {})
    machine = f"{env.get('gpu_name')}, {env.get('cpu_cores')} CPU cores, Keras on {env.get('keras_backend')}"
    table_text = tabulate(out, headers="keys", tablefmt="github", showindex=False)
    return f"Measured on {machine} ([results/gpu](results/gpu/README.md)):\n\n{table_text}\n"


def _scaling_frames(results_dir: Path) -> list[pd.DataFrame]:
    frames = []
    for where in (results_dir, results_dir / GPU_FOLDER):
        path = where / SCALING_FILE
        if path.exists():
            table = scaling_table(read_records(path))
            env = read_records(path)[0].get("env", {})
            table["machine"] = f"{env.get('cpu_cores')}-core {'GPU machine' if env.get('gpu_name') else 'CPU'}"
            frames.append(table)
    return frames


def _by_cores(table: pd.DataFrame) -> str:
    wide = table.pivot_table(
        index=["machine", "workload", "pipeline"], columns="cores", values="img/s", aggfunc="first", sort=False
    )
    wide = wide.map(lambda v: "-" if pd.isna(v) else f"{v:,.0f}")
    wide.columns = [f"{c} cores" for c in wide.columns]
    return tabulate(wide.reset_index(), headers="keys", tablefmt="github", showindex=False) + "\n"


def scaling_block(results_dir: Path) -> str:
    """Pipeline-only images/s against cores, every place scaling was measured, one column per core count; each
    pipeline at its defaults."""
    frames = _scaling_frames(results_dir)
    if not frames:
        return "(no scaling records yet)\n"
    table = pd.concat(frames)
    # One row per (machine, workload, pipeline): each cell is one measured point, never an average across workloads.
    return _by_cores(table[table["knobs"] == ""])


def thread_knobs_block(results_dir: Path) -> str:
    """The `--vary` rows (thread budgets and parallelism) beside the default row of their pipeline and workload."""
    frames = _scaling_frames(results_dir)
    table = pd.concat(frames) if frames else pd.DataFrame()
    if table.empty or not (table["knobs"] != "").any():
        return "(no `bench scale --vary` records yet)\n"
    varied = table[table["knobs"] != ""]
    varied_bases = set(zip(varied["machine"], varied["workload"], varied["base"], strict=True))
    keys = zip(table["machine"], table["workload"], table["pipeline"], strict=True)
    default = table[(table["knobs"] == "") & pd.Series([key in varied_bases for key in keys], index=table.index)]
    return _by_cores(pd.concat([default, varied]))


def cache_block(results_dir: Path) -> str:
    """When the decode cache pays on this CPU: each cached row beside its uncached one, with the RAM it held."""
    table = cache_table(read_records(results_dir / CACHE_FILE))
    if table.empty:
        return "(no cache records yet)\n"
    keep = [
        "workload",
        "pipeline",
        "cache",
        "images",
        "epoch 1 img/s",
        "later epochs img/s",
        "x idg",
        "RAM held MB",
        "ahead from epoch",
    ]
    return cache_text(table, columns=keep) + "\n"


PROJECT_ROOT = Path(__file__).resolve().parents[2]
LAYOUT_TOPS = ("imgcls", "bench", "tests")


def _first_sentence(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    return first.replace("|", "\\|")


def layout_block(results_dir: Path, root: Path = PROJECT_ROOT) -> str:
    """The source tree as a table, one row per package: what its `__init__` docstring says it does, and its
    modules. Read from the tree itself, so the README cannot name a module that is gone or leave a package out."""
    rows = []
    for top in LAYOUT_TOPS:
        for init in sorted((root / top).rglob("__init__.py")):
            folder = init.parent
            modules = sorted(p.stem for p in folder.glob("*.py") if p.name != "__init__.py")
            packages = sorted(p.parent.name + "/" for p in folder.glob("*/__init__.py"))
            rows.append(
                {
                    "package": f"`{folder.relative_to(root).as_posix()}/`",
                    "what it does": _first_sentence(init),
                    "modules": ", ".join(modules + packages),
                }
            )
    return tabulate(pd.DataFrame(rows), headers="keys", tablefmt="github", showindex=False) + "\n"


def loaders_block(results_dir: Path) -> str:
    """The loaders table's rows under the backend it was measured first on (TensorFlow: tf.data's home), folder and
    shards, pipeline only and end to end; the other backends are in `results/loaders.md`."""
    records = read_records(results_dir / LOADERS_FILE)
    if not records:
        return "(no loader records in results/ yet: `python -m bench loaders --results results`)\n"
    runs = read_records(results_dir / LOADERS_SPEC / RUNS_FILE)
    table = loaders_table(records, runs, baseline_of(records))
    first = table["backend"].iloc[0]
    rows = table[table["backend"] == first].drop(columns=["backend", "own type img/s", "adapter cost %"])
    shown = shown_table(rows)
    machine = records[-1].get("machine")
    return (
        f"Measured on {machine}, Keras on {first} ([results/loaders.md](results/loaders.md) has every backend and "
        f"the adapters' cost):\n\n{tabulate(shown, headers='keys', tablefmt='github', showindex=False)}\n"
    )


BLOCKS: dict[str, Callable[[Path], str]] = {
    "layout": layout_block,
    "sample": sample_block,
    "gpu": gpu_block,
    "scaling": scaling_block,
    "cache": cache_block,
    "thread-knobs": thread_knobs_block,
    "loaders": loaders_block,
}


def render(text: str, results_dir: Path) -> str:
    """`text` with every generated block rewritten from the records in `results_dir`.

    Raises:
        UserFacingError: a block names no known generator.
    """

    def fill(match: re.Match) -> str:
        name = match.group("name")
        if name not in BLOCKS:
            raise UserFacingError(f"README block {name!r} has no generator; known: {', '.join(BLOCKS)}")
        return match.group(1) + BLOCKS[name](results_dir) + match.group(4)

    return BLOCK.sub(fill, text)


def update_readme(readme: Path, results_dir: Path) -> bool:
    """Rewrites the generated blocks of `readme` in place; returns whether anything changed."""
    text = Path(readme).read_text()
    new = render(text, Path(results_dir))
    if new != text:
        write_text_atomically(Path(readme), new)
    return new != text
