"""Train view: launch fine-tune jobs, watch them live, compare runs."""

from __future__ import annotations

import dataclasses
import html
import json
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from core import jobs
from core.serve import display
from core.store import runs
from core.store.backbones import backbones_root
from core.train import catalog as backbone_catalog
from core.train import crossval, sweep, tapt, training
from core.train.config import HEADS, LIMITS, LOSSES, PRECISIONS, PRESETS, SCHEDULERS, TrainConfig, hub_cache_dir
from core.train.encoding import INPUT_FORMATS, TYPE_LANGUAGES
from core.train.tiny_backbones import FAMILIES
from views import common, train_sweeps

ws = common.workspace()
root = str(ws.root)
store = jobs.JobStore(root)
FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
DEFAULTS = TrainConfig().to_dict()
#: Options the form shows up front; every other option sits under "All options".
MAIN = ["model", "input_format", "head", "loss", "epochs", "batch_size", "lr", "max_length", "seed"]
HIDDEN = {"dataset", "workspace", "split", "labels"}  # set by the dataset and split pickers, not typed
CHOICES = {
    "input_format": list(INPUT_FORMATS),
    "head": sorted(HEADS, key=lambda head: head != DEFAULTS["head"]),  # the default first, as the form always had
    "loss": list(LOSSES),
    "scheduler": list(SCHEDULERS),
    "type_language": list(TYPE_LANGUAGES),
    "fp16": list(PRECISIONS),
    "bf16": list(PRECISIONS),
}
TAPT_FIELDS = {f.name: f for f in dataclasses.fields(tapt.TaptConfig)}
TAPT_DEFAULTS = tapt.TaptConfig().to_dict()
#: The TAPT form's options up front; the rest sit under "All options".
TAPT_MAIN = [
    "model",
    "input_format",
    "epochs",
    "max_steps",
    "batch_size",
    "lr",
    "mlm_probability",
    "max_length",
    "name",
]
TAPT_HIDDEN = {"dataset", "workspace"}
#: Material icons for the job notice (emoji need a font a server or a viewer may not have).
STATUS_ICON = {
    "queued": ":material/schedule:",
    "running": ":material/play_circle:",
    "cancelling": ":material/stop_circle:",
    "succeeded": ":material/check_circle:",
    "failed": ":material/error:",
    "cancelled": ":material/cancel:",
    "lost": ":material/help:",
}
#: Seconds a refusal from a button inside the jobs panel stays shown (the panel redraws every 2 s).
REFUSAL_SHOWN_S = 10.0


def _key(name: str) -> str:
    return f"cfg_{name}"


def _tapt_key(name: str) -> str:
    return f"tapt_{name}"


def load_into_form(config: dict, *, parent: int | None = None, name: str | None = None) -> list[str]:
    """Fill the form's widgets from a config (a preset, or a job to re-run with edits). Returns the
    options that were over their limit (a job from before the limits) and were set to the limit, since
    an input holding more than its maximum would not draw."""
    lowered = []
    for opt, value in {**DEFAULTS, **config}.items():
        if opt in HIDDEN:
            continue
        limit = LIMITS.get(opt)
        if limit is not None and isinstance(value, int | float) and not isinstance(value, bool) and value > limit:
            value = type(value)(limit)
            lowered.append(opt)
        st.session_state[_key(opt)] = value if opt in CHOICES or not isinstance(value, list) else json.dumps(value)
    # A re-run trains on the job's own dataset and split, whatever the sidebar shows now.
    if config.get("dataset"):
        st.session_state["train_dataset"] = config["dataset"]
    if config.get("split"):
        st.session_state["train_split"] = config["split"]
    st.session_state["train_parent"] = parent
    if name:
        st.session_state["train_name"] = name
    return lowered


def apply_preset() -> None:
    load_into_form(PRESETS[st.session_state["train_preset"]])


@st.cache_data(ttl=60, show_spinner=False, max_entries=8)
def _catalog(workspace: str, stamp: tuple[int, int]) -> list[backbone_catalog.CatalogEntry]:
    del stamp  # only part of the cache key
    return backbone_catalog.catalog(workspace)


def backbone_entries(workspace: str) -> list[backbone_catalog.CatalogEntry]:
    """The catalog (workspace folders and the Hugging Face cache), scanned again as soon as either folder
    changes: publishing a backbone or caching a model renames an entry into it, which moves its mtime."""

    def mtime(path: Path) -> int:
        try:
            return path.stat().st_mtime_ns
        except OSError:
            return 0

    stamp = (mtime(backbones_root(workspace)), mtime(hub_cache_dir()))
    return _catalog(workspace, stamp)


