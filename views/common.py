"""Streamlit-side plumbing the pages share: the cached workspace, cached frames, audit and
Overview figures, and the flash message shown after an action. No business logic here."""

from __future__ import annotations

import gc
import hashlib
import pickle
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st
from streamlit import runtime

from core.common.config import ConfigError, ServerConfig, load_server_config
from core.common.errors import RestudioError
from core.common.settings import resolve_home
from core.data import audit as audit_core
from core.serve.auth import Access, AuthConfig, AuthConfigError, decide_access, load_auth, secrets_paths
from core.store.workspace import DatasetInfo, Workspace

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from core.analysis.datamap import DataMap
    from core.analysis.label_issues import OofInfo

ROOT = Path(__file__).resolve().parent.parent


def workspace_root() -> str:
    # The app's default is the checkout's own workspace, wherever Streamlit was started from.
    return str(resolve_home(default=ROOT / "workspace"))


@st.cache_resource(show_spinner=False)
def workspace_at(root: str) -> Workspace:
    return Workspace(root)


def workspace() -> Workspace:
    return workspace_at(workspace_root())


def selected_dataset(ws: Workspace) -> DatasetInfo | None:
    """The dataset chosen in the shared sidebar (the newest one if none is chosen); None in an empty workspace."""
    datasets = ws.datasets()
    chosen = st.session_state.get("dataset")
    return next((d for d in datasets if d.name == chosen), datasets[-1] if datasets else None)


# Keyed by revision: any saved correction changes the revision, so every session sees it at once.
@st.cache_resource(max_entries=16, show_spinner=False)
def _shared_frame(root: str, dataset_id: int, part: str, revision: int, include_dropped: bool) -> pd.DataFrame:
    return workspace_at(root).current_frame(dataset_id, part, include_dropped=include_dropped)


def _freeze_startup_heap() -> None:
    """Once per process, move every object alive now (modules, classes, functions, caches) into the
    garbage collector's permanent generation, so later collections skip them.

    Streamlit runs a full ``gc.collect()`` after every script run (``runner.postScriptGC``), holding the
    GIL while the server thread still has the run's last messages to send. Measured need: with the
    Data view's imports (pandas, pyarrow, plotly, scikit-learn, scipy) the server tracks about 190k
    objects and each of those collections took 0.2-0.6 s on a busy 2-core machine, after every run of
    every session; once frozen, it takes under a millisecond. Frozen objects are still freed by
    reference counting; only a reference cycle among them would never be reclaimed.
    """
    global _heap_frozen
    # Only in a Streamlit server (or AppTest): a plain caller, such as a unit test, keeps its own heap.
    if not _heap_frozen and runtime.exists():
        _heap_frozen = True
        gc.freeze()


_heap_frozen = False


def current_frame(root: str, dataset_id: int, part: str, revision: int, include_dropped: bool = False) -> pd.DataFrame:
    """The part's current frame at ``revision``, built once per server process and shared by every session.

    A shallow copy of one cached frame: pandas' copy-on-write copies a column the moment a caller
    changes it, so the shared frame never changes. Measured need: ``st.cache_data`` pickled and
    unpickled the 32k-row train frame (8 MB) on every run of every session, 30-50 ms per run for the
    two parts, where this costs microseconds.
    """
    frame = _shared_frame(root, dataset_id, part, revision, include_dropped).copy(deep=False)
    # The Data view calls this first after its imports: the process's long-lived objects exist now.
    _freeze_startup_heap()
    return frame


@st.cache_resource(max_entries=16, show_spinner=False)
def _shared_versions(root: str, dataset_id: int, part: str, revision: int) -> Mapping[str, int]:
    frame = _shared_frame(root, dataset_id, part, revision, False)
    return MappingProxyType(dict(zip(frame["id"].astype(str), frame["_version"].astype(int).tolist(), strict=True)))


def row_versions(root: str, dataset_id: int, part: str, revision: int) -> Mapping[str, int]:
    """Row id to version of the part's current rows at ``revision`` (what edits state they saw), read-only.

    Built once per server process and revision. Measured need: the Data view built this dict from the
    32k-row train frame on every run of every session, 50 ms idle and 0.2 s on a busy 2-core machine.
    """
    return _shared_versions(root, dataset_id, part, revision)


