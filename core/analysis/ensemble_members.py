"""Ensemble members: where the probabilities come from, checked and aligned on the gold rows.

This module owns :class:`MemberSet` (members' probabilities aligned on the same rows, with the gold labels)
and the two ways to build one: submission-format prediction files scored against a gold file
(:func:`members_from_files`) and finished training runs of the workspace (:func:`finished_runs`,
:func:`members_from_runs`). It is separate from the scoring in :mod:`core.analysis.ensemble` because it is
all reading and refusing: every member must cover exactly the gold ids (no missing, extra or repeated id)
with probabilities in the same label order; anything else is refused with a
:class:`~core.common.schema.DataError` naming the file (and row, where there is one). A submission file
does not declare its label order, so the order is checked where it shows: a ``pred_label`` that is not
the most probable class of its row means the ``probs`` lists follow another order. The checked readers
(:func:`read_member`, :func:`align`, :func:`renamed`, :func:`examples`) are public because the test export
(:mod:`core.analysis.ensemble_export`) reads the members' test files with them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.common.schema import KLUE_SCHEMA, NO_RELATION, DataError, LabelSchema
from core.store.runs import RunDir
from core.train.metrics import read_gold, read_submission_with_labels
from core.train.predict import submission_labels

_EXAMPLES = 5


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
        Each member's test predictions file, when it has one
        (for :func:`~core.analysis.ensemble_export.export_test`).
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


def examples(values: Sequence[str]) -> str:
    shown = ", ".join(repr(v) for v in values[:_EXAMPLES])
    return f"{shown}, ..." if len(values) > _EXAMPLES else shown


def align(name: str, ids: Sequence[str], probs: np.ndarray, gold_ids: Sequence[str], gold_name: str) -> np.ndarray:
    """``probs`` reordered to ``gold_ids``; DataError when the ids are not exactly the gold ids."""
    position = {rid: i for i, rid in enumerate(ids)}
    missing = [rid for rid in gold_ids if rid not in position]
    gold_set = set(gold_ids)
    extra = [rid for rid in ids if rid not in gold_set]
    if missing or extra or len(ids) != len(gold_ids):
        parts = [f"it has {len(ids)} rows and {gold_name} has {len(gold_ids)}"]
        if missing:
            parts.append(f"{len(missing)} id(s) of {gold_name} have no prediction (e.g. {examples(missing)})")
        if extra:
            parts.append(f"{len(extra)} id(s) are not in {gold_name} (e.g. {examples(extra)})")
        raise DataError(
            f"{name} does not predict the same rows as {gold_name}: {'; '.join(parts)}. "
            "Every member must predict exactly the same ids."
        )
    return probs[np.array([position[rid] for rid in gold_ids], dtype=np.int64)]


def read_member(path: str | os.PathLike[str], label_names: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """A submission file's ids and probs, refusing a ``pred_label`` that contradicts ``probs``.

    A ``pred_label`` whose probability is below its row's maximum means the ``probs`` lists follow
    another label order than ``label_names`` (a file made with the dataset's own order instead of
    the baseline order, say); mixing it with the other members would average unrelated classes.
    """
    ids, probs, pred_labels = read_submission_with_labels(path, label_names)
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
                f"{examples(list(label_names))}."
            )
    return ids, probs


def renamed(exc: DataError, shown_as: Mapping[str, str]) -> DataError:
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
        Each member's test predictions, for :func:`~core.analysis.ensemble_export.export_test`.
    shown_as : mapping of path to str, keyword-only
        What to call a file in messages instead of its path (an upload's original name); kept on the
        result as :attr:`MemberSet.shown_as` for :func:`~core.analysis.ensemble_export.export_test` and
        :func:`~core.analysis.ensemble_export.recipe`.

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
            ids, p = read_member(path, label_names)
            probs.append(align(os.fspath(path), ids, p, gold_ids, gold_name))
    except DataError as exc:
        raise renamed(exc, shown) from exc
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
        run = RunDir(job.run_dir)
        summary = read_summary(run.path)
        dev = run.dev_predictions
        if summary is None or not dev.is_file() or summary.get("status") != "succeeded":
            continue
        if wanted is not None and summary.get("dataset_id") != wanted:
            continue
        test = run.test_predictions
        out.append(RunMember(job.id, job.name, str(run.path), str(dev), str(test) if test.is_file() else None, summary))
    return out


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
    label_names = submission_labels(info.schema_name, info.labels)
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
        ids, p = read_member(run.dev_path, label_names)
        if first_ids is None:
            first_ids = ids
            probs.append(p)
        else:
            probs.append(align(f"Run {run.label} ({run.dev_path})", ids, p, first_ids, f"run {runs[0].label}"))
    assert first_ids is not None
    frame = ws.current_frame(info.id, "train")
    labels_by_id = dict(zip(frame["id"].astype(str), frame["label"], strict=True))
    gone = [rid for rid in first_ids if rid not in labels_by_id]
    if gone:
        raise DataError(
            f"{len(gone)} dev id(s) of the runs are no longer in dataset {info.name!r} (dropped since training, "
            f"e.g. {examples(gone)}); retrain the runs or score them against a gold file instead."
        )
    index = {name: i for i, name in enumerate(label_names)}
    bad = [rid for rid in first_ids if labels_by_id[rid] is None or pd.isna(labels_by_id[rid])]
    bad += [rid for rid in first_ids if rid not in bad and labels_by_id[rid] not in index]
    if bad:
        raise DataError(f"Dataset {info.name!r}: dev row(s) without a known label, e.g. {examples(bad)}.")
    return MemberSet(
        names=_unique_names([r.label for r in runs]),
        ids=tuple(first_ids),
        labels=np.array([index[labels_by_id[rid]] for rid in first_ids], dtype=np.int64),
        probs=np.stack(probs),
        label_names=label_names,
        sources=tuple(r.dev_path for r in runs),
        test_paths=tuple(r.test_path for r in runs),
    )


__all__ = [
    "MemberSet",
    "RunMember",
    "align",
    "examples",
    "finished_runs",
    "members_from_files",
    "members_from_runs",
    "read_member",
    "renamed",
]
