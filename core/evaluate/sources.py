"""What the Evaluate view scores: a probability matrix with its gold labels and rows, from a workspace run, an
ensemble of runs, or uploaded files.

An :class:`EvalSet` is plain data (ids, gold class indices, probabilities, label order, and the predicted rows
as a frame with types, sources and sentences for the slices and the row lists), so every analysis of
:mod:`core.evaluate` runs on it the same way whatever its origin. The allowed relations per type pair (for
the entity-type restriction) come from the rows the model learned from: a run's split train rows at the
revision it trained on, or an uploaded training file.

Gold for a run's dev predictions is the dev labels at the revision the run trained on (what it was scored
against) or at the dataset's current revision (after later corrections); :func:`run_sets` gives both when
they differ, so a cleaning's effect on the figures is visible and not mistaken for the model's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.common.schema import KLUE_SCHEMA, DataError, LabelSchema
from core.evaluate.report import RowInfo, read_allowed, read_rows
from core.train.restriction import AllowedRelations, allowed_relations, load_allowed

__all__ = ["EvalSet", "TestPredictions", "ensemble_set", "row_info", "run_sets", "test_predictions", "upload_set"]

#: Columns of :attr:`EvalSet.rows` (the frame the row lists and slices read).
ROW_COLUMNS = ("id", "sentence", "subj_word", "subj_start", "subj_end", "subj_type", "obj_word", "obj_start",
               "obj_end", "obj_type", "source")  # fmt: skip


@dataclass(frozen=True)
class EvalSet:
    """One set of predictions to evaluate.

    ``gold[i]`` and ``probs[i]`` belong to ``ids[i]``; ``probs`` columns follow ``labels``. ``rows`` (or None,
    for uploads without a data file) holds :data:`ROW_COLUMNS` for the same ids in the same order.
    ``allowed``: the relations seen per type pair in the rows the model learned from (None: unknown).
    ``job_ids``: the runs behind it (one for a run, several for an ensemble), for links to Explain.
    """

    name: str
    part: str
    ids: tuple[str, ...]
    gold: np.ndarray
    probs: np.ndarray
    labels: tuple[str, ...]
    rows: pd.DataFrame | None = None
    allowed: AllowedRelations | None = None
    dataset: str | None = None
    dataset_id: int | None = None
    revision: int | None = None
    job_ids: tuple[int, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def n(self) -> int:
        return len(self.ids)


def row_info(rows: pd.DataFrame | None) -> RowInfo | None:
    """The slices' view of an :attr:`EvalSet.rows` frame."""
    if rows is None:
        return None
    return RowInfo(
        subj_types=rows["subj_type"].astype(str).to_numpy(dtype=object),
        obj_types=rows["obj_type"].astype(str).to_numpy(dtype=object),
        sources=rows["source"].fillna("").astype(str).replace("", "(none)").to_numpy(dtype=object),
        lengths=rows["sentence"].astype(str).str.len().to_numpy(),
    )


def _rows_for(frame: pd.DataFrame, ids: Sequence[str]) -> pd.DataFrame:
    by_id = frame.assign(id=frame["id"].astype(str)).drop_duplicates("id").set_index("id", drop=False)
    out = by_id.reindex(list(ids))
    if "source" not in out:
        out["source"] = ""
    return out[[c for c in ROW_COLUMNS if c in out.columns]].reset_index(drop=True)


def _gold(frame: pd.DataFrame, ids: Sequence[str], labels: Sequence[str], what: str) -> np.ndarray:
    index = {name: i for i, name in enumerate(labels)}
    by_id = dict(zip(frame["id"].astype(str), frame["label"], strict=False))
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise DataError(f"{what}: {len(missing)} predicted id(s) are not in the dataset, e.g. {missing[:5]}.")
    unknown = [i for i in ids if by_id[i] not in index]
    if unknown:
        raise DataError(f"{what}: {len(unknown)} row(s) have no known gold label, e.g. {unknown[:5]}.")
    return np.array([index[by_id[i]] for i in ids], dtype=np.int64)


def _learned(ws: Any, dataset_id: int, frame: pd.DataFrame, split: str | None, labels: Sequence[str]) -> Any:
    """The relations seen per type pair in ``frame``'s rows of the split's train ids (what the model learned)."""
    found = ws.split(dataset_id, split or "default")
    train_ids = set(map(str, found.train_ids)) if found is not None else set()
    learned = frame[frame["id"].astype(str).isin(train_ids)]
    return allowed_relations(
        learned["subj_type"].astype(str).to_numpy(dtype=object),
        learned["obj_type"].astype(str).to_numpy(dtype=object),
        learned["label"].astype(str).to_numpy(dtype=object),
        label_names=labels,
    )


