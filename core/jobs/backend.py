"""What every job backend shares: the :class:`Backend` protocol and what a backend gives a job.

Owns the interface the local and Ray backends implement, the cancel grace and the cancel budget passed
to each job (:func:`cancel_budget_s`), the environment that carries the server's hub-download refusal
(:func:`hub_env`), how an exit status and a log tail are described in a job's error, and
:data:`REPO_ROOT` (the checkout a job runs from). Kept apart so neither backend imports the other.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Protocol, runtime_checkable

from core.common.config import load_server_config
from core.common.settings import CANCEL_BUDGET_ENV, HUB_DOWNLOAD_ENV, Settings, SettingsError
from core.jobs.store import Job
from core.store.runs import JOB_LOG_FILE, log_tail

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]

DEFAULT_GRACE_S = 20.0
#: Kept between the end of a job's cancel budget (``$RESTUDIO_CANCEL_BUDGET_S``, passed to every job and
#: read by core.train.callbacks) and SIGKILL: the run's last summary write and the interpreter's
#: exit (freeing torch), and the wrapper's record, on a machine that may be busy.
CANCEL_MARGIN_S = 5.0
LOG_TAIL_LINES = 30


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


# -- helpers shared by the backends ---------------------------------------------------------------


def cancel_budget_s(grace_s: float) -> float:
    """The cancel budget a job gets for a grace period: the grace less :data:`CANCEL_MARGIN_S`, at most
    three quarters of it, never below 0; lowered further by ``$RESTUDIO_CANCEL_BUDGET_S`` when the process
    that starts jobs has it set (never raised by it: a budget past the grace ends in SIGKILL)."""
    budget = max(0.0, min(grace_s - CANCEL_MARGIN_S, 0.75 * grace_s))
    try:
        own = Settings.from_env().cancel_budget_s
    except SettingsError as exc:
        if exc.name != CANCEL_BUDGET_ENV:
            raise
        # A value a job would refuse can still lower the budget here: negative counts as 0.
        own = None
        try:
            own = max(0.0, float(exc.raw.strip()))
        except ValueError:
            log.warning("ignoring %s=%r: not a number of seconds", CANCEL_BUDGET_ENV, exc.raw.strip())
    if own is not None:
        budget = min(budget, own)
    return budget


def describe_exit(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def with_log_tail(message: str, job: Job) -> str:
    tail = log_tail(job.log_path, lines=LOG_TAIL_LINES)
    return f"{message}\n--- last lines of {JOB_LOG_FILE} ---\n{tail}" if tail else message


def hub_env() -> dict[str, str]:
    """Environment a job gets when the server forbids hub downloads (see :data:`HUB_DOWNLOAD_ENV`)."""
    try:
        allowed = load_server_config().allow_hub_download
    except ValueError:  # a broken restudio.toml: fail closed (the trainer then names the file's problem)
        allowed = False
    return {} if allowed else {HUB_DOWNLOAD_ENV: "0", "HF_HUB_OFFLINE": "1"}
