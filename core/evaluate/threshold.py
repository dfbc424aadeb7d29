"""A ``no_relation`` threshold: predict a relation only when the model is sure enough of it.

The rule: take the most probable relation (``no_relation`` aside) of a row; predict it when its score
reaches ``t``, else predict ``no_relation``. The score is either that relation's probability
(``mode="probability"``) or its margin over ``no_relation``'s probability (``mode="margin"``; ``t = 0``
is then the plain argmax up to ties). KLUE's micro-F1 ignores ``no_relation``, so trading a few
relations for fewer false ones can pay.

Choosing ``t`` on the rows that then score it overstates the gain, so :func:`threshold_study` does it
honestly: for several seeded splits of the rows in two halves it chooses ``t`` on one half
(:func:`choose_threshold`) and reports the gain over the argmax on the other, with the mean and spread of
that held-out gain, next to the curve of micro-F1 against ``t`` and the ``t`` chosen on all rows
(to export with :func:`apply_threshold`).

Every micro-F1 here is exact for its threshold and comes from one sort: rows sorted by score, running
counts of predicted and correctly predicted relations give micro-F1 at every possible threshold at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from core.train.metrics import micro_f1

MODES: tuple[str, ...] = ("probability", "margin")
#: Seeds of the half splits unless asked otherwise.
DEFAULT_SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)
#: Points of the micro-F1 curve.
CURVE_POINTS = 101


def _check(probs: npt.ArrayLike, mode: str, no_relation: int) -> np.ndarray:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}.")
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probs must have shape (n, n_classes >= 2); got {p.shape}.")
    if not 0 <= no_relation < p.shape[1]:
        raise ValueError(f"no_relation index {no_relation} is outside 0..{p.shape[1] - 1}.")
    return p


def relation_scores(
    probs: npt.ArrayLike, *, mode: str = "probability", no_relation: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The best relation of each row (class index, never ``no_relation``) and the score the rule compares to ``t``."""
    p = _check(probs, mode, no_relation)
    masked = p.copy()
    masked[:, no_relation] = -np.inf
    best = masked.argmax(axis=1)
    score = p[np.arange(p.shape[0]), best]
    if mode == "margin":
        score = score - p[:, no_relation]
    return best, score


def apply_threshold(
    probs: npt.ArrayLike, *, threshold: float, mode: str = "probability", no_relation: int = 0
) -> np.ndarray:
    """Predictions under the rule: the best relation where its score is ``>= threshold``, else ``no_relation``.

    Works on any probability matrix (one run, an ensemble, after :func:`core.evaluate.restriction.restrict`),
    e.g. to export the thresholded predictions of the test rows.
    """
    best, score = relation_scores(probs, mode=mode, no_relation=no_relation)
    return np.where(score >= threshold, best, no_relation)


