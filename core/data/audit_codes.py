"""Integer codes of an audited frame's columns, and the grouping operations over them.

Every audit check works on dense ``int64`` codes rather than strings: :class:`Coded` factorizes each
column of one frame at most once and shares the result between the distributions
(:mod:`core.data.audit_distributions`) and the detectors (:mod:`core.data.audit_detectors`), and
:func:`combine`, :func:`first_rows` and :func:`split_groups` turn several coded columns into groups,
their first rows and their ids. It is separate because both of those modules build on it and it knows
nothing of any check: it is the speed layer under :func:`core.data.audit.audit`, not a finding.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

#: Shown for a missing or empty category value (source, type) in the distributions.
MISSING = "(missing)"


def _codes(values: pd.Series | np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """Dense int64 codes (first-appearance order, missing -> -1) and the uniques as a list.

    For small categoricals; use :func:`raw_codes` where the uniques are not needed
    (listing half a million unique sentences costs more than hashing them).
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64, copy=False), uniques.tolist()


def raw_codes(values: pd.Series | np.ndarray) -> np.ndarray:
    """Dense int64 codes only (first-appearance order, missing -> -1)."""
    return pd.factorize(values, use_na_sentinel=True)[0].astype(np.int64, copy=False)


#: Mixed-radix keys are re-densified before they could pass this bound (int64 holds 2**63 - 1).
_KEY_LIMIT = 2**62


def combine(*codes: np.ndarray) -> np.ndarray:
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


def first_rows(codes: np.ndarray) -> np.ndarray:
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


def split_groups(group: np.ndarray, positions: np.ndarray, ids: np.ndarray) -> list[list[str]]:
    """Ids grouped by ``group`` (groups by code, rows by position); all three arrays align row by row."""
    if len(positions) == 0:
        return []
    order = np.lexsort((positions, group))
    cuts = np.flatnonzero(np.diff(group[order])) + 1
    return [chunk.tolist() for chunk in np.split(ids[order], cuts)]


class Coded:
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
            self._cache[key] = raw_codes(self.frame[column])
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
