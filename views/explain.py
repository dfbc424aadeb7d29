"""Explain view: why a run predicts what it does on one example (probabilities, attention, attributions).

Pick a finished run (or two side by side), then an example by id or by filter, or type a sentence and
mark its entities. The state (run, second run, example, method, target, typed sentence) lives in the URL
query, so a copied link reproduces the screen. Every sentence, token and word is data: it reaches the page
escaped (heat strips) or as escaped JSON (bertviz, see core.explain.bertviz_html).
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import display, jobs
from core import explain as ex
from core.schema import SCHEMAS, LabelSchema
from views import common

ws = common.workspace()
root = str(ws.root)
qp = st.query_params
METHOD_NAMES = {
    "integrated_gradients": "Integrated gradients",
    "input_x_gradient": "Gradient × input",
    "saliency": "Saliency",
    "occlusion": "Word occlusion",
}
KIND_STYLE = {"subject": "border-bottom:2px solid #4F46E5", "object": "border-bottom:2px solid #F59E0B"}


# -- cached work (keyed by plain values; core.explain caches the models and locks them) --------------------


def _example_key(example: ex.Example) -> tuple:
    return tuple(example.__dict__.values())


@st.cache_data(max_entries=64, show_spinner=False)
def _explain(source: str, key: tuple, target: str | None, methods: tuple[str, ...]) -> dict:
    explainer = ex.load_explainer(source)
    return ex.explain(explainer, ex.Example(*key), target=target, methods=methods)


@st.cache_data(max_entries=16, show_spinner=False)
def _attention_page(source: str, key: tuple, view: str, layers: tuple[int, ...], max_tokens: int) -> tuple[str, str]:
    explainer = ex.load_explainer(source)
    data = ex.attention(explainer, ex.Example(*key), layers=list(layers), max_tokens=max_tokens)
    return ex.bertviz_html(data, view=view), data["note"]


@st.cache_data(max_entries=16, show_spinner=False)
def _predictions(path: str, mtime: float) -> pd.DataFrame:
    """The run's dev predictions (id, pred_label); only these two columns are needed here."""
    return pd.read_csv(path, usecols=["id", "pred_label"], dtype=str)


# -- pieces of the page ----------------------------------------------------------------------------------


def succeeded_runs() -> dict[str, jobs.Job]:
    out = {}
    for job in reversed(jobs.JobStore(root).list_jobs()):
        if job.status == "succeeded" and (Path(job.run_dir) / "checkpoint").exists():
            out[f"#{job.id} {job.name}"] = job
    return out


def _qp_index(options: list[str], key: str, default: int = 0) -> int:
    value = qp.get(key)
    return options.index(value) if value in options else default


def probability_figure(prediction: dict, *, top: int = 10) -> go.Figure:
    ranked = prediction["ranked"][:top]
    gold = prediction["gold_label"]
    labels = [r["label"] for r in ranked][::-1]
    probs = [r["prob"] for r in ranked][::-1]
    colors = ["#16A34A" if label == gold else "#4F46E5" for label in labels]
    fig = go.Figure(go.Bar(x=probs, y=labels, orientation="h", marker_color=colors, hovertemplate="%{y}: %{x:.3f}"))
    title = "Top 10 probabilities" + (" (gold in green)" if gold else "")
    if gold and gold not in labels:
        title += f"; gold {gold!r} is not in the top 10"
    fig.update_layout(title=title, height=320, margin={"l": 10, "r": 10, "t": 40, "b": 10}, xaxis_range=[0, 1])
    return fig


def tokens_html(encoded: dict) -> str:
    chips = []
    colours = {"special": "#E5E7EB", "marker": "#FDE68A", "query": "#E0E7FF"}
    for i, token in enumerate(encoded["tokens"]):
        kind = encoded["units"][encoded["unit_of"][i]]["kind"]
        style = f"background:{colours.get(kind, '#F3F4F6')};{KIND_STYLE.get(kind, '')}"
        chips.append(
            f'<span class="xp-token" title="{i}: {html.escape(kind)}" style="{style};padding:1px 4px;'
            f'margin:1px;border-radius:4px;display:inline-block;font-family:monospace">{html.escape(token)}</span>'
        )
    return '<div class="xp-tokens">' + "".join(chips) + "</div>"


