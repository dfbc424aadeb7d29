"""The two official KLUE-RE metrics, their batched fast paths, and submission files.

Metrics (both reported x100, as the KLUE paper and the competition leaderboard do)
-----------------------------------------------------------------------------------
micro-F1
    Micro-averaged F1 over every relation except ``no_relation``: a prediction or a gold label of
    ``no_relation`` counts for nothing. This is sklearn's ``f1_score(labels, preds, average="micro",
    labels=[all indices except no_relation]) * 100``, including its default zero-division rule (no
    relation predicted and none in the gold labels gives 0).
AUPRC
    For each class (``no_relation`` included), the one-vs-rest precision-recall curve of that class's
    probability, ``sklearn.metrics.precision_recall_curve(labels == c, probs[:, c])``, and its area by
    the trapezoidal rule, ``sklearn.metrics.auc(recall, precision)``; then the plain mean over the
    classes, x100. A class with no positive example scores 0.5 under that recipe (sklearn sets its
    recall to 1 at every threshold and appends the point recall 0, precision 1), so it is 0.5 here too.

:func:`reference_micro_f1` and :func:`reference_auprc` are that sklearn recipe, written out plainly.

Why hand-written fast paths
---------------------------
The ensemble view scores every subset of up to 12 members: 4,095 sets of 7,765 x 30
probabilities. The sklearn recipe costs about 52 ms a set (30 calls of input validation, a stable
argsort of floats and array copies, plus ``f1_score``), i.e. about 3.5 minutes for the 4,095 subsets
on the 2-core development machine. :func:`auprc_many` and :func:`micro_f1_many` score many sets at
once: ``bench/metrics.py`` measured 0.24 s for 100 sets of 7,765 x 30 against 5.2 s for the sklearn
loop (22x; about 10 s for 4,095 sets), with a largest difference of 2e-13 on the x100 scale.
:func:`micro_f1` and :func:`auprc` are the one-set cases of the batched functions, so every caller
goes through the same code.

How the AUPRC fast path works, and why it is exact
--------------------------------------------------
Per set and class, sklearn sorts the scores in decreasing order, puts a threshold at every distinct
score value (tied scores form one group), and at the threshold ``t`` of a group has
``tp = #positives with score >= t`` and ``tp + fp = #samples with score >= t``; precision
``tp / (tp + fp)``, recall ``tp / P``. ``auc`` integrates the reversed arrays plus the final point
(recall 0, precision 1) with the trapezoidal rule. Between two consecutive thresholds the recall only
moves when the lower threshold's group holds a positive, so only those groups add area; each adds
``(recall_t - recall_prev) * (precision_t + precision_prev) / 2`` where "prev" is the next higher
threshold (or the final point). Every such term is computed with the same floating-point operations
sklearn uses, so the terms are bitwise equal; only the order of the final summation differs (about
1e-16 relative).

Probabilities are finite and non-negative, so the bit pattern of a float64 read as ``uint64`` orders
them exactly like the floats, with a spare top bit: the key ``bits << 1 | is_positive`` sorts each
(set, class) row by score with ties grouped and a group's positives last, in one ``np.sort`` of
integers (SIMD-sorted by numpy, far faster than sklearn's stable argsort of floats). The positives'
positions in the sorted rows then give every count above; a tie group's first position is found
by a vectorised binary search, only for the rare groups where a negative ties with a positive.
``-0.0`` and ``0.0`` get the same key (the shift drops the sign bit), as they compare equal for
sklearn. Negative, NaN or infinite scores are refused.

Equality with the sklearn recipe is what ``tests/unit/test_metrics.py`` proves: to 1e-9 on random
inputs (hypothesis and seeded numpy), on tie-heavy inputs (few distinct values, rounded
probabilities, all-equal scores, ``-0.0``), classes without positives, a single class present, n=1
and perfect predictions; the batched functions equal the one-set functions exactly.

Submission files
----------------
``id,pred_label,probs`` CSV; ``probs`` is the string of a list of floats in the label order of the
schema (the competition baseline order for KLUE), ``pred_label`` the name of the argmax class.
Labels are mapped by NAME, never by index across sources. A file laid out as :func:`write_submission`
writes it, with every row good, is read straight from its bytes (:func:`_read_common_layout`: one comma
scan, one Arrow string-to-float cast over the numbers where they lie, the two halves of a large file at
once when a core is free); any other file, and any file with a problem, goes through the CSV reader, which
numbers the rows.
There the ``probs`` column is parsed for all rows at once (:func:`_fast_probs`) and the per-cell parser
(:func:`_parse_probs`) runs only on the rows the fast path cannot vouch for; it alone writes the messages,
so a bad row is reported exactly as before.
"""

from __future__ import annotations

import codecs
import csv
import functools
import math
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from numpy.lib.stride_tricks import sliding_window_view

from core.common.atomic import atomic_write_text
from core.common.schema import KLUE_SCHEMA, NO_RELATION, DataError, LabelSchema
from core.data.loading import load_gold
from core.data.readers import check_file, read_csv_table, short_repr

#: How far a row of ``probs`` may sum away from 1 (rounded probabilities written with a few decimals
#: stay well inside; logits or unnormalised scores do not).
SUM_TOLERANCE = 0.01

#: Sort keys held at once by :func:`auprc_many` (8 bytes each). 2**18 keys (2 MiB, one KLUE test set
#: of 7,765 x 30) measured fastest: chunks that fit in cache beat big ones (2**22 was 1.6x slower),
#: and memory stays flat whatever the number of sets.
_CHUNK_KEYS = 1 << 18

#: Columns of a submission file.
SUBMISSION_COLUMNS: tuple[str, ...] = ("id", "pred_label", "probs")

#: Examples shown in an error message about missing or extra ids.
_EXAMPLES = 5

#: The header line :func:`_read_common_layout` reads (what :func:`write_submission` writes).
_HEADER = b"id,pred_label,probs"

#: Bytes searched for a row's line end after its last comma: the longest float repr (24 bytes), "]", the
#: quote, "\r\n" and slack. A longer last number sends the file to the slow path.
_ROW_END_WINDOW = 32

#: Files at least this large (bytes) are read as two halves at once when a core is free (a KLUE test-set
#: file is 1.8 to 5.2 MB).
_SPLIT_BYTES = 1 << 20


