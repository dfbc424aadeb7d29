"""The audit's detectors: duplicates, label conflicts, offset mismatches, type flags, train/test overlap.

Each ``find_*`` function takes a :class:`core.data.audit_codes.Coded` frame and returns what it found
(a report dataclass or a table whose columns are fixed here), with the reason and suggestion for each
faulty row worded here too. It is separate from :mod:`core.data.audit` (which runs them all and renders
the report) and from the distributions because these are the checks that name individual rows for the
Data view's fixes; all of them are vectorised over integer codes, with Python loops only over rows
already found faulty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.common.schema import NO_RELATION, ROLES, LabelSchema
from core.data.audit_codes import Coded, combine, first_rows, raw_codes, split_groups

OFFSET_COLUMNS: tuple[str, ...] = (
    "id",
    "role",
    "word",
    "start",
    "end",
    "found",
    "suggested_start",
    "suggested_end",
    "reason",
    "kind",
)
TYPE_FLAG_COLUMNS: tuple[str, ...] = (
    "id",
    "role",
    "type",
    "label",
    "suggested_type",
    "reason",
    "share",
    "rule",
)
CONFLICT_TABLE_COLUMNS: tuple[str, ...] = (
    "group",
    "label",
    "count",
    "ids",
    "sentence",
    "subj_word",
    "obj_word",
)
OVERLAP_TABLE_COLUMNS: tuple[str, ...] = ("sentence", "subj_word", "obj_word", "train_ids", "test_ids")
ROLE_NAMES: dict[str, str] = {"subj": "subject", "obj": "object"}


# --------------------------------------------------------------------------------------
# Report dataclasses
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DuplicateReport:
    """Train rows identical on sentence, both entities (word, start, end, type) and label.

    ``groups`` counts the sets of identical rows, ``extra_rows`` the rows beyond the
    first of each set (what dropping duplicates removes), ``id_groups`` the ids of each
    set in file order, sets ordered by their first row.
    """

    groups: int
    extra_rows: int
    id_groups: list[list[str]]


@dataclass(frozen=True)
class ConflictReport:
    """Labeled rows that agree on sentence, subject and object spans but not on the label.

    ``table`` has one row per (group, label) with columns :data:`CONFLICT_TABLE_COLUMNS`;
    ``group`` indexes ``id_groups``, labels within a group most frequent first, so the
    view can offer "keep label X" per group.
    """

    groups: int
    rows: int
    id_groups: list[list[str]]
    table: pd.DataFrame = field(default_factory=lambda: _empty(CONFLICT_TABLE_COLUMNS))


@dataclass(frozen=True)
class OverlapReport:
    """What train and test share.

    A *triple* is sentence + subject span + object span (word, start, end each), so
    the same pair in both files counts whatever its types or labels; a shared sentence
    is one that appears in both files under any entity pair.
    """

    shared_triples: int
    triple_train_ids: list[str]
    triple_test_ids: list[str]
    shared_sentences: int
    sentence_train_ids: list[str]
    sentence_test_ids: list[str]
    table: pd.DataFrame = field(default_factory=lambda: _empty(OVERLAP_TABLE_COLUMNS))


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


# --------------------------------------------------------------------------------------
# Detectors
# --------------------------------------------------------------------------------------


def _entity_codes(coded: Coded, role: str, *, with_type: bool) -> list[np.ndarray]:
    # Offsets are integers already: combine takes them as they are, no hashing needed.
    parts = [coded.raw(f"{role}_word"), coded.ints(f"{role}_start"), coded.ints(f"{role}_end")]
    if with_type:
        parts.append(coded.raw(f"{role}_type"))
    return parts


def find_duplicates(coded: Coded) -> DuplicateReport:
    """Groups of rows identical on sentence, both entities (with types) and label."""
    if coded.n == 0:
        return DuplicateReport(0, 0, [])
    key = combine(
        coded.raw("sentence"),
        *_entity_codes(coded, "subj", with_type=True),
        *_entity_codes(coded, "obj", with_type=True),
        coded.raw("label"),
    )
    sizes = np.bincount(key)
    groups = int((sizes > 1).sum())
    if groups == 0:
        return DuplicateReport(0, 0, [])
    extra = int(sizes[sizes > 1].sum()) - groups
    positions = np.flatnonzero(sizes[key] > 1)
    return DuplicateReport(groups, extra, split_groups(key[positions], positions, coded.ids_at(positions)))


def find_label_conflicts(coded: Coded) -> ConflictReport:
    """Groups of labeled rows with the same sentence and entity spans but more than one label."""
    label_codes, label_names = coded.label()
    labeled = np.flatnonzero(label_codes >= 0)
    if len(labeled) == 0:
        return ConflictReport(0, 0, [])
    triple = combine(
        coded.raw("sentence"),
        *_entity_codes(coded, "subj", with_type=False),
        *_entity_codes(coded, "obj", with_type=False),
    )[labeled]
    triple, _ = pd.factorize(triple)  # dense again over the labeled rows
    labels = label_codes[labeled]
    # Distinct (triple, label) pairs, then how many distinct labels each triple has.
    pair = combine(triple, labels)
    n_labels = np.bincount(triple[first_rows(pair)])
    conflicted = n_labels[triple] > 1
    positions = labeled[conflicted]
    if len(positions) == 0:
        return ConflictReport(0, 0, [])
    group = pd.factorize(triple[conflicted])[0].astype(np.int64)  # 0..groups-1 in order of first row
    ids = coded.ids_at(positions)
    id_groups = split_groups(group, positions, ids)

    # One table row per (group, label): counts, ids and the group's first row for the text columns.
    sub = combine(group, labels[conflicted])
    first = first_rows(sub)
    sub_ids = split_groups(sub, positions, ids)
    counts = np.bincount(sub)
    order = np.lexsort((positions[first], -counts, group[first]))
    group_first = positions[first_rows(group)][group[first]]
    table = pd.DataFrame(
        {
            "group": group[first][order],
            "label": np.asarray(label_names, dtype=object)[labels[conflicted][first][order]],
            "count": counts[order],
            "ids": pd.Series([sub_ids[i] for i in order.tolist()], dtype=object),
        }
    )
    for column in ("sentence", "subj_word", "obj_word"):
        table[column] = coded.frame[column].iloc[group_first[order]].to_numpy(dtype=object)
    return ConflictReport(len(id_groups), len(positions), id_groups, table[list(CONFLICT_TABLE_COLUMNS)])


def _nearest_occurrence(sentence: str, word: str, start: int) -> int | None:
    """Start of the occurrence of ``word`` in ``sentence`` nearest to ``start`` (the earlier on a tie)."""
    if not word:
        return None
    best: int | None = None
    pos = sentence.find(word)
    while pos != -1:
        if best is None or abs(pos - start) < abs(best - start):
            best = pos
        if pos > start:
            break  # later occurrences are only further away
        pos = sentence.find(word, pos + 1)
    return best


def _explain_offset(sentence: str, word: str, start: int, end: int) -> tuple[str, str, int | None]:
    """(kind, reason, suggested start) for one entity whose span does not spell its word."""
    suggested = _nearest_occurrence(sentence, word, start)
    where = "" if suggested is None else f"; the word occurs at {suggested}-{suggested + len(word) - 1}"
    if word and start >= 0 and end - start == len(word) and sentence[start:end] == word:
        return (
            "exclusive_end",
            f"end_idx looks exclusive (off by one): the word spans {start}-{end - 1}",
            suggested,
        )
    if not word:
        return "empty_word", "the entity word is empty", None
    if start < 0 or end < start or end >= len(sentence):
        reason = f"offsets {start}-{end} fall outside the sentence (length {len(sentence)}){where}"
        return "out_of_range", reason, suggested
    if suggested is None:
        return "not_found", "the word does not occur in the sentence", None
    return "shifted", f"the span {start}-{end} does not spell the word{where}", suggested


#: Rows per block in :func:`spells_word`; bounds its UTF-32 buffers to a few hundred MB.
_SPELL_BLOCK = 1 << 18


def _code_points(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """All strings of a column as one UTF-32 code-point array, and each string's (start, length) in it.

    Missing values count as empty strings. Code points are what Python's ``str`` indexes,
    so offsets into them are the dataset's character offsets, astral characters included.
    """
    arr = pa.array(series, type=pa.large_string(), from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.fill_null(arr, "")
    lengths = pc.utf8_length(arr).to_numpy(zero_copy_only=False).astype(np.int64)
    # The data buffer of an arrow string array is every value's UTF-8 back to back: decode it once.
    byte_offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = arr.buffers()[2]
    first, last = int(byte_offsets[0]), int(byte_offsets[-1])
    raw = b"" if data is None else data.slice(first, last - first).to_pybytes()  # only this block's bytes
    text = raw.decode("utf-8", errors="surrogatepass")
    chars = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return chars, np.stack([starts, lengths])


def spells_word(sentences: pd.Series, words: pd.Series, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per row, whether ``sentence[start:end + 1] == word`` (Python slicing, offsets in range).

    Vectorised (measured need: the per-row Python comprehension was 60 % of a full audit
    of a million rows): sentences and words are decoded once into UTF-32 code points, and
    every character of every word is compared with the sentence character it should
    match in one gather. Rows whose span is out of range, or not as long as the word,
    are false without looking at characters. Equal to the Python expression on every
    input (property-tested in ``tests/unit/test_audit.py``).
    """
    return _spells(sentences, [(words, starts, ends)])[0]


