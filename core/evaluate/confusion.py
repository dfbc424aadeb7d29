"""The confusion matrix by relation: counts, row-normalised rates, an order, and the rows behind a cell.

Rows are gold labels and columns predicted labels, as in ``sklearn.metrics.confusion_matrix`` (which the
tests compare against); the counts are one ``numpy.bincount`` of ``gold * n_classes + pred``. The order of
the labels is by gold frequency (most frequent first), by confusion (see :func:`confusion_order`) or the
schema order; ``no_relation`` is kept apart, last, whatever the order, because its row and column dwarf
the others and answer a different question (missed and invented relations, not mixed-up relations).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from core.common.schema import NO_RELATION

#: Orders :func:`confusion_matrix` accepts.
ORDERS: tuple[str, ...] = ("frequency", "confusion", "schema")


def cell_rows(gold: npt.ArrayLike, pred: npt.ArrayLike, *, gold_class: int, pred_class: int) -> np.ndarray:
    """Indices (into the rows scored) of the rows with gold ``gold_class`` predicted as ``pred_class``."""
    g, p = np.asarray(gold), np.asarray(pred)
    return np.flatnonzero((g == gold_class) & (p == pred_class))


def confusion_counts(gold: npt.ArrayLike, pred: npt.ArrayLike, *, n_classes: int) -> np.ndarray:
    """Counts (n_classes x n_classes, int64) in class-index order: ``[i, j]`` = gold ``i`` predicted ``j``."""
    g = np.asarray(gold).astype(np.int64, copy=False)
    p = np.asarray(pred).astype(np.int64, copy=False)
    if g.shape != p.shape or g.ndim != 1:
        raise ValueError(f"gold and pred must be 1-D of one length; got {g.shape} and {p.shape}.")
    if g.size and (min(g.min(), p.min()) < 0 or max(g.max(), p.max()) >= n_classes):
        raise ValueError(f"gold and pred must hold class indices 0..{n_classes - 1}.")
    return np.bincount(g * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def confusion_order(counts: np.ndarray) -> list[int]:
    """Class indices ordered so that labels confused with each other sit next to each other.

    Greedy chain: start with the class involved in the most errors (its row plus its column, off the
    diagonal); then repeatedly append the unplaced class most confused with the last placed one (errors
    both ways), falling back to the one with the most errors overall when none is confused with it.
    Ties go to the lower class index, so the order is deterministic.
    """
    off = counts.astype(np.int64).copy()
    np.fill_diagonal(off, 0)
    both = off + off.T
    errors = both.sum(axis=1)
    remaining = list(range(counts.shape[0]))
    order: list[int] = []
    while remaining:
        if order:
            link = both[order[-1], remaining]
            pick = remaining[int(np.argmax(link))] if link.max() > 0 else None
        else:
            pick = None
        if pick is None:
            pick = remaining[int(np.argmax(errors[remaining]))]
        order.append(pick)
        remaining.remove(pick)
    return order


@dataclass(frozen=True)
class Confusion:
    """A confusion matrix in a chosen label order.

    Attributes
    ----------
    labels : tuple of str
        Row and column labels, in display order (``no_relation`` last when it is a label).
    classes : tuple of int
        The class index of each displayed label (into the probabilities' columns).
    matrix : numpy.ndarray of int64, shape (c, c)
        Counts: row = gold label, column = predicted label.
    normalized : numpy.ndarray of float64, shape (c, c)
        Each row divided by its total (the gold label's support); a row without support is all 0.
    order : str
    gold, pred : numpy.ndarray of int64
        The scored class indices (for :meth:`rows`).
    """

    labels: tuple[str, ...]
    classes: tuple[int, ...]
    matrix: np.ndarray
    normalized: np.ndarray
    order: str
    gold: np.ndarray
    pred: np.ndarray

    def rows(self, gold_label: str, pred_label: str) -> np.ndarray:
        """Indices of the rows behind cell (``gold_label``, ``pred_label``)."""
        index = dict(zip(self.labels, self.classes, strict=True))
        for name in (gold_label, pred_label):
            if name not in index:
                raise ValueError(f"{name!r} is not a label of this matrix.")
        return cell_rows(self.gold, self.pred, gold_class=index[gold_label], pred_class=index[pred_label])

    def to_dict(self) -> dict[str, Any]:
        """``labels``, ``matrix`` (gold rows, predicted columns), ``normalized`` and ``order``, for JSON."""
        return {
            "labels": list(self.labels),
            "matrix": self.matrix.tolist(),
            "normalized": self.normalized.tolist(),
            "order": self.order,
        }


def confusion_matrix(
    gold: npt.ArrayLike, pred: npt.ArrayLike, *, label_names: Sequence[str], order: str = "frequency"
) -> Confusion:
    """The confusion matrix of ``pred`` against ``gold`` over every label of ``label_names``.

    Parameters
    ----------
    gold, pred : array of int, shape (n,)
        Class indices into ``label_names``.
    label_names : sequence of str, keyword-only
    order : {"frequency", "confusion", "schema"}, keyword-only
        ``frequency``: by gold support, largest first (ties: schema order); ``confusion``:
        :func:`confusion_order`; ``schema``: the order of ``label_names``. ``no_relation`` goes last in
        every order.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}; got {order!r}.")
    names = tuple(label_names)
    g = np.asarray(gold).astype(np.int64, copy=False)
    p = np.asarray(pred).astype(np.int64, copy=False)
    counts = confusion_counts(g, p, n_classes=len(names))
    if order == "frequency":
        ranked = [int(i) for i in np.lexsort((np.arange(len(names)), -counts.sum(axis=1)))]
    elif order == "confusion":
        ranked = confusion_order(counts)
    else:
        ranked = list(range(len(names)))
    if NO_RELATION in names:
        nr = names.index(NO_RELATION)
        ranked = [i for i in ranked if i != nr] + [nr]
    matrix = counts[np.ix_(ranked, ranked)]
    support = matrix.sum(axis=1, keepdims=True).astype(np.float64)
    normalized = np.divide(matrix, support, out=np.zeros(matrix.shape), where=support > 0)
    return Confusion(
        labels=tuple(names[i] for i in ranked),
        classes=tuple(ranked),
        matrix=matrix,
        normalized=normalized,
        order=order,
        gold=g,
        pred=p,
    )


__all__ = ["ORDERS", "Confusion", "cell_rows", "confusion_counts", "confusion_matrix", "confusion_order"]
