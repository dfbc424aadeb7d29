"""Evaluation of relation classifiers' probabilities: pure functions over (gold, probabilities, rows).

One concern per module: :mod:`~core.evaluate.scores` (headline figures and the bootstrap),
:mod:`~core.evaluate.confusion`, :mod:`~core.evaluate.slices` (per relation, per slice, direction errors),
:mod:`~core.evaluate.threshold` (the no_relation threshold), :mod:`~core.evaluate.restriction` (entity-type
restriction), :mod:`~core.evaluate.calibration`, :mod:`~core.evaluate.compare` (two runs), and
:mod:`~core.evaluate.report` (files in, the JSON of ``python -m core evaluate`` out).
"""

from core.evaluate.calibration import (
    Reliability,
    TemperatureStudy,
    apply_temperature,
    fit_temperature,
    reliability,
    temperature_study,
)
from core.evaluate.compare import Comparison, compare_runs, verdict
from core.evaluate.confusion import Confusion, cell_rows, confusion_matrix
from core.evaluate.report import evaluate_arrays, evaluate_files
from core.evaluate.restriction import (
    AllowedRelations,
    Restriction,
    RestrictionEffect,
    allowed_relations,
    restrict,
    restriction_effect,
)
from core.evaluate.scores import (
    Headline,
    Interval,
    PairedDifference,
    bootstrap_counts,
    headline,
    paired_difference,
    weighted_auprc,
)
from core.evaluate.slices import direction_errors, length_buckets, per_class, slice_scores
from core.evaluate.threshold import apply_threshold, choose_threshold, threshold_curve, threshold_study

__all__ = [
    "AllowedRelations",
    "Comparison",
    "Confusion",
    "Headline",
    "Interval",
    "PairedDifference",
    "Reliability",
    "Restriction",
    "RestrictionEffect",
    "TemperatureStudy",
    "allowed_relations",
    "apply_temperature",
    "apply_threshold",
    "bootstrap_counts",
    "cell_rows",
    "choose_threshold",
    "compare_runs",
    "confusion_matrix",
    "direction_errors",
    "evaluate_arrays",
    "evaluate_files",
    "fit_temperature",
    "headline",
    "length_buckets",
    "paired_difference",
    "per_class",
    "reliability",
    "restrict",
    "restriction_effect",
    "slice_scores",
    "temperature_study",
    "threshold_curve",
    "threshold_study",
    "verdict",
    "weighted_auprc",
]
