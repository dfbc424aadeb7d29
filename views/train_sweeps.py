"""The Train view's sweeps: start an Optuna sweep over a base config, follow its trials, compare sweeps, train
the best config. Drawn by ``views/train.py``; every action is one call into :mod:`core.train.sweep`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import streamlit as st

from core import jobs
from core.serve import display
from core.train import sweep
from core.train.config import TrainConfig
from views import common

#: What the space box starts with: the from-scratch tiny model's knobs (a pretrained backbone wants lr 1e-5..5e-5).
DEFAULT_SPACE = """\
lr: {low: 1.0e-3, high: 1.0e-2, log: true}
warmup_ratio: {low: 0.0, high: 0.2}
scheduler: [linear, cosine]
batch_size: [16, 32, 64]
"""
FIGURES = {
    "Optimisation history": "history",
    "Trial curves": "intermediate",
    "Parallel coordinates": "parallel",
    "Parameter importances": "importance",
}
STATE_ICON = {
    "complete": "✔ complete",
    "pruned": "✂ pruned",
    "failed": "✖ failed",
    "running": "▶ running",
    "waiting": "… waiting",
}


def _bases(all_jobs: list[jobs.Job], dataset: str, split: str) -> dict[str, dict[str, Any]]:
    """The configs a sweep can start from: the defaults on the picked dataset, or a training job's own config."""
    out = {f"Default options on {dataset} · {split}": {"dataset": dataset, "split": split}}
    for job in all_jobs:
        if job.kind == "train" and job.config:
            out[f"Config of job #{job.id} {job.name}"] = dict(job.config)
    return out


def sweep_form(root: str, all_jobs: list[jobs.Job], dataset: str, split: str, placement: Callable[..., Any]) -> None:
    """The "Start a sweep" form (inside the sweeps expander)."""
    bases = _bases(all_jobs, dataset, split)
    with st.form("new_sweep"):
        base_label = st.selectbox(
            "Base config",
            list(bases),
            key="sweep_base",
            help="Every trial trains this config with the search space's options changed.",
        )
        fixed = st.text_area(
            "Fixed options (YAML, optional)",
            key="sweep_fixed",
            height=68,
            placeholder="max_steps: 400\neval_steps: 50",
            help="Set on every trial over the base config, e.g. a shorter run for the search.",
        )
        space = st.text_area(
            "Search space (YAML)",
            value=DEFAULT_SPACE,
            key="sweep_space",
            height=130,
            help="A training option per line: {low: .., high: .., log: true} for a range (whole-number bounds make an "
            "integer range; write 1.0e-3, not 1e-3), or a list of choices. See the README's Sweeps section.",
        )
        c1, c2, c3, c4 = st.columns(4)
        trials = c1.number_input("Trials", 1, sweep.MAX_TRIALS, 12, key="sweep_trials")
        parallel = c2.number_input(
            "At once", 1, sweep.MAX_PARALLEL, 1, key="sweep_parallel", help="Trials queued or running at once."
        )
        sampler = c3.selectbox("Sampler", sweep.SAMPLERS, key="sweep_sampler", help="tpe: Optuna's TPE; random.")
        pruner = c4.selectbox(
            "Pruner",
            sweep.PRUNERS,
            key="sweep_pruner",
            help="median: stop a trial whose dev micro-F1 at an evaluation is below the median of earlier trials "
            "at the same evaluation.",
        )
        backend, gpu, ray_address = placement("sweep")
        submitted = st.form_submit_button("Start sweep", type="primary", key="sweep_submit")
    if not submitted:
        return
    # The page's rerun would fold the section away under the person who just used it (see views/train.py).
    st.session_state["sweep_open"] = True
    if not common.require_editor("Starting a sweep"):
        return
    with common.user_errors(show="inline") as failed:
        name, driver = sweep.start_sweep(
            root,
            {**bases[base_label], "workspace": root},
            space,
            sweep.SweepOptions(
                trials=int(trials),
                parallel=int(parallel),
                sampler=sampler,
                pruner=pruner,
                backend=backend,
                gpu=jobs.normalize_gpu(gpu),
                ray_address=ray_address,
            ),
            fixed=fixed,
            owner=common.identity(),
        )
    if failed:
        return
    st.session_state["sweep_pick"] = name
    common.flash("success", f"Started sweep {display.plain(name)} (driver job #{driver.id}).")
    st.rerun()


