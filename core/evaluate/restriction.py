"""Entity-type restriction at decoding time: no relation a type pair never had in training.

The training rows define, per (subject type, object type) pair, the relations seen with it
(:func:`allowed_relations`, from :mod:`core.train.restriction`, which training with ``restrict_types``
uses too). :func:`restrict` sets every other relation's probability to 0 for a row with
that pair and renormalises the row; ``no_relation`` is always allowed, and a row whose pair never occurs
in training is left as it is (nothing is known about it). It works on any probability matrix, one run's
or an ensemble's. A row whose whole probability was on relations its pair never had becomes
``no_relation`` with probability 1.

Renormalising keeps the order of the allowed classes, so a prediction changes exactly when the row's
argmax was a forbidden relation; :attr:`Restriction.suppressed` lists those rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from core.common.schema import NO_RELATION
from core.evaluate.scores import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    Headline,
    PairedDifference,
    auprc_resampled,
    bootstrap_counts,
    micro_f1_resampled,
    paired_difference,
)
from core.train.metrics import auprc, micro_f1
from core.train.restriction import AllowedRelations, allowed_relations


@dataclass(frozen=True)
class Suppressed:
    """One row whose prediction the restriction changed: its relation was never seen with its pair."""

    row: int
    pair: tuple[str, str]
    before: str
    after: str
    removed: float

    def to_dict(self, ids: Sequence[str] | None = None) -> dict[str, Any]:
        return {
            "id": ids[self.row] if ids is not None else self.row,
            "pair": f"{self.pair[0]}-{self.pair[1]}",
            "before": self.before,
            "after": self.after,
            "removed": self.removed,
        }


@dataclass(frozen=True)
class Restriction:
    """:func:`restrict`'s result.

    Attributes
    ----------
    probs : numpy.ndarray, shape (n, c)
        The restricted, renormalised probabilities.
    removed : numpy.ndarray, shape (n,)
        Probability mass taken from each row (0 for untouched rows).
    unseen : numpy.ndarray of bool, shape (n,)
        Rows whose pair never occurs in training (left unrestricted).
    suppressed : tuple of Suppressed
        Every row whose argmax changed, in row order.
    """

    probs: np.ndarray
    removed: np.ndarray
    unseen: np.ndarray
    suppressed: tuple[Suppressed, ...]

    @property
    def changed(self) -> int:
        return len(self.suppressed)


def restrict(
    probs: npt.ArrayLike,
    subj_types: Sequence[str] | np.ndarray,
    obj_types: Sequence[str] | np.ndarray,
    allowed: AllowedRelations,
) -> Restriction:
    """Zero the relations a row's type pair never had in training, and renormalise the row.

    Parameters
    ----------
    probs : array of float, shape (n, len(allowed.label_names))
        Any probability matrix, in ``allowed.label_names`` order.
    subj_types, obj_types : sequence of str, shape (n,)
        Each row's entity types.
    allowed : AllowedRelations
        From :func:`allowed_relations` over the training rows.
    """
    p = np.asarray(probs, dtype=np.float64)
    names = allowed.label_names
    s = np.asarray(subj_types, dtype=object).astype(str)
    o = np.asarray(obj_types, dtype=object).astype(str)
    if p.ndim != 2 or p.shape[1] != len(names) or s.shape != (p.shape[0],) or o.shape != s.shape:
        raise ValueError(
            f"probs must be (n, {len(names)}) with one subject and object type per row; "
            f"got {p.shape}, {s.shape}, {o.shape}."
        )
    where = {pair: i for i, pair in enumerate(allowed.pairs)}
    pair_index = np.array([where.get(pair, -1) for pair in zip(s.tolist(), o.tolist(), strict=True)], dtype=np.int64)
    unseen = pair_index < 0
    # Unseen pairs get an all-True row: nothing is removed from them.
    mask = np.vstack([allowed.mask, np.ones((1, len(names)), dtype=bool)])[pair_index]
    kept = np.where(mask, p, 0.0)
    removed = p.sum(axis=1) - kept.sum(axis=1)
    # Only rows that lose probability change; the others (unseen pairs included) stay bit for bit.
    touched = np.flatnonzero((~mask & (p > 0)).any(axis=1))
    removed[np.setdiff1d(np.arange(p.shape[0]), touched)] = 0.0
    out = p.copy()
    total = kept[touched].sum(axis=1, keepdims=True)
    out[touched] = np.divide(kept[touched], total, out=np.zeros((touched.size, p.shape[1])), where=total > 0)
    empty = touched[total[:, 0] <= 0]
    if empty.size:
        nr = names.index(NO_RELATION) if NO_RELATION in names else 0
        out[empty, nr] = 1.0
    before = p.argmax(axis=1)
    after = out.argmax(axis=1)
    changed = np.flatnonzero(before != after)
    suppressed = tuple(
        Suppressed(
            row=int(i),
            pair=(str(s[i]), str(o[i])),
            before=names[int(before[i])],
            after=names[int(after[i])],
            removed=float(removed[i]),
        )
        for i in changed.tolist()
    )
    return Restriction(probs=out, removed=removed, unseen=unseen, suppressed=suppressed)


@dataclass(frozen=True)
class RestrictionEffect:
    """What the restriction does to one probability matrix: changed predictions and both metrics.

    ``micro_f1`` and ``auprc`` are :class:`~core.evaluate.scores.PairedDifference` (before = unrestricted,
    after = restricted, paired bootstrap interval of the change); ``unseen_rows`` counts rows whose pair
    never occurs in training.
    """

    restriction: Restriction
    micro_f1: PairedDifference
    auprc: PairedDifference
    unseen_rows: int

    @property
    def changed(self) -> int:
        return self.restriction.changed

    def to_dict(self, ids: Sequence[str] | None = None) -> dict[str, Any]:
        """``changed``, ``micro_f1`` / ``auprc`` (restricted), their ``*_before``, ``*_delta``, ``*_delta_ci``
        and ``*_p_value``, ``unseen_rows`` and ``suppressed`` (every changed prediction)."""
        out: dict[str, Any] = {"changed": self.changed}
        for name, diff in (("micro_f1", self.micro_f1), ("auprc", self.auprc)):
            out[name] = diff.after
            out[f"{name}_before"] = diff.before
            out[f"{name}_delta"] = diff.delta
            out[f"{name}_delta_ci"] = [diff.ci.low, diff.ci.high]
            out[f"{name}_p_value"] = diff.p_value
        out["unseen_rows"] = self.unseen_rows
        out["suppressed"] = [item.to_dict(ids) for item in self.restriction.suppressed]
        return out


def restriction_effect(
    gold: npt.ArrayLike,
    probs: npt.ArrayLike,
    subj_types: Sequence[str] | np.ndarray,
    obj_types: Sequence[str] | np.ndarray,
    allowed: AllowedRelations,
    *,
    no_relation: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
    before: Headline | None = None,
) -> RestrictionEffect:
    """:func:`restrict` ``probs`` and measure the change in micro-F1 and AUPRC (x100) on ``gold``.

    Both sides are scored on the same bootstrap resamples (:func:`~core.evaluate.scores.bootstrap_counts`
    with ``seed``), so the interval is that of the paired change. ``before``: the unrestricted matrix's
    :func:`~core.evaluate.scores.headline` with the same ``resamples`` and ``seed``, to reuse its resampled
    values instead of scoring them again.
    """
    g = np.asarray(gold).astype(np.int64, copy=False)
    p = np.asarray(probs, dtype=np.float64)
    result = restrict(p, subj_types, obj_types, allowed)
    counts = bootstrap_counts(g.size, resamples=resamples, seed=seed)
    before_pred, after_pred = p.argmax(axis=1), result.probs.argmax(axis=1)
    if before is not None and (before.n, before.resamples, before.seed) != (g.size, resamples, seed):
        raise ValueError("before was scored on other resamples (rows, resamples or seed differ).")
    reuse = before is not None and {"micro_f1", "auprc"} <= set(before.values)
    f1 = paired_difference(
        micro_f1(g, before_pred, no_relation=no_relation),
        micro_f1(g, after_pred, no_relation=no_relation),
        before.values["micro_f1"] if reuse else micro_f1_resampled(g, before_pred, counts, no_relation=no_relation),
        micro_f1_resampled(g, after_pred, counts, no_relation=no_relation),
        level=level,
    )
    area = paired_difference(
        auprc(g, p),
        auprc(g, result.probs),
        before.values["auprc"] if reuse else auprc_resampled(g, p, counts),
        auprc_resampled(g, result.probs, counts),
        level=level,
    )
    return RestrictionEffect(result, f1, area, int(result.unseen.sum()))


__all__ = [
    "AllowedRelations",
    "Restriction",
    "RestrictionEffect",
    "Suppressed",
    "allowed_relations",
    "restrict",
    "restriction_effect",
]
