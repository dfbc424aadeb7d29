"""Entity fields: turning one entity (a CSV cell, a JSON object) into word, offsets, type and its problems.

This module owns the entity dict's keys and checks (one problem per bad key, offsets that fit int64) and the
fast path for CSV entity columns: one RE2 regex matches the canonical ``repr(dict)`` form of every cell and
only the cells it does not match go through ``ast.literal_eval``, so results equal ``literal_eval``'s at a
fraction of its cost (see "Speed" in :mod:`core.data.loading`). It is separate because it is the one
hand-tuned, format-independent piece of the loader: CSV columns and KLUE JSON records both parse their
entities here.
"""

from __future__ import annotations

import ast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.data.readers import STR_DTYPE, is_int, short_repr

ENTITY_KEYS: tuple[str, ...] = ("word", "start_idx", "end_idx", "type")

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


def entity_from_object(
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
        if not is_int(value):
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


def entity_column(
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
            parsed, cell_problems = parse_entity_cell(cell, name)
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


def parse_entity_cell(
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
    return entity_from_object(value, name)
