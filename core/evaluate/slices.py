"""Where a model is right and wrong: per relation, per slice of the rows, and direction errors.

- :func:`per_class`: precision, recall, F1 (x100) and support of every label, as
  ``sklearn.metrics.precision_recall_fscore_support(average=None, zero_division=0)`` computes them (the
  tests compare), from one confusion matrix.
- :func:`slice_scores`: micro-F1 (``no_relation`` left out, x100) and accuracy of the rows sharing a key:
  the (subject type, object type) pair, the source, a sentence-length bucket (:func:`length_buckets`).
- :func:`direction_errors`: rows whose prediction is the inverse of the gold relation (``per:parents``
  for ``per:children``), counted apart because the model found the relation and only swapped its
  direction. The inverse pairs are :data:`core.common.schema.INVERSE_RELATIONS`, the map the entity-swap
  augmentation (:mod:`core.data.augment`) uses; a symmetric relation is its own inverse there, so
  predicting it for itself is simply correct and never a direction error.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from core.common.schema import INVERSE_RELATIONS
from core.evaluate.confusion import confusion_counts

#: Sentence-length bucket edges in characters (KLUE sentences run from about 20 to 450, median near 90).
DEFAULT_LENGTH_EDGES: tuple[int, ...] = (50, 100, 150, 200)


@dataclass(frozen=True)
class ClassScore:
    """One label's precision, recall and F1 (x100), its support (gold rows) and how often it was predicted."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int
    predicted: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def per_class(gold: npt.ArrayLike, pred: npt.ArrayLike, *, label_names: Sequence[str]) -> list[ClassScore]:
    """Precision, recall, F1 (x100) and support of every label of ``label_names``, in that order.

    A label never predicted has precision 0, one never in the gold labels recall 0, and F1 is 0 when both
    are 0 (sklearn's ``zero_division=0``).
    """
    counts = confusion_counts(gold, pred, n_classes=len(label_names))
    tp = np.diag(counts).astype(np.float64)
    support = counts.sum(axis=1)
    predicted = counts.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(tp), where=total > 0)
    return [
        ClassScore(name, float(pr * 100), float(rc * 100), float(f * 100), int(s), int(k))
        for name, pr, rc, f, s, k in zip(label_names, precision, recall, f1, support, predicted, strict=True)
    ]


@dataclass(frozen=True)
class SliceScore:
    """The rows sharing one key: how many, how many carry a gold relation, micro-F1 and accuracy (x100)."""

    key: str
    rows: int
    relations: int
    micro_f1: float
    accuracy: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def slice_scores(
    gold: npt.ArrayLike, pred: npt.ArrayLike, keys: Sequence[str] | np.ndarray, *, no_relation: int = 0
) -> list[SliceScore]:
    """Micro-F1 (``no_relation`` left out) and accuracy of each group of rows with the same key.

    Groups are listed by size, largest first (ties by key). The micro-F1 of a group is that of
    :func:`core.train.metrics.micro_f1` on its rows (0 when it has neither a gold nor a predicted
    relation), computed for all groups at once from per-row counts.
    """
    g = np.asarray(gold).astype(np.int64, copy=False)
    p = np.asarray(pred).astype(np.int64, copy=False)
    k = np.asarray(keys, dtype=object)
    if not (g.shape == p.shape == k.shape) or g.ndim != 1:
        raise ValueError(f"gold, pred and keys must be 1-D of one length; got {g.shape}, {p.shape}, {k.shape}.")
    names, code = np.unique(k.astype(str), return_inverse=True)
    m = names.size

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(code, weights=mask.astype(np.float64), minlength=m)

    rows = np.bincount(code, minlength=m)
    tp = count((g == p) & (g != no_relation))
    n_gold = count(g != no_relation)
    denom = n_gold + count(p != no_relation)
    f1 = np.divide(2.0 * tp, denom, out=np.zeros(m), where=denom > 0) * 100.0
    accuracy = count(g == p) / np.maximum(rows, 1) * 100.0
    ranked = np.lexsort((names, -rows))
    return [SliceScore(str(names[i]), int(rows[i]), int(n_gold[i]), float(f1[i]), float(accuracy[i])) for i in ranked]


def length_buckets(lengths: npt.ArrayLike, *, edges: Sequence[int] = DEFAULT_LENGTH_EDGES) -> np.ndarray:
    """A bucket name per sentence length: ``"<50"``, ``"50-99"``, ..., ``">=200"`` for the default edges."""
    cuts = [int(e) for e in edges]
    if cuts != sorted(set(cuts)) or not cuts or cuts[0] < 1:
        raise ValueError(f"edges must be increasing positive integers; got {list(edges)!r}.")
    names = [f"<{cuts[0]}"] + [f"{lo}-{hi - 1}" for lo, hi in itertools.pairwise(cuts)] + [f">={cuts[-1]}"]
    where = np.searchsorted(np.asarray(cuts), np.asarray(lengths), side="right")
    return np.asarray(names, dtype=object)[where]


@dataclass(frozen=True)
class DirectionErrors:
    """Rows predicted as the inverse of their gold relation.

    ``pairs`` lists ``(gold, predicted, count)`` for every inverse pair that occurs; ``rows`` the row
    indices (into the rows scored), in row order.
    """

    count: int
    pairs: tuple[tuple[str, str, int], ...]
    rows: np.ndarray

    def to_dict(self, ids: Sequence[str] | None = None) -> dict[str, Any]:
        """``count``, ``pairs`` (``gold``, ``pred``, ``count``) and ``rows`` (row ids when given, else indices)."""
        rows = [ids[i] for i in self.rows.tolist()] if ids is not None else self.rows.tolist()
        return {
            "count": self.count,
            "pairs": [{"gold": g, "pred": p, "count": c} for g, p, c in self.pairs],
            "rows": rows,
        }


def inverse_classes(label_names: Sequence[str]) -> np.ndarray:
    """For each class index, the index of its inverse relation, or -1 (no inverse, or not in the label set)."""
    index = {name: i for i, name in enumerate(label_names)}
    return np.array([index.get(INVERSE_RELATIONS.get(name, ""), -1) for name in label_names], dtype=np.int64)


def direction_errors(gold: npt.ArrayLike, pred: npt.ArrayLike, *, label_names: Sequence[str]) -> DirectionErrors:
    """Rows whose prediction is the inverse relation of their gold label (:data:`INVERSE_RELATIONS`)."""
    g = np.asarray(gold).astype(np.int64, copy=False)
    p = np.asarray(pred).astype(np.int64, copy=False)
    if g.shape != p.shape or g.ndim != 1:
        raise ValueError(f"gold and pred must be 1-D of one length; got {g.shape} and {p.shape}.")
    inverse = inverse_classes(label_names)
    hit = (inverse[g] >= 0) & (p == inverse[g])
    rows = np.flatnonzero(hit)
    pairs = []
    if rows.size:
        found, counts = np.unique(g[rows], return_counts=True)
        for c, k in zip(found.tolist(), counts.tolist(), strict=True):
            pairs.append((label_names[c], label_names[int(inverse[c])], int(k)))
    return DirectionErrors(count=int(rows.size), pairs=tuple(pairs), rows=rows)


__all__ = [
    "DEFAULT_LENGTH_EDGES",
    "ClassScore",
    "DirectionErrors",
    "SliceScore",
    "direction_errors",
    "inverse_classes",
    "length_buckets",
    "per_class",
    "slice_scores",
]
