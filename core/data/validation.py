"""Row validation shared by all formats, and the :class:`LoadResult` it produces.

This module owns the checks that do not depend on the file format: ids (empty, duplicated, hiding invisible
characters), sentences, entity offsets against the sentence, entity types and labels against the schema
(numbers resolved through a label map), all vectorised over :class:`~core.data.columns.Columns`. Every
problem becomes an :class:`~core.common.schema.InvalidRow` naming the row and the field the way the file
names it; rows with any problem are dropped from the canonical frame. It is separate because it is the one
place that decides whether a row is valid, whichever reader and format the row came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.common.schema import (
    COLUMNS,
    INVISIBLE_CHARS_CLASS,
    ROLES,
    UNLABELED_TEST_LABEL,
    InvalidRow,
    LabelSchema,
    invisible_codes,
)
from core.data.columns import ENTITY_COLUMNS, Columns
from core.data.readers import STR_DTYPE, short_repr

#: Order in which a row's problems are listed: the order of the fields in the file.
_FIELD_RANK: dict[str, int] = {
    name: rank
    for rank, names in enumerate(
        (
            ("record",),
            ("id", "guid"),
            ("sentence", "token"),
            ("subject_entity", "subj_start", "subj_end", "subj_type"),
            ("object_entity", "obj_start", "obj_end", "obj_type"),
            ("label", "relation"),
            ("source",),
        )
    )
    for name in names
}


@dataclass
class LoadResult:
    """A loaded file: its valid rows as a canonical frame, and its invalid rows with reasons.

    ``labeled`` is True when at least one loaded row carries a label; ``schema`` is the schema the
    rows were checked against (switched to TACRED for TACRED files, relabelled by a label map);
    ``notes`` says what the loader decided on the user's behalf (format, skipped blank lines...).
    """

    frame: pd.DataFrame
    invalid: list[InvalidRow]
    fmt: str
    path: str
    n_records: int
    labeled: bool
    schema: LabelSchema
    notes: list[str] = field(default_factory=list)

    @property
    def n_invalid_rows(self) -> int:
        """Number of distinct records with at least one problem."""
        return len({r.row for r in self.invalid})

    def invalid_frame(self) -> pd.DataFrame:
        """The problems as a frame (``row, field, reason, id``), one line per problem, for download."""
        return pd.DataFrame(
            {
                "row": pd.Series([r.row for r in self.invalid], dtype="int64"),
                "field": pd.Series([r.field for r in self.invalid], dtype=STR_DTYPE),
                "reason": pd.Series([r.reason for r in self.invalid], dtype=STR_DTYPE),
                "id": pd.Series([r.id for r in self.invalid], dtype=STR_DTYPE),
            }
        )


def field_names(fmt: str, id_key: str = "id") -> dict[str, str]:
    """Canonical column -> the field name the file uses (for InvalidRow.field)."""
    if fmt == "tacred-json":
        names = {"id": "id", "sentence": "token", "label": "relation", "source": "source"}
        for role in ROLES:
            names.update(
                {
                    f"{role}_word": "token",
                    f"{role}_start": f"{role}_start",
                    f"{role}_end": f"{role}_end",
                    f"{role}_type": f"{role}_type",
                }
            )
        return names
    names = {"id": id_key, "sentence": "sentence", "label": "label", "source": "source"}
    for role, column in ENTITY_COLUMNS.items():
        names.update(
            {
                f"{role}_word": f"{column}.word",
                f"{role}_start": f"{column}.start_idx",
                f"{role}_end": f"{column}.end_idx",
                f"{role}_type": f"{column}.type",
            }
        )
    return names


def _resolve_labels(
    raw: pd.Series,
    *,
    schema: LabelSchema,
    label_map: Mapping[str, int] | None,
    field_name: str,
    problems: list[tuple[int, str, str]],
) -> pd.Series:
    """Label names (NaN = unlabeled) from raw label text; numbers go through the label map."""
    labels = raw.copy()
    numeric = raw.str.fullmatch(r"-?[0-9]+").to_numpy(dtype=bool, na_value=False)
    if numeric.any():
        by_number = {v: k for k, v in label_map.items()} if label_map is not None else {}
        resolved: dict[str, str | None] = {}
        reasons: dict[str, str] = {}
        for text in pd.unique(raw[numeric]):
            number = int(text)
            if number == UNLABELED_TEST_LABEL:
                resolved[text] = None
            elif number in by_number:
                resolved[text] = by_number[number]
            elif label_map is None:
                reasons[text] = (
                    f"label is the number {number}; pass a label map (label_map=, e.g. from "
                    "dict_label_to_num.pkl) to turn numbers into names, or write label names"
                )
            else:
                reasons[text] = f"label {number} is not in the label map (it numbers 0..{len(label_map) - 1})"
        positions = np.flatnonzero(numeric)
        values = raw.iloc[positions].tolist()
        problems.extend(
            (int(p), field_name, reasons[v]) for p, v in zip(positions, values, strict=True) if v in reasons
        )
        labels.iloc[positions] = [resolved.get(v) for v in values]
    named = raw.notna().to_numpy() & ~numeric
    unknown = named & ~raw.isin(schema.labels).to_numpy()
    where = "the label map" if label_map is not None else f"the {len(schema.labels)} {schema.name} labels"
    positions = np.flatnonzero(unknown)
    problems.extend(
        (int(p), field_name, f"unknown label {short_repr(v)} (not one of {where})")
        for p, v in zip(positions, raw.iloc[positions].tolist(), strict=True)
        if v != ""  # empty labels were reported by the parser
    )
    return labels


def finish(
    cols: Columns,
    *,
    extra_invalid: list[InvalidRow],
    schema: LabelSchema,
    label_map: Mapping[str, int] | None,
    fields: Mapping[str, str],
    fmt: str,
    name: str,
    notes: list[str],
) -> LoadResult:
    """Validate the columns (vectorised), drop every row with a problem and build the result."""
    n = len(cols.rows)
    problems = list(cols.problems)

    def flag(mask: np.ndarray, field_name: str, reason: Any) -> None:
        for pos in np.flatnonzero(mask).tolist():
            problems.append((pos, field_name, reason(pos) if callable(reason) else reason))

    ids = cols.ids
    has_id = ids.notna().to_numpy()
    empty_id = ids.eq("").to_numpy(dtype=bool, na_value=False)
    flag(empty_id, fields["id"], "id is empty")
    # An id with a zero-width or bidi-control character shows like another id (or reversed) in every
    # table and message: refused here, so the ids a team sees are the ids it has.
    hidden = ids.str.contains(INVISIBLE_CHARS_CLASS, regex=True).to_numpy(dtype=bool, na_value=False)
    if hidden.any():
        id_text = ids.to_numpy(dtype=object)
        flag(
            hidden,
            fields["id"],
            lambda p: (
                "id contains invisible or direction-changing character(s) "
                f"{', '.join(invisible_codes(id_text[p]))}; "
                "remove them (they make an id look like another)"
            ),
        )
    repeated = ids.duplicated(keep="first").to_numpy()
    dup = repeated & has_id & ~empty_id
    if dup.any():
        first = ~repeated & has_id
        first_row = pd.Series(cols.rows[first], index=ids[first].to_numpy())
        dup_ids = ids[dup].tolist()
        first_rows = dict(zip(dup_ids, first_row.loc[dup_ids].tolist(), strict=True))
        id_values = ids.to_numpy(dtype=object)
        flag(
            dup,
            fields["id"],
            lambda p: f"duplicate id {short_repr(id_values[p])} (first seen in row {first_rows[id_values[p]]})",
        )

    sentence = cols.sentence
    has_sentence = sentence.notna().to_numpy()
    length = sentence.str.len().fillna(0).to_numpy(dtype=np.int64)
    empty_sentence = has_sentence & (length == 0)
    flag(empty_sentence, fields["sentence"], "sentence is empty")

    type_list = ", ".join(schema.entity_types)
    for role in ROLES:
        start, end, ok = cols.starts[role], cols.ends[role], cols.entity_ok[role]
        check = ok & has_sentence & (length > 0)
        start_name, end_name = fields[f"{role}_start"], fields[f"{role}_end"]
        start_key, end_key = start_name.rsplit(".", 1)[-1], end_name.rsplit(".", 1)[-1]
        neg_start, past_start = check & (start < 0), check & (start >= length)
        neg_end, past_end = check & (end < 0), check & (end >= length)
        flag(neg_start, start_name, lambda p, s=start, k=start_key: f"{k} {s[p]} is negative")
        flag(
            past_start,
            start_name,
            lambda p, s=start, k=start_key: f"{k} {s[p]} is past the end of the sentence (length {length[p]})",
        )
        flag(neg_end, end_name, lambda p, e=end, k=end_key: f"{k} {e[p]} is negative")
        flag(
            past_end,
            end_name,
            lambda p, e=end, k=end_key: (
                f"{k} {e[p]} is past the end of the sentence (length {length[p]}; the end is "
                f"inclusive, so at most {length[p] - 1})"
            ),
        )
        order = check & ~(neg_start | past_start | neg_end | past_end) & (start > end)
        flag(
            order,
            end_name,
            lambda p, s=start, e=end, a=start_key, b=end_key: f"{b} {e[p]} is before {a} {s[p]}",
        )
        etype = cols.types[role]
        unknown = etype.notna().to_numpy() & ~etype.isin(schema.entity_types).to_numpy()
        values = etype.to_numpy(dtype=object)
        flag(
            unknown,
            fields[f"{role}_type"],
            lambda p, v=values: f"unknown entity type {short_repr(v[p])} (expected one of {type_list})",
        )

    labels = _resolve_labels(
        cols.label, schema=schema, label_map=label_map, field_name=fields["label"], problems=problems
    )

    bad = np.zeros(n, dtype=bool)
    if problems:
        bad[np.fromiter((p for p, _, _ in problems), dtype=np.int64, count=len(problems))] = True
    keep = ~bad
    id_values = ids.to_numpy(dtype=object)
    invalid = [
        InvalidRow(int(cols.rows[p]), f, r, None if pd.isna(id_values[p]) else str(id_values[p]))
        for p, f, r in problems
    ]
    invalid.extend(extra_invalid)
    # By row, then in the file's field order; stable, so one entity's keys keep their order.
    invalid.sort(key=lambda r: (r.row, _FIELD_RANK.get(r.field.split(".")[0], len(_FIELD_RANK))))

    data: dict[str, Any] = {"id": ids, "sentence": sentence}
    for role in ROLES:
        data[f"{role}_word"] = cols.words[role]
        data[f"{role}_start"] = cols.starts[role]
        data[f"{role}_end"] = cols.ends[role]
        data[f"{role}_type"] = cols.types[role]
    data.update(label=labels, source=cols.source, row=cols.rows)
    frame = pd.DataFrame({k: (v.reset_index(drop=True) if isinstance(v, pd.Series) else v) for k, v in data.items()})
    frame = frame.loc[keep, list(COLUMNS)].reset_index(drop=True)
    frame = frame.astype(
        {c: STR_DTYPE for c in COLUMNS if c not in ("subj_start", "subj_end", "obj_start", "obj_end", "row")}
        | {c: np.int64 for c in ("subj_start", "subj_end", "obj_start", "obj_end", "row")}
    )

    n_unlabeled = int(frame["label"].isna().sum())
    labeled = n_unlabeled < len(frame)
    if labeled and n_unlabeled:
        notes.append(f"{n_unlabeled} of {len(frame)} loaded rows are unlabeled (label {UNLABELED_TEST_LABEL}).")
    n_records = n + len({r.row for r in extra_invalid})
    return LoadResult(
        frame=frame,
        invalid=invalid,
        fmt=fmt,
        path=name,
        n_records=n_records,
        labeled=labeled,
        schema=schema,
        notes=notes,
    )
