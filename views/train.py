"""Train view: launch fine-tune jobs, watch them live, compare runs."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import streamlit as st

from core import crossval, display, jobs, runs, training
from core.schema import DataError
from views import common

ws = common.workspace()
root = str(ws.root)
store = jobs.JobStore(root)
FIELDS = {f.name: f for f in dataclasses.fields(training.TrainConfig)}
DEFAULTS = training.TrainConfig().to_dict()
#: Options the form shows up front; every other option sits under "All options".
MAIN = ["model", "input_format", "head", "loss", "epochs", "batch_size", "lr", "max_length", "seed"]
HIDDEN = {"dataset", "workspace", "split", "labels"}  # set from the sidebar / split picker, not typed
CHOICES = {
    "input_format": list(training.INPUT_FORMATS),
    "head": ["entity_start", "cls"],
    "loss": ["ce", "weighted_ce", "focal"],
    "scheduler": list(training.SCHEDULERS),
    "type_language": ["en", "ko"],
    "fp16": ["auto", "true", "false"],
    "bf16": ["auto", "true", "false"],
}
STATUS_ICON = {"queued": "⏳", "running": "▶️", "succeeded": "✅", "failed": "❌", "cancelled": "⏹️", "lost": "❔"}


def _key(name: str) -> str:
    return f"cfg_{name}"


def load_into_form(config: dict, *, parent: int | None = None, name: str | None = None) -> None:
    """Fill the form's widgets from a config (a preset, or a job to re-run with edits)."""
    for opt, value in {**DEFAULTS, **config}.items():
        if opt in HIDDEN:
            continue
        st.session_state[_key(opt)] = value if opt in CHOICES or not isinstance(value, list) else json.dumps(value)
    st.session_state["train_parent"] = parent
    if name:
        st.session_state["train_name"] = name


def apply_preset() -> None:
    load_into_form(training.PRESETS[st.session_state["train_preset"]])


def option_widget(opt: str) -> object:
    field = FIELDS[opt]
    helptext = field.metadata.get("help")
    key = _key(opt)
    st.session_state.setdefault(key, DEFAULTS[opt])
    if opt in CHOICES:
        return st.selectbox(opt, CHOICES[opt], key=key, help=helptext)
    value = DEFAULTS[opt]
    if isinstance(value, bool):
        return st.checkbox(opt, key=key, help=helptext)
    if isinstance(value, int):
        return st.number_input(opt, key=key, step=1, help=helptext)
    if isinstance(value, float):
        return st.number_input(opt, key=key, format="%g", help=helptext)
    return st.text_input(opt, key=key, help=helptext)


def new_job_form(dataset: str, split_names: list[str]) -> None:
    st.selectbox(
        "Preset",
        list(training.PRESETS),
        key="train_preset",
        on_change=apply_preset,
        help="Fills the form; edit anything before submitting.",
    )
    gpus = jobs.list_gpus()
    with st.form("new_job"):
        c1, c2, c3 = st.columns([3, 2, 2])
        name = c1.text_input("Job name", key="train_name", placeholder="e.g. typed-punct lr3e-3")
        split = c2.selectbox("Dev split", split_names, key="train_split")
        backend = c3.selectbox(
            "Backend",
            list(jobs.BACKENDS),
            key="train_backend",
            help="local: this machine; ray: a Ray cluster (same Python environment).",
        )
        cols = st.columns(3)
        values = {}
        for i, opt in enumerate(MAIN):
            with cols[i % 3]:
                values[opt] = option_widget(opt)
        with st.expander("All options"):
            cols = st.columns(3)
            rest = [o for o in FIELDS if o not in MAIN and o not in HIDDEN]
            for i, opt in enumerate(rest):
                with cols[i % 3]:
                    values[opt] = option_widget(opt)
        c0, c1, c2 = st.columns([1, 1, 2])
        folds = c0.number_input(
            "Cross-validation folds",
            0,
            20,
            0,
            key="train_folds",
            help="0: one job. k >= 2: k fold jobs whose out-of-fold probabilities feed the Data "
            "view's label issues (confident learning).",
        )
        gpu_choices = ["auto", "cpu", *[g.index for g in gpus]]
        gpu = c1.selectbox(
            "GPU",
            gpu_choices,
            key="train_gpu",
            help="auto: a free GPU (one job per GPU), else the CPU queue."
            if gpus
            else "No GPU on this machine: jobs run on the CPU queue.",
        )
        ray_address = c2.text_input(
            "Ray address", key="train_ray_address", placeholder="ray://head:10001 or http://head:8265"
        )
        submitted = st.form_submit_button("Submit job", type="primary")
    if not submitted:
        return
    config = {**DEFAULTS, **values, "dataset": dataset, "split": split, "workspace": root}
    try:
        resolved = training.validate(config)
        if folds:
            group = crossval.submit_crossval(
                root,
                resolved.to_dict(),
                k=int(folds),
                backend=backend,
                name=name.strip() or None,
                gpu={"auto": None, "cpu": ""}.get(gpu, gpu),
                ray_address=ray_address.strip() or None,
            )
            common.flash("success", f"Queued {int(folds)} fold jobs as cross-validation group {group}.")
            st.rerun()
        job = jobs.submit_training(
            root,
            resolved.to_dict(),
            name=name.strip() or f"{resolved.input_format} · {resolved.head} · {resolved.model}",
            backend=backend,
            gpu={"auto": None, "cpu": ""}.get(gpu, gpu),
            ray_address=ray_address.strip() or None,
            parent_id=st.session_state.get("train_parent"),
        )
    except (training.ConfigError, jobs.JobError, DataError, ValueError) as exc:  # CrossvalError is a ValueError
        st.error(str(exc), icon=":material/error:")
        return
    common.flash("success", f"Job #{job.id} {job.name!r} is {job.status}.")
    st.rerun()