def model_choice(label: str, key: str, default: str, helptext: str | None) -> str:
    """A backbone picker over the catalog that also takes any typed hub id or folder path."""
    entries = {entry.value: entry for entry in backbone_entries(root)}
    st.session_state.setdefault(key, default)
    current = str(st.session_state[key])
    options = list(entries) + ([current] if current not in entries else [])

    def shown(value: str) -> str:
        entry = entries.get(value)
        if entry is None:
            return value
        return f"{entry.label} · {entry.source}" + (f" · {entry.family}" if entry.family else "")

    return st.selectbox(
        label,
        options,
        key=key,
        format_func=shown,
        accept_new_options=True,
        help=(helptext or "")
        + ". Lists the built-in tiny model, the workspace's backbones (tiny builds, TAPT outputs) and the models "
        "in this machine's Hugging Face cache; type any other hub id or a local folder.",
    )


def option_widget(opt: str, *, tapt_form: bool = False) -> object:
    """The input of one option of the fine-tune form, or with ``tapt_form`` of the TAPT form."""
    if tapt_form:
        fields, defaults, limits = TAPT_FIELDS, TAPT_DEFAULTS, tapt.TAPT_LIMITS
    else:
        fields, defaults, limits = FIELDS, DEFAULTS, LIMITS
    field = fields[opt]
    helptext = field.metadata.get("help")
    key = _tapt_key(opt) if tapt_form else _key(opt)
    if opt == "model":
        return model_choice(opt, key, defaults[opt], helptext)
    st.session_state.setdefault(key, defaults[opt])
    if opt in CHOICES:
        return st.selectbox(opt, CHOICES[opt], key=key, help=helptext)
    value = defaults[opt]
    # The same limits validation enforces: the input stops there instead of a refusal later.
    limit = limits.get(opt)
    if isinstance(value, bool):
        return st.checkbox(opt, key=key, help=helptext)
    if isinstance(value, int):
        return st.number_input(opt, key=key, step=1, max_value=None if limit is None else int(limit), help=helptext)
    if isinstance(value, float):
        top = None if limit is None else float(limit)
        return st.number_input(opt, key=key, format="%g", max_value=top, help=helptext)
    return st.text_input(opt, key=key, help=helptext)


def dataset_and_split() -> tuple[str, str] | None:
    """The dataset and dev split a new job trains on, picked explicitly (outside the form, so the split
    list follows the dataset). Starts on the sidebar's dataset and follows it when it changes."""
    datasets = ws.datasets()
    names = [d.name for d in datasets]
    sidebar = common.selected_dataset(ws)
    if sidebar is not None and st.session_state.get("_train_dataset_sidebar") != sidebar.name:
        st.session_state["_train_dataset_sidebar"] = sidebar.name
        st.session_state["train_dataset"] = sidebar.name
    if st.session_state.get("train_dataset") not in names:
        st.session_state["train_dataset"] = sidebar.name if sidebar else names[-1]
    c1, c2 = st.columns(2)
    name = c1.selectbox("Dataset", names, key="train_dataset", help="The dataset this job trains on.")
    info = next(d for d in datasets if d.name == name)
    split_names = ws.splits(info.id)
    if not split_names:
        c2.warning(f"{display.plain(name)} has no dev split yet: make one on the Data page (Import & export).")
        return None
    if st.session_state.get("train_split") not in split_names:
        st.session_state["train_split"] = "default" if "default" in split_names else split_names[0]
    split_name = c2.selectbox(
        "Dev split", split_names, key="train_split", help="Its dev ids are held out for evaluation."
    )
    split = ws.split(info.id, split_name)
    if split is not None:
        st.caption(
            f"Trains on **{display.plain(name)}**, split **{display.plain(split_name)}**: "
            f"{len(split.train_ids):,} train and {len(split.dev_ids):,} dev rows (made at revision {split.revision})"
            + (f", test part of {info.parts['test'].n_rows:,} rows." if "test" in info.parts else ".")
        )
    return name, split_name


def crossval_folds() -> tuple[int, bool]:
    """The number of cross-validation folds (0: one job) and whether a large group is confirmed.

    Outside the form, so the confirmation can name the number as it is typed: more than
    :data:`core.train.crossval.CONFIRM_ABOVE_K` folds train that many models, and a typo should not.
    """
    c1, c2 = st.columns([1, 2], vertical_alignment="bottom")
    folds = int(
        c1.number_input(
            "Cross-validation folds",
            0,
            crossval.MAX_K,
            0,
            key="train_folds",
            help=f"0: one job. k from 2 to {crossval.MAX_K}: k fold jobs whose out-of-fold probabilities feed "
            "the Data view's label issues (confident learning).",
        )
    )
    if folds <= crossval.CONFIRM_ABOVE_K:
        return folds, True
    # Keyed by k: a confirmation given for 6 models is not one for 10.
    confirmed = c2.checkbox(
        f"Yes, train {folds} models",
        key=f"train_confirm_folds_{folds}",
        help=f"More than {crossval.CONFIRM_ABOVE_K} folds: each fold is a full training run.",
    )
    return folds, confirmed


