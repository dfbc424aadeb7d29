"""Audit a relation-extraction dataset: distributions, duplicates, conflicts, offsets, type flags.

Everything here is a pure function over canonical frames (:data:`core.common.schema.COLUMNS`,
offsets with an INCLUSIVE end, ``label`` missing on unlabeled rows). The Data view and
the CLI's ``audit`` command both call :func:`audit` and render the :class:`AuditReport`
(:func:`report_to_json`, :func:`report_to_text`).

The detectors (duplicates, label conflicts, offset mismatches, type flags) look at the
*first* frame, ``train``; the optional ``test`` frame feeds the train-vs-test
distributions, their divergence and the overlap report. Audit a test file on its own by
passing it as the first frame.

Speed: load + audit has to stay cheaper than a plain ``read_csv`` + ``ast.literal_eval``
of the same file (``bench/audit.py``), so every detector works on integer codes (one
``pandas.factorize`` per string column, shared through :class:`core.data.audit_codes.Coded`) and numpy
arrays; the offset check compares UTF-32 code points in one gather
(:func:`core.data.audit_detectors.spells_word`). Python loops run only over rows already found faulty,
to word their messages and suggestions, and over the small (label, type) tables.

This module is the entry point: :func:`audit`, its :class:`AuditReport` and the renderings. The work
lives in three siblings: :mod:`core.data.audit_codes` (the integer codes),
:mod:`core.data.audit_distributions` (the distribution tables and their divergence) and
:mod:`core.data.audit_detectors` (the ``find_*`` detectors and their reports). :mod:`core.data.finders`
turns each flag kind of a report into the one findings table every finder returns; the report stays
the detailed result the CLI prints and the fixes work from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.common.schema import COLUMNS, KLUE_SCHEMA, InvalidRow, LabelSchema
from core.data.audit_codes import Coded
from core.data.audit_detectors import (
    TYPE_FLAG_COLUMNS,
    ConflictReport,
    DuplicateReport,
    OverlapReport,
    find_duplicates,
    find_label_conflicts,
    find_offset_mismatches,
    find_overlap,
    find_type_flags,
)
from core.data.audit_distributions import DISTRIBUTIONS, distribution, frame_counts, js_divergence

# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditReport:
    """Everything :func:`audit` found; see the module docstring for what looks at which frame."""

    counts: dict[str, Any]
    distributions: dict[str, pd.DataFrame]
    divergence: dict[str, float]
    duplicates: DuplicateReport
    label_conflicts: ConflictReport
    offset_mismatches: pd.DataFrame
    type_flags: pd.DataFrame
    overlap: OverlapReport | None
    minority_threshold: float
    schema_name: str

    @property
    def rows(self) -> int:
        return int(self.counts["rows"])

    @property
    def label_counts(self) -> dict[str, int]:
        return dict(self.counts["label_counts"])


def _check_columns(frame: pd.DataFrame, name: str) -> None:
    missing = [c for c in COLUMNS if c != "row" and c not in frame.columns]
    if missing:
        raise ValueError(
            f"audit: the {name} frame lacks column(s) {missing}; pass a canonical frame "
            "(core.data.loading.load_file(...).frame)."
        )


# --------------------------------------------------------------------------------------
# The audit
# --------------------------------------------------------------------------------------


def _counts(train: Coded, test: Coded | None, schema: LabelSchema) -> dict[str, Any]:
    label_codes, label_names = train.label()
    per_code = np.bincount(label_codes[label_codes >= 0], minlength=len(label_names))
    present = {label_names[i]: int(c) for i, c in enumerate(per_code.tolist()) if c}
    known = [label for label in schema.labels if label in present]
    unknown = sorted(label for label in present if label not in schema.label_to_id)
    labeled = int(per_code.sum())
    counts: dict[str, Any] = {
        "rows": train.n,
        "labeled_rows": labeled,
        "unlabeled_rows": train.n - labeled,
        "unique_sentences": len(pd.unique(train.raw("sentence"))),  # hash, not np.unique's sort
        "label_counts": {label: present[label] for label in [*known, *unknown]},
        "unknown_labels": unknown,
        "test_rows": None if test is None else test.n,
        "test_labeled_rows": None if test is None else int((test.label()[0] >= 0).sum()),
    }
    return counts


def audit(
    train: pd.DataFrame,
    test: pd.DataFrame | None = None,
    *,
    schema: LabelSchema = KLUE_SCHEMA,
    minority_threshold: float = 0.05,
) -> AuditReport:
    """Audit a canonical frame (and compare it with a test frame).

    Parameters
    ----------
    train : pandas.DataFrame
        Canonical frame (:data:`core.common.schema.COLUMNS`) whose rows the detectors check.
    test : pandas.DataFrame, optional
        Canonical frame compared with ``train`` (distributions, divergence, overlap).
        It may be unlabeled; its label-based distributions are then empty.
    schema : LabelSchema
        Supplies the label order, the types' tie-break order and the prefix rule.
    minority_threshold : float
        A type whose share of a label's rows (per role) is strictly below this is flagged.

    Returns
    -------
    AuditReport

    Raises
    ------
    ValueError
        When a frame lacks canonical columns or has missing offsets, or the threshold is
        outside [0, 1].
    """
    if not 0.0 <= minority_threshold <= 1.0:
        raise ValueError(f"audit: minority_threshold must be within [0, 1], got {minority_threshold}.")
    _check_columns(train, "train")
    train_c = Coded(train.reset_index(drop=True))
    test_c: Coded | None = None
    overlap: OverlapReport | None = None
    if test is not None:
        _check_columns(test, "test")
        test_c = Coded(test.reset_index(drop=True))
        overlap = find_overlap(train_c, test_c)

    distributions: dict[str, pd.DataFrame] = {}
    divergence: dict[str, float] = {}
    for name in DISTRIBUTIONS:
        train_counts = frame_counts(train_c, name) if train_c.n else None
        test_counts = frame_counts(test_c, name) if test_c is not None and test_c.n else None
        distributions[name] = distribution(name, train_counts, test_counts, schema)
        divergence[name] = js_divergence(distributions[name])

    return AuditReport(
        counts=_counts(train_c, test_c, schema),
        distributions=distributions,
        divergence=divergence,
        duplicates=find_duplicates(train_c),
        label_conflicts=find_label_conflicts(train_c),
        offset_mismatches=find_offset_mismatches(train_c),
        type_flags=find_type_flags(train_c, schema=schema, minority_threshold=minority_threshold),
        overlap=overlap,
        minority_threshold=minority_threshold,
        schema_name=schema.name,
    )


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON-ready copy: numpy scalars to Python, NaN and pandas' NA to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return _plain(frame.astype(object).to_dict(orient="records"))


def report_to_json(report: AuditReport, *, invalid_rows: Iterable[InvalidRow] = ()) -> dict[str, Any]:
    """The CLI's ``--json`` object: plain Python values only (no numpy, NaN written as null)."""
    offsets = report.offset_mismatches
    flags = report.type_flags
    overlap = report.overlap
    payload: dict[str, Any] = {
        "schema": report.schema_name,
        "rows": report.rows,
        "invalid_rows": [{"row": r.row, "field": r.field, "reason": r.reason, "id": r.id} for r in invalid_rows],
        "label_counts": report.label_counts,
        "counts": report.counts,
        "duplicates": {
            "groups": report.duplicates.groups,
            "extra_rows": report.duplicates.extra_rows,
            "id_groups": report.duplicates.id_groups,
        },
        "label_conflicts": {
            "groups": report.label_conflicts.groups,
            "rows": report.label_conflicts.rows,
            "id_groups": report.label_conflicts.id_groups,
            "labels": _records(report.label_conflicts.table[["group", "label", "count", "ids"]]),
        },
        # Ids once each (an id whose two entities are both off appears once); details below.
        "offset_mismatches": list(dict.fromkeys(offsets["id"].tolist())),
        "offset_mismatch_details": _records(offsets),
        "type_flags": _records(flags[list(TYPE_FLAG_COLUMNS)]),
        "minority_threshold": report.minority_threshold,
        "distributions": {name: _records(frame) for name, frame in report.distributions.items()},
        "divergence": dict(report.divergence),
        "overlap": None
        if overlap is None
        else {
            "shared_triples": overlap.shared_triples,
            "triple_train_ids": overlap.triple_train_ids,
            "triple_test_ids": overlap.triple_test_ids,
            "shared_sentences": overlap.shared_sentences,
            "sentence_train_ids": overlap.sentence_train_ids,
            "sentence_test_ids": overlap.sentence_test_ids,
        },
    }
    return _plain(payload)