def _label(status: sweep.SweepStatus) -> str:
    best = f"best {status.best.micro_f1:.2f}" if status.best else "no result yet"
    return (
        f"{status.name} · {status.dataset} · {status.state} · "
        f"{status.finished_trials}/{status.options.trials} trials · {best}"
    )


def trials_frame(status: sweep.SweepStatus) -> pd.DataFrame:
    """One row per trial, best first: state, scores, where a pruned one stopped, its values, its job."""
    names = list(status.space)
    rows = []
    for t in status.ranked():
        row: dict[str, Any] = {
            "trial": t.number,
            "state": STATE_ICON.get(t.state, t.state),
            "dev micro-F1": t.micro_f1,
            "dev AUPRC": t.auprc,
            "last eval F1": t.evals[max(t.evals)] if t.evals else None,
            "pruned at": f"eval {t.pruned_eval} · step {t.pruned_step}" if t.pruned_eval else "",
        }
        for name in names:
            value = t.params.get(name)
            row[name] = f"{value:.3g}" if isinstance(value, float) else ("" if value is None else str(value))
        row["job"] = f"#{t.job_id}" if t.job_id is not None else ""
        row["note"] = display.visible(t.error or "")
        rows.append(row)
    return pd.DataFrame(rows)


@st.cache_data(max_entries=16, show_spinner=False)
def _figures(root: str, name: str, signature: str) -> dict[str, Any]:
    """Optuna's figures for a sweep as it stood (``signature``: its trials' states and evaluations)."""
    return sweep.figures(root, name)


def _signature(status: sweep.SweepStatus) -> str:
    parts = [(t.number, t.state, len(t.evals), t.micro_f1) for t in status.trials]
    return hashlib.sha1(json.dumps(parts, default=str).encode()).hexdigest()


def _actions(root: str, status: sweep.SweepStatus) -> None:
    owner = common.identity()
    running, paused = status.state == sweep.RUNNING, status.state == sweep.PAUSED
    # Buttons from the left, the sweep's settings after them.
    slots = iter(st.columns([1, 1, 2], vertical_alignment="center"))
    stop = running and next(slots).button("Stop sweep", key=f"sweep_stop_{status.name}", icon=":material/stop_circle:")
    resume = paused and next(slots).button(
        "Resume sweep", key=f"sweep_resume_{status.name}", icon=":material/play_circle:"
    )
    best = status.best is not None and next(slots).button(
        "Train the best config",
        key=f"sweep_best_{status.name}",
        icon=":material/rocket_launch:",
        help=f"A normal run of the base config with trial {status.best.number}'s values." if status.best else None,
    )
    if stop and common.require_editor("Stopping a sweep"):
        with common.user_errors(show="inline") as failed:
            sweep.stop_sweep(root, status.name)
        if not failed:
            st.toast(f"Stopping {display.plain(status.name)}: its running trials are cancelled.")
    if resume and common.require_editor("Resuming a sweep"):
        with common.user_errors(show="inline") as failed:
            job = sweep.resume_sweep(root, status.name, owner=owner)
        if not failed:
            st.toast(f"Resumed {display.plain(status.name)} (driver job #{job.id}).")
    if best and common.require_editor("Training the best config"):
        with common.user_errors(show="inline") as failed:
            job = sweep.train_best(root, status.name, owner=owner)
        if not failed:
            st.toast(f"Queued job #{job.id}: {display.plain(job.name)}. It is in the jobs table below.")
    next(slots).caption(
        display.plain(
            f"{status.options.sampler} sampler, {status.options.pruner} pruner, {status.options.parallel} at once, "
            f"{status.options.backend}; created {status.created_at[:16].replace('T', ' ')} by {status.owner or '?'}"
        )
    )


