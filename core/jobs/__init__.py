"""Background jobs: a store in the workspace database, a local process backend and a Ray backend.

A job is one command (usually ``python -m core train CONFIG --run-dir RUN_DIR``) with a run folder
``WORKSPACE/runs/<id>-<slug>/``. Its life::

    queued -> running -> succeeded | failed | cancelled | lost

``lost`` means the process that ran the job disappeared without recording a result (SIGKILL, out of
memory, a reboot) or the Ray cluster forgot the job.

Local backend (POSIX only)
--------------------------
Each job runs as ``python -m core.jobs _wrap --db DB --job ID -- CMD...`` in its own session and process
group (``start_new_session``), so closing or restarting the app never takes jobs with it and a cancel can
signal the whole group. The wrapper starts CMD in the same group and, when CMD ends, records the final
status itself: first ``RUN_DIR/job_exit.json``, then the database row. Because the process that owns the
job records its result, nothing has to hold a handle on the job: any process (the app after a restart,
the CLI, the :class:`Watcher` thread) can *reconcile* by reading the database and checking the wrapper's
pid together with its start time (psutil ``create_time``, so a reused pid is never mistaken for the
job). A wrapper that is gone without a recorded result was killed: the job is marked ``lost`` with the
tail of its log, and any process it left behind in its group is killed so the slot is really free.

Scheduling: one job per GPU (``CUDA_VISIBLE_DEVICES`` set to the picked GPU) and ``max_cpu_jobs`` jobs
without a GPU (``CUDA_VISIBLE_DEVICES=""``); the rest wait in the queue. Jobs are claimed inside a
``BEGIN IMMEDIATE`` transaction, so two processes reconciling the same workspace never start a job twice.
Only jobs of this workspace count: GPUs used by other programs are not detected.

Cancel sends SIGTERM to the wrapper, which passes it to the command's main process (the trainer stops
at the next step and saves), then SIGKILL to the whole process group once the grace period (default
20 s) is over. SIGTERM goes to the main process only, not the group, because helper processes (PyTorch
DataLoader workers) killed under the trainer make it crash instead of saving. ``cancel(wait=False)``
returns at once and leaves the escalation to the next :meth:`LocalBackend.reconcile` (the
:class:`Watcher` runs one every 2 s). Every job gets ``RESTUDIO_CANCEL_BUDGET_S`` (:func:`cancel_budget_s`:
the grace less a margin for the exit): a cancelled trainer predicts only within it and lists the prediction
files left over in its summary, so it is never killed for predicting; :func:`submit_predictions` queues a
``predict`` job (``python -m core predict RUN_DIR``) that makes them. :attr:`Job.cancelling` (status
``cancelling`` in :attr:`Job.display_status`) covers the time between a cancel and the job's end.

Ray backend
-----------
Submits the same command through the Ray Jobs API (``JobSubmissionClient(address)``, the dashboard
address, e.g. ``http://127.0.0.1:8265``). Only the clusters the server's operator lists in
``restudio.toml`` (``[ray.clusters]``, :mod:`core.common.config`) are ever contacted: :class:`RayBackend` refuses
any other address before it uploads or polls anything, so no caller (the form, the CLI, a stored job)
can make this server send the repository to, or relay requests to, a host of its choosing. The
repository is shipped as the job's ``working_dir`` without what must stay on the server
(:func:`ray_excludes`: secrets, the server config, workspaces, environments, ``.git``, data and model
files), but the Python environment is not: the cluster nodes
must have the same environment at the same path as ``sys.executable`` here (true for a local
``ray start --head`` from this venv; pass ``python=`` for another interpreter path). The job writes its
run folder at the absolute ``RUN_DIR`` path, which works on a local cluster; a remote cluster needs the
workspace on a filesystem shared with the nodes (same path), or the curves and checkpoints stay there.
Ray's own stop does SIGTERM then SIGKILL after ``RAY_JOB_STOP_WAIT_TIME_S``, which we set to the grace;
unlike the local backend it sends SIGTERM to the command's child processes too.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import math
import os
import re
import secrets
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import psutil

from core.common.atomic import atomic_write_text
from core.common.config import ServerConfig, load_server_config
from core.store import database
from core.store.runs import log_tail, pending_predictions, read_metric_records

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
LOST = "lost"
STATUSES: tuple[str, ...] = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, LOST)
FINAL: frozenset[str] = frozenset({SUCCEEDED, FAILED, CANCELLED, LOST})
#: Allowed status changes. A queued job can fail (its GPU does not exist, its process cannot start),
#: be cancelled, or be lost (a Ray cluster that forgot it) without ever running.
TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset({RUNNING, FAILED, CANCELLED, LOST}),
    RUNNING: frozenset({SUCCEEDED, FAILED, CANCELLED, LOST}),
    **{s: frozenset() for s in FINAL},
}
BACKENDS: tuple[str, ...] = ("local", "ray")

#: Written into the run folder by :func:`submit_training`; ``core.train.training`` writes the resolved
#: ``config.json`` next to it.
JOB_CONFIG_FILE = "job_config.json"
JOB_LOG_FILE = "job.log"
EXIT_FILE = "job_exit.json"
#: Occurrences in a command are replaced with the job's run folder when the job is created.
RUN_DIR_TOKEN = "{run_dir}"
DEFAULT_GRACE_S = 20.0
#: Passed to every job: seconds a cancelled training run may spend, from SIGTERM, on stopping, saving and
#: predicting (core.train.training reads it; what does not fit is left for a ``predict`` job).
CANCEL_BUDGET_ENV = "RESTUDIO_CANCEL_BUDGET_S"
#: Kept between the end of that budget and SIGKILL: the run's last summary write and the interpreter's
#: exit (freeing torch), and the wrapper's record, on a machine that may be busy.
CANCEL_MARGIN_S = 5.0
#: A running local job whose pid was never recorded (the process that claimed it died while
#: starting it) is marked lost after this long.
START_TIMEOUT_S = 60.0
#: A Ray job that the cluster does not know is only marked lost once it is this old, so a
#: submission still in flight in another process is not mistaken for a lost job.
RAY_SUBMIT_GRACE_S = 60.0
LOG_TAIL_LINES = 30
#: psutil's create_time is derived from boot time and clock ticks; allow for rounding.
_CTIME_TOLERANCE_S = 1.0

_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    backend TEXT NOT NULL,
    status TEXT NOT NULL,
    config_json TEXT,
    command_json TEXT NOT NULL,
    run_dir TEXT NOT NULL,
    gpu_request TEXT,
    gpu TEXT,
    pid INTEGER,
    pgid INTEGER,
    proc_start_time REAL,
    ray_address TEXT,
    ray_job_id TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    exit_code INTEGER,
    error TEXT,
    group_id TEXT,
    parent_id INTEGER REFERENCES jobs(id),
    cancel_requested_at TEXT,
    owner TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
CREATE INDEX IF NOT EXISTS jobs_group ON jobs (group_id);
"""
#: Columns added after the first release, with their declarations: a database made before them gets
#: them on first open (``ALTER TABLE``; old rows read NULL).
_ADDED_COLUMNS: dict[str, str] = {"owner": "TEXT"}
#: Set for every job of a server whose ``restudio.toml`` turns hub downloads off (``core.train.training``
#: reads it, as ``HUB_DOWNLOAD_ENV``): a Ray job does not see the server's file, so the refusal travels
#: with the job. It can only forbid downloads, never allow them.
HUB_DOWNLOAD_ENV = "RESTUDIO_HUB_DOWNLOAD"


class JobError(Exception):
    """A job request that cannot be honoured (unknown job, bad option); the message says why."""


class TransitionError(JobError):
    """A status change the job's state machine does not allow."""


class QueueFull(JobError):
    """A submission over the server's cap of queued and running jobs (per person or in total)."""


@dataclass(frozen=True)
class Job:
    """One row of the ``jobs`` table.

    ``gpu_request`` is what was asked for: ``None`` any free GPU (CPU when the machine has none),
    ``""`` the CPU, ``"N"`` GPU N. ``gpu`` is what the job got when it started (``""`` for CPU).
    Times are ISO 8601 UTC strings; ``proc_start_time`` is the wrapper's psutil ``create_time``.
    ``owner`` is who launched it (the app's signed-in or named person, the CLI's ``$RESTUDIO_AUTHOR``
    or OS user); None for jobs made before the column existed.
    """

    id: int
    name: str
    kind: str
    backend: str
    status: str
    config: dict[str, Any] | None
    command: list[str]
    run_dir: str
    gpu_request: str | None
    gpu: str | None
    pid: int | None
    pgid: int | None
    proc_start_time: float | None
    ray_address: str | None
    ray_job_id: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    exit_code: int | None
    error: str | None
    group_id: str | None
    parent_id: int | None
    cancel_requested_at: str | None
    owner: str | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    @property
    def run_path(self) -> Path:
        return Path(self.run_dir)

    @property
    def log_path(self) -> Path:
        return Path(self.run_dir) / JOB_LOG_FILE

    @property
    def cancelling(self) -> bool:
        """A cancel was asked for and the job has not ended yet (show "cancelling", not "running")."""
        return self.cancel_requested_at is not None and not self.is_final

    @property
    def display_status(self) -> str:
        """``status``, except ``cancelling`` for a job between its cancel request and its end."""
        return "cancelling" if self.cancelling else self.status


