"""Ensemble page: pick members, score every combination, check the gain honestly, export a submission.

Thin: widgets are read here, everything computed in core.analysis.ensemble*, and drawn here. Run, file, label and
dataset names are data: markdown gets them through display.plain, plotly with its tags escaped.
Uploading prediction files writes to the server, so it is for editors; scoring and exporting finished
runs is open to everyone. Uploads live in one folder per session, swept when the session is gone or a
day old (core.analysis.ensemble_uploads.sweep_upload_folders).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import uuid
from pathlib import Path

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.analysis import ensemble, ensemble_diagnostics, ensemble_export, ensemble_members, ensemble_uploads
from core.serve import display
from views import common
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


def _session_id() -> str:
    ctx = get_script_run_ctx()
    if ctx is not None:
        return ctx.session_id
    return st.session_state.setdefault("ens_session_id", uuid.uuid4().hex)


def _live_sessions() -> set[str] | None:
    """Ids of the sessions the server still holds (connected, or kept for a reconnect); None when that
    cannot be known (no Streamlit runtime, as under AppTest), so that only age decides."""
    try:
        from streamlit import runtime

        if not runtime.exists():
            return None
        manager = runtime.get_instance()._session_mgr  # no public API lists sessions
        return {info.session.id for info in manager.list_sessions()}
    except Exception:  # a Streamlit without this internal: sweep by age alone
        return None


def _sweep_uploads() -> None:
    """Delete the upload folders of ended sessions and any a day old. Streamlit has no reliable hook
    for a session's end, so every run of this page sweeps (a directory listing: cheap)."""
    live = _live_sessions()
    # OSError: another session sweeping the same folder at once; the next run sweeps again.
    with contextlib.suppress(OSError):
        ensemble_uploads.sweep_upload_folders(None if live is None else live | {_session_id()})


_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}$")


def _stem(file_name: str) -> str:
    """An upload's name without its suffix, as typed (not Path(...).stem, which would cut at a slash)."""
    match = _SUFFIX.search(file_name)
    return file_name[: match.start()] if match and match.start() else file_name


def _save(uploads: list, sub: str) -> list[Path]:
    """Write ``uploads`` to this session's folder under numbered names; the user's file name is kept
    only as a suffix (the gold reader picks the format by it), so no name can reach outside the folder
    and two files with one name do not overwrite each other."""
    folder = ensemble_uploads.session_upload_dir(_session_id()) / sub
    if folder.exists():
        for old in folder.iterdir():  # the previous run's files: a removed upload must not linger
            old.unlink()
    folder.mkdir(mode=0o700, exist_ok=True)
    paths = []
    for i, upload in enumerate(uploads):
        match = _SUFFIX.search(upload.name)
        path = folder / f"{i:03d}{match.group(0).lower() if match else ''}"
        path.write_bytes(upload.getvalue())
        paths.append(path)
    return paths


def _uploaded_members() -> tuple[ensemble_members.MemberSet | None, tuple]:
    """Members from uploaded prediction files scored against an uploaded gold file (editors only)."""
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
    if uploads and not gold:
        st.info("Add the gold file to score the uploads.")
    if not (uploads and gold):
        return None, ()
    tests = tests or []
    try:
        dev_paths = _save(uploads, "dev")
        test_paths = _save(tests, "test")
        (gold_path,) = _save([gold], "gold")
    except OSError as exc:
        st.error(f"The uploaded files could not be stored on the server ({display.plain(exc.strerror or exc)}).")
        return None, ()
    shown_as = {str(p): u.name for p, u in zip(dev_paths, uploads, strict=True)}
    shown_as |= {str(p): t.name for p, t in zip(test_paths, tests, strict=True)}
    shown_as[str(gold_path)] = gold.name
    test_by_name = {t.name: p for t, p in zip(tests, test_paths, strict=True)}
    members = ensemble_members.members_from_files(
        dev_paths,
        gold_path,
        schema=info.schema,
        names=[_stem(u.name) for u in uploads],
        test_paths=[test_by_name.get(u.name) for u in uploads],
        shown_as=shown_as,
    )
    signature = ("files", tuple((u.name, u.size) for u in uploads), gold.name, tuple(sorted(test_by_name)))
    return members, signature


