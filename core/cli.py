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

from core.schema import SCHEMAS, DataError


def _cmd_demo_data(args: argparse.Namespace) -> int:
    from core.demo import write_demo_dataset

    manifest = write_demo_dataset(args.out, seed=args.seed, n_train=args.train_rows, n_test=args.test_rows)
    injected = {kind: len(items) for kind, items in manifest.to_dict()["injected"].items()}
    print(f"Wrote demo dataset to {args.out} (seed {args.seed}); injected errors: {injected}")
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from core import audit, loading

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
    from core.metrics import score_files

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
    from core.workspace import Workspace

    return Workspace(args.home)


#: Presets the demo jobs use: three input formats, so the other views have models to compare at once.
DEMO_JOB_PRESETS = (
    "tiny demo (typed punct markers, entity start)",
    "tiny demo, entity markers",
    "tiny demo, baseline [CLS]",
)


def _cmd_seed(args: argparse.Namespace) -> int:
    from core import jobs
    from core.importing import seed_demo

    workspace = _workspace(args)
    info = seed_demo(workspace)
    print(f"Workspace {workspace.root}: dataset #{info.id} {info.name!r} ready.")
    store = jobs.JobStore(workspace.root)
    if os.environ.get("RESTUDIO_NO_DEMO_JOBS") or store.list_jobs():
        return 0
    from core import training

    for preset in DEMO_JOB_PRESETS:
        config = training.validate({**training.PRESETS[preset], "dataset": info.name, "workspace": str(workspace.root)})
        # One after another on the CPU queue (RESTUDIO_MAX_CPU_JOBS), one per GPU on a GPU machine.
        job = store.create(name=preset, command=jobs.training_command(), kind="train", config=config.to_dict())
        print(f"Queued demo job #{job.id}: {preset}")
    # Start the first one now; each finishing job starts the next (the app's watcher would too).
    jobs.LocalBackend(store).reconcile()
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from core.importing import import_dataset

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
    print(f"Dataset #{report.dataset.id} {report.dataset.name!r} imported.")
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    workspace = _workspace(args)
    for info in workspace.datasets():
        parts = ", ".join(f"{p}: {i.n_rows} rows ({i.n_invalid} invalid)" for p, i in info.parts.items())
        print(f"#{info.id}\t{info.name}\t{parts}\trevision {workspace.revision(info.id)}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from core.export import export_frame

    workspace = _workspace(args)
    info = workspace.dataset(args.dataset)
    part = info.parts.get(args.part)
    if part is None:
        raise DataError(f"Dataset {info.name!r} has no {args.part} part.")
    frame = workspace.current_frame(info.id, args.part)
    data = export_frame(frame.drop(columns="_version"), fmt=args.format or part.fmt, schema=info.schema)
    from core.atomic import atomic_write_bytes

    atomic_write_bytes(Path(args.out), data)
    print(f"Wrote {len(frame)} rows of {info.name!r} ({args.part}) to {args.out}.")
    if args.audit_log:
        log = workspace.corrections(info.id)
        atomic_write_bytes(Path(args.audit_log), log.to_csv(index=False).encode())
        print(f"Wrote {len(log)} audit-log entries to {args.audit_log}.")
    return 0


def _cmd_split(args: argparse.Namespace) -> int:
    from core.splits import create_split

    workspace = _workspace(args)
    info = workspace.dataset(args.dataset)
    split = create_split(
        workspace, info.id, name=args.name, dev_fraction=args.dev_fraction, seed=args.seed, author=args.author
    )
    print(f"Split {split.name!r} of {info.name!r}: {len(split.train_ids)} train, {len(split.dev_ids)} dev ids.")
    return 0


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
    from core.ensemble import add_ensemble_parser

    add_ensemble_parser(sub)

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
    from core.training import main as train_main

    return train_main(args.train_args)


def _cmd_crossval(args: argparse.Namespace) -> int:
    from core.crossval import main as crossval_main

    return crossval_main(args.crossval_args)


#: Commands with their own parsers, imported only when used (they pull in torch).
HEAVY_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"train": _cmd_train, "crossval": _cmd_crossval}


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
