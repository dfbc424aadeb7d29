"""Evaluate page: where a model fails, whether a change helped, and a decoding rule worth exporting.

Thin: the set to score comes from core.evaluate.sources (a run, an ensemble of runs, or uploaded files), every
figure from core.evaluate, and the page draws them. Names (runs, labels, files) are data: markdown gets them
through display.plain, plotly through display.chart_text.
"""

from __future__ import annotations

import html
import io
import urllib.parse
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import evaluate as ev
from core.analysis import ensemble_members, ensemble_uploads
from core.common.schema import NO_RELATION
from core.evaluate.decode import DecodingRule, decode, write_decoded
from core.evaluate.sources import EvalSet, ensemble_set, row_info, run_sets, test_predictions, upload_set
from core.serve import display
from core.store.runs import RunDir
from core.train.metrics import auprc, micro_f1
from views import common

ROWS_SHOWN = 30  # row cards under a confusion cell or a comparison (the table below lists them all)

st.title("Evaluate")
st.caption(
    "Where a model fails and whether a change helped: micro-F1 (no_relation excluded), AUPRC and accuracy with "
    "95% bootstrap intervals, the confusion matrix, slices, a no_relation threshold and the entity-type "
    "restriction checked on held-out halves, calibration, and paired comparisons."
)
ws = common.workspace()
root = str(ws.root)
info = common.selected_dataset(ws)
if info is None:
    st.info("Import a dataset on the Data page first.")
    st.stop()
#: The dataset's finished runs, newest first, read once per page run (each read opens every run's summary).
RUNS = {r.label: r for r in reversed(ensemble_members.finished_runs(ws, info.id))}
LABEL_OF = {r.job_id: label for label, r in RUNS.items()}


# -- cached loading and scoring (keyed by plain values; the set itself is not hashed) --------------------------


def _stamp(job_ids: tuple[int, ...]) -> tuple:
    """Changes when a run's prediction files or the dataset's revision change."""
    stamps = []
    for job in RUNS.values():
        if job.job_id in job_ids:
            run = RunDir(job.run_dir)
            stamps.append(tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in (run.dev_predictions, run.summary)))
    return (tuple(stamps), ws.revision(info.id))


@st.cache_data(max_entries=16, show_spinner="Reading the run's predictions…")
def _run_sets(root: str, job_id: int, stamp: tuple) -> list[EvalSet]:
    del stamp  # only part of the cache key
    return run_sets(root, job_id)


@st.cache_data(max_entries=8, show_spinner="Combining the runs…")
def _ensemble(root: str, job_ids: tuple[int, ...], dataset_id: int, method: str, stamp: tuple) -> EvalSet:
    del stamp
    return ensemble_set(root, list(job_ids), dataset=dataset_id, method=method)


@st.cache_data(max_entries=16, show_spinner="Scoring with 1,000 bootstrap resamples…")
def _headline(key: tuple, _s: EvalSet) -> ev.Headline:
    return ev.headline(_s.gold, _s.probs, no_relation=_no_relation(_s))


@st.cache_data(max_entries=16, show_spinner=False)
def _threshold(key: tuple, mode: str, _s: EvalSet) -> ev.threshold.ThresholdStudy:
    return ev.threshold_study(_s.gold, _s.probs, mode=mode, no_relation=_no_relation(_s))


@st.cache_data(max_entries=16, show_spinner="Restricting and rescoring…")
def _restriction(key: tuple, _s: EvalSet) -> ev.RestrictionEffect:
    rows = row_info(_s.rows)
    return ev.restriction_effect(
        _s.gold, _s.probs, rows.subj_types, rows.obj_types, _s.allowed, no_relation=_no_relation(_s)
    )


def _no_relation(s: EvalSet) -> int:
    return s.labels.index(NO_RELATION) if NO_RELATION in s.labels else -1


def _key(s: EvalSet) -> tuple:
    return (s.name, s.n, s.revision, st.session_state.get("ev_stamp"))


# -- choosing what to score ------------------------------------------------------------------------------------