#: The minority-type threshold's session key (the Data view's sidebar slider) and its default, the audit's.
MINORITY_THRESHOLD_KEY = "minority_threshold"
MINORITY_THRESHOLD = 0.05


def minority_threshold() -> float:
    """The minority-type threshold this session set in the Data view's sidebar (the default until then),
    so every view that shows flagged rows flags the same ones as the Data view."""
    return float(st.session_state.get(MINORITY_THRESHOLD_KEY, MINORITY_THRESHOLD))


@st.cache_data(max_entries=8, show_spinner="Auditing…")
def audit_report(root: str, dataset_id: int, revision: int, threshold: float) -> audit_core.AuditReport:
    # st.cache_data (a pickled copy per run) kept here: the report is small (3-13 ms to unpickle at 32k
    # rows) and holds lists a view could change in place.
    info = workspace_at(root).dataset(dataset_id)
    train = current_frame(root, dataset_id, "train", revision)
    test = current_frame(root, dataset_id, "test", revision) if "test" in info.parts else None
    return audit_core.audit(train, test, schema=info.schema, minority_threshold=threshold)


def _frame_digest(frame: pd.DataFrame) -> bytes:
    """A cache key for a small frame: the digest of its pickle, whose bytes hold every value, dtype and label.

    Measured need: Streamlit's own DataFrame hashing took 7.6 ms per 30-row distribution table (about
    0.2 s of a new session's 1 s server run on a busy machine for the Overview's seven tables); this
    takes 0.2 ms. Equal frames unpickled from ``st.cache_data`` give equal bytes, so sessions share hits.
    """
    return hashlib.sha1(pickle.dumps(frame, protocol=5)).digest()


# The Overview's charts depend on the distribution tables alone, which change with the revision only.
@st.cache_resource(max_entries=64, show_spinner=False, hash_funcs={pd.DataFrame: _frame_digest})
def distribution_figure(dist: pd.DataFrame, title: str, *, share: bool = True, horizontal: bool = False) -> go.Figure:
    """:func:`core.serve.display.distribution_figure`, built once per server process for each table and title.

    The figure is shared by every session: draw it, do not change it (``st.plotly_chart`` only reads
    it). Measured need: building the Overview's seven plotly figures was the largest part of a new
    session's run on a 32k-row dataset, 0.1-0.3 s of about 0.7 s idle and 1.1 s of 2.9 s on a busy
    2-core machine (plotly validates every property it sets).
    """
    from core.serve import display  # plotly: imported by the pages that draw

    return display.distribution_figure(dist, title, share=share, horizontal=horizontal)


@st.cache_resource(max_entries=16, show_spinner=False, hash_funcs={pd.DataFrame: _frame_digest})
def heatmap_figure(label_type_pair: pd.DataFrame, *, split: str = "train", title: str = "") -> go.Figure:
    """:func:`core.serve.display.heatmap_figure`, built once per server process (see :func:`distribution_figure`)."""
    from core.serve import display

    return display.heatmap_figure(label_type_pair, split=split, title=title)


@st.cache_data(max_entries=8, show_spinner="Finding label issues…")
def label_issues(
    root: str, dataset_id: int, revision: int, oof_path: str, threshold: float
) -> tuple[pd.DataFrame, pd.DataFrame, OofInfo]:
    """(confident-learning issues, no_relation view, oof info) for the current rows, cached by revision:
    :func:`core.analysis.label_issues.dataset_label_issues` on the file ``oof_path``."""
    from core.analysis import label_issues

    frame = current_frame(root, dataset_id, "train", revision)
    found = label_issues.dataset_label_issues(
        workspace_at(root), dataset_id, view="both", path=oof_path, frame=frame, revision=revision, threshold=threshold
    )
    assert found is not None  # a path is given, so there is a file to read
    (issues, nr_view), info = found
    return issues, nr_view, info


@st.cache_data(max_entries=8, show_spinner="Reading the data map…")
def data_map(
    root: str, dataset_id: int, revision: int, run_dir: str, stamp: float, through: int | str = "best"
) -> DataMap:
    """A run's data map joined to the dataset's current rows (:func:`core.analysis.datamap.run_data_map`, over the
    evaluations ``through`` says), cached by the dataset's revision and ``stamp``, the dynamics file's mtime (a
    running job rewrites it)."""
    from core.analysis import datamap

    return datamap.run_data_map(run_dir, root=workspace_at(root), through=through)


