"""The job table: what a job is and how it is kept.

Owns the :class:`Job` record and its status machine (``queued -> running -> succeeded | failed |
cancelled | lost``), :class:`JobStore` on the workspace's SQLite database (create, read, status changes
that follow :data:`TRANSITIONS`), the run folder each job gets, the errors the job system raises, and the
server's caps on queued and running jobs (checked inside the insert's transaction). It knows nothing of
processes or clusters: every backend, the wrapper and the views build on it, and the job wrapper imports
it without paying for the rest.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.common.atomic import atomic_write_text
from core.common.config import ServerConfig, load_server_config
from core.common.errors import RestudioError
from core.common.settings import Settings
from core.store import database
from core.store.runs import RunDir

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
#: Job kinds that only submit and watch other jobs (a sweep's driver): the local backend starts them at once and
#: counts them in no CPU or GPU slot, or a driver would hold the one CPU slot its own trials wait for.
COORDINATOR_KINDS: frozenset[str] = frozenset({"sweep"})

#: Occurrences in a command are replaced with the job's run folder when the job is created.
RUN_DIR_TOKEN = "{run_dir}"

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


class JobError(RestudioError):
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
        return RunDir(self.run_dir).job_log

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


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def iso_to_epoch(iso: str | None) -> float | None:
    return None if iso is None else datetime.fromisoformat(iso).timestamp()


def iso_from_epoch(seconds: float) -> str:
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
    name = Settings.from_env().author.strip()
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
        with self.transaction() as con:
            have = {row["name"] for row in con.execute("PRAGMA table_info(jobs)")}
            for column, declaration in _ADDED_COLUMNS.items():
                if column not in have:
                    con.execute(f"ALTER TABLE jobs ADD COLUMN {column} {declaration}")

    def _connect(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return database.connect(self.db_path)

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """A write transaction on the job database: what a backend reads and claims in it stays consistent."""
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
        with self.transaction() as con:
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
                    now(),
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
                atomic_write_text(RunDir(run_dir).job_config, lambda fh: fh.write(config_json + "\n"))
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
        with self.transaction() as con:
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
                    values.setdefault("started_at", now())
                if new in FINAL and current not in FINAL:
                    values.setdefault("finished_at", now())
            if values:
                sets, args = [], []
                for key, value in values.items():
                    sets.append(f"{_UPDATABLE[key]} = ?")
                    if key in ("config", "command"):
                        value = None if value is None else json.dumps(value, ensure_ascii=False)
                    args.append(value)
                con.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", [*args, int(job_id)])
        return self.get_job(job_id)


def as_store(store_or_root: Any) -> JobStore:
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


def server_caps(server_config: ServerConfig | None) -> tuple[int, int]:
    config = load_server_config() if server_config is None else server_config
    return config.max_queued_per_user, config.max_queued_total


def check_queue_room(
    store_or_root: Any, n: int = 1, *, owner: str | None = None, server_config: ServerConfig | None = None
) -> None:
    """Raise :class:`QueueFull` unless ``n`` more jobs of ``owner`` fit under the server's caps.

    For a submission of several jobs at once (a cross-validation group): checked before the first, so
    a group is not left half queued. Each job is still checked on its own as it is created.
    """
    store = as_store(store_or_root)
    owner = default_owner() if owner is None else owner.strip()
    with store._connect() as con:
        _check_caps(con, owner, n, server_caps(server_config))
