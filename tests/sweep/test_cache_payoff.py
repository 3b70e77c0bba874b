"""`bench cache`: when the decode cache pays -- the break-even arithmetic, the table, and the command end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli.parser import main
from bench.sweep.cache_payoff import CACHE_FILE, cache_table, cache_text, pays_from_epoch


def test_the_cache_is_ahead_once_its_total_time_is_no_more() -> None:
    # Filling costs 2 s more; each later epoch saves 1.5 s: behind after epoch 2 (10.5 > 10), ahead after 3 (14 < 15).
    assert pays_from_epoch([5.0, 5.0, 5.0], [7.0, 3.5, 3.5]) == 3
    assert pays_from_epoch([5.0, 5.0, 5.0], [6.0, 3.0, 3.0]) == 2
    assert pays_from_epoch([5.0, 5.0], [5.0, 1.0]) == 1  # a free fill is ahead at once
    assert pays_from_epoch([5.0, 5.0, 5.0], [12.0, 4.9, 4.9]) is None  # never within the epochs measured


def _record(place: str, cache: str, epoch_sec: list[float], held: float, pipeline: str = "tfdata") -> dict:
    return {
        "pipeline": pipeline,
        "workload": "imagenette",
        "data_source": "imagenette2-224",
        "augment_on": place,
        "cache": cache,
        "epochs": len(epoch_sec),
        "epoch_sec": epoch_sec,
        "epoch_images": 1000,
        "train_examples": 1010,
        "cached_mb": 73.9,
        "held_mb": held,
    }


def test_table_pairs_each_cached_row_with_the_uncached_one_of_its_place() -> None:
    records = [
        _record("host", "off", [2.0, 2.0, 2.0], 30.0, pipeline="idg"),
        _record("host", "off", [1.0, 1.0, 1.0], 40.0),
        _record("host", "memory", [1.2, 0.25, 0.25], 190.0),
        _record("device", "off", [0.2, 0.2, 0.2], 20.0),
        _record("device", "memory", [1.0, 0.19, 0.19], 160.0),  # a fill too slow to win back in 3 epochs
    ]
    table = cache_table(records).set_index(["pipeline", "cache"])
    host = table.loc[("tfdata", "memory")]
    assert host["later speed-up"] == pytest.approx(4.0)
    assert host["later epochs img/s"] == pytest.approx(4000)
    assert host["epoch 1 img/s"] == pytest.approx(1000 / 1.2)
    assert host["ahead from epoch"] == "2"
    assert table.loc[("tfdata@device", "memory")]["ahead from epoch"] == "not within 3"
    assert pd_isna(table.loc[("tfdata", "off")]["later speed-up"])
    assert host["x idg"] == pytest.approx(8.0) and table.loc[("tfdata", "off")]["x idg"] == pytest.approx(2.0)
    assert list(table.index.get_level_values("pipeline"))[0] == "idg"  # the baseline first
    text = cache_text(cache_table(records))
    assert "4.00x" in text and "8.00x" in text and "not within 3" in text and "nan" not in text


def pd_isna(value: object) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


def test_a_rerun_replaces_the_earlier_record_of_the_same_variant() -> None:
    records = [
        _record("host", "off", [1.0, 1.0], 40.0),
        _record("host", "memory", [9.0, 0.9], 190.0),
        _record("host", "memory", [1.0, 0.5], 190.0),
    ]
    table = cache_table(records)
    assert len(table) == 2
    assert table.set_index("cache").loc["memory", "ahead from epoch"] == "1"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--epochs", "1"], "--epochs 1"),
        (["--augment-on", "gpu"], "--augment-on"),
        (["--limit-train", "0"], "--limit-train: expected a positive integer, got '0'"),
    ],
)
def test_bad_arguments_are_one_line(argv: list[str], words: str, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    try:
        code = main(["cache", "--results", str(tmp_path), *argv])
    except SystemExit as exit_:  # argparse's own check of a flag's type
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and words in err and len(err.splitlines()) == 1
    assert not (tmp_path / CACHE_FILE).exists()


@pytest.mark.slow
def test_cache_command_records_each_variant_in_order(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    argv = ["cache", "--workload", "mnist", "--data", "generated", "--limit-train", "2048", "--epochs", "3"]
    assert main([*argv, "--augment-on", "host", "--results", str(tmp_path)]) == 0
    records = [json.loads(line) for line in (tmp_path / CACHE_FILE).read_text().splitlines()]
    rows = [(r["pipeline"], r["augment_on"], r["cache"]) for r in records]
    assert rows == [("idg", "host", "off"), ("tfdata", "host", "off"), ("tfdata", "host", "memory")]
    for record in records:
        assert len(record["epoch_sec"]) == 3 and record["epoch_images"] == 2048 // 64 * 64
    assert [r["options"].get("cache") for r in records] == [None, "off", "memory"]
    assert records[2]["cached_mb"] == pytest.approx(2048 * 28 * 28 / 2**20)
    out = capsys.readouterr().out
    assert "| mnist" in out and "memory" in out
