"""Entity-swap augmentation for inverse and symmetric relations.

Swapping subject and object of a ``per:parents`` row gives a ``per:children``
row; a ``per:spouse`` row stays ``per:spouse``. Rows whose swapped subject type
the new label does not allow (``org:members`` with a LOC object cannot become an
``org:member_of`` row with a LOC subject) are left out, and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from core.common.schema import INVERSE_RELATIONS, KLUE_SCHEMA, SYMMETRIC_RELATIONS, LabelSchema


@dataclass(frozen=True)
class SwapResult:
    frame: pd.DataFrame
    skipped_type: int


def entity_swap(frame: pd.DataFrame, *, schema: LabelSchema = KLUE_SCHEMA, id_suffix: str = "-swap") -> SwapResult:
    """New rows with subject and object swapped, for every inverse or symmetric relation.

    Parameters
    ----------
    frame
        Canonical frame (current, corrected rows).
    schema
        Gives the subject type each label prefix requires.
    id_suffix
        Appended to the source row's id so the new rows' ids stay unique and traceable.

    Returns
    -------
    SwapResult with the new rows only (not the originals) and how many rows were
    skipped because the swapped subject type does not fit the new label.
    """
    mapping = {**INVERSE_RELATIONS, **{label: label for label in SYMMETRIC_RELATIONS}}
    rows = frame[frame["label"].isin(list(mapping))].copy()
    new_label = rows["label"].map(mapping)
    prefix = new_label.str.split(":").str[0]
    required = prefix.map(schema.prefix_subject_type)
    fits = required.isna() | (rows["obj_type"] == required)
    out = rows[fits].copy()
    for part in ("word", "start", "end", "type"):
        out[f"subj_{part}"], out[f"obj_{part}"] = (
            rows.loc[fits, f"obj_{part}"],
            rows.loc[fits, f"subj_{part}"],
        )
    out["label"] = new_label[fits]
    out["id"] = out["id"].astype(str) + id_suffix
    return SwapResult(out.reset_index(drop=True), int((~fits).sum()))
