"""Ensemble diagnostics: members alone, how they differ, per-class gains, and the honesty report.

This module owns what the Ensemble view shows next to the leaderboard to judge a chosen ensemble:
each member's own scores (:func:`single_scores`), pairwise disagreement and error correlation
(:func:`diversity`), per-class F1 against the best member (:func:`per_class_comparison`), and the
honesty report (:func:`honest_gain`). Picking the best of thousands of combinations on the same rows
that score it overstates the gain. For several seeded splits of the dev ids in two halves, the procedure
selects on one half (both the best single member and the ensemble) and both are scored on the other half;
the report gives the mean and spread of the held-out gain next to the in-sample one. It is separate from
:mod:`core.analysis.ensemble` because it only reads the scoring entry points there, never the reverse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.analysis.ensemble import (
    GREEDY_STEPS,
    METRICS,
    ProgressFn,
    ensemble_probs,
    greedy_select,
    score,
    score_subsets,
)
from core.analysis.ensemble_members import MemberSet
from core.common.schema import DataError
from core.train.metrics import per_class_f1


def diversity(members: MemberSet) -> dict[str, pd.DataFrame]:
    """Pairwise disagreement rate and error correlation of the members.

    Returns
    -------
    dict
        ``disagreement``: share of rows where the two members' argmax differ (0..1);
        ``error_correlation``: Pearson correlation of the two members' error indicators (argmax !=
        gold), NaN where a member is always right or always wrong. Both m x m frames by member name.
    """
    preds = members.probs.argmax(axis=2)
    disagreement = (preds[:, None, :] != preds[None, :, :]).mean(axis=2)
    errors = (preds != members.labels[None]).astype(np.float64)
    centered = errors - errors.mean(axis=1, keepdims=True)
    norms = np.sqrt((centered**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (centered @ centered.T) / np.outer(norms, norms)
    corr[~np.isfinite(corr)] = np.nan
    names = list(members.names)
    return {
        "disagreement": pd.DataFrame(disagreement, index=names, columns=names),
        "error_correlation": pd.DataFrame(corr, index=names, columns=names),
    }


def single_scores(members: MemberSet) -> pd.DataFrame:
    """micro-F1 and AUPRC of each member alone."""
    f1, area = score(members, members.probs.argmax(axis=2), members.probs)
    return pd.DataFrame({"member": list(members.names), "micro_f1": f1, "auprc": area})


def per_class_comparison(
    members: MemberSet, *, method: str, weights: Sequence[float], metric: str = "micro_f1"
) -> pd.DataFrame:
    """Per-class F1 (x100) of an ensemble against its best member (by ``metric``) on the same rows.

    Returns
    -------
    pandas.DataFrame
        ``label``, ``support`` (gold rows), ``ensemble``, ``best_member``, ``delta``; the best member's
        name is in ``.attrs["best_member"]``.
    """
    chosen = [i for i, w in enumerate(weights) if w]
    singles = single_scores(members)
    best = max(
        chosen,
        key=lambda i: (singles[metric][i], singles["auprc" if metric == "micro_f1" else "micro_f1"][i]),
    )
    preds, _ = ensemble_probs(members, method=method, weights=weights)
    names = members.label_names
    ens = per_class_f1(members.labels, preds, label_names=names)
    one = per_class_f1(members.labels, members.probs[best].argmax(axis=1), label_names=names)
    support = np.bincount(members.labels, minlength=len(names))
    table = pd.DataFrame(
        {
            "label": list(names),
            "support": support,
            "ensemble": [ens[x] for x in names],
            "best_member": [one[x] for x in names],
        }
    )
    table["delta"] = table["ensemble"] - table["best_member"]
    table.attrs["best_member"] = members.names[best]
    return table


# --------------------------------------------------------------------------------------------------
# honesty


def _select(members: MemberSet, *, procedure: str, metric: str, steps: int) -> tuple[str, tuple[float, ...], float]:
    """(method, weights, in-sample value) of the ensemble ``procedure`` picks on ``members``' rows."""
    key = metric
    if procedure == "best subset":
        table = score_subsets(members, methods=("soft", "hard"))
        other = "auprc" if metric == "micro_f1" else "micro_f1"
        row = table.sort_values([key, other, "size"], ascending=[False, False, True], kind="stable").iloc[0]
        return str(row["method"]), tuple(row["weights"]), float(row[key])
    if procedure == "greedy":
        result = greedy_select(members, metric=metric, steps=steps)
        value = result.micro_f1 if metric == "micro_f1" else result.auprc
        return "weighted", tuple(float(c) for c in result.counts), value
    raise ValueError(f"unknown procedure {procedure!r}; known: best subset, greedy.")


@dataclass(frozen=True)
class HonestSplit:
    """One seeded half split and one selection procedure of :func:`honest_gain`.

    ``members`` and ``weights`` are the chosen recipe; ``best_single`` the member picked on the selection
    half. Values are ``metric`` on the selection half and on the held-out half; ``*_gain`` is the
    ensemble's value minus the best single member's on that half.
    """

    seed: int
    procedure: str
    method: str
    members: tuple[str, ...]
    weights: tuple[float, ...]
    best_single: str
    selection_ensemble: float
    selection_single: float
    heldout_ensemble: float
    heldout_single: float
    selection_gain: float
    heldout_gain: float

    def to_dict(self) -> dict[str, Any]:
        """The plain dict (``members`` and ``weights`` as lists)."""
        return {**asdict(self), "members": list(self.members), "weights": list(self.weights)}