def pick_set() -> EvalSet | None:
    runs = RUNS
    kind = st.segmented_control(
        "Source", ["Run", "Ensemble", "Upload"], default="Run", key="ev_source", label_visibility="collapsed"
    )
    if kind == "Upload":
        return uploaded_set()
    if not runs:
        st.info(f"No finished run of {display.plain(info.name)} yet: train one on the Train page, or upload files.")
        return None
    if kind == "Ensemble":
        c1, c2 = st.columns([4, 1])
        chosen = c1.multiselect("Runs", list(runs), default=list(runs)[:2], key="ev_members")
        method = c2.selectbox("Method", ["soft", "hard"], key="ev_method")
        if not chosen:
            st.caption("Pick the runs to combine.")
            return None
        ids = tuple(runs[c].job_id for c in chosen)
        st.session_state["ev_stamp"] = _stamp(ids)
        with common.user_errors(show="inline") as failed:
            result = _ensemble(root, ids, info.id, method, st.session_state["ev_stamp"])
        return None if failed else result
    c1, c2 = st.columns(2)
    label = c1.selectbox("Run", list(runs), key="ev_run")
    job_id = runs[label].job_id
    st.session_state["ev_stamp"] = _stamp((job_id,))
    with common.user_errors(show="inline") as failed:
        sets = _run_sets(root, job_id, st.session_state["ev_stamp"])
    if failed:
        return None
    by_name = {s.name.split(" · ", 1)[1]: s for s in sets}
    if len(sets) > 1:
        side_by_side(sets)
    which = c2.selectbox(
        "Predictions and gold",
        list(by_name),
        key=f"ev_part_{job_id}",
        help="Dev predictions against the dev labels at the revision the run trained on, or at the current "
        "revision when corrections changed them since; test predictions when the test part has labels.",
    )
    return by_name[which]


def upload_folder() -> Path:
    """This session's folder for uploads (the Ensemble page sweeps those of ended sessions)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    session = ctx.session_id if ctx is not None else st.session_state.setdefault("ev_session", uuid.uuid4().hex)
    folder = ensemble_uploads.session_upload_dir(session) / "evaluate"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def side_by_side(sets: list[EvalSet]) -> None:
    """A run's sets in one table: the same predictions against the labels it trained on and the current ones
    (a correction since moves the score without the model changing), and the test part."""
    rows = []
    for s in sets:
        head = _headline(_key(s), s)
        rows.append(
            {
                "predictions and gold": s.name.split(" · ", 1)[1],
                "rows": s.n,
                "micro-F1": f"{head.micro_f1:.2f} ({head.micro_f1_ci.low:.2f}–{head.micro_f1_ci.high:.2f})",
                "AUPRC": f"{head.auprc:.2f} ({head.auprc_ci.low:.2f}–{head.auprc_ci.high:.2f})",
                "accuracy": f"{head.accuracy:.2f}",
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="ev_side_by_side")


def uploaded_set() -> EvalSet | None:
    if not common.require_editor("Uploading files"):
        return None
    c1, c2 = st.columns(2)
    pred = c1.file_uploader("Submission (id,pred_label,probs)", type=["csv"], key="ev_up_pred")
    gold = c2.file_uploader("Gold (id,label CSV or labeled data file)", key="ev_up_gold")
    c1, c2 = st.columns(2)
    rows = c1.file_uploader("Data file of the predicted rows (optional: slices)", key="ev_up_rows")
    train = c2.file_uploader("Training rows (optional: type restriction)", key="ev_up_train")
    if not (pred and gold):
        st.caption("Upload a submission and its gold file to score them.")
        return None
    folder = upload_folder()
    paths, shown = {}, {}
    for name, upload in (("pred", pred), ("gold", gold), ("rows", rows), ("train", train)):
        if upload is None:
            continue
        suffix = Path(upload.name).suffix.lower()[:10]
        path = folder / f"{name}{suffix}"
        path.write_bytes(upload.getvalue())
        paths[name], shown[str(path)] = path, upload.name
    with common.user_errors(show="inline") as failed:
        result = upload_set(
            paths["pred"],
            paths["gold"],
            rows_path=paths.get("rows"),
            train_path=paths.get("train"),
            schema=info.schema,
            shown=shown,
        )
    return None if failed else result


# -- sections ----------------------------------------------------------------------------------------------


def headline_section(s: EvalSet, head: ev.Headline) -> None:
    cols = st.columns(4)
    for col, (name, value, ci) in zip(
        cols,
        (
            ("micro-F1", head.micro_f1, head.micro_f1_ci),
            ("AUPRC", head.auprc, head.auprc_ci),
            ("Accuracy", head.accuracy, head.accuracy_ci),
        ),
        strict=False,
    ):
        col.metric(name, f"{value:.2f}", help=f"95% bootstrap interval over {head.resamples:,} resamples")
        col.caption(f"95% CI {ci.low:.2f} – {ci.high:.2f}")
    cols[3].metric("Rows", f"{s.n:,}")
    cols[3].caption(display.plain(s.name))
    for note in s.notes:
        st.caption(display.plain(note))


def _links(s: EvalSet, row_id: str) -> str:
    """Markdown links that open a row in Explain (with the run) and in the Data view's row editor."""
    q = {"dataset": s.dataset or "", "edit": row_id, "part": "test" if s.part == "test" else "train"}
    data = f"[edit in Data](/data?{urllib.parse.urlencode(q)})"
    if not s.job_ids:
        return data
    run = LABEL_OF.get(s.job_ids[0], "")
    q = {"dataset": s.dataset or "", "run": run, "example": row_id}
    return f"[explain](/explain?{urllib.parse.urlencode(q)}) · {data}"


