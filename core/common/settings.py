"""The ``RESTUDIO_*`` environment variables, read in one place: :class:`Settings`.

:meth:`Settings.from_env` parses and validates every variable; a value that cannot be used (a CPU-job cap
that is not a whole number, a cancel budget that is not a number of seconds) raises :class:`SettingsError`,
a :class:`~core.common.config.ConfigError` naming the variable. Call it where a value is needed, not at
import time: tests and the job backends change the environment while the process runs.

The workspace folder has one resolution, :func:`resolve_home`: an explicit folder (``--home``, a training
config's ``workspace``, a ``Workspace(root)`` argument), else ``$RESTUDIO_HOME``, else a default (``./workspace``
for the CLI and ``core``; the app passes its own folder's ``workspace``), with ``~`` expanded and made absolute.

The ``*_ENV`` constants are the variables' names, for code that sets them for a child process (the job
backends set :data:`JOB_ID_ENV`, :data:`RUN_DIR_ENV`, :data:`HOME_ENV` and :data:`CANCEL_BUDGET_ENV` for each
job) and for messages.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.common.config import ConfigError

__all__ = [
    "AUTHOR_ENV",
    "CANCEL_BUDGET_ENV",
    "CONFIG_ENV",
    "DEBUG_ENV",
    "DEFAULT_HOME",
    "HOME_ENV",
    "HUB_DOWNLOAD_ENV",
    "JOB_ID_ENV",
    "MAX_CPU_JOBS_ENV",
    "NO_DEMO_JOBS_ENV",
    "NO_WATCHER_ENV",
    "RUN_DIR_ENV",
    "SECRETS_FILE_ENV",
    "Settings",
    "SettingsError",
    "resolve_home",
]

HOME_ENV = "RESTUDIO_HOME"
AUTHOR_ENV = "RESTUDIO_AUTHOR"
CANCEL_BUDGET_ENV = "RESTUDIO_CANCEL_BUDGET_S"
CONFIG_ENV = "RESTUDIO_CONFIG"
DEBUG_ENV = "RESTUDIO_DEBUG"
HUB_DOWNLOAD_ENV = "RESTUDIO_HUB_DOWNLOAD"
JOB_ID_ENV = "RESTUDIO_JOB_ID"
MAX_CPU_JOBS_ENV = "RESTUDIO_MAX_CPU_JOBS"
NO_DEMO_JOBS_ENV = "RESTUDIO_NO_DEMO_JOBS"
NO_WATCHER_ENV = "RESTUDIO_NO_WATCHER"
RUN_DIR_ENV = "RESTUDIO_RUN_DIR"
SECRETS_FILE_ENV = "RESTUDIO_SECRETS_FILE"

#: The workspace folder when neither an explicit one nor ``$RESTUDIO_HOME`` is given, relative to the
#: working directory.
DEFAULT_HOME = "workspace"

#: ``$RESTUDIO_HUB_DOWNLOAD`` values that forbid hub downloads (case and surrounding spaces ignored).
_HUB_DOWNLOAD_OFF = ("0", "false", "no", "off")


class SettingsError(ConfigError):
    """An environment variable holds a value that cannot be used; the message names the variable.

    ``name`` is the variable and ``raw`` its value as found, for a caller that tolerates a bad value
    of one variable (the job backends only ever lower the cancel budget with theirs)."""

    def __init__(self, message: str, *, name: str, raw: str) -> None:
        super().__init__(message)
        self.name = name
        self.raw = raw


def resolve_home(
    explicit: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    default: str | os.PathLike[str] = DEFAULT_HOME,
) -> Path:
    """The workspace folder: ``explicit`` when given (not empty), else ``$RESTUDIO_HOME`` when set (not
    empty), else ``default``; ``~`` expanded and made absolute against the working directory.

    Reads only ``RESTUDIO_HOME``, so a bad value of another variable never stops a workspace from opening.
    """
    env = os.environ if environ is None else environ
    return Path(explicit or env.get(HOME_ENV) or default).expanduser().resolve()


def _flag(environ: Mapping[str, str], name: str) -> bool:
    # Set to anything but the empty string turns it on ("0" included): how these have always been read.
    return bool(environ.get(name))


def _text(environ: Mapping[str, str], name: str) -> str | None:
    return environ.get(name) or None


def _max_cpu_jobs(environ: Mapping[str, str]) -> int:
    raw = environ.get(MAX_CPU_JOBS_ENV)
    if raw is None:
        return 1
    if not raw.strip().isdecimal():
        raise SettingsError(
            f"{MAX_CPU_JOBS_ENV} must be a whole number >= 0, got {raw!r}", name=MAX_CPU_JOBS_ENV, raw=raw
        )
    return int(raw)


def _cancel_budget_s(environ: Mapping[str, str]) -> float | None:
    raw = environ.get(CANCEL_BUDGET_ENV, "")
    if not raw.strip():
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value < 0:
        raise SettingsError(
            f"{CANCEL_BUDGET_ENV} must be a number of seconds >= 0, got {raw.strip()!r}.",
            name=CANCEL_BUDGET_ENV,
            raw=raw,
        )
    return value


def _job_id(environ: Mapping[str, str]) -> int | None:
    raw = environ.get(JOB_ID_ENV, "")
    if not raw.strip():
        return None
    if not raw.strip().isdecimal():
        raise SettingsError(f"{JOB_ID_ENV} must be a whole number, got {raw!r}", name=JOB_ID_ENV, raw=raw)
    return int(raw)


def _secrets_files(environ: Mapping[str, str]) -> tuple[str, ...] | None:
    raw = environ.get(SECRETS_FILE_ENV)
    if not raw:
        return None
    return tuple(p for p in raw.split(os.pathsep) if p)


@dataclass(frozen=True)
class Settings:
    """Every ``RESTUDIO_*`` environment variable, parsed. The defaults are those of an unset variable.

    Attributes
    ----------
    home : str or None
        ``RESTUDIO_HOME``: the workspace folder, as given (None: unset or empty). Use :meth:`resolve_home`
        for the folder itself (default ``./workspace``).
    author : str
        ``RESTUDIO_AUTHOR``: the name the CLI records as a job's owner and the app pre-fills as the editor's
        name (default ``""``: the OS user for the CLI, nothing for the app).
    cancel_budget_s : float or None
        ``RESTUDIO_CANCEL_BUDGET_S``: seconds a stopped training run may spend, from the stop request, on
        stopping, saving and predicting; the job backends set it for each job, and set in the process that
        starts jobs it lowers theirs (None: unset or blank; a run then uses its own default). A number >= 0.
    config_file : str or None
        ``RESTUDIO_CONFIG``: the server's ``restudio.toml``, as given (None: unset or empty, the file next to
        ``app.py``).
    debug : bool
        ``RESTUDIO_DEBUG``: set to anything non-empty, the CLI shows the traceback of an unexpected error
        instead of one line (default off).
    hub_download : bool
        ``RESTUDIO_HUB_DOWNLOAD``: ``0``, ``false``, ``no`` or ``off`` forbid hub model downloads; the job
        backends set it for the jobs of a server that forbids them. Nothing here can allow them (default
        True: the server's ``restudio.toml`` decides).
    job_id : int or None
        ``RESTUDIO_JOB_ID``: the id of the job this process runs, set by the job backends (None: not a job).
    max_cpu_jobs : int
        ``RESTUDIO_MAX_CPU_JOBS``: how many jobs the local backend runs at once on the CPU (default 1; 0
        keeps CPU jobs queued). A whole number >= 0.
    no_demo_jobs : bool
        ``RESTUDIO_NO_DEMO_JOBS``: set to anything non-empty, seeding the demo queues no demo training jobs
        (default off).
    no_watcher : bool
        ``RESTUDIO_NO_WATCHER``: set to anything non-empty, the app starts no job watcher thread, so queued
        jobs stay queued (default off).
    run_dir : str or None
        ``RESTUDIO_RUN_DIR``: the run folder of the job this process runs, set by the job backends (None: not
        a job).
    secrets_files : tuple of str or None
        ``RESTUDIO_SECRETS_FILE``: the secrets files the sign-in gate reads, separated by ``os.pathsep``,
        replacing Streamlit's own list (None: unset or empty, Streamlit's list).
    """

    home: str | None = None
    author: str = ""
    cancel_budget_s: float | None = None
    config_file: str | None = None
    debug: bool = False
    hub_download: bool = True
    job_id: int | None = None
    max_cpu_jobs: int = 1
    no_demo_jobs: bool = False
    no_watcher: bool = False
    run_dir: str | None = None
    secrets_files: tuple[str, ...] | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Parse the settings from ``environ`` (the process environment by default).

        Raises
        ------
        SettingsError
            A variable holds a value that cannot be used; the message names it.
        """
        return cls(
            home=_text(environ, HOME_ENV),
            author=environ.get(AUTHOR_ENV, ""),
            cancel_budget_s=_cancel_budget_s(environ),
            config_file=_text(environ, CONFIG_ENV),
            debug=_flag(environ, DEBUG_ENV),
            hub_download=environ.get(HUB_DOWNLOAD_ENV, "").strip().lower() not in _HUB_DOWNLOAD_OFF,
            job_id=_job_id(environ),
            max_cpu_jobs=_max_cpu_jobs(environ),
            no_demo_jobs=_flag(environ, NO_DEMO_JOBS_ENV),
            no_watcher=_flag(environ, NO_WATCHER_ENV),
            run_dir=_text(environ, RUN_DIR_ENV),
            secrets_files=_secrets_files(environ),
        )

    def resolve_home(
        self, explicit: str | os.PathLike[str] | None = None, *, default: str | os.PathLike[str] = DEFAULT_HOME
    ) -> Path:
        """The workspace folder, as :func:`resolve_home` finds it with these settings' ``RESTUDIO_HOME``."""
        return resolve_home(explicit, environ={HOME_ENV: self.home} if self.home else {}, default=default)
