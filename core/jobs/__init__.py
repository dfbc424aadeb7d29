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

from core.jobs.backend import (
    CANCEL_BUDGET_ENV,
    CANCEL_MARGIN_S,
    DEFAULT_GRACE_S,
    HUB_DOWNLOAD_ENV,
    LOG_TAIL_LINES,
    REPO_ROOT,
    Backend,
    cancel_budget_s,
)
from core.jobs.gpu import Gpu, list_gpus
from core.jobs.local import START_TIMEOUT_S, LocalBackend, wrap_main
from core.jobs.monitor import JobRow, Progress, ResourceUsage, job_rows, progress, resource_usage
from core.jobs.ray_backend import (
    RAY_CONFIG_HINT,
    RAY_EXCLUDES,
    RAY_SUBMIT_GRACE_S,
    RayBackend,
    check_ray_address,
    ray_address_allowed,
    ray_clusters,
    ray_excludes,
    resolve_ray_cluster,
)
from core.jobs.store import (
    BACKENDS,
    CANCELLED,
    COORDINATOR_KINDS,
    FAILED,
    FINAL,
    LOST,
    QUEUED,
    RUN_DIR_TOKEN,
    RUNNING,
    STATUSES,
    SUCCEEDED,
    TRANSITIONS,
    Job,
    JobError,
    JobStore,
    QueueFull,
    TransitionError,
    check_queue_room,
    default_owner,
    normalize_gpu,
)
from core.jobs.submit import (
    CONFIG_JOB_KINDS,
    backend_for,
    cancel_job,
    job_logs,
    predict_command,
    predict_target,
    submit_job,
    submit_predictions,
    submit_tapt,
    submit_training,
    training_command,
)
from core.jobs.watch import Watcher, ensure_watcher
from core.store.runs import JOB_CONFIG_FILE, JOB_LOG_FILE
from core.store.runs import JOB_EXIT_FILE as EXIT_FILE

__all__ = [
    "BACKENDS",
    "CANCELLED",
    "CANCEL_BUDGET_ENV",
    "CANCEL_MARGIN_S",
    "CONFIG_JOB_KINDS",
    "COORDINATOR_KINDS",
    "DEFAULT_GRACE_S",
    "EXIT_FILE",
    "FAILED",
    "FINAL",
    "HUB_DOWNLOAD_ENV",
    "JOB_CONFIG_FILE",
    "JOB_LOG_FILE",
    "LOG_TAIL_LINES",
    "LOST",
    "QUEUED",
    "RAY_CONFIG_HINT",
    "RAY_EXCLUDES",
    "RAY_SUBMIT_GRACE_S",
    "REPO_ROOT",
    "RUNNING",
    "RUN_DIR_TOKEN",
    "START_TIMEOUT_S",
    "STATUSES",
    "SUCCEEDED",
    "TRANSITIONS",
    "Backend",
    "Gpu",
    "Job",
    "JobError",
    "JobRow",
    "JobStore",
    "LocalBackend",
    "Progress",
    "QueueFull",
    "RayBackend",
    "ResourceUsage",
    "TransitionError",
    "Watcher",
    "backend_for",
    "cancel_budget_s",
    "cancel_job",
    "check_queue_room",
    "check_ray_address",
    "default_owner",
    "ensure_watcher",
    "job_logs",
    "job_rows",
    "list_gpus",
    "normalize_gpu",
    "predict_command",
    "predict_target",
    "progress",
    "ray_address_allowed",
    "ray_clusters",
    "ray_excludes",
    "resolve_ray_cluster",
    "resource_usage",
    "submit_job",
    "submit_predictions",
    "submit_tapt",
    "submit_training",
    "training_command",
    "wrap_main",
]
