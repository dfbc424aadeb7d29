"""Explain view: why a model predicts what it does on one example (probabilities, attention, attributions).

Pick a finished run (or two side by side), or any Hugging Face sequence-classification checkpoint by
folder or hub id, then an example by id or by filter, or type a sentence and mark its entities. The
state (run or checkpoint, second run, example, method, target, typed sentence) lives in the URL query,
so a copied link reproduces the screen. Every sentence, token and word is data: it reaches the page
escaped (heat strips) or as escaped JSON (bertviz, see core.analysis.attention.bertviz_html). So is every value a
link or a workspace can carry (the URL's model path, entity words and row id, run and dataset names,
a checkpoint's label names): markdown gets it through display.plain, plotly with its tags escaped.
A checkpoint that does not load is an error naming the run and its file, not a traceback.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import jobs
from core.analysis import attention as att
from core.analysis import explain as ex
from core.analysis.attributions import Attribution, Prediction
from core.analysis.explain_encoding import Example, example_from_row, make_example
from core.analysis.explain_load import Explainer
from core.common.schema import SCHEMAS, LabelSchema
from core.serve import display
from core.store.runs import RunDir
from core.train.encoding import INPUT_FORMATS, TYPE_LANGUAGES
from core.train.model import ModelNotAvailable
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


# -- cached work (keyed by plain values; core.analysis.explain caches the models and locks them) --------------------


def _example_key(example: Example) -> tuple:
    return tuple(example.__dict__.values())


@dataclass(frozen=True)
class ModelSource:
    """What a panel explains: a workspace run, or any HF checkpoint (a folder or a hub id)."""

    name: str  # the panel's heading
    path: str  # for core.analysis.explain.load_explainer
    key: str  # widget-key suffix, unique per source
    owner: str  # what a load error calls it: "run #3 name", or the checkpoint as typed
    load_options: tuple[tuple[str, object], ...] = ()  # a plain checkpoint's input format etc. (a run has its own)
    dataset: str | None = None  # whose rows to pick examples from
    predictions: Path | None = None  # dev predictions, for the gold/predicted filters

    def explainer(self) -> Explainer:
        return ex.load_explainer(self.path, owner=self.owner, **dict(self.load_options))


def load(source: ModelSource) -> Explainer | None:
    """The source's model, or None after an error that names the run and the file that did not load
    (a corrupt checkpoint must not end the page in a traceback)."""
    try:
        with st.spinner(f"Loading {display.plain(source.name)}…"):
            return source.explainer()
    except ModelNotAvailable as exc:
        if dict(source.load_options).get("allow_hub_download") is False:
            st.error(
                f"{display.plain(source.name)} is neither a folder on this server nor in its model cache, and "
                "downloading a model from the hub is for editors.",
                icon=":material/error:",
            )
        else:
            st.error(display.plain(str(exc)), icon=":material/error:")
        return None
    except common.USER_ERRORS as exc:  # a CheckpointError names the run and the file
        st.error(display.plain(str(exc)), icon=":material/error:")
        return None


@st.cache_data(max_entries=64, show_spinner=False)
def _explain(source: ModelSource, key: tuple, target: str | None, methods: tuple[str, ...]) -> ex.Explanation:
    return ex.explain(source.explainer(), Example(*key), target=target, methods=methods)


@st.cache_data(max_entries=16, show_spinner=False)
def _attention_page(
    source: ModelSource, key: tuple, view: str, layers: tuple[int, ...], max_tokens: int
) -> tuple[str, str]:
    data = att.attention(source.explainer(), Example(*key), layers=list(layers), max_tokens=max_tokens)
    return att.bertviz_html(data, view=view), data.note


@st.cache_data(max_entries=16, show_spinner=False)
def _predictions(path: str, mtime: float) -> pd.DataFrame:
    """The run's dev predictions (id, pred_label); only these two columns are needed here."""
    return pd.read_csv(path, usecols=["id", "pred_label"], dtype=str)


# -- pieces of the page ----------------------------------------------------------------------------------


def succeeded_runs() -> dict[str, ModelSource]:
    out = {}
    for job in reversed(jobs.JobStore(root).list_jobs()):
        if job.status == "succeeded" and RunDir(job.run_dir).checkpoint.exists():
            name = f"#{job.id} {job.name}"
            out[name] = ModelSource(
                name=name,
                path=str(job.run_dir),
                key=f"job{job.id}",
                owner=f"run {name}",
                dataset=(job.config or {}).get("dataset"),
                predictions=RunDir(job.run_dir).dev_predictions,
            )
    return out