# -- members ------------------------------------------------------------------------------------------
source = (
    st.segmented_control("Members", ["Finished runs", "Uploaded files"], default="Finished runs", key="ens_source")
    or "Finished runs"
)
members: ensemble_members.MemberSet | None = None
signature: tuple = ()
_sweep_uploads()
# A message names the run or the uploaded file (its own name, not where the server saved it).
with common.user_errors(show="inline") as failed:
    if source == "Finished runs":
        st.caption(
            f"Runs of dataset **{display.plain(info.name)}** (pick another in the sidebar); gold = its dev labels."
        )
        runs = ensemble_members.finished_runs(ws, info.id)
        if not runs:
            st.info("No finished run of this dataset yet: train some on the Train page.")
        by_label = {r.label: r for r in runs}
        picked = st.multiselect(
            "Runs", list(by_label), key="ens_runs", placeholder="pick 2 to 12 runs", max_selections=None
        )
        if picked:
            chosen = [by_label[x] for x in picked]
            members = ensemble_members.members_from_runs(ws, chosen, dataset=info.id)
            signature = ("runs", info.id, tuple(picked))
    elif common.require_editor("Uploading prediction files"):
        members, signature = _uploaded_members()
if failed:
    members = None

if members is None:
    st.stop()

st.caption(f"{members.size} member(s) on {len(members.ids):,} dev rows.")
singles = ensemble_diagnostics.single_scores(members)
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
# Member names are run names and uploaded file names: escaped for plotly's labels and hovers.
plot_table = table.assign(members=table["members"].map(display.chart_text))
with fig_col:
    fig = px.scatter(
        plot_table,
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
    matrix = ensemble_diagnostics.diversity(members)[kind].rename(index=display.chart_text, columns=display.chart_text)
    heat = px.imshow(
        matrix,
        text_auto=".2f",
        color_continuous_scale="Blues",
        zmin=0 if kind == "disagreement" else -1,
        zmax=1,
        title="Disagreement rate" if kind == "disagreement" else "Error correlation",
    )
    st.plotly_chart(heat, key="ens_heatmap")

per_class = ensemble_diagnostics.per_class_comparison(members, method=method, weights=weights)
st.subheader(f"Per-class F1: chosen ensemble vs its best member ({display.plain(per_class.attrs['best_member'])})")
bars = px.bar(
    per_class.assign(label=per_class["label"].map(display.chart_text)).melt(
        id_vars=["label", "support"], value_vars=["ensemble", "best_member"], var_name="who"
    ),
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
    with common.user_errors(show="inline", where=h1) as failed:  # e.g. too few rows to split in halves
        report = ensemble_diagnostics.honest_gain(
            members,
            metric=honesty_metric,
            procedures=procedures,
            seeds=tuple(range(int(n_seeds))),
            progress=lambda d, t: bar.progress(d / t, text=f"{d} of {t} selections"),
        )
    if not failed:
        st.session_state["ens_honesty"] = report
    bar.empty()
report = st.session_state.get("ens_honesty")
if report is not None:
    summary = pd.DataFrame({p: row.to_dict() for p, row in report.summary.items()}).T.reset_index(names="procedure")
    h2.dataframe(summary, hide_index=True, key="ens_honesty_summary")
    h2.caption(
        f"Gain = ensemble minus the best single member (both picked on the selection half), {report.metric}, "
        f"over {len(summary) and int(summary['splits'].iloc[0])} seeded half splits. The selection-half gain is "
        "optimistic; the held-out gain is what to expect on new rows."
    )
else:
    h2.caption("Splits the dev rows in halves: select on one, score on the other, several times.")

# -- export --------------------------------------------------------------------------------------------
st.subheader("Export")
scores = {"micro_f1": float(chosen_row["micro_f1"]), "auprc": float(chosen_row["auprc"])}
recipe = ensemble_export.recipe(members, method=method, weights=weights, scores=scores)
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
    e1.info(f"No test predictions for {display.plain(', '.join(lacking))}: the submission cannot be made.")
else:
    buffer = io.StringIO()
    with common.user_errors(show="inline", where=e1) as failed:
        test_ids, _ = ensemble_export.export_test(members, method=method, weights=weights, out=buffer)
    if not failed:
        e1.download_button(
            f"Download submission ({len(test_ids):,} test rows)",
            buffer.getvalue(),
            file_name="submission.csv",
            mime="text/csv",
            type="primary",
            key="ens_download_submission",
            on_click="ignore",
        )
parts = [f"{display.plain(m['name'])} x{w:g}" for m, w in zip(recipe["members"], recipe["weights"], strict=True)]
st.caption(f"Recipe: {method} of {', '.join(parts)}.")