#: Job attributes :meth:`JobStore.update` may change, and their column names.
_UPDATABLE: dict[str, str] = {
    "name": "name",
    "status": "status",
    "config": "config_json",
    "command": "command_json",
    "gpu": "gpu",
    "pid": "pid",
    "pgid": "pgid",
    "proc_start_time": "proc_start_time",
    "ray_address": "ray_address",
    "ray_job_id": "ray_job_id",
    "started_at": "started_at",
    "finished_at": "finished_at",
    "exit_code": "exit_code",
    "error": "error",
    "group_id": "group_id",
    "cancel_requested_at": "cancel_requested_at",
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _epoch(iso: str | None) -> float | None:
    return None if iso is None else datetime.fromisoformat(iso).timestamp()


def _iso_from_epoch(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def _row_to_job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        backend=row["backend"],
        status=row["status"],
        config=None if row["config_json"] is None else json.loads(row["config_json"]),
        command=json.loads(row["command_json"]),
        run_dir=row["run_dir"],
        gpu_request=row["gpu_request"],
        gpu=row["gpu"],
        pid=row["pid"],
        pgid=row["pgid"],
        proc_start_time=row["proc_start_time"],
        ray_address=row["ray_address"],
        ray_job_id=row["ray_job_id"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        exit_code=row["exit_code"],
        error=row["error"],
        group_id=row["group_id"],
        parent_id=row["parent_id"],
        cancel_requested_at=row["cancel_requested_at"],
        owner=row["owner"],
    )


def _slug(name: str) -> str:
    """A folder-safe form of a job name (letters of any script kept)."""
    slug = re.sub(r"[^\w.-]+", "-", name.strip()).strip("-.")
    return slug[:40].rstrip("-.") or "job"


def default_owner() -> str:
    """Who launches a job from outside the app (the CLI, a script): ``$RESTUDIO_AUTHOR``, else the OS user."""
    name = os.environ.get("RESTUDIO_AUTHOR", "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return ""


def normalize_gpu(gpu: str | int | None) -> str | None:
    """``None``/``"auto"`` -> None (any free GPU), ``""``/``"cpu"`` -> "" (CPU), ``0``/``"cuda:0"`` -> "0"."""
    if gpu is None:
        return None
    text = str(gpu).strip().lower()
    if text == "auto":
        return None
    if text in ("", "cpu", "none"):
        return ""
    text = text.removeprefix("cuda:")
    if not text.isdigit():
        raise JobError(f"gpu must be 'auto', 'cpu' or a GPU index such as '0', got {gpu!r}")
    return str(int(text))


# -- the store ------------------------------------------------------------------------------------


class JobStore:
    """The ``jobs`` table of a workspace database.

    Opens a connection per operation (WAL, busy timeout), like :class:`core.store.workspace.Workspace`,
    so one store can be shared by Streamlit's script threads and the :class:`Watcher`.
    """

    def __init__(self, root: Any = None) -> None:
        if hasattr(root, "db_path") and hasattr(root, "root"):  # a Workspace
            ws = root
        else:
            # Imported here: the job wrapper uses JobStore.from_db and must not pay pandas' import.
            from core.store.workspace import Workspace

            ws = Workspace(root)
        self._init(Path(ws.root), Path(ws.db_path))

    @classmethod
    def from_db(cls, db_path: str | os.PathLike[str]) -> JobStore:
        """A store on an existing workspace database (the workspace is its folder)."""
        store = cls.__new__(cls)
        db = Path(db_path).resolve()
        store._init(db.parent, db)
        return store

    def _init(self, root: Path, db_path: Path) -> None:
        self.root = root
        self.db_path = db_path
        self.runs_dir = root / "runs"
        with self._connect() as con:
            con.executescript(_TABLE_SQL)
            missing = set(_ADDED_COLUMNS) - {row["name"] for row in con.execute("PRAGMA table_info(jobs)")}
        if missing:
            self._migrate()

    def _migrate(self) -> None:
        """Add the columns a database made by an older version lacks. Checked again under the write
        lock: another process opening the same database may have added them meanwhile."""
        with self._transaction() as con:
            have = {row["name"] for row in con.execute("PRAGMA table_info(jobs)")}
            for column, declaration in _ADDED_COLUMNS.items():
                if column not in have:
                    con.execute(f"ALTER TABLE jobs ADD COLUMN {column} {declaration}")

    def _connect(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return database.connect(self.db_path)

    def _transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return database.transaction(self.db_path)

    # -- reading ------------------------------------------------------------------------------
    def get_job(self, job_id: int) -> Job:
        with self._connect() as con:
            row = con.execute("SELECT * FROM jobs WHERE id = ?", (int(job_id),)).fetchone()
        if row is None:
            raise JobError(f"no job with id {job_id} in {self.db_path}")
        return _row_to_job(row)

    def list_jobs(
        self,
        *,
        status: str | Iterable[str] | None = None,
        backend: str | None = None,
        group_id: str | None = None,
    ) -> list[Job]:
        """Jobs in creation order, optionally only those with the given status(es), backend or group."""
        where, args = [], []
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            unknown = sorted(set(wanted) - set(STATUSES))
            if unknown:
                raise JobError(f"unknown job status {unknown}; known: {', '.join(STATUSES)}")
            where.append(f"status IN ({', '.join('?' * len(wanted))})")
            args.extend(wanted)
        if backend is not None:
            where.append("backend = ?")
            args.append(backend)
        if group_id is not None:
            where.append("group_id = ?")
            args.append(group_id)
        sql = "SELECT * FROM jobs" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
        with self._connect() as con:
            return [_row_to_job(r) for r in con.execute(sql, args).fetchall()]

    # -- writing ------------------------------------------------------------------------------
    def create(
        self,
        *,
        name: str,
        command: Sequence[str],
        kind: str = "command",
        backend: str = "local",
        config: Mapping[str, Any] | None = None,
        gpu: str | int | None = None,
        ray_address: str | None = None,
        group_id: str | None = None,
        parent_id: int | None = None,
        owner: str | None = None,
        caps: tuple[int, int] | None = None,
    ) -> Job:
        """Insert a queued job and make its run folder ``runs/<id>-<slug>/``.

        ``RUN_DIR_TOKEN`` in ``command`` is replaced with the run folder. ``config``, when given, is
        stored with the job and written to ``RUN_DIR/job_config.json``. The folder is made inside the
        transaction, so a job row never exists without its folder. ``owner`` is who launches it
        (default :func:`default_owner`). ``caps`` (per person, total) refuses the job with
        :class:`QueueFull` when that many jobs are already queued or running; counted inside the
        insert's transaction, so two submissions at once cannot both take the last place.
        """
        if not name or not name.strip():
            raise JobError("a job needs a non-empty name")
        if backend not in BACKENDS:
            raise JobError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
        if not command or not all(isinstance(part, str) for part in command):
            raise JobError(f"a job command must be a non-empty list of strings, got {command!r}")
        if backend == "ray" and not ray_address:
            raise JobError("a Ray job needs ray_address (the cluster's dashboard address, e.g. http://host:8265)")
        gpu_request = normalize_gpu(gpu)
        owner = default_owner() if owner is None else owner.strip()
        config_json = None if config is None else json.dumps(dict(config), ensure_ascii=False, indent=2)
        with self._transaction() as con:
            if caps is not None:
                _check_caps(con, owner, 1, caps)
            cur = con.execute(
                "INSERT INTO jobs (name, kind, backend, status, config_json, command_json, run_dir, gpu_request,"
                " ray_address, created_at, group_id, parent_id, owner)"
                " VALUES (?, ?, ?, ?, ?, '[]', '', ?, ?, ?, ?, ?, ?)",
                (
                    name.strip(),
                    kind,
                    backend,
                    QUEUED,
                    config_json,
                    gpu_request,
                    ray_address,
                    _now(),
                    group_id,
                    parent_id,
                    owner,
                ),
            )
            job_id = int(cur.lastrowid or 0)
            run_dir = (self.runs_dir / f"{job_id}-{_slug(name)}").resolve()
            n = 1
            while run_dir.exists():  # left over from a database that was deleted: never reuse it
                n += 1
                run_dir = (self.runs_dir / f"{job_id}-{_slug(name)}-{n}").resolve()
            resolved = [part.replace(RUN_DIR_TOKEN, str(run_dir)) for part in command]
            con.execute(
                "UPDATE jobs SET run_dir = ?, command_json = ? WHERE id = ?",
                (str(run_dir), json.dumps(resolved, ensure_ascii=False), job_id),
            )
            run_dir.mkdir(parents=True)
            if config_json is not None:
                atomic_write_text(run_dir / JOB_CONFIG_FILE, lambda fh: fh.write(config_json + "\n"))
        return self.get_job(job_id)

    def update(self, job_id: int, **fields: Any) -> Job:
        """Change fields of a job; a ``status`` change must follow :data:`TRANSITIONS`.

        Moving to ``running`` fills ``started_at`` and to a final status fills ``finished_at``
        unless given. Raises :class:`TransitionError` for a change the state machine forbids.
        """
        job = self._apply(job_id, fields, expect=None)
        assert job is not None  # strict mode raises instead of returning None
        return job

    def transition(self, job_id: int, status: str, *, expect: Iterable[str] | None = None, **fields: Any) -> Job | None:
        """Move a job to ``status`` only if it is currently in ``expect`` (default: any status that
        may move there); returns None instead of raising when it is not, e.g. when another process
        recorded the job's end first. Used where several parties race to finish a job."""
        allowed = (
            frozenset(expect) if expect is not None else frozenset(s for s, t in TRANSITIONS.items() if status in t)
        )
        return self._apply(job_id, {**fields, "status": status}, expect=allowed)

    def _apply(self, job_id: int, fields: Mapping[str, Any], *, expect: frozenset[str] | None) -> Job | None:
        unknown = sorted(set(fields) - set(_UPDATABLE))
        if unknown:
            raise JobError(f"cannot update job field(s) {unknown}; updatable: {', '.join(sorted(_UPDATABLE))}")
        values = dict(fields)
        with self._transaction() as con:
            row = con.execute("SELECT status FROM jobs WHERE id = ?", (int(job_id),)).fetchone()
            if row is None:
                raise JobError(f"no job with id {job_id} in {self.db_path}")
            current = row["status"]
            new = values.get("status")
            if new is not None:
                if new not in STATUSES:
                    raise JobError(f"unknown job status {new!r}; known: {', '.join(STATUSES)}")
                if expect is not None and current not in expect:
                    return None
                if new != current and new not in TRANSITIONS[current]:
                    raise TransitionError(f"job {job_id}: cannot go from {current} to {new}")
                if new == RUNNING and current != RUNNING:
                    values.setdefault("started_at", _now())
                if new in FINAL and current not in FINAL:
                    values.setdefault("finished_at", _now())
            if values:
                sets, args = [], []
                for key, value in values.items():
                    sets.append(f"{_UPDATABLE[key]} = ?")
                    if key in ("config", "command"):
                        value = None if value is None else json.dumps(value, ensure_ascii=False)
                    args.append(value)
                con.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", [*args, int(job_id)])
        return self.get_job(job_id)


def _as_store(store_or_root: Any) -> JobStore:
    return store_or_root if isinstance(store_or_root, JobStore) else JobStore(store_or_root)


# -- the queue caps -------------------------------------------------------------------------------


def _check_caps(con: sqlite3.Connection, owner: str, n: int, caps: tuple[int, int]) -> None:
    """Raise :class:`QueueFull` unless ``n`` more jobs of ``owner`` fit under ``caps`` (per person,
    total), counting the queued and running jobs in the table. Owners compare case-insensitively
    (an email typed two ways is one person); jobs without a recorded owner count in the total only."""
    per_user, total = caps
    active = (QUEUED, RUNNING)
    in_all = int(con.execute("SELECT COUNT(*) FROM jobs WHERE status IN (?, ?)", active).fetchone()[0])
    if in_all + n > total:
        asked = "a job" if n == 1 else f"{n} jobs"
        raise QueueFull(
            f"The server's job queue is full: {in_all} job(s) are queued or running and the cap is {total} "
            f"(max_queued_total in restudio.toml), so {asked} cannot be added. Wait for jobs to end, or cancel some."
        )
    mine = int(
        con.execute(
            "SELECT COUNT(*) FROM jobs WHERE status IN (?, ?) AND lower(owner) = lower(?)", (*active, owner)
        ).fetchone()[0]
    )
    if mine + n > per_user:
        who = owner or "sessions without a name"
        asked = "another job" if n == 1 else f"{n} more jobs"
        raise QueueFull(
            f"The job queue is full for {who}: {mine} job(s) queued or running and the cap is {per_user} per "
            f"person (max_queued_per_user in restudio.toml), so {asked} cannot be added. Wait for one to end, "
            "or cancel one."
        )


def _caps(server_config: ServerConfig | None) -> tuple[int, int]:
    config = load_server_config() if server_config is None else server_config
    return config.max_queued_per_user, config.max_queued_total


def check_queue_room(
    store_or_root: Any, n: int = 1, *, owner: str | None = None, server_config: ServerConfig | None = None
) -> None:
    """Raise :class:`QueueFull` unless ``n`` more jobs of ``owner`` fit under the server's caps.

    For a submission of several jobs at once (a cross-validation group): checked before the first, so
    a group is not left half queued. Each job is still checked on its own as it is created.
    """
    store = _as_store(store_or_root)
    owner = default_owner() if owner is None else owner.strip()
    with store._connect() as con:
        _check_caps(con, owner, n, _caps(server_config))


# -- helpers shared by the backends ---------------------------------------------------------------


def cancel_budget_s(grace_s: float) -> float:
    """The cancel budget a job gets for a grace period: the grace less :data:`CANCEL_MARGIN_S`, at most
    three quarters of it, never below 0; lowered further by ``$RESTUDIO_CANCEL_BUDGET_S`` when the process
    that starts jobs has it set (never raised by it: a budget past the grace ends in SIGKILL)."""
    budget = max(0.0, min(grace_s - CANCEL_MARGIN_S, 0.75 * grace_s))
    own = os.environ.get(CANCEL_BUDGET_ENV, "").strip()
    if own:
        try:
            budget = min(budget, max(0.0, float(own)))
        except ValueError:
            log.warning("ignoring %s=%r: not a number of seconds", CANCEL_BUDGET_ENV, own)
    return budget


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _with_log_tail(message: str, job: Job) -> str:
    tail = log_tail(job.log_path, lines=LOG_TAIL_LINES)
    return f"{message}\n--- last lines of {JOB_LOG_FILE} ---\n{tail}" if tail else message


# -- GPUs -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gpu:
    index: str
    name: str = ""
    uuid: str = ""
    memory_total_mb: float | None = None
    memory_used_mb: float | None = None


def _nvidia_smi(*args: str) -> list[list[str]] | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", *args, "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=15,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return [[cell.strip() for cell in line.split(",")] for line in out.splitlines() if line.strip()]


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def list_gpus() -> list[Gpu]:
    """The GPUs jobs may use: ``nvidia-smi``, else ``torch.cuda`` when torch is installed.

    A ``CUDA_VISIBLE_DEVICES`` set for the app itself narrows the list (by index or UUID);
    set to ``""`` it hides every GPU, which makes all jobs run on the CPU.
    """
    rows = _nvidia_smi("--query-gpu=index,name,uuid,memory.total,memory.used")
    if rows is not None:
        gpus = [Gpu(r[0], r[1], r[2], _float_or_none(r[3]), _float_or_none(r[4])) for r in rows if len(r) >= 5]
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            keep = [v.strip() for v in visible.split(",") if v.strip()]
            gpus = [g for g in gpus if g.index in keep or g.uuid in keep]
        return gpus
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return []
    import torch

    if not torch.cuda.is_available():
        return []
    # torch numbers the GPUs it can see (after the app's own CUDA_VISIBLE_DEVICES); good enough
    # where nvidia-smi is missing, which in practice means a single-GPU container.
    return [Gpu(str(i), torch.cuda.get_device_name(i)) for i in range(torch.cuda.device_count())]


def _gpu_memory_by_pid() -> dict[int, float] | None:
    rows = _nvidia_smi("--query-compute-apps=pid,used_memory")
    if rows is None:
        return None
    out: dict[int, float] = {}
    for r in rows:
        if len(r) >= 2 and r[0].isdigit() and (mb := _float_or_none(r[1])) is not None:
            out[int(r[0])] = out.get(int(r[0]), 0.0) + mb
    return out


# -- processes ------------------------------------------------------------------------------------

#: Wrappers this process started, kept so they are reaped (a finished child stays a zombie until
#: its parent waits for it) and so a lost job can report how its wrapper ended.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
_RETURN_CODES: dict[int, int] = {}
_CHILDREN_LOCK = threading.Lock()


def _reap() -> None:
    with _CHILDREN_LOCK:
        for pid, proc in list(_CHILDREN.items()):
            code = proc.poll()
            if code is not None:
                _RETURN_CODES[pid] = code
                del _CHILDREN[pid]


def _alive(pid: int | None, start_time: float | None) -> psutil.Process | None:
    """The process with this pid if it is the one that started at ``start_time`` and not a zombie."""
    if pid is None or start_time is None:
        return None
    _reap()
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - start_time) > _CTIME_TOLERANCE_S:
            return None  # the pid was reused by another process
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.Error:
        return None
    return proc


def _group_members(pgid: int | None, start_time: float | None) -> list[psutil.Process]:
    """Live processes of the job whose wrapper (the group leader) has pid ``pgid`` and started at
    ``start_time``, the wrapper included while it lives.

    Safe against pid reuse: Linux never hands out a pid that is still some group's id, so if a
    *different* process now holds the pid ``pgid``, the job's group is empty and that group is
    someone else's. Otherwise only processes no older than the job are taken.
    """
    if pgid is None or start_time is None:
        return []
    _reap()
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []  # fast path: the group is empty
    except PermissionError:
        pass
    try:
        if abs(psutil.Process(pgid).create_time() - start_time) > _CTIME_TOLERANCE_S:
            return []  # the pid was reused: not our group
    except psutil.NoSuchProcess:
        pass  # the wrapper is gone; its group may still have members
    except psutil.Error:
        return []
    members = []
    for proc in psutil.process_iter(["create_time", "status"]):
        try:
            if os.getpgid(proc.pid) != pgid:
                continue
        except OSError:
            continue
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if proc.info["create_time"] + _CTIME_TOLERANCE_S < start_time:
            continue
        members.append(proc)
    return members


def _kill_members(members: Sequence[psutil.Process], sig: signal.Signals) -> None:
    for proc in members:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)


# -- the backend interface -------------------------------------------------------------------------


@runtime_checkable
class Backend(Protocol):
    """Where jobs run. ``reconcile`` brings the store in line with reality (starts queued jobs,
    records finished, killed and forgotten ones) and returns the jobs whose status it changed."""

    name: str

    def submit(self, job: Job) -> Job: ...

    def status(self, job: Job) -> str: ...

    def cancel(self, job: Job, *, grace_s: float | None = None, wait: bool = True) -> Job: ...

    def logs(self, job: Job, tail_lines: int = 200) -> str: ...

    def reconcile(self) -> list[Job]: ...


# -- local backend ----------------------------------------------------------------------------------

_RECONCILE_LOCKS: dict[Path, threading.Lock] = {}
_RECONCILE_LOCKS_GUARD = threading.Lock()


def _reconcile_lock(db_path: Path) -> threading.Lock:
    with _RECONCILE_LOCKS_GUARD:
        return _RECONCILE_LOCKS.setdefault(db_path, threading.Lock())


class LocalBackend:
    """Runs jobs as process groups on this machine (see the module docstring).

    Parameters
    ----------
    root
        A workspace folder, a ``Workspace`` or a :class:`JobStore`.
    max_cpu_jobs
        How many jobs may run at once without a GPU (0 holds every CPU job in the queue);
        default ``$RESTUDIO_MAX_CPU_JOBS`` or 1.
    grace_s
        Seconds between SIGTERM and SIGKILL when cancelling.
    gpus
        The GPU indices jobs may use; None asks :func:`list_gpus` (once, on first need).
    python
        The interpreter that runs the job wrapper.
    """

    name = "local"

    def __init__(
        self,
        root: Any = None,
        *,
        max_cpu_jobs: int | None = None,
        grace_s: float = DEFAULT_GRACE_S,
        gpus: Sequence[str] | None = None,
        python: str = sys.executable,
    ) -> None:
        if max_cpu_jobs is None:
            # One setting for every backend object of the process (the app's, its Watcher's, the CLI's).
            env = os.environ.get("RESTUDIO_MAX_CPU_JOBS", "1")
            if not env.strip().isdigit():
                raise JobError(f"RESTUDIO_MAX_CPU_JOBS must be a whole number >= 0, got {env!r}")
            max_cpu_jobs = int(env)
        if max_cpu_jobs < 0:
            raise JobError(f"max_cpu_jobs must be >= 0, got {max_cpu_jobs}")
        if grace_s < 0:
            raise JobError(f"grace_s must be >= 0, got {grace_s}")
        self.store = _as_store(root)
        self.max_cpu_jobs = max_cpu_jobs
        self.grace_s = grace_s
        self.python = python
        self._gpus: list[str] | None = None if gpus is None else [str(g) for g in gpus]
        self._lock = _reconcile_lock(self.store.db_path)

    def gpus(self) -> list[str]:
        if self._gpus is None:
            self._gpus = [g.index for g in list_gpus()]
        return list(self._gpus)

    # -- interface ------------------------------------------------------------------------------
    def submit(self, job: Job) -> Job:
        """Queue ``job`` (already in the store) and start it at once when a slot is free."""
        if job.backend != self.name:
            raise JobError(f"job {job.id} is a {job.backend} job, not a local one")
        self.check_gpu_request(job.gpu_request)
        self.reconcile()
        return self.store.get_job(job.id)

    def check_gpu_request(self, gpu_request: str | None) -> None:
        if gpu_request and gpu_request not in self.gpus():
            have = ", ".join(self.gpus()) or "none"
            raise JobError(f"GPU {gpu_request} was requested but this machine's GPUs are: {have}")

    def status(self, job: Job) -> str:
        with self._lock:
            current = self.store.get_job(job.id)
            if current.status == RUNNING:
                self._check_running(current)
        return self.store.get_job(job.id).status

    def logs(self, job: Job, tail_lines: int = 200) -> str:
        return log_tail(self.store.get_job(job.id).log_path, lines=tail_lines)

    def reconcile(self) -> list[Job]:
        """Record jobs that ended or vanished, escalate overdue cancels, then start queued jobs."""
        changed: list[Job] = []
        with self._lock:
            for job in self.store.list_jobs(status=RUNNING, backend=self.name):
                after = self._check_running(job)
                if after is not None:
                    changed.append(after)
            changed.extend(self._start_queued())
        return changed

    def cancel(self, job: Job, *, grace_s: float | None = None, wait: bool = True) -> Job:
        """Stop a job: a queued one is just marked cancelled; a running one gets SIGTERM (its main
        process) and SIGKILL (its whole process group) after ``grace_s`` (default: the backend's). With ``wait`` the
        call returns once the job has ended (at most the grace period plus a few seconds);
        without, it returns at once and :meth:`reconcile` does the SIGKILL when it is due."""
        grace = self.grace_s if grace_s is None else grace_s
        current = self.store.get_job(job.id)
        if current.status == QUEUED:
            done = self.store.transition(current.id, CANCELLED, expect={QUEUED}, error="cancelled before it started")
            if done is not None:
                return done
            current = self.store.get_job(job.id)  # it was started meanwhile
        if current.is_final:
            return current
        deadline_pid = time.monotonic() + 5.0
        while current.pid is None and current.status == RUNNING and time.monotonic() < deadline_pid:
            time.sleep(0.05)  # another thread or process is starting it right now
            current = self.store.get_job(job.id)
        if current.cancel_requested_at is None:
            current = self.store.update(current.id, cancel_requested_at=_now())
        wrapper = _alive(current.pid, current.proc_start_time)
        if wrapper is not None:
            # To the wrapper, which passes it to the command's main process only (see wrap_main).
            with contextlib.suppress(psutil.Error):
                wrapper.send_signal(signal.SIGTERM)
        if not wait:
            return self.store.get_job(job.id)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            current = self.store.get_job(job.id)
            if current.is_final and _alive(current.pid, current.proc_start_time) is None:
                return current
            if not _group_members(current.pgid, current.proc_start_time) and not current.is_final:
                break  # everything is gone but nothing was recorded: finish below
            time.sleep(0.1)
        current = self.store.get_job(job.id)
        if not current.is_final:
            self._kill_after_grace(current, grace)
        # else: the job's end is recorded and only its wrapper lives on, starting the next queued job:
        # killing it then would write "did not stop" into a log that ended cleanly, and could orphan that job.
        with self._lock:
            current = self.store.get_job(job.id)
            if current.status == RUNNING:
                self._check_running(current, grace)
        return self.store.get_job(job.id)

    # -- internals ------------------------------------------------------------------------------
    def _kill_after_grace(self, job: Job, grace: float) -> None:
        members = _group_members(job.pgid, job.proc_start_time)
        if not members:
            return
        log.warning("job %s did not stop within %.0f s of SIGTERM; sending SIGKILL", job.id, grace)
        with contextlib.suppress(OSError), job.log_path.open("a", encoding="utf-8") as fh:
            fh.write(f"[restudio] job did not stop within {grace:g} s of SIGTERM; sending SIGKILL\n")
        _kill_members(members, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while _group_members(job.pgid, job.proc_start_time) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _check_running(self, job: Job, grace_s: float | None = None) -> Job | None:
        """Look at one running job; returns the job if its status changed."""
        grace = self.grace_s if grace_s is None else grace_s
        if job.pid is None:
            started = _epoch(job.started_at) or 0.0
            if time.time() - started > START_TIMEOUT_S:
                return self.store.transition(
                    job.id, LOST, expect={RUNNING}, error="the process that started this job died before recording it"
                )
            return None
        if _alive(job.pid, job.proc_start_time) is not None:
            if job.cancel_requested_at is not None:
                overdue = time.time() - (_epoch(job.cancel_requested_at) or 0.0) > grace
                if overdue:
                    self._kill_after_grace(job, grace)
                    if _alive(job.pid, job.proc_start_time) is not None:
                        return None
                else:
                    return None
            else:
                return None
        # The wrapper is gone. It normally records the result itself just before exiting.
        job = self.store.get_job(job.id)
        if job.status != RUNNING:
            return None
        leftovers = _group_members(job.pgid, job.proc_start_time)
        if leftovers:
            # The wrapper was killed but the command lives on, unwatched and holding its GPU.
            log.warning("job %s: wrapper gone, killing %d orphaned process(es)", job.id, len(leftovers))
            _kill_members(leftovers, signal.SIGKILL)
        exit_record = _read_exit_file(job)
        if exit_record is not None:
            return self.store.transition(
                job.id,
                exit_record["status"],
                expect={RUNNING},
                exit_code=exit_record.get("exit_code"),
                error=exit_record.get("error"),
            )
        code = _RETURN_CODES.get(job.pid)
        if job.cancel_requested_at is not None:
            return self.store.transition(
                job.id,
                CANCELLED,
                expect={RUNNING},
                exit_code=code,
                error=f"cancelled: did not stop within {grace:g} s of SIGTERM and was killed",
            )
        how = f" ({_describe_exit(code)})" if code is not None else ""
        message = (
            f"the job's process (pid {job.pid}) ended without recording a result{how}: it was killed "
            "(SIGKILL, out of memory) or the machine restarted"
        )
        return self.store.transition(job.id, LOST, expect={RUNNING}, exit_code=code, error=_with_log_tail(message, job))

    def _start_queued(self) -> list[Job]:
        queued = self.store.list_jobs(status=QUEUED, backend=self.name)
        if not queued:
            return []
        gpus = self.gpus()
        claimed: list[int] = []
        failed: list[int] = []
        with self.store._transaction() as con:
            rows = con.execute("SELECT id, gpu FROM jobs WHERE status = ? AND backend = ?", (RUNNING, self.name))
            busy_gpus: set[str] = set()
            cpu_jobs = 0
            for row in rows.fetchall():
                if row["gpu"]:
                    busy_gpus.add(row["gpu"])
                else:
                    cpu_jobs += 1
            rows = con.execute(
                "SELECT id, gpu_request FROM jobs WHERE status = ? AND backend = ? ORDER BY id", (QUEUED, self.name)
            )
            for row in rows.fetchall():
                request = row["gpu_request"]
                device: str | None = None
                if request is None and gpus:  # any free GPU
                    device = next((g for g in gpus if g not in busy_gpus), None)
                elif request:  # that GPU
                    if request not in gpus:
                        have = ", ".join(gpus) or "none"
                        con.execute(
                            "UPDATE jobs SET status = ?, finished_at = ?, error = ? WHERE id = ?",
                            (
                                FAILED,
                                _now(),
                                f"GPU {request} was requested but this machine's GPUs are: {have}",
                                row["id"],
                            ),
                        )
                        failed.append(row["id"])
                        continue
                    device = request if request not in busy_gpus else None
                elif cpu_jobs < self.max_cpu_jobs:  # the CPU
                    device = ""
                    cpu_jobs += 1
                if device is None:
                    continue  # waits for a slot; later jobs with other needs may still start
                if device:
                    busy_gpus.add(device)
                con.execute(
                    "UPDATE jobs SET status = ?, gpu = ?, started_at = ? WHERE id = ? AND status = ?",
                    (RUNNING, device, _now(), row["id"], QUEUED),
                )
                claimed.append(row["id"])
        started = [self._spawn(self.store.get_job(job_id)) for job_id in claimed]
        return started + [self.store.get_job(job_id) for job_id in failed]

    def _spawn(self, job: Job) -> Job:
        run_dir = job.run_path
        env = dict(os.environ)
        env.update(
            CUDA_VISIBLE_DEVICES=job.gpu or "",
            PYTHONUNBUFFERED="1",
            RESTUDIO_JOB_ID=str(job.id),
            RESTUDIO_RUN_DIR=str(run_dir),
            RESTUDIO_HOME=str(self.store.root),
            **{CANCEL_BUDGET_ENV: f"{cancel_budget_s(self.grace_s):g}"},
            **_hub_env(),
        )
        argv = [self.python, "-m", "core.jobs", "_wrap", "--db", str(self.store.db_path), "--job", str(job.id)]
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            with job.log_path.open("ab") as log_file:
                proc = subprocess.Popen(
                    [*argv, "--", *job.command],
                    cwd=REPO_ROOT,  # so `-m core...` imports this checkout
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,  # own session and process group: survives the app, one killpg
                    close_fds=True,
                )
        except OSError as exc:
            return self.store.transition(
                job.id, FAILED, expect={RUNNING}, error=f"could not start the job process: {exc}"
            ) or self.store.get_job(job.id)
        with _CHILDREN_LOCK:
            _CHILDREN[proc.pid] = proc
        try:
            start_time = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            start_time = time.time()  # already gone and reaped by someone: reconcile will see it dead
        return self.store.update(job.id, pid=proc.pid, pgid=proc.pid, proc_start_time=start_time)


def _read_exit_file(job: Job) -> dict[str, Any] | None:
    path = job.run_path / EXIT_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("status") in FINAL else None


# -- the wrapper (runs as the job's process group leader) --------------------------------------------


def _summary_status(job: Job) -> str | None:
    try:
        summary = json.loads((job.run_path / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary.get("status") if isinstance(summary, dict) else None


def wrap_main(argv: Sequence[str]) -> int:
    """``python -m core.jobs _wrap --db DB --job ID -- CMD...``: run CMD and record how it ended."""
    parser = argparse.ArgumentParser(prog="python -m core.jobs _wrap")
    parser.add_argument("--db", required=True)
    parser.add_argument("--job", required=True, type=int)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    store = JobStore.from_db(args.db)
    job = store.get_job(args.job)
    term = threading.Event()
    child: subprocess.Popen[bytes] | None = None

    def on_term(signum: int, _frame: object) -> None:
        term.set()
        # Only the command's main process gets the signal, not the whole group: helper processes
        # it started (DataLoader workers) dying first would crash the trainer instead of letting
        # it save. Whatever is still alive after the grace period gets SIGKILL, group-wide.
        if child is not None and child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    print(f"[restudio] job {job.id} started {_now()}: {shlex.join(command)}", flush=True)
    try:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    except OSError as exc:
        code, status, error = 127, FAILED, f"could not start {command[0]!r}: {exc}"
    else:
        code = child.wait()
        cancelled = (
            term.is_set()
            or store.get_job(job.id).cancel_requested_at is not None
            # stopped by a SIGTERM from elsewhere (a shutdown): the trainer says so in its summary
            or (code != 0 and _summary_status(job) == CANCELLED)
        )
        if cancelled:
            status, error = CANCELLED, f"cancelled ({_describe_exit(code)})"
        elif code == 0:
            status, error = SUCCEEDED, None
        else:
            status, error = FAILED, _with_log_tail(_describe_exit(code), job)
    print(f"[restudio] job {job.id} {status} {_now()} ({_describe_exit(code)})", flush=True)
    record = {"status": status, "exit_code": code, "error": error, "finished_at": _now()}
    # The file first: if the database cannot be written, reconcile still learns the result from it.
    atomic_write_text(job.run_path / EXIT_FILE, lambda fh: json.dump(record, fh))
    store.transition(job.id, status, expect={RUNNING}, exit_code=code, error=error)
    # This job's slot is free now: start what waits in the local queue, so the queue drains
    # even when no app (and so no Watcher) is running, e.g. jobs queued by `python -m core seed`.
    try:
        LocalBackend(store).reconcile()
    except Exception as exc:  # best effort: the Watcher or the next page load starts them otherwise
        print(f"[restudio] could not start queued jobs: {exc}", flush=True)
    return code if code >= 0 else 128 - code


# -- Ray backend --------------------------------------------------------------------------------------

#: Never shipped to the cluster, whatever the caller passes as ``excludes`` (gitignore patterns, relative
#: to the working dir; Ray also skips what ``.gitignore`` lists, but a deployed copy may have none, and
#: ``RAY_RUNTIME_ENV_IGNORE_GITIGNORE`` turns that off). Secrets and the server's own config; workspaces
#: and every run, database and data file, wherever they sit; environments, git history and caches.
#: :func:`ray_excludes` adds the workspace, ``$RESTUDIO_HOME`` and ``$RESTUDIO_CONFIG`` when they lie
#: inside the working dir under other names.
RAY_EXCLUDES: tuple[str, ...] = (
    # secrets and server configuration
    ".streamlit/secrets.toml",
    "secrets.toml",
    "restudio.toml",
    ".env",
    "*.env",
    "*.pem",
    "*.key",
    ".netrc",
    # workspaces, runs and data
    "workspace/",
    "runs/",
    "oof/",
    "data/",
    "*.db",
    "*.db-wal",
    "*.db-shm",
    "*.db-journal",
    "*.sqlite",
    "*.sqlite3",
    "*.csv",
    "*.tsv",
    "*.json",
    "*.jsonl",
    "*.parquet",
    "*.arrow",
    "*.feather",
    "*.xlsx",
    "*.pkl",
    "*.pickle",
    "*.npy",
    "*.npz",
    # model files
    "*.safetensors",
    "*.bin",
    "*.pt",
    "*.pth",
    "*.ckpt",
    "*.onnx",
    # environments, history, caches
    ".venv/",
    "venv/",
    ".git/",
    "**/__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "node_modules",
    "test-artifacts",
    "bench/out",
)


def _inside(path: Path, folder: Path) -> str | None:
    """``path`` relative to ``folder`` (POSIX form) when it lies inside it, else None."""
    try:
        relative = path.resolve().relative_to(folder.resolve())
    except ValueError:
        return None
    return relative.as_posix() if relative.parts else None


def ray_excludes(
    working_dir: str | os.PathLike[str] = REPO_ROOT,
    extra: Iterable[str] = (),
    *,
    workspaces: Iterable[str | os.PathLike[str]] = (),
) -> list[str]:
    """What a Ray job's ``working_dir`` upload leaves out: :data:`RAY_EXCLUDES`, ``extra``, and, anchored
    to the working dir, each of ``workspaces``, ``$RESTUDIO_HOME`` and ``$RESTUDIO_CONFIG`` (the server
    config file) that lies inside it under another name than the defaults."""
    folder = Path(working_dir)
    out = [*RAY_EXCLUDES, *(p for p in extra if p not in RAY_EXCLUDES)]
    places: list[tuple[str | os.PathLike[str], bool]] = [(w, True) for w in workspaces]
    for env, is_dir in (("RESTUDIO_HOME", True), ("RESTUDIO_CONFIG", False)):
        if os.environ.get(env, "").strip():
            places.append((os.environ[env].strip(), is_dir))
    for place, is_dir in places:
        relative = _inside(Path(place).expanduser(), folder)
        if relative is not None:
            pattern = f"/{relative}/" if is_dir else f"/{relative}"
            if pattern not in out:
                out.append(pattern)
    return out


def ray_clusters(server_config: ServerConfig | None = None) -> dict[str, str]:
    """The Ray clusters jobs may go to, name -> dashboard address (``[ray.clusters]`` in restudio.toml)."""
    config = load_server_config() if server_config is None else server_config
    return dict(config.ray_clusters)


def _same_address(a: str, b: str) -> bool:
    return a.strip().rstrip("/") == b.strip().rstrip("/")


def ray_address_allowed(address: str | None, server_config: ServerConfig | None = None) -> bool:
    return bool(address) and any(_same_address(address or "", a) for a in ray_clusters(server_config).values())


#: Said wherever a Ray cluster is refused or missing.
RAY_CONFIG_HINT = 'an operator lists them in restudio.toml under [ray.clusters] (name = "http://head:8265")'


def check_ray_address(address: str | None, server_config: ServerConfig | None = None) -> str:
    """``address`` when it is one of the server's Ray clusters; :class:`JobError` otherwise.

    Checked before anything is contacted: an address taken from a form, a command line or an old job
    row would otherwise make this server upload the repository to, and poll, any host it can reach.
    """
    clusters = ray_clusters(server_config)
    if address and ray_address_allowed(address, server_config):
        return address
    if not clusters:
        raise JobError(f"No Ray cluster is configured on this server: {RAY_CONFIG_HINT}.")
    raise JobError(
        f"Ray address {address!r} is not one of this server's Ray clusters ({', '.join(sorted(clusters))}); "
        f"jobs go only to those ({RAY_CONFIG_HINT})."
    )


def resolve_ray_cluster(name: str, server_config: ServerConfig | None = None) -> str:
    """The address of the configured Ray cluster called ``name``; :class:`JobError` naming the known ones."""
    clusters = ray_clusters(server_config)
    if name in clusters:
        return clusters[name]
    if not clusters:
        raise JobError(f"No Ray cluster is configured on this server: {RAY_CONFIG_HINT}.")
    raise JobError(f"No Ray cluster named {name!r} on this server; configured: {', '.join(sorted(clusters))}.")


def _hub_env() -> dict[str, str]:
    """Environment a job gets when the server forbids hub downloads (see :data:`HUB_DOWNLOAD_ENV`)."""
    try:
        allowed = load_server_config().allow_hub_download
    except ValueError:  # a broken restudio.toml: fail closed (the trainer then names the file's problem)
        allowed = False
    return {} if allowed else {HUB_DOWNLOAD_ENV: "0", "HF_HUB_OFFLINE": "1"}


_RAY_STATUS = {
    "PENDING": QUEUED,
    "RUNNING": RUNNING,
    "SUCCEEDED": SUCCEEDED,
    "FAILED": FAILED,
    "STOPPED": CANCELLED,
}


class RayBackend:
    """Runs jobs on a Ray cluster through the Ray Jobs API (see the module docstring).

    Parameters
    ----------
    address
        The cluster's job server (dashboard) address, e.g. ``http://127.0.0.1:8265``; one of the
        server's configured clusters (:func:`check_ray_address`), else :class:`JobError`.
    root
        A workspace folder, a ``Workspace`` or a :class:`JobStore`.
    grace_s
        Seconds between SIGTERM and SIGKILL when cancelling (Ray's ``RAY_JOB_STOP_WAIT_TIME_S``).
    working_dir
        Shipped to the cluster as the job's working directory (the repository by default).
    excludes
        More gitignore patterns to leave out of the upload; :func:`ray_excludes` is always applied.
    python
        Replaces the interpreter path (``sys.executable``) at the start of job commands, for clusters
        whose environment lives at another path.
    entrypoint_num_cpus
        CPUs Ray reserves per job. A job asking for a GPU (``gpu="0"`` or any index: Ray picks the
        device and sets ``CUDA_VISIBLE_DEVICES``) also reserves one GPU; ``gpu=None`` or ``"cpu"``
        reserves none, since we cannot tell here whether the cluster has GPUs.
    client
        A ready ``JobSubmissionClient`` (tests); made from ``address`` on first use otherwise.
    """

    name = "ray"

    def __init__(
        self,
        address: str,
        root: Any = None,
        *,
        grace_s: float = DEFAULT_GRACE_S,
        working_dir: str | os.PathLike[str] = REPO_ROOT,
        excludes: Sequence[str] = (),
        python: str | None = None,
        entrypoint_num_cpus: float = 1,
        client: Any = None,
    ) -> None:
        if not address:
            raise JobError("RayBackend needs the cluster's dashboard address, e.g. http://127.0.0.1:8265")
        self.address = check_ray_address(address)
        self.store = _as_store(root)
        self.grace_s = grace_s
        self.working_dir = Path(working_dir)
        self.excludes = ray_excludes(self.working_dir, excludes, workspaces=[self.store.root])
        self.python = python
        self.entrypoint_num_cpus = entrypoint_num_cpus
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            from ray.job_submission import JobSubmissionClient

            try:
                self._client = JobSubmissionClient(self.address)
            except Exception as exc:  # ConnectionError, RuntimeError: its own message names the cause
                raise JobError(f"cannot reach the Ray job server at {self.address}: {exc}") from exc
        return self._client

    def entrypoint(self, job: Job) -> str:
        command = list(job.command)
        if self.python and command and command[0] == sys.executable:
            command[0] = self.python
        return shlex.join(command)

    def submit(self, job: Job) -> Job:
        """Submit to the cluster. The submission id is stored first, so a crash right after the
        submission cannot leave a job running on the cluster that the store does not know."""
        if job.backend != self.name:
            raise JobError(f"job {job.id} is a {job.backend} job, not a Ray one")
        submission_id = f"restudio-{job.id}-{secrets.token_hex(4)}"
        job = self.store.update(job.id, ray_address=self.address, ray_job_id=submission_id)
        env_vars = {
            "PYTHONUNBUFFERED": "1",
            "RESTUDIO_JOB_ID": str(job.id),
            "RESTUDIO_RUN_DIR": job.run_dir,
            # Read by Ray's job supervisor: SIGTERM, then SIGKILL this many seconds later.
            "RAY_JOB_STOP_WAIT_TIME_S": str(math.ceil(self.grace_s)),
            CANCEL_BUDGET_ENV: f"{cancel_budget_s(self.grace_s):g}",
            **_hub_env(),
        }
        try:
            self.client.submit_job(
                entrypoint=self.entrypoint(job),
                submission_id=submission_id,
                runtime_env={"working_dir": str(self.working_dir), "excludes": self.excludes, "env_vars": env_vars},
                entrypoint_num_cpus=self.entrypoint_num_cpus,
                entrypoint_num_gpus=1 if job.gpu_request else None,
                metadata={"restudio_job_id": str(job.id), "restudio_name": job.name},
            )
        except Exception as exc:  # the client raises RuntimeError/ConnectionError/ValueError with the cause
            return self.store.transition(
                job.id, FAILED, expect={QUEUED}, error=f"Ray job submission to {self.address} failed: {exc}"
            ) or self.store.get_job(job.id)
        return self.store.get_job(job.id)

    def status(self, job: Job) -> str:
        self._sync(self.store.get_job(job.id))
        return self.store.get_job(job.id).status

    def logs(self, job: Job, tail_lines: int = 200) -> str:
        """The tail of the job's log on the cluster; a line saying why when it cannot be read."""
        job = self.store.get_job(job.id)
        if job.ray_job_id is None:
            return ""
        try:
            text = self.client.get_job_logs(job.ray_job_id)
        except Exception as exc:  # an unreachable cluster must not break the view
            return f"[logs unavailable from {self.address}: {exc}]"
        return "\n".join(text.splitlines()[-tail_lines:]) if tail_lines > 0 else ""

    def reconcile(self) -> list[Job]:
        changed = []
        with self._lock:
            for job in self.store.list_jobs(status=(QUEUED, RUNNING), backend=self.name):
                if job.ray_address == self.address:
                    after = self._sync(job)
                    if after is not None:
                        changed.append(after)
        return changed

    def cancel(self, job: Job, *, grace_s: float | None = None, wait: bool = True) -> Job:
        """Ask Ray to stop the job (SIGTERM, SIGKILL after the grace set at submission).
        ``grace_s`` only bounds how long this call waits; Ray's grace was fixed at submission."""
        job = self.store.get_job(job.id)
        if job.is_final:
            return job
        if job.ray_job_id is None:
            return self.store.transition(job.id, CANCELLED, expect={QUEUED}) or self.store.get_job(job.id)
        if job.cancel_requested_at is None:
            job = self.store.update(job.id, cancel_requested_at=_now())
        try:
            self.client.stop_job(job.ray_job_id)
        except Exception as exc:
            raise JobError(f"could not stop Ray job {job.ray_job_id} at {self.address}: {exc}") from exc
        if wait:
            deadline = time.monotonic() + (self.grace_s if grace_s is None else grace_s) + 10.0
            while time.monotonic() < deadline:
                after = self._sync(self.store.get_job(job.id)) or self.store.get_job(job.id)
                if after.is_final:
                    return after
                time.sleep(0.25)
        return self.store.get_job(job.id)

    def _sync(self, job: Job) -> Job | None:
        """Bring one job in line with the cluster; returns it if its status changed."""
        if job.is_final or job.ray_job_id is None:
            return None
        try:
            info = self.client.get_job_info(job.ray_job_id)
        except Exception as exc:
            if "404" in str(exc) or "does not exist" in str(exc):
                age = time.time() - (_epoch(job.created_at) or 0.0)
                if age > RAY_SUBMIT_GRACE_S:
                    return self.store.transition(
                        job.id, LOST, error=f"the Ray cluster at {self.address} does not know job {job.ray_job_id}"
                    )
            else:  # cluster unreachable for now: keep the last known status
                log.warning("Ray job %s: cannot reach %s: %s", job.ray_job_id, self.address, exc)
            return None
        raw = getattr(info.status, "value", str(info.status))
        target = _RAY_STATUS.get(raw)
        if target is None or target == job.status:
            return None
        before = job.status
        ran = target in (RUNNING, SUCCEEDED) or info.driver_exit_code is not None
        if ran and job.status == QUEUED:
            started = _iso_from_epoch(info.start_time / 1000) if info.start_time else _now()
            job = self.store.transition(job.id, RUNNING, expect={QUEUED}, started_at=started) or job
            if target == RUNNING:
                return job if job.status != before else None
        if target in FINAL:
            finished = _iso_from_epoch(info.end_time / 1000) if info.end_time else _now()
            error = None
            if target == FAILED:
                error = f"{info.message or 'Ray job failed'} ({_describe_exit(info.driver_exit_code)})"
                tail = self.logs(job, LOG_TAIL_LINES)
                if tail:
                    error += f"\n--- last lines of the Ray job log ---\n{tail}"
            elif target == CANCELLED:
                error = info.message or "stopped"
            return self.store.transition(
                job.id,
                target,
                expect={QUEUED, RUNNING},
                finished_at=finished,
                exit_code=info.driver_exit_code,
                error=error,
            )
        return None


# -- submitting ---------------------------------------------------------------------------------------


def backend_for(job: Job, store_or_root: Any = None, **options: Any) -> Backend:
    """The backend that runs ``job`` (for cancel and logs from the views and the CLI)."""
    store = _as_store(store_or_root)
    if job.backend == "local":
        return LocalBackend(store, **options)
    if job.backend == "ray":
        return RayBackend(job.ray_address or "", store, **options)
    raise JobError(f"job {job.id} has unknown backend {job.backend!r}")


def submit_job(
    store_or_root: Any,
    command: Sequence[str],
    *,
    name: str,
    kind: str = "command",
    backend: str | Backend = "local",
    gpu: str | int | None = None,
    config: Mapping[str, Any] | None = None,
    ray_address: str | None = None,
    group_id: str | None = None,
    parent_id: int | None = None,
    owner: str | None = None,
    server_config: ServerConfig | None = None,
) -> Job:
    """Store a job running ``command`` and hand it to its backend; returns the job as it is then.

    ``backend`` is ``"local"``, ``"ray"`` (with ``ray_address``, one of the server's configured
    clusters) or a backend object (which decides the scheduling options, e.g.
    ``LocalBackend(root, max_cpu_jobs=2)``, and whose store is used; ``store_or_root`` is then ignored).
    A local job starts at once when a slot is free and waits in the queue otherwise. ``owner`` is who
    launches it (default :func:`default_owner`). The server's caps on queued and running jobs
    (``server_config``, default the server's ``restudio.toml``) apply to every submission. Raises
    :class:`JobError` (nothing written) for a bad option, an address that is not a configured Ray
    cluster, or a full queue (:class:`QueueFull`).
    """
    if isinstance(backend, str):
        if backend not in BACKENDS:
            raise JobError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
        store = _as_store(store_or_root)
        runner: Backend = LocalBackend(store) if backend == "local" else RayBackend(ray_address or "", store)
    else:
        runner = backend
        store = runner.store  # type: ignore[attr-defined]
    if isinstance(runner, RayBackend):
        ray_address = runner.address
    if isinstance(runner, LocalBackend):
        runner.check_gpu_request(normalize_gpu(gpu))  # refuse before anything is written
    job = store.create(
        name=name,
        command=command,
        kind=kind,
        backend=runner.name,
        config=config,
        gpu=gpu,
        ray_address=ray_address,
        group_id=group_id,
        parent_id=parent_id,
        owner=owner,
        caps=_caps(server_config),
    )
    return runner.submit(job)


def training_command(python: str = sys.executable) -> list[str]:
    """The command a training job runs (with :data:`RUN_DIR_TOKEN` for its run folder)."""
    return [python, "-m", "core", "train", f"{RUN_DIR_TOKEN}/{JOB_CONFIG_FILE}", "--run-dir", RUN_DIR_TOKEN]


def submit_training(
    store_or_root: Any,
    config: Mapping[str, Any],
    *,
    name: str,
    backend: str | Backend = "local",
    gpu: str | int | None = None,
    ray_address: str | None = None,
    group_id: str | None = None,
    parent_id: int | None = None,
    owner: str | None = None,
    server_config: ServerConfig | None = None,
) -> Job:
    """Queue a fine-tuning job: ``RUN_DIR/job_config.json`` holds ``config`` and the job runs
    ``python -m core train RUN_DIR/job_config.json --run-dir RUN_DIR``.

    Validating ``config`` is the caller's part (``core.train.training``), before calling this. The other
    options are :func:`submit_job`'s.
    """
    if not isinstance(config, Mapping):
        raise JobError(f"a training config must be a mapping of options, got {type(config).__name__}")
    return submit_job(
        store_or_root,
        training_command(),
        name=name,
        kind="train",
        backend=backend,
        gpu=gpu,
        config=config,
        ray_address=ray_address,
        group_id=group_id,
        parent_id=parent_id,
        owner=owner,
        server_config=server_config,
    )


def predict_command(run_dir: str | os.PathLike[str], python: str = sys.executable) -> list[str]:
    """The command a ``predict`` job runs: ``python -m core predict RUN_DIR`` (a training run's folder)."""
    return [python, "-m", "core", "predict", str(run_dir)]


def predict_target(job: Job) -> str | None:
    """The training run folder a ``predict`` job completes (None for other jobs)."""
    return job.command[-1] if job.kind == "predict" and job.command else None


def submit_predictions(
    store_or_root: Any, job_id: int, *, owner: str | None = None, server_config: ServerConfig | None = None
) -> Job:
    """Queue a ``predict`` job that writes the prediction files training job ``job_id`` left for later.

    A cancelled run predicts only what fits in its grace period and lists the rest in ``summary.json``'s
    ``pending_predictions`` (:func:`core.store.runs.pending_predictions`); the job runs
    ``python -m core predict RUN_DIR`` on the same backend (and GPU request) as the training job, in a run
    folder of its own (its log), and updates the training run's ``summary.json``. Raises
    :class:`JobError` when the training job has not ended, owes no predictions, or a predict job for it
    is already queued or running. ``owner`` and ``server_config`` are :func:`submit_job`'s.
    """
    store = _as_store(store_or_root)
    source = store.get_job(job_id)
    if source.kind == "predict":
        raise JobError(f"job #{source.id} is itself a predict job")
    if not source.is_final:
        raise JobError(f"job #{source.id} is {source.display_status}: its predictions can be made once it has ended")
    pending = pending_predictions(source.run_dir)
    if not pending:
        raise JobError(f"job #{source.id} owes no predictions (its summary lists none pending)")
    for other in store.list_jobs(status=(QUEUED, RUNNING)):
        if predict_target(other) == source.run_dir:
            raise JobError(f"the predictions of job #{source.id} are already {other.status} as job #{other.id}")
    return submit_job(
        store,
        predict_command(source.run_dir),
        name=f"predictions of #{source.id} {source.name}",
        kind="predict",
        backend=source.backend,
        gpu=source.gpu_request,
        ray_address=source.ray_address,
        owner=owner,
        server_config=server_config,
    )


def cancel_job(store_or_root: Any, job_id: int, *, wait: bool = True, grace_s: float | None = None) -> Job:
    """Cancel a job by id, whichever backend runs it (for the CLI and the views)."""
    store = _as_store(store_or_root)
    job = store.get_job(job_id)
    return backend_for(job, store).cancel(job, grace_s=grace_s, wait=wait)


def job_logs(store_or_root: Any, job_id: int, tail_lines: int = 200) -> str:
    """The last lines of a job's log, whichever backend runs it."""
    store = _as_store(store_or_root)
    job = store.get_job(job_id)
    return backend_for(job, store).logs(job, tail_lines)


# -- watching -----------------------------------------------------------------------------------------


class Watcher:
    """A daemon thread that reconciles every ``interval_s`` seconds, so finished and killed jobs are
    recorded and queued ones started even when no page is open. ``start``/``stop`` are idempotent.

    Reconciles a :class:`LocalBackend` (made with ``local_options``) and a :class:`RayBackend` for
    each cluster address that has unfinished jobs and is one of the server's configured clusters (a job
    at an address the operator has removed is left alone, never polled).
    """

    def __init__(self, root: Any = None, *, interval_s: float = 2.0, **local_options: Any) -> None:
        self.store = _as_store(root)
        self.interval_s = interval_s
        self.local = LocalBackend(self.store, **local_options)
        self._ray: dict[str, RayBackend] = {}
        self._refused: set[str] = set()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._guard = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Watcher:
        with self._guard:
            if not self.running:
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._run, name="restudio-job-watcher", daemon=True)
                self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        with self._guard:
            self._stop.set()
            if self._thread is not None:
                self._thread.join(timeout)
            self._thread = None

    def tick(self) -> list[Job]:
        """One reconcile of every backend; errors are logged, never raised (the thread must live on)."""
        changed: list[Job] = []
        try:
            changed.extend(self.local.reconcile())
        except Exception:
            log.exception("reconciling local jobs failed")
        addresses = {j.ray_address for j in self.store.list_jobs(status=(QUEUED, RUNNING), backend="ray")}
        for address in sorted(a for a in addresses if a):
            try:
                if not ray_address_allowed(address):
                    if address not in self._refused:
                        self._refused.add(address)
                        log.warning("not polling Ray jobs at %s: not one of the configured clusters", address)
                    self._ray.pop(address, None)
                    continue
                ray_backend = self._ray.get(address) or self._ray.setdefault(address, RayBackend(address, self.store))
                changed.extend(ray_backend.reconcile())
            except Exception:
                log.exception("reconciling Ray jobs at %s failed", address)
        return changed

    def _run(self) -> None:
        stop = self._stop
        while not stop.is_set():
            self.tick()
            stop.wait(self.interval_s)


_WATCHERS: dict[Path, Watcher] = {}
_WATCHERS_GUARD = threading.Lock()


def ensure_watcher(root: Any = None, **options: Any) -> Watcher:
    """The process's one running :class:`Watcher` for a workspace (started on first call)."""
    store = _as_store(root)
    with _WATCHERS_GUARD:
        watcher = _WATCHERS.get(store.db_path)
        if watcher is None:
            watcher = _WATCHERS[store.db_path] = Watcher(store, **options)
        return watcher.start()


# -- what the views show ------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def progress(job: Job) -> dict[str, Any]:
    """Progress of a job from its ``metrics.jsonl``.

    Returns ``step``, ``max_steps``, ``epoch`` (latest values, None when not logged yet),
    ``fraction`` (step / max_steps, 1.0 once succeeded), ``eta_s`` (running jobs only: the
    remaining steps at the rate between the first and last records carrying ``wall_s``, else at
    the average rate since the job started) and ``last_metrics`` (the latest value of every field,
    so the last train loss and the last eval score together).
    """
    records = read_metric_records(job.run_dir)
    last: dict[str, Any] = {}
    for record in records:
        last.update({k: v for k, v in record.items() if k != "kind" and v is not None})
    step = _number(last.get("step"))
    max_steps = _number(last.get("max_steps"))
    epoch = _number(last.get("epoch"))
    fraction = None
    if step is not None and max_steps:
        fraction = min(max(step / max_steps, 0.0), 1.0)
    if job.status == SUCCEEDED:
        fraction = 1.0
    eta = None
    if job.status == RUNNING and fraction is not None and step is not None and max_steps:
        timed = [
            (float(r["step"]), float(r["wall_s"]))
            for r in records
            if _number(r.get("step")) is not None and _number(r.get("wall_s")) is not None
        ]
        rate = None
        if len(timed) >= 2 and timed[-1][1] > timed[0][1] and timed[-1][0] > timed[0][0]:
            rate = (timed[-1][0] - timed[0][0]) / (timed[-1][1] - timed[0][1])
        elif step > 0 and job.started_at is not None:
            elapsed = time.time() - (_epoch(job.started_at) or time.time())
            rate = step / elapsed if elapsed > 0 else None
        if rate:
            eta = max(max_steps - step, 0.0) / rate
    return {
        "step": None if step is None else int(step),
        "max_steps": None if max_steps is None else int(max_steps),
        "epoch": epoch,
        "fraction": fraction,
        "eta_s": eta,
        "last_metrics": last,
    }


_CPU_SAMPLES: dict[int, dict[tuple[int, float], tuple[float, float]]] = {}
_CPU_LOCK = threading.Lock()


def resource_usage(job: Job) -> dict[str, float | None]:
    """CPU (percent of one core, summed over the job's processes, since the previous call),
    resident memory (MB) and GPU memory (MB, None on the CPU or when nvidia-smi cannot tell)
    of a running local job; all None for other jobs."""
    out: dict[str, float | None] = {"cpu_percent": None, "rss_mb": None, "gpu_mem_mb": None}
    if job.backend != "local" or job.status != RUNNING or job.pgid is None:
        return out
    members = _group_members(job.pgid, job.proc_start_time)
    if not members:
        return out
    now = time.time()
    cpu = rss = 0.0
    samples: dict[tuple[int, float], tuple[float, float]] = {}
    with _CPU_LOCK:
        previous = _CPU_SAMPLES.get(job.id, {})
        for proc in members:
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    used = times.user + times.system
                    created = proc.create_time()
                    rss += proc.memory_info().rss
            except psutil.Error:
                continue
            key = (proc.pid, created)
            t0, used0 = previous.get(key, (created, 0.0))  # first look: the average over its life
            if now > t0:
                cpu += max(used - used0, 0.0) / (now - t0) * 100.0
            samples[key] = (now, used)
        _CPU_SAMPLES[job.id] = samples
    out["cpu_percent"] = round(cpu, 1)
    out["rss_mb"] = round(rss / 2**20, 1)
    if job.gpu:
        by_pid = _gpu_memory_by_pid()
        if by_pid:
            found = [by_pid[p.pid] for p in members if p.pid in by_pid]
            out["gpu_mem_mb"] = sum(found) if found else None
    return out