def placement(prefix: str) -> tuple[str, str | None, str | None]:
    """Backend, GPU and Ray cluster inputs of a job form (inside it): ``(backend, gpu request, ray address)``.

    Ray clusters come from the server's restudio.toml only: no address is ever typed here."""
    gpus = jobs.list_gpus()
    clusters = jobs.ray_clusters(common.server_config())
    backends = list(jobs.BACKENDS) if clusters else ["local"]
    if st.session_state.get(f"{prefix}_backend") not in backends:
        st.session_state.pop(f"{prefix}_backend", None)
    c1, c2, c3 = st.columns([1, 1, 2])
    backend = c1.selectbox(
        "Backend",
        backends,
        key=f"{prefix}_backend",
        help="local: this machine; ray: one of the server's Ray clusters (same Python environment).",
    )
    gpu = c2.selectbox(
        "GPU",
        ["auto", "cpu", *[g.index for g in gpus]],
        key=f"{prefix}_gpu",
        help="auto: a free GPU (one job per GPU), else the CPU queue."
        if gpus
        else "No GPU on this machine: jobs run on the CPU queue.",
    )
    cluster = None
    if clusters:
        cluster = c3.selectbox(
            "Ray cluster",
            list(clusters),
            key=f"{prefix}_ray_cluster",
            help="For the ray backend: the clusters the server's operator lists in restudio.toml ([ray.clusters]).",
        )
    else:
        c3.caption(display.plain(f"Ray backend: no cluster is configured on this server; {jobs.RAY_CONFIG_HINT}."))
    return backend, gpu, clusters.get(cluster or "") if backend == "ray" else None


def new_job_form(dataset: str, split: str) -> None:
    st.selectbox(
        "Preset",
        list(PRESETS),
        key="train_preset",
        on_change=apply_preset,
        help="Fills the form; edit anything before submitting.",
    )
    folds, confirmed = crossval_folds()
    with st.form("new_job"):
        name = st.text_input("Job name", key="train_name", placeholder="e.g. typed-punct lr3e-3")
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
        backend, gpu, ray_address = placement("train")
        what = f"{folds} fold jobs" if folds >= 2 else "job"
        submitted = st.form_submit_button(
            f"Submit {what} on {display.plain(dataset)} · {display.plain(split)}", type="primary", key="train_submit"
        )
    if not submitted or not common.require_editor("Launching jobs"):
        return
    if not confirmed:
        st.warning(f"{folds} folds train {folds} models: tick 'Yes, train {folds} models' to go ahead.")
        return
    config = {**DEFAULTS, **values, "dataset": dataset, "split": split, "workspace": root}
    owner = common.identity()
    # The message quotes what was typed (a model path, a dataset name): shown as text.
    with common.user_errors(show="inline") as failed:
        gpu_request = jobs.normalize_gpu(gpu)
        resolved = training.validate(config)
        if folds:
            group = crossval.submit_crossval(
                root,
                resolved.to_dict(),
                k=folds,
                backend=backend,
                name=name.strip() or None,
                gpu=gpu_request,
                ray_address=ray_address,
                owner=owner,
            )
            st.session_state.pop("train_form_open", None)
            common.flash("success", f"Queued {folds} fold jobs as cross-validation group {display.plain(group)}.")
            st.rerun()
        job = jobs.submit_training(
            root,
            resolved.to_dict(),
            name=name.strip() or f"{resolved.input_format} · {resolved.head} · {short_model(resolved.model)}",
            backend=backend,
            gpu=gpu_request,
            ray_address=ray_address,
            parent_id=st.session_state.get("train_parent"),
            owner=owner,
        )
    if failed:
        return
    st.session_state.pop("train_form_open", None)
    follow(job.id)
    st.rerun()


def short_model(model: str | None) -> str:
    """A model as the job table shows it: a hub id as is, a local folder (a workspace backbone) by its name."""
    if not model:
        return ""
    return Path(model).name if Path(model).is_absolute() or model.startswith(("./", "../", "~")) else model


# -- backbones and TAPT ---------------------------------------------------------------------------------


