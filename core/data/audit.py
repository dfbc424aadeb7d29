"""Audit a relation-extraction dataset: distributions, duplicates, conflicts, offsets, type flags.

Everything here is a pure function over canonical frames (:data:`core.common.schema.COLUMNS`,
offsets with an INCLUSIVE end, ``label`` missing on unlabeled rows). The Data view and
the CLI's ``audit`` command both call :func:`audit` and render the :class:`AuditReport`
(:func:`report_to_json`, :func:`report_to_text`).

The detectors (duplicates, label conflicts, offset mismatches, type flags) look at the
*first* frame, ``train``; the optional ``test`` frame feeds the train-vs-test
distributions, their divergence and the overlap report. Audit a test file on its own by
passing it as the first frame.

Speed: load + audit has to stay cheaper than a plain ``read_csv`` + ``ast.literal_eval``
of the same file (``bench/audit.py``), so every detector works on integer codes (one
``pandas.factorize`` per string column, shared through :class:`_Coded`) and numpy
arrays; the offset check compares UTF-32 code points in one gather
(:func:`spells_word`). Python loops run only over rows already found faulty, to word
their messages and suggestions, and over the small (label, type) tables.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.common.schema import COLUMNS, KLUE_SCHEMA, NO_RELATION, ROLES, InvalidRow, LabelSchema

#: Shown for a missing or empty category value (source, type) in the distributions.
MISSING = "(missing)"
#: Width of the sentence-length bins, in characters.
LENGTH_BIN = 10
#: Sentences at least this long share one open-ended bin, so one outlier cannot make
#: the chart hundreds of bins wide.
LENGTH_CAP = 300
#: Distributions computed for every report, in display order.
DISTRIBUTIONS: tuple[str, ...] = (
    "label",
    "source",
    "subj_type",
    "obj_type",
    "type_pair",
    "label_type_pair",
    "sentence_length",
)
#: Distributions that need labels; their test columns are empty for an unlabeled test file.
LABEL_DISTRIBUTIONS: frozenset[str] = frozenset({"label", "label_type_pair"})
DISTRIBUTION_COLUMNS: tuple[str, ...] = ("value", "train_count", "train_share", "test_count", "test_share")
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


@dataclass(frozen=True)
class AuditReport:
    """Everything :func:`audit` found; see the module docstring for what looks at which frame."""

    counts: dict[str, Any]
    distributions: dict[str, pd.DataFrame]
    divergence: dict[str, float]
    duplicates: DuplicateReport
    label_conflicts: ConflictReport
    offset_mismatches: pd.DataFrame
    type_flags: pd.DataFrame
    overlap: OverlapReport | None
    minority_threshold: float
    schema_name: str

    @property
    def rows(self) -> int:
        return int(self.counts["rows"])

    @property
    def label_counts(self) -> dict[str, int]:
        return dict(self.counts["label_counts"])


# --------------------------------------------------------------------------------------
# Small helpers over codes
# --------------------------------------------------------------------------------------


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def _codes(values: pd.Series | np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """Dense int64 codes (first-appearance order, missing -> -1) and the uniques as a list.

    For small categoricals; use :func:`_raw_codes` where the uniques are not needed
    (listing half a million unique sentences costs more than hashing them).
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64, copy=False), uniques.tolist()


def _raw_codes(values: pd.Series | np.ndarray) -> np.ndarray:
    """Dense int64 codes only (first-appearance order, missing -> -1)."""
    return pd.factorize(values, use_na_sentinel=True)[0].astype(np.int64, copy=False)


#: Mixed-radix keys are re-densified before they could pass this bound (int64 holds 2**63 - 1).
_KEY_LIMIT = 2**62


