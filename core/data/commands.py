"""``python -m core`` commands of the data package: the demo dataset, audits of files, and the workspace's
datasets (import, list, export, dev split). See :mod:`core.common.commands` for the pattern."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.common.commands import add_command, add_home, add_reading
from core.common.schema import SCHEMAS, DataError


def register(sub: Any) -> None:
    """Add ``demo-data``, ``audit``, ``import``, ``datasets``, ``export`` and ``split``."""
    p = add_command(
        sub, "demo-data", _cmd_demo_data, "write the seeded synthetic Korean demo dataset (competition CSV)"
    )
    p.add_argument("out", help="output folder")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--train-rows", type=int, default=3000)
    p.add_argument("--test-rows", type=int, default=800)

    p = add_command(
        sub, "audit", _cmd_audit, "audit a dataset file: distributions, duplicates, conflicts, offsets, type flags"
    )
    p.add_argument("file")
    p.add_argument("--test", default=None, help="test file to compare against")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--threshold", type=float, default=0.05, help="minority-type share under which a type is flagged")
    add_reading(p)

    p = add_command(sub, "import", _cmd_import, "import a dataset into the workspace")
    p.add_argument("name")
    p.add_argument("train")
    p.add_argument("--test", default=None)
    p.add_argument("--gold", default=None, help="id,label CSV with the test labels")
    p.add_argument("--label-map", default=None, help="label map (.json, or pickled dict_label_to_num.pkl)")
    p.add_argument("--author", default="cli")
    add_reading(p)
    add_home(p)

    p = add_command(sub, "datasets", _cmd_datasets, "list the workspace's datasets")
    add_home(p)

    p = add_command(
        sub, "export", _cmd_export, "export a dataset's cleaned rows (corrections applied, dropped rows left out)"
    )
    p.add_argument("dataset", help="dataset id or name")
    p.add_argument("--out", required=True)
    p.add_argument("--part", default="train", choices=["train", "test"])
    p.add_argument("--format", default=None, choices=["csv", "klue-json", "tacred-json"], help="default: as imported")
    p.add_argument("--audit-log", default=None, help="also write the audit log as CSV here")
    add_home(p)

    p = add_command(sub, "split", _cmd_split, "make (or remake) the stratified, seeded dev split")
    p.add_argument("dataset")
    p.add_argument("--name", default="default")
    p.add_argument("--dev-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--author", default="cli")
    add_home(p)


def _workspace(args: argparse.Namespace):
    from core.store.workspace import Workspace

    return Workspace(args.home)


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