def load_into_tapt_form(config: dict, *, parent: int | None = None, name: str | None = None) -> None:
    """Fill the TAPT form from a TAPT job's config (re-run with edits)."""
    for opt, value in {**TAPT_DEFAULTS, **config}.items():
        if opt in TAPT_HIDDEN or opt not in TAPT_FIELDS:
            continue
        limit = tapt.TAPT_LIMITS.get(opt)
        if limit is not None and isinstance(value, int | float) and not isinstance(value, bool) and value > limit:
            value = type(value)(limit)
        st.session_state[_tapt_key(opt)] = value
    if config.get("dataset"):
        st.session_state["tapt_dataset"] = config["dataset"]
    st.session_state["tapt_parent"] = parent
    if name:
        st.session_state["tapt_job_name"] = name


def backbones_section() -> None:
    """The catalog as a table, and building a tiny random backbone of any family into the workspace."""
    entries = backbone_entries(root)
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "backbone": entry.label,
                    "source": entry.source,
                    "family": entry.family or "",
                    "size": backbone_catalog.format_size(entry.size_bytes) if entry.size_bytes else "",
                    "what it is": entry.detail,
                }
                for entry in entries
            ]
        ),
        hide_index=True,
        width="stretch",
        key="backbone_table",
        column_config={
            "backbone": st.column_config.TextColumn(width=260),
            "source": st.column_config.TextColumn(width=80),
            "family": st.column_config.TextColumn(width=90),
            "size": st.column_config.TextColumn(width=70),
        },
    )
    st.caption(
        "Hub models appear here once they are in this machine's Hugging Face cache (HF_HOME): download them "
        "where the hub is reachable (`huggingface-cli download klue/roberta-base`) and copy the cache over, or "
        "type a local model folder in the model field."
    )
    sidebar = common.selected_dataset(ws)
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    family = c1.selectbox(
        "Tiny random backbone of a hub family",
        list(FAMILIES),
        key="tiny_family",
        format_func=lambda f: f"{f}: like {FAMILIES[f]}",
        help="A small random checkpoint with the family's real model and tokenizer classes, its tokenizer trained "
        "on the sidebar's dataset: for trying the code paths of a family offline (no pretraining).",
    )
    if c2.button("Build it", key="tiny_build", icon=":material/construction:") and common.require_editor(
        "Building a backbone"
    ):
        if sidebar is None:
            st.warning("Pick a dataset in the sidebar first: the tokenizer is trained on its sentences.")
            return
        with common.user_errors(show="inline") as failed:
            info = backbone_catalog.build_tiny(root, family, dataset=sidebar.name)
        if failed:
            return
        common.flash("success", f"Built backbone {display.plain(info.name)}: pick it as the model of a job.")
        st.rerun()


def tapt_form() -> None:
    """A TAPT job: masked-LM pretraining of a backbone on a dataset's sentences, published as a backbone."""
    datasets = ws.datasets()
    names = [d.name for d in datasets]
    if st.session_state.get("tapt_dataset") not in names:
        sidebar = common.selected_dataset(ws)
        st.session_state["tapt_dataset"] = sidebar.name if sidebar else names[-1]
    dataset = st.selectbox(
        "Dataset", names, key="tapt_dataset", help="Its train and test sentences are pretrained on; labels unused."
    )
    with st.form("new_tapt"):
        name = st.text_input("Job name", key="tapt_job_name", placeholder="e.g. TAPT roberta on KLUE")
        cols = st.columns(3)
        values = {}
        for i, opt in enumerate(TAPT_MAIN):
            with cols[i % 3]:
                values[opt] = option_widget(opt, tapt_form=True)
        with st.expander("All options"):
            cols = st.columns(3)
            rest = [o for o in TAPT_FIELDS if o not in TAPT_MAIN and o not in TAPT_HIDDEN]
            for i, opt in enumerate(rest):
                with cols[i % 3]:
                    values[opt] = option_widget(opt, tapt_form=True)
        backend, gpu, ray_address = placement("tapt")
        submitted = st.form_submit_button(
            f"Submit TAPT job on {display.plain(dataset)}", type="primary", key="tapt_submit"
        )
    if not submitted or not common.require_editor("Launching jobs"):
        return
    config = {**TAPT_DEFAULTS, **values, "dataset": dataset, "workspace": root}
    with common.user_errors(show="inline") as failed:
        resolved = tapt.validate_tapt(config)
        job = jobs.submit_tapt(
            root,
            resolved.to_dict(),
            name=name.strip() or f"TAPT · {short_model(resolved.model)} · {resolved.input_format}",
            backend=backend,
            gpu=jobs.normalize_gpu(gpu),
            ray_address=ray_address,
            parent_id=st.session_state.get("tapt_parent"),
            owner=common.identity(),
        )
    if failed:
        return
    st.session_state.pop("tapt_form_open", None)
    follow(job.id)
    st.rerun()