# --------------------------------------------------------------------------------------------------
# input checks (programming errors raise ValueError; files raise DataError)


def _check_labels(labels: npt.ArrayLike, name: str = "labels") -> np.ndarray:
    """A non-empty 1-D array of non-negative integer class indices, as int64."""
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one class index per row); got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: there is nothing to score.")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices; got dtype {arr.dtype}.")
    arr = arr.astype(np.int64, copy=False)
    if arr.min() < 0:
        raise ValueError(f"{name} holds the negative class index {int(arr.min())}.")
    return arr


def _check_preds(labels: npt.ArrayLike, preds: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``labels`` (n,) and ``preds`` (k, n) checked as class indices."""
    gold = _check_labels(labels)
    arr = np.asarray(preds)
    if arr.ndim != 2 or arr.shape[1] != gold.shape[0]:
        raise ValueError(f"preds must have shape (k, {gold.shape[0]}) (one row per set); got {arr.shape}.")
    if arr.shape[0] and arr.size:
        _check_labels(arr.reshape(-1), "preds")
    return gold, arr


def _check_probs(labels: npt.ArrayLike, probs: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``labels`` (n,) as int64 and ``probs`` (k, n, c) with every label below c."""
    gold = _check_labels(labels)
    arr = np.asarray(probs)
    if arr.ndim != 3 or arr.shape[1] != gold.shape[0] or arr.shape[2] == 0:
        raise ValueError(
            f"probs must have shape (k, {gold.shape[0]}, n_classes) (sets, rows, classes); got {arr.shape}."
        )
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"probs must be numeric; got dtype {arr.dtype}.")
    if gold.max() >= arr.shape[2]:
        raise ValueError(f"labels holds the class index {int(gold.max())} but probs has {arr.shape[2]} classes.")
    return gold, arr


def _refuse_scores(block: np.ndarray) -> None:
    """Raise for the first non-finite or negative score (called once a chunk fails the fast check)."""
    bad = ~np.isfinite(block) | (block < 0)
    where = np.argwhere(bad)[0]
    value = block[tuple(where)]
    what = "NaN" if np.isnan(value) else "an infinite value" if np.isinf(value) else f"the negative value {value!r}"
    raise ValueError(f"probs holds {what}; scores must be finite probabilities >= 0.")


# --------------------------------------------------------------------------------------------------
# micro-F1


def micro_f1_many(labels: npt.ArrayLike, preds: npt.ArrayLike, *, no_relation: int = 0) -> np.ndarray:
    """Micro-F1 (x100) without ``no_relation`` for many prediction sets against one gold vector.

    Parameters
    ----------
    labels : array of int, shape (n,)
        Gold class indices.
    preds : array of int, shape (k, n)
        Predicted class indices, one row per set.
    no_relation : int, keyword-only
        Index of ``no_relation``; it counts neither as a prediction nor as a gold relation. Every other
        index counts as a relation.

    Returns
    -------
    numpy.ndarray of float64, shape (k,)
        ``2 tp / (#gold relations + #predicted relations) * 100``, computed as sklearn computes it
        (so bitwise equal to :func:`reference_micro_f1`); 0 when both counts are 0, as sklearn's
        default ``zero_division`` gives.
    """
    gold, pred = _check_preds(labels, preds)
    is_relation = gold != no_relation
    tp = np.count_nonzero((pred == gold) & is_relation, axis=1)
    n_pred = np.count_nonzero(pred != no_relation, axis=1)
    denom = (np.count_nonzero(is_relation) + n_pred).astype(np.float64)
    # sklearn: (1 + beta**2) * tp / (beta**2 * true_sum + pred_sum), zero_division -> 0.0
    f1 = np.divide(2.0 * tp, denom, out=np.zeros(pred.shape[0]), where=denom > 0)
    return f1 * 100.0


def micro_f1(labels: npt.ArrayLike, preds: npt.ArrayLike, *, no_relation: int = 0) -> float:
    """Micro-F1 (x100) over the relations, leaving ``no_relation`` out (the official KLUE-RE metric).

    Parameters
    ----------
    labels, preds : array of int, shape (n,)
        Gold and predicted class indices.
    no_relation : int, keyword-only
        Index of ``no_relation`` (0 in the KLUE baseline order).

    Returns
    -------
    float
        Equal to ``sklearn.metrics.f1_score(labels, preds, average="micro", labels=[every index but
        no_relation]) * 100``; see :func:`micro_f1_many`.
    """
    return float(micro_f1_many(labels, np.asarray(preds)[None, :], no_relation=no_relation)[0])


def reference_micro_f1(labels: npt.ArrayLike, preds: npt.ArrayLike, *, no_relation: int = 0) -> float:
    """The plain sklearn recipe for micro-F1 (x100), for tests and benchmarks.

    The label list is every index from 0 to the largest one seen, minus ``no_relation``; labels that
    occur nowhere change nothing in a micro average, so this equals the recipe with the full label set.
    """
    import sklearn.metrics  # imported where used: it costs about 1 s and the fast paths do not need it

    gold = _check_labels(labels)
    pred = _check_labels(preds, "preds")
    top = max(int(gold.max()), int(pred.max()), no_relation)
    relations = [i for i in range(top + 1) if i != no_relation]
    if not relations:  # only no_relation anywhere: a never-seen label keeps sklearn's list non-empty
        relations = [top + 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns on zero division; its default result (0) is the metric
        return float(sklearn.metrics.f1_score(gold, pred, average="micro", labels=relations) * 100.0)


# --------------------------------------------------------------------------------------------------
# AUPRC


def _lower_bound(flat: np.ndarray, lo: np.ndarray, hi: np.ndarray, target: np.ndarray) -> np.ndarray:
    """First index in ``flat[lo:hi]`` (sorted) holding a value >= ``target``, for many ranges at once."""
    lo, hi = lo.copy(), hi.copy()
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) // 2
        right = active & (flat[np.minimum(mid, flat.size - 1)] < target)
        lo = np.where(right, mid + 1, lo)
        hi = np.where(active & ~right, mid, hi)