def _head(items: Sequence[Any], limit: int) -> str:
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def report_to_text(report: AuditReport, *, invalid_rows: Iterable[InvalidRow] = (), limit: int = 10) -> str:
    """A readable plain-text summary (the CLI's default output); lists stop after ``limit`` items."""
    invalid = list(invalid_rows)
    counts = report.counts
    lines = [
        f"Rows: {counts['rows']:,} (labeled {counts['labeled_rows']:,}, "
        f"unlabeled {counts['unlabeled_rows']:,}); unique sentences {counts['unique_sentences']:,}; "
        f"invalid rows: {len({r.row for r in invalid}):,}",
    ]
    for r in invalid[:limit]:
        lines.append(f"  row {r.row}, {r.field}: {r.reason}")
    if len(invalid) > limit:
        lines.append(f"  ... {len(invalid) - limit} more")
    if counts["label_counts"]:
        labeled = max(1, counts["labeled_rows"])
        lines.append("Labels (most frequent first):")
        for label, count in sorted(counts["label_counts"].items(), key=lambda kv: -kv[1])[:limit]:
            lines.append(f"  {label:<40} {count:>9,}  {count / labeled:6.1%}")
        if len(counts["label_counts"]) > limit:
            lines.append(f"  ... {len(counts['label_counts']) - limit} more labels")
    if counts["unknown_labels"]:
        lines.append(f"Labels not in the {report.schema_name} schema: {_head(counts['unknown_labels'], limit)}")

    dup = report.duplicates
    lines.append(f"Exact duplicates: {dup.groups:,} groups, {dup.extra_rows:,} extra rows")
    for group in dup.id_groups[:limit]:
        lines.append(f"  ids {_head(group, 5)}")
    conf = report.label_conflicts
    lines.append(
        f"Label conflicts (same sentence and spans, different labels): {conf.groups:,} groups, {conf.rows:,} rows"
    )
    for g, group in conf.table.groupby("group", sort=True):
        if g >= limit:
            break
        labels = ", ".join(f"{lab} x{cnt}" for lab, cnt in zip(group["label"], group["count"], strict=True))
        lines.append(f"  ids {_head(conf.id_groups[g], 5)}: {labels}")
    off = report.offset_mismatches
    lines.append(f"Offset mismatches: {len(off):,} entities in {off['id'].nunique() if len(off) else 0:,} rows")
    for rec in off.head(limit).itertuples(index=False):
        lines.append(
            f"  id {rec.id} {rec.role} {rec.word!r} at {rec.start}-{rec.end} reads {rec.found!r}: {rec.reason}"
        )
    flags = report.type_flags
    lines.append(f"Type flags (threshold {report.minority_threshold:.0%}): {len(flags):,} entities, rarest first")
    for rec in flags.head(limit).itertuples(index=False):
        lines.append(f"  id {rec.id} {rec.role} {rec.type} -> {rec.suggested_type} [{rec.label}]: {rec.reason}")

    if counts["test_rows"] is not None:
        lines.append(f"Train vs test ({counts['test_rows']:,} test rows, {counts['test_labeled_rows']:,} labeled):")
        for name, value in report.divergence.items():
            shown = "n/a" if math.isnan(value) else f"{value:.4f}"
            lines.append(f"  Jensen-Shannon divergence of {name:<16} {shown}")
        ov = report.overlap
        if ov is not None:
            lines.append(
                f"  shared triples: {ov.shared_triples:,} ({len(ov.triple_train_ids):,} train rows, "
                f"{len(ov.triple_test_ids):,} test rows); shared sentences: {ov.shared_sentences:,} "
                f"({len(ov.sentence_train_ids):,} train rows, {len(ov.sentence_test_ids):,} test rows)"
            )
    return "\n".join(lines)
