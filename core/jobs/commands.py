"""``python -m core jobs``: list, cancel and follow the workspace's background jobs, which run on without
the app, and queue the predictions a cancelled job left for later. See :mod:`core.common.commands` for the
pattern."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from core.common.errors import RestudioError
from core.common.settings import resolve_home


class _Refused(RestudioError):
    """A jobs command that cannot run as asked (bad id, no workspace); one line, exit 2."""


def _job_store(args: argparse.Namespace):
    """The workspace's job store, without creating a workspace where there is none."""
    from core import jobs

    root = resolve_home(args.home)
    db = root / "restudio.db"
    if not db.is_file():
        raise _Refused(f"no workspace at {root} (no restudio.db); pass --home or set RESTUDIO_HOME")
    return jobs.JobStore.from_db(db)


def _job_ids(values: Sequence[str]) -> list[int]:
    ids = []
    for value in values:
        text = value.strip().removeprefix("#")
        if not text.isdigit() or int(text) <= 0:
            raise _Refused(f"{value!r} is not a job id (a number such as 12; `python -m core jobs` lists them)")
        ids.append(int(text))
    return ids


def _get_job(store, job_id: int):
    from core import jobs

    try:
        return store.get_job(job_id)
    except jobs.JobError:
        raise _Refused(f"no job #{job_id} in {store.root} (`python -m core jobs` lists them)") from None


def _refresh(store) -> None:
    """Record local jobs that ended or died and SIGKILL overdue cancels (what the app's watcher does),
    without starting queued jobs: listing must not change what runs."""
    from core import jobs

    backend = jobs.LocalBackend(store)
    for job in store.list_jobs(status=jobs.RUNNING, backend="local"):
        backend.status(job)


def _local_time(iso: str | None) -> str:
    if not iso:
        return ""
    from datetime import datetime

    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _job_record(job) -> dict:
    from core import jobs
    from core.store import runs

    prog = jobs.progress(job)
    last = prog.last_metrics
    summary = runs.read_summary(job.run_dir) or {}
    dev = summary.get("dev") if isinstance(summary.get("dev"), dict) else {}
    config = job.config or {}
    return {
        "id": job.id,
        "name": job.name,
        "kind": job.kind,
        "backend": job.backend,
        "owner": job.owner,
        "status": job.display_status,
        "cancelling": job.cancelling,
        "progress": prog.fraction,
        "step": prog.step,
        "max_steps": prog.max_steps,
        "dev_micro_f1": dev.get("micro_f1", last.get("eval_micro_f1")),
        "dev_auprc": dev.get("auprc", last.get("eval_auprc")),
        "model": config.get("model"),
        "format": config.get("input_format"),
        "created": _local_time(job.created_at),
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "exit_code": job.exit_code,
        "error": job.error,
        "run_dir": job.run_dir,
        "pending_predictions": runs.pending_predictions(job.run_dir) if job.is_final else [],
    }