@dataclass(frozen=True)
class HonestSummary:
    """One procedure's splits together: mean and standard deviation (ddof=1; 0 for one split) of the
    selection-half and held-out gains, and the share of splits whose held-out gain is positive."""

    splits: int
    selection_gain_mean: float
    selection_gain_std: float
    heldout_gain_mean: float
    heldout_gain_std: float
    heldout_gain_positive_share: float

    def to_dict(self) -> dict[str, Any]:
        """The plain dict of the fields."""
        return asdict(self)


@dataclass(frozen=True)
class HonestReport:
    """The honesty report of :func:`honest_gain`: every split, and a summary per procedure."""

    metric: str
    rows_per_half: tuple[int, int]
    splits: tuple[HonestSplit, ...]
    summary: Mapping[str, HonestSummary]

    def to_dict(self) -> dict[str, Any]:
        """The plain dict (``metric``, ``rows_per_half``, ``splits``, ``summary``), for JSON."""
        return {
            "metric": self.metric,
            "rows_per_half": list(self.rows_per_half),
            "splits": [split.to_dict() for split in self.splits],
            "summary": {procedure: row.to_dict() for procedure, row in self.summary.items()},
        }


def honest_gain(
    members: MemberSet,
    *,
    metric: str = "micro_f1",
    procedures: Sequence[str] = ("best subset", "greedy"),
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    steps: int = GREEDY_STEPS,
    progress: ProgressFn | None = None,
) -> HonestReport:
    """Gain of a selected ensemble over the best single member on rows it was not selected on.

    For each seed the dev rows are shuffled and cut in two halves. On the selection half the
    procedure picks an ensemble and the best single member is picked by ``metric``; both are then
    scored on the other (held-out) half. ``gain = ensemble - best single`` per half.

    Parameters
    ----------
    procedures : keyword-only
        ``"best subset"`` (best of every subset, soft and hard; at most
        :data:`~core.analysis.ensemble.MAX_EXHAUSTIVE` members) and/or ``"greedy"``.

    Returns
    -------
    HonestReport
        ``metric``, ``rows_per_half``, ``splits`` (one :class:`HonestSplit` per seed and procedure:
        selection and held-out values of both, the gains, the chosen recipe), and ``summary``: per
        procedure, a :class:`HonestSummary` (mean and standard deviation, ddof=1 or 0 for one split, of
        the in-sample gain and of the held-out gain, and the share of splits whose held-out gain is
        positive).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}.")
    n = len(members.ids)
    if n < 4:
        raise DataError(f"{n} rows are too few to split in a selection half and a held-out half.")
    records: list[HonestSplit] = []
    total = len(seeds) * len(procedures)
    done = 0
    for seed in seeds:
        perm = np.random.default_rng(seed).permutation(n)
        half = n // 2
        pick, held = members.take_rows(np.sort(perm[:half])), members.take_rows(np.sort(perm[half:]))
        single_pick = single_scores(pick)
        single_held = single_scores(held)
        other = "auprc" if metric == "micro_f1" else "micro_f1"
        best = int(np.lexsort((np.arange(members.size), -single_pick[other], -single_pick[metric]))[0])
        for procedure in procedures:
            method, weights, value = _select(pick, procedure=procedure, metric=metric, steps=steps)
            preds, scores = ensemble_probs(held, method=method, weights=weights)
            f1, area = score(held, preds[None], scores[None])
            held_value = float(f1[0] if metric == "micro_f1" else area[0])
            selection_single = float(single_pick[metric][best])
            heldout_single = float(single_held[metric][best])
            records.append(
                HonestSplit(
                    seed=int(seed),
                    procedure=procedure,
                    method=method,
                    members=tuple(members.names[i] for i, w in enumerate(weights) if w),
                    weights=tuple(weights),
                    best_single=members.names[best],
                    selection_ensemble=value,
                    selection_single=selection_single,
                    heldout_ensemble=held_value,
                    heldout_single=heldout_single,
                    selection_gain=value - selection_single,
                    heldout_gain=held_value - heldout_single,
                )
            )
            done += 1
            if progress is not None:
                progress(done, total)
    summary = {}
    for procedure in procedures:
        rows = [r for r in records if r.procedure == procedure]
        sel = np.array([r.selection_gain for r in rows])
        held = np.array([r.heldout_gain for r in rows])
        summary[procedure] = HonestSummary(
            splits=len(rows),
            selection_gain_mean=float(sel.mean()),
            selection_gain_std=float(sel.std(ddof=1)) if len(rows) > 1 else 0.0,
            heldout_gain_mean=float(held.mean()),
            heldout_gain_std=float(held.std(ddof=1)) if len(rows) > 1 else 0.0,
            heldout_gain_positive_share=float((held > 0).mean()),
        )
    return HonestReport(metric=metric, rows_per_half=(n // 2, n - n // 2), splits=tuple(records), summary=summary)


__all__ = [
    "HonestReport",
    "HonestSplit",
    "HonestSummary",
    "diversity",
    "honest_gain",
    "per_class_comparison",
    "single_scores",
]
