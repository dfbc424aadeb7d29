"""Type flags as findings: entity types that contradict the label (the prefix and minority rules)."""

from __future__ import annotations

import pandas as pd

from core.data.finders.base import Finder, FinderInput, findings, register

KIND = "type_flags"


def find(source: FinderInput) -> pd.DataFrame:
    """One finding per flagged entity, rarest first; the score is how rare the type is for the label."""
    flags = source.report.type_flags
    return findings(
        KIND,
        flags["id"],
        score=1.0 - flags["share"].astype(float),
        suggestion=[f"{role} type {t}" for role, t in zip(flags["role"], flags["suggested_type"], strict=True)],
        detail=flags["reason"],
    )


FINDER = register(
    Finder(
        kind=KIND,
        title="Type flags",
        help="Entity types that contradict the label: the schema's prefix rule, or a type rare for the label.",
        find=find,
        count=lambda source: len(source.report.type_flags),
        order=10,
    )
)