def strip_html(result: dict) -> str:
    """One heat strip: words coloured by normalised score (red for, blue against the target)."""
    parts = []
    for word in result["words"]:
        if word["kind"] == "special":
            continue
        v = float(word["norm"])
        rgb = "220,38,38" if v >= 0 else "37,99,235"
        extra = KIND_STYLE.get(word["kind"], "")
        style = f"background:rgba({rgb},{abs(v):.3f});padding:2px 4px;margin:1px;border-radius:4px;{extra}"
        title = f"{word['kind']} · score {word['score']:.4g}"
        parts.append(
            f'<span class="xp-word" style="{style}" title="{html.escape(title)}">{html.escape(word["text"])}</span>'
        )
    return (
        f'<div class="xp-strip" data-method="{html.escape(result["method"])}" style="line-height:2.2">'
        + " ".join(parts)
        + "</div>"
    )


def faithfulness_caption(result: dict) -> str:
    f = result.get("faithfulness", {})
    bits = [
        f"comprehensiveness **{f.get('comprehensiveness', 0):.3f}** (higher is better)",
        f"sufficiency **{f.get('sufficiency', 0):.3f}** (lower is better)",
    ]
    if "delta" in result:
        bits.append(f"IG convergence delta {result['delta']:.2e} ({result['n_steps']} {result['integration']} steps)")
    bits.append(f"{result['wall_s']:.2f} s")
    return " · ".join(bits)


def pick_example(job: jobs.Job, labels: list[str]) -> ex.Example | None:
    """A dataset row (by id or by filter) or a typed sentence; the choice goes to the URL."""
    source = st.segmented_control(
        "Example",
        ["Dataset row", "Type a sentence"],
        key="xp_source",
        default="Type a sentence" if qp.get("text") else "Dataset row",
    )
    if source == "Type a sentence":
        return typed_example(labels)
    for key in ("text", "subj", "obj", "stype", "otype"):
        qp.pop(key, None)
    config = job.config or {}
    try:
        info = ws.dataset(config.get("dataset") or ws.datasets()[-1].name)
    except Exception:  # the run's dataset was removed
        st.warning("This run's dataset is not in the workspace any more; type a sentence instead.")
        return None
    revision = ws.revision(info.id)
    full = common.current_frame(root, info.id, "train", revision).copy()
    full["id"] = full["id"].astype(str)
    pred_path = Path(job.run_dir) / "dev_predictions.csv"
    preds = _predictions(str(pred_path), pred_path.stat().st_mtime) if pred_path.exists() else None
    if preds is not None:
        full["pred_label"] = full["id"].map(dict(zip(preds["id"], preds["pred_label"], strict=True)))
        frame = full[full["pred_label"].notna()]
        st.caption(f"{len(frame)} dev rows of **{info.name}** with this run's predictions (any row id works below).")
    else:
        full["pred_label"] = pd.NA
        frame = full
    c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
    gold = c1.multiselect("Gold label", sorted(frame["label"].dropna().unique()), key="xp_gold", placeholder="any")
    pred = c2.multiselect(
        "Predicted label", sorted(frame["pred_label"].dropna().unique()), key="xp_pred", placeholder="any"
    )
    wrong_first = c3.toggle("Wrong first", value=True, key="xp_wrong_first")
    flagged = c4.toggle(
        "Flagged only", key="xp_flagged", help="Rows the Data view flags (types, offsets, duplicates, conflicts)."
    )
    shown = frame
    if gold:
        shown = shown[shown["label"].isin(gold)]
    if pred:
        shown = shown[shown["pred_label"].isin(pred)]
    if flagged:
        report = common.audit_report(root, info.id, revision, 0.05)
        ids = set(report.type_flags["id"].astype(str)) | set(report.offset_mismatches["id"].astype(str))
        for group in report.duplicates.id_groups + report.label_conflicts.id_groups:
            ids |= set(group)
        shown = shown[shown["id"].astype(str).isin(ids)]
    if wrong_first and "pred_label" in shown:
        wrong = (shown["pred_label"].astype(str) != shown["label"].astype(str)).to_numpy()
        shown = shown.iloc[np.argsort(~wrong, kind="stable")]
    ids = shown["id"].astype(str).tolist()
    if not ids:
        st.info("No row matches these filters.")
        return None
    rows = full.set_index("id")
    typed_id = st.text_input("Row id", value="", key="xp_goto", placeholder="jump to any row by id")
    wanted = typed_id.strip() or qp.get("example")
    if typed_id.strip() and wanted not in rows.index:
        st.warning(f"No row with id {wanted!r} in {info.name}.")
    if wanted in rows.index and wanted not in ids:
        ids.insert(0, wanted)
    index = ids.index(wanted) if wanted in ids else 0

    def label_of(i: str) -> str:
        r = rows.loc[i]
        mark = "" if pd.isna(r["pred_label"]) or r["pred_label"] == r["label"] else " ✗"
        return f"{i} · {r['label']}{mark}"

    if typed_id.strip() and wanted in ids:
        st.session_state["xp_row"] = wanted
    elif st.session_state.get("xp_row") not in ids:
        st.session_state["xp_row"] = ids[index]
    chosen = st.selectbox("Row", ids, key="xp_row", format_func=label_of)
    qp["example"] = chosen
    return ex.example_from_row({**rows.loc[chosen].to_dict(), "id": chosen})


