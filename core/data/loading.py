"""Read relation-extraction datasets into the canonical frame.

Formats
-------
``csv``
    The competition CSV: ``id, sentence, subject_entity, object_entity, label[, source]``. Entity cells
    are Python-literal dicts ``{'word': ..., 'start_idx': ..., 'end_idx': ..., 'type': ...}`` with an
    INCLUSIVE ``end_idx``; ``label`` 100 marks an unlabeled (test) row; extra columns are ignored.
``klue-json``
    The official KLUE JSON: a list of objects with ``guid``, ``sentence``, ``subject_entity`` and
    ``object_entity`` (JSON objects with the same four keys), ``label`` (a name) and ``source``.
    JSON lines (one object per line) are read too.
``tacred-json``
    TACRED JSON: objects with ``id``, ``token`` (a list), ``subj_start``/``subj_end``/``obj_start``/
    ``obj_end`` (token indices, inclusive), ``subj_type``, ``obj_type`` and ``relation``. The sentence
    becomes ``" ".join(token)`` and the spans character offsets (inclusive end).

What a load returns
-------------------
:class:`LoadResult`: the canonical frame (:data:`core.common.schema.COLUMNS`) holding every row that passed
every check, and one :class:`~core.common.schema.InvalidRow` per problem in the rows that did not, so a user
sees all problems of a row at once. ``n_records == len(frame) + number of distinct invalid rows``.
:class:`~core.common.schema.DataError` is raised only when the file cannot be read as a whole (missing, not
UTF-8, not JSON, JSON nested too deep to parse, a header of more than :data:`MAX_CSV_COLUMNS` columns,
required columns absent, no rows). Messages name the file as ``display_name`` (an upload's own name) or
the path as given, never a temporary copy, and list at most a dozen column or key names.
An id holding a zero-width or bidi-control character (:data:`core.common.schema.INVISIBLE_CHARS`) is an invalid
row: such an id would look like another id, or read reversed, wherever it is shown.

``row`` is the 1-based record number in the file: the header is not counted, a CSV record spanning
several lines counts once, blank lines count (so in an ordinary CSV ``row`` is the line number minus
one) but are not records and are skipped with a note. In JSON lines ``row`` is the line number.

``InvalidRow.field`` names the field the way the file does: ``id``, ``sentence``, ``label``,
``subject_entity`` (the whole cell), ``subject_entity.start_idx`` (one key), ``record`` (a malformed
CSV line or a JSON value that is not an object); TACRED uses its own keys (``token``, ``subj_start``,
``relation``...). A word that does not match ``sentence[start:end + 1]`` and a legal entity type that
is odd for its role are NOT invalid: such rows load and the audit flags them.

Speed (a measured need, hence the hand-written parts)
-----------------------------------------------------
The benchmark compares load + full audit of a 1,000,000-row CSV against plain ``pandas.read_csv`` +
``ast.literal_eval`` of both entity columns. ``literal_eval`` costs about 17 us a cell, 33-36 s for
the two million cells on the 2-core development machine, while this loader reads the same files in
about 2.2 s (ratio about 0.06), with results identical to ``literal_eval`` on every cell. So entity
cells are never ``literal_eval``-ed on the happy path: one RE2 regex (``pyarrow.compute.
extract_regex``, 0.55 s per million cells, against 3.9 s for ``pandas.Series.str.extract``, which
runs Python ``re`` per cell) matches the canonical literal form exactly, and only the cells it does
not match go through ``ast.literal_eval``, so every result is what ``literal_eval`` gives. The file
is parsed by ``pyarrow.csv`` (1.4 s for 1M rows, single threaded so that malformed lines come with
their record numbers; pandas' C parser pads short lines silently and numbers bad lines differently).
All validation is vectorised.
"""

from __future__ import annotations

import ast
import codecs
import csv
import io
import json
import os
import pickle
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from core.common.schema import (
    COLUMNS,
    INVISIBLE_CHARS_CLASS,
    KLUE_OFFICIAL_LABELS,
    KLUE_SCHEMA,
    ROLES,
    TACRED_SCHEMA,
    UNLABELED_TEST_LABEL,
    DataError,
    InvalidRow,
    LabelSchema,
    invisible_codes,
)

#: Formats :func:`load_file` reads (``"auto"`` picks one of them).
FORMATS: tuple[str, ...] = ("csv", "klue-json", "tacred-json")
CSV_REQUIRED: tuple[str, ...] = ("id", "sentence", "subject_entity", "object_entity", "label")
CSV_OPTIONAL: tuple[str, ...] = ("source",)
ENTITY_KEYS: tuple[str, ...] = ("word", "start_idx", "end_idx", "type")
ENTITY_COLUMNS: dict[str, str] = {"subj": "subject_entity", "obj": "object_entity"}
TACRED_REQUIRED: tuple[str, ...] = (
    "id",
    "token",
    "subj_start",
    "subj_end",
    "obj_start",
    "obj_end",
    "subj_type",
    "obj_type",
)
KLUE_JSON_REQUIRED: tuple[str, ...] = ("sentence", "subject_entity", "object_entity")

#: The default ``str`` dtype of pandas 3 (pyarrow storage, NaN as the missing value).
STR_DTYPE = pd.StringDtype(na_value=np.nan)