def row_cards(s: EvalSet, indices: np.ndarray, pred: np.ndarray, *, other: np.ndarray | None = None) -> None:
    """Up to :data:`ROWS_SHOWN` rows as cards (sentence with both spans, gold, predicted, probability)."""
    st.html(display.legend_html())
    for i in indices[:ROWS_SHOWN].tolist():
        gold, guess = s.labels[s.gold[i]], s.labels[pred[i]]
        meta = (
            f"id <b>{html.escape(s.ids[i])}</b> · gold <b>{html.escape(gold)}</b> · predicted "
            f"<b>{html.escape(guess)}</b> ({s.probs[i, pred[i]]:.2f})"
        )
        if other is not None:
            meta += f" · other run <b>{html.escape(s.labels[other[i]])}</b>"
        if s.rows is not None and not pd.isna(s.rows.iloc[i]["sentence"]):
            r = s.rows.iloc[i]
            sentence = display.highlight_html(
                str(r["sentence"]), (int(r["subj_start"]), int(r["subj_end"])), (int(r["obj_start"]), int(r["obj_end"]))
            )
            st.html(f'<div class="re-card">{sentence}<div class="re-meta">{meta}</div></div>')
        else:
            st.html(f'<div class="re-card"><div class="re-meta">{meta}</div></div>')
        st.markdown(_links(s, s.ids[i]))
    if len(indices) > ROWS_SHOWN:
        st.caption(f"The first {ROWS_SHOWN} of {len(indices):,} rows.")