def run_sets(root: str | os.PathLike[str], job_id: int) -> list[EvalSet]:
    """The evaluable sets of a finished training job: its dev predictions against the dev labels at the
    revision it trained on and, when they differ, at the current revision; its test predictions against the
    dataset's test labels when the test part has them.

    Raises
    ------
    DataError
        The job has no dev predictions (not a finished training run), or its dataset is gone.
    """
    from core.jobs import JobStore
    from core.store.runs import RunDir, read_summary
    from core.store.workspace import Workspace
    from core.train.metrics import read_submission
    from core.train.predict import submission_labels

    ws = Workspace(root)
    job = JobStore(ws.root).get_job(job_id)
    run = RunDir(job.run_dir)
    summary = read_summary(run.path) or {}
    if not run.dev_predictions.is_file() or summary.get("dataset_id") is None:
        raise DataError(f"Job #{job.id} ({job.name}) has no dev predictions to evaluate.")
    info = ws.dataset(int(summary["dataset_id"]))
    labels = submission_labels(info.schema_name, summary.get("labels") or info.labels)
    trained_at = int(summary.get("dataset_revision") or 0)
    current = ws.revision(info.id)
    then = ws.frame_at(info.id, "train", trained_at)
    now = ws.current_frame(info.id, "train") if current != trained_at else then
    # A run trained with the restriction has its exact table; any other run, the split's train rows it saw.
    allowed = load_allowed(run.path) or _learned(ws, info.id, then, summary.get("split"), labels)
    name = f"#{job.id} {job.name}"
    ids, probs = read_submission(run.dev_predictions, label_names=labels)
    base = EvalSet(
        name=f"{name} · dev, labels at revision {trained_at}",
        part="dev",
        ids=tuple(ids),
        gold=_gold(then, ids, labels, f"{name} dev"),
        probs=probs,
        labels=tuple(labels),
        rows=_rows_for(then, ids),
        allowed=allowed,
        dataset=info.name,
        dataset_id=info.id,
        revision=trained_at,
        job_ids=(job.id,),
    )
    out = [base]
    if current != trained_at:
        alive = set(now["id"].astype(str))
        keep = [i for i, rid in enumerate(ids) if rid in alive]
        kept_ids = [ids[i] for i in keep]
        gold_now = _gold(now, kept_ids, labels, f"{name} dev (current)")
        if len(keep) != len(ids) or not np.array_equal(gold_now, base.gold):
            dropped = len(ids) - len(keep)
            out.append(
                replace(
                    base,
                    name=f"{name} · dev, labels at the current revision {current}",
                    ids=tuple(kept_ids),
                    gold=gold_now,
                    probs=probs[keep],
                    rows=_rows_for(now, kept_ids),
                    revision=current,
                    notes=(f"{dropped} dev row(s) dropped since the run are left out.",) if dropped else (),
                )
            )
    if run.test_predictions.is_file() and "test" in info.parts:
        test = ws.current_frame(info.id, "test")
        if test["label"].notna().all() and len(test):
            test_ids, test_probs = read_submission(run.test_predictions, label_names=labels)
            out.append(
                replace(
                    base,
                    name=f"{name} · test",
                    part="test",
                    ids=tuple(test_ids),
                    gold=_gold(test, test_ids, labels, f"{name} test"),
                    probs=test_probs,
                    rows=_rows_for(test, test_ids),
                    revision=current,
                )
            )
    return out