def follow(job_id: int) -> None:
    """Make ``job_id`` the job this session watches: its notice, the Job panel and the curves show it."""
    st.session_state["train_notice"] = job_id
    st.session_state["train_follow"] = job_id


def job_notice(all_jobs: list[jobs.Job]) -> None:
    """One line about the job this session last submitted or cancelled, drawn from its current state
    (so "is running" turns into "succeeded" by itself, never a stale message)."""
    job = next((j for j in all_jobs if j.id == st.session_state.get("train_notice")), None)
    if job is None:
        return
    status = job.display_status
    label = f"Job #{job.id} {display.plain(job.name)}"
    icon = STATUS_ICON.get(status)
    if status == "queued":
        ahead = sum(1 for j in all_jobs if j.status == "queued" and j.id < job.id and j.backend == job.backend)
        st.info(f"{label} is queued" + (f" behind {ahead} other job(s)." if ahead else ": it starts next."), icon=icon)
    elif status == "running":
        prog = jobs.progress(job)
        where = f" (step {prog.step:,} of {prog.max_steps:,})" if prog.step is not None and prog.max_steps else ""
        st.info(f"{label} is running{where}.", icon=icon)
    elif status == "cancelling":
        st.warning(f"{label} is cancelling: it stops at the next step and saves its checkpoint.", icon=icon)
    elif job.kind == "tapt" and status in ("succeeded", "cancelled"):
        summary = runs.read_summary(job.run_dir) or {}
        kept = summary.get("backbone_name")
        if status == "succeeded":
            st.success(f"{label} succeeded: backbone {display.plain(kept)} is in the model list.", icon=icon)
        elif kept:
            kept_as = f"the backbone as trained so far is kept as {display.plain(kept)}"
            st.info(f"{label} was cancelled; {kept_as}.", icon=icon)
        else:
            st.info(f"{label} was cancelled before its first step: nothing was saved.", icon=icon)
    elif status == "succeeded":
        dev = (runs.read_summary(job.run_dir) or {}).get("dev") or {}
        score = f": dev micro-F1 {dev['micro_f1']:.2f}" if dev.get("micro_f1") is not None else ""
        st.success(f"{label} succeeded{score}.", icon=icon)
    elif status == "cancelled":
        pending = runs.pending_predictions(job.run_dir)
        owed = f" {len(pending)} prediction file(s) are left to make: see the Job panel." if pending else ""
        st.info(f"{label} was cancelled; its checkpoint is kept.{owed}", icon=icon)
    else:
        # The error's first line: the rest is a log tail, which the Job panel shows in its log box.
        reason = (job.error or "see its log below").partition("\n")[0]
        st.error(f"{label} {status}: {display.plain(reason)}", icon=icon)


def _usage_text(usage: jobs.ResourceUsage) -> str:
    parts = []
    if usage.cpu_percent is not None:
        parts.append(f"{usage.cpu_percent:.0f}%")
    if usage.rss_mb is not None:
        parts.append(f"{usage.rss_mb:,.0f} MB")
    if usage.gpu_mem_mb is not None:
        parts.append(f"GPU {usage.gpu_mem_mb:,.0f} MB")
    return " · ".join(parts)


def job_rows(all_jobs: list[jobs.Job]) -> pd.DataFrame:
    """The job table, newest first. Resource use is text: a finished job has none (blank, not "None")."""
    kinds = {j.id: j.kind for j in all_jobs}
    rows = [
        {
            "id": row.id,
            "job": row.job,
            "owner": row.owner,
            "status": row.status,
            "progress": row.progress,
            "dev micro-F1": row.dev_micro_f1,
            "dev AUPRC": row.dev_auprc,
            "model": short_model(row.model),
            "format": {"tapt": f"TAPT · {row.input_format}", sweep.SWEEP_KIND: "sweep driver"}.get(
                kinds.get(row.id, ""), row.input_format
            ),
            "created": display.format_time(row.created_at),
            "ETA": "" if row.eta_s is None else f"{int(row.eta_s // 60)}m {int(row.eta_s % 60):02d}s",
            "resources": " · ".join(
                x for x in (row.backend, row.device, _usage_text(row.usage) if row.usage is not None else "") if x
            ),
        }
        for row in jobs.job_rows(all_jobs)
    ]
    table = pd.DataFrame(rows)
    # Scores as text: a job without one shows a blank cell (st.dataframe prints a missing number as "None").
    for col in ("dev micro-F1", "dev AUPRC"):
        table[col] = [f"{v:.2f}" if v is not None and v == v else "" for v in table[col]]
    return table