def confusion_section(s: EvalSet) -> None:
    pred = s.probs.argmax(axis=1)
    c1, c2 = st.columns(2)
    order = c1.radio("Order", ["frequency", "confusion"], horizontal=True, key="ev_order")
    normalised = c2.toggle("Row-normalised", value=True, key="ev_norm")
    conf = ev.confusion_matrix(s.gold, pred, label_names=s.labels, order=order)
    names = [s.labels[c] for c in conf.classes]
    z = conf.normalized if normalised else conf.matrix
    shown = [display.chart_text(n) for n in names]
    fig = go.Figure(go.Heatmap(z=z, x=shown, y=shown, colorscale="Blues", hoverinfo="skip"))
    # Heatmaps do not report clicks; a near-invisible marker on every cell does (Streamlit's point selection),
    # and carries the hover text.
    gi, pj = np.meshgrid(np.arange(len(names)), np.arange(len(names)), indexing="ij")
    fig.add_trace(
        go.Scatter(
            x=[shown[j] for j in pj.ravel()],
            y=[shown[i] for i in gi.ravel()],
            customdata=conf.matrix.ravel(),
            mode="markers",
            marker={"size": 16, "symbol": "square", "color": "rgba(0,0,0,0)"},
            hovertemplate="gold %{y}<br>predicted %{x}<br>%{customdata} rows<extra></extra>",
            showlegend=False,
        )
    )
    every = {"tickmode": "array", "tickvals": shown, "ticktext": shown, "showgrid": False}
    fig.update_layout(
        height=22 * len(names) + 300,
        xaxis={"title": "predicted", **every},
        yaxis={"title": "gold", "autorange": "reversed", **every},
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title="Confusion (no_relation last, set apart): click a cell for its rows",
        clickmode="event+select",
        hovermode="closest",
    )
    event = st.plotly_chart(fig, on_select="rerun", selection_mode="points", key="ev_confusion")
    points = [p for p in (event.selection.get("points", []) if event else []) if p.get("curve_number") == 1]
    picked = divmod(int(points[0]["point_index"]), len(names)) if points else None
    if picked is not None and st.session_state.get("ev_cell_picked") != picked:
        # A new click picks its cell below (the pickers stay free to change until the next click).
        st.session_state["ev_cell_picked"] = picked
        st.session_state["ev_cell_gold"] = names[picked[0]]
        st.session_state["ev_cell_pred"] = names[picked[1]]
    off = conf.matrix.copy()
    np.fill_diagonal(off, 0)
    worst = np.unravel_index(int(off.argmax()), off.shape)
    st.session_state.setdefault("ev_cell_gold", names[worst[0]])
    st.session_state.setdefault("ev_cell_pred", names[worst[1]])
    c1, c2 = st.columns(2)
    gold_name = c1.selectbox("Gold", names, key="ev_cell_gold")
    pred_name = c2.selectbox("Predicted", names, key="ev_cell_pred")
    rows = ev.cell_rows(s.gold, pred, gold_class=s.labels.index(gold_name), pred_class=s.labels.index(pred_name))
    st.markdown(f"**{len(rows):,}** rows: gold {display.plain(gold_name)}, predicted {display.plain(pred_name)}")
    row_cards(s, rows, pred)


def slices_section(s: EvalSet) -> None:
    pred = s.probs.argmax(axis=1)
    per = pd.DataFrame([c.to_dict() for c in ev.per_class(s.gold, pred, label_names=s.labels)])
    st.markdown("**Per relation**")
    st.dataframe(per.sort_values("support", ascending=False), hide_index=True, width="stretch", key="ev_per_class")
    errors = ev.direction_errors(s.gold, pred, label_names=s.labels)
    st.markdown(f"**Direction errors**: {errors.count:,} rows predicted as the inverse of their relation")
    if errors.pairs:
        st.dataframe(
            pd.DataFrame(errors.pairs, columns=["gold", "predicted", "rows"]), hide_index=True, key="ev_direction"
        )
    info_rows = row_info(s.rows)
    if info_rows is None:
        st.caption("Upload the predicted rows' data file for the slices by type pair, source and length.")
        return
    nr = _no_relation(s)
    pairs = np.char.add(np.char.add(info_rows.subj_types.astype(str), "-"), info_rows.obj_types.astype(str))
    for title, keys in (
        ("Type pair (subject-object)", pairs),
        ("Source", info_rows.sources),
        ("Sentence length (characters)", ev.length_buckets(info_rows.lengths)),
    ):
        st.markdown(f"**{title}**")
        table = pd.DataFrame([x.to_dict() for x in ev.slice_scores(s.gold, pred, keys, no_relation=nr)])
        st.dataframe(table, hide_index=True, width="stretch", key=f"ev_slice_{title[:6]}")


def threshold_section(s: EvalSet) -> None:
    mode = st.radio(
        "Rule",
        ["probability", "margin"],
        horizontal=True,
        key="ev_threshold_mode",
        format_func={
            "probability": "best relation's probability ≥ t",
            "margin": "its margin over no_relation ≥ t",
        }.get,
    )
    study = _threshold(_key(s), mode, s)
    gains = study.heldout_gains
    c1, c2, c3 = st.columns(3)
    c1.metric("Chosen t (all rows)", f"{study.threshold:.3f}")
    c2.metric(
        "Held-out gain",
        f"{gains.mean():+.2f}",
        help="t chosen on one half of the rows, the gain measured on the other half; mean over "
        f"{len(gains)} seeded half splits",
    )
    c2.caption(f"± {gains.std(ddof=1) if len(gains) > 1 else 0:.2f} over {len(gains)} splits")
    c3.metric(
        "micro-F1 at t (all rows, optimistic)",
        f"{study.micro_f1:.2f}",
        f"{study.micro_f1 - study.baseline_micro_f1:+.2f}",
    )
    fig = go.Figure(go.Scatter(x=study.curve_thresholds, y=study.curve_micro_f1, mode="lines", name="micro-F1"))
    fig.add_hline(y=study.baseline_micro_f1, line_dash="dot", annotation_text="argmax")
    fig.add_vline(x=study.threshold, line_dash="dash", annotation_text="t")
    fig.update_layout(height=320, xaxis_title="t", yaxis_title="micro-F1", margin={"t": 30, "b": 10})
    st.plotly_chart(fig, key="ev_threshold_curve")
    st.dataframe(pd.DataFrame([x.to_dict() for x in study.splits]), hide_index=True, key="ev_threshold_splits")
    st.checkbox(
        f"Apply t = {study.threshold:.3f} on export",
        key="ev_use_threshold",
        help="Worth it when the held-out gain is positive across splits.",
    )
    st.session_state["ev_rule_threshold"] = (study.threshold, mode)


