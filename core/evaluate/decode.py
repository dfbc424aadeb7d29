"""A decoding rule chosen in the Evaluate view, applied to any probability matrix (dev to check it, test to
export it): the entity-type restriction first (it changes the probabilities), then the no_relation threshold
(it changes only which label is predicted). The submission keeps both: ``pred_label`` from the rule, ``probs``
after the restriction (KLUE scores the first with micro-F1 and the second with AUPRC)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

import numpy as np
import numpy.typing as npt

from core.common.schema import NO_RELATION
from core.evaluate.restriction import Restriction, restrict
from core.evaluate.threshold import MODES, apply_threshold
from core.train.metrics import write_submission
from core.train.restriction import AllowedRelations

__all__ = ["Decoded", "DecodingRule", "decode", "write_decoded"]


@dataclass(frozen=True)
class DecodingRule:
    """``threshold`` (None: argmax) in ``mode`` (``probability`` or ``margin``), and whether to restrict."""

    threshold: float | None = None
    mode: str = "probability"
    restrict: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}.")

    @property
    def is_identity(self) -> bool:
        return self.threshold is None and not self.restrict

    def describe(self) -> str:
        parts = []
        if self.restrict:
            parts.append("entity-type restriction")
        if self.threshold is not None:
            parts.append(f"no_relation unless the best relation's {self.mode} reaches {self.threshold:.3f}")
        return "; ".join(parts) or "argmax (no rule)"


@dataclass(frozen=True)
class Decoded:
    """The rule's output: probabilities (restricted), predictions, and the restriction's record (or None)."""

    probs: np.ndarray
    preds: np.ndarray
    restriction: Restriction | None


def decode(
    probs: npt.ArrayLike,
    *,
    labels: Sequence[str],
    rule: DecodingRule,
    subj_types: Sequence[str] | np.ndarray | None = None,
    obj_types: Sequence[str] | np.ndarray | None = None,
    allowed: AllowedRelations | None = None,
) -> Decoded:
    """Apply ``rule`` to ``probs`` (columns in ``labels`` order); the restriction needs the rows' types and the
    allowed relations, and is refused without them."""
    p = np.asarray(probs, dtype=np.float64)
    names = tuple(labels)
    no_relation = names.index(NO_RELATION) if NO_RELATION in names else 0
    restriction = None
    if rule.restrict:
        if subj_types is None or obj_types is None or allowed is None:
            raise ValueError("the entity-type restriction needs the rows' entity types and the training rows.")
        restriction = restrict(p, subj_types, obj_types, allowed)
        p = restriction.probs
    if rule.threshold is None:
        preds = p.argmax(axis=1)
    else:
        preds = apply_threshold(p, threshold=rule.threshold, mode=rule.mode, no_relation=no_relation)
    return Decoded(p, preds, restriction)


def write_decoded(
    out: str | os.PathLike[str] | IO[str],
    ids: Sequence[str],
    probs: npt.ArrayLike,
    *,
    labels: Sequence[str],
    rule: DecodingRule,
    subj_types: Sequence[str] | np.ndarray | None = None,
    obj_types: Sequence[str] | np.ndarray | None = None,
    allowed: AllowedRelations | None = None,
) -> Decoded:
    """:func:`decode` and write the submission (``id,pred_label,probs``) to ``out``; returns what was written."""
    decoded = decode(probs, labels=labels, rule=rule, subj_types=subj_types, obj_types=obj_types, allowed=allowed)
    write_submission(out, ids, decoded.probs, label_names=labels, preds=decoded.preds)
    return decoded
