"""What the views show of a job while it runs: its progress and its resource use.

Owns :func:`progress` (step, epoch, fraction and ETA from the run's ``metrics.jsonl``),
:func:`resource_usage` (CPU, memory and GPU memory of a running local job's processes) and
:func:`job_rows` (one :class:`JobRow` per job for the Train view's job table). Read-only: it never
changes a job, so it is kept apart from the backends that do. Results are frozen dataclasses; the ones
that also go to JSON (the CLI's ``jobs list --json``) have a ``to_dict()`` giving the plain dict.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import psutil

from core.jobs.gpu import gpu_memory_by_pid
from core.jobs.processes import group_members
from core.jobs.store import RUNNING, SUCCEEDED, Job, iso_to_epoch
from core.store.runs import read_metric_records, read_summary


@dataclass(frozen=True)
class Progress:
    """How far a job got, from its ``metrics.jsonl`` (see :func:`progress`)."""

    step: int | None
    max_steps: int | None
    epoch: float | None
    fraction: float | None
    eta_s: float | None
    last_metrics: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The plain dict (``step``, ``max_steps``, ``epoch``, ``fraction``, ``eta_s``, ``last_metrics``)."""
        return {**asdict(self), "last_metrics": dict(self.last_metrics)}


@dataclass(frozen=True)
class ResourceUsage:
    """CPU (percent of one core), resident memory (MB) and GPU memory (MB) of a job; None where unknown."""

    cpu_percent: float | None = None
    rss_mb: float | None = None
    gpu_mem_mb: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        """The plain dict (``cpu_percent``, ``rss_mb``, ``gpu_mem_mb``)."""
        return asdict(self)


@dataclass(frozen=True)
class JobRow:
    """One row of the job table: what the Train view shows of a job, unformatted.

    ``device`` is ``CPU``, ``GPU <ids>`` or blank (the backend decides); ``usage`` is the job's
    :class:`ResourceUsage` while it runs and None otherwise (a finished job uses nothing).
    """

    id: int
    job: str
    owner: str
    status: str
    progress: float
    dev_micro_f1: float | None
    dev_auprc: float | None
    model: str | None
    input_format: str | None
    created_at: str | None
    eta_s: float | None
    backend: str
    device: str
    usage: ResourceUsage | None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def progress(job: Job) -> Progress:
    """Progress of a job from its ``metrics.jsonl``.

    Returns a :class:`Progress`: ``step``, ``max_steps``, ``epoch`` (latest values, None when not logged yet),
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
            elapsed = time.time() - (iso_to_epoch(job.started_at) or time.time())
            rate = step / elapsed if elapsed > 0 else None
        if rate:
            eta = max(max_steps - step, 0.0) / rate
    return Progress(
        step=None if step is None else int(step),
        max_steps=None if max_steps is None else int(max_steps),
        epoch=epoch,
        fraction=fraction,
        eta_s=eta,
        last_metrics=last,
    )


_CPU_SAMPLES: dict[int, dict[tuple[int, float], tuple[float, float]]] = {}
_CPU_LOCK = threading.Lock()


def resource_usage(job: Job) -> ResourceUsage:
    """CPU (percent of one core, summed over the job's processes, since the previous call),
    resident memory (MB) and GPU memory (MB, None on the CPU or when nvidia-smi cannot tell)
    of a running local job; all None for other jobs."""
    if job.backend != "local" or job.status != RUNNING or job.pgid is None:
        return ResourceUsage()
    members = group_members(job.pgid, job.proc_start_time)
    if not members:
        return ResourceUsage()
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
    gpu_mem: float | None = None
    if job.gpu:
        by_pid = gpu_memory_by_pid()
        if by_pid:
            found = [by_pid[p.pid] for p in members if p.pid in by_pid]
            gpu_mem = sum(found) if found else None
    return ResourceUsage(cpu_percent=round(cpu, 1), rss_mb=round(rss / 2**20, 1), gpu_mem_mb=gpu_mem)


def job_rows(jobs: Sequence[Job]) -> list[JobRow]:
    """The job table's rows, newest first (``jobs`` oldest first, as the store lists them).

    Dev scores come from the run's ``summary.json``, else the last logged eval scores; resource use is
    sampled for running jobs only.
    """
    rows = []
    for job in reversed(jobs):
        prog = progress(job)
        summary = read_summary(job.run_dir) or {}
        last = prog.last_metrics
        dev = summary.get("dev") or {}
        config = job.config or {}
        rows.append(
            JobRow(
                id=job.id,
                job=job.name,
                owner=job.owner or "",
                status=job.display_status,
                progress=prog.fraction or 0.0,
                dev_micro_f1=dev.get("micro_f1", last.get("eval_micro_f1")),
                dev_auprc=dev.get("auprc", last.get("eval_auprc")),
                model=config.get("model"),
                input_format=config.get("input_format"),
                created_at=job.created_at,
                eta_s=prog.eta_s,
                backend=job.backend,
                device="CPU" if job.gpu == "" else (f"GPU {job.gpu}" if job.gpu else ""),
                usage=resource_usage(job) if job.status == RUNNING else None,
            )
        )
    return rows