def checkpoint_source() -> ModelSource | None:
    """Any HF sequence-classification checkpoint, by folder or hub id, with the input format it was trained on."""
    c1, c2, c3, c4 = st.columns([4, 2, 1, 1])
    path = c1.text_input(
        "Model folder or hub id",
        value=qp.get("model", ""),
        key="xp_model",
        placeholder="/models/klue-re-roberta or org/model-name",
        help="A Hugging Face sequence-classification checkpoint whose id2label names the relations.",
    ).strip()
    formats = list(INPUT_FORMATS)
    input_format = c2.selectbox(
        "Input format",
        formats,
        index=_qp_index(formats, "format"),
        key="xp_format",
        help="A plain checkpoint does not record how its inputs were marked: choose what it was trained with.",
    )
    languages = list(TYPE_LANGUAGES)
    type_language = c3.selectbox("Type names", languages, index=_qp_index(languages, "types"), key="xp_types")
    wanted_length = qp.get("max_length", "256")
    wanted_length = min(max(int(wanted_length), 16), 512) if wanted_length.isdigit() else 256
    max_length = c4.number_input(
        "Max length", 16, 512, wanted_length, step=16, key="xp_max_length", help="Tokens per input, as in training."
    )
    if not path:
        st.info("Give a checkpoint folder on this machine, or a hub id when the hub is reachable.")
        return None
    qp.update({"model": path, "format": input_format, "types": type_language, "max_length": str(max_length)})
    sidebar_dataset = common.selected_dataset(ws)
    source = ModelSource(
        name=path,
        path=path,
        key="checkpoint",
        owner=path,
        load_options=(
            ("input_format", input_format),
            ("max_length", int(max_length)),
            ("type_language", type_language),
            # A read-only session loads folders and cached models; only editors pull a hub id onto the server.
            ("allow_hub_download", None if common.can_edit() else False),
        ),
        dataset=sidebar_dataset.name if sidebar_dataset else None,
    )
    explainer = load(source)
    if explainer is None:
        return None
    if all(label.startswith("LABEL_") for label in explainer.labels):
        st.warning(
            f"{display.plain(path)} names its labels {display.plain(explainer.labels[0])}…"
            f"{display.plain(explainer.labels[-1])}: its config has no id2label, so the relations show as numbers."
        )
    return source


def _qp_index(options: list[str], key: str, default: int = 0) -> int:
    value = qp.get(key)
    return options.index(value) if value in options else default


def probability_figure(prediction: Prediction, *, top: int = 10) -> go.Figure:
    ranked = prediction.ranked[:top]
    gold = prediction.gold_label
    labels = [r["label"] for r in ranked][::-1]
    probs = [r["prob"] for r in ranked][::-1]
    colors = ["#16A34A" if label == gold else "#4F46E5" for label in labels]
    # Label names come from the checkpoint's config (anyone's upload): plotly must show them as text.
    shown = [display.chart_text(label) for label in labels]
    fig = go.Figure(go.Bar(x=probs, y=shown, orientation="h", marker_color=colors, hovertemplate="%{y}: %{x:.3f}"))
    title = "Top 10 probabilities" + (" (gold in green)" if gold else "")
    if gold and gold not in labels:
        title += f"; gold {display.chart_text(repr(gold))} is not in the top 10"
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


def strip_html(result: Attribution) -> str:
    """One heat strip: words coloured by normalised score (red for, blue against the target)."""
    parts = []
    for word in result.words:
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
        f'<div class="xp-strip" data-method="{html.escape(result.method)}" style="line-height:2.2">'
        + " ".join(parts)
        + "</div>"
    )


def faithfulness_caption(result: Attribution) -> str:
    f = result.faithfulness
    bits = [
        f"comprehensiveness **{f.comprehensiveness if f else 0:.3f}** (higher is better)",
        f"sufficiency **{f.sufficiency if f else 0:.3f}** (lower is better)",
    ]
    if result.delta is not None:
        bits.append(f"IG convergence delta {result.delta:.2e} ({result.n_steps} {result.integration} steps)")
    bits.append(f"{result.wall_s:.2f} s")
    return " · ".join(bits)


def pick_example(source: ModelSource, labels: list[str]) -> Example | None:
    """A dataset row (by id or by filter) or a typed sentence; the choice goes to the URL."""
    mode = st.segmented_control(
        "Example",
        ["Dataset row", "Type a sentence"],
        key="xp_source",
        default="Type a sentence" if qp.get("text") else "Dataset row",
    )
    if mode == "Type a sentence":
        return typed_example(labels)
    for key in ("text", "subj", "obj", "stype", "otype"):
        qp.pop(key, None)
    try:
        info = ws.dataset(source.dataset or ws.datasets()[-1].name)
    except Exception:  # the run's dataset was removed, or the workspace has none
        st.warning("This run's dataset is not in the workspace any more; type a sentence instead.")
        return None
    revision = ws.revision(info.id)
    full = common.current_frame(root, info.id, "train", revision).copy()
    full["id"] = full["id"].astype(str)
    pred_path = source.predictions
    preds = _predictions(str(pred_path), pred_path.stat().st_mtime) if pred_path and pred_path.exists() else None
    if preds is not None:
        full["pred_label"] = full["id"].map(dict(zip(preds["id"], preds["pred_label"], strict=True)))
        frame = full[full["pred_label"].notna()]
        st.caption(
            f"{len(frame)} dev rows of **{display.plain(info.name)}** with this run's predictions "
            "(any row id works below)."
        )
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
        report = common.audit_report(root, info.id, revision, common.minority_threshold())
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
        st.warning(f"No row with id {display.plain(repr(wanted))} in {display.plain(info.name)}.")
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
    return example_from_row({**rows.loc[chosen].to_dict(), "id": chosen})


