"""``python -m core`` commands of the analysis package: scoring every ensemble of prediction files, and a
run's data map. See :mod:`core.common.commands` for the pattern."""

from __future__ import annotations

import argparse
from typing import Any

from core.common.commands import add_command, add_home
from core.common.schema import SCHEMAS


def register(sub: Any) -> None:
    """Add ``ensemble`` and ``datamap``."""
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

    p = add_command(
        sub,
        "datamap",
        _cmd_datamap,
        "a run's data map: confidence, variability, correctness and region of every train row",
        description=(
            "Dataset cartography (Swayamdipta et al., 2020) from the training dynamics a run recorded "
            "(record_dynamics, on by default): per train row the mean (confidence) and spread (variability) of the "
            "gold label's probability across evaluations, the share predicted right (correctness), forgetting "
            "events, and its region: hard to learn (often label errors), ambiguous, easy to learn. Rows changed "
            'in the dataset since the run are marked. --json prints {"regions": {name: count}, "rows": [{"id", '
            '"confidence", "variability", "correctness", "region", ...}, ...]}.'
        ),
    )
    p.add_argument("run", help="run folder (or its dynamics.npz)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--top", type=int, default=None, help="rows listed per region without --json (default: all)")
    # The original's 33 % (core.analysis.datamap.DEFAULT_FRACTION; not imported here: it loads pandas).
    p.add_argument("--fraction", type=float, default=0.33, help="share of the rows in each region")
    p.add_argument(
        "--through",
        default="best",
        metavar="best|all|K",
        help="the evaluations the map covers: up to the best dev micro-F1 (default; later ones show the model "
        "memorising train rows, label errors included), all of them, or the first K",
    )
    add_home(p)


def _cmd_ensemble(args: argparse.Namespace) -> int:
    from core.analysis.ensemble import cli_ensemble

    return cli_ensemble(args)


def _cmd_datamap(args: argparse.Namespace) -> int:
    from core.analysis.datamap import cli_datamap

    return cli_datamap(args)
