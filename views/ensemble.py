"""Ensemble page: pick members, score every combination, check the gain honestly, export a submission.

Thin: widgets are read here, everything computed in core.ensemble, and drawn here.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core import ensemble
from core.schema import DataError
from views.common import selected_dataset, workspace

st.title("Ensemble")
st.caption(
    "Combine finished runs (or uploaded prediction files): every subset by soft and hard voting, plus greedy "
    "weighted ensembles (Caruana et al., 2004), scored with KLUE micro-F1 and AUPRC on the dev rows."
)

ws = workspace()
info = selected_dataset(ws)
if info is None:
    st.info("Import a dataset on the Data page first.")
    st.stop()


def _upload_dir() -> Path:
    """A per-session folder for uploaded files (core reads paths)."""
    if "ens_upload_dir" not in st.session_state:
        st.session_state["ens_upload_dir"] = tempfile.mkdtemp(prefix="restudio-ensemble-")
    return Path(st.session_state["ens_upload_dir"])


def _save(upload, sub: str) -> Path:
    folder = _upload_dir() / sub
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / Path(upload.name).name
    path.write_bytes(upload.getvalue())
    return path


# -- members ------------------------------------------------------------------------------------------
source = (
    st.segmented_control("Members", ["Finished runs", "Uploaded files"], default="Finished runs", key="ens_source")
    or "Finished runs"
)
members: ensemble.MemberSet | None = None
signature: tuple = ()
try:
    if source == "Finished runs":
        st.caption(f"Runs of dataset **{info.name}** (pick another in the sidebar); gold = its dev labels.")
        runs = ensemble.finished_runs(ws, info.id)
        if not runs:
            st.info("No finished run of this dataset yet: train some on the Train page.")
        by_label = {r.label: r for r in runs}
        picked = st.multiselect(
            "Runs", list(by_label), key="ens_runs", placeholder="pick 2 to 12 runs", max_selections=None
        )
        if picked:
            chosen = [by_label[x] for x in picked]
            members = ensemble.members_from_runs(ws, chosen, dataset=info.id)
            signature = ("runs", info.id, tuple(picked))
    else:
        uploads = st.file_uploader(
            "Dev prediction files (id,pred_label,probs)", type=["csv"], accept_multiple_files=True, key="ens_uploads"
        )
        gold = st.file_uploader("Gold file (id,label CSV or labeled dataset)", key="ens_gold")
        tests = st.file_uploader(
            "Test prediction files (optional, for export): same file names as the dev files",
            type=["csv"],
            accept_multiple_files=True,
            key="ens_test_uploads",
        )
        if uploads and gold:
            dev_paths = [_save(u, "dev") for u in uploads]
            test_by_name = {Path(t.name).name: _save(t, "test") for t in tests or []}
            members = ensemble.members_from_files(
                dev_paths,
                _save(gold, "gold"),
                schema=info.schema,
                test_paths=[test_by_name.get(p.name) for p in dev_paths],
            )
            signature = ("files", tuple((u.name, u.size) for u in uploads), gold.name, tuple(sorted(test_by_name)))
        elif uploads:
            st.info("Add the gold file to score the uploads.")
except DataError as exc:
    st.error(str(exc), icon=":material/error:")
    members = None

if members is None:
    st.stop()

st.caption(f"{members.size} member(s) on {len(members.ids):,} dev rows.")
singles = ensemble.single_scores(members)
with st.expander("Members alone", expanded=members.size < 2):
    st.dataframe(singles, hide_index=True, key="ens_singles")
if members.size < 2:
    # An ensemble of one is that run itself: scoring and exporting it would only rename it.
    st.info("An ensemble needs at least two members: pick another run or file.", icon=":material/info:")
    st.stop()

result = st.session_state.get("ens_result")
if result is not None and result["signature"] != signature:
    result = None
    st.session_state.pop("ens_result", None)
    st.session_state.pop("ens_honesty", None)

if st.button(
    "Score every combination", type="primary", key="ens_score", disabled=members.size > ensemble.MAX_EXHAUSTIVE
):
    bar = st.progress(0.0, text="Scoring subsets…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total, text=f"Scored {done:,} of {total:,} subsets")

    table = ensemble.leaderboard(members, progress=progress)
    bar.empty()
    result = {"signature": signature, "table": table}
    st.session_state["ens_result"] = result
    st.session_state.pop("ens_honesty", None)
if members.size > ensemble.MAX_EXHAUSTIVE:
    st.warning(f"Scoring every combination takes at most {ensemble.MAX_EXHAUSTIVE} members.")
if result is None:
    st.stop()

table: pd.DataFrame = result["table"]

# -- leaderboard ---------------------------------------------------------------------------------------
st.subheader("Leaderboard")
left, right = st.columns(2)
methods = left.multiselect(
    "Method", ["soft", "hard", "weighted"], default=["soft", "hard", "weighted"], key="ens_methods"
)
max_size = int(table["size"].max())
sizes = right.slider("Members in the ensemble", 1, max_size, (1, max_size), key="ens_size") if max_size > 1 else (1, 1)
shown = table[table["method"].isin(methods) & table["size"].between(*sizes)]
view = shown[["members", "size", "method", "selected_by", "micro_f1", "auprc", "pareto"]]
st.dataframe(
    view,
    hide_index=True,
    key="ens_leaderboard",
    column_config={
        "micro_f1": st.column_config.NumberColumn("micro-F1", format="%.2f"),
        "auprc": st.column_config.NumberColumn("AUPRC", format="%.2f"),
        "pareto": st.column_config.CheckboxColumn("Pareto"),
    },
)
if shown.empty:
    st.info("No ensemble matches the filters.")
    st.stop()

options = list(shown.index[:200])
choice = st.selectbox(
    "Chosen ensemble",
    options,
    format_func=lambda i: (
        f"{table.at[i, 'micro_f1']:.2f} F1 · {table.at[i, 'auprc']:.2f} AUPRC · {table.at[i, 'method']} · "
        f"{table.at[i, 'members']}"
    ),
    key="ens_choice",
)
chosen_row = table.loc[choice if choice in table.index else options[0]]
method, weights = str(chosen_row["method"]), list(chosen_row["weights"])

# -- figures -------------------------------------------------------------------------------------------
fig_col, div_col = st.columns(2)
with fig_col:
    fig = px.scatter(
        table,
        x="micro_f1",
        y="auprc",
        color="method",
        hover_data=["members", "size"],
        labels={"micro_f1": "micro-F1", "auprc": "AUPRC"},
        title="micro-F1 against AUPRC",
    )
    front = table[table["pareto"]].sort_values("micro_f1")
    fig.add_trace(
        go.Scatter(x=front["micro_f1"], y=front["auprc"], mode="lines", name="Pareto front", line={"dash": "dot"})
    )
    fig.add_trace(
        go.Scatter(
            x=[chosen_row["micro_f1"]],
            y=[chosen_row["auprc"]],
            mode="markers",
            name="chosen",
            marker={"size": 14, "symbol": "star", "color": "black"},
        )
    )
    st.plotly_chart(fig, key="ens_scatter")
with div_col:
    kind = st.radio("Pairwise diversity", ["disagreement", "error_correlation"], horizontal=True, key="ens_div_kind")
    matrix = ensemble.diversity(members)[kind]
    heat = px.imshow(
        matrix,
        text_auto=".2f",
        color_continuous_scale="Blues",
        zmin=0 if kind == "disagreement" else -1,
        zmax=1,
        title="Disagreement rate" if kind == "disagreement" else "Error correlation",
    )
    st.plotly_chart(heat, key="ens_heatmap")

per_class = ensemble.per_class_comparison(members, method=method, weights=weights)
st.subheader(f"Per-class F1: chosen ensemble vs its best member ({per_class.attrs['best_member']})")
bars = px.bar(
    per_class.melt(id_vars=["label", "support"], value_vars=["ensemble", "best_member"], var_name="who"),
    x="label",
    y="value",
    color="who",
    barmode="group",
    labels={"value": "F1", "label": ""},
)
st.plotly_chart(bars, key="ens_per_class")
with st.expander("Per-class table"):
    st.dataframe(per_class, hide_index=True, key="ens_per_class_table")

# -- honesty -------------------------------------------------------------------------------------------
st.subheader("Honesty: does the gain survive on rows it was not selected on?")
h1, h2 = st.columns([1, 3])
honesty_metric = h1.selectbox("Select by", ["micro_f1", "auprc"], key="ens_honesty_metric")
n_seeds = h1.number_input("Splits", min_value=2, max_value=20, value=5, key="ens_honesty_seeds")
if h1.button("Run the honesty check", key="ens_honesty_run"):
    bar = st.progress(0.0, text="Selecting on one half, scoring on the other…")
    procedures = ["greedy"] + (["best subset"] if members.size <= ensemble.MAX_EXHAUSTIVE else [])
    report = ensemble.honest_gain(
        members,
        metric=honesty_metric,
        procedures=procedures,
        seeds=tuple(range(int(n_seeds))),
        progress=lambda d, t: bar.progress(d / t, text=f"{d} of {t} selections"),
    )
    bar.empty()
    st.session_state["ens_honesty"] = report
report = st.session_state.get("ens_honesty")
if report is not None:
    summary = pd.DataFrame(report["summary"]).T.reset_index(names="procedure")
    h2.dataframe(summary, hide_index=True, key="ens_honesty_summary")
    h2.caption(
        f"Gain = ensemble minus the best single member (both picked on the selection half), {report['metric']}, "
        f"over {len(summary) and int(summary['splits'].iloc[0])} seeded half splits. The selection-half gain is "
        "optimistic; the held-out gain is what to expect on new rows."
    )
else:
    h2.caption("Splits the dev rows in halves: select on one, score on the other, several times.")

# -- export --------------------------------------------------------------------------------------------
st.subheader("Export")
scores = {"micro_f1": float(chosen_row["micro_f1"]), "auprc": float(chosen_row["auprc"])}
recipe = ensemble.recipe(members, method=method, weights=weights, scores=scores)
e1, e2 = st.columns(2)
e2.download_button(
    "Download recipe (JSON)",
    json.dumps(recipe, ensure_ascii=False, indent=2),
    file_name="ensemble_recipe.json",
    mime="application/json",
    key="ens_download_recipe",
    on_click="ignore",  # a download needs no rerun of the scoring above
)
lacking = [members.names[i] for i, w in enumerate(weights) if w and members.test_paths[i] is None]
if lacking:
    e1.info(f"No test predictions for {', '.join(lacking)}: the submission cannot be made.")
else:
    buffer = io.StringIO()
    try:
        test_ids, _ = ensemble.export_test(members, method=method, weights=weights, out=buffer)
    except DataError as exc:
        e1.error(str(exc), icon=":material/error:")
    else:
        e1.download_button(
            f"Download submission ({len(test_ids):,} test rows)",
            buffer.getvalue(),
            file_name="submission.csv",
            mime="text/csv",
            type="primary",
            key="ens_download_submission",
            on_click="ignore",
        )
parts = [f"{m['name']} x{w:g}" for m, w in zip(recipe["members"], recipe["weights"], strict=True)]
st.caption(f"Recipe: {method} of {', '.join(parts)}.")
