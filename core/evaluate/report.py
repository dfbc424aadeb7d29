"""The evaluation report of ``python -m core evaluate``: files in, one JSON-ready dict out.

This module is the only one of the package that reads files. The gold file and the submission files are
read as ``python -m core score`` reads them (:func:`core.train.metrics.read_gold`,
:func:`core.train.metrics.read_submission_with_labels`, :func:`core.train.metrics.gold_order`), so a bad file
gets the same one-line message naming the file, row and field. The data file of the predicted rows
(``--rows``: types, sources, sentences for the slices and the restriction) and the training rows
(``--train``: the relations allowed per type pair) are read with :func:`core.data.loading.load_file`.
Every analysis is one of the package's pure functions over arrays; see :func:`evaluate_arrays`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.common.schema import KLUE_SCHEMA, NO_RELATION, DataError, LabelSchema
from core.data.loading import load_file
from core.evaluate.calibration import DEFAULT_BINS, reliability, temperature_study
from core.evaluate.compare import compare_runs
from core.evaluate.confusion import confusion_matrix
from core.evaluate.restriction import AllowedRelations, allowed_relations, restriction_effect
from core.evaluate.scores import DEFAULT_RESAMPLES, DEFAULT_SEED, Headline, headline
from core.evaluate.slices import direction_errors, length_buckets, per_class, slice_scores
from core.evaluate.threshold import DEFAULT_SEEDS, MODES, threshold_study
from core.train.metrics import gold_order, read_gold, read_submission_with_labels

_EXAMPLES = 5


@dataclass(frozen=True)
class RowInfo:
    """What the slices and the restriction need of the predicted rows, in gold order."""

    subj_types: np.ndarray
    obj_types: np.ndarray
    sources: np.ndarray
    lengths: np.ndarray


def _examples(values: Sequence[str]) -> str:
    shown = ", ".join(repr(v) for v in values[:_EXAMPLES])
    return f"{shown}, ..." if len(values) > _EXAMPLES else shown


def read_rows(path: str | os.PathLike[str], ids: Sequence[str], *, schema: LabelSchema = KLUE_SCHEMA) -> RowInfo:
    """The predicted rows' types, sources and sentence lengths, in the order of ``ids``.

    Raises
    ------
    DataError
        The file cannot be read, a row of it is invalid (named by row and field, as a gold file's would
        be), or it lacks some of ``ids``.
    """
    name = os.fspath(path)
    result = load_file(path, schema=schema)
    if result.invalid:
        first = result.invalid[0]
        more = f" (and {len(result.invalid) - 1} more problems)" if len(result.invalid) > 1 else ""
        raise DataError(f"{name}: row {first.row}, field {first.field}: {first.reason}{more}.")
    frame = result.frame
    position = pd.Index(frame["id"].astype(str))
    where = position.get_indexer(pd.Index(list(ids)))
    if (where < 0).any():
        missing = [ids[i] for i in np.flatnonzero(where < 0).tolist()]
        raise DataError(
            f"{name} lacks {len(missing)} of the {len(ids)} predicted ids (e.g. {_examples(missing)}); "
            "--rows must be the data file of the predicted rows."
        )
    picked = frame.iloc[where]
    return RowInfo(
        subj_types=picked["subj_type"].astype(str).to_numpy(dtype=object),
        obj_types=picked["obj_type"].astype(str).to_numpy(dtype=object),
        sources=picked["source"].fillna("").astype(str).replace("", "(none)").to_numpy(dtype=object),
        lengths=picked["sentence"].astype(str).str.len().to_numpy(dtype=np.int64),
    )


def read_allowed(
    path: str | os.PathLike[str], *, schema: LabelSchema = KLUE_SCHEMA
) -> tuple[AllowedRelations, int, int]:
    """The relations allowed per type pair by a training file: ``(allowed, rows used, invalid rows skipped)``.

    Invalid rows of the training file are left out, as training leaves them out; unlabeled rows teach
    nothing about relations and are left out too.

    Raises
    ------
    DataError
        The file cannot be read, or it has no labeled row.
    """
    result = load_file(path, schema=schema)
    frame = result.frame[result.frame["label"].notna()]
    if frame.empty:
        raise DataError(f"{os.fspath(path)} has no labeled row to learn the allowed relations from.")
    allowed = allowed_relations(
        frame["subj_type"].astype(str).to_numpy(dtype=object),
        frame["obj_type"].astype(str).to_numpy(dtype=object),
        frame["label"].astype(str).to_numpy(dtype=object),
        label_names=schema.labels,
    )
    return allowed, len(frame), result.n_invalid_rows


def evaluate_arrays(
    gold: np.ndarray,
    probs: np.ndarray,
    *,
    label_names: Sequence[str],
    ids: Sequence[str] | None = None,
    rows: RowInfo | None = None,
    allowed: AllowedRelations | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    bins: int = DEFAULT_BINS,
) -> tuple[dict[str, Any], Headline]:
    """Every analysis of one probability matrix against ``gold``, as a JSON-ready dict (and its headline).

    ``rows`` adds the slices (type pair, source, sentence length); ``rows`` and ``allowed`` together add
    the type restriction. Row lists name rows by ``ids`` when given, else by index.
    """
    names = tuple(label_names)
    nr = names.index(NO_RELATION) if NO_RELATION in names else 0
    pred = probs.argmax(axis=1)
    head = headline(gold, probs, no_relation=nr, resamples=resamples, seed=seed)
    out: dict[str, Any] = head.to_dict()
    out["confusion"] = confusion_matrix(gold, pred, label_names=names).to_dict()
    out["per_class"] = [c.to_dict() for c in per_class(gold, pred, label_names=names)]
    out["direction_errors"] = direction_errors(gold, pred, label_names=names).to_dict(ids)
    # five half splits, seeded from the bootstrap seed so that one --seed moves every random choice
    splits = tuple(range(seed, seed + len(DEFAULT_SEEDS)))
    out["threshold"] = {
        mode: threshold_study(gold, probs, mode=mode, no_relation=nr, seeds=splits).to_dict() for mode in MODES
    }
    calibration = reliability(gold, probs, bins=bins).to_dict()
    calibration["temperature"] = temperature_study(gold, probs, seed=seed, bins=bins).to_dict()
    out["calibration"] = calibration
    if rows is not None:
        pairs = np.char.add(np.char.add(rows.subj_types.astype(str), "-"), rows.obj_types.astype(str))
        out["slices"] = {
            "type_pair": [s.to_dict() for s in slice_scores(gold, pred, pairs, no_relation=nr)],
            "source": [s.to_dict() for s in slice_scores(gold, pred, rows.sources, no_relation=nr)],
            "sentence_length": [
                s.to_dict() for s in slice_scores(gold, pred, length_buckets(rows.lengths), no_relation=nr)
            ],
        }
        if allowed is not None:
            effect = restriction_effect(
                gold,
                probs,
                rows.subj_types,
                rows.obj_types,
                allowed,
                no_relation=nr,
                resamples=resamples,
                seed=seed,
                before=head,
            )
            out["restriction"] = effect.to_dict(ids)
    return out, head


def _unique_names(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for path in paths:
        stem = Path(path).stem
        seen[stem] = seen.get(stem, 0) + 1
        out.append(stem if seen[stem] == 1 else f"{stem} ({seen[stem]})")
    return out


def evaluate_files(
    gold_path: str | os.PathLike[str],
    pred_paths: Sequence[str | os.PathLike[str]],
    *,
    rows_path: str | os.PathLike[str] | None = None,
    train_path: str | os.PathLike[str] | None = None,
    schema: LabelSchema = KLUE_SCHEMA,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """Evaluate submission files against a gold file.

    Parameters
    ----------
    gold_path : path
        An ``id,label`` CSV or a labeled dataset file.
    pred_paths : sequence of paths
        Submission CSVs (``id,pred_label,probs``) on the gold ids, ``probs`` in ``schema.labels`` order.
    rows_path : path, keyword-only
        The data file of the predicted rows (for the slices; with ``train_path``, the restriction).
    train_path : path, keyword-only
        Training rows: the relations allowed per type pair. Needs ``rows_path``.
    schema, resamples, seed : keyword-only

    Returns
    -------
    dict
        One file: its report (:func:`evaluate_arrays`, plus ``file``, ``name`` and
        ``pred_label_mismatches``). Several: ``{"runs": [report, ...], "compare": [...]}`` with one
        comparison per pair of files (``b`` the later file), see :class:`core.evaluate.compare.Comparison`.

    Raises
    ------
    DataError
        A bad file (named with its row and field), ids that differ from the gold ids, or ``train_path``
        without ``rows_path``.
    """
    if not pred_paths:
        raise DataError("evaluate needs at least one prediction file.")
    if train_path is not None and rows_path is None:
        raise DataError("--train needs --rows: the type restriction needs the entity types of the predicted rows.")
    gold_ids, gold = read_gold(gold_path, schema=schema)
    label_names = tuple(schema.labels)
    runs = []
    for path in pred_paths:
        pred_ids, probs, pred_labels = read_submission_with_labels(path, label_names)
        order = gold_order(gold_ids, pred_ids, gold_path=gold_path, pred_path=path)
        aligned = probs[order]
        mismatches = 0
        if pred_labels is not None:
            argmax_names = np.asarray(label_names, dtype=object)[aligned.argmax(axis=1)]
            mismatches = int(np.count_nonzero(np.asarray(pred_labels, dtype=object)[order] != argmax_names))
        runs.append((os.fspath(path), aligned, mismatches))
    rows = read_rows(rows_path, gold_ids, schema=schema) if rows_path is not None else None
    allowed = None
    train_info: dict[str, Any] = {}
    if train_path is not None:
        allowed, used, skipped = read_allowed(train_path, schema=schema)
        train_info = {"train_rows": used, "train_invalid_rows": skipped}
    names = _unique_names(pred_paths)
    reports, heads = [], []
    for name, (path, probs, mismatches) in zip(names, runs, strict=True):
        report, head = evaluate_arrays(
            gold,
            probs,
            label_names=label_names,
            ids=gold_ids,
            rows=rows,
            allowed=allowed,
            resamples=resamples,
            seed=seed,
        )
        if "restriction" in report:
            report["restriction"].update(train_info)
        reports.append({"file": path, "name": name, **report, "pred_label_mismatches": mismatches})
        heads.append(head)
    if len(reports) == 1:
        return reports[0]
    nr = label_names.index(NO_RELATION) if NO_RELATION in label_names else 0
    comparisons = []
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            result = compare_runs(
                gold,
                runs[i][1],
                runs[j][1],
                names=(names[i], names[j]),
                label_names=label_names,
                no_relation=nr,
                resamples=resamples,
                seed=seed,
                headlines=(heads[i], heads[j]),
            )
            comparisons.append(result.to_dict(ids=gold_ids, gold=gold, label_names=label_names))
    return {"runs": reports, "compare": comparisons}


def report_to_text(report: dict[str, Any]) -> str:
    """A short human summary of :func:`evaluate_files`' result (the JSON has everything)."""
    lines: list[str] = []
    runs = report.get("runs", [report])
    for run in runs:
        boot = run["bootstrap"]
        lines.append(
            f"{run['name']} ({run['n']:,} rows; {boot['level']:.0%} bootstrap intervals, "
            f"{boot['resamples']:,} resamples)"
        )
        for key, title in (
            ("micro_f1", "micro-F1 (no_relation excluded)"),
            ("auprc", "AUPRC"),
            ("accuracy", "accuracy"),
        ):
            low, high = run[f"{key}_ci"]
            lines.append(f"  {title}: {run[key]:.2f} ({low:.2f}..{high:.2f})")
        worst = sorted((c for c in run["per_class"] if c["support"]), key=lambda c: c["f1"])[:3]
        if worst:
            lines.append("  weakest relations: " + ", ".join(f"{c['label']} {c['f1']:.1f}" for c in worst))
        lines.append(f"  direction errors (inverse relation predicted): {run['direction_errors']['count']}")
        for mode, study in run["threshold"].items():
            lines.append(
                f"  no_relation threshold ({mode}): t = {study['threshold']:.3g}; held-out gain "
                f"{study['heldout_gain_mean']:+.2f} (sd {study['heldout_gain_std']:.2f}, {len(study['splits'])} splits)"
            )
        temp = run["calibration"]["temperature"]
        lines.append(
            f"  calibration: ECE {run['calibration']['ece']:.4f}; temperature {temp['temperature']:.3g} "
            f"takes held-out ECE {temp['ece_before']:.4f} -> {temp['ece_after']:.4f}"
        )
        if "restriction" in run:
            r = run["restriction"]
            lines.append(
                f"  type restriction: {r['changed']} predictions changed; micro-F1 {r['micro_f1_delta']:+.2f} "
                f"({r['micro_f1_delta_ci'][0]:+.2f}..{r['micro_f1_delta_ci'][1]:+.2f}), AUPRC {r['auprc_delta']:+.2f} "
                f"({r['auprc_delta_ci'][0]:+.2f}..{r['auprc_delta_ci'][1]:+.2f})"
            )
        if run["pred_label_mismatches"]:
            lines.append(
                f"  note: {run['pred_label_mismatches']} rows have a pred_label that is not the argmax of probs"
            )
    for item in report.get("compare", []):
        lines.append(f"{item['b']} vs {item['a']}: {item['verdict']}; {item['disagreements']['count']} rows disagree")
    return "\n".join(lines)


__all__ = ["RowInfo", "evaluate_arrays", "evaluate_files", "read_allowed", "read_rows", "report_to_text"]