def restriction_section(s: EvalSet) -> None:
    if s.allowed is None or s.rows is None:
        st.info("The restriction needs the rows' entity types and the rows the model learned from: upload both.")
        return
    effect = _restriction(_key(s), s)
    c1, c2, c3 = st.columns(3)
    c1.metric("Predictions changed", f"{effect.changed:,}")
    for col, name, diff in ((c2, "micro-F1", effect.micro_f1), (c3, "AUPRC", effect.auprc)):
        col.metric(f"{name} restricted", f"{diff.after:.2f}", f"{diff.delta:+.2f}")
        col.caption(f"change 95% CI {diff.ci.low:+.2f} – {diff.ci.high:+.2f}, p = {diff.p_value:.3f}")
    st.caption(
        f"{effect.unseen_rows:,} rows have a type pair never seen in training and are left unrestricted; "
        "no_relation is always allowed."
    )
    suppressed = pd.DataFrame([x.to_dict(list(s.ids)) for x in effect.restriction.suppressed])
    if not suppressed.empty:
        st.markdown("**Every prediction the restriction changed**")
        st.dataframe(suppressed, hide_index=True, width="stretch", key="ev_suppressed")
    st.checkbox("Apply the restriction on export", key="ev_use_restriction")


def calibration_section(s: EvalSet) -> None:
    rel = ev.reliability(s.gold, s.probs)
    temp = ev.temperature_study(s.gold, s.probs)
    c1, c2 = st.columns(2)
    c1.metric("Expected calibration error", f"{rel.ece:.3f}")
    c2.metric(
        f"ECE after temperature {temp.temperature:.2f}",
        f"{temp.ece_after:.3f}",
        f"{temp.ece_after - temp.ece_before:+.3f}",
        delta_color="inverse",
        help=f"Fitted on one half of the rows, checked on the other {temp.heldout_rows:,}.",
    )
    bins = [b for b in rel.bins if b.count]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line_dash="dot", name="perfect"))
    fig.add_trace(
        go.Scatter(
            x=[b.confidence for b in bins],
            y=[b.accuracy for b in bins],
            mode="lines+markers",
            text=[f"{b.count:,} rows" for b in bins],
            name="model",
        )
    )
    fig.update_layout(height=360, xaxis_title="confidence", yaxis_title="accuracy", margin={"t": 30, "b": 10})
    st.plotly_chart(fig, key="ev_reliability")