def _editor_in_callback(action: str) -> bool:
    """Whether this session may do ``action``, from a button's callback inside the jobs panel.

    Such a callback cannot draw (what it draws replaces the top of the page): a refusal is kept for
    the panel, which shows it with :func:`views.common.require_editor` (:func:`show_refusal`).
    """
    if common.can_edit():
        return True
    st.session_state["train_refused"] = (action, time.monotonic())
    return False


def show_refusal() -> None:
    refused = st.session_state.get("train_refused")
    if refused is None:
        return
    action, when = refused
    if time.monotonic() - when < REFUSAL_SHOWN_S:
        common.require_editor(action)
    else:
        del st.session_state["train_refused"]


def cancel(job_id: int) -> None:
    if not _editor_in_callback("Cancelling a job"):
        return
    job = store.get_job(job_id)
    with common.user_errors() as failed:
        jobs.backend_for(job, store).cancel(job, wait=False)
    if failed:
        return
    follow(job_id)


def make_predictions(job_id: int) -> None:
    if not _editor_in_callback("Making predictions"):
        return
    with common.user_errors() as failed:  # a refused job, or a broken restudio.toml naming itself
        job = jobs.submit_predictions(store, job_id, owner=common.identity())
    if failed:
        return
    follow(job.id)


def curves_section(all_jobs: list[jobs.Job], new_ids: list[int]) -> None:
    # Predict jobs and sweep drivers log no curves.
    by_label = {f"#{j.id} {j.name}": j for j in reversed(all_jobs) if j.kind not in ("predict", sweep.SWEEP_KIND)}
    label_of = {j.id: label for label, j in by_label.items()}
    if "train_runs" not in st.session_state:
        st.session_state["train_runs"] = [
            label for label, j in by_label.items() if j.status in ("queued", "running", "succeeded")
        ][:3]
    kept = [r for r in st.session_state["train_runs"] if r in by_label]
    # A job that appeared since this session last looked is added: the newest run is shown by default.
    st.session_state["train_runs"] = [label_of[i] for i in new_ids if i in label_of and label_of[i] not in kept] + kept
    c1, c2, c3 = st.columns([4, 1, 1])
    chosen = c1.multiselect("Runs", list(by_label), key="train_runs", placeholder="pick runs to overlay")
    x = c2.selectbox(
        "x axis",
        ["step", "epoch", "wall_s"],
        key="train_x",
        format_func={"step": "steps", "epoch": "epochs", "wall_s": "time (s)"}.get,
    )
    smoothing = c3.slider(
        "Smoothing",
        0.0,
        0.95,
        0.6,
        0.05,
        key="train_smoothing",
        help=f"Applies to series of at least {display.SMOOTH_MIN_POINTS} points; sparser ones are drawn as measured.",
    )
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
        st.markdown(f"**Config diff**: {display.plain(chosen[0])} (a) vs {display.plain(chosen[1])} (b)")
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
    if not _editor_in_callback("Stitching a cross-validation"):
        return
    with common.user_errors() as failed:
        path = crossval.stitch_oof(root, group_id)
    if failed:
        return
    common.flash("success", f"Out-of-fold probabilities stitched ({path.name}): see Data → Flags → Label issues.")


def crossval_section(all_jobs: list[jobs.Job]) -> None:
    # Fold jobs carry `folds` in their config; a sweep's trials share a group too, and are not folds.
    groups = list(dict.fromkeys(j.group_id for j in all_jobs if j.group_id and (j.config or {}).get("folds")))
    if not groups:
        return
    stitched = {meta.group_id for d in ws.datasets() for _, meta in crossval.list_oof(root, d.id)}
    st.markdown("#### Cross-validation")
    for group in reversed(groups):
        status = crossval.crossval_status(root, group)
        c1, c2, c3 = st.columns([2, 3, 2], vertical_alignment="center")
        c1.markdown(f"{display.plain(group)} · {status.k} folds · **{status.state}** ({status.done}/{status.k} done)")
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


def log_box(text: str, *, height: int = 260) -> None:
    """The log tail, opened at its newest line: a column-reverse box starts scrolled to the bottom without
    any script (st.code opens at the top, where the oldest lines are)."""
    st.html(
        f'<div class="re-log" style="max-height:{height}px"><pre>{html.escape(text)}</pre></div>',
    )