def job_rows(all_jobs: list[jobs.Job]) -> pd.DataFrame:
    rows = []
    for job in all_jobs:
        prog = jobs.progress(job)
        usage = jobs.resource_usage(job)
        summary = runs.read_summary(job.run_dir) or {}
        last = prog["last_metrics"]
        dev = summary.get("dev") or {}
        config = job.config or {}
        rows.append(
            {
                "id": job.id,
                "job": job.name,
                "status": f"{STATUS_ICON.get(job.status, '')} {job.status}",
                "progress": prog["fraction"] or 0.0,
                "ETA": "" if prog["eta_s"] is None else f"{int(prog['eta_s'] // 60)}m {int(prog['eta_s'] % 60):02d}s",
                "dev micro-F1": dev.get("micro_f1", last.get("eval_micro_f1")),
                "dev AUPRC": dev.get("auprc", last.get("eval_auprc")),
                "CPU %": usage["cpu_percent"],
                "RAM MB": usage["rss_mb"],
                "GPU MB": usage["gpu_mem_mb"],
                "device": "CPU" if job.gpu == "" else (f"GPU {job.gpu}" if job.gpu else ""),
                "backend": job.backend,
                "model": config.get("model"),
                "format": config.get("input_format"),
                "created": job.created_at,
            }
        )
    table = pd.DataFrame(rows)
    numeric = ["dev micro-F1", "dev AUPRC", "CPU %", "RAM MB", "GPU MB"]
    table[numeric] = table[numeric].astype(float)  # None -> NaN: shown as blank, not "None"
    return table


def cancel(job_id: int) -> None:
    job = store.get_job(job_id)
    try:
        jobs.backend_for(job, store).cancel(job, wait=False)
    except jobs.JobError as exc:
        common.flash("error", str(exc))
        return
    common.flash("info", f"Cancelling job #{job_id}: it stops at the next step and saves.")


def rerun_with_edits(job_id: int) -> None:
    job = store.get_job(job_id)
    load_into_form(job.config or {}, parent=job.id, name=f"{job.name} (re-run)")
    common.flash("info", f"The form holds job #{job.id}'s config: edit it and submit.")


def curves_section(all_jobs: list[jobs.Job]) -> None:
    by_label = {f"#{j.id} {j.name}": j for j in all_jobs}
    default = [label for label, j in by_label.items() if j.status in ("queued", "running", "succeeded")][-3:]
    st.session_state.setdefault("train_runs", default)
    st.session_state["train_runs"] = [r for r in st.session_state["train_runs"] if r in by_label]
    c1, c2, c3 = st.columns([4, 1, 1])
    chosen = c1.multiselect("Runs", list(by_label), key="train_runs", placeholder="pick runs to overlay")
    x = c2.selectbox(
        "x axis",
        ["step", "epoch", "wall_s"],
        key="train_x",
        format_func={"step": "steps", "epoch": "epochs", "wall_s": "time (s)"}.get,
    )
    smoothing = c3.slider("Smoothing", 0.0, 0.95, 0.6, 0.05, key="train_smoothing")
    if not chosen:
        st.caption("Pick runs to see their curves.")
        return
    points = runs.curves({label: by_label[label].run_dir for label in chosen}, x=x)
    if points.empty:
        st.caption("No metrics logged yet.")
        return
    cols = st.columns(2)
    for i, (metric, title) in enumerate(runs.CURVES.items()):
        sub = points[points["metric"] == metric]
        if sub.empty:
            continue
        cols[i % 2].plotly_chart(
            display.curves_figure(sub, title=title, x_title={"wall_s": "seconds"}.get(x, x), smoothing=smoothing),
            key=f"curve_{metric}",
        )
    if len(chosen) == 2:
        a, b = (runs.read_config(by_label[label].run_dir) or by_label[label].config or {} for label in chosen)
        st.markdown(f"**Config diff** — {chosen[0]} (a) vs {chosen[1]} (b)")
        diff = runs.config_diff(a, b)
        if diff.empty:
            st.caption("Same config.")
        else:
            st.dataframe(diff, hide_index=True, width="stretch", key="config_diff")