@dataclass(frozen=True)
class _Sweep:
    """Rows sorted by score, descending, with running counts: micro-F1 at any threshold by a search."""

    scores: np.ndarray  # descending
    tp: np.ndarray  # tp[k]: correct relations among the first k rows (k = 0..n)
    n_gold: int

    @classmethod
    def build(cls, gold: np.ndarray, best: np.ndarray, score: np.ndarray, no_relation: int) -> _Sweep:
        order = np.argsort(-score, kind="stable")
        correct = (best[order] == gold[order]).astype(np.int64)  # best is never no_relation
        tp = np.zeros(order.size + 1, dtype=np.int64)
        np.cumsum(correct, out=tp[1:])
        return cls(score[order], tp, int(np.count_nonzero(gold != no_relation)))

    def f1_with(self, k: np.ndarray) -> np.ndarray:
        """Micro-F1 (x100) when the ``k`` highest-scoring rows are predicted as relations."""
        denom = (self.n_gold + k).astype(np.float64)
        return np.divide(2.0 * self.tp[k], denom, out=np.zeros(denom.shape), where=denom > 0) * 100.0

    def f1_at(self, thresholds: npt.ArrayLike) -> np.ndarray:
        t = np.asarray(thresholds, dtype=np.float64)
        # rows with score >= t: the count of descending scores not below t
        k = np.searchsorted(-self.scores, -t, side="right")
        return self.f1_with(k)

    def best(self) -> tuple[float, float]:
        """The threshold with the highest micro-F1 (ties: the higher threshold) and that micro-F1.

        Candidates are "no relation at all" and each distinct score; the threshold returned lies halfway
        between the lowest score kept and the next lower score, so that it separates the same rows while
        leaving room on both sides.
        """
        s = self.scores
        n = s.size
        # k rows predicted: only k where the next row scores lower is a threshold (ties go together)
        ends = np.flatnonzero(np.append(s[1:] < s[:-1], True)) + 1 if n else np.zeros(0, dtype=np.int64)
        ks = np.concatenate([[0], ends])
        f1 = self.f1_with(ks)
        i = int(np.argmax(f1))  # first maximum: the fewest relations, the highest threshold
        k = int(ks[i])
        if k == 0:
            return (float(s[0]) + 1.0 if n else 1.0), float(f1[i])
        lower = float(s[k]) if k < n else float(s[k - 1]) - 1.0
        return (float(s[k - 1]) + lower) / 2.0, float(f1[i])


def choose_threshold(
    gold: npt.ArrayLike, probs: npt.ArrayLike, *, mode: str = "probability", no_relation: int = 0
) -> tuple[float, float]:
    """The threshold that maximises micro-F1 on these rows, and that micro-F1 (x100).

    Exact over every possible threshold (see :meth:`_Sweep.best`); uses only ``gold`` and ``probs`` of
    the rows given, so choosing on one half cannot see the other.
    """
    g = np.asarray(gold).astype(np.int64, copy=False)
    best, score = relation_scores(probs, mode=mode, no_relation=no_relation)
    if g.shape != score.shape:
        raise ValueError(f"gold must have shape {score.shape}; got {g.shape}.")
    return _Sweep.build(g, best, score, no_relation).best()