def typed_example(labels: list[str]) -> ex.Example | None:
    schema = next((s for s in SCHEMAS.values() if set(labels) <= set(s.labels)), SCHEMAS["klue"])
    sentence = st.text_area("Sentence", value=qp.get("text", ""), key="xp_text")
    c1, c2, c3, c4 = st.columns(4)
    subj = c1.text_input("Subject (as written)", value=qp.get("subj", ""), key="xp_subj")
    stype = c2.selectbox(
        "Subject type", schema.entity_types, index=_type_index(schema, qp.get("stype")), key="xp_stype"
    )
    obj = c3.text_input("Object (as written)", value=qp.get("obj", ""), key="xp_obj")
    otype = c4.selectbox(
        "Object type", schema.entity_types, index=_type_index(schema, qp.get("otype"), 1), key="xp_otype"
    )
    if not (sentence and subj and obj):
        st.info("Type a sentence, then its subject and object exactly as they appear in it.")
        return None
    spans = []
    for name, word in (("subject", subj), ("object", obj)):
        start = sentence.find(word)
        if start < 0:
            st.error(f"The {name} {word!r} does not occur in the sentence.")
            return None
        spans.append((start, start + len(word) - 1))
    qp.update({"text": sentence, "subj": subj, "obj": obj, "stype": stype, "otype": otype})
    qp.pop("example", None)
    try:
        return ex.make_example(sentence, subj=spans[0], obj=spans[1], subj_type=stype, obj_type=otype)
    except ValueError as exc:
        st.error(str(exc))
        return None


def _type_index(schema: LabelSchema, value: str | None, default: int = 0) -> int:
    types = list(schema.entity_types)
    return types.index(value) if value in types else default