def _areas(keys: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """Area under the PR curve of each row of sorted ``keys`` (rows x n), each holding ``positives[row] > 0``.

    ``keys`` are ``score_bits << 1 | is_positive`` sorted ascending along each row, so scores ascend,
    ties are adjacent and a tie group's positives come last. ``positives`` is the number of positives
    per row (P). See the module docstring for the derivation; names follow sklearn's arrays.
    """
    n_rows, n = keys.shape
    flat = keys.reshape(-1)
    # every positive, row by row, by ascending score (nonzero over bool is several times faster than over uint64)
    pos = np.flatnonzero((flat & np.uint64(1)).astype(bool))
    row = pos // n
    col = pos - row * n
    score = flat[pos] >> np.uint64(1)
    # A threshold group that holds positives: a run of positives in one row with one score.
    new_run = np.ones(pos.size, dtype=bool)
    new_run[1:] = (row[1:] != row[:-1]) | (score[1:] != score[:-1])
    first = np.flatnonzero(new_run)
    last = np.empty_like(first)
    last[:-1] = first[1:] - 1
    last[-1] = pos.size - 1
    offsets = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(positives, out=offsets[1:])
    below = np.arange(pos.size) - offsets[row]  # positives scoring lower in the same row
    run_row = row[first]
    p = positives[run_row]
    tps = p - below[first]  # positives with score >= t
    tps_prev = p - below[last] - 1  # positives with score > t (the next higher threshold)
    start = col[first]  # the group's first position, unless negatives tie with its positives
    run_score = score[first]
    base = run_row * n
    tied = start > 0
    tied[tied] = (flat[base[tied] + start[tied] - 1] >> np.uint64(1)) == run_score[tied]
    if tied.any():
        start[tied] = (
            _lower_bound(flat, base[tied], base[tied] + start[tied], run_score[tied] << np.uint64(1)) - base[tied]
        )
    ps = (n - start).astype(np.float64)  # samples with score >= t: tp + fp
    ps_prev = (n - col[last] - 1).astype(np.float64)  # samples with score > t
    tps = tps.astype(np.float64)
    tps_prev = tps_prev.astype(np.float64)
    p = p.astype(np.float64)
    precision = tps / ps
    # The highest threshold's predecessor is sklearn's final point: recall 0, precision 1.
    precision_prev = np.divide(tps_prev, ps_prev, out=np.ones_like(ps_prev), where=ps_prev > 0)
    recall = tps / p
    recall_prev = tps_prev / p
    # sklearn: -trapezoid(precision, recall) over reversed arrays, i.e. a sum of
    # -(recall_prev - recall) * (precision_prev + precision) / 2.0 (negation and + are exact).
    terms = (recall - recall_prev) * (precision + precision_prev) / 2.0
    return np.bincount(run_row, weights=terms, minlength=n_rows)


def auprc_many(labels: npt.ArrayLike, probs: npt.ArrayLike) -> np.ndarray:
    """AUPRC (x100) of many probability sets against one gold vector.

    Parameters
    ----------
    labels : array of int, shape (n,)
        Gold class indices, each below ``n_classes``.
    probs : array of float, shape (k, n, n_classes)
        Scores per set, row and class: finite and >= 0 (probabilities; rows need not sum to 1).
        Any float or int dtype; float32 gives what sklearn gives on the same float32 values.

    Returns
    -------
    numpy.ndarray of float64, shape (k,)
        Per set, the plain mean over all classes of the one-vs-rest area under the precision-recall
        curve (sklearn ``precision_recall_curve`` + ``auc``), x100; a class without positives counts
        0.5. Equal to :func:`reference_auprc` on each set to about 1e-13 (see the module docstring
        for how, and why this is hand-written).

    Raises
    ------
    ValueError
        Wrong shapes, a label out of range, or a NaN, infinite or negative score.
    """
    gold, arr = _check_probs(labels, probs)
    k, n, n_classes = arr.shape
    positives = np.bincount(gold, minlength=n_classes)
    present = np.flatnonzero(positives)  # classes without positives score 0.5, nothing to sort
    m = present.size
    is_positive = (gold[None, :] == present[:, None]).astype(np.uint64)  # (m, n)
    scores = np.full((k, n_classes), 0.5)
    per_chunk = max(1, _CHUNK_KEYS // (m * n))
    keys = np.empty((min(per_chunk, max(k, 1)), m, n), dtype=np.uint64)
    for k0 in range(0, k, per_chunk):
        block = arr[k0 : k0 + per_chunk]
        block = block if m == n_classes else block[:, :, present]
        block = np.ascontiguousarray(block, dtype=np.float64)
        if not (block.min() >= 0 and block.max() < np.inf):  # NaN fails the first comparison
            _refuse_scores(block)
        kc = block.shape[0]
        out = keys[:kc]
        # float64 >= 0 read as uint64 orders exactly like the floats and leaves the top bit free.
        np.left_shift(block.view(np.uint64).transpose(0, 2, 1), np.uint64(1), out=out)
        out |= is_positive
        out.sort(axis=-1)
        areas = _areas(out.reshape(kc * m, n), np.tile(positives[present], kc))
        scores[k0 : k0 + kc, present] = areas.reshape(kc, m)
    return scores.mean(axis=1) * 100.0


def auprc(labels: npt.ArrayLike, probs: npt.ArrayLike) -> float:
    """AUPRC (x100) over all classes, ``no_relation`` included (the official KLUE-RE metric).

    Parameters
    ----------
    labels : array of int, shape (n,)
        Gold class indices.
    probs : array of float, shape (n, n_classes)
        Probabilities per row and class (finite, >= 0).

    Returns
    -------
    float
        Equal to :func:`reference_auprc` (the sklearn recipe); see :func:`auprc_many`.
    """
    return float(auprc_many(labels, np.asarray(probs)[None])[0])


def reference_auprc(labels: npt.ArrayLike, probs: npt.ArrayLike) -> float:
    """The plain sklearn recipe for AUPRC (x100), as the KLUE baseline writes it, for tests and benchmarks."""
    import sklearn.metrics

    gold = _check_labels(labels)
    arr = np.asarray(probs)
    score = np.zeros(arr.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "No positive class found in y_true": the 0.5 is part of the recipe
        for c in range(arr.shape[1]):
            precision, recall, _ = sklearn.metrics.precision_recall_curve(gold == c, arr[:, c])
            score[c] = sklearn.metrics.auc(recall, precision)
    return float(np.average(score) * 100.0)


# --------------------------------------------------------------------------------------------------
# everything at once


def per_class_f1(labels: npt.ArrayLike, preds: npt.ArrayLike, *, label_names: Sequence[str]) -> dict[str, float]:
    """F1 (x100) of every class, ``no_relation`` included, by label name.

    A class neither predicted nor present scores 0 (sklearn's default ``zero_division``).
    """
    import sklearn.metrics

    gold = _check_labels(labels)
    pred = _check_labels(preds, "preds")
    if gold.shape != pred.shape:
        raise ValueError(f"labels and preds differ in length ({gold.size} and {pred.size}).")
    top = max(int(gold.max()), int(pred.max()))
    if top >= len(label_names):
        raise ValueError(f"class index {top} is out of range for {len(label_names)} label names.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = sklearn.metrics.f1_score(
            gold, pred, average=None, labels=list(range(len(label_names))), zero_division=0.0
        )
    return {name: float(v) * 100.0 for name, v in zip(label_names, values, strict=True)}


def score(
    labels: npt.ArrayLike, probs: npt.ArrayLike, *, label_names: Sequence[str], no_relation: int = 0
) -> dict[str, Any]:
    """Both official metrics and per-class F1 of one probability matrix.

    Parameters
    ----------
    labels : array of int, shape (n,)
        Gold class indices into ``label_names``.
    probs : array of float, shape (n, len(label_names))
        Probabilities; the prediction of a row is its argmax (the first on ties).
    label_names : sequence of str, keyword-only
        Class names in the column order of ``probs``.
    no_relation : int, keyword-only
        Index of ``no_relation`` in ``label_names``.

    Returns
    -------
    dict
        ``micro_f1`` and ``auprc`` (floats, x100), ``n`` (rows), ``per_class_f1`` (name -> F1 x100).
    """
    arr = np.asarray(probs)
    if arr.ndim != 2 or arr.shape[1] != len(label_names):
        raise ValueError(f"probs must have shape (n, {len(label_names)}) (one column per label); got {arr.shape}.")
    gold = _check_labels(labels)
    preds = np.argmax(arr, axis=1)
    return {
        "micro_f1": micro_f1(gold, preds, no_relation=no_relation),
        "auprc": auprc(gold, arr),
        "n": int(gold.size),
        "per_class_f1": per_class_f1(gold, preds, label_names=label_names),
    }


# --------------------------------------------------------------------------------------------------
# submission files


def _parse_probs(cell: str, n_classes: int) -> tuple[list[float] | None, str | None]:
    """A ``probs`` cell as floats, or the reason it is not a list of ``n_classes`` numbers."""
    text = cell.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None, f"probs is not a list of numbers: {short_repr(cell)}"
    inner = text[1:-1]
    if "np.float" in inner:
        return None, "probs holds numpy reprs such as np.float64(...); write plain floats (use .tolist())"
    parts = inner.split(",") if inner.strip() else []
    if len(parts) == 1 and len(inner.split()) > 1:
        return None, "probs is not comma-separated (looks like a printed numpy array; write str(list))"
    try:
        values = [float(part) for part in parts]
    except ValueError:
        return None, f"probs is not a list of numbers: {short_repr(cell)}"
    if len(values) != n_classes:
        return None, f"probs has {len(values)} values; expected {n_classes} (one per label)"
    for j, value in enumerate(values):
        if math.isnan(value):
            return None, f"probs holds NaN at position {j}"
        if math.isinf(value):
            return None, f"probs holds an infinite value at position {j}"
        if value < 0:
            return None, f"probs holds the negative value {value!r} at position {j}"
    total = math.fsum(values)
    if abs(total - 1.0) > SUM_TOLERANCE:
        return None, f"probs sums to {total:.6g}, not 1 (tolerance {SUM_TOLERANCE})"
    return values, None


def _string_buffer(column: Any) -> tuple[np.ndarray, np.ndarray]:
    """The bytes of a column of strings, concatenated, and where each string starts (n + 1 offsets)."""
    arr = column if isinstance(column, (pa.Array, pa.ChunkedArray)) else pa.array(column, type=pa.large_string())
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    _, offsets, data = arr.buffers()
    off = np.frombuffer(offsets, dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    buf = np.zeros(0, dtype=np.uint8) if data is None else np.frombuffer(data, dtype=np.uint8)
    return buf[off[0] : off[-1]], off - off[0]


def _fast_probs(column: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Parse a whole ``probs`` column at once, leaving the rows it cannot vouch for to :func:`_parse_probs`.

    Returns ``probs`` (n, n_classes) and ``settled`` (n,): True where the row holds exactly what
    :func:`_parse_probs` returns for that cell, and :func:`_parse_probs` accepts it. Every other row
    (malformed, unusual spacing, a sign, NaN, a sum near the tolerance...) must go through the per-cell
    parser, which gives the exact reason; this function never decides that a row is bad.

    A cell written by ``str(list)`` reads ``[a, b, ..., z]``. Every byte that only separates numbers (the
    brackets, each comma and one space after it) is overwritten with ``0`` and given to the number after
    it, so ``[0.1, 0.25]`` becomes the strings ``00.1`` and ``000.25``; a number that starts with a digit
    keeps its value and its validity under leading zeros. The strings are then parsed in one call by
    Arrow's string-to-float64 cast, which rounds correctly as Python's ``float`` does, so the values are
    bitwise those of the per-cell parser. Anything else left in a number (a second space, letters, an
    underscore) makes the cast fail, and then every row is left to the per-cell parser. Why: the per-cell
    loop costs about 13 us a row, 100 ms of the 110 ms it took to read a 7,765 x 30 file; this costs about
    2 us a row, and the whole read about 28 ms (``bench/evaluate.py``: 4x). Most of what is left is the CSV
    parse (about 8 ms) and the float parse itself (about 7 ms).
    """
    buf, off = _string_buffer(column)
    n = off.size - 1
    probs = np.zeros((n, n_classes), dtype=np.float64)
    settled = np.zeros(n, dtype=bool)
    if n == 0 or n_classes < 1:
        return probs, settled
    starts, ends = off[:-1], off[1:]
    shaped = ends - starts >= 2
    shaped[shaped] = (buf[starts[shaped]] == ord("[")) & (buf[ends[shaped] - 1] == ord("]"))
    commas = np.flatnonzero(buf == ord(","))
    shaped &= np.diff(np.searchsorted(commas, off)) == n_classes - 1
    if not shaped.all():
        # Rare (a bad row, or another layout): parse the well-shaped rows alone; the rest go to the slow parser.
        if shaped.any():
            arr = column if isinstance(column, (pa.Array, pa.ChunkedArray)) else pa.array(column)
            probs[shaped], settled[shaped] = _fast_probs(arr.filter(pa.array(shaped)), n_classes)
        return probs, settled
    work = buf.copy()
    work[starts] = ord("0")
    work[ends - 1] = ord("0")
    work[commas] = ord("0")
    after = commas + 1  # a comma is never a row's last byte here
    spaced = work[after] == ord(" ")
    work[after if spaced.all() else after[spaced]] = ord("0")
    # Number j of a row ends at its comma (the last one at the row's closing bracket) and starts after
    # the separator bytes before it; those must be followed by a digit ("[, 1.0]" or "[.5]" are not).
    bounds = np.empty((n, n_classes), dtype=np.int64)
    first = np.empty((n, n_classes), dtype=np.int64)
    bounds[:, :-1] = commas.reshape(n, n_classes - 1)
    bounds[:, -1] = ends - 1
    first[:, 0] = starts + 1
    first[:, 1:] = (after + spaced).reshape(n, n_classes - 1)
    # first <= bounds < buf.size; uint8 arithmetic: bytes below "0" wrap round past 10
    digit_first = (first < bounds) & ((buf[first] - ord("0")) < 10)
    value_offsets = np.zeros(n * n_classes + 1, dtype=np.int64)
    value_offsets[1:] = bounds.reshape(-1)
    strings = pa.LargeStringArray.from_buffers(
        n * n_classes, pa.py_buffer(value_offsets), pa.py_buffer(work[: int(value_offsets[-1])])
    )
    try:
        # writable: the caller stores the per-cell parser's values into the rows this does not settle
        values = pc.cast(strings, pa.float64()).to_numpy(zero_copy_only=False, writable=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return probs, settled
    probs = values.reshape(n, n_classes)
    settled = digit_first.all(axis=1) & np.isfinite(probs).all(axis=1) & (probs >= 0).all(axis=1)
    # math.fsum decides in the per-cell parser; a row within 1e-9 of the tolerance is left to it.
    settled &= np.abs(probs.sum(axis=1) - 1.0) <= SUM_TOLERANCE - 1e-9
    return probs, settled


def _parse_rows(
    data: pa.Buffer, lo: int, hi: int, label_names: frozenset[str], n_classes: int, crlf: int
) -> tuple[list[str], np.ndarray, list[str]] | None:
    """The rows of ``data[lo:hi]`` in the layout :func:`_read_common_layout` reads, or None.

    ``lo`` is a row's first byte and ``data[hi - 1]`` a row's line feed. Returns the ids, ``probs``
    (n, n_classes) and the labels when every row is good: the values finite, >= 0 and each row summing to 1
    within :data:`SUM_TOLERANCE` (as :func:`_parse_probs` decides), the ids neither blank nor repeated (within
    these rows), the labels in ``label_names``. None when a row is laid out otherwise or anything in it is
    refused.
    """
    chunk = data.slice(lo, hi - lo)
    part = np.frombuffer(chunk, dtype=np.uint8)  # positions below are relative to lo
    per_row = n_classes + 1
    # Large temporaries come from Arrow's allocator, which keeps freed memory for the next file: a fresh
    # numpy array of a few MB costs a page fault per 4 KiB page, measured at as much as the comma scan.
    is_comma = np.frombuffer(pa.allocate_buffer(part.size), dtype=np.bool_)
    np.equal(part, ord(","), out=is_comma)
    commas = np.flatnonzero(is_comma)
    n = commas.size // per_row
    if n == 0 or commas.size != n * per_row:
        return None
    sep = commas.reshape(n, per_row)
    c0, c1 = sep[:, 0], sep[:, 1]
    # A row ends at the first line feed after its last comma: the last number, "]" and the quote come between.
    newline = np.empty(n, dtype=np.intp)
    newline[-1] = part.size - 1
    if n > 1:
        before = sep[:-1, -1] + 1
        if before[-1] + _ROW_END_WINDOW > part.size:
            return None
        window = sliding_window_view(part, _ROW_END_WINDOW)[before] == ord("\n")
        found = window.argmax(axis=1)
        if not window[np.arange(n - 1), found].all():
            return None
        newline[:-1] = before + found
        if not (c0[1:] > newline[:-1]).all():  # a row with too many commas took the next row's first
            return None
    end = newline - crlf  # the row's line end
    if crlf and not (part[end] == ord("\r")).all():
        return None
    quoted = (
        (part[c1 + 1] == ord('"')).all()
        and (part[c1 + 2] == ord("[")).all()
        and (part[end - 2] == ord("]")).all()
        and (part[end - 1] == ord('"')).all()
        and (end - 2 >= c1 + 3).all()
    )
    if not quoted:
        return None
    # Per row the elements [start_0, end_0), [end_0, start_1), [start_1, end_1), ...: a number starts after
    # "[" or after a comma and one space and ends at the next comma or at "]"; the elements between two
    # numbers (a separator, or the end of a row and the start of the next) are null.
    m = n * n_classes
    offsets_buffer = pa.allocate_buffer(4 * (2 * m + 1))
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)
    bounds = offsets[:-1].reshape(n, n_classes, 2)
    np.add(sep[:, 1:], 2, out=bounds[:, :, 0])
    bounds[:, 0, 0] += 1
    bounds[:, :-1, 1] = sep[:, 2:]
    bounds[:, -1, 1] = end - 2
    offsets[-1] = end[-1] - 2
    if n_classes > 1:
        spaced = part[1:].take(commas).reshape(n, per_row)[:, 2:] == ord(" ")  # the byte after each comma
        if not spaced.all():
            bounds[:, 1:, 0] -= ~spaced
    validity = np.full((2 * m + 7) // 8, 0b01010101, dtype=np.uint8)  # the even elements are the numbers
    strings = pa.Array.from_buffers(pa.string(), 2 * m, [pa.py_buffer(validity), offsets_buffer, chunk], null_count=m)
    try:
        parsed = pc.cast(strings, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    values = np.frombuffer(parsed.buffers()[1], dtype=np.float64, count=2 * m)
    probs = np.frombuffer(pa.allocate_buffer(8 * m), dtype=np.float64).reshape(n, n_classes)
    np.copyto(probs, values[::2].reshape(n, n_classes))
    if not probs.min() >= 0:  # also NaN
        return None
    # math.fsum decides in the per-cell parser; it is asked only for rows near the tolerance, once a value
    # above 1 + SUM_TOLERANCE (infinity too: such a row sums to infinity) has sent the file to the slow path.
    near = np.flatnonzero(np.abs(probs.sum(axis=1) - 1.0) > SUM_TOLERANCE - 1e-9)
    if near.size and (probs[near] > 1.0 + SUM_TOLERANCE).any():
        return None
    if any(abs(math.fsum(probs[i].tolist()) - 1.0) > SUM_TOLERANCE for i in near.tolist()):
        return None
    # ids and labels: the elements [row start, label's comma + 1) of an array over the same bytes, taken
    # together ("id,label,id,label,...,"), decoded and split at the commas (neither field holds one).
    row_start = np.empty(n, dtype=np.intp)
    row_start[0] = 0
    row_start[1:] = newline[:-1] + 1
    field_bounds = np.empty(2 * n + 1, dtype=np.int32)
    field_bounds[0:-1:2] = row_start
    field_bounds[1::2] = c1 + 1
    field_bounds[-1] = part.size
    binary = pa.Array.from_buffers(pa.binary(), 2 * n, [None, pa.py_buffer(field_bounds), chunk])
    taken = binary.take(np.arange(0, 2 * n, 2))
    ends = np.frombuffer(taken.buffers()[1], dtype=np.int32)[taken.offset : taken.offset + n + 1]
    taken_bytes = taken.buffers()[2]
    text = b"" if taken_bytes is None else taken_bytes.to_pybytes()[ends[0] : ends[-1]]
    if b'"' in text or b"\r" in text or b"\n" in text:  # the CSV reader would unquote or split these
        return None
    try:
        fields = text.decode("utf-8").split(",")  # strict UTF-8, as the CSV reader checks it
    except UnicodeDecodeError:
        return None
    ids, pred_labels = fields[0:-1:2], fields[1::2]
    if not label_names.issuperset(pred_labels) or len(set(ids)) != n:
        return None
    first = part[row_start]  # an id that starts with a printable ASCII character is not blank
    if not ((c0 > row_start) & (first > ord(" ")) & (first < 0x7F)).all() and any(not rid.strip() for rid in ids):
        return None
    return ids, probs, pred_labels


def _read_common_layout(path: Path, label_names: Sequence[str]) -> tuple[list[str], np.ndarray, list[str]] | None:
    """Read a submission written the usual way, straight from its bytes; None when it is not, or has a problem.

    The usual way is what :func:`write_submission`, ``csv.writer`` and ``pandas.to_csv`` write: the header
    ``id,pred_label,probs`` (after an optional UTF-8 byte order mark), then per row ``ID,LABEL,"[p0, p1, ...]"``
    ending with ``\\n`` or ``\\r\\n`` throughout (a missing final line end is fine), where ``ID`` and ``LABEL``
    hold no comma, double quote or line break. For such a file the CSV reader of the slow path yields exactly
    these fields, so the result is the slow path's, bitwise. This function returns a result only for a file in
    that layout whose every row is good: every number parses, the sums are within :data:`SUM_TOLERANCE`, the
    ids are non-empty and unique and the labels are known. Otherwise it returns None, and the slow path (which
    numbers rows as the CSV reader does and writes every message) reads the file. It never raises for the
    file's content.

    Why hand-written: the slow path spends about 7 ms a 7,765 x 30 file in the single-threaded CSV parse
    (kept so that a malformed line gets its row number) and as much again locating the numbers in the
    ``probs`` column. Here one ``np.flatnonzero`` over the bytes finds every comma, each row must hold exactly
    ``n_classes + 1`` of them, and each row's end is found in a short window after its last comma. The
    numbers are then parsed where they lie, in one call, by Arrow's string-to-float64 cast over a string
    array whose offsets point into the file's bytes, with every separator a null element the cast skips.
    That cast rounds correctly (fast_float), as Python's ``float`` does, so the values are bitwise those of
    the per-cell parser; it accepts a subset of what ``float`` accepts (no surrounding whitespace, no
    underscores, no non-ASCII digits: such a file goes to the slow path), and the only spelling it reads
    that ``float`` refuses, ``nan(...)``, gives NaN, which fails the ``>= 0`` check. The file is read into
    Arrow's allocator, and so are the large temporaries and ``probs`` (a plain writable ndarray over an
    Arrow buffer): fresh numpy arrays of a few MB cost a page fault per 4 KiB page, measured at as much as
    the comma scan. The cast and the comma scan are most of what is left, so a file of :data:`_SPLIT_BYTES`
    or more is cut at a line end into two halves parsed at once (numpy and Arrow release the GIL) when a
    core is free (:func:`_core_to_spare`): in ``bench/evaluate.py`` that was 1.15x faster on the idle 2-core
    machine and slower under load, where the second thread waits for a core. ``bench/evaluate.py`` measures
    the result against the per-cell parser.
    """
    n_classes = len(label_names)
    try:
        with pa.OSFile(os.fspath(path)) as handle:
            data = handle.read_buffer()  # into Arrow's allocator (see the docstring)
    except (OSError, pa.ArrowException):
        return None
    head_bytes = data.slice(0, min(data.size, len(codecs.BOM_UTF8) + len(_HEADER) + 2)).to_pybytes()
    start = len(codecs.BOM_UTF8) if head_bytes.startswith(codecs.BOM_UTF8) else 0
    if not head_bytes.startswith(_HEADER, start) or n_classes < 1 or data.size >= 2**31 - 2:
        return None
    start += len(_HEADER)
    crlf = int(head_bytes.startswith(b"\r\n", start))
    if not (crlf or head_bytes.startswith(b"\n", start)):
        return None
    start += 1 + crlf  # the first row's first byte
    if data.size <= start:
        return None
    if data.slice(data.size - 1).to_pybytes() != b"\n":
        data = pa.py_buffer(data.to_pybytes() + (b"\r\n" if crlf else b"\n"))
    size, known = data.size, frozenset(label_names)
    cut = 0
    if size - start >= _SPLIT_BYTES and _core_to_spare():  # cut after the first line feed past the middle
        middle = (start + size) // 2
        cut = data.slice(middle, min(size - middle, 4096)).to_pybytes().find(b"\n") + 1
        cut = middle + cut if cut else 0
    if not start < cut < size:
        return _parse_rows(data, start, size, known, n_classes, crlf)
    pending = _pool().submit(_parse_rows, data, cut, size, known, n_classes, crlf)
    head, tail = _parse_rows(data, start, cut, known, n_classes, crlf), pending.result()
    if head is None or tail is None:
        return None
    ids = head[0] + tail[0]
    if len(set(ids)) != len(ids):
        return None
    n = len(ids)
    probs = np.frombuffer(pa.allocate_buffer(8 * n * n_classes), dtype=np.float64).reshape(n, n_classes)
    np.concatenate([head[1], tail[1]], out=probs)
    return ids, probs, head[2] + tail[2]


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """The one worker thread that parses the second half of a large submission file."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-submission")


def _core_to_spare() -> bool:
    """Whether a second thread would find a core now: 2 or more usable CPUs, 1-minute load below their count - 1."""
    try:
        cores = len(os.sched_getaffinity(0))
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return False
    return cores >= 2 and load < cores - 1


def read_submission_with_labels(
    path: str | os.PathLike[str], label_names: Sequence[str]
) -> tuple[list[str], np.ndarray, list[str] | None]:
    """Read a submission / prediction CSV as :func:`read_submission` does, and keep its ``pred_label`` column.

    Returns
    -------
    ids : list of str
        In file order.
    probs : numpy.ndarray of float64, shape (n, len(label_names))
    pred_labels : list of str or None
        The ``pred_label`` column, None when the file has none (the ensemble's label-order check reads it).
    """
    p = Path(path)
    name = os.fspath(path)
    check_file(p, name)
    common = _read_common_layout(p, label_names)
    if common is not None:
        return common
    table = read_csv_table(p, name, None, ("id", "probs"), ("pred_label",))
    problems: list[tuple[int, str, str]] = [(r.row, r.field, r.reason) for r in table.malformed]
    frame, rows = table.frame, table.rows
    if frame.empty and not problems:
        raise DataError(f"{name} has a header line but no data rows.")
    ids = frame["id"].tolist()
    pred_labels = frame["pred_label"].tolist() if "pred_label" in frame.columns else None
    # Row checks are vectorised; the per-row messages are built for the bad rows only.
    empty = np.array([rid.strip() == "" for rid in ids], dtype=bool)
    repeated = frame["id"].duplicated(keep="first").to_numpy(dtype=bool) & ~empty
    if repeated.any():
        first_row: dict[str, int] = {}
        for i in np.flatnonzero(~empty).tolist():
            rid = ids[i]
            if repeated[i]:
                problems.append((int(rows[i]), "id", f"duplicate id {short_repr(rid)} (first at row {first_row[rid]})"))
            else:
                first_row[rid] = int(rows[i])
    problems += [(int(rows[i]), "id", "id is empty") for i in np.flatnonzero(empty).tolist()]
    if pred_labels is not None:
        unknown = ~frame["pred_label"].isin(list(label_names)).to_numpy(dtype=bool)
        problems += [
            (int(rows[i]), "pred_label", f"unknown label {short_repr(pred_labels[i])}")
            for i in np.flatnonzero(unknown).tolist()
        ]
    probs, settled = _fast_probs(frame["probs"], len(label_names))
    if not settled.all():
        cells = frame["probs"]
        for i in np.flatnonzero(~settled).tolist():
            values, reason = _parse_probs(cells.iloc[i], len(label_names))
            if reason is not None:
                problems.append((int(rows[i]), "probs", reason))
            else:
                probs[i] = values
    if problems:
        row, field_name, reason = min(problems)
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise DataError(f"{name}: row {row}, field {field_name}: {reason}{more}.")
    return ids, probs, pred_labels


def read_submission(path: str | os.PathLike[str], *, label_names: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Read a submission / prediction CSV (``id,pred_label,probs``).

    Parameters
    ----------
    path : path
        The CSV. ``id`` and ``probs`` are required; ``pred_label``, when present, must name a label.
    label_names : sequence of str, keyword-only
        The labels in the order of the ``probs`` lists (for KLUE: ``KLUE_SCHEMA.labels``, the
        competition baseline order).

    Returns
    -------
    ids : list of str
        In file order.
    probs : numpy.ndarray of float64, shape (n, len(label_names))

    Raises
    ------
    DataError
        The file is missing or unreadable, lacks a column, or any row is bad: a ``probs`` cell that is
        not a list of numbers, has the wrong length, holds NaN, an infinite or a negative value, or does
        not sum to 1 within :data:`SUM_TOLERANCE`; an empty or duplicate id; an unknown ``pred_label``.
        The message names the file, the first bad row (1-based, header not counted) and its field,
        and how many more problems there are.
    """
    ids, probs, _ = read_submission_with_labels(path, label_names)
    return ids, probs


def write_submission(
    path_or_buffer: str | os.PathLike[str] | IO[str],
    ids: Sequence[str | int],
    probs: npt.ArrayLike,
    *,
    label_names: Sequence[str],
    preds: npt.ArrayLike | None = None,
) -> None:
    """Write ``id,pred_label,probs`` rows; atomically (temp file + rename) when given a path.

    ``pred_label`` is the name of the argmax class, or of ``preds`` (class indices) when given: a decoding
    rule such as a no_relation threshold picks labels the probabilities' argmax does not (KLUE scores
    ``pred_label`` with micro-F1 and ``probs`` with AUPRC, each on its own). ``probs`` is
    ``str(list_of_floats)``, whose shortest round-trip reprs :func:`read_submission` reads back to the same
    float64 values.

    Raises
    ------
    ValueError
        Lengths or shapes disagree, ids are empty or repeated, or a row is not a probability
        vector (what :func:`read_submission` would refuse).
    """
    arr = np.asarray(probs, dtype=np.float64)
    names = [str(i) for i in ids]
    if arr.ndim != 2 or arr.shape != (len(names), len(label_names)):
        raise ValueError(
            f"probs must have shape ({len(names)}, {len(label_names)}) (one row per id, one column per label); "
            f"got {arr.shape}."
        )
    if any(not s.strip() for s in names):
        raise ValueError("ids holds an empty id.")
    if len(set(names)) != len(names):
        raise ValueError("ids holds duplicates.")
    if arr.size and not (np.isfinite(arr).all() and arr.min() >= 0):
        raise ValueError("probs holds a NaN, infinite or negative value.")
    sums = arr.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1.0) > SUM_TOLERANCE)
    if off.size:
        raise ValueError(f"row {off[0]} of probs sums to {sums[off[0]]:.6g}, not 1.")
    if preds is None:
        preds = np.argmax(arr, axis=1) if arr.size else np.zeros(0, dtype=np.int64)
    else:
        preds = np.asarray(preds, dtype=np.int64)
        if preds.shape != (len(names),) or (preds.size and (preds.min() < 0 or preds.max() >= len(label_names))):
            raise ValueError(f"preds must be {len(names)} class indices below {len(label_names)}.")

    def write(handle: IO[str]) -> None:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(SUBMISSION_COLUMNS)
        for rid, pred, row in zip(names, preds.tolist(), arr.tolist(), strict=True):
            writer.writerow((rid, label_names[pred], str(row)))

    if isinstance(path_or_buffer, (str, os.PathLike)):
        atomic_write_text(path_or_buffer, write)
    else:
        write(path_or_buffer)


def read_gold(path: str | os.PathLike[str], *, schema: LabelSchema = KLUE_SCHEMA) -> tuple[list[str], np.ndarray]:
    """Gold labels from an ``id,label`` CSV or a labeled dataset file, as indices into ``schema.labels``.

    Returns
    -------
    ids : list of str
    labels : numpy.ndarray of int64
        Index of each row's label name in ``schema.labels`` (mapped by name).

    Raises
    ------
    DataError
        From :func:`core.data.loading.load_gold`: unreadable file, unknown label, missing label, bad row.
    """
    gold = load_gold(path, schema=schema)
    index = schema.label_to_id
    return gold.index.tolist(), np.array([index[name] for name in gold.tolist()], dtype=np.int64)


def _examples(values: list[str]) -> str:
    shown = ", ".join(repr(v) for v in values[:_EXAMPLES])
    return f"{shown}, ..." if len(values) > _EXAMPLES else shown


def gold_order(
    gold_ids: Sequence[str],
    pred_ids: Sequence[str],
    *,
    gold_path: str | os.PathLike[str],
    pred_path: str | os.PathLike[str],
) -> np.ndarray:
    """Where each gold id is among the predicted ids (``probs[order]`` follows the gold order).

    Raises
    ------
    DataError
        The two files do not hold the same ids: how many gold ids lack a prediction and how many
        predicted ids are not gold ids, with examples (the message :func:`score_files` gives).
    """
    position = {rid: i for i, rid in enumerate(pred_ids)}
    missing = [rid for rid in gold_ids if rid not in position]
    gold_set = set(gold_ids)
    extra = [rid for rid in pred_ids if rid not in gold_set]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} gold id(s) have no prediction (e.g. {_examples(missing)})")
        if extra:
            parts.append(f"{len(extra)} predicted id(s) are not in the gold file (e.g. {_examples(extra)})")
        raise DataError(
            f"{os.fspath(pred_path)} does not match {os.fspath(gold_path)}: {'; '.join(parts)}. "
            "Score predictions made for the same rows as the gold labels."
        )
    return np.array([position[rid] for rid in gold_ids], dtype=np.int64)


def score_files(
    gold_path: str | os.PathLike[str], pred_path: str | os.PathLike[str], *, schema: LabelSchema = KLUE_SCHEMA
) -> dict[str, Any]:
    """Score a submission file against a gold file.

    Parameters
    ----------
    gold_path : path
        An ``id,label`` CSV or a labeled dataset file (see :func:`read_gold`).
    pred_path : path
        A submission CSV whose ``probs`` follow ``schema.labels`` order (see :func:`read_submission`).
    schema : LabelSchema, keyword-only

    Returns
    -------
    dict
        What :func:`score` returns (``micro_f1``, ``auprc``, ``n``, ``per_class_f1``; the prediction
        is the argmax of ``probs``), plus ``pred_label_mismatches``: rows whose ``pred_label`` is not
        that argmax (0 when the file has no ``pred_label``). A leaderboard that scores micro-F1 from
        ``pred_label`` would differ from ``micro_f1`` exactly when this is not 0.

    Raises
    ------
    DataError
        Either file is bad, or the two files do not hold the same ids (the message says how many are
        missing and extra, with examples).
    """
    gold_ids, labels = read_gold(gold_path, schema=schema)
    pred_ids, probs, pred_labels = read_submission_with_labels(pred_path, schema.labels)
    order = gold_order(gold_ids, pred_ids, gold_path=gold_path, pred_path=pred_path)
    aligned = probs[order]
    result = score(labels, aligned, label_names=schema.labels, no_relation=schema.labels.index(NO_RELATION))
    mismatches = 0
    if pred_labels is not None:
        argmax_names = np.asarray(schema.labels, dtype=object)[np.argmax(aligned, axis=1)]
        mismatches = int(np.count_nonzero(np.asarray(pred_labels, dtype=object)[order] != argmax_names))
    result["pred_label_mismatches"] = mismatches
    return result


__all__ = [
    "SUBMISSION_COLUMNS",
    "SUM_TOLERANCE",
    "auprc",
    "auprc_many",
    "gold_order",
    "micro_f1",
    "micro_f1_many",
    "per_class_f1",
    "read_gold",
    "read_submission",
    "read_submission_with_labels",
    "reference_auprc",
    "reference_micro_f1",
    "score",
    "score_files",
    "write_submission",
]
