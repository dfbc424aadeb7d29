"""core.serve.display helpers the views share: readable times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd

from core.serve.display import format_time


def test_format_time_converts_utc_iso_to_the_viewer_zone():
    assert format_time("2026-11-27T05:03:11+00:00", "Asia/Seoul") == "2026-11-27 14:03"
    assert format_time("2026-11-27T05:03:11+00:00", timezone(timedelta(hours=-5))) == "2026-11-27 00:03"
    assert format_time("2026-11-27T05:03:11+00:00", "UTC") == "2026-11-27 05:03"


def test_format_time_without_a_zone_uses_the_server_local_time():
    iso = "2026-11-27T05:03:11+00:00"
    expected = datetime(2026, 11, 27, 5, 3, 11, tzinfo=UTC).astimezone().strftime("%Y-%m-%d %H:%M")
    assert format_time(iso) == expected
    assert format_time(iso, "No/Such_Zone") == expected  # an unknown browser zone falls back, never fails


def test_format_time_leaves_odd_cells_readable():
    assert format_time(None) == "" and format_time(float("nan")) == "" and format_time(pd.NaT) == ""
    assert format_time("not a time") == "not a time"
    assert format_time("2026-11-27T05:03:11") == "2026-11-27 05:03"  # naive: shown as written


def test_heatmap_has_a_titled_colour_scale_in_rows():
    from core.serve.display import heatmap_figure

    dist = pd.DataFrame(
        {"value": ["per:title | PER-POH", "per:title | PER-ORG", "org:members | ORG-ORG"], "train_count": [1234, 3, 0]}
    )
    heat = heatmap_figure(dist).data[0]
    assert heat.showscale is True
    assert "rows" in heat.colorbar.title.text
    assert list(heat.colorbar.ticktext) == ["0", "1", "10", "100", "1,000"]
    assert "1,234" in [cell for row in heat.text for cell in row]


def test_legend_names_both_highlight_colours():
    from core.serve.display import highlight_html, legend_html

    legend = legend_html()
    sentence = highlight_html("ab cd", (0, 1), (3, 4))
    for cls in ('class="re-subj"', 'class="re-obj"'):
        assert cls in legend and cls in sentence
    assert "subject" in legend and "object" in legend
