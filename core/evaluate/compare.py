"""Two runs on the same rows: which is better, by how much, and where they disagree.

The micro-F1 difference gets a paired bootstrap interval and p-value: both runs are scored on the same
resamples of the rows (:func:`core.evaluate.scores.bootstrap_counts`), so the row-to-row difficulty they
share cancels and the interval is that of the difference itself (Koehn, "Statistical significance tests
for machine translation evaluation", 2004; Berg-Kirkpatrick, Burkett and Klein, 2012). The verdict is
worded by the interval: a winner only when the interval excludes 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from core.evaluate.scores import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    Headline,
    PairedDifference,
    bootstrap_counts,
    micro_f1_resampled,
    paired_difference,
)
from core.evaluate.slices import per_class
from core.train.metrics import auprc, micro_f1


@dataclass(frozen=True)
class Comparison:
    """Run ``b`` against run ``a`` on the same rows (every delta is ``b - a``, x100).

    Attributes
    ----------
    a, b : str
        The runs' names.
    micro_f1 : PairedDifference
        ``before`` = a, ``after`` = b, with the paired bootstrap interval and p-value of the difference.
    auprc_a, auprc_b : float
    per_class : tuple of (label, f1 of a, f1 of b)
    disagreements : numpy.ndarray
        Row indices where the two argmax predictions differ.
    pred_a, pred_b : numpy.ndarray
        The predictions (class indices), for listing the disagreements.
    verdict : str
    """

    a: str
    b: str
    micro_f1: PairedDifference
    auprc_a: float
    auprc_b: float
    per_class: tuple[tuple[str, float, float], ...]
    disagreements: np.ndarray
    pred_a: np.ndarray
    pred_b: np.ndarray
    verdict: str

    def to_dict(
        self, *, ids: Sequence[str] | None = None, gold: np.ndarray | None = None, label_names: Sequence[str] = ()
    ) -> dict[str, Any]:
        """The plain dict for JSON: ``a``, ``b``, ``micro_f1_a``/``_b``, ``delta``, ``delta_ci``, ``p_value``,
        ``auprc_a``/``_b``/``_delta``, ``per_class_f1_delta`` (label, a, b, delta; largest change first),
        ``disagreements`` (count and rows: id, gold, a, b) and ``verdict``."""
        names = list(label_names)

        def name(c: int) -> str | int:
            return names[c] if names else c

        rows = []
        for i in self.disagreements.tolist():
            row: dict[str, Any] = {"id": ids[i] if ids is not None else i}
            if gold is not None:
                row["gold"] = name(int(gold[i]))
            row["a"] = name(int(self.pred_a[i]))
            row["b"] = name(int(self.pred_b[i]))
            rows.append(row)
        deltas = sorted(self.per_class, key=lambda t: (-abs(t[2] - t[1]), t[0]))
        return {
            "a": self.a,
            "b": self.b,
            "micro_f1_a": self.micro_f1.before,
            "micro_f1_b": self.micro_f1.after,
            "delta": self.micro_f1.delta,
            "delta_ci": [self.micro_f1.ci.low, self.micro_f1.ci.high],
            "p_value": self.micro_f1.p_value,
            "auprc_a": self.auprc_a,
            "auprc_b": self.auprc_b,
            "auprc_delta": self.auprc_b - self.auprc_a,
            "per_class_f1_delta": [{"label": lab, "a": fa, "b": fb, "delta": fb - fa} for lab, fa, fb in deltas],
            "disagreements": {"count": int(self.disagreements.size), "rows": rows},
            "verdict": self.verdict,
        }


def verdict(a: str, b: str, diff: PairedDifference, *, metric: str = "micro-F1") -> str:
    """One sentence worded by the interval: ``"B is better: +x (95% CI a..b)"`` or ``"no clear difference"``."""
    ci = diff.ci
    where = f"{metric} {diff.delta:+.2f} (b - a), {ci.level:.0%} CI {ci.low:+.2f}..{ci.high:+.2f}"
    if ci.low > 0:
        return f"{b} is better: {metric} {diff.delta:+.2f} ({ci.level:.0%} CI {ci.low:+.2f}..{ci.high:+.2f})"
    if ci.high < 0:
        return f"{a} is better: {metric} {-diff.delta:+.2f} ({ci.level:.0%} CI {-ci.high:+.2f}..{-ci.low:+.2f})"
    return f"no clear difference between {a} and {b}: {where} includes 0"


def compare_runs(
    gold: npt.ArrayLike,
    probs_a: npt.ArrayLike,
    probs_b: npt.ArrayLike,
    *,
    names: tuple[str, str] = ("A", "B"),
    label_names: Sequence[str],
    no_relation: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
    headlines: tuple[Headline, Headline] | None = None,
) -> Comparison:
    """Compare two probability matrices on the same rows (argmax predictions).

    ``headlines``: the two runs' :func:`~core.evaluate.scores.headline` with the same ``resamples`` and
    ``seed``, to reuse their resampled micro-F1 instead of scoring it again.
    """
    g = np.asarray(gold).astype(np.int64, copy=False)
    pa_, pb_ = np.asarray(probs_a, dtype=np.float64), np.asarray(probs_b, dtype=np.float64)
    if pa_.shape != pb_.shape or pa_.ndim != 2 or pa_.shape[0] != g.size:
        raise ValueError(
            f"both probability matrices must have shape ({g.size}, n_classes); got {pa_.shape}, {pb_.shape}."
        )
    pred_a, pred_b = pa_.argmax(axis=1), pb_.argmax(axis=1)
    if headlines is not None and all(
        (h.n, h.resamples, h.seed) == (g.size, resamples, seed) and "micro_f1" in h.values for h in headlines
    ):
        ra, rb = headlines[0].values["micro_f1"], headlines[1].values["micro_f1"]
    else:
        counts = bootstrap_counts(g.size, resamples=resamples, seed=seed)
        ra = micro_f1_resampled(g, pred_a, counts, no_relation=no_relation)
        rb = micro_f1_resampled(g, pred_b, counts, no_relation=no_relation)
    diff = paired_difference(
        micro_f1(g, pred_a, no_relation=no_relation), micro_f1(g, pred_b, no_relation=no_relation), ra, rb, level=level
    )
    classes_a = per_class(g, pred_a, label_names=label_names)
    classes_b = per_class(g, pred_b, label_names=label_names)
    return Comparison(
        a=names[0],
        b=names[1],
        micro_f1=diff,
        auprc_a=headlines[0].auprc if headlines is not None else auprc(g, pa_),
        auprc_b=headlines[1].auprc if headlines is not None else auprc(g, pb_),
        per_class=tuple((x.label, x.f1, y.f1) for x, y in zip(classes_a, classes_b, strict=True)),
        disagreements=np.flatnonzero(pred_a != pred_b),
        pred_a=pred_a,
        pred_b=pred_b,
        verdict=verdict(names[0], names[1], diff),
    )


__all__ = ["Comparison", "compare_runs", "verdict"]
