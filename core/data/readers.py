"""Raw reading of dataset files: from a path to a table of string columns (CSV) or to numbered JSON records.

This module owns everything that happens before a record is split into fields: checking that the path is
a readable file, naming it in messages, decoding it (and saying which encoding would work when UTF-8 does
not), parsing CSV with ``pyarrow.csv`` so that malformed lines keep their record numbers, reading a JSON
list or JSON lines (and reporting nesting too deep to parse), telling the file kind from its name or first
byte, and the file-level checks on JSON records. Every failure here is a :class:`~core.common.schema.DataError`
about the file as a whole, never a row; it is separate from :mod:`core.data.loading` because the same readers
serve other files too (prediction files in :mod:`core.train.metrics`, label maps, gold files).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv

from core.common.schema import DataError, InvalidRow

CSV_REQUIRED: tuple[str, ...] = ("id", "sentence", "subject_entity", "object_entity", "label")
CSV_OPTIONAL: tuple[str, ...] = ("source",)

#: The default ``str`` dtype of pandas 3 (pyarrow storage, NaN as the missing value).
STR_DTYPE = pd.StringDtype(na_value=np.nan)
_UTF8_NAMES = frozenset({"utf-8", "utf-8-sig"})
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


# --------------------------------------------------------------------------------------------------
# small helpers


def short_repr(value: object) -> str:
    """``repr`` of a value, cut so that one reason stays one readable line."""
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def display(path: str | os.PathLike[str], display_name: str | None = None) -> str:
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


def check_encoding_name(encoding: str | None) -> None:
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


def decode(raw: bytes, path: Path, name: str, encoding: str | None) -> str:
    try:
        return raw.decode("utf-8-sig" if _is_utf8(encoding) else encoding or "")
    except UnicodeDecodeError:
        raise _encoding_error(path, name, encoding) from None


# --------------------------------------------------------------------------------------------------
# CSV


@dataclass
class CsvTable:
    frame: pd.DataFrame  # the wanted columns, str dtype, blank lines removed
    rows: np.ndarray
    malformed: list[InvalidRow]
    blank_rows: list[int]
    header: list[str]


def read_header(path: Path, name: str, encoding: str | None) -> list[str]:
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
    header = read_header(path, name, encoding)
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


# --------------------------------------------------------------------------------------------------
# JSON


def read_json_records(
    path: Path, name: str, encoding: str | None, notes: list[str]
) -> tuple[list[tuple[int, Any]], list[InvalidRow]]:
    """The records of a JSON list or a JSON-lines file, with their record numbers."""
    text = decode(path.read_bytes(), path, name, encoding)
    if not text.strip():
        raise DataError(f"{name} is empty.")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return _read_json_lines(text, name, exc, notes)
    except RecursionError:
        raise too_deep(name, text) from None
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
        raise too_deep(name, text, line=(first or 0) + 1) from None
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
            raise too_deep(name, text, line=number) from None
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


def too_deep(name: str, text: str, *, line: int | None = None) -> DataError:
    """The error for JSON nested too deep to parse, naming the line (found with :func:`_deep_line`
    when the parser did not say)."""
    line = line if line is not None else _deep_line(text)
    where = f"{name} line {line}" if line is not None else name
    return DataError(
        f"{where}: nested too deep (more than {_JSON_DEPTH_REPORTED} levels of lists or objects; a dataset "
        "record nests three)."
    )


def json_flavour(records: Sequence[tuple[int, Any]], name: str) -> str:
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


def require_keys(records: Sequence[tuple[int, Any]], required: Sequence[str], name: str) -> None:
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


def not_objects(records: Sequence[tuple[int, Any]]) -> list[InvalidRow]:
    return [
        InvalidRow(row, "record", f"expected a JSON object, got {type(rec).__name__} {short_repr(rec)}")
        for row, rec in records
        if not isinstance(rec, dict)
    ]


def sniff(path: Path) -> str:
    """'csv' or 'json' from the extension, else from the first non-blank character."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if suffix in (".json", ".jsonl", ".ndjson"):
        return "json"
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "json" if head[:1] in (b"[", b"{") else "csv"
