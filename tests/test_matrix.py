"""Sweep specs: parsing, ablation expansion, errors; a real tiny sweep with resume and a failure record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.matrix import SpecError, load_spec, records_dir, resolve_spec_path, run_matrix


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def test_shipped_specs_parse() -> None:
    for name in ("quick", "full", "accuracy"):
        description, cells = load_spec(resolve_spec_path(name))
        assert description and cells


def test_vary_is_one_knob_at_a_time_on_the_tuned_preset(tmp_path: Path) -> None:
    _, cells = load_spec(
        _spec(
            tmp_path,
            """
[defaults]
steps_per_epoch = 10
[[cells]]
workloads = ["mnist"]
pipelines = ["idg", "tfdata"]
vary = { prefetch = ["off", 2], xla = ["on"] }
""",
        )
    )
    labels = [c.label for c in cells]
    assert labels == [
        "mnist/idg",
        "mnist/tfdata",
        "mnist/tfdata [prefetch=None]",
        "mnist/tfdata [prefetch=2]",
        "mnist/tfdata [xla=True]",
    ]
    assert all(c.config.steps_per_epoch == 10 for c in cells)
    assert cells[2].config.pipeline_options == {"prefetch": None}


def test_seeds_and_repeats_expand(tmp_path: Path) -> None:
    _, cells = load_spec(
        _spec(
            tmp_path, '[defaults]\nrepeats = 2\n[[cells]]\nworkloads = ["mnist"]\npipelines = ["idg"]\nseeds = [0, 1]\n'
        )
    )
    assert [(c.config.seed, c.repeat) for c in cells] == [(0, 0), (0, 1), (1, 0), (1, 1)]


@pytest.mark.parametrize(
    "text, message",
    [
        ('[[cells]]\nworkloads = ["mnist"]\nbogus = 1\n', "unknown keys"),
        ('[defaults]\nprefetch = "sometimes"\n[[cells]]\nworkloads = ["mnist"]\n', "--prefetch"),
        ('[defaults]\nnot_a_setting = 3\n[[cells]]\nworkloads = ["mnist"]\n', "unknown settings"),
        ("[defaults]\nsteps_per_epoch = 3\n", "no \\[\\[cells\\]\\]"),
        ("this is not toml = = =", "spec.toml"),
    ],
)
def test_bad_specs_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load_spec(_spec(tmp_path, text))


def test_a_spec_subfolder_keeps_its_records_apart(tmp_path: Path) -> None:
    """The accuracy sweep's full-epoch runs must not mix into the throughput tables of results/runs.jsonl."""
    assert records_dir("accuracy", tmp_path) == tmp_path / "accuracy"
    assert records_dir("quick", tmp_path) == tmp_path
    spec = _spec(tmp_path, 'subfolder = "mine"\n[[cells]]\nworkloads = ["mnist"]\n')
    assert records_dir(str(spec), tmp_path / "results") == tmp_path / "results" / "mine"


def test_unknown_spec_name_lists_shipped_ones() -> None:
    with pytest.raises(SpecError, match="quick"):
        resolve_spec_path("no-such-spec")


@pytest.mark.slow
def test_sweep_runs_cells_in_processes_records_failures_and_resumes(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        """
[defaults]
data = "generated"
steps_per_epoch = 6
warmup_steps = 2
pipeline_batches = 3
stage_batches = 2
ceiling_steps = 4
batch_size = 32
limit_train = 512
limit_test = 64
[[cells]]
workloads = ["mnist"]
pipelines = ["tfdata"]
[[cells]]
workloads = ["mnist"]
pipelines = ["idg"]
set = { steps_per_epoch = 1 }   # too few steps to measure: this cell fails, the sweep goes on
""",
    )
    results = tmp_path / "results"
    assert run_matrix(str(spec), results) == 1
    records = [json.loads(line) for line in (results / "runs.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["ok", "failed"]
    assert "steps" in records[1]["error"]
    # Resume: the ok cell is skipped, the failed one is tried again.
    assert run_matrix(str(spec), results) == 1
    records = [json.loads(line) for line in (results / "runs.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["ok", "failed", "failed"]