def compare_section(s: EvalSet) -> None:
    runs = RUNS
    others = [label for label, r in runs.items() if r.job_id not in s.job_ids]
    if not others:
        st.info("Another finished run of this dataset is needed to compare.")
        return
    other = st.selectbox("Compare with", others, key="ev_compare")
    job_id = runs[other].job_id
    with common.user_errors(show="inline") as failed:
        candidates = [b for b in _run_sets(root, job_id, _stamp((job_id,))) if b.part == s.part]
    if failed:
        return
    if not candidates:
        st.caption(f"{display.plain(other)} has no {display.plain(s.part)} predictions to pair with these rows.")
        return
    b = candidates[0]
    position = {rid: i for i, rid in enumerate(b.ids)}
    if s.labels != b.labels or any(rid not in position for rid in s.ids):
        st.warning("The two runs did not predict the same rows (another split or label set): nothing to pair.")
        return
    probs_b = b.probs[[position[rid] for rid in s.ids]]
    result = ev.compare_runs(
        s.gold,
        s.probs,
        probs_b,
        names=(s.name.split(" · ")[0], other),
        label_names=s.labels,
        no_relation=_no_relation(s),
    )
    st.caption(f"Both scored on one gold set: {display.plain(s.name)}.")
    (st.success if result.micro_f1.ci.low > 0 or result.micro_f1.ci.high < 0 else st.info)(
        display.plain(result.verdict)
    )
    st.caption(
        f"p = {result.micro_f1.p_value:.3f} (paired bootstrap); AUPRC {result.auprc_a:.2f} → {result.auprc_b:.2f}"
    )
    deltas = pd.DataFrame(result.per_class, columns=["label", "F1 a", "F1 b"]).assign(
        delta=lambda d: d["F1 b"] - d["F1 a"]
    )
    st.dataframe(deltas.sort_values("delta"), hide_index=True, width="stretch", key="ev_deltas")
    st.markdown(f"**{len(result.disagreements):,} rows where they disagree**")
    row_cards(s, result.disagreements, result.pred_a, other=result.pred_b)


def export_section(s: EvalSet) -> None:
    use_t = st.session_state.get("ev_use_threshold") and "ev_rule_threshold" in st.session_state
    t, mode = st.session_state.get("ev_rule_threshold", (None, "probability"))
    rule = DecodingRule(
        threshold=t if use_t else None, mode=mode, restrict=bool(st.session_state.get("ev_use_restriction"))
    )
    st.markdown(f"Rule: **{display.plain(rule.describe())}** (set it on the Threshold and Type restriction tabs).")
    if rule.restrict and s.allowed is None:
        st.warning("This set has no training rows for the restriction.")
        return
    # The rule on these rows first: what it does here, before it goes on the test rows.
    rows = row_info(s.rows)
    with common.user_errors(show="inline") as failed:
        decoded = decode(
            s.probs,
            labels=s.labels,
            rule=rule,
            subj_types=None if rows is None else rows.subj_types,
            obj_types=None if rows is None else rows.obj_types,
            allowed=s.allowed,
        )
    if failed:
        return
    nr = _no_relation(s)
    st.caption(
        f"On these rows: micro-F1 {micro_f1(s.gold, decoded.preds, no_relation=nr):.2f}, "
        f"AUPRC {auprc(s.gold, decoded.probs):.2f} with the rule."
    )
    if not s.job_ids:
        st.caption("Export applies to a run's or an ensemble's test predictions: pick a run or an ensemble.")
        return
    method = st.session_state.get("ev_method", "soft") if len(s.job_ids) > 1 else "soft"
    with common.user_errors(show="inline") as failed:
        test = test_predictions(root, list(s.job_ids), dataset=info.id, method=method)
        buffer = io.StringIO()
        written = write_decoded(
            buffer,
            test.ids,
            test.probs,
            labels=test.labels,
            rule=rule,
            subj_types=test.rows["subj_type"].astype(str).to_numpy(dtype=object),
            obj_types=test.rows["obj_type"].astype(str).to_numpy(dtype=object),
            allowed=s.allowed,
        )
    if failed:
        return
    changed = int((written.preds != test.probs.argmax(axis=1)).sum())
    st.download_button(
        f"Download test submission ({len(test.ids):,} rows, {changed:,} changed by the rule)",
        buffer.getvalue(),
        file_name="submission.csv",
        mime="text/csv",
        key="ev_export",
        icon=":material/download:",
    )


# -- page ------------------------------------------------------------------------------------------------------
chosen = pick_set()
if chosen is None:
    st.stop()
headline_section(chosen, _headline(_key(chosen), chosen))
tabs = st.tabs(
    ["Confusion", "Per relation & slices", "Threshold", "Type restriction", "Calibration", "Compare", "Export"]
)
with tabs[0]:
    confusion_section(chosen)
with tabs[1]:
    slices_section(chosen)
with tabs[2]:
    threshold_section(chosen)
with tabs[3]:
    restriction_section(chosen)
with tabs[4]:
    calibration_section(chosen)
with tabs[5]:
    compare_section(chosen)
with tabs[6]:
    export_section(chosen)