def _combine(*codes: np.ndarray) -> np.ndarray:
    """Dense group ids over several integer columns, numbered in order of first appearance.

    Folds the columns into one mixed-radix key (``key * radix + column``) and hashes
    only when the key would overflow and once at the end: one or two ``factorize``
    calls instead of one per column, which is most of the cost of the duplicate and
    conflict detectors on a million rows.
    """
    n = len(codes[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    key = np.zeros(n, dtype=np.int64)
    span = 1  # key lies in [0, span)
    for column in codes:
        lo, hi = int(column.min()), int(column.max())
        radix = hi - lo + 1
        if radix > n:  # sparse values (wide offsets): densify this column first
            column, uniques = pd.factorize(column)
            lo, radix = 0, len(uniques)
        if span * radix >= _KEY_LIMIT:
            key, uniques = pd.factorize(key)
            span = len(uniques)
        key = key * radix + (column - lo)
        span *= radix
    return pd.factorize(key)[0].astype(np.int64, copy=False)


def _category_codes(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes of a small categorical column with missing and empty values mapped to :data:`MISSING`."""
    codes, uniques = _codes(series)
    names = [MISSING if (u is None or (isinstance(u, float) and math.isnan(u)) or u == "") else str(u) for u in uniques]
    # Merge "" and NA (and any names that collapse onto the same string) into one code.
    merged, canonical = pd.factorize(np.asarray([*names, MISSING], dtype=object))
    codes = merged[np.where(codes < 0, len(names), codes)].astype(np.int64, copy=False)
    return codes, [str(c) for c in canonical]


def _label_codes(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes of the label column; unlabeled rows (missing or empty label) get -1."""
    codes, uniques = _codes(series)
    names = [str(u) for u in uniques]
    if "" in names:
        empty = names.index("")
        codes = np.where(codes == empty, -1, codes)
    return codes, names


def _int_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    values = frame[column]
    if values.isna().any():
        raise ValueError(f"audit: column {column!r} has missing offsets; load the file with core.data.loading first.")
    return values.to_numpy(dtype=np.int64)


def _first_rows(codes: np.ndarray) -> np.ndarray:
    """Index of each code's first row, for dense codes numbered in order of first appearance.

    Under that numbering a row is its code's first exactly when its code exceeds every
    earlier code, so a running maximum finds them in O(n) without sorting; entry ``k``
    of the result is code ``k``'s first row.
    """
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64)
    is_first = np.empty(len(codes), dtype=bool)
    is_first[0] = True
    is_first[1:] = codes[1:] > np.maximum.accumulate(codes)[:-1]
    return np.flatnonzero(is_first)


def _split_groups(group: np.ndarray, positions: np.ndarray, ids: np.ndarray) -> list[list[str]]:
    """Ids grouped by ``group`` (groups by code, rows by position); all three arrays align row by row."""
    if len(positions) == 0:
        return []
    order = np.lexsort((positions, group))
    cuts = np.flatnonzero(np.diff(group[order])) + 1
    return [chunk.tolist() for chunk in np.split(ids[order], cuts)]


def _check_columns(frame: pd.DataFrame, name: str) -> None:
    missing = [c for c in COLUMNS if c != "row" and c not in frame.columns]
    if missing:
        raise ValueError(
            f"audit: the {name} frame lacks column(s) {missing}; pass a canonical frame "
            "(core.data.loading.load_file(...).frame)."
        )


class _Coded:
    """Per-frame integer codes, each column factorized at most once and shared by the detectors."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.n = len(frame)
        self._cache: dict[str, Any] = {}

    def category(self, column: str) -> tuple[np.ndarray, list[str]]:
        if column not in self._cache:
            self._cache[column] = _category_codes(self.frame[column])
        return self._cache[column]

    def label(self) -> tuple[np.ndarray, list[str]]:
        if "label" not in self._cache:
            self._cache["label"] = _label_codes(self.frame["label"])
        return self._cache["label"]

    def raw(self, column: str) -> np.ndarray:
        """Exact-value codes (missing -> -1) for strings, offsets and anything else."""
        key = f"raw:{column}"
        if key not in self._cache:
            self._cache[key] = _raw_codes(self.frame[column])
        return self._cache[key]

    def ints(self, column: str) -> np.ndarray:
        """An integer column (the offsets) as int64; ``ValueError`` if any value is missing."""
        key = f"int:{column}"
        if key not in self._cache:
            self._cache[key] = _int_column(self.frame, column)
        return self._cache[key]

    def set_raw(self, column: str, codes: np.ndarray) -> None:
        self._cache[f"raw:{column}"] = codes

    def ids_at(self, positions: np.ndarray) -> np.ndarray:
        """The ``id`` values (as str, in an object array) of the rows at ``positions``.

        Taken per request rather than converting the whole column once: reports
        usually name a small fraction of the rows.
        """
        values = self.frame["id"].iloc[positions].to_list()
        return np.asarray([str(v) for v in values], dtype=object)


# --------------------------------------------------------------------------------------
# Distributions and divergence
# --------------------------------------------------------------------------------------


def _joint_counts(parts: list[tuple[np.ndarray, list[str]]], mask: np.ndarray | None, sep: str) -> pd.Series:
    """Counts of each combination of several coded columns, indexed by the joined names.

    The columns are small categoricals, so the mixed-radix key stays tiny and one
    ``bincount`` does the counting (no sort, no hash).
    """
    key = np.zeros(len(parts[0][0]), dtype=np.int64)
    radices = []
    for codes, names in parts:
        radices.append(len(names))
        key = key * len(names) + codes
    if mask is not None:
        key = key[mask]
    counts = np.bincount(key, minlength=1)
    values = np.flatnonzero(counts)
    labels = []
    for value in values.tolist():
        pieces = []
        for radix, (_, names) in zip(reversed(radices), reversed(parts), strict=True):
            value, digit = divmod(value, radix)
            pieces.append(names[digit])
        labels.append(sep.join(reversed(pieces)))
    return pd.Series(counts[values].astype(np.int64), index=pd.Index(labels, dtype=object))


def _length_counts(frame: pd.DataFrame) -> pd.Series:
    lengths = frame["sentence"].str.len().fillna(0).to_numpy(dtype=np.int64)
    bins = np.minimum(lengths // LENGTH_BIN, LENGTH_CAP // LENGTH_BIN)
    counts = np.bincount(bins, minlength=1)
    return pd.Series(counts.astype(np.int64), index=pd.Index(range(len(counts))))


def _length_label(bin_index: int) -> str:
    lo = bin_index * LENGTH_BIN
    return f"{lo}+" if lo >= LENGTH_CAP else f"{lo}-{lo + LENGTH_BIN - 1}"


def _frame_counts(coded: _Coded, name: str) -> pd.Series | None:
    """Counts for one distribution of one frame; ``None`` when it cannot be computed (no labels)."""
    if name == "sentence_length":
        return _length_counts(coded.frame)
    if name in ("source", "subj_type", "obj_type"):
        return _joint_counts([coded.category(name)], None, "")
    if name == "type_pair":
        return _joint_counts([coded.category("subj_type"), coded.category("obj_type")], None, "-")
    label_codes, label_names = coded.label()
    labeled = label_codes >= 0
    if not labeled.any():
        return None
    label_part = (np.where(labeled, label_codes, 0), label_names)
    if name == "label":
        return _joint_counts([label_part], labeled, "")
    return _joint_counts([label_part, coded.category("subj_type"), coded.category("obj_type")], labeled, "\x1f").rename(
        index=lambda v: "{} | {}-{}".format(*v.split("\x1f"))
    )


def _distribution(name: str, train: pd.Series | None, test: pd.Series | None, schema: LabelSchema) -> pd.DataFrame:
    """One distribution table (:data:`DISTRIBUTION_COLUMNS`): every value of either side, most frequent
    in train first (then in test, then by name); sentence lengths in bin order, every bin up to the last.

    Plain Python over the few dozen values of a table, then one frame constructor. Measured need: the
    pandas version (index unions, ``reindex``, a three-key ``sort_values``, column inserts: about 30
    pandas calls per tiny table) took 0.11-0.2 s of a 0.37-0.47 s audit of a 32k-row dataset for the
    seven tables; this one takes 0.02-0.05 s where that took 0.23-0.37 s (same busy 2-core machine).
    Equal to it on every input (``tests/unit/test_audit_distribution.py``).
    """
    values: list[Any] = []
    seen: set[Any] = set()
    extra = list(schema.labels) if name == "label" else []  # every schema label shows, as a zero bar if unused
    for keys in [*(list(c.index) for c in (train, test) if c is not None), extra]:
        for key in keys:
            if key not in seen:
                seen.add(key)
                values.append(key)
    if name == "sentence_length" and values:
        values = list(range(int(max(values)) + 1))
    n = len(values)
    columns: dict[str, np.ndarray] = {}
    for side, counts in (("train", train), ("test", test)):
        if counts is None:
            columns[f"{side}_count"] = np.zeros(n, dtype=np.int64)
            columns[f"{side}_share"] = np.full(n, np.nan)
            continue
        lookup = dict(zip(counts.index.tolist(), counts.to_numpy(dtype=np.int64).tolist(), strict=True))
        aligned = np.asarray([lookup.get(v, 0) for v in values], dtype=np.int64)
        total = int(aligned.sum())
        columns[f"{side}_count"] = aligned
        columns[f"{side}_share"] = aligned / total if total else np.full(n, np.nan)
    if name == "sentence_length":
        order = list(range(n))
        shown = [_length_label(int(v)) for v in values]
    else:
        train_count, test_count = columns["train_count"].tolist(), columns["test_count"].tolist()
        names = [str(v) for v in values]
        order = sorted(range(n), key=lambda i: (-train_count[i], -test_count[i], names[i]))
        shown = [names[i] for i in order]
    take = np.asarray(order, dtype=np.int64)
    # One constructor call; the value column stays object (an object array would be inferred as str).
    value = pd.Series(shown, dtype=object)
    return pd.DataFrame({"value": value, **{column: columns[column][take] for column in DISTRIBUTION_COLUMNS[1:]}})


def _js_divergence(frame: pd.DataFrame) -> float:
    """Jensen-Shannon divergence, base 2 (so in [0, 1]), of the train and test counts.

    NaN when either side has no count. Written out in numpy rather than calling
    ``scipy.spatial.distance.jensenshannon`` (whose square it equals, see the tests)
    because scipy is not a declared dependency of RE Studio, only one of scikit-learn's.
    """
    p = frame["train_count"].to_numpy(dtype=float)
    q = frame["test_count"].to_numpy(dtype=float)
    if p.sum() == 0 or q.sum() == 0:
        return math.nan
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nz = a > 0  # 0 * log 0 = 0; m > 0 wherever a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return min(1.0, max(0.0, (kl(p) + kl(q)) / 2))


# --------------------------------------------------------------------------------------
# Detectors
# --------------------------------------------------------------------------------------


def _entity_codes(coded: _Coded, role: str, *, with_type: bool) -> list[np.ndarray]:
    # Offsets are integers already: _combine takes them as they are, no hashing needed.
    parts = [coded.raw(f"{role}_word"), coded.ints(f"{role}_start"), coded.ints(f"{role}_end")]
    if with_type:
        parts.append(coded.raw(f"{role}_type"))
    return parts


def find_duplicates(coded: _Coded) -> DuplicateReport:
    """Groups of rows identical on sentence, both entities (with types) and label."""
    if coded.n == 0:
        return DuplicateReport(0, 0, [])
    key = _combine(
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
    return DuplicateReport(groups, extra, _split_groups(key[positions], positions, coded.ids_at(positions)))


def find_label_conflicts(coded: _Coded) -> ConflictReport:
    """Groups of labeled rows with the same sentence and entity spans but more than one label."""
    label_codes, label_names = coded.label()
    labeled = np.flatnonzero(label_codes >= 0)
    if len(labeled) == 0:
        return ConflictReport(0, 0, [])
    triple = _combine(
        coded.raw("sentence"),
        *_entity_codes(coded, "subj", with_type=False),
        *_entity_codes(coded, "obj", with_type=False),
    )[labeled]
    triple, _ = pd.factorize(triple)  # dense again over the labeled rows
    labels = label_codes[labeled]
    # Distinct (triple, label) pairs, then how many distinct labels each triple has.
    pair = _combine(triple, labels)
    n_labels = np.bincount(triple[_first_rows(pair)])
    conflicted = n_labels[triple] > 1
    positions = labeled[conflicted]
    if len(positions) == 0:
        return ConflictReport(0, 0, [])
    group = pd.factorize(triple[conflicted])[0].astype(np.int64)  # 0..groups-1 in order of first row
    ids = coded.ids_at(positions)
    id_groups = _split_groups(group, positions, ids)

    # One table row per (group, label): counts, ids and the group's first row for the text columns.
    sub = _combine(group, labels[conflicted])
    first = _first_rows(sub)
    sub_ids = _split_groups(sub, positions, ids)
    counts = np.bincount(sub)
    order = np.lexsort((positions[first], -counts, group[first]))
    group_first = positions[_first_rows(group)][group[first]]
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


def find_offset_mismatches(coded: _Coded) -> pd.DataFrame:
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


def find_type_flags(coded: _Coded, *, schema: LabelSchema, minority_threshold: float) -> pd.DataFrame:
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


def find_overlap(train: _Coded, test: _Coded) -> OverlapReport:
    """Sentences and triples present in both frames.

    Sentences are factorized over both frames at once so their codes compare; only rows
    whose sentence is shared can share a triple, so the entity columns are coded over
    those rows alone (usually a small part of the data).
    """
    n = train.n
    both = pd.concat([train.frame["sentence"], test.frame["sentence"]], ignore_index=True)
    sentence = _raw_codes(both)
    # Train's slice is a valid per-frame coding too: hand it on so the detectors do not
    # hash the same sentences again.
    train.set_raw("sentence", sentence[:n])
    n_sentences, tr_sent, te_sent = _shared(pd.factorize(sentence)[0], n)

    rest = _TRIPLE_COLUMNS[1:]
    sub = pd.concat([train.frame[rest].iloc[tr_sent], test.frame[rest].iloc[te_sent]], ignore_index=True)
    sub_sentence = np.concatenate([sentence[:n][tr_sent], sentence[n:][te_sent]])
    triple = _combine(sub_sentence, *(_raw_codes(sub[c]) for c in rest))
    n_triples, tr_sub, te_sub = _shared(triple, len(tr_sent))
    tr_rows, te_rows = tr_sent[tr_sub], te_sent[te_sub]
    table = _empty(OVERLAP_TABLE_COLUMNS)
    if n_triples:
        tr_key, te_key = triple[: len(tr_sent)][tr_sub], triple[len(tr_sent) :][te_sub]
        # Renumber the shared triples 0..k-1 in order of their first train row, on both sides.
        firsts = _first_rows(pd.factorize(tr_key)[0])
        dense = np.full(len(triple), -1, dtype=np.int64)
        dense[tr_key[firsts]] = np.arange(n_triples)
        first = tr_rows[firsts]
        table = pd.DataFrame(
            {
                "sentence": train.frame["sentence"].iloc[first].to_numpy(dtype=object),
                "subj_word": train.frame["subj_word"].iloc[first].to_numpy(dtype=object),
                "obj_word": train.frame["obj_word"].iloc[first].to_numpy(dtype=object),
                "train_ids": pd.Series(_split_groups(dense[tr_key], tr_rows, train.ids_at(tr_rows)), dtype=object),
                "test_ids": pd.Series(_split_groups(dense[te_key], te_rows, test.ids_at(te_rows)), dtype=object),
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


# --------------------------------------------------------------------------------------
# The audit
# --------------------------------------------------------------------------------------


def _counts(train: _Coded, test: _Coded | None, schema: LabelSchema) -> dict[str, Any]:
    label_codes, label_names = train.label()
    per_code = np.bincount(label_codes[label_codes >= 0], minlength=len(label_names))
    present = {label_names[i]: int(c) for i, c in enumerate(per_code.tolist()) if c}
    known = [label for label in schema.labels if label in present]
    unknown = sorted(label for label in present if label not in schema.label_to_id)
    labeled = int(per_code.sum())
    counts: dict[str, Any] = {
        "rows": train.n,
        "labeled_rows": labeled,
        "unlabeled_rows": train.n - labeled,
        "unique_sentences": len(pd.unique(train.raw("sentence"))),  # hash, not np.unique's sort
        "label_counts": {label: present[label] for label in [*known, *unknown]},
        "unknown_labels": unknown,
        "test_rows": None if test is None else test.n,
        "test_labeled_rows": None if test is None else int((test.label()[0] >= 0).sum()),
    }
    return counts


def audit(
    train: pd.DataFrame,
    test: pd.DataFrame | None = None,
    *,
    schema: LabelSchema = KLUE_SCHEMA,
    minority_threshold: float = 0.05,
) -> AuditReport:
    """Audit a canonical frame (and compare it with a test frame).

    Parameters
    ----------
    train : pandas.DataFrame
        Canonical frame (:data:`core.common.schema.COLUMNS`) whose rows the detectors check.
    test : pandas.DataFrame, optional
        Canonical frame compared with ``train`` (distributions, divergence, overlap).
        It may be unlabeled; its label-based distributions are then empty.
    schema : LabelSchema
        Supplies the label order, the types' tie-break order and the prefix rule.
    minority_threshold : float
        A type whose share of a label's rows (per role) is strictly below this is flagged.

    Returns
    -------
    AuditReport

    Raises
    ------
    ValueError
        When a frame lacks canonical columns or has missing offsets, or the threshold is
        outside [0, 1].
    """
    if not 0.0 <= minority_threshold <= 1.0:
        raise ValueError(f"audit: minority_threshold must be within [0, 1], got {minority_threshold}.")
    _check_columns(train, "train")
    train_c = _Coded(train.reset_index(drop=True))
    test_c: _Coded | None = None
    overlap: OverlapReport | None = None
    if test is not None:
        _check_columns(test, "test")
        test_c = _Coded(test.reset_index(drop=True))
        overlap = find_overlap(train_c, test_c)

    distributions: dict[str, pd.DataFrame] = {}
    divergence: dict[str, float] = {}
    for name in DISTRIBUTIONS:
        train_counts = _frame_counts(train_c, name) if train_c.n else None
        test_counts = _frame_counts(test_c, name) if test_c is not None and test_c.n else None
        distributions[name] = _distribution(name, train_counts, test_counts, schema)
        divergence[name] = _js_divergence(distributions[name])

    return AuditReport(
        counts=_counts(train_c, test_c, schema),
        distributions=distributions,
        divergence=divergence,
        duplicates=find_duplicates(train_c),
        label_conflicts=find_label_conflicts(train_c),
        offset_mismatches=find_offset_mismatches(train_c),
        type_flags=find_type_flags(train_c, schema=schema, minority_threshold=minority_threshold),
        overlap=overlap,
        minority_threshold=minority_threshold,
        schema_name=schema.name,
    )


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON-ready copy: numpy scalars to Python, NaN and pandas' NA to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return _plain(frame.astype(object).to_dict(orient="records"))


def report_to_json(report: AuditReport, *, invalid_rows: Iterable[InvalidRow] = ()) -> dict[str, Any]:
    """The CLI's ``--json`` object: plain Python values only (no numpy, NaN written as null)."""
    offsets = report.offset_mismatches
    flags = report.type_flags
    overlap = report.overlap
    payload: dict[str, Any] = {
        "schema": report.schema_name,
        "rows": report.rows,
        "invalid_rows": [{"row": r.row, "field": r.field, "reason": r.reason, "id": r.id} for r in invalid_rows],
        "label_counts": report.label_counts,
        "counts": report.counts,
        "duplicates": {
            "groups": report.duplicates.groups,
            "extra_rows": report.duplicates.extra_rows,
            "id_groups": report.duplicates.id_groups,
        },
        "label_conflicts": {
            "groups": report.label_conflicts.groups,
            "rows": report.label_conflicts.rows,
            "id_groups": report.label_conflicts.id_groups,
            "labels": _records(report.label_conflicts.table[["group", "label", "count", "ids"]]),
        },
        # Ids once each (an id whose two entities are both off appears once); details below.
        "offset_mismatches": list(dict.fromkeys(offsets["id"].tolist())),
        "offset_mismatch_details": _records(offsets),
        "type_flags": _records(flags[list(TYPE_FLAG_COLUMNS)]),
        "minority_threshold": report.minority_threshold,
        "distributions": {name: _records(frame) for name, frame in report.distributions.items()},
        "divergence": dict(report.divergence),
        "overlap": None
        if overlap is None
        else {
            "shared_triples": overlap.shared_triples,
            "triple_train_ids": overlap.triple_train_ids,
            "triple_test_ids": overlap.triple_test_ids,
            "shared_sentences": overlap.shared_sentences,
            "sentence_train_ids": overlap.sentence_train_ids,
            "sentence_test_ids": overlap.sentence_test_ids,
        },
    }
    return _plain(payload)


def _head(items: Sequence[Any], limit: int) -> str:
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def report_to_text(report: AuditReport, *, invalid_rows: Iterable[InvalidRow] = (), limit: int = 10) -> str:
    """A readable plain-text summary (the CLI's default output); lists stop after ``limit`` items."""
    invalid = list(invalid_rows)
    counts = report.counts
    lines = [
        f"Rows: {counts['rows']:,} (labeled {counts['labeled_rows']:,}, "
        f"unlabeled {counts['unlabeled_rows']:,}); unique sentences {counts['unique_sentences']:,}; "
        f"invalid rows: {len({r.row for r in invalid}):,}",
    ]
    for r in invalid[:limit]:
        lines.append(f"  row {r.row}, {r.field}: {r.reason}")
    if len(invalid) > limit:
        lines.append(f"  ... {len(invalid) - limit} more")
    if counts["label_counts"]:
        labeled = max(1, counts["labeled_rows"])
        lines.append("Labels (most frequent first):")
        for label, count in sorted(counts["label_counts"].items(), key=lambda kv: -kv[1])[:limit]:
            lines.append(f"  {label:<40} {count:>9,}  {count / labeled:6.1%}")
        if len(counts["label_counts"]) > limit:
            lines.append(f"  ... {len(counts['label_counts']) - limit} more labels")
    if counts["unknown_labels"]:
        lines.append(f"Labels not in the {report.schema_name} schema: {_head(counts['unknown_labels'], limit)}")

    dup = report.duplicates
    lines.append(f"Exact duplicates: {dup.groups:,} groups, {dup.extra_rows:,} extra rows")
    for group in dup.id_groups[:limit]:
        lines.append(f"  ids {_head(group, 5)}")
    conf = report.label_conflicts
    lines.append(
        f"Label conflicts (same sentence and spans, different labels): {conf.groups:,} groups, {conf.rows:,} rows"
    )
    for g, group in conf.table.groupby("group", sort=True):
        if g >= limit:
            break
        labels = ", ".join(f"{lab} x{cnt}" for lab, cnt in zip(group["label"], group["count"], strict=True))
        lines.append(f"  ids {_head(conf.id_groups[g], 5)}: {labels}")
    off = report.offset_mismatches
    lines.append(f"Offset mismatches: {len(off):,} entities in {off['id'].nunique() if len(off) else 0:,} rows")
    for rec in off.head(limit).itertuples(index=False):
        lines.append(
            f"  id {rec.id} {rec.role} {rec.word!r} at {rec.start}-{rec.end} reads {rec.found!r}: {rec.reason}"
        )
    flags = report.type_flags
    lines.append(f"Type flags (threshold {report.minority_threshold:.0%}): {len(flags):,} entities, rarest first")
    for rec in flags.head(limit).itertuples(index=False):
        lines.append(f"  id {rec.id} {rec.role} {rec.type} -> {rec.suggested_type} [{rec.label}]: {rec.reason}")

    if counts["test_rows"] is not None:
        lines.append(f"Train vs test ({counts['test_rows']:,} test rows, {counts['test_labeled_rows']:,} labeled):")
        for name, value in report.divergence.items():
            shown = "n/a" if math.isnan(value) else f"{value:.4f}"
            lines.append(f"  Jensen-Shannon divergence of {name:<16} {shown}")
        ov = report.overlap
        if ov is not None:
            lines.append(
                f"  shared triples: {ov.shared_triples:,} ({len(ov.triple_train_ids):,} train rows, "
                f"{len(ov.triple_test_ids):,} test rows); shared sentences: {ov.shared_sentences:,} "
                f"({len(ov.sentence_train_ids):,} train rows, {len(ov.sentence_test_ids):,} test rows)"
            )
    return "\n".join(lines)
