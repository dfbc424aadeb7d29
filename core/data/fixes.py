"""Turn audit findings into change sets for the corrections store.

Each function takes what the audit found plus the current row versions and
returns :class:`~core.store.workspace.RowChange` objects; the caller applies them
with :meth:`Workspace.apply_changes`, which logs each field and refuses stale
versions. Keeping this apart from the view means the CLI and tests make exactly
the same edits the buttons do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from core.store.workspace import RowChange

Versions = Mapping[str, int]


def accept_type_suggestions(flags: pd.DataFrame, versions: Versions) -> list[RowChange]:
    """Set each flagged entity type to its suggested type.

    ``flags`` has the audit's type-flag columns (id, role, suggested_type); one row
    may carry a subject and an object flag, which become one change.
    """
    updates: dict[str, dict[str, str]] = {}
    for row_id, role, suggested in zip(flags["id"], flags["role"], flags["suggested_type"], strict=True):
        if suggested is None or pd.isna(suggested):
            continue
        updates.setdefault(str(row_id), {})[f"{role}_type"] = str(suggested)
    return [RowChange(rid, versions.get(rid, 0), fields) for rid, fields in updates.items()]


def accept_offset_suggestions(mismatches: pd.DataFrame, versions: Versions) -> list[RowChange]:
    """Move each mismatched span to the suggested occurrence of its word (rows without one are skipped)."""
    updates: dict[str, dict[str, int]] = {}
    usable = mismatches.dropna(subset=["suggested_start", "suggested_end"])
    for row_id, role, start, end in zip(
        usable["id"], usable["role"], usable["suggested_start"], usable["suggested_end"], strict=True
    ):
        updates.setdefault(str(row_id), {}).update({f"{role}_start": int(start), f"{role}_end": int(end)})
    return [RowChange(rid, versions.get(rid, 0), fields) for rid, fields in updates.items()]


def drop_duplicate_copies(id_groups: Iterable[Sequence[str]], versions: Versions) -> list[RowChange]:
    """Keep the first row of each group of exact duplicates and drop the others."""
    return [RowChange(str(rid), versions.get(str(rid), 0), drop=True) for group in id_groups for rid in list(group)[1:]]


def resolve_conflict(group: pd.DataFrame, keep_label: str, versions: Versions) -> list[RowChange]:
    """Resolve one label conflict: keep one row with ``keep_label`` and drop the rest.

    ``group`` holds the conflicting rows (columns id, label). When no row carries
    ``keep_label`` yet, the first row is relabelled to it and the others dropped.
    """
    if group.empty:
        return []
    ids = group["id"].astype(str).tolist()
    carriers = group.loc[group["label"] == keep_label, "id"].astype(str).tolist()
    keeper = carriers[0] if carriers else ids[0]
    changes = [] if carriers else [RowChange(keeper, versions.get(keeper, 0), {"label": keep_label})]
    changes += [RowChange(rid, versions.get(rid, 0), drop=True) for rid in ids if rid != keeper]
    return changes


def edit_row(
    row: Mapping[str, object],
    version: int,
    *,
    label: str | None,
    subj: tuple[int, int, str],
    obj: tuple[int, int, str],
) -> RowChange:
    """A change setting a row's label and both entities (start, end inclusive, type).

    The entity words are taken from the sentence at the new spans, so span and
    word can never disagree after an edit; offsets outside the sentence are refused.
    """
    sentence = str(row["sentence"])
    updates: dict[str, object] = {}
    if label is not None:
        updates["label"] = label
    for role, (start, end, etype) in (("subj", subj), ("obj", obj)):
        if not 0 <= start <= end < len(sentence):
            raise ValueError(
                f"Row {row['id']}: {role} span {start}-{end} is outside the sentence (0-{len(sentence) - 1})."
            )
        updates.update(
            {
                f"{role}_start": start,
                f"{role}_end": end,
                f"{role}_word": sentence[start : end + 1],
                f"{role}_type": etype,
            }
        )
    return RowChange(str(row["id"]), version, updates)
