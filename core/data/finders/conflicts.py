"""Label conflicts as findings: rows with the same sentence and spans as others but another label."""

from __future__ import annotations

import pandas as pd

from core.data.finders.base import Finder, FinderInput, findings, register

KIND = "conflicts"


def find(source: FinderInput) -> pd.DataFrame:
    """One finding per row of a conflicting group, in group order.

    The score is the share of the group's rows *not* carrying the row's label: a label most copies
    disagree with is the likelier mistake.
    """
    conflicts = source.report.label_conflicts
    ids: list[str] = []
    scores: list[float] = []
    details: list[str] = []
    for _, group in conflicts.table.groupby("group", sort=True):
        size = int(group["count"].sum())
        labels = ", ".join(f"{lab} x{cnt}" for lab, cnt in zip(group["label"], group["count"], strict=True))
        for label, count, members in zip(group["label"], group["count"], group["ids"], strict=True):
            for row_id in members:
                ids.append(row_id)
                scores.append(1.0 - int(count) / size)
                details.append(f"given {label}; same sentence and spans labelled {labels}")
    return findings(KIND, ids, score=scores, suggestion="keep one label for the group", detail=details)


FINDER = register(
    Finder(
        kind=KIND,
        title="Conflicts",
        help="Rows with the same sentence, subject and object but different labels; one label is kept.",
        find=find,
        count=lambda source: source.report.label_conflicts.groups,
        order=30,
    )
)
