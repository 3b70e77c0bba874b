"""The report's plots read at a glance: a grid of one panel per workload (never a strip of seven), titles whole
and apart, nothing cut at the figure's edge, plain-number ticks, and the scaling plot's cores on a linear axis."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.text import Text

from bench.report import plots
from bench.report.comparison import summarize
from bench.report.records_frame import records_frame
from tests.report.test_document import record

LONG_SOURCE = "imagenette2-224 subset 12000/2000 [first 12000/2000] (a long data label that has to wrap)"
PANELS = [("mnist", "MNIST 60000/10000"), ("cifar10", "cifar10 (q75 JPEG copy, shuffled order) 50000/10000")] + [
    ("imagenette", f"{LONG_SOURCE} copy {i}") for i in range(5)
]  # seven panels, as in the committed results


def _records() -> list[dict]:
    return [
        record(
            pipeline,
            rate * (1 + i),
            workload=workload,
            source=source,
            step_sec=[0.5, 0.1, 0.12, 0.11],
            warmup_steps=1,
            ceiling_images_per_sec=450.0 * (1 + i),
            ceiling_spread_pct=2.0,
            input_bound_pct=100 * (1 - rate / 450.0),
        )  # fmt: skip
        for i, (workload, source) in enumerate(PANELS)
        for pipeline, rate in (("idg", 100.0), ("tfdata", 300.0), ("synthetic", 400.0))
    ]


@pytest.fixture(scope="module")
def figures() -> dict[str, plt.Figure]:
    records = _records()
    table = summarize(records_frame(records))
    made = {
        "throughput": plots.throughput_figure(table),
        "input_bound": plots.input_bound_figure(table),
        "step_times": plots.step_time_figure(records),
    }
    yield made
    for figure in made.values():
        plt.close(figure)


def _texts(figure: plt.Figure) -> list[Text]:
    figure.canvas.draw()
    return [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]


@pytest.mark.parametrize("name", ["throughput", "input_bound", "step_times"])
def test_one_axes_per_workload_panel(figures: dict[str, plt.Figure], name: str) -> None:
    assert len(figures[name].axes) == len(PANELS)


@pytest.mark.parametrize("name", ["throughput", "step_times"])
def test_seven_panels_make_a_grid_not_a_strip(figures: dict[str, plt.Figure], name: str) -> None:
    width, height = figures[name].get_size_inches()
    assert 0.5 <= width / height <= 2.0, f"{width:.1f} x {height:.1f} inches"  # a strip of seven was 6.6 : 1


@pytest.mark.parametrize("name", ["throughput", "input_bound", "step_times"])
def test_a_long_data_label_appears_whole(figures: dict[str, plt.Figure], name: str) -> None:
    titles = " ".join(ax.get_title(loc) for ax in figures[name].axes for loc in ("center", "left"))
    assert f"real: {LONG_SOURCE} copy 4" in titles.replace("\n", " ")


@pytest.mark.parametrize("name", ["throughput", "input_bound", "step_times"])
def test_no_text_is_cut_at_the_figure_edge_and_titles_overlap_nothing(
    figures: dict[str, plt.Figure], name: str
) -> None:
    figure = figures[name]
    _texts(figure)
    renderer = figure.canvas.get_renderer()
    drawn = figure.get_tightbbox(renderer)  # inches: every drawn artist, tick labels, annotations and titles
    width, height = figure.get_size_inches()
    assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01 and drawn.x1 <= width + 0.01 and drawn.y1 <= height + 0.01, (
        f"something drawn at {drawn.bounds} runs off the {width} x {height} inch figure"
    )
    titles = [t for ax in figure.axes for t in (ax.title, ax._left_title) if t.get_text()]
    boxes = [t.get_window_extent(renderer) for t in titles]
    for (a, box_a), (b, box_b) in itertools.combinations(zip(titles, boxes, strict=True), 2):
        assert not box_a.overlaps(box_b), f"{a.get_text()!r} overlaps {b.get_text()!r}"
    for title, box in zip(titles, boxes, strict=True):
        for ax in figure.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), f"{title.get_text()!r} overlaps a panel"


@pytest.mark.parametrize("name", ["throughput", "input_bound", "step_times"])
def test_tick_labels_are_plain_numbers(figures: dict[str, plt.Figure], name: str) -> None:
    figure = figures[name]
    _texts(figure)
    labels = [t.get_text() for ax in figure.axes for t in ax.get_yticklabels() + ax.get_xticklabels()]
    assert labels and not [label for label in labels if "$" in label or "times" in label or "^" in label]


def test_plain_numbers_match_the_tables() -> None:
    assert [plots.number_text(v) for v in (12000, 10480.4, 740, 20.25, 2.0, 0.5)] == [
        "12,000", "10,480", "740", "20.2", "2", "0.5",
    ]  # fmt: skip


def test_scaling_plot_puts_cores_on_a_linear_axis_with_plain_ticks() -> None:
    table = pd.DataFrame(
        [
            {"workload": "mnist", "data": "MNIST 60000/10000", "pipeline": p, "knobs": "", "cores": c, "img/s": r * c}
            for p, r in (("tfdata", 20000.0), ("idg", 900.0))
            for c in (1, 2, 4)
        ]
    )
    figure = plots.scaling_figure(table)
    try:
        _texts(figure)
        (ax,) = figure.axes
        assert ax.get_xscale() == "linear"
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "4"]
        labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        assert labels and all("$" not in label for label in labels), labels
        assert "1,000" in labels
    finally:
        plt.close(figure)


def test_accuracy_curves_are_a_grid_of_one_panel_per_workload_with_percent_ticks() -> None:
    workloads = ["mnist", "cifar10", "imagenette", "imagenette-vgg16"]
    records = [
        {"status": "ok", "workload": w, "pipeline": p, "knobs": {}, "augment": "seed",
         "epoch_val_accuracy": [0.5, 0.6 + 0.01 * i], "epoch_sec": [10.0, 10.0]}
        for i, w in enumerate(workloads)
        for p in ("idg", "tfdata")
    ]  # fmt: skip
    figure = plots.accuracy_vs_time_figure(records)
    try:
        _texts(figure)
        assert [ax.get_title() for ax in figure.axes] == workloads
        width, height = figure.get_size_inches()
        assert 0.5 <= width / height <= 2.0
        labels = [t.get_text() for ax in figure.axes for t in ax.get_yticklabels() if t.get_text()]
        assert labels and all(label.endswith("%") for label in labels), labels
    finally:
        plt.close(figure)
