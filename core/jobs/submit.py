"""Submitting and managing jobs by id, whichever backend runs them: the entry points of the views and CLI.

Owns :func:`submit_job` and its training and predict forms (:func:`submit_training`,
:func:`submit_predictions`, with the commands they run), :func:`backend_for`, :func:`cancel_job` and
:func:`job_logs`. It picks the backend and applies the queue caps; the backends themselves only run
jobs already in the store.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from core.common.config import ServerConfig
from core.jobs.backend import Backend
from core.jobs.local import LocalBackend
from core.jobs.ray_backend import RayBackend
from core.jobs.store import (
    BACKENDS,
    QUEUED,
    RUN_DIR_TOKEN,
    RUNNING,
    Job,
    JobError,
    as_store,
    normalize_gpu,
    server_caps,
)
from core.store.runs import JOB_CONFIG_FILE, pending_predictions

#: Job kinds whose command takes a config file and a run folder: fine-tuning and TAPT.
CONFIG_JOB_KINDS: tuple[str, ...] = ("train", "tapt")


def backend_for(job: Job, store_or_root: Any = None, **options: Any) -> Backend:
    """The backend that runs ``job`` (for cancel and logs from the views and the CLI)."""
    store = as_store(store_or_root)
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
        store = as_store(store_or_root)
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
        caps=server_caps(server_config),
    )
    return runner.submit(job)


def training_command(python: str = sys.executable, *, verb: str = "train") -> list[str]:
    """The command a training job runs (with :data:`RUN_DIR_TOKEN` for its run folder); ``verb`` ``tapt`` for
    a TAPT job, which takes its config and run folder the same way."""
    return [python, "-m", "core", verb, f"{RUN_DIR_TOKEN}/{JOB_CONFIG_FILE}", "--run-dir", RUN_DIR_TOKEN]


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
    kind: str = "train",
) -> Job:
    """Queue a fine-tuning job: ``RUN_DIR/job_config.json`` holds ``config`` and the job runs
    ``python -m core train RUN_DIR/job_config.json --run-dir RUN_DIR``.

    Validating ``config`` is the caller's part (``core.train.training``), before calling this. ``kind`` ``tapt``
    queues a TAPT job instead (:func:`submit_tapt`). The other options are :func:`submit_job`'s.
    """
    if not isinstance(config, Mapping):
        raise JobError(f"a training config must be a mapping of options, got {type(config).__name__}")
    if kind not in CONFIG_JOB_KINDS:
        raise JobError(f"unknown training job kind {kind!r}; known: {', '.join(CONFIG_JOB_KINDS)}")
    return submit_job(
        store_or_root,
        training_command(verb=kind),
        name=name,
        kind=kind,
        backend=backend,
        gpu=gpu,
        config=config,
        ray_address=ray_address,
        group_id=group_id,
        parent_id=parent_id,
        owner=owner,
        server_config=server_config,
    )


def submit_tapt(store_or_root: Any, config: Mapping[str, Any], *, name: str, **options: Any) -> Job:
    """Queue a TAPT job (``python -m core tapt RUN_DIR/job_config.json --run-dir RUN_DIR``): masked-LM
    pretraining that writes a backbone folder into the workspace. Validating ``config`` is the caller's part
    (``core.train.tapt.validate_tapt``); ``options`` are :func:`submit_training`'s."""
    return submit_training(store_or_root, config, name=name, kind="tapt", **options)


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
    store = as_store(store_or_root)
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
    store = as_store(store_or_root)
    job = store.get_job(job_id)
    return backend_for(job, store).cancel(job, grace_s=grace_s, wait=wait)


def job_logs(store_or_root: Any, job_id: int, tail_lines: int = 200) -> str:
    """The last lines of a job's log, whichever backend runs it."""
    store = as_store(store_or_root)
    job = store.get_job(job_id)
    return backend_for(job, store).logs(job, tail_lines)
