"""What the views draw, as plain data: escaped sentence markup and plotly figures.

Sentences and entity words are data, never markup: every character that
reaches HTML goes through :func:`html.escape` first, so a row holding
``<img src=x onerror=alert(1)>`` shows as text.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.common.schema import INVISIBLE_CHARS

TRAIN_COLOR = "#4F46E5"
TEST_COLOR = "#F59E0B"
SUBJ_MARK = ("⟦", "⟧")
OBJ_MARK = ("⟨", "⟩")


def format_time(iso: object, tz: str | tzinfo | None = None) -> str:
    """An ISO timestamp as a short, readable local time: ``2026-11-27 14:03``.

    The workspace stores UTC ISO strings (``2026-11-27T05:03:11+00:00``). ``tz`` is the
    viewer's time zone (an IANA name such as the browser's ``st.context.timezone``, or a
    tzinfo); without one the server's local zone is used. Anything that is not a timestamp
    (None, NaN, free text) comes back as text, so a table never fails on one odd cell.
    """
    if iso is None or (not isinstance(iso, str) and pd.isna(iso)):
        return ""
    text = str(iso)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return text
    if isinstance(tz, str):
        try:
            tz = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            tz = None
    if when.tzinfo is not None:
        # A naive time has no zone to convert from: show it as written.
        when = when.astimezone(tz) if tz is not None else when.astimezone()
    return when.strftime("%Y-%m-%d %H:%M")


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=&])")


def visible(text: object) -> str:
    """``text`` with every invisible or direction-changing character shown as its code, ``⟨U+202E⟩``, for
    places that draw plain text (tables, select boxes, chart labels): what a viewer sees is what is stored."""
    return INVISIBLE_CHARS.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", str(text))


def plain(text: object) -> str:
    """``text`` for a markdown string (``st.markdown``, captions, messages) shown as typed: every markdown
    character is backslash-escaped, so a name like ``![x](http://…)`` or a backtick in an id stays text and
    ``:material/…:`` or ``$…$`` are not interpreted. Line breaks become spaces (one line stays one line),
    and invisible or direction-changing characters show as their code (see :func:`visible`)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", visible(" ".join(str(text).splitlines())))


def chart_text(text: object) -> str:
    """``text`` for a plotly label, tick or hover text: plotly reads a subset of HTML there (an ``<a href>``
    becomes a clickable link), so ``<``, ``>`` and ``&`` are written as entities, which plotly draws back as
    the characters; invisible characters show as their code."""
    return html.escape(visible(text), quote=False)


def highlight_html(sentence: str, subj: tuple[int, int], obj: tuple[int, int]) -> str:
    """The sentence as HTML with the subject and object spans (inclusive ends) marked.

    Overlapping or out-of-range spans are drawn as far as they go; nothing is dropped.
    """
    n = len(sentence)
    classes = [0] * n  # bit 1: subject, bit 2: object
    for bit, (start, end) in ((1, subj), (2, obj)):
        for i in range(max(start, 0), min(end + 1, n)):
            classes[i] |= bit
    names = {1: "re-subj", 2: "re-obj", 3: "re-subj re-obj"}
    out: list[str] = []
    i = 0
    while i < n:
        j = i
        while j < n and classes[j] == classes[i]:
            j += 1
        text = html.escape(sentence[i:j])
        out.append(f'<mark class="{names[classes[i]]}">{text}</mark>' if classes[i] else text)
        i = j
    return '<span class="re-sentence">' + "".join(out) + "</span>"


def legend_html() -> str:
    """The key to :func:`highlight_html`'s colours (and :func:`bracketed`'s marks in tables)."""
    return (
        '<div class="re-legend" style="color:#5B6078;font-size:0.85rem;margin:0.1rem 0 0.35rem">'
        'Highlighted: <mark class="re-subj">subject</mark> <mark class="re-obj">object</mark> '
        '<mark class="re-subj re-obj">both (overlap)</mark>'
        f" · in tables: {SUBJ_MARK[0]}subject{SUBJ_MARK[1]} {OBJ_MARK[0]}object{OBJ_MARK[1]}</div>"
    )


def bracketed(sentence: str, subj: tuple[int, int], obj: tuple[int, int]) -> str:
    """Plain-text sentence with ⟦subject⟧ and ⟨object⟩ marked, for tables (which show text only)."""
    inserts = [
        (subj[0], SUBJ_MARK[0]),
        (subj[1] + 1, SUBJ_MARK[1]),
        (obj[0], OBJ_MARK[0]),
        (obj[1] + 1, OBJ_MARK[1]),
    ]
    out = sentence
    # Insert from the right so earlier offsets stay valid; clamp so bad offsets still show something.
    for pos, mark in sorted(inserts, key=lambda t: t[0], reverse=True):
        pos = min(max(pos, 0), len(out))
        out = out[:pos] + mark + out[pos:]
    return out


def bracketed_column(frame: pd.DataFrame) -> pd.Series:
    """:func:`bracketed` for every row of a canonical frame."""
    return pd.Series(
        [
            bracketed(s, (a, b), (c, d))
            for s, a, b, c, d in zip(
                frame["sentence"],
                frame["subj_start"],
                frame["subj_end"],
                frame["obj_start"],
                frame["obj_end"],
                strict=True,
            )
        ],
        index=frame.index,
        dtype="object",
    )


def _layout(fig: go.Figure, title: str, *, height: int = 360) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0, "font": {"size": 15}},
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
        plot_bgcolor="white",
        bargap=0.25,
    )
    fig.update_xaxes(showgrid=False)
    fig.update_yaxes(gridcolor="#ECEEF5")
    return fig


