"""Hyperparameter sweeps: an Optuna study over training options whose trials are ordinary training jobs.

A sweep is a base training config, a search space (:mod:`core.train.sweep_space`) and :class:`SweepOptions`
(how many trials, how many at once, sampler, pruner, backend). Its Optuna study lives in the workspace, in
``WORKSPACE/sweeps.sqlite`` (Optuna's RDB storage, a file of its own beside ``restudio.db`` so Optuna's tables and
migrations never touch the workspace's), under the sweep's name; every trial is a training job of the job system
(:func:`core.jobs.submit_training`, ``group_id`` the sweep's name), with its run folder in ``WORKSPACE/runs/``,
curves, log, cancel and restart safety like any other run.

The driver (:func:`drive`) is Optuna's ask-and-tell loop around the job system; it is the only process that
writes the study. Each round (:func:`advance`) it

1. reads every unfinished trial's job: a finished job tells the trial its dev micro-F1 (``summary.json``) or
   fails it with the job's error; a running one reports each new evaluation's dev micro-F1 as an intermediate
   value (step = the evaluation's number, so trials with other batch sizes or epochs compare at the same point),
   and when the pruner says so the job is cancelled and the trial marked pruned at that evaluation;
2. asks for new trials until ``parallel`` are queued or running and ``trials`` have finished or are under way.

Nothing lives only in the driver's memory: the study holds the trials and the job each one runs, the job table
the jobs. A driver that is killed (the app or the machine restarted) leaves its trials' jobs running on their
own; :func:`resume_sweep` (``python -m core sweep --resume NAME``, the Train view's Resume) starts a new driver,
which picks the running trials up where they are. A file lock (``WORKSPACE/sweeps/<name>.lock``, released by the
OS when its process dies) keeps a second driver off the same sweep. The app starts the driver as a background
job of kind ``sweep``, which takes no CPU or GPU slot (:data:`core.jobs.store.COORDINATOR_KINDS`): it only
submits and watches jobs. Cancelling it stops the sweep: its running trials are cancelled and marked failed
("sweep stopped"), and a later resume runs new trials in their place.

Trials that fail do not count towards ``trials``; a sweep whose failed trials reach ``trials`` gives up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import math
import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.common.errors import RestudioError
from core.common.settings import resolve_home
from core.store.runs import read_metric_records, read_summary
from core.train.config import ConfigError, TrainConfig
from core.train.sweep_space import Dimension, contains, distributions, parse_space, space_mapping, text_mapping

SWEEPS_DB = "sweeps.sqlite"
SWEEP_KIND = "sweep"
SAMPLERS: tuple[str, ...] = ("tpe", "random")
PRUNERS: tuple[str, ...] = ("median", "none")
MAX_TRIALS = 500
MAX_PARALLEL = 32
#: Sweep states: ``running`` (a driver job is queued or running, or a process holds the driver lock),
#: ``finished`` (every trial done, or it gave up), ``paused`` (no driver: stopped, or its driver was killed;
#: :func:`resume_sweep` continues it).
RUNNING, FINISHED, PAUSED = "running", "finished", "paused"


class SweepError(RestudioError):
    """A sweep request that cannot be honoured (unknown sweep, one already driven, bad option)."""


def _opt(default: Any, help_: str) -> Any:
    return field(default=default, metadata={"help": help_})


@dataclass(frozen=True)
class SweepOptions:
    """How a sweep runs (the CLI's flags and the Train view's sweep form)."""

    trials: int = _opt(12, "trials to finish (completed or pruned; failed trials do not count)")
    parallel: int = _opt(1, "trials queued or running at once (the job queue still decides what runs)")
    sampler: str = _opt("tpe", f"Optuna sampler: {', '.join(SAMPLERS)}")
    pruner: str = _opt("median", f"Optuna pruner on each evaluation's dev micro-F1: {', '.join(PRUNERS)}")
    startup_trials: int = _opt(2, "finished trials before the pruner may stop one")
    warmup_evals: int = _opt(1, "evaluations every trial gets before it may be pruned")
    seed: int = _opt(0, "sampler seed")
    try_base: bool = _opt(True, "the first trial is the base config's own values (where they lie in the space)")
    backend: str = _opt("local", "where trials run: local or ray")
    gpu: str | None = _opt(None, "trials' GPU request: None any free GPU (else the CPU), '' the CPU, 'N' GPU N")
    ray_address: str | None = _opt(None, "with backend ray: the address of one of the clusters in restudio.toml")

    def problems(self) -> list[str]:
        out = []
        if not 1 <= self.trials <= MAX_TRIALS:
            out.append(f"trials must be between 1 and {MAX_TRIALS}, got {self.trials}")
        if not 1 <= self.parallel <= MAX_PARALLEL:
            out.append(f"parallel must be between 1 and {MAX_PARALLEL}, got {self.parallel}")
        if self.sampler not in SAMPLERS:
            out.append(f"sampler {self.sampler!r} is not one of {', '.join(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            out.append(f"pruner {self.pruner!r} is not one of {', '.join(PRUNERS)}")
        if self.startup_trials < 0:
            out.append(f"startup_trials must not be negative, got {self.startup_trials}")
        if self.warmup_evals < 0:
            out.append(f"warmup_evals must not be negative, got {self.warmup_evals}")
        if self.backend not in ("local", "ray"):
            out.append(f"backend must be local or ray, got {self.backend!r}")
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class TrialRow:
    """One trial as the views and ``--json`` show it. ``state``: complete, pruned, failed, running (its job
    queued or running) or waiting (enqueued with the base config's values, not started yet). ``micro_f1`` and
    ``auprc`` are the run's dev scores (best checkpoint); ``evals`` the dev micro-F1 of each evaluation reported so
    far, by evaluation number."""

    number: int
    state: str
    params: dict[str, Any]
    micro_f1: float | None
    auprc: float | None
    job_id: int | None
    run_dir: str | None
    evals: dict[int, float]
    pruned_eval: int | None = None
    pruned_step: int | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "state": self.state,
            "params": self.params,
            "micro_f1": self.micro_f1,
            "auprc": self.auprc,
            "pruned_at": None
            if self.pruned_eval is None
            else {"evaluation": self.pruned_eval, "step": self.pruned_step},
            "job": self.job_id,
            "run_dir": self.run_dir,
            "error": self.error,
        }


@dataclass(frozen=True)
class SweepStatus:
    """A sweep as it stands: its definition, trials (in trial order) and driver."""

    name: str
    dataset: str
    created_at: str
    owner: str | None
    options: SweepOptions
    base: dict[str, Any]
    space: dict[str, Any]
    trials: tuple[TrialRow, ...]
    driver_job: int | None
    state: str
    gave_up: bool = False

    def count(self, state: str) -> int:
        return sum(t.state == state for t in self.trials)

    @property
    def finished_trials(self) -> int:
        return self.count("complete") + self.count("pruned")

    @property
    def best(self) -> TrialRow | None:
        done = [t for t in self.trials if t.state == "complete" and t.micro_f1 is not None]
        return max(done, key=lambda t: (t.micro_f1, -t.number)) if done else None

    def ranked(self) -> list[TrialRow]:
        """Trials best first: completed by dev micro-F1, then pruned by their last reported value, then the rest."""
        order = {"complete": 0, "pruned": 1, "running": 2, "waiting": 3, "failed": 4}

        def key(t: TrialRow) -> tuple[int, float, int]:
            value = t.micro_f1 if t.micro_f1 is not None else (max(t.evals.values()) if t.evals else -math.inf)
            return order.get(t.state, 4), -value, t.number

        return sorted(self.trials, key=key)

    def to_json(self) -> dict[str, Any]:
        best = self.best
        return {
            "name": self.name,
            "dataset": self.dataset,
            "state": self.state,
            "created_at": self.created_at,
            "owner": self.owner,
            "options": dataclasses.asdict(self.options),
            "space": self.space,
            "base": self.base,
            "counts": {s: self.count(s) for s in ("complete", "pruned", "failed", "running", "waiting")},
            "best": None if best is None else {"number": best.number, "micro_f1": best.micro_f1, "params": best.params},
            "trials": [t.to_json() for t in self.ranked()],
        }


# -- storage ----------------------------------------------------------------------------------------------


def _root(root: Any) -> Path:
    if root is None or isinstance(root, str | os.PathLike):  # (a Path has a `root` attribute too: "/")
        return resolve_home(None if root is None else str(root))
    return Path(root.root)  # a Workspace or JobStore


_STORAGES: dict[Path, Any] = {}
_STORAGES_GUARD = threading.Lock()


def storage(root: Any) -> Any:
    """Optuna's RDB storage on ``WORKSPACE/sweeps.sqlite`` (made on first use), one per file and process: opening
    one checks the schema's version, which the Train page's refresh every 2 s should not pay each time."""
    import optuna

    path = _root(root) / SWEEPS_DB
    with _STORAGES_GUARD:
        if path not in _STORAGES or not path.exists():
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            # A reader (the app) and the driver share the file: wait for each other's writes instead of failing.
            _STORAGES[path] = optuna.storages.RDBStorage(
                f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 30}}
            )
        return _STORAGES[path]


def _study(root: Any, name: str, options: SweepOptions | None = None, n_trials: int = 0) -> Any:
    import optuna

    store = storage(root)
    try:
        study = optuna.load_study(study_name=name, storage=store)
    except KeyError:
        raise SweepError(f"no sweep named {name!r} in {_root(root) / SWEEPS_DB}") from None
    if options is None:
        return study
    # Seeded per round by how many trials exist, so a driver that restarts never replays the same draws.
    seed = options.seed + n_trials
    if options.sampler == "random":
        sampler: Any = optuna.samplers.RandomSampler(seed=seed)
    else:
        # Optuna's default of 10 random trials would leave a 12-trial sweep almost unguided.
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(3, options.trials // 3)))
    if options.pruner == "median":
        pruner: Any = optuna.pruners.MedianPruner(
            n_startup_trials=options.startup_trials, n_warmup_steps=options.warmup_evals
        )
    else:
        pruner = optuna.pruners.NopPruner()
    return optuna.load_study(study_name=name, storage=store, sampler=sampler, pruner=pruner)


def _attrs(study: Any) -> dict[str, Any]:
    attrs = dict(study.user_attrs)
    if "base" not in attrs:
        raise SweepError(f"study {study.study_name!r} was not made by RE Studio (it has no base config)")
    return attrs


# -- making and starting ----------------------------------------------------------------------------------


def create_sweep(
    root: Any,
    base: TrainConfig | Mapping[str, Any],
    space: Mapping[str, Any] | str,
    options: SweepOptions | None = None,
    *,
    fixed: Mapping[str, Any] | str | None = None,
    name: str | None = None,
    owner: str | None = None,
    source: str = "search space",
) -> str:
    """Check everything and store a new study; returns its name. ``space`` is a mapping or the text of a space file
    (YAML); ``fixed`` (a mapping or its YAML text) sets options over ``base`` on every trial. Nothing runs until
    :func:`drive` or :func:`start_driver`. Raises
    :class:`~core.train.config.ConfigError` (base config or space) or :class:`SweepError` (options, a name in use),
    with nothing written."""
    import optuna

    from core.jobs import default_owner
    from core.train import training

    options = options or SweepOptions()
    problems = options.problems()
    if problems:
        raise SweepError("Sweep refused: " + "; ".join(problems) + ".")
    raw = dict(base) if isinstance(base, Mapping) else base.to_dict()
    raw.update(text_mapping(fixed, source="Fixed options"))
    cfg = training.validate({**raw, "workspace": str(_root(root))})
    dims = parse_space(space_mapping(space, source=source), base=cfg, source=source)
    name = name or f"sweep-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    store = storage(root)
    try:
        study = optuna.create_study(study_name=name, storage=store, direction="maximize")
    except optuna.exceptions.DuplicatedStudyError:
        raise SweepError(f"a sweep named {name!r} exists already") from None
    study.set_user_attr("base", cfg.to_dict())
    study.set_user_attr("space", {n: d.to_spec() for n, d in dims.items()})
    study.set_user_attr("options", dataclasses.asdict(options))
    study.set_user_attr("dataset", cfg.dataset)
    study.set_user_attr("owner", owner or default_owner())
    study.set_user_attr("created_at", datetime.now(UTC).isoformat(timespec="seconds"))
    if options.try_base:
        own = {n: getattr(cfg, n) for n, d in dims.items() if contains(d, getattr(cfg, n))}
        if own:
            study.enqueue_trial(own)
    return name


def _live_driver(root: Any, name: str) -> Any:
    from core.jobs import QUEUED, RUNNING, JobStore

    jobs = JobStore(root).list_jobs(group_id=name, status=(QUEUED, RUNNING))
    return next((j for j in jobs if j.kind == SWEEP_KIND), None)


def driver_command(root: Any, name: str, python: str = sys.executable) -> list[str]:
    """What a sweep's driver job runs: ``python -m core sweep --resume NAME --home WORKSPACE``."""
    return [python, "-m", "core", "sweep", "--resume", name, "--home", str(_root(root))]


def start_driver(root: Any, name: str, *, owner: str | None = None) -> Any:
    """Queue the sweep's driver as a background job (kind ``sweep``, no CPU or GPU slot) and return the job.
    Refused when a driver job of this sweep is queued or running, or the sweep has finished."""
    from core.jobs import submit_job

    status = sweep_status(root, name)
    live = _live_driver(root, name)
    if live is not None:
        raise SweepError(f"sweep {name!r} is already running (driver job #{live.id})")
    if _driven(root, name):
        raise SweepError(f"sweep {name!r} is already running (driven by `python -m core sweep` in a shell)")
    if status.state == FINISHED:
        raise SweepError(f"sweep {name!r} has finished: start a new one to try more")
    _request_stop(root, name, False)
    return submit_job(
        root,
        driver_command(root, name),
        name=f"{name} driver",
        kind=SWEEP_KIND,
        gpu="",
        group_id=name,
        owner=owner,
    )


def start_sweep(
    root: Any,
    base: TrainConfig | Mapping[str, Any],
    space: Mapping[str, Any] | str,
    options: SweepOptions | None = None,
    *,
    fixed: Mapping[str, Any] | str | None = None,
    owner: str | None = None,
    source: str = "search space",
) -> tuple[str, Any]:
    """:func:`create_sweep` then :func:`start_driver`: the Train view's "Start sweep". Returns (name, driver job)."""
    name = create_sweep(root, base, space, options, fixed=fixed, owner=owner, source=source)
    return name, start_driver(root, name, owner=owner)


def resume_sweep(root: Any, name: str, *, owner: str | None = None) -> Any:
    """Start a new driver for a paused sweep (its trials still running are picked up, not rerun)."""
    return start_driver(root, name, owner=owner)


# -- the driver -------------------------------------------------------------------------------------------


def _lock_path(root: Any, name: str) -> Path:
    return _root(root) / "sweeps" / f"{name}.lock"


def _driven(root: Any, name: str) -> bool:
    """Whether some process holds the sweep's driver lock (a driver job, or ``python -m core sweep`` in a shell).

    flock locks belong to an open file, so this sees the lock even from inside the driving process."""
    path = _lock_path(root, name)
    if not path.exists():
        return False
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


@contextlib.contextmanager
def _driver_lock(root: Any, name: str) -> Iterator[None]:
    path = _lock_path(root, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepError(f"sweep {name!r} is already being driven by another process") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _set(study: Any, trial: Any, key: str, value: Any) -> None:
    """Set a user attribute on a trial of ``study`` (a frozen or live one) by its id."""
    import optuna

    optuna.trial.Trial(study, trial._trial_id).set_user_attr(key, value)


def _evaluations(run_dir: str) -> list[tuple[int, int, float]]:
    """(evaluation number, optimizer step, dev micro-F1) of each evaluation a run has logged."""
    out = []
    for record in read_metric_records(run_dir):
        if record.get("kind") == "eval" and record.get("eval_micro_f1") is not None:
            out.append((len(out) + 1, int(record.get("step") or 0), float(record["eval_micro_f1"])))
    return out


def advance(root: Any, name: str, *, echo: Callable[[str], None] | None = None) -> SweepStatus:
    """One round of the driver: record what the trials' jobs did, prune, and ask for new trials. Call it with the
    driver lock held (:func:`drive` does)."""
    import optuna
    from optuna.trial import TrialState

    from core.jobs import SUCCEEDED, JobStore, QueueFull, cancel_job, check_queue_room, submit_training
    from core.train import training

    say = echo or (lambda _msg: None)
    plain = _study(root, name)
    attrs = _attrs(plain)
    options = SweepOptions.from_dict(attrs["options"])
    study = _study(root, name, options, len(plain.get_trials(deepcopy=False)))
    store = JobStore(root)
    jobs = {j.id: j for j in store.list_jobs(group_id=name)}
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        job = jobs.get(frozen.user_attrs.get("job_id"))
        if job is None:
            frozen_error = "no job was recorded for it (its driver stopped while submitting)"
            _set(study, frozen, "error", frozen_error)
            study.tell(frozen.number, state=TrialState.FAIL)
            continue
        trial = optuna.trial.Trial(study, frozen._trial_id)
        reported = set(frozen.intermediate_values)
        pruned = False
        for number, step, value in _evaluations(job.run_dir):
            if number in reported:
                continue
            trial.report(value, number)
            _set(study, frozen, "last_step", step)
            if not job.is_final and trial.should_prune():
                _set(study, frozen, "pruned_at", {"evaluation": number, "step": step})
                with contextlib.suppress(RestudioError):
                    cancel_job(store, job.id, wait=False)
                study.tell(frozen.number, state=TrialState.PRUNED)
                say(f"trial {frozen.number}: pruned at evaluation {number} (step {step}, dev micro-F1 {value:.2f})")
                pruned = True
                break
        if pruned or not job.is_final:
            continue
        summary = read_summary(job.run_dir) or {}
        dev = summary.get("dev")
        if job.status == SUCCEEDED and dev and dev.get("micro_f1") is not None:
            _set(study, frozen, "auprc", dev.get("auprc"))
            study.tell(frozen.number, float(dev["micro_f1"]))
            say(f"trial {frozen.number}: dev micro-F1 {dev['micro_f1']:.2f}, AUPRC {dev.get('auprc') or 0:.2f}")
        else:
            error = job.error or f"its job ended {job.status}" + ("" if dev else " without dev scores")
            _set(study, frozen, "error", error)
            study.tell(frozen.number, state=TrialState.FAIL)
            say(f"trial {frozen.number}: failed: {error}")

    trials = study.get_trials(deepcopy=False)
    finished = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    failed = sum(t.state == TrialState.FAIL for t in trials)
    in_flight = sum(t.state == TrialState.RUNNING for t in trials)
    dims = {n: Dimension.from_spec(n, spec) for n, spec in attrs["space"].items()}
    space = distributions(dims)
    while (
        in_flight < options.parallel
        and finished + in_flight < options.trials
        and failed < options.trials
        and not _stopping.is_set()
    ):
        try:  # a full queue (the server's caps) waits for a later round instead of failing a trial
            check_queue_room(store, owner=attrs.get("owner"))
        except QueueFull as exc:
            say(f"waiting for room in the queue: {exc}")
            break
        trial = study.ask(space)
        params = dict(trial.params)
        try:
            cfg = training.validate({**attrs["base"], **params}, check_data=False)
            job = submit_training(
                root,
                cfg.to_dict(),
                name=f"{name} · trial {trial.number}",
                backend=options.backend,
                gpu=options.gpu,
                ray_address=_ray_address(options),
                group_id=name,
                owner=attrs.get("owner"),
            )
        except RestudioError as exc:
            _set(study, trial, "error", str(exc))
            study.tell(trial, state=TrialState.FAIL)
            failed += 1
            say(f"trial {trial.number}: refused: {exc}")
            if isinstance(exc, ConfigError):
                continue
            break  # the backend refused: the next round tries again
        _set(study, trial, "job_id", job.id)
        _set(study, trial, "run_dir", job.run_dir)
        in_flight += 1
        say(f"trial {trial.number}: job #{job.id} {params}")
    return sweep_status(root, name)


def _ray_address(options: SweepOptions) -> str | None:
    return options.ray_address if options.backend == "ray" else None


#: Set by SIGTERM/SIGINT in a driver process (or by a caller's ``stop`` event): the driver stops the sweep.
_stopping = threading.Event()


def halt(root: Any, name: str, *, reason: str = "sweep stopped") -> int:
    """Cancel the running trials' jobs and fail their trials (a resume runs new ones); returns how many."""
    from optuna.trial import TrialState

    from core.jobs import JobStore, cancel_job

    study = _study(root, name)
    store = JobStore(root)
    n = 0
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        job_id = frozen.user_attrs.get("job_id")
        if job_id is not None:
            with contextlib.suppress(RestudioError):
                cancel_job(store, int(job_id), wait=False)
        _set(study, frozen, "error", reason)
        # Another process may be stopping the same trials (the view while a CLI driver halts): once is enough.
        study.tell(frozen.number, state=TrialState.FAIL, skip_if_finished=True)
        n += 1
    return n


def _stop_requested(root: Any, name: str) -> bool:
    return bool(_study(root, name).user_attrs.get("stop_requested"))


def _request_stop(root: Any, name: str, wanted: bool) -> None:
    _study(root, name).set_user_attr("stop_requested", wanted)


def stop_sweep(root: Any, name: str) -> None:
    """Stop a sweep: its driver (a job, or a ``python -m core sweep`` in a shell, which checks each round) stops its
    running trials and ends; with no driver, the trials are stopped here. A resume clears the request."""
    from core.jobs import cancel_job

    _request_stop(root, name, True)
    live = _live_driver(root, name)
    if live is not None:
        cancel_job(root, live.id, wait=False)
    else:
        halt(root, name)


def drive(
    root: Any,
    name: str,
    *,
    poll_s: float = 2.0,
    echo: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> SweepStatus:
    """Run the sweep to its end here: :func:`advance` every ``poll_s`` seconds, reconciling the job backends in
    between so queued trials start without the app open. Returns the final status; when ``stop`` (or SIGTERM /
    SIGINT, in the main thread) comes first, the running trials are stopped (:func:`halt`) and the sweep is left
    paused."""
    from core.jobs import Watcher

    watcher = Watcher(root)
    stop = stop or _stopping
    restore = _install_signals() if threading.current_thread() is threading.main_thread() else None
    try:
        with _driver_lock(root, name):
            while True:
                watcher.tick()
                if stop.is_set() or _stopping.is_set() or _stop_requested(root, name):
                    n = halt(root, name)
                    if echo:
                        echo(f"stopped: {n} running trial(s) cancelled")
                    break
                status = advance(root, name, echo=echo)
                if status.state == FINISHED or status.gave_up:
                    break
                stop.wait(poll_s)
        return sweep_status(root, name)  # read once the lock is let go: a stopped sweep is paused, not running
    finally:
        if restore:
            restore()


def _install_signals() -> Callable[[], None]:
    _stopping.clear()
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

    def handler(_signum: int, _frame: Any) -> None:
        _stopping.set()

    for s in previous:
        signal.signal(s, handler)

    def restore() -> None:
        for s, h in previous.items():
            signal.signal(s, h)
        _stopping.clear()

    return restore


# -- reading ----------------------------------------------------------------------------------------------


def _row(frozen: Any, jobs: Mapping[int, Any]) -> TrialRow:
    from optuna.trial import TrialState

    attrs = frozen.user_attrs
    job = jobs.get(attrs.get("job_id"))
    state = {
        TrialState.COMPLETE: "complete",
        TrialState.PRUNED: "pruned",
        TrialState.FAIL: "failed",
        TrialState.WAITING: "waiting",  # enqueued (the base config's values), not asked for yet
    }.get(frozen.state, "running")
    pruned = attrs.get("pruned_at") or {}
    return TrialRow(
        number=frozen.number,
        state=state,
        params=dict(frozen.params),
        micro_f1=frozen.value if frozen.state == TrialState.COMPLETE else None,
        auprc=attrs.get("auprc"),
        job_id=attrs.get("job_id"),
        run_dir=attrs.get("run_dir") or (job.run_dir if job is not None else None),
        evals={int(k): float(v) for k, v in frozen.intermediate_values.items()},
        pruned_eval=pruned.get("evaluation"),
        pruned_step=pruned.get("step"),
        error=attrs.get("error"),
    )


def sweep_status(root: Any, name: str) -> SweepStatus:
    """The sweep's definition, trials and state, read from the study and the job table."""
    from core.jobs import JobStore

    study = _study(root, name)
    attrs = _attrs(study)
    options = SweepOptions.from_dict(attrs["options"])
    jobs = {j.id: j for j in JobStore(root).list_jobs(group_id=name)}
    trials = tuple(_row(t, jobs) for t in study.get_trials(deepcopy=False))
    live = next((j for j in jobs.values() if j.kind == SWEEP_KIND and not j.is_final), None)
    drivers = sorted((j for j in jobs.values() if j.kind == SWEEP_KIND), key=lambda j: j.id)
    driver = live or (drivers[-1] if drivers else None)  # the running driver, else the latest one
    done = sum(t.state in ("complete", "pruned") for t in trials)
    failed = sum(t.state == "failed" for t in trials)
    running = sum(t.state in ("running", "waiting") for t in trials)
    gave_up = failed >= options.trials and running == 0 and done < options.trials
    finished = running == 0 and (done >= options.trials or gave_up)
    state = FINISHED if finished else RUNNING if live is not None or _driven(root, name) else PAUSED
    return SweepStatus(
        name=name,
        dataset=str(attrs.get("dataset", "")),
        created_at=str(attrs.get("created_at", "")),
        owner=attrs.get("owner"),
        options=options,
        base=dict(attrs["base"]),
        space=dict(attrs["space"]),
        trials=trials,
        driver_job=driver.id if driver is not None else None,
        state=state,
        gave_up=gave_up,
    )


def list_sweeps(root: Any, *, dataset: str | None = None) -> list[SweepStatus]:
    """Every sweep of the workspace (of one dataset, by name, when given), newest first."""
    path = _root(root) / SWEEPS_DB
    if not path.exists():
        return []
    names = [s.study_name for s in storage(root).get_all_studies()]
    out = []
    for name in names:
        with contextlib.suppress(SweepError):
            status = sweep_status(root, name)
            if dataset is None or status.dataset == dataset:
                out.append(status)
    return sorted(out, key=lambda s: s.created_at, reverse=True)


def best_config(status: SweepStatus) -> dict[str, Any]:
    """The base config with the best completed trial's values."""
    best = status.best
    if best is None:
        raise SweepError(f"sweep {status.name!r} has no completed trial yet")
    return {**status.base, **best.params}


def train_best(
    root: Any, name: str, *, owner: str | None = None, backend: str | None = None, gpu: str | None = None
) -> Any:
    """Queue an ordinary training run of the best completed trial's config (not part of the sweep)."""
    from core.jobs import submit_training
    from core.train import training

    status = sweep_status(root, name)
    cfg = training.validate(best_config(status))
    options = status.options
    best = status.best
    assert best is not None
    return submit_training(
        root,
        cfg.to_dict(),
        name=f"best of {name} (trial {best.number})",
        backend=backend or options.backend,
        gpu=options.gpu if gpu is None else gpu,
        ray_address=_ray_address(options),
        owner=owner,
    )


def figures(root: Any, name: str) -> dict[str, Any]:
    """Optuna's plotly figures of a sweep: ``history`` (optimisation history), ``intermediate`` (each trial's dev
    micro-F1 by evaluation), ``parallel`` (parallel coordinates) and ``importance`` (fANOVA parameter
    importances). A figure that needs more finished trials than there are is a string saying so instead."""
    import optuna.visualization as vis
    from optuna.trial import TrialState

    study = _study(root, name)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    out: dict[str, Any] = {}
    out["history"] = vis.plot_optimization_history(study, target_name="dev micro-F1")
    out["intermediate"] = vis.plot_intermediate_values(study)
    # Optuna calls the reported points steps; here each is an evaluation of the trial's run (pruning compares those).
    out["intermediate"].update_layout(
        title="Dev micro-F1 at each evaluation", xaxis_title="evaluation", yaxis_title="dev micro-F1"
    )
    if len(complete) < 2:
        wait = "Parallel coordinates and parameter importances need two completed trials"
        out["parallel"] = out["importance"] = f"{wait}; this sweep has {len(complete)}."
        return out
    out["parallel"] = vis.plot_parallel_coordinate(study, target_name="dev micro-F1")
    varied = {n for t in complete for n in t.params if len({repr(u.params.get(n)) for u in complete}) > 1}
    if varied:
        out["importance"] = vis.plot_param_importances(study, target_name="dev micro-F1")
    else:
        out["importance"] = "Parameter importances need completed trials that differ in some parameter."
    return out


def compare_figure(statuses: Sequence[SweepStatus]) -> Any:
    """Best dev micro-F1 so far against finished trials, one line per sweep (to compare sweeps)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for status in statuses:
        xs, ys, best = [], [], -math.inf
        for trial in status.trials:
            if trial.state == "complete" and trial.micro_f1 is not None:
                best = max(best, trial.micro_f1)
                xs.append(trial.number)
                ys.append(best)
        fig.add_scatter(x=xs, y=ys, mode="lines+markers", name=status.name)
    fig.update_layout(
        xaxis_title="trial", yaxis_title="best dev micro-F1 so far", height=320, margin=dict(l=10, r=10, t=30, b=10)
    )
    return fig


# -- command line -----------------------------------------------------------------------------------------


def _print_status(status: SweepStatus) -> None:
    counts = ", ".join(f"{status.count(s)} {s}" for s in ("complete", "pruned", "running", "failed"))
    print(f"{status.name} on {status.dataset!r}: {status.state} ({counts}; {status.options.trials} to finish)")
    for trial in status.ranked():
        score = f"{trial.micro_f1:6.2f}" if trial.micro_f1 is not None else "     -"
        extra = f" pruned at evaluation {trial.pruned_eval}" if trial.pruned_eval else ""
        extra += f" ({trial.error})" if trial.error else ""
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
        print(f"  #{trial.number:<3} {trial.state:<8} {score}  {params}{extra}")
    if status.best is not None:
        print(f"best: trial {status.best.number}, dev micro-F1 {status.best.micro_f1:.2f}")


def _emit(status: SweepStatus, as_json: bool) -> None:
    if as_json:
        import json

        json.dump(status.to_json(), sys.stdout, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    else:
        _print_status(status)


def cli_sweep(args: Any) -> int:
    """``python -m core sweep``: start (here, or ``--detach``ed), resume, list, show, stop, or train the best."""
    import json

    from core.jobs import normalize_gpu, resolve_ray_cluster
    from core.train.config import load_config, parse_overrides
    from core.train.sweep_space import load_space

    root = resolve_home(args.home)
    # Progress goes to stderr, so --json leaves stdout one JSON object.
    echo = (lambda m: print(m, file=sys.stderr, flush=True)) if args.json else (lambda m: print(m, flush=True))
    if args.list:
        sweeps = list_sweeps(root)
        if args.json:
            json.dump([s.to_json() for s in sweeps], sys.stdout, ensure_ascii=False, default=str)
            sys.stdout.write("\n")
        for s in [] if args.json else sweeps:
            best = f"best {s.best.micro_f1:.2f}" if s.best else "no completed trial"
            print(f"{s.name}  {s.dataset}  {s.state}  {s.finished_trials}/{s.options.trials} trials  {best}")
        return 0
    if args.status:
        _emit(sweep_status(root, args.status), args.json)
        return 0
    if args.stop:
        stop_sweep(root, args.stop)
        print(f"{args.stop}: stopping")
        return 0
    if args.train_best:
        job = train_best(root, args.train_best)
        print(f"queued job #{job.id} {job.name} ({job.run_dir})")
        return 0
    if args.resume:
        name = args.resume
    else:
        if not args.space:
            raise SweepError("give the search space with --space SPACE.yaml (or --resume, --status, --list)")
        base = load_config(args.config) if args.config else {}
        base.update(parse_overrides(args.overrides))
        gpu = None if args.gpu in (None, "", "auto") else normalize_gpu("" if args.gpu == "cpu" else args.gpu)
        options = SweepOptions(
            trials=args.trials,
            parallel=args.parallel,
            sampler=args.sampler,
            pruner=args.pruner,
            startup_trials=args.startup_trials,
            warmup_evals=args.warmup_evals,
            seed=args.seed,
            try_base=not args.no_base_trial,
            backend=args.backend,
            gpu=gpu,
            ray_address=resolve_ray_cluster(args.ray_cluster) if args.backend == "ray" else None,
        )
        name = create_sweep(root, base, load_space(args.space), options, name=args.name, source=str(args.space))
        echo(f"created sweep {name}")
    if args.detach:
        job = start_driver(root, name)
        print(f"{name}: driver job #{job.id} started; follow it with `python -m core sweep --status {name}`")
        return 0
    live = _live_driver(root, name)
    in_job = live is not None and str(live.id) == os.environ.get("RESTUDIO_JOB_ID")
    if live is not None and not in_job:
        raise SweepError(f"sweep {name!r} is already running (driver job #{live.id}); --status {name} shows it")
    if not in_job:  # a resume from a shell; a driver job's start cleared it already
        _request_stop(root, name, False)
    status = drive(root, name, echo=echo)
    _emit(status, args.json)
    return 0 if status.state == FINISHED and not status.gave_up else 143 if status.state == PAUSED else 1