def flash(kind: str, message: str) -> None:
    """Queue a message for the next run (actions run in callbacks, before the page redraws)."""
    st.session_state["_flash"] = (kind, message)


#: What a core action raises when it cannot do what was asked: a ``RestudioError`` (bad data, config, a refused
#: job, an edit conflict, ...), or a ``ValueError`` / ``OSError`` from a library (a file that cannot be read).
USER_ERRORS: tuple[type[Exception], ...] = (RestudioError, ValueError, OSError)


class user_errors:  # lower case: used as a statement, like contextlib.suppress
    """Run a core action and show its refusal as a message, never a traceback: the one place views catch errors.

    ::

        with common.user_errors("Not undone: ") as failed:
            new_id = ws.undo(dataset_id, change_id, author=who)
        if failed:
            return

    The message is the error's own (it names the file, row, field or option), after ``prefix``, shown as text
    (it may quote user data: never markdown). ``show`` says where: ``"flash"`` (the default, for callbacks: on
    the next run), ``"inline"`` (``st.error`` here and now, or in ``where``, a container), or ``"none"`` (the
    caller shows ``failed.message`` itself). Any other exception is a bug and propagates.
    """

    def __init__(self, prefix: str = "", *, show: str = "flash", where: Any = None) -> None:
        self.prefix, self.show, self.where = prefix, show, where
        self.error: Exception | None = None

    def __enter__(self) -> user_errors:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> bool:
        if error is None or not isinstance(error, USER_ERRORS):
            return False
        self.error = error
        if self.show == "flash":
            flash("error", self.message)
        elif self.show == "inline":
            (self.where or st).error(self.message, icon=":material/error:")
        return True

    def __bool__(self) -> bool:
        return self.error is not None

    @property
    def message(self) -> str:
        from core.serve.display import plain

        return f"{self.prefix}{plain(self.error)}" if self.error is not None else ""


def show_flash() -> None:
    kind, message = st.session_state.pop("_flash", (None, None))
    if kind == "success":
        st.success(message, icon=":material/check_circle:")
    elif kind == "error":
        st.error(message, icon=":material/error:")
    elif kind == "info":
        st.info(message)


# -- who is using the app -----------------------------------------------------------------------


def server_config() -> ServerConfig:
    """Read on every run, so an edit to the file takes effect at once. ``app.py`` has already shown
    an error page instead of the app when the file is broken, so this does not raise there."""
    return load_server_config()


def auth_config() -> AuthConfig:
    """The sign-in gate, read from the secrets files on every call: Streamlit caches ``st.secrets``,
    and a file broken while the app runs must close the gate (see ``core.serve.auth``)."""
    return load_auth(secrets_paths(st.get_option("secrets.files")))


def access() -> Access:
    """This session's identity and role (``core.serve.auth.decide_access``). A configuration that broke
    after ``app.py`` checked it gives no identity and no editing: fail closed, not open."""
    try:
        mode = auth_config().mode
        config = server_config()
    except (AuthConfigError, ConfigError):
        return Access(identity="", signed_in=False, can_edit=False, self_declared=False, why_read_only="broken config")
    # st.user is only trusted when an OIDC provider is configured: otherwise nothing signed it.
    user = st.user.to_dict() if mode == "oidc" else None
    return decide_access(mode, user, str(st.session_state.get("author") or ""), config)


def signed_in() -> bool:
    """Whether an OIDC provider identified this session (``st.login``)."""
    return access().signed_in


def identity() -> str:
    """Who acts in this session, for the audit log and the job table: the signed-in account's email
    (or name) with OIDC, else the name typed in the sidebar (self-declared); "" when neither."""
    return access().identity


def can_edit() -> bool:
    """Editors change data, import, launch and cancel jobs; everyone else views read-only.
    With OIDC: only the configured editors. Without: everyone, unless the server is read-only."""
    return access().can_edit


def require_editor(action: str) -> bool:
    """True for an editor; otherwise show why ``action`` is refused and return False."""
    if can_edit():
        return True
    st.warning(f"{action} is for editors; this session is read-only.", icon=":material/lock:")
    return False
