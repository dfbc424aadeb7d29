"""Ensembles of relation classifiers: every combination scored, honest selection, export.

Members
-------
A *member* is one set of predicted probabilities for the same rows (ids): a finished run's
``dev_predictions.csv`` (:func:`finished_runs`, :func:`members_from_runs`; the gold labels are the
workspace dataset's current labels for those dev ids), or an uploaded submission-format CSV scored
against a gold file (:func:`members_from_files`). Every member must cover exactly the gold ids (no
missing, extra or repeated id) with probabilities in the same label order; anything else is refused
with a :class:`~core.common.schema.DataError` naming the file (and row, where there is one). A submission file
does not declare its label order, so the order is checked where it shows: a ``pred_label`` that is not
the most probable class of its row means the ``probs`` lists follow another order.

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

Honesty (:func:`honest_gain`)
-----------------------------
Picking the best of thousands of combinations on the same rows that score it overstates the gain.
For several seeded splits of the dev ids in two halves, the procedure selects on one half (both the
best single member and the ensemble) and both are scored on the other half; the report gives the
mean and spread of the held-out gain next to the in-sample one.

Uploads
-------
The Ensemble view saves uploaded prediction files in one private folder per session
(:func:`session_upload_dir`) and, on every run, deletes the folders of sessions the server no longer
holds and any untouched for a day (:func:`sweep_upload_folders`, deciding with the pure
:func:`stale_upload_folders`). Messages and recipes name an upload by its own file name
(:attr:`MemberSet.shown_as`), never by the server path it was saved under.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.common.schema import KLUE_SCHEMA, NO_RELATION, SCHEMAS, DataError, LabelSchema
from core.train.metrics import (
    _read_submission,  # the reader that also returns pred_label, needed for the label-order check
    auprc_many,
    micro_f1_many,
    per_class_f1,
    read_gold,
    write_submission,
)

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
_EXAMPLES = 5
ProgressFn = Callable[[int, int], None]


# --------------------------------------------------------------------------------------------------
# members


@dataclass(frozen=True)
class MemberSet:
    """Members' probabilities aligned on the same rows, with the gold labels.

    Attributes
    ----------
    names : tuple of str
        One display name per member (unique).
    ids : tuple of str
        Row ids, in gold order; ``probs[:, i]`` and ``labels[i]`` belong to ``ids[i]``.
    labels : numpy.ndarray of int64, shape (n,)
        Gold class indices into ``label_names``.
    probs : numpy.ndarray of float64, shape (m, n, c)
        Member probabilities.
    label_names : tuple of str
        The label order of the ``probs`` columns (the submission order).
    sources : tuple of str
        Where each member came from (a file path).
    test_paths : tuple of (str or None)
        Each member's test predictions file, when it has one (for :func:`export_test`).
    shown_as : mapping of str to str
        The name to show for a file path in messages and the recipe: uploads are saved under server
        temp names that mean nothing to the person who uploaded them (empty: paths are shown as they are).
    """

    names: tuple[str, ...]
    ids: tuple[str, ...]
    labels: np.ndarray
    probs: np.ndarray
    label_names: tuple[str, ...]
    sources: tuple[str, ...]
    test_paths: tuple[str | None, ...]
    shown_as: Mapping[str, str] = field(default_factory=dict)

    def shown(self, path: str | None) -> str | None:
        """``path`` as the user knows it (the uploaded file's own name), else the path itself."""
        return None if path is None else self.shown_as.get(path, path)

    @property
    def no_relation(self) -> int:
        """Index of ``no_relation`` (-1 when the label set has none: every class then counts)."""
        return self.label_names.index(NO_RELATION) if NO_RELATION in self.label_names else -1

    @property
    def size(self) -> int:
        return len(self.names)

    def take_rows(self, rows: np.ndarray) -> MemberSet:
        """The same members on a subset of the rows (for selection / held-out halves)."""
        rows = np.asarray(rows, dtype=np.int64)
        return replace(
            self,
            ids=tuple(self.ids[i] for i in rows.tolist()),
            labels=self.labels[rows],
            probs=np.ascontiguousarray(self.probs[:, rows]),
        )

    def take_members(self, members: Sequence[int]) -> MemberSet:
        index = list(members)
        return replace(
            self,
            names=tuple(self.names[i] for i in index),
            probs=self.probs[index],
            sources=tuple(self.sources[i] for i in index),
            test_paths=tuple(self.test_paths[i] for i in index),
        )


def _examples(values: Sequence[str]) -> str:
    shown = ", ".join(repr(v) for v in values[:_EXAMPLES])
    return f"{shown}, ..." if len(values) > _EXAMPLES else shown


def _align(name: str, ids: Sequence[str], probs: np.ndarray, gold_ids: Sequence[str], gold_name: str) -> np.ndarray:
    """``probs`` reordered to ``gold_ids``; DataError when the ids are not exactly the gold ids."""
    position = {rid: i for i, rid in enumerate(ids)}
    missing = [rid for rid in gold_ids if rid not in position]
    gold_set = set(gold_ids)
    extra = [rid for rid in ids if rid not in gold_set]
    if missing or extra or len(ids) != len(gold_ids):
        parts = [f"it has {len(ids)} rows and {gold_name} has {len(gold_ids)}"]
        if missing:
            parts.append(f"{len(missing)} id(s) of {gold_name} have no prediction (e.g. {_examples(missing)})")
        if extra:
            parts.append(f"{len(extra)} id(s) are not in {gold_name} (e.g. {_examples(extra)})")
        raise DataError(
            f"{name} does not predict the same rows as {gold_name}: {'; '.join(parts)}. "
            "Every member must predict exactly the same ids."
        )
    return probs[np.array([position[rid] for rid in gold_ids], dtype=np.int64)]


def _read_member(path: str | os.PathLike[str], label_names: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """A submission file's ids and probs, refusing a ``pred_label`` that contradicts ``probs``.

    A ``pred_label`` whose probability is below its row's maximum means the ``probs`` lists follow
    another label order than ``label_names`` (a file made with the dataset's own order instead of
    the baseline order, say); mixing it with the other members would average unrelated classes.
    """
    ids, probs, pred_labels = _read_submission(path, label_names)
    if pred_labels is not None:
        index = {name: i for i, name in enumerate(label_names)}
        chosen = probs[np.arange(len(ids)), [index[p] for p in pred_labels]]
        wrong = np.flatnonzero(chosen < probs.max(axis=1))
        if wrong.size:
            row = int(wrong[0])
            top = label_names[int(probs[row].argmax())]
            raise DataError(
                f"{os.fspath(path)}: row {row + 1}, field pred_label: {pred_labels[row]!r} is not the most probable "
                f"class of probs (that is {top!r}), and so on for {wrong.size} row(s). The probs lists are "
                f"probably in another label order; this ensemble expects {len(label_names)} labels in the order "
                f"{_examples(list(label_names))}."
            )
    return ids, probs


def _renamed(exc: DataError, shown_as: Mapping[str, str]) -> DataError:
    """``exc`` with every saved path in its message replaced by the name the user knows the file by."""
    text = str(exc)
    # Longest first: one saved path may be the prefix of another (dev/1.csv, dev/1.csv.gz).
    for path in sorted(shown_as, key=len, reverse=True):
        text = text.replace(path, shown_as[path])
    return DataError(text)


def _unique_names(names: Sequence[str]) -> tuple[str, ...]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return tuple(out)


def members_from_files(
    pred_paths: Sequence[str | os.PathLike[str]],
    gold_path: str | os.PathLike[str],
    *,
    schema: LabelSchema = KLUE_SCHEMA,
    names: Sequence[str] | None = None,
    test_paths: Sequence[str | os.PathLike[str] | None] | None = None,
    shown_as: Mapping[str | os.PathLike[str], str] | None = None,
) -> MemberSet:
    """Members from submission-format CSVs (``id,pred_label,probs``) and a gold file.

    Parameters
    ----------
    pred_paths : sequence of paths
        One prediction file per member, ``probs`` in ``schema.labels`` order.
    gold_path : path
        An ``id,label`` CSV or a labeled dataset file (:func:`core.train.metrics.read_gold`).
    schema : LabelSchema, keyword-only
    names : sequence of str, keyword-only
        Display names (default: the file names).
    test_paths : sequence of (path or None), keyword-only
        Each member's test predictions, for :func:`export_test`.
    shown_as : mapping of path to str, keyword-only
        What to call a file in messages instead of its path (an upload's original name); kept on the
        result as :attr:`MemberSet.shown_as` for :func:`export_test` and :func:`recipe`.

    Raises
    ------
    DataError
        Fewer than one member, an unreadable or malformed file, a member whose ids differ from the gold
        ids (missing, extra, different length), or a ``pred_label`` that contradicts ``probs`` (another
        label order). The message names the file.
    """
    if not pred_paths:
        raise DataError("An ensemble needs at least one prediction file.")
    shown = {os.fspath(path): name for path, name in (shown_as or {}).items()}
    try:
        gold_ids, labels = read_gold(gold_path, schema=schema)
        gold_name = os.fspath(gold_path)
        label_names = tuple(schema.labels)
        probs = []
        for path in pred_paths:
            ids, p = _read_member(path, label_names)
            probs.append(_align(os.fspath(path), ids, p, gold_ids, gold_name))
    except DataError as exc:
        raise _renamed(exc, shown) from exc
    member_names = list(names) if names is not None else [Path(p).stem for p in pred_paths]
    if len(member_names) != len(pred_paths):
        raise ValueError(f"names has {len(member_names)} entries for {len(pred_paths)} prediction files.")
    tests = list(test_paths) if test_paths is not None else [None] * len(pred_paths)
    if len(tests) != len(pred_paths):
        raise ValueError(f"test_paths has {len(tests)} entries for {len(pred_paths)} prediction files.")
    return MemberSet(
        names=_unique_names(member_names),
        ids=tuple(gold_ids),
        labels=labels,
        probs=np.stack(probs),
        label_names=label_names,
        sources=tuple(os.fspath(p) for p in pred_paths),
        test_paths=tuple(None if t is None else os.fspath(t) for t in tests),
        shown_as=shown,
    )


@dataclass(frozen=True)
class RunMember:
    """A finished training run that can join an ensemble."""

    job_id: int
    name: str
    run_dir: str
    dev_path: str
    test_path: str | None
    summary: dict[str, Any] = field(repr=False)

    @property
    def label(self) -> str:
        """``#id name`` (job names need not be unique)."""
        return f"#{self.job_id} {self.name}"


def finished_runs(root: Any, dataset: str | int | None = None) -> list[RunMember]:
    """Succeeded training jobs of the workspace (optionally of one dataset) with dev predictions.

    ``root`` is a workspace folder or a :class:`core.store.workspace.Workspace`. Jobs whose run folder lacks
    ``summary.json`` or ``dev_predictions.csv`` (deleted, or a run that never predicted) are left out.
    """
    from core.jobs import JobStore
    from core.store.runs import read_summary
    from core.store.workspace import Workspace

    ws = root if hasattr(root, "db_path") else Workspace(root)
    wanted = None if dataset is None else ws.dataset(dataset).id
    out = []
    for job in JobStore(ws).list_jobs(status="succeeded"):
        run = Path(job.run_dir)
        summary = read_summary(run)
        dev = run / "dev_predictions.csv"
        if summary is None or not dev.is_file() or summary.get("status") != "succeeded":
            continue
        if wanted is not None and summary.get("dataset_id") != wanted:
            continue
        test = run / "test_predictions.csv"
        out.append(RunMember(job.id, job.name, str(run), str(dev), str(test) if test.is_file() else None, summary))
    return out


def submission_order(schema_name: str, labels: Sequence[str]) -> tuple[str, ...]:
    """The label order of a run's prediction files: the schema's baseline order when the dataset has
    the same label set, else the dataset's own order (what ``core.train.training`` writes)."""
    base = SCHEMAS[schema_name].labels if schema_name in SCHEMAS else tuple(labels)
    return tuple(base) if set(base) == set(labels) else tuple(labels)


def members_from_runs(root: Any, runs: Sequence[RunMember], *, dataset: str | int) -> MemberSet:
    """Members from finished runs of one dataset; gold = the dataset's current labels of the dev ids.

    Raises
    ------
    DataError
        No run; a run of another dataset or trained with another label set; runs predicting different
        dev ids (another split); a dev id no longer in the dataset or without a label; a bad file.
    """
    from core.store.workspace import Workspace

    if not runs:
        raise DataError("Pick at least one finished run.")
    ws = root if hasattr(root, "db_path") else Workspace(root)
    info = ws.dataset(dataset)
    label_names = submission_order(info.schema_name, info.labels)
    first_ids: list[str] | None = None
    probs = []
    for run in runs:
        run_labels = run.summary.get("labels")
        if run.summary.get("dataset_id") != info.id:
            raise DataError(f"Run {run.label} ({run.run_dir}) was trained on another dataset than {info.name!r}.")
        if run_labels is not None and set(run_labels) != set(info.labels):
            raise DataError(
                f"Run {run.label} was trained with another label set than dataset {info.name!r} has now "
                f"({len(run_labels)} labels against {len(info.labels)}); its probabilities cannot be combined."
            )
        ids, p = _read_member(run.dev_path, label_names)
        if first_ids is None:
            first_ids = ids
            probs.append(p)
        else:
            probs.append(_align(f"Run {run.label} ({run.dev_path})", ids, p, first_ids, f"run {runs[0].label}"))
    assert first_ids is not None
    frame = ws.current_frame(info.id, "train")
    labels_by_id = dict(zip(frame["id"].astype(str), frame["label"], strict=True))
    gone = [rid for rid in first_ids if rid not in labels_by_id]
    if gone:
        raise DataError(
            f"{len(gone)} dev id(s) of the runs are no longer in dataset {info.name!r} (dropped since training, "
            f"e.g. {_examples(gone)}); retrain the runs or score them against a gold file instead."
        )
    index = {name: i for i, name in enumerate(label_names)}
    bad = [rid for rid in first_ids if labels_by_id[rid] is None or pd.isna(labels_by_id[rid])]
    bad += [rid for rid in first_ids if rid not in bad and labels_by_id[rid] not in index]
    if bad:
        raise DataError(f"Dataset {info.name!r}: dev row(s) without a known label, e.g. {_examples(bad)}.")
    return MemberSet(
        names=_unique_names([r.label for r in runs]),
        ids=tuple(first_ids),
        labels=np.array([index[labels_by_id[rid]] for rid in first_ids], dtype=np.int64),
        probs=np.stack(probs),
        label_names=label_names,
        sources=tuple(r.dev_path for r in runs),
        test_paths=tuple(r.test_path for r in runs),
    )


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


def _score(members: MemberSet, preds: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
            f1, area = _score(members, buf_preds[:filled], buf_scores[:filled])
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
    single = _score(members, members.probs.argmax(axis=2), members.probs)
    # Sorted start: by the metric, then by the other one, then by member order (stable).
    order = sorted(range(m), key=lambda i: (-single[key][i], -single[1 - key][i], i))
    counts = np.zeros(m)
    path: list[dict[str, Any]] = []
    for i in order[: min(init_size, m)]:
        counts[i] += 1
        scores = combine_many(members.probs, counts[None])
        f1, area = _score(members, scores.argmax(axis=2), scores)
        path.append({"added": members.names[i], "counts": counts.copy(), "micro_f1": f1[0], "auprc": area[0]})
    for _ in range(steps):
        candidates = counts[None] + eye  # (m, m): one more of each member
        scores = combine_many(members.probs, candidates)
        f1, area = _score(members, scores.argmax(axis=2), scores)
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
# diagnostics


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
    f1, area = _score(members, members.probs.argmax(axis=2), members.probs)
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


def honest_gain(
    members: MemberSet,
    *,
    metric: str = "micro_f1",
    procedures: Sequence[str] = ("best subset", "greedy"),
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    steps: int = GREEDY_STEPS,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Gain of a selected ensemble over the best single member on rows it was not selected on.

    For each seed the dev rows are shuffled and cut in two halves. On the selection half the
    procedure picks an ensemble and the best single member is picked by ``metric``; both are then
    scored on the other (held-out) half. ``gain = ensemble - best single`` per half.

    Parameters
    ----------
    procedures : keyword-only
        ``"best subset"`` (best of every subset, soft and hard; at most :data:`MAX_EXHAUSTIVE`
        members) and/or ``"greedy"``.

    Returns
    -------
    dict
        ``metric``, ``splits`` (one record per seed and procedure: selection and held-out values of
        both, the gains, the chosen recipe), and ``summary``: per procedure, the mean and standard
        deviation (ddof=1; 0 for one split) of the in-sample gain and of the held-out gain, and the
        share of splits whose held-out gain is positive.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}.")
    n = len(members.ids)
    if n < 4:
        raise DataError(f"{n} rows are too few to split in a selection half and a held-out half.")
    records = []
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
            f1, area = _score(held, preds[None], scores[None])
            held_value = float(f1[0] if metric == "micro_f1" else area[0])
            records.append(
                {
                    "seed": int(seed),
                    "procedure": procedure,
                    "method": method,
                    "members": [members.names[i] for i, w in enumerate(weights) if w],
                    "weights": list(weights),
                    "best_single": members.names[best],
                    "selection_ensemble": value,
                    "selection_single": float(single_pick[metric][best]),
                    "heldout_ensemble": held_value,
                    "heldout_single": float(single_held[metric][best]),
                }
            )
            records[-1]["selection_gain"] = records[-1]["selection_ensemble"] - records[-1]["selection_single"]
            records[-1]["heldout_gain"] = records[-1]["heldout_ensemble"] - records[-1]["heldout_single"]
            done += 1
            if progress is not None:
                progress(done, total)
    summary = {}
    for procedure in procedures:
        rows = [r for r in records if r["procedure"] == procedure]
        sel = np.array([r["selection_gain"] for r in rows])
        held = np.array([r["heldout_gain"] for r in rows])
        summary[procedure] = {
            "splits": len(rows),
            "selection_gain_mean": float(sel.mean()),
            "selection_gain_std": float(sel.std(ddof=1)) if len(rows) > 1 else 0.0,
            "heldout_gain_mean": float(held.mean()),
            "heldout_gain_std": float(held.std(ddof=1)) if len(rows) > 1 else 0.0,
            "heldout_gain_positive_share": float((held > 0).mean()),
        }
    return {"metric": metric, "rows_per_half": [n // 2, n - n // 2], "splits": records, "summary": summary}


# --------------------------------------------------------------------------------------------------
# export


def recipe(
    members: MemberSet, *, method: str, weights: Sequence[float], scores: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """The JSON-able recipe of an ensemble: members (name, dev and test files), weights, method."""
    if len(weights) != members.size:
        raise ValueError(f"weights has {len(weights)} entries for {members.size} members.")
    chosen = [i for i, w in enumerate(weights) if w]
    return {
        "method": method,
        "members": [
            {
                "name": members.names[i],
                "dev_predictions": members.shown(members.sources[i]),
                "test_predictions": members.shown(members.test_paths[i]),
            }
            for i in chosen
        ],
        "weights": [float(weights[i]) for i in chosen],
        "label_order": list(members.label_names),
        "dev": {"n": len(members.ids), **{k: float(v) for k, v in (scores or {}).items()}},
        "hard_voting_scores": "(votes + mean_prob) / (k + 1)" if method == "hard" else None,
    }


def export_test(members: MemberSet, *, method: str, weights: Sequence[float], out: Any) -> tuple[list[str], np.ndarray]:
    """Combine the chosen members' test predictions like their dev ones and write a submission.

    Parameters
    ----------
    out : path or text buffer
        Where the ``id,pred_label,probs`` CSV goes (a path is written atomically).

    Returns
    -------
    ids, probs
        What was written (ids in the first chosen member's test file order).

    Raises
    ------
    DataError
        A chosen member has no test predictions, a test file is malformed, or the members' test files
        hold different ids.
    """
    chosen = [i for i, w in enumerate(weights) if w]
    if len(weights) != members.size or not chosen:
        raise ValueError("weights must give one value per member, at least one of them positive.")
    lacking = [members.names[i] for i in chosen if members.test_paths[i] is None]
    if lacking:
        raise DataError(f"No test predictions for {_examples(lacking)}: the export needs every chosen member's.")
    first_ids: list[str] = []
    probs = []
    try:
        for i in chosen:
            path = members.test_paths[i]
            assert path is not None
            ids, p = _read_member(path, members.label_names)
            if not probs:
                first_ids = ids
                probs.append(p)
            else:
                first = members.test_paths[chosen[0]]
                probs.append(_align(f"{members.names[i]} ({path})", ids, p, first_ids, f"{first}"))
    except DataError as exc:
        raise _renamed(exc, members.shown_as) from exc
    test_set = replace(
        members.take_members(chosen),
        ids=tuple(first_ids),
        labels=np.zeros(len(first_ids), dtype=np.int64),
        probs=np.stack(probs),
    )
    _, scores = ensemble_probs(test_set, method=method, weights=[weights[i] for i in chosen])
    write_submission(out, first_ids, scores, label_names=members.label_names)
    return first_ids, scores


# --------------------------------------------------------------------------------------------------
# uploaded files

#: A session upload folder untouched this long is deleted even when its session still seems alive.
UPLOAD_MAX_AGE_S = 24 * 3600
_SESSION_PREFIX = "s-"


def upload_root() -> Path:
    """The parent of the sessions' upload folders: one per server user in the system temp folder
    (the user id keeps two servers on one machine out of each other's uploads)."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"restudio-ensemble-uploads-{uid}"


def session_folder_name(session_id: str) -> str:
    """A session's upload folder name: a digest, so any session id makes one safe path component."""
    return _SESSION_PREFIX + hashlib.sha256(session_id.encode("utf-8")).hexdigest()[:32]


def session_upload_dir(session_id: str, *, root: Path | None = None) -> Path:
    """The session's upload folder (made, private to the server user).

    Raises
    ------
    OSError
        The parent is a link or belongs to another user (a shared ``/tmp`` where someone put it first):
        uploads are not written there.
    """
    root = upload_root() if root is None else root
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = root.lstat()
    if root.is_symlink() or not root.is_dir() or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
        raise OSError(f"the upload folder {root.name} is not a private folder of this server")
    folder = root / session_folder_name(session_id)
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def stale_upload_folders(
    folders: Mapping[str, float],
    active_sessions: Collection[str] | None,
    *,
    now: float,
    max_age_s: float = UPLOAD_MAX_AGE_S,
) -> list[str]:
    """Which session upload folders to delete (sorted names); decides only, deletes nothing.

    Parameters
    ----------
    folders : mapping of str to float
        Folder name (:func:`session_folder_name`) to the last time anything in it changed (epoch s).
    active_sessions : collection of str, or None
        Ids of the sessions the server still holds. A folder of any other session goes: Streamlit has no
        reliable hook for a session's end, so the folders are swept on the next run of any session.
        None when they cannot be known (no Streamlit runtime, as in AppTest): age alone decides.
    now, max_age_s : float
        A folder untouched for more than ``max_age_s`` goes whatever its session.
    """
    live = None if active_sessions is None else {session_folder_name(s) for s in active_sessions}
    return sorted(
        name
        for name, touched in folders.items()
        if (live is not None and name not in live) or now - touched > max_age_s
    )


def _last_touched(folder: Path) -> float:
    newest = folder.lstat().st_mtime
    for current, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            newest = max(newest, os.lstat(os.path.join(current, name)).st_mtime)
    return newest


def sweep_upload_folders(
    active_sessions: Collection[str] | None,
    *,
    root: Path | None = None,
    now: float | None = None,
    max_age_s: float = UPLOAD_MAX_AGE_S,
) -> list[Path]:
    """Delete the upload folders :func:`stale_upload_folders` picks under ``root``; returns them.

    Only folders named like :func:`session_folder_name` are looked at (never a link, never anything else
    in the folder). Two sessions sweeping at once is harmless: a folder already gone is skipped.
    """
    root = upload_root() if root is None else root
    if not root.is_dir() or root.is_symlink():
        return []
    folders: dict[str, float] = {}
    for entry in os.scandir(root):
        if entry.name.startswith(_SESSION_PREFIX) and entry.is_dir(follow_symlinks=False):
            try:
                folders[entry.name] = _last_touched(Path(entry.path))
            except OSError:  # removed meanwhile by another session's sweep
                continue
    when = time.time() if now is None else now
    gone = []
    for name in stale_upload_folders(folders, active_sessions, now=when, max_age_s=max_age_s):
        shutil.rmtree(root / name, ignore_errors=True)
        gone.append(root / name)
    return gone


# --------------------------------------------------------------------------------------------------
# command line


def add_ensemble_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``ensemble`` on an argparse subparsers object; its handler is :func:`cli_ensemble`."""
    parser = subparsers.add_parser(
        "ensemble",
        help="score every combination of prediction files (soft, hard, greedy) against a gold file",
        description=(
            "Score every combination (up to 12 members) of submission-format prediction files by soft and "
            "hard voting, plus greedy weighted ensembles (Caruana et al., 2004), with KLUE micro-F1 and AUPRC."
        ),
    )
    parser.add_argument("preds", nargs="+", help="submission-format CSVs (id,pred_label,probs) on the gold ids")
    parser.add_argument("--gold", required=True, help="labeled dataset file or an id,label CSV")
    parser.add_argument("--method", default="all", choices=["soft", "hard", "greedy", "all"])
    parser.add_argument("--steps", type=int, default=GREEDY_STEPS, help="greedy additions after the sorted start")
    parser.add_argument("--top", type=int, default=20, help="rows shown without --json")
    parser.add_argument("--json", action="store_true", help="a JSON list on stdout, best first")
    parser.add_argument("--schema", default="klue", choices=sorted(SCHEMAS))
    parser.set_defaults(func=cli_ensemble)
    return parser


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

    table = leaderboard(members, methods=methods, steps=args.steps, progress=progress)
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
    "MemberSet",
    "RunMember",
    "add_ensemble_parser",
    "cli_ensemble",
    "combine_many",
    "diversity",
    "ensemble_probs",
    "export_test",
    "finished_runs",
    "greedy_select",
    "hard_vote",
    "honest_gain",
    "leaderboard",
    "members_from_files",
    "members_from_runs",
    "pareto_front",
    "per_class_comparison",
    "recipe",
    "score_subsets",
    "single_scores",
    "submission_order",
]
