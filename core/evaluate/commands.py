"""``python -m core`` commands of the evaluate package: the full evaluation of submission files. See
:mod:`core.common.commands` for the pattern."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.common.commands import add_command
from core.common.schema import SCHEMAS


def register(sub: Any) -> None:
    """Add ``evaluate``."""
    p = add_command(
        sub,
        "evaluate",
        _cmd_evaluate,
        "evaluate submission CSVs: intervals, confusion, slices, threshold, type restriction, calibration, compare",
        description=(
            "Evaluate submission-format prediction files (id,pred_label,probs) against a gold file: micro-F1, "
            "AUPRC and accuracy with bootstrap intervals, the confusion matrix, per-relation and per-slice "
            "scores, direction errors, a no_relation threshold chosen on held-out halves, calibration with "
            "temperature scaling and, with --rows and --train, the entity-type restriction. With several "
            'files, --json prints {"runs": [...], "compare": [...]} with a paired bootstrap per pair.'
        ),
    )
    p.add_argument("preds", nargs="+", metavar="PRED.csv", help="submission-format CSVs on the gold ids")
    p.add_argument("--gold", required=True, help="labeled dataset file or an id,label CSV")
    p.add_argument("--rows", default=None, help="data file of the predicted rows (types, sources, sentences)")
    p.add_argument("--train", default=None, help="training rows: the relations allowed per type pair (needs --rows)")
    # Defaults written out here: importing core.evaluate.scores would load numpy and scipy at start.
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and of the half splits (default 0)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--schema", default="klue", choices=sorted(SCHEMAS))


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from core.evaluate.report import evaluate_files, report_to_text

    if args.resamples < 1:
        raise ValueError(f"--resamples must be at least 1; got {args.resamples}.")
    report = evaluate_files(
        args.gold,
        args.preds,
        rows_path=args.rows,
        train_path=args.train,
        schema=SCHEMAS[args.schema],
        resamples=args.resamples,
        seed=args.seed,
    )
    if args.json:
        json.dump(report, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(report_to_text(report))
    return 0