def typed_example(labels: list[str]) -> Example | None:
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
            st.error(f"The {name} {display.plain(repr(word))} does not occur in the sentence.")
            return None
        spans.append((start, start + len(word) - 1))
    qp.update({"text": sentence, "subj": subj, "obj": obj, "stype": stype, "otype": otype})
    qp.pop("example", None)
    with common.user_errors(show="inline"):
        return make_example(sentence, subj=spans[0], obj=spans[1], subj_type=stype, obj_type=otype)
    return None


def _type_index(schema: LabelSchema, value: str | None, default: int = 0) -> int:
    types = list(schema.entity_types)
    return types.index(value) if value in types else default


def run_panel(source: ModelSource, example: Example, methods: list[str], *, attention: bool) -> None:
    st.subheader(display.plain(source.name))
    explainer = load(source)
    if explainer is None:
        return
    labels = list(explainer.labels)
    target = qp.get("target")
    target = target if target in labels else None
    with common.user_errors(show="inline") as failed, st.spinner("Explaining…"):
        out = _explain(source, _example_key(example), target, tuple(methods))
    if failed:
        return
    pred = out.prediction
    gold = pred.gold_label
    verdict = "" if gold is None else (" ✓" if pred.correct else f" ✗ (gold {display.plain(gold)})")
    st.markdown(f"Predicted **{display.plain(pred.pred_label)}** ({pred.pred_prob:.2f}){verdict}")
    st.plotly_chart(probability_figure(pred), key=f"xp_probs_{source.key}")
    n_tokens = len(out.encoded["tokens"])
    with st.expander(f"Encoded input ({n_tokens} tokens, {display.plain(explainer.input_format)})"):
        st.html(tokens_html(out.encoded))
        if out.encoded["note"]:
            st.caption(display.plain(out.encoded["note"]))
    st.markdown(f"**Attributions for {display.plain(out.target_label)}** (red: for the target, blue: against)")
    for method in methods:
        result = out.attributions[method]
        st.markdown(f"*{METHOD_NAMES[method]}*")
        st.html(strip_html(result))
        st.caption(faithfulness_caption(result))
    if attention:
        attention_panel(source, explainer, example)


def attention_panel(source: ModelSource, explainer: Explainer, example: Example) -> None:
    n_layers = explainer.num_layers
    st.markdown("**Attention** (bertviz)")
    c1, c2 = st.columns([3, 1])
    default = list(range(max(0, n_layers - 4), n_layers))
    layers = c1.multiselect("Layers", list(range(n_layers)), default=default, key=f"xp_layers_{source.key}")
    max_tokens = c2.number_input("Max tokens", 8, 512, 64, step=8, key=f"xp_max_tokens_{source.key}")
    if not layers:
        st.info("Choose at least one layer.")
        return
    head_tab, model_tab = st.tabs(["Head view", "Model view"])
    for tab, view in ((head_tab, "head"), (model_tab, "model")):
        with tab:
            # e.g. vendor files missing, a model without attention maps
            with common.user_errors(show="inline") as failed:
                page, note = _attention_page(
                    source, _example_key(example), view, tuple(sorted(layers)), int(max_tokens)
                )
            if failed:
                return
            if note:
                st.caption(display.plain(note))
            st.iframe(page, height=620 if view == "head" else 900)


# -- page ------------------------------------------------------------------------------------------------
st.title("Explain")
CHECKPOINT = "Model folder or hub id…"
runs = succeeded_runs()
names = [*runs, CHECKPOINT]
c1, c2 = st.columns(2)
run_key = c1.selectbox("Run", names, index=_qp_index(names, "run"), key="xp_run")
others = ["(none)"] + [n for n in runs if n != run_key]
compare = c2.selectbox("Compare with", others, index=_qp_index(others, "run_b"), key="xp_run_b")
qp["run"] = run_key
if compare == "(none)":
    qp.pop("run_b", None)
else:
    qp["run_b"] = compare
if run_key == CHECKPOINT:
    source = checkpoint_source()
    if source is None:
        if not runs:
            st.caption(
                "No finished run in this workspace yet: train one on the Train page (or `python -m core train`)."
            )
        st.stop()
else:
    for key in ("model", "format", "types", "max_length"):
        qp.pop(key, None)
    source = runs[run_key]
explainer = load(source)
if explainer is None:
    st.stop()
labels = list(explainer.labels)

example = pick_example(source, labels)
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
    run_panel(source, example, methods, attention=True)
else:
    left, right = st.columns(2)
    with left:
        run_panel(source, example, methods, attention=False)
    with right:
        run_panel(runs[compare], example, methods, attention=False)
    attention_panel(source, explainer, example)
