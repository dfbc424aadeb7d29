"""Invalid rows as findings: train rows the import could not read, kept aside with the reason."""

from __future__ import annotations

import pandas as pd

from core.data.finders.base import Finder, FinderInput, findings, register

KIND = "invalid_rows"


def find(source: FinderInput) -> pd.DataFrame:
    """One finding per (row, field) the import refused, in file order; the id is None where unreadable."""
    bad = source.invalid_rows
    if bad is None or bad.empty:
        return findings(KIND, [])
    details = [f"row {r}, {f}: {why}" for r, f, why in zip(bad["row"], bad["field"], bad["reason"], strict=True)]
    return findings(KIND, bad["id"], suggestion="fix the file and import it again", detail=details)


def count(source: FinderInput) -> int:
    """Invalid file rows (one row can fail on several fields)."""
    bad = source.invalid_rows
    return int(bad["row"].nunique()) if bad is not None and len(bad) else 0


FINDER = register(
    Finder(
        kind=KIND,
        title="Invalid rows",
        help="Rows of the imported file that could not be read; they are kept aside, not imported.",
        find=find,
        count=count,
        order=60,
    )
)