def distribution_figure(dist: pd.DataFrame, title: str, *, share: bool = True, horizontal: bool = False) -> go.Figure:
    """Train and test side by side for one distribution (columns value, train_*, test_*)."""
    kind = "share" if share else "count"
    fig = go.Figure()
    has_test = "test_count" in dist and dist["test_count"].fillna(0).sum() > 0
    for split, color in (("train", TRAIN_COLOR), ("test", TEST_COLOR)):
        if split == "test" and not has_test:
            continue
        values = dist[f"{split}_{kind}"].fillna(0).to_numpy()
        if share:
            values = values * 100
        # Values come from the data (a `source` cell, a label-map name): text, never plotly markup.
        labels = [chart_text(v) for v in dist["value"].astype(str)]
        text = [f"{v:.1f}%" if share else f"{int(v):,}" for v in values]
        bar = (
            go.Bar(y=labels, x=values, orientation="h", name=split, marker_color=color, hovertext=text)
            if horizontal
            else go.Bar(x=labels, y=values, name=split, marker_color=color, hovertext=text)
        )
        fig.add_trace(bar)
    fig = _layout(fig, title, height=max(360, 22 * len(dist) + 80) if horizontal else 360)
    axis_title = "% of rows" if share else "rows"
    if horizontal:
        fig.update_xaxes(title=axis_title)
        fig.update_yaxes(autorange="reversed")
    else:
        fig.update_yaxes(title=axis_title)
    return fig


def heatmap_figure(label_type_pair: pd.DataFrame, *, split: str = "train", title: str = "") -> go.Figure:
    """Label x entity-type-pair counts (columns value = "label | SUBJ-OBJ", {split}_count)."""
    frame = label_type_pair.copy()
    parts = frame["value"].astype(str).str.rsplit(" | ", n=1, expand=True)
    frame["label"], frame["pair"] = parts[0], parts[1]
    table = frame.pivot_table(index="label", columns="pair", values=f"{split}_count", aggfunc="sum", fill_value=0)
    table = table.loc[table.sum(axis=1).sort_values(ascending=False).index]
    z = table.to_numpy(dtype=float)
    # Log colour scale: a handful of odd rows must stay visible next to thousands of normal ones.
    # The colour bar is labelled in rows (1, 10, 100, ...), not in the log values it is drawn with.
    top = max(int(z.max()) if z.size else 0, 1)
    ticks = [0] + [10**k for k in range(len(str(top)))]
    fig = go.Figure(
        go.Heatmap(
            z=np.log10(z + 1),
            x=[chart_text(c) for c in table.columns],
            y=[chart_text(i) for i in table.index],
            text=[[f"{int(v):,}" for v in row] for row in z],
            texttemplate="%{text}",
            hovertemplate="%{y} · %{x}: %{text} rows<extra></extra>",
            colorscale="Blues",
            zmin=0,
            showscale=True,
            colorbar={
                "title": {"text": "rows<br>(log scale)", "side": "top"},
                "tickvals": [float(np.log10(t + 1)) for t in ticks],
                "ticktext": [f"{t:,}" for t in ticks],
                "thickness": 14,
                "len": min(1.0, 400 / max(420, 20 * len(table) + 100)),
                "y": 1,
                "yanchor": "top",
            },
        )
    )
    fig = _layout(fig, title or f"Label × entity-type pair ({split})", height=max(420, 20 * len(table) + 100))
    fig.update_yaxes(autorange="reversed")
    return fig


