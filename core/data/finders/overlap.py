"""Train/test overlap as findings: train rows whose (sentence, subject, object) triple is also in test."""

from __future__ import annotations

import pandas as pd

from core.data.finders.base import Finder, FinderInput, findings, register

KIND = "overlap"


def find(source: FinderInput) -> pd.DataFrame:
    """One finding per train row of a shared triple (none without a test part)."""
    overlap = source.report.overlap
    ids: list[str] = []
    details: list[str] = []
    if overlap is not None:
        for train_ids, test_ids in zip(overlap.table["train_ids"], overlap.table["test_ids"], strict=True):
            shown = ", ".join(str(i) for i in test_ids)
            for row_id in train_ids:
                ids.append(row_id)
                details.append(f"same sentence, subject and object as test id(s) {shown}")
    return findings(KIND, ids, suggestion="drop it from train or test", detail=details)


def count(source: FinderInput) -> int:
    """Shared triples (not rows: one triple can repeat in train)."""
    return source.report.overlap.shared_triples if source.report.overlap else 0


FINDER = register(
    Finder(
        kind=KIND,
        title="Train/test overlap",
        help="Triples (sentence, subject, object) in both train and test: they leak test answers into training.",
        find=find,
        count=count,
        order=50,
    )
)
