"""Ensembles of relation classifiers: every combination scored, honest selection, export.

This module is the feature's entrypoint: combining members, scoring every subset, greedy selection,
the leaderboard and the ``python -m core ensemble`` command. Its siblings own the rest:
:mod:`core.analysis.ensemble_members` (the members, :class:`~core.analysis.ensemble_members.MemberSet`,
read from finished runs or uploaded prediction files and checked against the gold ids),
:mod:`core.analysis.ensemble_diagnostics` (single scores, diversity, per-class comparison and the
honesty report), :mod:`core.analysis.ensemble_export` (the recipe and the test submission) and
:mod:`core.analysis.ensemble_uploads` (the Ensemble view's per-session upload folders and their sweep).

Methods
-------
``soft``
    Mean of the members' probabilities.
``weighted``
    Weighted mean ``sum_i w_i p_i / sum_i w_i``; greedy selection (below) produces integer weights.
``hard``
    Majority vote of the members' argmax predictions; a tie between classes goes to the tied class
    with the largest summed probability (then to the lower class index). Its scores, the ones AUPRC
    ranks and the exported ``probs``, are the *vote share with tie-break*
    ``(votes_c + mean_prob_c) / (k + 1)`` for ``k`` members: a probability vector (it sums to 1) whose
    ranking follows the votes first (a whole vote outweighs any mean probability, which is at most 1)
    and the mean probability within equal votes, so rows that all members agree on rank above split
    decisions. Its argmax is the vote winner; the prediction itself is computed from the votes
    directly so that rounding can never flip it.

Every combination is computed in one canonical floating-point order, members added one at a time
in member order and divided at the end, so the soft ensemble of a subset is bitwise equal to
``numpy.mean(probs[subset], axis=0)`` (numpy reduces a leading axis in that order), and a recipe
scored in the leaderboard, re-scored alone, or applied to the test predictions gives the same numbers.

Scoring every subset (:func:`score_subsets`)
--------------------------------------------
Up to :data:`MAX_EXHAUSTIVE` members (4,095 non-empty subsets). Subsets are visited depth first, so each
subset's sum is its parent's sum plus one member (one addition per subset instead of ``k``), and scored
in chunks through :func:`core.train.metrics.micro_f1_many` / :func:`core.train.metrics.auprc_many`, the batched
paths proven equal to the sklearn recipe. ``bench/ensemble.py`` measures it against the plain loop.

Greedy ensemble selection (:func:`greedy_select`)
-------------------------------------------------
Caruana, Niculescu-Mizil, Crew and Ksikes, "Ensemble selection from libraries of models" (ICML 2004):
selection *with replacement* (a member may be added again, which is how weights arise), a *sorted
start* (the path begins with the best single member, then adds the next best ones up to
``init_size``), then ``steps`` greedy additions, each the member that most improves the metric;
the best point on the whole path is returned (ties go to the earlier, smaller ensemble). Because the
path starts at the best single member, the result is never worse than it on the rows it selected on.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.analysis.ensemble_members import MemberSet, members_from_files
from core.common.schema import SCHEMAS, DataError
from core.train.metrics import auprc_many, micro_f1_many

#: Most members scored exhaustively (2**12 - 1 = 4,095 subsets).
MAX_EXHAUSTIVE = 12
METHODS: tuple[str, ...] = ("soft", "weighted", "hard")
METRICS: tuple[str, ...] = ("micro_f1", "auprc")
#: Greedy additions after the sorted start (Caruana et al. use a few dozen; 25 is where the demo's
#: curves flatten).
GREEDY_STEPS = 25
#: Members in the sorted start of greedy selection.
GREEDY_INIT = 3
#: Probability sets scored per call of the batched metrics (8 MB of float64 for 7,765 x 30 each would
#: be 1.9 MB; 32 keeps memory near 60 MB whatever the number of subsets).
_CHUNK_SETS = 32
ProgressFn = Callable[[int, int], None]


# --------------------------------------------------------------------------------------------------
# combining


def combine_many(probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted means of the members for many weight vectors at once.

    Parameters
    ----------
    probs : array, shape (m, n, c)
    weights : array, shape (k, m)
        Non-negative, each row with a positive sum.

    Returns
    -------
    numpy.ndarray, shape (k, n, c)
        ``sum_i w_i p_i / sum_i w_i``, summed member by member in member order (the canonical order:
        with 0/1 weights it is bitwise ``numpy.mean`` over the chosen members).
    """
    w = np.asarray(weights, dtype=np.float64)
    acc: np.ndarray | None = None
    for i in range(probs.shape[0]):
        used = w[:, i] != 0
        if not used.any():
            continue
        # w == 1 multiplies exactly, and 0 + x == x, so skipping zero weights changes no bit
        term = np.where(used[:, None, None], w[:, i, None, None] * probs[i][None], 0.0)
        acc = term if acc is None else acc + term
    if acc is None:
        raise ValueError("every weight is 0: an ensemble needs at least one member.")
    return acc / w.sum(axis=1)[:, None, None]


