"""Curves drawn honestly: sparse series unsmoothed, no end-of-run jump, a visible axis for one point;
user text rendered as text in markdown."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.serve import display
from core.store import runs


def write_run(path, records):
    path.mkdir()
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_a_handful_of_evaluations_is_drawn_as_measured(tmp_path):
    evals = [12.0, 30.5, 45.9]
    run = write_run(
        tmp_path / "r",
        [{"kind": "eval", "step": 10 * (i + 1), "eval_micro_f1": v} for i, v in enumerate(evals)],
    )
    points = runs.curves({"r": run})
    fig = display.curves_figure(points[points["metric"] == "eval_micro_f1"], title="f1", x_title="step", smoothing=0.6)
    drawn = [t for t in fig.data if t.showlegend is not False]
    assert len(drawn) == 1
    assert list(drawn[0].y) == evals  # the last point is 45.9, not an average lagging at ~33
    assert "markers" in drawn[0].mode


def test_dense_series_are_smoothed_and_raw_points_kept():
    values = np.linspace(0, 1, 40)
    points = pd.DataFrame({"run": "r", "metric": "loss", "x": np.arange(40), "value": values})
    fig = display.curves_figure(points, title="loss", x_title="step", smoothing=0.6)
    raw, line = fig.data
    assert list(raw.y) == list(values) and raw.mode == "markers"
    assert line.mode == "lines" and line.y[-1] < values[-1]  # the average lags a rising curve


def test_the_best_checkpoint_record_is_not_a_curve_point(tmp_path):
    run = write_run(
        tmp_path / "r",
        [
            {"kind": "eval", "step": 10, "eval_micro_f1": 40.0},
            {"kind": "eval", "step": 20, "eval_micro_f1": 35.0},
            {"kind": "end", "step": 20, "eval_micro_f1": 40.0, "status": "succeeded"},
        ],
    )
    f1 = runs.curves({"r": run}).query("metric == 'eval_micro_f1'")
    assert f1["value"].tolist() == [40.0, 35.0]


@pytest.mark.parametrize("value", [45.9, 0.0, 5e-5])
def test_one_point_gets_an_axis_around_it(value):
    points = pd.DataFrame({"run": ["r"], "metric": ["m"], "x": [1], "value": [value]})
    low, high = display.curves_figure(points, title="m", x_title="step").layout.yaxis.range
    assert low < value < high and high - low <= max(abs(value) * 0.2, 2.0)


def test_legend_sits_under_the_plot_not_on_the_title():
    points = pd.DataFrame({"run": ["#1 a long run name"] * 2, "metric": "m", "x": [1, 2], "value": [1.0, 2.0]})
    legend = display.curves_figure(points, title="m", x_title="step").layout.legend
    assert legend.y < 0 and legend.yanchor == "top"


@pytest.mark.parametrize(
    "text",
    ["![x](http://example.com/a.png)", "a`b", "**bold**", ":material/home: $x$", "<b>x</b>", "[link](http://e.x)"],
)
def test_plain_escapes_every_markdown_character(text):
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").render(display.plain(text))
    assert "<img" not in rendered and "<a " not in rendered and "<strong>" not in rendered and "<code>" not in rendered
    # Unescaped, what the person typed comes back.
    assert MarkdownIt("commonmark").render(display.plain(text)).strip().removeprefix("<p>").removesuffix("</p>") == (
        __import__("html").escape(text, quote=False).replace('"', "&quot;")
    )