def job_detail(store: jobs.JobStore, all_jobs: list[jobs.Job], new_ids: list[int]) -> None:
    # No status in the label: a picked option keeps the label it had when picked, so it would go stale.
    labels = {j.id: f"#{j.id} {j.name}" for j in reversed(all_jobs)}
    follow_id = st.session_state.pop("train_follow", None)
    if follow_id in labels:
        st.session_state["train_detail"] = follow_id
    elif new_ids or st.session_state.get("train_detail") not in labels:
        st.session_state["train_detail"] = next(iter(labels))  # the newest job
    job_id = st.selectbox("Job", list(labels), format_func=labels.get, key="train_detail")
    job = next(j for j in all_jobs if j.id == job_id)
    cancelling = job.cancelling
    c1, c2, c3 = st.columns(3)
    c1.button(
        "Cancelling…" if cancelling else "Cancel",
        key=f"cancel_{job.id}",
        disabled=job.is_final or cancelling,
        on_click=cancel,
        args=(job.id,),
        icon=":material/stop_circle:",
    )
    # A predict job or a sweep's driver has no training config: nothing to re-run with edits.
    rerun = job.kind in jobs.CONFIG_JOB_KINDS and c2.button(
        "Re-run with edits", key=f"rerun_{job.id}", icon=":material/replay:"
    )
    if rerun and common.require_editor("Re-running a job"):
        # Applied at the top of the next full run, before the forms' widgets exist (apply_pending).
        st.session_state["train_pending"] = ("rerun", job.id)
        st.rerun(scope="app")
    backbone_dir = (runs.read_summary(job.run_dir) or {}).get("backbone_dir") if job.kind == "tapt" else None
    if (
        backbone_dir
        and Path(backbone_dir).is_dir()
        and c3.button("Fine-tune from it", key=f"finetune_{job.id}", icon=":material/model_training:")
    ):
        st.session_state["train_pending"] = ("finetune", job.id)
        st.rerun(scope="app")
    if job.parent_id:
        c3.button(
            f"Overlay with #{job.parent_id} (before)",
            key=f"overlay_{job.id}",
            on_click=overlay_with_parent,
            args=(job.id,),
            icon=":material/compare_arrows:",
        )
    st.caption(f"{job.display_status.capitalize()} · run folder: {display.plain(job.run_dir)}")
    if job.error:
        # Its first line as text (it may quote a name or a path); a log tail after it in the log box.
        first, _, rest = job.error.partition("\n")
        (st.error if job.status in ("failed", "lost") else st.info)(display.plain(first))
        if rest.strip():
            log_box(rest, height=160)
    pending = runs.pending_predictions(job.run_dir) if job.is_final else []
    if pending:
        c1, c2 = st.columns([3, 1], vertical_alignment="center")
        c1.warning(
            f"The cancel left {', '.join(pending)} to be made later (they did not fit in the grace period).",
            icon=":material/pending:",
        )
        c2.button(
            "Make them now",
            key=f"predict_{job.id}",
            on_click=make_predictions,
            args=(job.id,),
            icon=":material/play_arrow:",
            help="Queues a job that loads the saved checkpoint and writes the missing prediction files.",
        )
    summary = runs.read_summary(job.run_dir)
    if summary:
        st.json(summary, expanded=False)
    log = (
        jobs.backend_for(job, store).logs(job, tail_lines=40)
        if job.backend == "local"
        else runs.log_tail(job.log_path, lines=40)
    )
    log_box(log or "(no output yet)")


def jobs_panel(store: jobs.JobStore) -> None:
    all_jobs = store.list_jobs()
    if not all_jobs:
        st.info("No jobs yet: submit one above.")
        return
    newest = max(j.id for j in all_jobs)
    seen = st.session_state.get("train_seen", newest)
    new_ids = sorted((j.id for j in all_jobs if j.id > seen), reverse=True)
    st.session_state["train_seen"] = newest
    show_refusal()
    job_notice(all_jobs)
    st.dataframe(
        job_rows(all_jobs),
        hide_index=True,
        width="stretch",
        key="job_table",
        column_config={
            # Widths that fit every column in the main area of a 1400 px window (about 1000 px; 945 here
            # because the grid adds a few pixels per column).
            "id": st.column_config.NumberColumn("id", width=35),
            "job": st.column_config.TextColumn("job", width=100),
            "owner": st.column_config.TextColumn("owner", width=65, help="who launched the job"),
            "status": st.column_config.TextColumn("status", width=75),
            "progress": st.column_config.ProgressColumn(
                "progress", min_value=0.0, max_value=1.0, format="percent", width=75
            ),
            "dev micro-F1": st.column_config.TextColumn(width=85),
            "dev AUPRC": st.column_config.TextColumn(width=75),
            "model": st.column_config.TextColumn("model", width=75),
            "format": st.column_config.TextColumn("format", width=110),
            "created": st.column_config.TextColumn("created", width=110),
            "ETA": st.column_config.TextColumn("ETA", width=50),
            "resources": st.column_config.TextColumn("resources", width=90),
        },
    )
    crossval_section(all_jobs)
    st.markdown("#### Curves")
    curves_section(all_jobs, new_ids)
    st.markdown("#### Job")
    job_detail(store, all_jobs, new_ids)