def threshold_curve(
    gold: npt.ArrayLike,
    probs: npt.ArrayLike,
    *,
    thresholds: npt.ArrayLike | None = None,
    mode: str = "probability",
    no_relation: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Micro-F1 (x100) against the threshold: ``(thresholds, micro_f1)``.

    Default thresholds: :data:`CURVE_POINTS` evenly spaced over 0..1 (probability) or -1..1 (margin).
    """
    g = np.asarray(gold).astype(np.int64, copy=False)
    best, score = relation_scores(probs, mode=mode, no_relation=no_relation)
    if thresholds is None:
        thresholds = np.linspace(0.0 if mode == "probability" else -1.0, 1.0, CURVE_POINTS)
    t = np.asarray(thresholds, dtype=np.float64)
    return t, _Sweep.build(g, best, score, no_relation).f1_at(t)


@dataclass(frozen=True)
class ThresholdSplit:
    """One seeded half split: the threshold chosen on the selection half, and micro-F1 (x100) of the argmax
    (``*_baseline``) and of the threshold rule (``*_tuned``) on both halves."""

    seed: int
    threshold: float
    selection_baseline: float
    selection_tuned: float
    heldout_baseline: float
    heldout_tuned: float

    @property
    def selection_gain(self) -> float:
        return self.selection_tuned - self.selection_baseline

    @property
    def heldout_gain(self) -> float:
        return self.heldout_tuned - self.heldout_baseline

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "selection_gain": self.selection_gain, "heldout_gain": self.heldout_gain}


@dataclass(frozen=True)
class ThresholdStudy:
    """:func:`threshold_study`'s result: the honest gain, the threshold for all rows, and the curve."""

    mode: str
    threshold: float
    micro_f1: float
    baseline_micro_f1: float
    splits: tuple[ThresholdSplit, ...]
    curve_thresholds: np.ndarray
    curve_micro_f1: np.ndarray

    @property
    def heldout_gains(self) -> np.ndarray:
        return np.array([s.heldout_gain for s in self.splits])

    def to_dict(self) -> dict[str, Any]:
        gains = self.heldout_gains
        return {
            "mode": self.mode,
            "threshold": self.threshold,
            "micro_f1": self.micro_f1,
            "baseline_micro_f1": self.baseline_micro_f1,
            "heldout_gain_mean": float(gains.mean()) if gains.size else None,
            "heldout_gain_std": float(gains.std(ddof=1)) if gains.size > 1 else 0.0,
            "heldout_gain_positive_share": float((gains > 0).mean()) if gains.size else None,
            "splits": [s.to_dict() for s in self.splits],
            "curve": {"thresholds": self.curve_thresholds.tolist(), "micro_f1": self.curve_micro_f1.tolist()},
        }


def threshold_study(
    gold: npt.ArrayLike,
    probs: npt.ArrayLike,
    *,
    mode: str = "probability",
    no_relation: int = 0,
    seeds: Sequence[int] = DEFAULT_SEEDS,
) -> ThresholdStudy:
    """Choose ``t`` on one half, measure the gain over the argmax on the other, for several seeded splits.

    Returns
    -------
    ThresholdStudy
        ``threshold`` and ``micro_f1``: chosen on all rows (what to export; optimistic as a score);
        ``baseline_micro_f1``: the argmax on all rows; ``splits``: per seed, the threshold chosen on the
        selection half and micro-F1 of the argmax and of the rule on both halves, whose held-out gains'
        mean, spread (ddof=1) and positive share ``to_dict`` reports; the curve over all rows.
    """
    g = np.asarray(gold).astype(np.int64, copy=False)
    p = _check(probs, mode, no_relation)
    if g.shape != (p.shape[0],):
        raise ValueError(f"gold must have shape ({p.shape[0]},); got {g.shape}.")
    n = g.size
    if n < 4:
        raise ValueError(f"{n} rows are too few to split in a selection half and a held-out half.")
    best, score = relation_scores(p, mode=mode, no_relation=no_relation)
    argmax = p.argmax(axis=1)
    splits = []
    for seed in seeds:
        perm = np.random.default_rng(seed).permutation(n)
        pick, held = np.sort(perm[: n // 2]), np.sort(perm[n // 2 :])
        t, tuned = _Sweep.build(g[pick], best[pick], score[pick], no_relation).best()
        held_pred = np.where(score[held] >= t, best[held], no_relation)
        splits.append(
            ThresholdSplit(
                seed=int(seed),
                threshold=t,
                selection_baseline=micro_f1(g[pick], argmax[pick], no_relation=no_relation),
                selection_tuned=tuned,
                heldout_baseline=micro_f1(g[held], argmax[held], no_relation=no_relation),
                heldout_tuned=micro_f1(g[held], held_pred, no_relation=no_relation),
            )
        )
    sweep = _Sweep.build(g, best, score, no_relation)
    t_all, f1_all = sweep.best()
    grid = np.linspace(0.0 if mode == "probability" else -1.0, 1.0, CURVE_POINTS)
    return ThresholdStudy(
        mode=mode,
        threshold=t_all,
        micro_f1=f1_all,
        baseline_micro_f1=micro_f1(g, argmax, no_relation=no_relation),
        splits=tuple(splits),
        curve_thresholds=grid,
        curve_micro_f1=sweep.f1_at(grid),
    )


__all__ = [
    "CURVE_POINTS",
    "DEFAULT_SEEDS",
    "MODES",
    "ThresholdSplit",
    "ThresholdStudy",
    "apply_threshold",
    "choose_threshold",
    "relation_scores",
    "threshold_curve",
    "threshold_study",
]
