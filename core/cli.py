"""The RE Studio command line: the same functions the views call, headless.

Every command exits 0 on success, 2 with a one-line message when its input
cannot be read (never a traceback), and 1 on an unexpected error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from core.common.schema import SCHEMAS, DataError


def _cmd_demo_data(args: argparse.Namespace) -> int:
    from core.data.demo import write_demo_dataset

    manifest = write_demo_dataset(args.out, seed=args.seed, n_train=args.train_rows, n_test=args.test_rows)
    injected = {kind: len(items) for kind, items in manifest.to_dict()["injected"].items()}
    print(f"Wrote demo dataset to {args.out} (seed {args.seed}); injected errors: {injected}")
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from core.data import audit, loading

    schema = SCHEMAS[args.schema]
    train = loading.load_file(args.file, fmt=args.format, schema=schema, encoding=args.encoding)
    test = None
    if args.test:
        test = loading.load_file(args.test, fmt=args.format, schema=train.schema, encoding=args.encoding)
    report = audit.audit(
        train.frame,
        None if test is None else test.frame,
        schema=train.schema,
        minority_threshold=args.threshold,
    )
    if args.json:
        payload = audit.report_to_json(report, invalid_rows=train.invalid)
        if test is not None:
            payload["test_invalid_rows"] = [r.as_dict() for r in test.invalid]
        json.dump(payload, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(audit.report_to_text(report, invalid_rows=train.invalid))
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from core.train.metrics import score_files

    result = score_files(args.gold, args.pred, schema=SCHEMAS[args.schema])
    if args.json:
        json.dump(result, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    print(f"micro-F1 (no_relation excluded): {result['micro_f1']:.3f}")
    print(f"AUPRC (mean over {len(result['per_class_f1'])} classes): {result['auprc']:.3f}")
    print(f"rows: {result['n']}")
    for label, f1 in sorted(result["per_class_f1"].items(), key=lambda kv: -kv[1]):
        print(f"  {f1:7.2f}  {label}")
    return 0


def _workspace(args: argparse.Namespace):
    from core.store.workspace import Workspace

    return Workspace(args.home)


#: Presets the demo jobs use: three input formats, so the other views have models to compare at once.
DEMO_JOB_PRESETS = (
    "tiny demo (typed punct markers, entity start)",
    "tiny demo, entity markers",
    "tiny demo, baseline [CLS]",
)


def _cmd_seed(args: argparse.Namespace) -> int:
    from core import jobs
    from core.data.importing import seed_demo

    workspace = _workspace(args)
    info = seed_demo(workspace)
    print(f"Workspace {workspace.root}: dataset #{info.id} {info.name!r} ready.")
    store = jobs.JobStore(workspace.root)
    if os.environ.get("RESTUDIO_NO_DEMO_JOBS") or store.list_jobs():
        return 0
    from core.train import training
    from core.train.config import PRESETS

    for preset in DEMO_JOB_PRESETS:
        config = training.validate({**PRESETS[preset], "dataset": info.name, "workspace": str(workspace.root)})
        # One after another on the CPU queue (RESTUDIO_MAX_CPU_JOBS), one per GPU on a GPU machine.
        job = store.create(name=preset, command=jobs.training_command(), kind="train", config=config.to_dict())
        print(f"Queued demo job #{job.id}: {preset}")
    # Start the first one now; each finishing job starts the next (the app's watcher would too).
    jobs.LocalBackend(store).reconcile()
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from core.data.importing import import_dataset

    report = import_dataset(
        _workspace(args),
        args.name,
        args.train,
        test_path=args.test,
        gold_path=args.gold,
        fmt=args.format,
        schema_name=args.schema,
        label_map_path=args.label_map,
        encoding=args.encoding,
        author=args.author,
    )
    for part, result in report.results.items():
        bad_rows = len({r.row for r in result.invalid})
        print(f"{part}: {result.n_records} rows read, {len(result.frame)} loaded, {bad_rows} invalid")
        for row in result.invalid[:20]:
            print(f"  row {row.row}, field {row.field}: {row.reason}")
        if len(result.invalid) > 20:
            print(f"  ... {len(result.invalid) - 20} more problems (see the Data view for the full list)")
    for note in report.notes:
        print(f"Note: {note}")
    print(f"Dataset #{report.dataset.id} {report.dataset.name!r} imported.")
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    workspace = _workspace(args)
    for info in workspace.datasets():
        parts = ", ".join(f"{p}: {i.n_rows} rows ({i.n_invalid} invalid)" for p, i in info.parts.items())
        print(f"#{info.id}\t{info.name}\t{parts}\trevision {workspace.revision(info.id)}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from core.data.export import export_frame

    workspace = _workspace(args)
    info = workspace.dataset(args.dataset)
    part = info.parts.get(args.part)
    if part is None:
        raise DataError(f"Dataset {info.name!r} has no {args.part} part.")
    frame = workspace.current_frame(info.id, args.part)
    data = export_frame(frame.drop(columns="_version"), fmt=args.format or part.fmt, schema=info.schema)
    from core.common.atomic import atomic_write_bytes

    atomic_write_bytes(Path(args.out), data)
    print(f"Wrote {len(frame)} rows of {info.name!r} ({args.part}) to {args.out}.")
    if args.audit_log:
        log = workspace.corrections(info.id)
        atomic_write_bytes(Path(args.audit_log), log.to_csv(index=False).encode())
        print(f"Wrote {len(log)} audit-log entries to {args.audit_log}.")
    return 0


def _cmd_split(args: argparse.Namespace) -> int:
    from core.data.splits import create_split

    workspace = _workspace(args)
    info = workspace.dataset(args.dataset)
    split = create_split(
        workspace, info.id, name=args.name, dev_fraction=args.dev_fraction, seed=args.seed, author=args.author
    )
    print(f"Split {split.name!r} of {info.name!r}: {len(split.train_ids)} train, {len(split.dev_ids)} dev ids.")
    return 0


# -- jobs ---------------------------------------------------------------------------------------------------


class _Refused(Exception):
    """A jobs command that cannot run as asked (bad id, no workspace); one line, exit 2."""


def _job_store(args: argparse.Namespace):
    """The workspace's job store, without creating a workspace where there is none."""
    from core import jobs

    root = Path(args.home or os.environ.get("RESTUDIO_HOME") or "workspace").expanduser().resolve()
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
    last = prog["last_metrics"]
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
        "progress": prog["fraction"],
        "step": prog["step"],
        "max_steps": prog["max_steps"],
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
    import time

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
    import time

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
    import time

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
    from core import jobs

    handler = getattr(args, "jobs_func", _cmd_jobs_list)
    try:
        return handler(args)
    except (_Refused, jobs.JobError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _add_jobs_parser(sub) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="RE Studio command line.")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    def add_home(p: argparse.ArgumentParser) -> None:
        p.add_argument("--home", default=None, help="workspace folder (default: $RESTUDIO_HOME or ./workspace)")

    def add_reading(p: argparse.ArgumentParser) -> None:
        p.add_argument("--format", default="auto", choices=["auto", "csv", "klue-json", "tacred-json"])
        p.add_argument("--schema", default="klue", choices=sorted(SCHEMAS), help="label set and entity types")
        p.add_argument("--encoding", default=None, help="file encoding when not UTF-8 (e.g. cp949)")

    p = add("demo-data", _cmd_demo_data, "write the seeded synthetic Korean demo dataset (competition CSV)")
    p.add_argument("out", help="output folder")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--train-rows", type=int, default=3000)
    p.add_argument("--test-rows", type=int, default=800)

    p = add("audit", _cmd_audit, "audit a dataset file: distributions, duplicates, conflicts, offsets, type flags")
    p.add_argument("file")
    p.add_argument("--test", default=None, help="test file to compare against")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--threshold", type=float, default=0.05, help="minority-type share under which a type is flagged")
    add_reading(p)

    p = add("score", _cmd_score, "score a submission CSV (id,pred_label,probs) with KLUE micro-F1 and AUPRC")
    p.add_argument("pred", help="submission-format CSV")
    p.add_argument("--gold", required=True, help="labeled dataset file or an id,label CSV")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--schema", default="klue", choices=sorted(SCHEMAS))

    add("train", _cmd_train, "fine-tune a relation classifier (see `python -m core train --help`)")
    add("crossval", _cmd_crossval, "k-fold out-of-fold probabilities for label issues (see `crossval --help`)")
    from core.analysis.ensemble import add_ensemble_parser

    add_ensemble_parser(sub)

    add("predict", _cmd_predict, "make the predictions a cancelled run left for later (`predict RUN_DIR`)")
    _add_jobs_parser(sub)

    p = add("seed", _cmd_seed, "make sure the workspace holds the demo dataset")
    add_home(p)

    p = add("import", _cmd_import, "import a dataset into the workspace")
    p.add_argument("name")
    p.add_argument("train")
    p.add_argument("--test", default=None)
    p.add_argument("--gold", default=None, help="id,label CSV with the test labels")
    p.add_argument("--label-map", default=None, help="label map (.json, or pickled dict_label_to_num.pkl)")
    p.add_argument("--author", default="cli")
    add_reading(p)
    add_home(p)

    p = add("datasets", _cmd_datasets, "list the workspace's datasets")
    add_home(p)

    p = add("export", _cmd_export, "export a dataset's cleaned rows (corrections applied, dropped rows left out)")
    p.add_argument("dataset", help="dataset id or name")
    p.add_argument("--out", required=True)
    p.add_argument("--part", default="train", choices=["train", "test"])
    p.add_argument("--format", default=None, choices=["csv", "klue-json", "tacred-json"], help="default: as imported")
    p.add_argument("--audit-log", default=None, help="also write the audit log as CSV here")
    add_home(p)

    p = add("split", _cmd_split, "make (or remake) the stratified, seeded dev split")
    p.add_argument("dataset")
    p.add_argument("--name", default="default")
    p.add_argument("--dev-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--author", default="cli")
    add_home(p)
    return parser


def _cmd_train(args: argparse.Namespace) -> int:
    # torch and transformers take seconds to import: only `train` pays for them.
    from core.train.training import main as train_main

    return train_main(args.train_args)


def _cmd_crossval(args: argparse.Namespace) -> int:
    from core.train.crossval import main as crossval_main

    return crossval_main(args.crossval_args)


def _cmd_predict(args: argparse.Namespace) -> int:
    from core.train.training import predict_main

    return predict_main(args.train_args)


#: Commands with their own parsers, imported only when used (they pull in torch).
HEAVY_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": _cmd_train,
    "crossval": _cmd_crossval,
    "predict": _cmd_predict,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in HEAVY_COMMANDS:
        # These have their own parsers (every training option with its default and description in --help).
        args = argparse.Namespace(func=HEAVY_COMMANDS[argv[0]], train_args=argv[1:], crossval_args=argv[1:])
    else:
        args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `python -m core audit ... | head` is fine
        return 0
    except (DataError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: one line for the user, the traceback on request
        if os.environ.get("RESTUDIO_DEBUG"):
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {exc} (set RESTUDIO_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 1