def hard_vote(probs: np.ndarray, *, tiebreak_sum: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Majority vote of members' argmax predictions; ties go to the largest summed probability.

    Parameters
    ----------
    probs : array, shape (k, n, c)
        The voting members.
    tiebreak_sum : array, shape (n, c), optional
        ``probs.sum(axis=0)`` when the caller has it (in the canonical order).

    Returns
    -------
    preds : numpy.ndarray of int64, shape (n,)
    scores : numpy.ndarray of float64, shape (n, c)
        ``(votes + mean_prob) / (k + 1)``, the documented hard-voting scores (module docstring).
    """
    k, n, c = probs.shape
    votes = np.zeros((n, c), dtype=np.float64)
    rows = np.arange(n)
    for member in probs:
        votes[rows, member.argmax(axis=1)] += 1.0
    if tiebreak_sum is None:
        tiebreak_sum = probs[0].copy()
        for member in probs[1:]:  # member order, as everywhere (module docstring)
            tiebreak_sum = tiebreak_sum + member
    total = tiebreak_sum
    return _hard_from(votes, total, k)


def _hard_from(votes: np.ndarray, total: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    winners = votes == votes.max(axis=1, keepdims=True)
    preds = np.where(winners, total, -1.0).argmax(axis=1)
    scores = (votes + total / k) / (k + 1)
    return preds, scores


def ensemble_probs(members: MemberSet, *, method: str, weights: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(preds, scores) of one ensemble over ``members`` (weights per member; 0 leaves a member out)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (members.size,) or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError(f"weights must be {members.size} finite non-negative numbers, not all 0; got {list(weights)}.")
    if method in ("soft", "weighted"):
        scores = combine_many(members.probs, w[None])[0]
        return scores.argmax(axis=1), scores
    if method == "hard":
        chosen = np.flatnonzero(w)
        if not np.all(w[chosen] == 1):
            raise ValueError("hard voting takes 0/1 weights (a member votes or not).")
        return hard_vote(members.probs[chosen])
    raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}.")


def score(members: MemberSet, preds: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """micro-F1 and AUPRC of stacked (k, n) preds and (k, n, c) scores."""
    return (
        micro_f1_many(members.labels, preds, no_relation=members.no_relation),
        auprc_many(members.labels, scores),
    )


# --------------------------------------------------------------------------------------------------
# every subset


def _dfs(m: int) -> Iterator[tuple[int, ...]]:
    """Non-empty subsets of range(m) depth first: each right after its parent (itself minus its last)."""
    stack: list[tuple[int, ...]] = [(j,) for j in reversed(range(m))]
    while stack:
        subset = stack.pop()
        yield subset
        stack.extend((*subset, j) for j in reversed(range(subset[-1] + 1, m)))


def score_subsets(
    members: MemberSet,
    *,
    methods: Sequence[str] = ("soft", "hard"),
    progress: ProgressFn | None = None,
) -> pd.DataFrame:
    """Micro-F1 and AUPRC of every non-empty subset of the members, for each method.

    Parameters
    ----------
    members : MemberSet
        At most :data:`MAX_EXHAUSTIVE` members.
    methods : sequence of {"soft", "hard"}, keyword-only
    progress : callable(done, total), keyword-only
        Called after every scored chunk of subsets (and once with done == total).

    Returns
    -------
    pandas.DataFrame
        One row per subset and method: ``subset`` (tuple of member indices), ``members`` (names joined
        with " + "), ``size``, ``method``, ``weights`` (tuple, 1 per chosen member and 0 otherwise),
        ``micro_f1``, ``auprc`` (x100). Soft rows equal the sklearn recipe on
        ``numpy.mean(probs[subset], axis=0)`` (tests prove it to 1e-9; bench/ensemble.py times it).
    """
    m = members.size
    if m > MAX_EXHAUSTIVE:
        raise DataError(
            f"{m} members is too many to score every combination ({2**m - 1:,} subsets); pick at most "
            f"{MAX_EXHAUSTIVE}, or use greedy selection, which takes any number."
        )
    unknown = [x for x in methods if x not in ("soft", "hard")]
    if unknown or not methods:
        raise ValueError(f"methods must be among soft, hard; got {list(methods)}.")
    probs = members.probs
    _, n, c = probs.shape
    total = 2**m - 1
    argmax = probs.argmax(axis=2)  # (m, n)
    rows = np.arange(n)
    sums: dict[int, np.ndarray] = {}  # by depth: the running sum of the subset on the current path
    votes: dict[int, np.ndarray] = {}
    buf_scores = np.empty((_CHUNK_SETS, n, c))
    buf_preds = np.empty((_CHUNK_SETS, n), dtype=np.int64)
    records: list[tuple[tuple[int, ...], str]] = []
    f1_out: list[np.ndarray] = []
    auprc_out: list[np.ndarray] = []
    filled = 0

    def flush() -> None:
        nonlocal filled
        if filled:
            f1, area = score(members, buf_preds[:filled], buf_scores[:filled])
            f1_out.append(f1)
            auprc_out.append(area)
            filled = 0

    for done, subset in enumerate(_dfs(m), start=1):
        depth, last = len(subset), subset[-1]
        # parent's sum + the new member: the order numpy.mean uses over probs[subset]
        sums[depth] = probs[last].copy() if depth == 1 else sums[depth - 1] + probs[last]
        if "hard" in methods:
            v = np.zeros((n, c)) if depth == 1 else votes[depth - 1].copy()
            v[rows, argmax[last]] += 1.0
            votes[depth] = v
        for method in methods:
            if method == "soft":
                np.divide(sums[depth], depth, out=buf_scores[filled])
                buf_preds[filled] = buf_scores[filled].argmax(axis=1)
            else:
                preds, scores = _hard_from(votes[depth], sums[depth], depth)
                buf_scores[filled] = scores
                buf_preds[filled] = preds
            records.append((subset, method))
            filled += 1
            if filled == _CHUNK_SETS:
                flush()
        if progress is not None and done % 64 == 0:
            progress(done, total)
    flush()
    if progress is not None:
        progress(total, total)
    f1_all = np.concatenate(f1_out)
    auprc_all = np.concatenate(auprc_out)
    return pd.DataFrame(
        {
            "subset": [s for s, _ in records],
            "members": [" + ".join(members.names[i] for i in s) for s, _ in records],
            "size": [len(s) for s, _ in records],
            "method": [meth for _, meth in records],
            "weights": [tuple(1.0 if i in s else 0.0 for i in range(m)) for s, _ in records],
            "micro_f1": f1_all,
            "auprc": auprc_all,
        }
    )


# --------------------------------------------------------------------------------------------------
# greedy selection


@dataclass(frozen=True)
class GreedyResult:
    """Outcome of :func:`greedy_select`.

    ``counts`` are the times each member was picked at the best point (the weights of a ``weighted``
    ensemble); ``path`` holds, per step, the member added and the ensemble's micro-F1 and AUPRC;
    ``best_step`` indexes ``path`` (0 = the best single member).
    """

    metric: str
    counts: tuple[int, ...]
    micro_f1: float
    auprc: float
    best_step: int
    path: list[dict[str, Any]]


def greedy_select(
    members: MemberSet,
    *,
    metric: str = "micro_f1",
    steps: int = GREEDY_STEPS,
    init_size: int = GREEDY_INIT,
) -> GreedyResult:
    """Greedy ensemble selection with replacement and a sorted start (Caruana et al., 2004).

    Parameters
    ----------
    members : MemberSet
    metric : {"micro_f1", "auprc"}, keyword-only
        What each step maximises.
    steps : int, keyword-only
        Greedy additions after the sorted start.
    init_size : int, keyword-only
        Members of the sorted start: the best single member, then the next best ones, one per step.

    Returns
    -------
    GreedyResult
        The best point on the path (ties: the earliest). Never worse on ``members``' rows, by
        ``metric``, than the best single member, which is the path's first point.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}.")
    if steps < 0 or init_size < 1:
        raise ValueError("steps must be >= 0 and init_size >= 1.")
    m = members.size
    key = 0 if metric == "micro_f1" else 1
    eye = np.eye(m)
    single = score(members, members.probs.argmax(axis=2), members.probs)
    # Sorted start: by the metric, then by the other one, then by member order (stable).
    order = sorted(range(m), key=lambda i: (-single[key][i], -single[1 - key][i], i))
    counts = np.zeros(m)
    path: list[dict[str, Any]] = []
    for i in order[: min(init_size, m)]:
        counts[i] += 1
        scores = combine_many(members.probs, counts[None])
        f1, area = score(members, scores.argmax(axis=2), scores)
        path.append({"added": members.names[i], "counts": counts.copy(), "micro_f1": f1[0], "auprc": area[0]})
    for _ in range(steps):
        candidates = counts[None] + eye  # (m, m): one more of each member
        scores = combine_many(members.probs, candidates)
        f1, area = score(members, scores.argmax(axis=2), scores)
        values = (f1, area)
        # best by the metric, the other metric breaking ties, then the lowest member index
        pick = int(np.lexsort((np.arange(m), -values[1 - key], -values[key]))[0])
        counts = candidates[pick]
        path.append({"added": members.names[pick], "counts": counts.copy(), "micro_f1": f1[pick], "auprc": area[pick]})
    metric_values = [p["micro_f1"] if key == 0 else p["auprc"] for p in path]
    best = int(np.argmax(metric_values))  # first maximum: the earliest, smallest ensemble
    point = path[best]
    return GreedyResult(
        metric=metric,
        counts=tuple(int(x) for x in point["counts"]),
        micro_f1=float(point["micro_f1"]),
        auprc=float(point["auprc"]),
        best_step=best,
        path=[
            {
                "step": s,
                "added": p["added"],
                "size": int(p["counts"].sum()),
                "micro_f1": float(p["micro_f1"]),
                "auprc": float(p["auprc"]),
            }
            for s, p in enumerate(path)
        ],
    )


# --------------------------------------------------------------------------------------------------
# the leaderboard


def leaderboard(
    members: MemberSet,
    *,
    methods: Sequence[str] = ("soft", "hard", "greedy"),
    greedy_metrics: Sequence[str] = METRICS,
    steps: int = GREEDY_STEPS,
    progress: ProgressFn | None = None,
) -> pd.DataFrame:
    """Every subset (soft and/or hard) plus greedy ensembles, best first, with the Pareto front marked.

    Returns
    -------
    pandas.DataFrame
        :func:`score_subsets`' columns (greedy rows: ``method`` "weighted", ``selected_by``
        "greedy micro_f1"/"greedy auprc", integer weights) plus ``selected_by`` and ``pareto``;
        sorted by micro-F1, then AUPRC, then size (smaller first), then method.
    """
    unknown = [x for x in methods if x not in ("soft", "hard", "greedy")]
    if unknown or not methods:
        raise ValueError(f"methods must be among soft, hard, greedy; got {list(methods)}.")
    frames = []
    exhaustive = [x for x in methods if x != "greedy"]
    if exhaustive:
        table = score_subsets(members, methods=exhaustive, progress=progress)
        table["selected_by"] = "all subsets"
        frames.append(table)
    if "greedy" in methods:
        rows = []
        for metric in greedy_metrics:
            result = greedy_select(members, metric=metric, steps=steps)
            subset = tuple(i for i, c in enumerate(result.counts) if c)
            rows.append(
                {
                    "subset": subset,
                    "members": " + ".join(
                        members.names[i] + (f" x{result.counts[i]}" if result.counts[i] > 1 else "") for i in subset
                    ),
                    "size": len(subset),
                    "method": "weighted",
                    "weights": tuple(float(c) for c in result.counts),
                    "micro_f1": result.micro_f1,
                    "auprc": result.auprc,
                    "selected_by": f"greedy {metric}",
                }
            )
        frames.append(pd.DataFrame(rows))
    table = pd.concat(frames, ignore_index=True)
    table["pareto"] = pareto_front(table["micro_f1"].to_numpy(), table["auprc"].to_numpy())
    return table.sort_values(
        ["micro_f1", "auprc", "size", "method"], ascending=[False, False, True, True], kind="stable"
    ).reset_index(drop=True)


def pareto_front(f1: np.ndarray, auprc: np.ndarray) -> np.ndarray:
    """Points no other point beats on both metrics (at least as good on both, better on one)."""
    f1 = np.asarray(f1, dtype=np.float64)
    auprc = np.asarray(auprc, dtype=np.float64)
    order = np.lexsort((-auprc, -f1))  # by micro-F1 descending, AUPRC descending within ties
    front = np.zeros(f1.size, dtype=bool)
    best_auprc = -np.inf
    for i in order.tolist():
        # Sorted so every earlier point has micro-F1 >= this one's: it is dominated iff an earlier
        # point has a higher AUPRC, or an equal AUPRC with a higher micro-F1.
        if auprc[i] > best_auprc:
            front[i] = True
            best_auprc = auprc[i]
        elif auprc[i] == best_auprc:
            front[i] = bool(np.any(front & (f1 == f1[i]) & (auprc == auprc[i])))
    return front


# --------------------------------------------------------------------------------------------------
# command line


def _json_rows(table: pd.DataFrame, names: Sequence[str]) -> list[dict[str, Any]]:
    out = []
    for row in table.itertuples(index=False):
        chosen = [i for i, w in enumerate(row.weights) if w]
        out.append(
            {
                "members": [names[i] for i in chosen],
                "method": row.method,
                "weights": [float(row.weights[i]) for i in chosen],
                "micro_f1": float(row.micro_f1),
                "auprc": float(row.auprc),
                "selected_by": row.selected_by,
            }
        )
    return out


def cli_ensemble(args: argparse.Namespace) -> int:
    """``python -m core ensemble``: DataError/ValueError propagate (core.cli prints them, exit 2)."""
    members = members_from_files(args.preds, args.gold, schema=SCHEMAS[args.schema])
    methods = ("soft", "hard", "greedy") if args.method == "all" else (args.method,)
    show_progress = not args.json and sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if show_progress:
            print(f"\rscored {done:,}/{total:,} subsets", end="" if done < total else "\n", file=sys.stderr)

    steps = GREEDY_STEPS if args.steps is None else args.steps
    table = leaderboard(members, methods=methods, steps=steps, progress=progress)
    rows = _json_rows(table, members.names)
    if args.json:
        json.dump(rows, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    print(f"{len(rows):,} ensembles of {members.size} members on {len(members.ids):,} rows (best first):")
    for row in rows[: max(args.top, 0)]:
        weights = "" if set(row["weights"]) == {1.0} else f" weights {row['weights']}"
        print(
            f"  micro-F1 {row['micro_f1']:6.2f}  AUPRC {row['auprc']:6.2f}  {row['method']:<8} "
            f"{' + '.join(row['members'])}{weights}  [{row['selected_by']}]"
        )
    return 0


__all__ = [
    "GREEDY_INIT",
    "GREEDY_STEPS",
    "MAX_EXHAUSTIVE",
    "METHODS",
    "GreedyResult",
    "cli_ensemble",
    "combine_many",
    "ensemble_probs",
    "greedy_select",
    "hard_vote",
    "leaderboard",
    "pareto_front",
    "score_subsets",
]
