"""Export of a chosen ensemble: its JSON recipe and its test predictions in submission format.

This module owns what leaves the Ensemble view once an ensemble is chosen: the recipe (members with
their dev and test files, weights, method, label order; :func:`recipe`) and the chosen members' test
predictions combined like their dev ones and written as an ``id,pred_label,probs`` submission
(:func:`export_test`). It is separate from :mod:`core.analysis.ensemble` because it writes files for
people rather than scoring; it reuses the scoring's :func:`~core.analysis.ensemble.ensemble_probs` so
the exported numbers are the ones the leaderboard showed, and the members' checked readers so a bad
test file is refused like a bad dev file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from core.analysis.ensemble import ensemble_probs
from core.analysis.ensemble_members import MemberSet, align, examples, read_member, renamed
from core.common.schema import DataError
from core.train.metrics import write_submission


def recipe(
    members: MemberSet, *, method: str, weights: Sequence[float], scores: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """The JSON-able recipe of an ensemble: members (name, dev and test files), weights, method."""
    if len(weights) != members.size:
        raise ValueError(f"weights has {len(weights)} entries for {members.size} members.")
    chosen = [i for i, w in enumerate(weights) if w]
    return {
        "method": method,
        "members": [
            {
                "name": members.names[i],
                "dev_predictions": members.shown(members.sources[i]),
                "test_predictions": members.shown(members.test_paths[i]),
            }
            for i in chosen
        ],
        "weights": [float(weights[i]) for i in chosen],
        "label_order": list(members.label_names),
        "dev": {"n": len(members.ids), **{k: float(v) for k, v in (scores or {}).items()}},
        "hard_voting_scores": "(votes + mean_prob) / (k + 1)" if method == "hard" else None,
    }


def export_test(members: MemberSet, *, method: str, weights: Sequence[float], out: Any) -> tuple[list[str], np.ndarray]:
    """Combine the chosen members' test predictions like their dev ones and write a submission.

    Parameters
    ----------
    out : path or text buffer
        Where the ``id,pred_label,probs`` CSV goes (a path is written atomically).

    Returns
    -------
    ids, probs
        What was written (ids in the first chosen member's test file order).

    Raises
    ------
    DataError
        A chosen member has no test predictions, a test file is malformed, or the members' test files
        hold different ids.
    """
    chosen = [i for i, w in enumerate(weights) if w]
    if len(weights) != members.size or not chosen:
        raise ValueError("weights must give one value per member, at least one of them positive.")
    lacking = [members.names[i] for i in chosen if members.test_paths[i] is None]
    if lacking:
        raise DataError(f"No test predictions for {examples(lacking)}: the export needs every chosen member's.")
    first_ids: list[str] = []
    probs = []
    try:
        for i in chosen:
            path = members.test_paths[i]
            assert path is not None
            ids, p = read_member(path, members.label_names)
            if not probs:
                first_ids = ids
                probs.append(p)
            else:
                first = members.test_paths[chosen[0]]
                probs.append(align(f"{members.names[i]} ({path})", ids, p, first_ids, f"{first}"))
    except DataError as exc:
        raise renamed(exc, members.shown_as) from exc
    test_set = replace(
        members.take_members(chosen),
        ids=tuple(first_ids),
        labels=np.zeros(len(first_ids), dtype=np.int64),
        probs=np.stack(probs),
    )
    _, scores = ensemble_probs(test_set, method=method, weights=[weights[i] for i in chosen])
    write_submission(out, first_ids, scores, label_names=members.label_names)
    return first_ids, scores


__all__ = [
    "export_test",
    "recipe",
]