def overlay_with_parent(job_id: int) -> None:
    job = store.get_job(job_id)
    parent = store.get_job(job.parent_id) if job.parent_id else None
    if parent is not None:
        st.session_state["train_runs"] = [f"#{parent.id} {parent.name}", f"#{job.id} {job.name}"]


def stitch(group_id: str) -> None:
    try:
        path = crossval.stitch_oof(root, group_id)
    except (ValueError, DataError) as exc:
        common.flash("error", str(exc))
        return
    common.flash("success", f"Out-of-fold probabilities stitched ({path.name}): see Data → Flags → Label issues.")


def crossval_section(all_jobs: list[jobs.Job], dataset_id: int) -> None:
    groups = list(dict.fromkeys(j.group_id for j in all_jobs if j.group_id))
    if not groups:
        return
    stitched = {meta.get("group_id") for _, meta in crossval.list_oof(root, dataset_id)}
    st.markdown("#### Cross-validation")
    for group in reversed(groups):
        status = crossval.crossval_status(root, group)
        c1, c2, c3 = st.columns([2, 3, 2], vertical_alignment="center")
        c1.markdown(f"`{group}` · {status.k} folds · **{status.state}** ({status.done}/{status.k} done)")
        c2.progress(status.fraction)
        if group in stitched:
            c3.caption("Stitched: label issues are in the Data view.")
        else:
            c3.button(
                "Stitch out-of-fold file",
                key=f"stitch_{group}",
                disabled=status.state != "succeeded",
                on_click=stitch,
                args=(group,),
            )


def job_detail(all_jobs: list[jobs.Job]) -> None:
    labels = {j.id: f"#{j.id} {j.name} ({j.status})" for j in all_jobs}
    job_id = st.selectbox("Job", list(labels), format_func=labels.get, key="train_detail")
    job = next(j for j in all_jobs if j.id == job_id)
    c1, c2, c3 = st.columns(3)
    c1.button(
        "Cancel",
        key=f"cancel_{job.id}",
        disabled=job.is_final,
        on_click=cancel,
        args=(job.id,),
        icon=":material/stop_circle:",
    )
    c2.button(
        "Re-run with edits", key=f"rerun_{job.id}", on_click=rerun_with_edits, args=(job.id,), icon=":material/replay:"
    )
    if job.parent_id:
        c3.button(
            f"Overlay with #{job.parent_id} (before)",
            key=f"overlay_{job.id}",
            on_click=overlay_with_parent,
            args=(job.id,),
            icon=":material/compare_arrows:",
        )
    st.caption(f"Run folder: `{job.run_dir}`")
    if job.error:
        st.error(job.error)
    summary = runs.read_summary(job.run_dir)
    if summary:
        st.json(summary, expanded=False)
    log = (
        jobs.backend_for(job, store).logs(job, tail_lines=40)
        if job.backend == "local"
        else runs.log_tail(job.log_path, lines=40)
    )
    st.code(log or "(no output yet)", language=None, height=260)


def jobs_panel() -> None:
    all_jobs = store.list_jobs()
    if not all_jobs:
        st.info("No jobs yet: submit one above.")
        return
    table = job_rows(all_jobs)
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        key="job_table",
        column_config={
            "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
            "dev micro-F1": st.column_config.NumberColumn(format="%.2f"),
            "dev AUPRC": st.column_config.NumberColumn(format="%.2f"),
            "CPU %": st.column_config.NumberColumn(format="%.0f"),
            "RAM MB": st.column_config.NumberColumn(format="%.0f"),
        },
    )
    crossval_section(all_jobs, info.id)
    st.markdown("#### Curves")
    curves_section(all_jobs)
    st.markdown("#### Job")
    job_detail(all_jobs)


# -- page -------------------------------------------------------------------------------------
st.title("Train")
common.show_flash()
info = common.selected_dataset(ws)
if info is None:
    st.info("Import a dataset on the Data page first.")
    st.stop()
splits = ws.splits(info.id)
if not splits:
    st.warning(f"{info.name!r} has no dev split yet: make one on the Data page (Import & export).")
    st.stop()

with st.expander("New job", expanded=not store.list_jobs(), icon=":material/add_circle:"):
    st.caption(f"Dataset **{info.name}** (pick another in the sidebar).")
    new_job_form(info.name, splits)

active = any(j.status in ("queued", "running") for j in store.list_jobs())
# Refresh by itself while something runs (AppTest cannot run timers; the browser test checks this).
st.fragment(run_every=2.0 if active else None)(jobs_panel)()