#: The canonical literal ``repr(dict)`` writes, and nothing ``ast.literal_eval`` would read differently:
#: a word in single quotes without quote, backslash or control character (no escapes to interpret, no
#: line break the tokenizer would refuse), or in double quotes likewise; keys in the canonical order;
#: decimal ints without leading zeros and at most 18 digits (so they fit int64). Anything else falls
#: back to ``literal_eval``.
_CANONICAL_ENTITY = (
    r"""^\{'word': (?P<word>'[^'\\\x00-\x1f]*'|"[^"\\\x00-\x1f]*"), """
    r"""'start_idx': (?P<start>-?(?:0|[1-9][0-9]{0,17})), """
    r"""'end_idx': (?P<end>-?(?:0|[1-9][0-9]{0,17})), """
    r"""'type': '(?P<type>[^'\\\x00-\x1f]*)'\}$"""
)
#: Offsets beyond this cannot index any sentence; refusing them keeps int64 arrays exact.
_OFFSET_LIMIT = 2**62
_UTF8_NAMES = frozenset({"utf-8", "utf-8-sig"})
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
_MAX_SHOWN = 60
#: Longest file name a message repeats (longer names are cut).
_MAX_NAME = 120
#: Most columns a CSV header may have. The formats need six; a header of a million columns is not a
#: dataset, and listing it would put megabytes into one message.
MAX_CSV_COLUMNS = 1000
#: Most column or key names one message lists.
_MAX_LISTED = 12
#: Nesting past this many levels is reported as the culprit when a JSON file is too deep to parse
#: (a KLUE or TACRED record nests three levels: the list, the record, the entity).
_JSON_DEPTH_REPORTED = 100


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


# --------------------------------------------------------------------------------------------------
# small helpers


def short_repr(value: object) -> str:
    """``repr`` of a value, cut so that one reason stays one readable line."""
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _display(path: str | os.PathLike[str], display_name: str | None = None) -> str:
    """The file's name in messages: ``display_name`` when given (an upload's original name: the server's
    temporary copy means nothing to the user and should not be shown), else the path as given.
    Cut to :data:`_MAX_NAME` characters so a pathological name cannot flood a message."""
    text = display_name if display_name is not None else os.fspath(path)
    return text if len(text) <= _MAX_NAME else text[: _MAX_NAME - 3] + "..."


def check_file(path: Path, name: str) -> None:
    if not path.exists():
        raise DataError(f"{name} does not exist.")
    if not path.is_file():
        raise DataError(f"{name} is not a file.")
    if not os.access(path, os.R_OK):
        raise DataError(f"{name} cannot be read (permission denied).")
    if path.stat().st_size == 0:
        raise DataError(f"{name} is empty.")


def _is_utf8(encoding: str | None) -> bool:
    return encoding is None or codecs.lookup(encoding).name in _UTF8_NAMES


def _check_encoding_name(encoding: str | None) -> None:
    if encoding is None:
        return
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError(f"Unknown encoding {encoding!r}; use a name such as 'utf-8' or 'cp949'.") from None


def _encoding_error(path: Path, name: str, encoding: str | None) -> DataError:
    """Say why the bytes do not decode, and which Korean legacy encoding would read them."""
    raw = path.read_bytes()
    if not _is_utf8(encoding):
        try:
            raw.decode(encoding or "")
        except UnicodeDecodeError as exc:
            return DataError(f"{name} cannot be decoded as {encoding} (bad byte at offset {exc.start}).")
        return DataError(f"{name} cannot be decoded as {encoding}.")
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start
    else:  # decodes after all: the parser tripped on something else
        return DataError(f"{name} could not be decoded as UTF-8.")
    # euc-kr is a subset of cp949, so trying cp949 covers both.
    try:
        raw.decode("cp949")
    except UnicodeDecodeError:
        return DataError(
            f"{name} is not UTF-8 (invalid byte at offset {offset}); re-save it as UTF-8 "
            "or pass its encoding with encoding=..."
        )
    return DataError(f"{name} is not UTF-8 (it decodes as cp949); re-save it as UTF-8 or pass encoding='cp949'.")


def _decode(raw: bytes, path: Path, name: str, encoding: str | None) -> str:
    try:
        return raw.decode("utf-8-sig" if _is_utf8(encoding) else encoding or "")
    except UnicodeDecodeError:
        raise _encoding_error(path, name, encoding) from None


def _label_map_order(label_map: Mapping[str, int]) -> tuple[str, ...]:
    return tuple(sorted(label_map, key=label_map.__getitem__))


# --------------------------------------------------------------------------------------------------
# columns before validation


