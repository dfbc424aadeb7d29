"""``python -m core`` commands of the analysis package: scoring every ensemble of prediction files. See
:mod:`core.common.commands` for the pattern."""

from __future__ import annotations

import argparse
from typing import Any

from core.common.commands import add_command
from core.common.schema import SCHEMAS


def register(sub: Any) -> None:
    """Add ``ensemble``."""
    p = add_command(
        sub,
        "ensemble",
        _cmd_ensemble,
        "score every combination of prediction files (soft, hard, greedy) against a gold file",
        description=(
            "Score every combination (up to 12 members) of submission-format prediction files by soft and "
            "hard voting, plus greedy weighted ensembles (Caruana et al., 2004), with KLUE micro-F1 and AUPRC."
        ),
    )
    p.add_argument("preds", nargs="+", help="submission-format CSVs (id,pred_label,probs) on the gold ids")
    p.add_argument("--gold", required=True, help="labeled dataset file or an id,label CSV")
    p.add_argument("--method", default="all", choices=["soft", "hard", "greedy", "all"])
    # None: the ensemble module's GREEDY_STEPS (not imported here: it loads numpy and pandas).
    p.add_argument("--steps", type=int, default=None, help="greedy additions after the sorted start")
    p.add_argument("--top", type=int, default=20, help="rows shown without --json")
    p.add_argument("--json", action="store_true", help="a JSON list on stdout, best first")
    p.add_argument("--schema", default="klue", choices=sorted(SCHEMAS))


def _cmd_ensemble(args: argparse.Namespace) -> int:
    from core.analysis.ensemble import cli_ensemble

    return cli_ensemble(args)
