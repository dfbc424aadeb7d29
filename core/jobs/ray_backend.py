"""The Ray backend: jobs on a configured Ray cluster through the Ray Jobs API.

Owns :class:`RayBackend` (submit, poll, stop, logs), the server's allow-list of clusters
(:func:`ray_clusters`, :func:`check_ray_address`: no other address is ever contacted) and what the
repository upload leaves out (:data:`RAY_EXCLUDES`, :func:`ray_excludes`). Separate because it is the one
part of the job system that reaches another host, with its own security rules; ``ray`` itself is
imported only when a client is needed.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import shlex
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from core.common.config import ServerConfig, load_server_config
from core.common.settings import CANCEL_BUDGET_ENV, JOB_ID_ENV, RUN_DIR_ENV, Settings
from core.jobs.backend import (
    DEFAULT_GRACE_S,
    LOG_TAIL_LINES,
    REPO_ROOT,
    cancel_budget_s,
    describe_exit,
    hub_env,
)
from core.jobs.store import (
    CANCELLED,
    FAILED,
    FINAL,
    LOST,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    Job,
    JobError,
    as_store,
    iso_from_epoch,
    iso_to_epoch,
    now,
)

log = logging.getLogger(__name__)

#: A Ray job that the cluster does not know is only marked lost once it is this old, so a
#: submission still in flight in another process is not mistaken for a lost job.
RAY_SUBMIT_GRACE_S = 60.0

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
    settings = Settings.from_env()
    for value, is_dir in ((settings.home, True), (settings.config_file, False)):
        if value and value.strip():
            places.append((value.strip(), is_dir))
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


_RAY_STATUS = {
    "PENDING": QUEUED,
    "RUNNING": RUNNING,
    "SUCCEEDED": SUCCEEDED,
    "FAILED": FAILED,
    "STOPPED": CANCELLED,
}


class RayBackend:
    """Runs jobs on a Ray cluster through the Ray Jobs API (see the :mod:`core.jobs` docstring).

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
        self.store = as_store(root)
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
            JOB_ID_ENV: str(job.id),
            RUN_DIR_ENV: job.run_dir,
            # Read by Ray's job supervisor: SIGTERM, then SIGKILL this many seconds later.
            "RAY_JOB_STOP_WAIT_TIME_S": str(math.ceil(self.grace_s)),
            CANCEL_BUDGET_ENV: f"{cancel_budget_s(self.grace_s):g}",
            **hub_env(),
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
            job = self.store.update(job.id, cancel_requested_at=now())
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
                age = time.time() - (iso_to_epoch(job.created_at) or 0.0)
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
            started = iso_from_epoch(info.start_time / 1000) if info.start_time else now()
            job = self.store.transition(job.id, RUNNING, expect={QUEUED}, started_at=started) or job
            if target == RUNNING:
                return job if job.status != before else None
        if target in FINAL:
            finished = iso_from_epoch(info.end_time / 1000) if info.end_time else now()
            error = None
            if target == FAILED:
                error = f"{info.message or 'Ray job failed'} ({describe_exit(info.driver_exit_code)})"
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