def _spells(sentences: pd.Series, entities: list[tuple[pd.Series, np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """:func:`spells_word` for several (words, starts, ends) over the same sentences, decoded once."""
    n = len(sentences)
    out = [np.zeros(n, dtype=bool) for _ in entities]
    for lo in range(0, n, _SPELL_BLOCK):
        hi = min(n, lo + _SPELL_BLOCK)
        s_chars, (s_off, s_len) = _code_points(sentences.iloc[lo:hi])
        for result, (words, starts, ends) in zip(out, entities, strict=True):
            w_chars, (w_off, w_len) = _code_points(words.iloc[lo:hi])
            a, b = starts[lo:hi], ends[lo:hi]
            fits = (a >= 0) & (b < s_len) & (b >= a) & (b - a + 1 == w_len)
            rows = np.flatnonzero(fits)
            counts = w_len[rows]
            # Flat (row, k) pairs, k < len(word): sentence char s_off + start + k vs word char w_off + k.
            row_of = np.repeat(rows, counts)
            k = np.arange(len(row_of), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
            differs = s_chars[s_off[row_of] + a[row_of] + k] != w_chars[w_off[row_of] + k]
            fits[np.unique(row_of[differs])] = False
            result[lo:hi] = fits
    return out


def find_offset_mismatches(coded: Coded) -> pd.DataFrame:
    """Entities whose ``sentence[start:end + 1]`` is not their word, with a suggested span and why."""
    frame = coded.frame
    if coded.n == 0:
        return _empty(OFFSET_COLUMNS)
    records: list[dict[str, Any]] = []
    entities = [(frame[f"{role}_word"], coded.ints(f"{role}_start"), coded.ints(f"{role}_end")) for role in ROLES]
    spelled = _spells(frame["sentence"], entities)
    for role, (words, starts, ends), ok in zip(ROLES, entities, spelled, strict=True):
        bad = np.flatnonzero(~ok)
        # Python strings only for the faulty rows, to explain them and find the word.
        bad_sentences = frame["sentence"].iloc[bad].fillna("").to_list()
        bad_words = words.iloc[bad].fillna("").to_list()
        for pos, sentence, word in zip(bad.tolist(), bad_sentences, bad_words, strict=True):
            start, end = int(starts[pos]), int(ends[pos])
            kind, reason, suggested = _explain_offset(sentence, word, start, end)
            records.append(
                {
                    "pos": pos,
                    "role": role,
                    "word": word,
                    "start": start,
                    "end": end,
                    "found": sentence[max(start, 0) : max(end + 1, 0)],
                    "suggested_start": suggested,
                    "suggested_end": None if suggested is None else suggested + len(word) - 1,
                    "reason": reason,
                    "kind": kind,
                }
            )
    if not records:
        return _empty(OFFSET_COLUMNS)
    out = pd.DataFrame.from_records(records).sort_values(["pos", "role"], key=_role_first, kind="stable")
    out["id"] = coded.ids_at(out["pos"].to_numpy())
    for column in ("suggested_start", "suggested_end"):
        out[column] = out[column].astype("Int64")
    return out.reset_index(drop=True)[list(OFFSET_COLUMNS)]


def _role_first(column: pd.Series) -> pd.Series:
    return column.map({role: i for i, role in enumerate(ROLES)}) if column.name == "role" else column


def find_type_flags(coded: Coded, *, schema: LabelSchema, minority_threshold: float) -> pd.DataFrame:
    """Entity types that contradict the label: the prefix rule and the per-label minority rule.

    Prefix rule: an ``org:*`` (``per:*``) row whose subject type is not the type the
    schema requires for that prefix. Minority rule: for each label except
    ``no_relation`` (it constrains no types) and each role, a type whose share of that
    label's rows is strictly below ``minority_threshold``, with that label's majority
    type as the suggestion. One row per (id, role) even when both rules hit it; ranked
    rarest first (file order, then subject before object, on ties).

    Everything is decided per (label, type) cell of a small contingency table; rows
    only look their cell up, so the cost per row is a few array indexings.
    """
    label_codes, label_names = coded.label()
    labeled = label_codes >= 0
    if not labeled.any():
        return _empty(TYPE_FLAG_COLUMNS)
    n_labels = len(label_names)
    label_arr = np.asarray(label_names, dtype=object)
    parts: list[dict[str, np.ndarray]] = []
    for role_index, role in enumerate(ROLES):
        type_codes, type_names = coded.category(f"{role}_type")
        n_types = len(type_names)
        type_arr = np.asarray(type_names, dtype=object)
        cell = np.where(labeled, label_codes, 0) * n_types + type_codes
        table = np.bincount(cell[labeled], minlength=n_labels * n_types).reshape(n_labels, n_types)
        totals = table.sum(axis=1, keepdims=True)
        share = np.divide(table, totals, out=np.zeros(table.shape, dtype=float), where=totals > 0)
        majority = _majority_types(table, type_names, schema, role)

        present = table > 0
        minority = present & (share < minority_threshold) & (np.arange(n_types)[None, :] != majority[:, None])
        minority[[i for i, name in enumerate(label_names) if name == NO_RELATION]] = False
        prefix_bad = np.zeros_like(minority)
        required = np.full(n_labels, None, dtype=object)  # the prefix's subject type, per label
        if role == "subj":
            for li, label in enumerate(label_names):
                want = schema.prefix_subject_type.get(label.split(":", 1)[0]) if ":" in label else None
                if want is not None:
                    required[li] = want
                    prefix_bad[li] = present[li] & (type_arr != want)
        flagged = minority | prefix_bad
        if not flagged.any():
            continue

        # Per-cell outputs; the prefix rule states a schema fact, so its type wins over the majority.
        suggested = np.where(prefix_bad, required[:, None], type_arr[majority][:, None])
        rule = np.where(prefix_bad & minority, "prefix+minority", np.where(prefix_bad, "prefix", "minority"))
        reason = np.full(flagged.shape, "", dtype=object)
        for li, ti in zip(*np.nonzero(flagged), strict=True):
            texts = []
            if prefix_bad[li, ti]:
                prefix = label_names[li].split(":", 1)[0]
                texts.append(f"{prefix}:* relations need a {required[li]} subject, not {type_names[ti]}")
            if minority[li, ti]:
                texts.append(
                    f"{type_names[ti]} is {share[li, ti]:.1%} of {label_names[li]} {ROLE_NAMES[role]}s "
                    f"(majority {type_names[majority[li]]}, {share[li, majority[li]]:.1%})"
                )
            reason[li, ti] = "; ".join(texts)

        rows = np.flatnonzero(labeled & flagged.reshape(-1)[cell])
        c = cell[rows]
        parts.append(
            {
                "pos": rows,
                "role_index": np.full(len(rows), role_index),
                "role": np.full(len(rows), role, dtype=object),
                "type": type_arr[type_codes[rows]],
                "label": label_arr[label_codes[rows]],
                "suggested_type": suggested.reshape(-1)[c],
                "reason": reason.reshape(-1)[c],
                "share": share.reshape(-1)[c],
                "rule": rule.reshape(-1)[c].astype(object),
            }
        )
    if not parts:
        return _empty(TYPE_FLAG_COLUMNS)
    merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    order = np.lexsort((merged["role_index"], merged["pos"], merged["share"]))
    out = {"id": coded.ids_at(merged["pos"][order])}
    out.update({key: merged[key][order] for key in TYPE_FLAG_COLUMNS if key != "id"})
    return pd.DataFrame(out)[list(TYPE_FLAG_COLUMNS)]


def _majority_types(table: np.ndarray, type_names: list[str], schema: LabelSchema, role: str) -> np.ndarray:
    """Per label, the most frequent type for the role; ties go to the schema's type order, then the name."""
    allowed = schema.subject_types if role == "subj" else schema.object_types
    preference = sorted(
        range(len(type_names)),
        key=lambda t: (
            allowed.index(type_names[t]) if type_names[t] in allowed else len(allowed),
            type_names[t],
        ),
    )
    order = np.asarray(preference, dtype=np.int64)
    # argmax keeps the first maximum, so columns in preference order settle ties.
    return order[np.argmax(table[:, order], axis=1)]


def find_overlap(train: Coded, test: Coded) -> OverlapReport:
    """Sentences and triples present in both frames.

    Sentences are factorized over both frames at once so their codes compare; only rows
    whose sentence is shared can share a triple, so the entity columns are coded over
    those rows alone (usually a small part of the data).
    """
    n = train.n
    both = pd.concat([train.frame["sentence"], test.frame["sentence"]], ignore_index=True)
    sentence = raw_codes(both)
    # Train's slice is a valid per-frame coding too: hand it on so the detectors do not
    # hash the same sentences again.
    train.set_raw("sentence", sentence[:n])
    n_sentences, tr_sent, te_sent = _shared(pd.factorize(sentence)[0], n)

    rest = _TRIPLE_COLUMNS[1:]
    sub = pd.concat([train.frame[rest].iloc[tr_sent], test.frame[rest].iloc[te_sent]], ignore_index=True)
    sub_sentence = np.concatenate([sentence[:n][tr_sent], sentence[n:][te_sent]])
    triple = combine(sub_sentence, *(raw_codes(sub[c]) for c in rest))
    n_triples, tr_sub, te_sub = _shared(triple, len(tr_sent))
    tr_rows, te_rows = tr_sent[tr_sub], te_sent[te_sub]
    table = _empty(OVERLAP_TABLE_COLUMNS)
    if n_triples:
        tr_key, te_key = triple[: len(tr_sent)][tr_sub], triple[len(tr_sent) :][te_sub]
        # Renumber the shared triples 0..k-1 in order of their first train row, on both sides.
        firsts = first_rows(pd.factorize(tr_key)[0])
        dense = np.full(len(triple), -1, dtype=np.int64)
        dense[tr_key[firsts]] = np.arange(n_triples)
        first = tr_rows[firsts]
        table = pd.DataFrame(
            {
                "sentence": train.frame["sentence"].iloc[first].to_numpy(dtype=object),
                "subj_word": train.frame["subj_word"].iloc[first].to_numpy(dtype=object),
                "obj_word": train.frame["obj_word"].iloc[first].to_numpy(dtype=object),
                "train_ids": pd.Series(split_groups(dense[tr_key], tr_rows, train.ids_at(tr_rows)), dtype=object),
                "test_ids": pd.Series(split_groups(dense[te_key], te_rows, test.ids_at(te_rows)), dtype=object),
            }
        )
    return OverlapReport(
        shared_triples=n_triples,
        triple_train_ids=train.ids_at(tr_rows).tolist(),
        triple_test_ids=test.ids_at(te_rows).tolist(),
        shared_sentences=n_sentences,
        sentence_train_ids=train.ids_at(tr_sent).tolist(),
        sentence_test_ids=test.ids_at(te_sent).tolist(),
        table=table,
    )


def _shared(key: np.ndarray, n: int) -> tuple[int, np.ndarray, np.ndarray]:
    """For dense keys over rows ``[:n]`` (one frame) and ``[n:]`` (the other): how many keys
    both hold, and the positions in each frame of the rows carrying one.

    Membership by ``bincount``: O(n), where ``np.intersect1d`` would sort.
    """
    size = int(key.max()) + 1 if len(key) else 0
    common = (np.bincount(key[:n], minlength=size) > 0) & (np.bincount(key[n:], minlength=size) > 0)
    return int(common.sum()), np.flatnonzero(common[key[:n]]), np.flatnonzero(common[key[n:]])


_TRIPLE_COLUMNS: list[str] = [
    "sentence",
    "subj_word",
    "subj_start",
    "subj_end",
    "obj_word",
    "obj_start",
    "obj_end",
]
