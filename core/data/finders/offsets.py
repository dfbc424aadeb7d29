"""Offset mismatches as findings: entities whose span does not spell their word."""

from __future__ import annotations

import pandas as pd

from core.data.finders.base import Finder, FinderInput, findings, register

KIND = "offsets"


def find(source: FinderInput) -> pd.DataFrame:
    """One finding per faulty entity, in file order (subject first), with the span that spells the word."""
    off = source.report.offset_mismatches
    suggestions = [
        None if pd.isna(start) else f"{role} span {int(start)}-{int(end)}"
        for role, start, end in zip(off["role"], off["suggested_start"], off["suggested_end"], strict=True)
    ]
    details = [
        f"{rec.role} {rec.word!r} at {rec.start}-{rec.end} reads {rec.found!r}: {rec.reason}"
        for rec in off.itertuples(index=False)
    ]
    return findings(KIND, off["id"], suggestion=suggestions, detail=details)


FINDER = register(
    Finder(
        kind=KIND,
        title="Offsets",
        help="Entity spans (end inclusive) that do not spell the entity word, with the span that does.",
        find=find,
        count=lambda source: len(source.report.offset_mismatches),
        order=40,
    )
)