def ensemble_set(
    root: str | os.PathLike[str],
    job_ids: Sequence[int],
    *,
    dataset: str | int,
    method: str = "soft",
    weights: Sequence[float] | None = None,
) -> EvalSet:
    """An ensemble of finished runs of one dataset (the Ensemble view's recipe: members, method, weights) on
    their shared dev rows, against the dev labels at the current revision (as the Ensemble view scores it)."""
    from core.analysis.ensemble import ensemble_probs
    from core.analysis.ensemble_members import finished_runs, members_from_runs
    from core.store.workspace import Workspace

    ws = Workspace(root)
    info = ws.dataset(dataset)
    by_id = {run.job_id: run for run in finished_runs(ws, info.id)}
    missing = [j for j in job_ids if j not in by_id]
    if missing:
        raise DataError(f"Job(s) {missing} are not finished runs of dataset {info.name!r} with dev predictions.")
    members = members_from_runs(ws, [by_id[j] for j in job_ids], dataset=info.id)
    w = [1.0] * members.size if weights is None else list(weights)
    _, scores = ensemble_probs(members, method=method, weights=w)
    frame = ws.current_frame(info.id, "train")
    allowed = _learned(ws, info.id, frame, by_id[job_ids[0]].summary.get("split"), members.label_names)
    names = " + ".join(f"#{j}" for j in job_ids)
    return EvalSet(
        name=f"ensemble {names} ({method}) · dev",
        part="dev",
        ids=tuple(members.ids),
        gold=members.labels,
        probs=scores,
        labels=tuple(members.label_names),
        rows=_rows_for(frame, members.ids),
        allowed=allowed,
        dataset=info.name,
        dataset_id=info.id,
        revision=ws.revision(info.id),
        job_ids=tuple(job_ids),
    )


def upload_set(
    pred_path: str | os.PathLike[str],
    gold_path: str | os.PathLike[str],
    *,
    rows_path: str | os.PathLike[str] | None = None,
    train_path: str | os.PathLike[str] | None = None,
    schema: LabelSchema = KLUE_SCHEMA,
    shown: dict[str, str] | None = None,
) -> EvalSet:
    """A submission file scored against a gold file (``id,label`` or a labeled data file), with the predicted
    rows' data file (slices, row lists) and a training file (the restriction's allowed relations) when given.
    ``shown`` maps a server path to the name the person uploaded it as (for the set's name)."""
    from core.data.loading import load_file
    from core.train.metrics import gold_order, read_gold, read_submission_with_labels

    labels = tuple(schema.labels)
    ids, probs, _ = read_submission_with_labels(pred_path, label_names=labels)
    gold_ids, gold_labels = read_gold(gold_path, schema=schema)
    order = gold_order(gold_ids, ids, gold_path=gold_path, pred_path=pred_path)
    ids = [ids[i] for i in order]
    probs = probs[order]
    rows = None
    if rows_path is not None:
        read_rows(rows_path, ids, schema=schema)  # refuses a bad row or missing ids with file/row/field
        rows = _rows_for(load_file(rows_path, schema=schema).frame, ids)
    allowed = read_allowed(train_path, schema=schema)[0] if train_path is not None else None
    names = shown or {}
    return EvalSet(
        name=f"{names.get(os.fspath(pred_path), Path(pred_path).name)} vs "
        f"{names.get(os.fspath(gold_path), Path(gold_path).name)}",
        part="upload",
        ids=tuple(ids),
        gold=np.asarray(gold_labels, dtype=np.int64),
        probs=probs,
        labels=labels,
        rows=rows,
        allowed=allowed,
    )


@dataclass(frozen=True)
class TestPredictions:
    """Test-part probabilities of a run or an ensemble (gold or not: real KLUE test labels are hidden), with the
    rows' types for the restriction: what an export applies the chosen rule to."""

    ids: tuple[str, ...]
    probs: np.ndarray
    labels: tuple[str, ...]
    rows: pd.DataFrame


def test_predictions(
    root: str | os.PathLike[str],
    job_ids: Sequence[int],
    *,
    dataset: str | int,
    method: str = "soft",
    weights: Sequence[float] | None = None,
) -> TestPredictions:
    """The test predictions of one run, or of an ensemble of runs combined as their dev ones are.

    Raises
    ------
    DataError
        The dataset has no test part, or a run has no test predictions.
    """
    import io

    from core.analysis.ensemble_export import export_test
    from core.analysis.ensemble_members import finished_runs, members_from_runs
    from core.store.workspace import Workspace

    ws = Workspace(root)
    info = ws.dataset(dataset)
    if "test" not in info.parts:
        raise DataError(f"Dataset {info.name!r} has no test part to export predictions for.")
    by_id = {run.job_id: run for run in finished_runs(ws, info.id)}
    missing = [j for j in job_ids if j not in by_id or by_id[j].test_path is None]
    if missing:
        raise DataError(f"Job(s) {missing} have no test predictions of dataset {info.name!r}.")
    members = members_from_runs(ws, [by_id[j] for j in job_ids], dataset=info.id)
    w = [1.0] * members.size if weights is None else list(weights)
    ids, probs = export_test(members, method=method, weights=w, out=io.StringIO())
    frame = ws.current_frame(info.id, "test")
    return TestPredictions(tuple(map(str, ids)), probs, tuple(members.label_names), _rows_for(frame, ids))