def filter_groups(
    frame: pd.DataFrame, id_groups: list[list[str]], *, labels: list[str] | None = None, text: str = ""
) -> list[list[str]]:
    """The groups (of row ids) with a row whose label is in ``labels`` and whose id, sentence
    or entity words contain ``text`` (case-insensitive). Empty filters keep everything."""
    if not labels and not text:
        return list(id_groups)
    rows = frame.set_index(frame["id"].astype(str))
    hits = pd.Series(True, index=rows.index)
    if labels:
        hits &= rows["label"].isin(labels)
    if text:
        needle = text.strip().lower()
        haystack = rows.index.str.lower() + "\x1f" + rows["sentence"].str.lower()
        haystack = haystack + "\x1f" + rows["subj_word"].str.lower() + "\x1f" + rows["obj_word"].str.lower()
        hits &= haystack.str.contains(needle, regex=False)
    keep = set(hits[hits].index)
    return [group for group in id_groups if any(str(i) in keep for i in group)]


RUN_COLORS = ("#4F46E5", "#F59E0B", "#10B981", "#EF4444", "#0EA5E9", "#A855F7", "#64748B", "#EC4899")


#: A series with fewer points than this is drawn as measured: an exponential average over a handful of
#: evaluations lags far behind them (a final 45.9 drawn as 33).
SMOOTH_MIN_POINTS = 10


def _padded_range(values: np.ndarray) -> list[float] | None:
    """A y range around a flat series (one point, or all equal), where plotly's autorange would not centre it."""
    finite = values[np.isfinite(values)]
    if len(finite) == 0 or finite.max() > finite.min():
        return None
    v = float(finite[0])
    pad = abs(v) * 0.05 or 1.0
    return [v - pad, v + pad]


