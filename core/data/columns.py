"""Records to columns: the per-format step that splits each record into canonical fields before validation.

This module owns :class:`Columns` (per-record values and the problems found while splitting them) and the
three ways to fill it: a CSV table (whole entity columns at once), KLUE-layout records (official JSON, JSON
lines, Hugging Face rows) and TACRED records (tokens and token indices turned into a sentence and character
offsets). It is separate because it is the only format-specific part between reading a file
(:mod:`core.data.readers`) and the checks every format shares (:mod:`core.data.validation`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.common.schema import ROLES
from core.data.entities import entity_column, entity_from_object, parse_entity_cell
from core.data.readers import STR_DTYPE, CsvTable, is_int, short_repr

ENTITY_COLUMNS: dict[str, str] = {"subj": "subject_entity", "obj": "object_entity"}


@dataclass
class Columns:
    """Per-record values of the records that could be split into fields, before validation.

    Positions (not row numbers) index everything; ``problems`` holds what the parse itself found
    as ``(position, field, reason)``. ``entity_ok[role]`` is False where the entity could not be
    read (its offsets are then meaningless and not range-checked).
    """

    ids: pd.Series
    sentence: pd.Series
    words: dict[str, pd.Series]
    starts: dict[str, np.ndarray]
    ends: dict[str, np.ndarray]
    types: dict[str, pd.Series]
    entity_ok: dict[str, np.ndarray]
    label: pd.Series
    source: pd.Series
    rows: np.ndarray
    problems: list[tuple[int, str, str]]


class _Builder:
    """Collects records read one by one (the JSON formats) into :class:`Columns`."""

    def __init__(self) -> None:
        self.ids: list[str | None] = []
        self.sentence: list[str | None] = []
        self.words: dict[str, list[str | None]] = {r: [] for r in ROLES}
        self.starts: dict[str, list[int]] = {r: [] for r in ROLES}
        self.ends: dict[str, list[int]] = {r: [] for r in ROLES}
        self.types: dict[str, list[str | None]] = {r: [] for r in ROLES}
        self.ok: dict[str, list[bool]] = {r: [] for r in ROLES}
        self.label: list[str | None] = []
        self.source: list[str | None] = []
        self.rows: list[int] = []
        self.problems: list[tuple[int, str, str]] = []

    def add(
        self,
        row: int,
        rid: str | None,
        sentence: str | None,
        entities: Mapping[str, tuple[str | None, int | None, int | None, str | None, bool]],
        label: str | None,
        source: str | None,
        problems: Iterable[tuple[str, str]],
    ) -> None:
        pos = len(self.rows)
        self.rows.append(row)
        self.ids.append(rid)
        self.sentence.append(sentence)
        for role in ROLES:
            word, start, end, etype, ok = entities[role]
            self.words[role].append(word)
            self.starts[role].append(start if ok and start is not None else 0)
            self.ends[role].append(end if ok and end is not None else 0)
            self.types[role].append(etype)
            self.ok[role].append(ok)
        self.label.append(label)
        self.source.append(source)
        self.problems.extend((pos, f, r) for f, r in problems)

    def build(self) -> Columns:
        def text(values: list[str | None]) -> pd.Series:
            return pd.Series(values, dtype=STR_DTYPE)

        return Columns(
            ids=text(self.ids),
            sentence=text(self.sentence),
            words={r: text(v) for r, v in self.words.items()},
            starts={r: np.asarray(v, dtype=np.int64) for r, v in self.starts.items()},
            ends={r: np.asarray(v, dtype=np.int64) for r, v in self.ends.items()},
            types={r: text(v) for r, v in self.types.items()},
            entity_ok={r: np.asarray(v, dtype=bool) for r, v in self.ok.items()},
            label=text(self.label),
            source=text(self.source),
            rows=np.asarray(self.rows, dtype=np.int64),
            problems=self.problems,
        )


def _label_text(value: object, key: str) -> tuple[str | None, list[tuple[str, str]]]:
    """A JSON label as text (numbers as digits, resolved later); None means unlabeled."""
    if value is None:
        return None, []
    if isinstance(value, str):
        return value, []
    if is_int(value):
        return str(value), []
    return None, [(key, f"{key} must be a label name, got {short_repr(value)}")]


# --------------------------------------------------------------------------------------------------
# CSV


def csv_columns(table: CsvTable, notes: list[str]) -> Columns:
    frame = table.frame
    n = len(frame)
    words, starts, ends, types, ok = {}, {}, {}, {}, {}
    problems: list[tuple[int, str, str]] = []
    slow = 0
    for role, column in ENTITY_COLUMNS.items():
        w, s, e, t, good, p, n_slow = entity_column(frame[column], column)
        words[role], starts[role], ends[role], types[role], ok[role] = w, s, e, t, good
        problems.extend(p)
        slow += n_slow
    if slow:
        notes.append(
            f"{slow} entity cell(s) were not written in the canonical form (Python's repr of the dict) "
            "and were read one by one with ast.literal_eval (slower)."
        )
    if "source" in frame.columns:
        source = frame["source"]
    else:
        source = pd.Series([""] * n, dtype=STR_DTYPE)
        notes.append("The file has no source column; source is left empty.")
    label = frame["label"]
    empty_label = np.flatnonzero(label.eq("").to_numpy(dtype=bool, na_value=False))
    problems.extend(
        (int(p), "label", "label is empty (write a label name, or 100 for an unlabeled row)") for p in empty_label
    )
    return Columns(
        ids=frame["id"],
        sentence=frame["sentence"],
        words=words,
        starts=starts,
        ends=ends,
        types=types,
        entity_ok=ok,
        label=label.mask(label.eq("")),
        source=source,
        rows=table.rows,
        problems=problems,
    )


# --------------------------------------------------------------------------------------------------
# JSON


def _id_text(record: Mapping[str, Any], key: str, problems: list[tuple[str, str]]) -> str | None:
    if key not in record:
        problems.append((key, f"key '{key}' is missing"))
        return None
    value = record[key]
    if isinstance(value, str):
        return value
    if is_int(value):
        return str(value)
    problems.append((key, f"{key} must be a string or an integer, got {short_repr(value)}"))
    return None


def _source_text(record: Mapping[str, Any], problems: list[tuple[str, str]]) -> str:
    value = record.get("source")
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    problems.append(("source", f"source must be a string, got {short_repr(value)}"))
    return ""


def klue_columns(
    records: Sequence[tuple[int, Any]], *, id_key: str, label_names: Sequence[str] | None = None
) -> Columns:
    """Columns of KLUE-layout records (official JSON, Hugging Face rows).

    ``label_names`` maps integer labels by position (a Hugging Face ``ClassLabel``; -1 is unlabeled);
    without it integer labels are resolved later like CSV numbers.
    """
    builder = _Builder()
    for row, record in records:
        if not isinstance(record, dict):
            continue
        problems: list[tuple[str, str]] = []
        rid = _id_text(record, id_key, problems)
        sentence = record.get("sentence")
        if "sentence" not in record:
            problems.append(("sentence", "key 'sentence' is missing"))
        elif not isinstance(sentence, str):
            problems.append(("sentence", f"sentence must be a string, got {short_repr(sentence)}"))
            sentence = None
        entities = {}
        for role, key in ENTITY_COLUMNS.items():
            if key not in record:
                problems.append((key, f"key '{key}' is missing"))
                entities[role] = (None, None, None, None, False)
                continue
            value = record[key]
            # Some conversions of the CSV keep the entity as its Python-literal string.
            parse = parse_entity_cell if isinstance(value, str) else entity_from_object
            entities[role], entity_problems = parse(value, key)
            problems.extend(entity_problems)
        raw_label = record.get("label")
        if label_names is not None and is_int(raw_label):
            if raw_label == -1:
                raw_label = None
            elif 0 <= raw_label < len(label_names):
                raw_label = label_names[raw_label]
            else:
                problems.append(("label", f"label {raw_label} is outside the {len(label_names)} label names"))
                raw_label = None
        label, label_problems = _label_text(raw_label, "label")
        problems.extend(label_problems)
        builder.add(row, rid, sentence, entities, label, _source_text(record, problems), problems)
    return builder.build()


def tacred_columns(records: Sequence[tuple[int, Any]]) -> Columns:
    builder = _Builder()
    for row, record in records:
        if not isinstance(record, dict):
            continue
        problems: list[tuple[str, str]] = []
        rid = _id_text(record, "id", problems)
        tokens = record.get("token")
        sentence: str | None = None
        starts: list[int] = []
        if "token" not in record:
            problems.append(("token", "key 'token' is missing"))
            tokens = None
        elif not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            problems.append(("token", f"token must be a list of strings, got {short_repr(tokens)}"))
            tokens = None
        else:
            sentence = " ".join(tokens)
            position = 0
            for token in tokens:
                starts.append(position)
                position += len(token) + 1
        entities = {}
        for role in ROLES:
            first, last = record.get(f"{role}_start"), record.get(f"{role}_end")
            etype = record.get(f"{role}_type")
            good = True
            for key, value in ((f"{role}_start", first), (f"{role}_end", last)):
                if key not in record:
                    problems.append((key, f"key '{key}' is missing"))
                    good = False
                elif not is_int(value):
                    problems.append((key, f"{key} must be an integer token index, got {short_repr(value)}"))
                    good = False
                elif tokens is not None and not 0 <= value < len(tokens):
                    problems.append((key, f"{key} {value} is outside the token list ({len(tokens)} tokens)"))
                    good = False
            if good and tokens is not None and first > last:
                problems.append((f"{role}_end", f"{role}_end {last} is before {role}_start {first}"))
                good = False
            if f"{role}_type" not in record:
                problems.append((f"{role}_type", f"key '{role}_type' is missing"))
            elif not isinstance(etype, str):
                problems.append((f"{role}_type", f"{role}_type must be a string, got {short_repr(etype)}"))
                etype = None
            if good and tokens is not None and sentence is not None:
                start = starts[first]
                end = starts[last] + len(tokens[last]) - 1
                entities[role] = (sentence[start : end + 1], start, end, etype, True)
            else:
                entities[role] = (None, None, None, etype, False)
        label, label_problems = _label_text(record.get("relation"), "relation")
        problems.extend(label_problems)
        builder.add(row, rid, sentence, entities, label, _source_text(record, problems), problems)
    return builder.build()