@dataclass
class _Columns:
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
    """Collects records read one by one (the JSON formats) into :class:`_Columns`."""

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

    def build(self) -> _Columns:
        def text(values: list[str | None]) -> pd.Series:
            return pd.Series(values, dtype=STR_DTYPE)

        return _Columns(
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


def _entity_from_object(
    obj: object, name: str
) -> tuple[tuple[str | None, int | None, int | None, str | None, bool], list[tuple[str, str]]]:
    """Check one entity dict (a JSON object or a ``literal_eval`` result); one problem per bad key."""
    if not isinstance(obj, dict):
        return (None, None, None, None, False), [
            (
                name,
                f"expected a dict with keys {', '.join(ENTITY_KEYS)}, got {type(obj).__name__} {short_repr(obj)}",
            )
        ]
    problems: list[tuple[str, str]] = []
    for key in ENTITY_KEYS:
        if key not in obj:
            problems.append((f"{name}.{key}", f"key '{key}' is missing from {name}"))
    word, start, end, etype = (obj.get(k) for k in ENTITY_KEYS)
    for key, value in (("word", word), ("type", etype)):
        if key in obj and not isinstance(value, str):
            problems.append((f"{name}.{key}", f"{key} must be a string, got {short_repr(value)}"))
    for key, value in (("start_idx", start), ("end_idx", end)):
        if key not in obj:
            continue
        if not _is_int(value):
            problems.append((f"{name}.{key}", f"{key} must be an integer, got {short_repr(value)}"))
        elif abs(value) >= _OFFSET_LIMIT:
            problems.append((f"{name}.{key}", f"{key} {value} is out of range"))
    ok = not problems
    return (
        word if isinstance(word, str) else None,
        start if ok else None,
        end if ok else None,
        etype if isinstance(etype, str) else None,
        ok,
    ), problems


def _label_text(value: object, key: str) -> tuple[str | None, list[tuple[str, str]]]:
    """A JSON label as text (numbers as digits, resolved later); None means unlabeled."""
    if value is None:
        return None, []
    if isinstance(value, str):
        return value, []
    if _is_int(value):
        return str(value), []
    return None, [(key, f"{key} must be a label name, got {short_repr(value)}")]


# --------------------------------------------------------------------------------------------------
# CSV


@dataclass
class CsvTable:
    frame: pd.DataFrame  # the wanted columns, str dtype, blank lines removed
    rows: np.ndarray
    malformed: list[InvalidRow]
    blank_rows: list[int]
    header: list[str]


def _read_header(path: Path, name: str, encoding: str | None) -> list[str]:
    try:
        with open(path, encoding="utf-8-sig" if _is_utf8(encoding) else encoding, newline="") as handle:
            header = next(csv.reader(handle), None)
    except UnicodeDecodeError:
        raise _encoding_error(path, name, encoding) from None
    except csv.Error as exc:
        raise DataError(f"{name}: the header line cannot be read as CSV ({exc}).") from None
    except OSError as exc:
        raise DataError(f"{name} could not be read: {exc.strerror or type(exc).__name__}.") from None
    if not header or not any(h.strip() for h in header):
        raise DataError(f"{name} has no header line (the first line is blank).")
    if len(header) > MAX_CSV_COLUMNS:
        # Count only: the names themselves could be megabytes.
        raise DataError(
            f"{name}: header has {len(header):,} columns; expected at most {MAX_CSV_COLUMNS:,} "
            f"(the dataset columns are {', '.join(CSV_REQUIRED + CSV_OPTIONAL)})."
        )
    header[0] = header[0].lstrip("\ufeff")
    return header


def _listing(names: Sequence[str]) -> str:
    """Column or key names for a message: at most :data:`_MAX_LISTED`, each cut short, then how many more."""
    shown = ", ".join(short_repr(n) for n in names[:_MAX_LISTED])
    more = len(names) - _MAX_LISTED
    return shown + (f" and {more:,} more" if more > 0 else "")


def read_csv_table(
    path: Path, name: str, encoding: str | None, required: Sequence[str], optional: Sequence[str]
) -> CsvTable:
    """Parse a CSV into string columns, locating malformed lines by record number."""
    header = _read_header(path, name, encoding)
    missing = [c for c in required if c not in header]
    if missing:
        hint = " (it looks tab-separated; save it as comma-separated CSV)" if "\t" in header[0] else ""
        raise DataError(
            f"{name} lacks the required column(s) {', '.join(missing)}; its columns are {_listing(header)}{hint}."
        )
    wanted = [c for c in (*required, *optional) if c in header]
    doubled = [c for c in wanted if header.count(c) > 1]
    if doubled:
        raise DataError(f"{name} has the column(s) {', '.join(doubled)} more than once.")

    bad: list[tuple[int | None, int, int, str]] = []

    def on_bad_line(row: Any) -> str:
        bad.append((row.number, row.expected_columns, row.actual_columns, row.text))
        return "skip"

    read_options = pcsv.ReadOptions(
        use_threads=False,  # with threads pyarrow cannot tell the record number of a bad line
        **({} if _is_utf8(encoding) else {"encoding": encoding}),
    )
    parse_options = pcsv.ParseOptions(
        newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=on_bad_line
    )
    convert_options = pcsv.ConvertOptions(
        include_columns=wanted,
        column_types={c: pa.string() for c in wanted},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        table = pcsv.read_csv(
            path, read_options=read_options, parse_options=parse_options, convert_options=convert_options
        )
    except UnicodeDecodeError:
        raise _encoding_error(path, name, encoding) from None
    except pa.ArrowInvalid as exc:
        message = str(exc)
        if "invalid UTF8" in message:
            raise _encoding_error(path, name, encoding) from None
        if "Empty CSV file" in message:
            raise DataError(f"{name} has a header line but no data rows.") from None
        raise DataError(f"{name} could not be parsed as CSV: {message[:300]}") from None
    except OSError as exc:
        # strerror, not str(exc): the latter repeats the path, a server temp path for an upload.
        raise DataError(f"{name} could not be read: {exc.strerror or type(exc).__name__}.") from None

    frame = table.to_pandas(types_mapper={pa.string(): STR_DTYPE, pa.large_string(): STR_DTYPE}.get)
    id_index = header.index("id") if "id" in header else None
    malformed: list[InvalidRow] = []
    blank_rows: list[int] = []
    skipped: list[int] = []
    for number, expected, actual, text in bad:
        if number is None:  # cannot happen single-threaded; refuse rather than misnumber rows
            raise DataError(f"{name}: could not locate the malformed line {short_repr(text)}.")
        row = number - 1  # pyarrow counts the header as record 1
        skipped.append(row)
        if not text.strip():
            blank_rows.append(row)
            continue
        fields = next(csv.reader(io.StringIO(text)), [])
        rid = fields[id_index] if id_index is not None and len(fields) > id_index else None
        reason = f"malformed CSV line: expected {expected} fields, found {actual}"
        if "\n" in text:
            reason += (
                f"; the record runs over {text.count(chr(10)) + 1} lines, so a double quote is probably not closed"
            )
        elif actual > expected:
            reason += "; a field that contains a comma must be in double quotes"
        malformed.append(InvalidRow(row, "record", reason, rid))

    # Records are numbered 1..total; the table holds those the handler did not take, in order.
    total = len(frame) + len(skipped)
    if len(set(skipped)) != len(skipped) or not all(1 <= r <= total for r in skipped):
        raise DataError(f"{name}: could not number the records (malformed lines at {skipped[:5]}).")
    is_table_row = np.ones(total, dtype=bool)
    is_table_row[np.asarray(skipped, dtype=np.int64) - 1] = False
    rows = np.flatnonzero(is_table_row).astype(np.int64) + 1

    # pyarrow returns a blank line as a record of empty fields; so is ",,,,,". Neither is data.
    empty = np.ones(len(frame), dtype=bool)
    for column in wanted:
        empty &= frame[column].eq("").to_numpy(dtype=bool, na_value=False)
    if empty.any():
        blank_rows.extend(rows[empty].tolist())
        frame = frame.loc[~empty].reset_index(drop=True)
        rows = rows[~empty]
    return CsvTable(frame, rows, malformed, sorted(blank_rows), header)


def _entity_column(
    cells: pd.Series, name: str
) -> tuple[pd.Series, np.ndarray, np.ndarray, pd.Series, np.ndarray, list[tuple[int, str, str]], int]:
    """Parse one entity column: the canonical regex for most cells, ``ast.literal_eval`` for the rest.

    Returns word, start, end, type, ok, problems, and how many valid cells took the slow path.
    """
    array = pa.array(cells.array, type=pa.large_string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    matched = pc.extract_regex(array, _CANONICAL_ENTITY)
    fast = matched.is_valid().to_numpy(zero_copy_only=False)
    ok = fast.copy()
    words = pc.utf8_slice_codeunits(pc.struct_field(matched, "word"), 1, -1)  # strip the quotes
    types = pc.struct_field(matched, "type")
    starts = pc.cast(pc.struct_field(matched, "start"), pa.int64()).fill_null(0).to_numpy()
    ends = pc.cast(pc.struct_field(matched, "end"), pa.int64()).fill_null(0).to_numpy()
    problems: list[tuple[int, str, str]] = []
    slow = np.flatnonzero(~fast)
    n_slow_ok = 0
    if len(slow):
        starts, ends = starts.copy(), ends.copy()
        slow_words: list[str | None] = []
        slow_types: list[str | None] = []
        for pos, cell in zip(slow.tolist(), cells.iloc[slow].tolist(), strict=True):
            parsed, cell_problems = _parse_entity_cell(cell, name)
            word, start, end, etype, good = parsed
            problems.extend((pos, f, r) for f, r in cell_problems)
            slow_words.append(word)
            slow_types.append(etype)
            if good:
                ok[pos] = True
                starts[pos], ends[pos] = start, end
                n_slow_ok += 1
        mask = pa.array(~fast)
        words = pc.replace_with_mask(words, mask, pa.array(slow_words, type=words.type))
        types = pc.replace_with_mask(types, mask, pa.array(slow_types, type=types.type))
    return (
        pd.Series(words, dtype=STR_DTYPE),
        starts.astype(np.int64, copy=False),
        ends.astype(np.int64, copy=False),
        pd.Series(types, dtype=STR_DTYPE),
        ok,
        problems,
        n_slow_ok,
    )


def _parse_entity_cell(
    cell: object, name: str
) -> tuple[tuple[str | None, int | None, int | None, str | None, bool], list[tuple[str, str]]]:
    if not isinstance(cell, str) or not cell.strip():
        return (None, None, None, None, False), [(name, f"{name} is empty")]
    try:
        value = ast.literal_eval(cell)  # safe: literals only, never code
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return (None, None, None, None, False), [
            (
                name,
                f"cannot read {short_repr(cell)} as a dict literal like "
                "{'word': ..., 'start_idx': ..., 'end_idx': ..., 'type': ...}",
            )
        ]
    return _entity_from_object(value, name)


def _csv_columns(table: CsvTable, notes: list[str]) -> _Columns:
    frame = table.frame
    n = len(frame)
    words, starts, ends, types, ok = {}, {}, {}, {}, {}
    problems: list[tuple[int, str, str]] = []
    slow = 0
    for role, column in ENTITY_COLUMNS.items():
        w, s, e, t, good, p, n_slow = _entity_column(frame[column], column)
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
    return _Columns(
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


def _read_json_records(
    path: Path, name: str, encoding: str | None, notes: list[str]
) -> tuple[list[tuple[int, Any]], list[InvalidRow]]:
    """The records of a JSON list or a JSON-lines file, with their record numbers."""
    text = _decode(path.read_bytes(), path, name, encoding)
    if not text.strip():
        raise DataError(f"{name} is empty.")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return _read_json_lines(text, name, exc, notes)
    except RecursionError:
        raise _too_deep(name, text) from None
    if isinstance(data, dict) and ({"subject_entity", "token"} & data.keys()):
        return [(1, data)], []  # JSON lines holding a single record
    if not isinstance(data, list):
        raise DataError(f"{name} holds a JSON {type(data).__name__}; expected a list of records.")
    if not data:
        raise DataError(f"{name} holds no records (an empty JSON list).")
    return list(enumerate(data, start=1)), []


def _read_json_lines(
    text: str, name: str, error: json.JSONDecodeError, notes: list[str]
) -> tuple[list[tuple[int, Any]], list[InvalidRow]]:
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    try:
        is_lines = first is not None and isinstance(json.loads(lines[first]), dict)
    except json.JSONDecodeError:
        is_lines = False
    except RecursionError:
        raise _too_deep(name, text, line=(first or 0) + 1) from None
    if not is_lines:
        raise DataError(f"{name} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}).") from None
    records: list[tuple[int, Any]] = []
    invalid: list[InvalidRow] = []
    blank = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            blank += number < len(lines)  # the newline that ends the file makes no blank line
            continue
        try:
            records.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            invalid.append(InvalidRow(number, "record", f"not valid JSON ({exc.msg} at column {exc.colno})"))
        except RecursionError:
            # Python's parser recurses once per level: a line nested thousands deep exhausts the stack.
            raise _too_deep(name, text, line=number) from None
    notes.append("Read as JSON lines (one record per line).")
    if blank:
        notes.append(f"Skipped {blank} blank line(s).")
    return records, invalid


def _deep_line(text: str, limit: int = _JSON_DEPTH_REPORTED) -> int | None:
    """The 1-based line on which the JSON text first nests deeper than ``limit`` levels, or None.

    Only run after a parse failed (it reads the whole text once more): strings are blanked first, so
    brackets inside them do not count; a JSON string holds no raw line break, so lines stay put.
    """
    skeleton = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', text).encode("utf-8")
    chars = np.frombuffer(skeleton, dtype=np.uint8)
    step = np.isin(chars, (ord("["), ord("{"))).astype(np.int64) - np.isin(chars, (ord("]"), ord("}")))
    deep = np.flatnonzero(np.cumsum(step) > limit)
    if not len(deep):
        return None
    return int(np.count_nonzero(chars[: deep[0]] == ord("\n"))) + 1


def _too_deep(name: str, text: str, *, line: int | None = None) -> DataError:
    """The error for JSON nested too deep to parse, naming the line (found with :func:`_deep_line`
    when the parser did not say)."""
    line = line if line is not None else _deep_line(text)
    where = f"{name} line {line}" if line is not None else name
    return DataError(
        f"{where}: nested too deep (more than {_JSON_DEPTH_REPORTED} levels of lists or objects; a dataset "
        "record nests three)."
    )


def _json_flavour(records: Sequence[tuple[int, Any]], name: str) -> str:
    keys: set[str] = set()
    for _, record in records[:1000]:
        if isinstance(record, dict):
            keys.update(record)
    if {"token", "subj_start"} <= keys:
        return "tacred-json"
    if "subject_entity" in keys:
        return "klue-json"
    shown = _listing(sorted(keys)) or "none"
    raise DataError(
        f"{name} does not look like KLUE (guid, sentence, subject_entity, object_entity, label) or TACRED "
        f"(id, token, subj_start, ..., relation) records; keys found: {shown}."
    )


def _require_keys(records: Sequence[tuple[int, Any]], required: Sequence[str], name: str) -> None:
    """A key absent from every record is a file-level problem, not a row-level one."""
    present: set[str] = set()
    for _, record in records:
        if isinstance(record, dict):
            present.update(k for k in required if k in record)
            if len(present) == len(required):
                return
    missing = [k for k in required if k not in present]
    if missing:
        raise DataError(f"{name} lacks the required key(s) {', '.join(missing)} in every record.")


def _not_objects(records: Sequence[tuple[int, Any]]) -> list[InvalidRow]:
    return [
        InvalidRow(row, "record", f"expected a JSON object, got {type(rec).__name__} {short_repr(rec)}")
        for row, rec in records
        if not isinstance(rec, dict)
    ]


def _id_text(record: Mapping[str, Any], key: str, problems: list[tuple[str, str]]) -> str | None:
    if key not in record:
        problems.append((key, f"key '{key}' is missing"))
        return None
    value = record[key]
    if isinstance(value, str):
        return value
    if _is_int(value):
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


def _klue_columns(
    records: Sequence[tuple[int, Any]], *, id_key: str, label_names: Sequence[str] | None = None
) -> _Columns:
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
            parse = _parse_entity_cell if isinstance(value, str) else _entity_from_object
            entities[role], entity_problems = parse(value, key)
            problems.extend(entity_problems)
        raw_label = record.get("label")
        if label_names is not None and _is_int(raw_label):
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


def _tacred_columns(records: Sequence[tuple[int, Any]]) -> _Columns:
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
                elif not _is_int(value):
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


# --------------------------------------------------------------------------------------------------
# validation shared by all formats


def _field_names(fmt: str, id_key: str = "id") -> dict[str, str]:
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


def _finish(
    cols: _Columns,
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


# --------------------------------------------------------------------------------------------------
# public API


def _sniff(path: Path) -> str:
    """'csv' or 'json' from the extension, else from the first non-blank character."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if suffix in (".json", ".jsonl", ".ndjson"):
        return "json"
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "json" if head[:1] in (b"[", b"{") else "csv"


def load_file(
    path: str | os.PathLike[str],
    *,
    fmt: str = "auto",
    schema: LabelSchema = KLUE_SCHEMA,
    label_map: Mapping[str, int] | None = None,
    encoding: str | None = None,
    display_name: str | None = None,
) -> LoadResult:
    """Read a dataset file into the canonical frame, checking every row.

    Parameters
    ----------
    path
        The file.
    fmt
        ``"auto"`` (by extension, then content), ``"csv"``, ``"klue-json"`` or ``"tacred-json"``.
    schema
        Labels and entity types rows are checked against. A TACRED file read with the default
        KLUE schema is checked against :data:`~core.common.schema.TACRED_SCHEMA` instead, unless every
        entity type in it is a KLUE type (a KLUE dataset written in the TACRED layout).
    label_map
        Label name -> number (``dict_label_to_num``). Numeric labels are mapped through it and the
        result's schema takes its label order.
    encoding
        The file's encoding when it is not UTF-8 (e.g. ``"cp949"``).
    display_name
        The name messages give the file (an upload's original name); default: ``path`` as given.

    Returns
    -------
    LoadResult

    Raises
    ------
    DataError
        The file cannot be read as a whole; the message names it and says what to do.
    """
    p = Path(path)
    name = _display(path, display_name)
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"fmt must be 'auto' or one of {FORMATS}, not {fmt!r}")
    _check_encoding_name(encoding)
    check_file(p, name)
    notes: list[str] = []
    if label_map is not None:
        label_map = _normalise_label_map(dict(label_map), "label_map")
        schema = schema.with_labels(_label_map_order(label_map))
        notes.append(f"Labels follow the label map ({len(label_map)} labels).")

    kind = "csv" if fmt == "csv" else "json" if fmt in ("klue-json", "tacred-json") else _sniff(p)
    if kind == "csv":
        if fmt == "auto":
            notes.append("Detected format: csv.")
        table = read_csv_table(p, name, encoding, CSV_REQUIRED, CSV_OPTIONAL)
        if table.blank_rows:
            notes.append(_blank_note(table.blank_rows))
        if len(table.frame) + len(table.malformed) == 0:
            raise DataError(f"{name} has a header line but no data rows.")
        cols = _csv_columns(table, notes)
        return _finish(
            cols,
            extra_invalid=table.malformed,
            schema=schema,
            label_map=label_map,
            fields=_field_names("csv"),
            fmt="csv",
            name=name,
            notes=notes,
        )

    records, unreadable = _read_json_records(p, name, encoding, notes)
    try:
        if fmt == "auto":
            fmt = _json_flavour(records, name)
            notes.append(f"Detected format: {fmt}.")
        extra = unreadable + _not_objects(records)
        if fmt == "tacred-json":
            _require_keys(records, TACRED_REQUIRED, name)
            if schema is KLUE_SCHEMA and label_map is None and not _all_types_in(records, KLUE_SCHEMA):
                schema = TACRED_SCHEMA
                notes.append("TACRED file: rows are checked against the TACRED labels and entity types.")
            cols = _tacred_columns(records)
            fields = _field_names(fmt)
        else:
            # The official files say guid; competition-style JSON sometimes says id.
            has_key = {k: any(isinstance(r, dict) and k in r for _, r in records) for k in ("guid", "id")}
            id_key = "id" if has_key["id"] and not has_key["guid"] else "guid"
            _require_keys(records, (id_key, *KLUE_JSON_REQUIRED), name)
            cols = _klue_columns(records, id_key=id_key)
            fields = _field_names(fmt, id_key)
    except RecursionError:
        # A record that parsed can still be too deep to print or walk further up the stack.
        raise _too_deep(name, _decode(p.read_bytes(), p, name, encoding)) from None
    return _finish(
        cols,
        extra_invalid=extra,
        schema=schema,
        label_map=label_map,
        fields=fields,
        fmt=fmt,
        name=name,
        notes=notes,
    )


def _all_types_in(records: Sequence[tuple[int, Any]], schema: LabelSchema) -> bool:
    allowed = set(schema.entity_types)
    # Strings only: a list or an object in a type field is unhashable (and invalid, reported per row).
    seen = {
        value
        for _, record in records
        if isinstance(record, dict)
        for value in (record.get("subj_type"), record.get("obj_type"))
        if isinstance(value, str)
    }
    return bool(seen) and seen <= allowed


def _blank_note(blank_rows: Sequence[int]) -> str:
    shown = ", ".join(map(str, blank_rows[:5])) + (" ..." if len(blank_rows) > 5 else "")
    return f"Skipped {len(blank_rows)} blank line(s) (row {shown})."


def from_hf_dataset(
    ds: Any,
    *,
    label_names: Sequence[str] | None = None,
    schema: LabelSchema = KLUE_SCHEMA,
    path: str = "hf-dataset",
) -> LoadResult:
    """Convert a Hugging Face dataset with the ``klue``/``re`` layout into a :class:`LoadResult`.

    The layout: ``guid``, ``sentence``, ``subject_entity`` and ``object_entity`` (structs with
    ``word``, ``start_idx``, ``end_idx``, ``type``), ``label`` and ``source``. Integer labels index
    ``label_names``: given, else ``ds.features["label"].names`` when the column is a ``ClassLabel``,
    else :data:`~core.common.schema.KLUE_OFFICIAL_LABELS` (the order of the HF release). They are then
    matched to ``schema`` by NAME, never by position; -1 (HF's "no label") is an unlabeled row.
    """
    if label_names is None:
        feature = (getattr(ds, "features", None) or {}).get("label")
        names = getattr(feature, "names", None)
        label_names = list(names) if names else list(KLUE_OFFICIAL_LABELS)
    columns = list(getattr(ds, "column_names", []))
    id_key = "guid" if "guid" in columns else "id"
    missing = [c for c in (id_key, *KLUE_JSON_REQUIRED) if c not in columns]
    if missing:
        raise DataError(
            f"{path} lacks the column(s) {', '.join(missing)} of the klue/re layout; "
            f"its columns are {', '.join(columns)}."
        )
    records = list(enumerate(ds.to_list(), start=1))
    if not records:
        raise DataError(f"{path} holds no rows.")
    cols = _klue_columns(records, id_key=id_key, label_names=label_names)
    return _finish(
        cols,
        extra_invalid=[],
        schema=schema,
        label_map=None,
        fields=_field_names("klue-json", id_key),
        fmt="klue-json",
        name=path,
        notes=["Converted from a Hugging Face dataset; integer labels were matched to names."],
    )


def load_hf_klue(
    split: str = "train",
    *,
    name_or_path: str = "klue",
    data_files: str | Sequence[str] | Mapping[str, Any] | None = None,
    cache_dir: str | None = None,
) -> LoadResult:
    """Load KLUE-RE through ``datasets.load_dataset`` and convert it (see :func:`from_hf_dataset`).

    With ``data_files`` None this is ``load_dataset(name_or_path, "re", split=split)`` (the hub's
    ``klue``/``re``); with ``data_files`` it is ``load_dataset(name_or_path, data_files=...)``, e.g.
    ``name_or_path="json"`` for a local JSON-lines file of the same layout.

    Raises
    ------
    DataError
        ``datasets`` is missing, the hub is unreachable or the dataset cannot be loaded.
    """
    try:
        import datasets
    except ImportError:
        raise DataError(
            "Loading from the Hugging Face hub needs the 'datasets' package (pip install datasets)."
        ) from None
    where = f"{name_or_path}/re ({split})" if data_files is None else f"{data_files} ({split})"
    try:
        if data_files is None:
            ds = datasets.load_dataset(name_or_path, "re", split=split, cache_dir=cache_dir)
        else:
            ds = datasets.load_dataset(name_or_path, data_files=data_files, split=split, cache_dir=cache_dir)
    # datasets surfaces network trouble as many types (httpx, huggingface_hub, OSError, ValueError);
    # all of them mean "not loaded", and the user needs one sentence, not a traceback.
    except Exception as exc:
        detail = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if data_files is None:
            raise DataError(
                f"Could not load {where} from the Hugging Face hub; the hub may be unreachable ({detail}). "
                "Download the KLUE-RE files and load them with load_file(path), or call "
                "load_hf_klue(split, name_or_path='json', data_files=path) on a local JSON-lines copy."
            ) from None
        raise DataError(f"Could not load {where} with datasets ({detail}).") from None
    return from_hf_dataset(ds, path=f"hf:{where}")


# --------------------------------------------------------------------------------------------------
# label maps


class _RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a global (a class or a function): refused before anything is built."""


class _PlainDataUnpickler(pickle.Unpickler):
    """An unpickler that refuses every global, so nothing in the file can name code to run.

    Plain dicts, lists, tuples, strings and numbers are built by pickle opcodes that need no global;
    everything else (classes, functions such as ``os.system`` reached through ``__reduce__``) must
    be looked up through :meth:`find_class`, which refuses. Written by hand because safety demands
    it and the standard library offers exactly this hook for it.
    """

    def find_class(self, module: str, name: str) -> Any:
        raise _RefusedGlobal(f"it refers to {module}.{name}")


def _normalise_label_map(obj: object, name: str) -> dict[str, int]:
    """A name -> number dict from either direction, numbered exactly 0..n-1."""
    if not isinstance(obj, dict) or not obj:
        raise DataError(
            f"{name} holds {type(obj).__name__ if obj else 'nothing'}, not a dict of label names and numbers."
        )

    def as_number(key: object) -> int | None:
        if _is_int(key):
            return int(key)
        if isinstance(key, str) and key.strip().lstrip("-").isdigit():
            return int(key)
        return None

    if all(isinstance(k, str) and _is_int(v) for k, v in obj.items()):
        mapping = {k: int(v) for k, v in obj.items()}
    elif all(as_number(k) is not None and isinstance(v, str) for k, v in obj.items()):
        mapping = {}
        for key, label in obj.items():
            if label in mapping:
                raise DataError(f"{name} gives the label {label!r} two numbers.")
            mapping[label] = as_number(key)
    else:
        raise DataError(
            f"{name} must map label names to numbers (dict_label_to_num) or numbers to names (dict_num_to_label)."
        )
    numbers = sorted(mapping.values())
    if numbers != list(range(len(mapping))):
        raise DataError(
            f"{name} must number its {len(mapping)} labels 0..{len(mapping) - 1}, each once; "
            f"it uses {numbers[:10]}{' ...' if len(numbers) > 10 else ''}."
        )
    return mapping


def load_label_map(path: str | os.PathLike[str], *, display_name: str | None = None) -> dict[str, int]:
    """Read a label map (name -> number) from JSON or from a pickled dict, safely.

    Accepts ``dict_label_to_num`` (name -> number) or ``dict_num_to_label`` (number -> name, inverted
    here). Pickles go through an unpickler that refuses every global, so a malicious file raises
    :class:`DataError` without running anything. The numbers must be exactly 0..n-1.
    """
    p = Path(path)
    name = _display(path, display_name)
    check_file(p, name)
    raw = p.read_bytes()
    is_pickle = p.suffix.lower() in (".pkl", ".pickle") or raw[:1] == b"\x80"
    if is_pickle:
        try:
            obj = _PlainDataUnpickler(io.BytesIO(raw)).load()
        except _RefusedGlobal as exc:
            raise DataError(
                f"{name} is not a plain pickled dict ({exc}); only dicts of label names and numbers are "
                "accepted, and nothing in the file was run."
            ) from None
        except Exception as exc:  # a corrupt pickle can fail in many ways
            raise DataError(f"{name} is not a readable pickle file ({type(exc).__name__}: {exc}).") from None
    else:
        try:
            obj = json.loads(_decode(raw, p, name, None))
        except json.JSONDecodeError as exc:
            raise DataError(f"{name} is neither JSON nor a pickle ({exc.msg} at line {exc.lineno}).") from None
        except RecursionError:
            raise _too_deep(name, _decode(raw, p, name, None)) from None
    return _normalise_label_map(obj, name)


# --------------------------------------------------------------------------------------------------
# gold labels


def load_gold(
    path: str | os.PathLike[str], *, schema: LabelSchema = KLUE_SCHEMA, display_name: str | None = None
) -> pd.Series:
    """Gold labels by id: from an ``id,label`` CSV, or from a labeled dataset file.

    Returns
    -------
    pandas.Series
        Label names (str dtype) indexed by id (str), named ``label``.

    Raises
    ------
    DataError
        The file cannot be read, or any row is bad (a gold file must be complete): the message names
        the row and the field.
    """
    p = Path(path)
    name = _display(path, display_name)
    check_file(p, name)
    if _sniff(p) == "csv":
        header = _read_header(p, name, None)
        if "subject_entity" not in header and "sentence" not in header:
            return _load_simple_gold(p, name, schema)
    result = load_file(p, schema=schema, display_name=name)
    if result.invalid:
        first = result.invalid[0]
        more = f" (and {len(result.invalid) - 1} more problems)" if len(result.invalid) > 1 else ""
        raise DataError(f"{name}: row {first.row}, field {first.field}: {first.reason}{more}.")
    unlabeled = result.frame["row"][result.frame["label"].isna()].tolist()
    if unlabeled:
        raise DataError(f"{name}: row {unlabeled[0]}, field label: no label (a gold file must label every row).")
    return pd.Series(
        result.frame["label"].to_numpy(),
        index=pd.Index(result.frame["id"].to_numpy(), dtype=STR_DTYPE, name="id"),
        name="label",
        dtype=STR_DTYPE,
    )


def _load_simple_gold(path: Path, name: str, schema: LabelSchema) -> pd.Series:
    table = read_csv_table(path, name, None, ("id", "label"), ())
    if table.malformed:
        first = table.malformed[0]
        raise DataError(f"{name}: row {first.row}, field {first.field}: {first.reason}.")
    frame, rows = table.frame, table.rows
    if frame.empty:
        raise DataError(f"{name} has a header line but no data rows.")
    problems: list[tuple[int, str, str]] = []
    ids, labels = frame["id"], frame["label"]
    for p in np.flatnonzero(ids.eq("").to_numpy(dtype=bool, na_value=False)):
        problems.append((int(p), "id", "id is empty"))
    for p in np.flatnonzero(ids.duplicated(keep="first").to_numpy()):
        problems.append((int(p), "id", f"duplicate id {short_repr(ids.iloc[p])}"))
    for p, value in enumerate(labels.tolist()):
        if value == "":
            problems.append((p, "label", "label is empty"))
        elif value.lstrip("-").isdigit():
            problems.append((p, "label", f"label is the number {value}; gold files must give label names"))
        elif value not in schema.labels:
            problems.append((p, "label", f"unknown label {short_repr(value)} (not one of the {schema.name} labels)"))
    if problems:
        pos, field_name, reason = min(problems)
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise DataError(f"{name}: row {rows[pos]}, field {field_name}: {reason}{more}.")
    return pd.Series(
        labels.to_numpy(),
        index=pd.Index(ids.to_numpy(), dtype=STR_DTYPE, name="id"),
        name="label",
        dtype=STR_DTYPE,
    )