def curves_figure(points: pd.DataFrame, *, title: str, x_title: str, smoothing: float = 0.6) -> go.Figure:
    """One metric for several runs: raw points as faint markers, the smoothed curve as a line.

    ``points`` has columns run, x, value (one metric), as :func:`core.store.runs.curves` gives them. A series of
    fewer than :data:`SMOOTH_MIN_POINTS` points is drawn unsmoothed, as a line through visible markers.
    """
    from core.store.runs import smooth  # display stays importable without the run readers

    fig = go.Figure()
    for i, (run, group) in enumerate(points.groupby("run", sort=False)):
        color = RUN_COLORS[i % len(RUN_COLORS)]
        group = group.sort_values("x")
        values = group["value"].to_numpy(dtype=float)
        if len(group) < SMOOTH_MIN_POINTS or smoothing <= 0:
            fig.add_trace(
                go.Scatter(
                    x=group["x"],
                    y=values,
                    mode="lines+markers",
                    name=chart_text(run),
                    legendgroup=run,
                    line={"color": color, "width": 2},
                    marker={"color": color, "size": 7},
                )
            )
            continue
        fig.add_trace(
            go.Scatter(
                x=group["x"],
                y=values,
                mode="markers",
                name=f"{chart_text(run)} (raw)",
                legendgroup=run,
                showlegend=False,
                marker={"color": color, "size": 5, "opacity": 0.35},
            )
        )
        fig.add_trace(
            go.Scatter(
                x=group["x"],
                y=smooth(values, weight=smoothing),
                mode="lines",
                name=chart_text(run),
                legendgroup=run,
                line={"color": color, "width": 2},
            )
        )
    fig = _layout(fig, title, height=320)
    # Legend under the plot: run names are long and, above it, ran into the title.
    fig.update_layout(
        legend={"orientation": "h", "y": -0.3, "x": 0, "xanchor": "left", "yanchor": "top"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    fig.update_xaxes(title=x_title)
    y_range = _padded_range(points["value"].to_numpy(dtype=float))
    if y_range is not None:
        fig.update_yaxes(range=y_range)
    return fig


#: Above this many points the data map draws with WebGL (``Scattergl``); SVG markers slow the browser down.
DATA_MAP_WEBGL_OVER = 5000
#: Characters per line of the data map's hover text (plotly does not wrap it).
HOVER_WIDTH = 60


def _hover_sentence(sentence: object, spans: tuple[int, int, int, int] | None) -> str:
    """A sentence for a hover box: bracketed entities, escaped, broken into lines of :data:`HOVER_WIDTH`."""
    text = str(sentence)
    if spans is not None:
        text = bracketed(text, (spans[0], spans[1]), (spans[2], spans[3]))
    lines = [text[i : i + HOVER_WIDTH] for i in range(0, len(text), HOVER_WIDTH)] or [""]
    return "<br>".join(chart_text(line) for line in lines)


def data_map_figure(table: pd.DataFrame, *, title: str = "", height: int = 480) -> go.Figure:
    """Dataset cartography's scatter: confidence (y) against variability (x), one point per train row with
    figures, coloured by correctness (the share of evaluations predicted right).

    Each point's ``customdata[0]`` is its row id, so a selection (click, box or lasso) gives ids
    (:func:`core.analysis.datamap.selected_ids`). The hover shows the id, the labels, the figures and the
    sentence with its entities marked, as text. Rows marked ``changed`` (since the run) are drawn as crosses,
    rows marked ``flagged`` (by another finder) with a dark outline. Region names sit where the original
    puts them.
    """
    conf = np.asarray(table["confidence"], dtype=float)
    shown = table[np.isfinite(conf)]
    has_sentence = "sentence" in shown
    has_spans = {"subj_start", "subj_end", "obj_start", "obj_end"} <= set(shown.columns)
    hover = []
    for row in shown.itertuples(index=False):
        label = getattr(row, "label", None)
        label = row.run_label if label is None or (isinstance(label, float) and np.isnan(label)) else label
        parts = [
            f"id {chart_text(row.id)} · {chart_text(label)}"
            + (f" (trained as {chart_text(row.run_label)})" if label != row.run_label else ""),
            f"confidence {row.confidence:.3f} · variability {row.variability:.3f} · correct {row.correctness:.0%}",
        ]
        if has_sentence and isinstance(row.sentence, str):
            spans = (row.subj_start, row.subj_end, row.obj_start, row.obj_end) if has_spans else None
            parts.append(_hover_sentence(row.sentence, spans))
        hover.append("<br>".join(parts))
    changed = shown["changed"].to_numpy(dtype=bool) if "changed" in shown else np.zeros(len(shown), dtype=bool)
    flagged = shown["flagged"].to_numpy(dtype=bool) if "flagged" in shown else np.zeros(len(shown), dtype=bool)
    trace = go.Scattergl if len(shown) > DATA_MAP_WEBGL_OVER else go.Scatter
    fig = go.Figure(
        trace(
            x=shown["variability"].to_numpy(dtype=float),
            y=shown["confidence"].to_numpy(dtype=float),
            mode="markers",
            customdata=[[str(i)] for i in shown["id"]],
            hovertext=hover,
            hoverinfo="text",
            name="train rows",
            marker={
                "color": shown["correctness"].to_numpy(dtype=float),
                "colorscale": "RdYlBu",
                "cmin": 0.0,
                "cmax": 1.0,
                "size": 7,
                "opacity": 0.8,
                "symbol": np.where(changed, "x", "circle").tolist(),
                "line": {"color": "#111827", "width": np.where(flagged, 1.5, 0.0).tolist()},
                "colorbar": {"title": {"text": "correctness"}, "thickness": 12},
            },
        )
    )
    fig = _layout(fig, title, height=height)
    fig.update_layout(dragmode="lasso", showlegend=False, hoverlabel={"align": "left"})
    fig.update_xaxes(title="variability", showgrid=True, gridcolor="#ECEEF5", rangemode="tozero")
    fig.update_yaxes(title="confidence", range=[-0.02, 1.02])
    x_max = float(np.nanmax(shown["variability"])) if len(shown) else 0.5
    x_max = x_max if x_max > 0 else 0.5
    for text, x, y in (
        ("ambiguous", 0.85 * x_max, 0.5),
        ("easy to learn", 0.2 * x_max, 0.95),
        ("hard to learn", 0.2 * x_max, 0.05),
    ):
        fig.add_annotation(x=x, y=y, text=text, showarrow=False, bgcolor="white", bordercolor="#9CA3AF", opacity=0.85)
    return fig