def run_panel(name: str, job: jobs.Job, example: ex.Example, methods: list[str], *, attention: bool) -> None:
    st.subheader(name)
    explainer = ex.load_explainer(job.run_dir)
    labels = list(explainer.labels)
    target = qp.get("target")
    target = target if target in labels else None
    try:
        with st.spinner("Explaining…"):
            out = _explain(job.run_dir, _example_key(example), target, tuple(methods))
    except ValueError as exc:
        st.error(str(exc))
        return
    pred = out["prediction"]
    verdict = "" if pred["gold_label"] is None else (" ✓" if pred["correct"] else f" ✗ (gold {pred['gold_label']})")
    st.markdown(f"Predicted **{pred['pred_label']}** ({pred['pred_prob']:.2f}){verdict}")
    st.plotly_chart(probability_figure(pred), key=f"xp_probs_{job.id}")
    with st.expander(f"Encoded input ({len(out['encoded']['tokens'])} tokens, {explainer.input_format})"):
        st.html(tokens_html(out["encoded"]))
        if out["encoded"]["note"]:
            st.caption(out["encoded"]["note"])
    st.markdown(f"**Attributions for {html.escape(out['target_label'])}** (red: for the target, blue: against)")
    for method in methods:
        result = out["attributions"][method]
        st.markdown(f"*{METHOD_NAMES[method]}*")
        st.html(strip_html(result))
        st.caption(faithfulness_caption(result))
    if attention:
        attention_panel(job, explainer, example)


def attention_panel(job: jobs.Job, explainer: ex.Explainer, example: ex.Example) -> None:
    n_layers = explainer.num_layers
    st.markdown("**Attention** (bertviz)")
    c1, c2 = st.columns([3, 1])
    default = list(range(max(0, n_layers - 4), n_layers))
    layers = c1.multiselect("Layers", list(range(n_layers)), default=default, key=f"xp_layers_{job.id}")
    max_tokens = c2.number_input("Max tokens", 8, 512, 64, step=8, key=f"xp_max_tokens_{job.id}")
    if not layers:
        st.info("Choose at least one layer.")
        return
    head_tab, model_tab = st.tabs(["Head view", "Model view"])
    for tab, view in ((head_tab, "head"), (model_tab, "model")):
        with tab:
            try:
                page, note = _attention_page(
                    job.run_dir, _example_key(example), view, tuple(sorted(layers)), int(max_tokens)
                )
            except FileNotFoundError as exc:
                st.error(str(exc))
                return
            if note:
                st.caption(note)
            st.iframe(page, height=620 if view == "head" else 900)


# -- page ------------------------------------------------------------------------------------------------
st.title("Explain")
options = succeeded_runs()
if not options:
    st.info("No finished run yet: train one on the Train page (or `python -m core train`).")
    st.stop()
names = list(options)
c1, c2 = st.columns(2)
run_key = c1.selectbox("Run", names, index=_qp_index(names, "run"), key="xp_run")
others = ["(none)"] + [n for n in names if n != run_key]
compare = c2.selectbox("Compare with", others, index=_qp_index(others, "run_b"), key="xp_run_b")
qp["run"] = run_key
if compare == "(none)":
    qp.pop("run_b", None)
else:
    qp["run_b"] = compare
job = options[run_key]
explainer = ex.load_explainer(job.run_dir)
labels = list(explainer.labels)

example = pick_example(job, labels)
if example is None:
    st.stop()
st.html(
    display.highlight_html(
        example.sentence, (example.subj_start, example.subj_end), (example.obj_start, example.obj_end)
    )
)
c1, c2 = st.columns([2, 3])
targets = ["(predicted)", *labels]
target = c1.selectbox("Target label", targets, index=_qp_index(targets, "target"), key="xp_target")
wanted = [m for m in qp.get("method", "").split(",") if m in ex.METHODS] or list(ex.METHODS)
methods = c2.multiselect("Methods", list(ex.METHODS), default=wanted, format_func=METHOD_NAMES.get, key="xp_methods")
if target == "(predicted)":
    qp.pop("target", None)
else:
    qp["target"] = target
qp["method"] = ",".join(methods)
if not methods:
    st.info("Choose at least one attribution method.")
    st.stop()

if compare == "(none)":
    run_panel(run_key, job, example, methods, attention=True)
else:
    left, right = st.columns(2)
    with left:
        run_panel(run_key, job, example, methods, attention=False)
    with right:
        run_panel(compare, options[compare], example, methods, attention=False)
    attention_panel(job, explainer, example)
