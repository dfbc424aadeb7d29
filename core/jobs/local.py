"""The local backend: jobs as process groups on this machine, and the wrapper that runs each one.

Owns :class:`LocalBackend` (one job per GPU and ``max_cpu_jobs`` on the CPU, claimed in a
``BEGIN IMMEDIATE`` transaction; cancel by SIGTERM then SIGKILL; reconcile of finished, killed and
vanished jobs) and :func:`wrap_main`, the ``python -m core.jobs _wrap`` process that runs a job's
command and records its end in ``job_exit.json`` and the database. They live together because each is
half of one protocol: the wrapper records what the backend reads back, and starts the next queued job.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from core.common.atomic import atomic_write_text
from core.common.settings import CANCEL_BUDGET_ENV, HOME_ENV, JOB_ID_ENV, RUN_DIR_ENV, Settings, SettingsError
from core.jobs.backend import (
    DEFAULT_GRACE_S,
    REPO_ROOT,
    cancel_budget_s,
    describe_exit,
    hub_env,
    with_log_tail,
)
from core.jobs.gpu import list_gpus
from core.jobs.processes import CHILDREN, CHILDREN_LOCK, RETURN_CODES, alive, group_members, kill_members
from core.jobs.store import (
    CANCELLED,
    COORDINATOR_KINDS,
    FAILED,
    FINAL,
    LOST,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    Job,
    JobError,
    JobStore,
    as_store,
    iso_to_epoch,
    now,
)
from core.store.runs import RunDir, log_tail

log = logging.getLogger(__name__)

#: A running local job whose pid was never recorded (the process that claimed it died while
#: starting it) is marked lost after this long.
START_TIMEOUT_S = 60.0

_RECONCILE_LOCKS: dict[Path, threading.Lock] = {}
_RECONCILE_LOCKS_GUARD = threading.Lock()


def _reconcile_lock(db_path: Path) -> threading.Lock:
    with _RECONCILE_LOCKS_GUARD:
        return _RECONCILE_LOCKS.setdefault(db_path, threading.Lock())


class LocalBackend:
    """Runs jobs as process groups on this machine (see the :mod:`core.jobs` docstring).

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
            try:
                max_cpu_jobs = Settings.from_env().max_cpu_jobs
            except SettingsError as exc:  # refused as a job action is, with the variable named
                raise JobError(str(exc)) from exc
        if max_cpu_jobs < 0:
            raise JobError(f"max_cpu_jobs must be >= 0, got {max_cpu_jobs}")
        if grace_s < 0:
            raise JobError(f"grace_s must be >= 0, got {grace_s}")
        self.store = as_store(root)
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
            current = self.store.update(current.id, cancel_requested_at=now())
        wrapper = alive(current.pid, current.proc_start_time)
        if wrapper is not None:
            # To the wrapper, which passes it to the command's main process only (see wrap_main).
            with contextlib.suppress(psutil.Error):
                wrapper.send_signal(signal.SIGTERM)
        if not wait:
            return self.store.get_job(job.id)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            current = self.store.get_job(job.id)
            if current.is_final and alive(current.pid, current.proc_start_time) is None:
                return current
            if not group_members(current.pgid, current.proc_start_time) and not current.is_final:
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
        members = group_members(job.pgid, job.proc_start_time)
        if not members:
            return
        log.warning("job %s did not stop within %.0f s of SIGTERM; sending SIGKILL", job.id, grace)
        with contextlib.suppress(OSError), job.log_path.open("a", encoding="utf-8") as fh:
            fh.write(f"[restudio] job did not stop within {grace:g} s of SIGTERM; sending SIGKILL\n")
        kill_members(members, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while group_members(job.pgid, job.proc_start_time) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _check_running(self, job: Job, grace_s: float | None = None) -> Job | None:
        """Look at one running job; returns the job if its status changed."""
        grace = self.grace_s if grace_s is None else grace_s
        if job.pid is None:
            started = iso_to_epoch(job.started_at) or 0.0
            if time.time() - started > START_TIMEOUT_S:
                return self.store.transition(
                    job.id, LOST, expect={RUNNING}, error="the process that started this job died before recording it"
                )
            return None
        if alive(job.pid, job.proc_start_time) is not None:
            if job.cancel_requested_at is not None:
                overdue = time.time() - (iso_to_epoch(job.cancel_requested_at) or 0.0) > grace
                if overdue:
                    self._kill_after_grace(job, grace)
                    if alive(job.pid, job.proc_start_time) is not None:
                        return None
                else:
                    return None
            else:
                return None
        # The wrapper is gone. It normally records the result itself just before exiting.
        job = self.store.get_job(job.id)
        if job.status != RUNNING:
            return None
        leftovers = group_members(job.pgid, job.proc_start_time)
        if leftovers:
            # The wrapper was killed but the command lives on, unwatched and holding its GPU.
            log.warning("job %s: wrapper gone, killing %d orphaned process(es)", job.id, len(leftovers))
            kill_members(leftovers, signal.SIGKILL)
        exit_record = _read_exit_file(job)
        if exit_record is not None:
            return self.store.transition(
                job.id,
                exit_record["status"],
                expect={RUNNING},
                exit_code=exit_record.get("exit_code"),
                error=exit_record.get("error"),
            )
        code = RETURN_CODES.get(job.pid)
        if job.cancel_requested_at is not None:
            return self.store.transition(
                job.id,
                CANCELLED,
                expect={RUNNING},
                exit_code=code,
                error=f"cancelled: did not stop within {grace:g} s of SIGTERM and was killed",
            )
        how = f" ({describe_exit(code)})" if code is not None else ""
        message = (
            f"the job's process (pid {job.pid}) ended without recording a result{how}: it was killed "
            "(SIGKILL, out of memory) or the machine restarted"
        )
        return self.store.transition(job.id, LOST, expect={RUNNING}, exit_code=code, error=with_log_tail(message, job))

    def _start_queued(self) -> list[Job]:
        queued = self.store.list_jobs(status=QUEUED, backend=self.name)
        if not queued:
            return []
        gpus = self.gpus()
        claimed: list[int] = []
        failed: list[int] = []
        with self.store.transaction() as con:
            rows = con.execute("SELECT id, gpu, kind FROM jobs WHERE status = ? AND backend = ?", (RUNNING, self.name))
            busy_gpus: set[str] = set()
            cpu_jobs = 0
            for row in rows.fetchall():
                if row["gpu"]:
                    busy_gpus.add(row["gpu"])
                elif row["kind"] not in COORDINATOR_KINDS:
                    cpu_jobs += 1
            rows = con.execute(
                "SELECT id, gpu_request, kind FROM jobs WHERE status = ? AND backend = ? ORDER BY id",
                (QUEUED, self.name),
            )
            for row in rows.fetchall():
                request = row["gpu_request"]
                device: str | None = None
                if row["kind"] in COORDINATOR_KINDS:  # it only submits and watches jobs: no slot
                    device = ""
                elif request is None and gpus:  # any free GPU
                    device = next((g for g in gpus if g not in busy_gpus), None)
                elif request:  # that GPU
                    if request not in gpus:
                        have = ", ".join(gpus) or "none"
                        con.execute(
                            "UPDATE jobs SET status = ?, finished_at = ?, error = ? WHERE id = ?",
                            (
                                FAILED,
                                now(),
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
                    (RUNNING, device, now(), row["id"], QUEUED),
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
            **{
                JOB_ID_ENV: str(job.id),
                RUN_DIR_ENV: str(run_dir),
                HOME_ENV: str(self.store.root),
                CANCEL_BUDGET_ENV: f"{cancel_budget_s(self.grace_s):g}",
            },
            **hub_env(),
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
        with CHILDREN_LOCK:
            CHILDREN[proc.pid] = proc
        try:
            start_time = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            start_time = time.time()  # already gone and reaped by someone: reconcile will see it dead
        return self.store.update(job.id, pid=proc.pid, pgid=proc.pid, proc_start_time=start_time)


def _read_exit_file(job: Job) -> dict[str, Any] | None:
    path = RunDir(job.run_path).job_exit
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("status") in FINAL else None


# -- the wrapper (runs as the job's process group leader) --------------------------------------------


def _summary_status(job: Job) -> str | None:
    try:
        summary = json.loads(RunDir(job.run_path).summary.read_text(encoding="utf-8"))
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
    print(f"[restudio] job {job.id} started {now()}: {shlex.join(command)}", flush=True)
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
            status, error = CANCELLED, f"cancelled ({describe_exit(code)})"
        elif code == 0:
            status, error = SUCCEEDED, None
        else:
            status, error = FAILED, with_log_tail(describe_exit(code), job)
    print(f"[restudio] job {job.id} {status} {now()} ({describe_exit(code)})", flush=True)
    record = {"status": status, "exit_code": code, "error": error, "finished_at": now()}
    # The file first: if the database cannot be written, reconcile still learns the result from it.
    atomic_write_text(RunDir(job.run_path).job_exit, lambda fh: json.dump(record, fh))
    store.transition(job.id, status, expect={RUNNING}, exit_code=code, error=error)
    # This job's slot is free now: start what waits in the local queue, so the queue drains
    # even when no app (and so no Watcher) is running, e.g. jobs queued by `python -m core seed`.
    try:
        LocalBackend(store).reconcile()
    except Exception as exc:  # best effort: the Watcher or the next page load starts them otherwise
        print(f"[restudio] could not start queued jobs: {exc}", flush=True)
    return code if code >= 0 else 128 - code