def _print_table(records: list[dict]) -> None:
    columns = [
        ("id", lambda r: f"#{r['id']}"),
        ("name", lambda r: r["name"] if len(r["name"]) <= 40 else r["name"][:39] + "…"),
        ("status", lambda r: r["status"] + ("*" if r["pending_predictions"] else "")),
        ("progress", lambda r: "" if r["progress"] is None else f"{r['progress']:.0%}"),
        ("dev micro-F1", lambda r: "" if r["dev_micro_f1"] is None else f"{r['dev_micro_f1']:.2f}"),
        ("model", lambda r: r["model"] or ""),
        ("format", lambda r: r["format"] or ""),
        ("created", lambda r: r["created"]),
        ("owner", lambda r: r["owner"] or ""),
    ]
    rows = [[cell(r) for _, cell in columns] for r in records]
    widths = [max([len(name), *(len(row[i]) for row in rows)]) for i, (name, _) in enumerate(columns)]
    print("  ".join(name.ljust(w) for (name, _), w in zip(columns, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    owing = [r["id"] for r in records if r["pending_predictions"]]
    if owing:
        print(
            "* predictions left for later (cancelled): `python -m core jobs predict ID` queues them "
            f"(jobs {', '.join(f'#{i}' for i in owing)})"
        )


def _cmd_jobs_list(args: argparse.Namespace) -> int:
    store = _job_store(args)
    _refresh(store)
    records = [_job_record(job) for job in store.list_jobs()]
    if args.json:
        json.dump(records, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    elif not records:
        print(f"No jobs in {store.root}.")
    else:
        _print_table(records)
    return 0


def _cmd_jobs_cancel(args: argparse.Namespace) -> int:

    from core import jobs

    store = _job_store(args)
    if args.ids and (args.queued or args.all):
        raise _Refused("give job ids or --queued / --all, not both")
    if args.ids:
        targets = [_get_job(store, i) for i in _job_ids(args.ids)]
    elif args.queued or args.all:
        wanted = (jobs.QUEUED, jobs.RUNNING) if args.all else (jobs.QUEUED,)
        targets = store.list_jobs(status=wanted)
    else:
        raise _Refused("name the jobs to cancel (IDs), or pass --queued or --all")
    if not targets:
        print("No jobs to cancel.")
        return 0
    grace = jobs.DEFAULT_GRACE_S if args.grace is None else args.grace
    # Queued ones first: a running job that ends starts the next queued one, which must be gone by then.
    targets.sort(key=lambda j: (j.status != jobs.QUEUED, j.id))
    stopping = []
    for job in targets:
        if job.is_final:
            print(f"#{job.id} {job.name}: already {job.status}")
            continue
        after = jobs.backend_for(job, store, grace_s=grace).cancel(job, wait=False)
        if after.is_final:
            print(f"#{after.id} {after.name}: {after.status}")
        else:
            print(f"#{after.id} {after.name}: cancelling (it stops at the next step and saves)")
            stopping.append(after)
    if not stopping:
        return 0
    if args.no_wait:
        print(
            "Not waiting. Whatever has not stopped after the grace period is killed by the next `python -m core "
            "jobs` or the app."
        )
        return 0
    deadline = time.monotonic() + grace + 10.0
    while stopping and time.monotonic() < deadline:
        time.sleep(0.25)
        still = []
        for job in stopping:
            # status() records the end and, once the grace is over, SIGKILLs (local jobs).
            jobs.backend_for(job, store, grace_s=grace).status(job)
            after = store.get_job(job.id)
            if after.is_final:
                owed = _owed(after)
                print(f"#{after.id} {after.name}: {after.status}" + (f"; {owed}" if owed else ""))
            else:
                still.append(after)
        stopping = still
    for job in stopping:
        print(f"#{job.id} {job.name}: still {job.display_status} after {grace + 10:g} s")
    return 1 if stopping else 0


def _owed(job) -> str:
    from core.store import runs

    pending = runs.pending_predictions(job.run_dir)
    if not pending:
        return ""
    return f"{', '.join(pending)} left for later: `python -m core jobs predict {job.id}`"


def _cmd_jobs_log(args: argparse.Namespace) -> int:
    from core import jobs

    store = _job_store(args)
    (job_id,) = _job_ids([args.id])
    job = _get_job(store, job_id)
    if args.lines < 0:
        raise _Refused(f"--lines must be >= 0, got {args.lines}")
    if not args.follow:
        text = jobs.job_logs(store, job.id, args.lines)
        if text:
            print(text)
        return 0
    try:
        if job.backend == "local":
            _follow_local(store, job, args.lines)
        else:
            _follow_remote(store, job, args.lines)
    except KeyboardInterrupt:
        pass
    return 0


def _follow_local(store, job, lines: int) -> None:
    """Print the last ``lines`` lines, then what the job writes, until it has ended."""
    import codecs

    from core import jobs
    from core.store import runs

    path = job.log_path
    offset = path.stat().st_size if path.exists() else 0
    if lines:
        tail = runs.log_tail(path, lines=lines)
        if tail:
            print(tail, flush=True)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    backend = jobs.LocalBackend(store)
    while True:
        current = store.get_job(job.id)
        if current.status == jobs.RUNNING:
            backend.status(current)  # a killed wrapper never records its end: notice it here
            current = store.get_job(job.id)
        ended = current.is_final  # read before the last chunk, so no line written before the end is missed
        try:
            with path.open("rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
        except FileNotFoundError:
            chunk = b""
        offset += len(chunk)
        text = decoder.decode(chunk, final=ended)
        if text:
            sys.stdout.write(text)
            sys.stdout.flush()
        if ended:
            return
        time.sleep(0.5)


def _follow_remote(store, job, lines: int) -> None:

    from core import jobs

    backend = jobs.backend_for(job, store)
    shown = backend.logs(job, 10**9)
    tail = "\n".join(shown.splitlines()[-lines:]) if lines else ""
    if tail:
        print(tail, flush=True)
    while True:
        ended = store.get_job(job.id).is_final or backend.status(job) in jobs.FINAL
        text = backend.logs(job, 10**9)
        if len(text) > len(shown):
            sys.stdout.write(text[len(shown) :])
            sys.stdout.flush()
            shown = text
        if ended:
            return
        time.sleep(2.0)


def _cmd_jobs_predict(args: argparse.Namespace) -> int:
    from core import jobs

    store = _job_store(args)
    (job_id,) = _job_ids([args.id])
    _get_job(store, job_id)
    try:
        job = jobs.submit_predictions(store, job_id)
    except jobs.JobError as exc:
        raise _Refused(str(exc)) from None
    print(f"Queued job #{job.id} {job.name!r} ({job.status}): `python -m core jobs log {job.id} --follow` shows it.")
    return 0


def _cmd_jobs(args: argparse.Namespace) -> int:

    handler = getattr(args, "jobs_func", _cmd_jobs_list)
    return handler(args)


def register(sub: Any) -> None:
    """Add ``jobs`` with its own sub-commands ``list`` (the default), ``cancel``, ``log`` and ``predict``."""
    p = sub.add_parser(
        "jobs",
        help="list, cancel and follow background jobs (they outlive the app)",
        description="Background jobs of the workspace: they run on without the app. With no subcommand, "
        "list them (status 'cancelling' between a cancel and the job's end).",
    )
    p.set_defaults(func=_cmd_jobs)
    p.add_argument("--home", default=None, help="workspace folder (default: $RESTUDIO_HOME or ./workspace)")
    p.add_argument("--json", action="store_true", help="the list as one JSON array")
    # --home after the subcommand too; SUPPRESS so an absent one does not undo the one given before it.
    home = argparse.ArgumentParser(add_help=False)
    home.add_argument("--home", default=argparse.SUPPRESS, help="workspace folder")
    jsub = p.add_subparsers(dest="jobs_command", metavar="{list,cancel,log,predict}")

    q = jsub.add_parser("list", parents=[home], help="list the jobs (the default)")
    q.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="one JSON array")
    q.set_defaults(jobs_func=_cmd_jobs_list)

    q = jsub.add_parser(
        "cancel",
        parents=[home],
        help="cancel jobs: queued ones at once, running ones stop at the next step and save",
        description="Cancel jobs. A queued job is cancelled at once; a running one gets SIGTERM (it stops at the "
        "next step and saves) and SIGKILL if it has not ended after the grace period. Waits for them to end "
        "unless --no-wait.",
    )
    q.add_argument("ids", nargs="*", metavar="ID", help="job ids (see `python -m core jobs`)")
    q.add_argument("--queued", action="store_true", help="every queued job")
    q.add_argument("--all", action="store_true", help="every queued and running job")
    q.add_argument("--no-wait", action="store_true", help="return once the jobs are told to stop")
    q.add_argument("--grace", type=float, default=None, help="seconds from SIGTERM to SIGKILL (default 20)")
    q.set_defaults(jobs_func=_cmd_jobs_cancel)

    q = jsub.add_parser("log", parents=[home], help="print the end of a job's log (--follow: and what it writes)")
    q.add_argument("id", metavar="ID")
    q.add_argument("--lines", "-n", type=int, default=40, help="how many of the last lines (default 40)")
    q.add_argument("--follow", "-f", action="store_true", help="keep printing until the job has ended (Ctrl-C stops)")
    q.set_defaults(jobs_func=_cmd_jobs_log)

    q = jsub.add_parser(
        "predict",
        parents=[home],
        help="queue a job making the predictions a cancelled job left for later",
    )
    q.add_argument("id", metavar="ID", help="the cancelled training job")
    q.set_defaults(jobs_func=_cmd_jobs_predict)
