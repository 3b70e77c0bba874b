"""The README's generated blocks: each number shown is one measured record, never a blend."""

from __future__ import annotations

import json
from pathlib import Path

from bench.report.readme_blocks import scaling_block, thread_knobs_block
from bench.sweep.core_scaling import SCALING_FILE


def _point(workload: str, cores: int, rate: float, **overrides: str) -> dict:
    return {
        "overrides": overrides,
        "workload": workload,
        "data_source": "real",
        "pipeline": "tfdata",
        "augment_on": "host",
        "cores": cores,
        "images_per_sec": rate,
        "env": {"cpu_cores": 2, "gpu_name": None},
    }


def test_scaling_block_keeps_workloads_apart(tmp_path: Path) -> None:
    points = [_point("imagenette", 1, 954.0), _point("mnist", 1, 86762.0), _point("imagenette", 2, 1498.0)]
    (tmp_path / SCALING_FILE).write_text("".join(json.dumps(p) + "\n" for p in points))
    rows = {line.split("|")[2].strip(): line for line in scaling_block(tmp_path).splitlines()[2:]}
    assert set(rows) == {"imagenette", "mnist"}
    assert "954" in rows["imagenette"] and "1,498" in rows["imagenette"]
    assert "86,762" in rows["mnist"] and "43,858" not in scaling_block(tmp_path)


def test_varied_knob_rows_sit_beside_their_default_row_and_stay_out_of_the_scaling_block(tmp_path: Path) -> None:
    points = [
        _point("imagenette", 2, 1535.0),
        _point("imagenette", 2, 1776.0, private_threadpool="4"),
        _point("mnist", 2, 91737.0),
    ]
    (tmp_path / SCALING_FILE).write_text("".join(json.dumps(p) + "\n" for p in points))
    assert "1,776" not in scaling_block(tmp_path) and "1,535" in scaling_block(tmp_path)
    knobs = thread_knobs_block(tmp_path)
    assert "tfdata [private_threadpool=4]" in knobs and "1,776" in knobs and "1,535" in knobs
    assert "mnist" not in knobs  # no knob was varied there
    (tmp_path / SCALING_FILE).write_text(json.dumps(points[0]) + "\n")
    assert "no `bench scale --vary` records" in thread_knobs_block(tmp_path)
