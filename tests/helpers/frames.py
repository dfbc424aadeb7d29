"""Canonical frames made by hand."""

from __future__ import annotations

import pandas as pd

from core.common.schema import COLUMNS


def make_frame(rows: list[dict]) -> pd.DataFrame:
    """A canonical frame from partial row dicts (word fields filled from the spans)."""
    out = []
    for i, r in enumerate(rows):
        row = {
            "id": str(r.get("id", i)),
            "sentence": r["sentence"],
            "label": r.get("label", "no_relation"),
            "source": r.get("source", "wikipedia"),
            "row": i + 1,
        }
        for role, default_type in (("subj", "PER"), ("obj", "ORG")):
            start, end = r[role]
            row[f"{role}_start"], row[f"{role}_end"] = start, end
            row[f"{role}_word"] = r.get(f"{role}_word", r["sentence"][start : end + 1])
            row[f"{role}_type"] = r.get(f"{role}_type", default_type)
        out.append(row)
    frame = pd.DataFrame(out)[list(COLUMNS)]
    for col in ("subj_start", "subj_end", "obj_start", "obj_end", "row"):
        frame[col] = frame[col].astype("int64")
    return frame
