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
UTF-8, not JSON, JSON nested too deep to parse, a header of more than
:data:`~core.data.readers.MAX_CSV_COLUMNS` columns, required columns absent, no rows). Messages name the
file as ``display_name`` (an upload's own name) or the path as given, never a temporary copy, and list at
most a dozen column or key names.
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

Where the parts live
--------------------
This module is the entry point: :func:`load_file`, :func:`load_gold`, :func:`from_hf_dataset` and
:func:`load_hf_klue`. Reading raw files (encodings, CSV, JSON, the safety limits) is in
:mod:`core.data.readers`; entity fields in :mod:`core.data.entities`; splitting records into fields, per
format, in :mod:`core.data.columns`; the checks shared by all formats and
:class:`~core.data.validation.LoadResult` in :mod:`core.data.validation`; label maps in
:mod:`core.data.label_maps`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.common.schema import (
    KLUE_OFFICIAL_LABELS,
    KLUE_SCHEMA,
    TACRED_SCHEMA,
    DataError,
    LabelSchema,
)
from core.data.columns import csv_columns, klue_columns, tacred_columns
from core.data.label_maps import label_map_order, normalise_label_map
from core.data.readers import (
    CSV_OPTIONAL,
    CSV_REQUIRED,
    STR_DTYPE,
    check_encoding_name,
    check_file,
    decode,
    display,
    json_flavour,
    not_objects,
    read_csv_table,
    read_header,
    read_json_records,
    require_keys,
    short_repr,
    sniff,
    too_deep,
)
from core.data.validation import LoadResult, field_names, finish

#: Formats :func:`load_file` reads (``"auto"`` picks one of them).
FORMATS: tuple[str, ...] = ("csv", "klue-json", "tacred-json")
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


# --------------------------------------------------------------------------------------------------
# public API


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
    name = display(path, display_name)
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"fmt must be 'auto' or one of {FORMATS}, not {fmt!r}")
    check_encoding_name(encoding)
    check_file(p, name)
    notes: list[str] = []
    if label_map is not None:
        label_map = normalise_label_map(dict(label_map), "label_map")
        schema = schema.with_labels(label_map_order(label_map))
        notes.append(f"Labels follow the label map ({len(label_map)} labels).")

    kind = "csv" if fmt == "csv" else "json" if fmt in ("klue-json", "tacred-json") else sniff(p)
    if kind == "csv":
        if fmt == "auto":
            notes.append("Detected format: csv.")
        table = read_csv_table(p, name, encoding, CSV_REQUIRED, CSV_OPTIONAL)
        if table.blank_rows:
            notes.append(_blank_note(table.blank_rows))
        if len(table.frame) + len(table.malformed) == 0:
            raise DataError(f"{name} has a header line but no data rows.")
        cols = csv_columns(table, notes)
        return finish(
            cols,
            extra_invalid=table.malformed,
            schema=schema,
            label_map=label_map,
            fields=field_names("csv"),
            fmt="csv",
            name=name,
            notes=notes,
        )

    records, unreadable = read_json_records(p, name, encoding, notes)
    try:
        if fmt == "auto":
            fmt = json_flavour(records, name)
            notes.append(f"Detected format: {fmt}.")
        extra = unreadable + not_objects(records)
        if fmt == "tacred-json":
            require_keys(records, TACRED_REQUIRED, name)
            if schema is KLUE_SCHEMA and label_map is None and not _all_types_in(records, KLUE_SCHEMA):
                schema = TACRED_SCHEMA
                notes.append("TACRED file: rows are checked against the TACRED labels and entity types.")
            cols = tacred_columns(records)
            fields = field_names(fmt)
        else:
            # The official files say guid; competition-style JSON sometimes says id.
            has_key = {k: any(isinstance(r, dict) and k in r for _, r in records) for k in ("guid", "id")}
            id_key = "id" if has_key["id"] and not has_key["guid"] else "guid"
            require_keys(records, (id_key, *KLUE_JSON_REQUIRED), name)
            cols = klue_columns(records, id_key=id_key)
            fields = field_names(fmt, id_key)
    except RecursionError:
        # A record that parsed can still be too deep to print or walk further up the stack.
        raise too_deep(name, decode(p.read_bytes(), p, name, encoding)) from None
    return finish(
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
    cols = klue_columns(records, id_key=id_key, label_names=label_names)
    return finish(
        cols,
        extra_invalid=[],
        schema=schema,
        label_map=None,
        fields=field_names("klue-json", id_key),
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
    name = display(path, display_name)
    check_file(p, name)
    if sniff(p) == "csv":
        header = read_header(p, name, None)
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