def sweeps_panel(root: str, dataset: str | None) -> None:
    """Every sweep of the workspace: pick one to see its trials and figures, or several to compare."""
    statuses = sweep.list_sweeps(root)
    if not statuses:
        st.caption("No sweeps yet: start one above.")
        return
    by_name = {s.name: s for s in statuses}
    if st.session_state.get("sweep_pick") not in by_name:
        mine = [s for s in statuses if s.dataset == dataset]
        st.session_state["sweep_pick"] = (mine or statuses)[0].name
    name = st.selectbox(
        "Sweep", list(by_name), key="sweep_pick", format_func=lambda n: display.visible(_label(by_name[n]))
    )
    status = by_name[name]
    counts = ", ".join(f"{status.count(s)} {s}" for s in ("complete", "pruned", "running", "failed"))
    st.markdown(
        f"**{display.plain(status.name)}** on {display.plain(status.dataset)}: {status.state} "
        f"({counts}; {status.options.trials} to finish)" + (" · gave up: every trial failed" if status.gave_up else "")
    )
    _actions(root, status)
    if status.trials:
        st.dataframe(
            trials_frame(status),
            hide_index=True,
            width="stretch",
            key=f"sweep_trials_{name}",
            column_config={
                "trial": st.column_config.NumberColumn("trial", width=45),
                "dev micro-F1": st.column_config.NumberColumn(format="%.2f", width=90),
                "dev AUPRC": st.column_config.NumberColumn(format="%.2f", width=80),
                "last eval F1": st.column_config.NumberColumn(
                    format="%.2f", width=85, help="dev micro-F1 at the trial's latest evaluation"
                ),
            },
        )
    else:
        st.caption("No trial yet: the driver asks for the first one within a few seconds.")
    with st.expander("Search space and base config"):
        st.code(json.dumps({"space": status.space, "base": _diff(status.base)}, indent=1, ensure_ascii=False))
    pick = st.segmented_control(
        "Figure", list(FIGURES), default="Optimisation history", key="sweep_figure", label_visibility="collapsed"
    )
    if pick and status.trials:
        figure = _figures(root, name, _signature(status))[FIGURES[pick]]
        if isinstance(figure, str):
            st.info(figure)
        else:
            st.plotly_chart(figure, width="stretch", key=f"sweep_fig_{FIGURES[pick]}")
    others = [n for n in by_name if n != name]
    if others:
        compare = st.multiselect(
            "Compare with", others, key="sweep_compare", format_func=lambda n: display.visible(_label(by_name[n]))
        )
        if compare:
            picked = [status, *(by_name[n] for n in compare)]
            st.plotly_chart(sweep.compare_figure(picked), width="stretch", key="sweep_compare_fig")
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "sweep": s.name,
                            "dataset": display.visible(s.dataset),
                            "trials": f"{s.finished_trials}/{s.options.trials}",
                            "best dev micro-F1": s.best.micro_f1 if s.best else None,
                            "best dev AUPRC": s.best.auprc if s.best else None,
                            "best values": ", ".join(f"{k}={v}" for k, v in (s.best.params if s.best else {}).items()),
                        }
                        for s in picked
                    ]
                ),
                hide_index=True,
                width="stretch",
                key="sweep_compare_table",
            )


def _diff(base: Mapping[str, Any]) -> dict[str, Any]:
    """The base config's options that differ from the defaults (the rest is every other run's too)."""
    defaults = TrainConfig().to_dict()
    return {k: v for k, v in base.items() if k != "workspace" and defaults.get(k) != v}


def any_running(root: str) -> bool:
    """Whether some sweep has a driver queued or running (the panel then refreshes itself)."""
    return any(s.state == sweep.RUNNING for s in sweep.list_sweeps(root))