def jobs_and_backbones(store: jobs.JobStore) -> None:
    jobs_panel(store)
    # Below the jobs (the job table stays the page's first table), and in the same fragment, so a backbone a
    # TAPT job has just published is listed without a reload.
    with st.expander("Backbones", icon=":material/inventory_2:"):
        backbones_section()


def apply_pending() -> None:
    """Fill a form as the jobs panel asked (re-run a job with edits, fine-tune from a TAPT job's backbone).

    Runs at the top of the page, before the forms' widgets exist: their values can only be set then."""
    pending = st.session_state.pop("train_pending", None)
    if pending is None:
        return
    action, job_id = pending
    job = store.get_job(job_id)
    if action == "rerun" and job.kind == "tapt":
        load_into_tapt_form(job.config or {}, parent=job.id, name=f"{job.name} (re-run)")
        common.flash("info", f"The TAPT form holds job #{job.id}'s config: edit it and submit.")
        st.session_state["tapt_form_open"] = True
    elif action == "rerun":
        lowered = load_into_form(job.config or {}, parent=job.id, name=f"{job.name} (re-run)")
        note = f" Set to their limits: {display.plain(', '.join(lowered))}." if lowered else ""
        common.flash("info", f"The form holds job #{job.id}'s config: edit it and submit.{note}")
        st.session_state["train_form_open"] = True
    else:
        backbone_dir = str((runs.read_summary(job.run_dir) or {}).get("backbone_dir") or "")
        st.session_state[_key("model")] = backbone_dir
        fmt = (job.config or {}).get("input_format")
        if fmt in INPUT_FORMATS:  # the format whose markers it has seen
            st.session_state[_key("input_format")] = fmt
        common.flash("info", f"The new-job form starts from backbone {display.plain(Path(backbone_dir).name)}.")
        st.session_state["train_form_open"] = True


# -- page -------------------------------------------------------------------------------------
st.title("Train")
apply_pending()
common.show_flash()
if not ws.datasets():
    st.info("Import a dataset on the Data page first.")
    st.stop()

with st.expander(
    "New job",
    # Kept until a job is submitted: an `expanded` that flipped back on the next rerun (a preset picked, the
    # dataset changed) would fold the form away under the person filling it.
    expanded=not store.list_jobs() or st.session_state.get("train_form_open", False),
    icon=":material/add_circle:",
):
    picked = dataset_and_split()
    if picked is not None:
        new_job_form(*picked)
with st.expander(
    "Task-adaptive pretraining (TAPT)",
    expanded=st.session_state.get("tapt_form_open", False),
    icon=":material/school:",
):
    st.caption(
        "Masked-LM training of a backbone on a dataset's train and test sentences (labels unused), with the input "
        "format's entity markers added, before fine-tuning. The result is a workspace backbone in the model list."
    )
    tapt_form()

with st.expander("Hyperparameter sweeps", expanded=st.session_state.get("sweep_open", False), icon=":material/tune:"):
    st.caption(
        "An Optuna study over training options: every trial is a training job (in the jobs table, with its curves), "
        "stopped early when its dev micro-F1 falls behind earlier trials. The study is kept in the workspace, so a "
        "sweep outlives the app and can be resumed."
    )
    sweep_dataset = common.selected_dataset(ws)
    sweep_splits = ws.splits(sweep_dataset.id) if sweep_dataset is not None else []
    if sweep_dataset is not None and sweep_splits:
        sweep_split = "default" if "default" in sweep_splits else sweep_splits[0]
        train_sweeps.sweep_form(root, store.list_jobs(), sweep_dataset.name, sweep_split, placement)
    elif sweep_dataset is not None:
        st.warning(f"{display.plain(sweep_dataset.name)} has no dev split yet: make one on the Data page.")
    st.markdown("#### Sweeps")
    st.fragment(run_every=2.0 if train_sweeps.any_running(root) else None)(train_sweeps.sweeps_panel)(
        root, sweep_dataset.name if sweep_dataset is not None else None
    )

active = any(j.status in ("queued", "running") for j in store.list_jobs())


# Refresh by itself while something runs (AppTest cannot run timers; the browser test checks this).
st.fragment(run_every=2.0 if active else None)(jobs_and_backbones)(store)
