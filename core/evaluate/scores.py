"""Headline scores with bootstrap intervals: micro-F1 (``no_relation`` left out), AUPRC and accuracy.

The bootstrap resamples the rows with replacement. A resample is held as how many times each row was
drawn (:func:`bootstrap_counts`, an ``(n, resamples)`` matrix), so every statistic of every resample is a
weighted sum over rows and all resamples are scored at once, with no per-resample Python loop:

- micro-F1 and accuracy need three counts per resample (true positives, gold relations, predicted
  relations; or correct rows), each a weighted sum of a 0/1 column: one sparse-times-dense product.
- AUPRC (x100, the KLUE recipe of :mod:`core.train.metrics`) needs, per class and per resample, the
  weighted number of rows and of positives scoring at or above each threshold where a positive sits.
  Which rows lie at or above a threshold does not depend on the weights, so each (class, threshold) is a
  fixed set of rows and the weighted counts of every resample come from one sparse matrix product
  (:func:`weighted_auprc`). The area is then the same sum of trapezoids as the fast path of
  :func:`core.train.metrics.auprc_many`, with counts replaced by weighted counts; with every weight 1 it
  equals :func:`core.train.metrics.auprc` (to about 1e-13; ``tests/unit/test_evaluate.py``).

Why hand-written: scoring 1,000 resamples of 7,765 x 30 with the sklearn recipe takes about a minute
(52 ms a set), and sorting every resample as :func:`core.train.metrics.auprc_many` sorts a set about 2.4 s,
while the weighted form takes about 0.16 s (``bench/evaluate.py``). A resample in which a class has no
positive scores that class 0.5, as sklearn's recipe does on such data.

Intervals are percentile intervals of the resampled values. The same seed gives the same resamples, so a
paired comparison (two models, or a model before and after a change, on the same rows) uses the same
resamples for both sides and takes the interval of the per-resample difference.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from core.train.metrics import auprc, micro_f1

#: Resamples of the bootstrap unless asked otherwise.
DEFAULT_RESAMPLES = 1000
#: Seed of the bootstrap unless asked otherwise.
DEFAULT_SEED = 0
#: Coverage of the intervals.
DEFAULT_LEVEL = 0.95
#: Resamples scored at once by :func:`weighted_auprc` (bounds memory: about 8 bytes x rows x chunk per array).
_AUPRC_CHUNK = 250


@dataclass(frozen=True)
class Interval:
    """A two-sided percentile interval of bootstrap values."""

    low: float
    high: float
    level: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def interval(values: npt.ArrayLike, *, level: float = DEFAULT_LEVEL) -> Interval:
    """The central ``level`` percentile interval of ``values`` (numpy's default linear interpolation)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1; got {level!r}.")
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no bootstrap values to take an interval of.")
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(arr, [tail, 100.0 - tail])
    return Interval(float(low), float(high), float(level))


@functools.lru_cache(maxsize=4)
def _counts(n: int, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Counts never exceed n, so int16 holds them (and every sum of them) up to 32,767 rows; it halves the
    # memory the sparse products read.
    dtype = np.int16 if n <= np.iinfo(np.int16).max else np.int32
    out = np.empty((resamples, n), dtype=dtype)
    for b in range(resamples):  # one bincount per resample beats one bincount of resamples x n draws
        out[b] = np.bincount(rng.integers(0, n, n), minlength=n)
    counts = np.ascontiguousarray(out.T)
    counts.setflags(write=False)
    return counts


def bootstrap_counts(n: int, *, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> np.ndarray:
    """How many times each row is drawn in each bootstrap resample.

    Parameters
    ----------
    n : int
        Rows; each resample draws ``n`` rows with replacement, uniformly.
    resamples : int, keyword-only
    seed : int, keyword-only
        The same ``(n, resamples, seed)`` gives the same matrix (it is cached, read-only).

    Returns
    -------
    numpy.ndarray of int16 (int32 above 32,767 rows), shape (n, resamples)
        Column ``b`` sums to ``n``.
    """
    if n < 1:
        raise ValueError("there are no rows to resample.")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1; got {resamples}.")
    return _counts(int(n), int(resamples), int(seed))


def weighted_sums(masks: npt.ArrayLike, counts: np.ndarray) -> np.ndarray:
    """``masks @ counts`` for 0/1 masks, as int64: per mask and resample, the drawn rows it selects.

    Parameters
    ----------
    masks : array of bool, shape (k, n)
    counts : array of int, shape (n, resamples)
        From :func:`bootstrap_counts`.
    """
    m = sp.csr_matrix(np.asarray(masks, dtype=counts.dtype))
    return np.asarray(m @ counts, dtype=np.int64)


def _check(gold: npt.ArrayLike, n_rows: int, name: str = "labels") -> np.ndarray:
    arr = np.asarray(gold)
    if arr.ndim != 1 or arr.size != n_rows:
        raise ValueError(f"{name} must have shape ({n_rows},); got {arr.shape}.")
    return arr.astype(np.int64, copy=False)


def micro_f1_resampled(
    gold: npt.ArrayLike, pred: npt.ArrayLike, counts: np.ndarray, *, no_relation: int = 0
) -> np.ndarray:
    """Micro-F1 (x100, ``no_relation`` left out) of every resample in ``counts``.

    The same formula as :func:`core.train.metrics.micro_f1_many`, with counts weighted by how often each
    row was drawn: ``2 tp / (#gold relations + #predicted relations)``, 0 when both are 0.
    """
    g = _check(gold, counts.shape[0])
    p = _check(pred, counts.shape[0], "preds")
    tp, n_gold, n_pred = weighted_sums(
        [(g == p) & (g != no_relation), g != no_relation, p != no_relation], counts
    ).astype(np.float64)
    denom = n_gold + n_pred
    return np.divide(2.0 * tp, denom, out=np.zeros_like(denom), where=denom > 0) * 100.0


def accuracy_resampled(gold: npt.ArrayLike, pred: npt.ArrayLike, counts: np.ndarray) -> np.ndarray:
    """Accuracy (x100, every class counted) of every resample in ``counts``."""
    g = _check(gold, counts.shape[0])
    p = _check(pred, counts.shape[0], "preds")
    correct = weighted_sums([g == p], counts)[0].astype(np.float64)
    return correct / counts.shape[0] * 100.0


def _threshold_groups(
    gold: np.ndarray, probs: np.ndarray, dtype: np.dtype
) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """Sparse selectors of the weighted-AUPRC counts, one row per (class, positive threshold).

    A class's thresholds ``t_0 > t_1 > ...`` are the distinct scores its positives have. Row ``(c, g)``
    of ``segment`` selects the rows whose score ``s`` falls in ``t_g <= s < t_(g-1)`` (so a cumulative
    sum over ``g`` counts the rows scoring ``>= t_g``); ``tied`` the rows scoring exactly ``t_g``;
    ``positive`` the positives there. ``starts`` are the first row of each class with positives.
    """
    n, n_classes = probs.shape
    seg_rows, seg_cols, tie_rows, tie_cols, pos_rows, pos_cols = [], [], [], [], [], []
    starts = []
    offset = 0
    for c in range(n_classes):
        is_pos = gold == c
        if not is_pos.any():
            continue
        scores = probs[:, c]
        thresholds = np.unique(scores[is_pos])  # ascending; group g is thresholds[-1 - g]
        above = np.searchsorted(thresholds, scores, side="right")  # thresholds <= score
        inside = np.flatnonzero(above > 0)  # rows below every positive count for no threshold
        group = thresholds.size - above[inside]
        tied = scores[inside] == thresholds[above[inside] - 1]
        seg_rows.append(offset + group)
        seg_cols.append(inside)
        tie_rows.append(offset + group[tied])
        tie_cols.append(inside[tied])
        positives = np.flatnonzero(is_pos)
        pos_rows.append(offset + thresholds.size - np.searchsorted(thresholds, scores[positives], side="right"))
        pos_cols.append(positives)
        starts.append(offset)
        offset += thresholds.size

    def selector(rows: list[np.ndarray], cols: list[np.ndarray]) -> sp.csr_matrix:
        r, c = np.concatenate(rows), np.concatenate(cols)
        return sp.csr_matrix((np.ones(r.size, dtype=dtype), (r, c)), shape=(offset, n))

    return (
        selector(seg_rows, seg_cols),
        selector(tie_rows, tie_cols),
        selector(pos_rows, pos_cols),
        np.asarray(starts, dtype=np.int64),
    )


def _block_cumsum(values: np.ndarray, starts: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """Cumulative sums along axis 1, restarting at each of ``starts`` (into ``out``, which may be ``values``).

    The first value of each block is lowered by the previous block's sum before one plain cumulative
    sum, which then restarts at every block: cheaper than a cumulative sum per block. Exact for the
    integer-valued floats used here.
    """
    if out is None:
        out = values.copy()
    elif out is not values:
        out[...] = values
    sums = np.add.reduceat(out, starts, axis=1)
    out[:, starts[1:]] -= sums[:, :-1]
    return np.cumsum(out, axis=1, out=out)


def weighted_auprc(gold: npt.ArrayLike, probs: npt.ArrayLike, weights: npt.ArrayLike) -> np.ndarray:
    """AUPRC (x100, the KLUE recipe) of one probability matrix under many row weightings.

    Parameters
    ----------
    gold : array of int, shape (n,)
    probs : array of float, shape (n, n_classes)
        Finite scores >= 0.
    weights : array of int, shape (n, k)
        Non-negative integer row weights per set (bootstrap counts: :func:`bootstrap_counts`).

    Returns
    -------
    numpy.ndarray of float64, shape (k,)
        Per set, the mean over classes of the area under the precision-recall curve of the data in which
        row ``i`` appears ``weights[i]`` times; a class without a positive (weight) scores 0.5. With all
        weights 1 this is :func:`core.train.metrics.auprc`.
    """
    g = np.asarray(gold).astype(np.int64, copy=False)
    p = np.asarray(probs, dtype=np.float64)
    w = np.asarray(weights)
    if p.ndim != 2 or p.shape[0] != g.size or w.ndim != 2 or w.shape[0] != g.size:
        raise ValueError(f"gold (n,), probs (n, c) and weights (n, k) disagree: {g.shape}, {p.shape}, {w.shape}.")
    if g.size and (g.min() < 0 or g.max() >= p.shape[1]):
        raise ValueError(f"gold holds a class index outside 0..{p.shape[1] - 1}.")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError("probs must be finite probabilities >= 0.")
    if not np.issubdtype(w.dtype, np.integer) or (w.size and w.min() < 0):
        raise ValueError("weights must be non-negative integers.")
    # The sparse products add weights in the weights' own integer type: keep a narrow one only while the
    # largest possible sum (a column's total) fits in it.
    if w.size and int(w.sum(axis=0, dtype=np.int64).max()) > np.iinfo(w.dtype).max:
        w = w.astype(np.int64)
    n_classes, k = p.shape[1], w.shape[1]
    segment, tied, positive, starts = _threshold_groups(g, p, w.dtype)
    present = starts.size
    scores = np.full((n_classes - present, k), 0.5)  # classes without any positive row
    areas = np.empty((present, k))
    last = np.append(starts[1:], segment.shape[0]) - 1
    for k0 in range(0, k, _AUPRC_CHUNK):
        wc = np.ascontiguousarray(w[:, k0 : k0 + _AUPRC_CHUNK])
        # (resamples, thresholds): each resample's thresholds contiguous, so the sums below run along rows
        # float64 holds these integer counts exactly (far below 2**53), so the sums below are exact
        seg, pos = (np.ascontiguousarray((m @ wc).T, dtype=np.float64) for m in (segment, positive))
        # Without a negative tied to a positive's score the tied rows are the positives themselves.
        tie = pos if tied.nnz == positive.nnz else np.ascontiguousarray((tied @ wc).T, dtype=np.float64)
        ps = _block_cumsum(seg, starts, out=seg)  # weighted rows scoring >= t
        tp = _block_cumsum(pos, starts)  # weighted positives scoring >= t
        ps_prev = ps - tie  # rows scoring > t: the next higher threshold of this resample
        tp_prev = tp - pos
        # ps == 0 implies tp == 0 (precision 0, and the term is 0 anyway); ps_prev == 0 is sklearn's final
        # point, precision 1. Written without masked division, which costs 3x more here.
        precision = tp / np.maximum(ps, 1.0)
        precision += (tp_prev + (ps_prev == 0)) / np.maximum(ps_prev, 1.0)
        # recall_t - recall_prev = pos / P: each class's sum is divided by its P (total) below
        precision *= pos
        sums = np.add.reduceat(precision, starts, axis=1) / 2.0
        total = tp[:, last]  # every positive scores >= its class's lowest threshold
        areas[:, k0 : k0 + wc.shape[1]] = np.where(total > 0, sums / np.maximum(total, 1.0), 0.5).T
    return (areas.sum(axis=0) + scores.sum(axis=0)) / n_classes * 100.0


def auprc_resampled(gold: npt.ArrayLike, probs: npt.ArrayLike, counts: np.ndarray) -> np.ndarray:
    """AUPRC (x100) of every resample in ``counts`` (see :func:`weighted_auprc`)."""
    return weighted_auprc(gold, probs, counts)


@dataclass(frozen=True)
class Headline:
    """The three headline figures (x100) of one probability matrix, each with its bootstrap interval."""

    n: int
    micro_f1: float
    auprc: float
    accuracy: float
    micro_f1_ci: Interval
    auprc_ci: Interval
    accuracy_ci: Interval
    resamples: int
    seed: int
    #: The resampled values behind each interval (``micro_f1``, ``auprc``, ``accuracy`` -> shape (resamples,)),
    #: for paired comparisons on the same resamples.
    values: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.n}
        for name in ("micro_f1", "auprc", "accuracy"):
            out[name] = getattr(self, name)
            ci = getattr(self, f"{name}_ci")
            out[f"{name}_ci"] = [ci.low, ci.high]
        out["bootstrap"] = {"resamples": self.resamples, "seed": self.seed, "level": self.micro_f1_ci.level}
        return out


def headline(
    gold: npt.ArrayLike,
    probs: npt.ArrayLike,
    *,
    no_relation: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
) -> Headline:
    """Micro-F1, AUPRC and accuracy (x100) of ``probs`` (argmax predictions), with bootstrap intervals.

    The point values are the official ones (:func:`core.train.metrics.micro_f1` and
    :func:`core.train.metrics.auprc`); the intervals are percentile intervals over ``resamples`` seeded
    resamples of the rows (:func:`bootstrap_counts`).
    """
    g = np.asarray(gold).astype(np.int64, copy=False)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != g.size:
        raise ValueError(f"probs must have shape ({g.size}, n_classes); got {p.shape}.")
    pred = p.argmax(axis=1)
    counts = bootstrap_counts(g.size, resamples=resamples, seed=seed)
    values = {
        "micro_f1": micro_f1_resampled(g, pred, counts, no_relation=no_relation),
        "auprc": auprc_resampled(g, p, counts),
        "accuracy": accuracy_resampled(g, pred, counts),
    }
    return Headline(
        n=int(g.size),
        micro_f1=micro_f1(g, pred, no_relation=no_relation),
        auprc=auprc(g, p),
        accuracy=float(np.mean(g == pred) * 100.0),
        micro_f1_ci=interval(values["micro_f1"], level=level),
        auprc_ci=interval(values["auprc"], level=level),
        accuracy_ci=interval(values["accuracy"], level=level),
        resamples=int(resamples),
        seed=int(seed),
        values=values,
    )


@dataclass(frozen=True)
class PairedDifference:
    """``after - before`` of one metric on the same rows, with its paired bootstrap interval and p-value."""

    before: float
    after: float
    delta: float
    ci: Interval
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "after": self.after,
            "delta": self.delta,
            "delta_ci": [self.ci.low, self.ci.high],
            "p_value": self.p_value,
        }


def paired_difference(
    before: float,
    after: float,
    before_resampled: np.ndarray,
    after_resampled: np.ndarray,
    *,
    level: float = DEFAULT_LEVEL,
) -> PairedDifference:
    """The difference of two paired bootstrap distributions (same resamples on both sides).

    The interval is the percentile interval of the per-resample differences. The two-sided p-value tests
    "no difference" by shifting the resampled differences to mean zero (Efron and Tibshirani 1993, ch. 16):
    ``(1 + #{|d_b - d| >= |d|}) / (1 + resamples)`` with ``d`` the observed difference; 1 when ``d`` is 0.
    """
    diffs = np.asarray(after_resampled, dtype=np.float64) - np.asarray(before_resampled, dtype=np.float64)
    delta = float(after - before)
    if delta == 0.0:
        p_value = 1.0
    else:
        extreme = np.count_nonzero(np.abs(diffs - delta) >= abs(delta))
        p_value = float((1 + extreme) / (1 + diffs.size))
    return PairedDifference(float(before), float(after), delta, interval(diffs, level=level), p_value)


__all__ = [
    "DEFAULT_LEVEL",
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "Headline",
    "Interval",
    "PairedDifference",
    "accuracy_resampled",
    "auprc_resampled",
    "bootstrap_counts",
    "headline",
    "interval",
    "micro_f1_resampled",
    "paired_difference",
    "weighted_auprc",
    "weighted_sums",
]
