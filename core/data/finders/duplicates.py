"""Exact duplicates as findings: every copy beyond the first of a set of identical train rows."""

from __future__ import annotations

import pandas as pd

from core.data.finders.base import Finder, FinderInput, findings, register

KIND = "duplicates"


def find(source: FinderInput) -> pd.DataFrame:
    """One finding per extra copy (the first row of each group is the one kept)."""
    ids: list[str] = []
    details: list[str] = []
    for group in source.report.duplicates.id_groups:
        for copy in group[1:]:
            ids.append(copy)
            details.append(f"identical to id {group[0]}")
    return findings(KIND, ids, suggestion="drop this copy", detail=details)


FINDER = register(
    Finder(
        kind=KIND,
        title="Duplicates",
        help="Rows identical on sentence, both entities and label; the extra copies can be dropped.",
        find=find,
        count=lambda source: source.report.duplicates.extra_rows,
        order=20,
    )
)
