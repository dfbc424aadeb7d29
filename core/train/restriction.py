"""Entity-type restriction: the relations each (subject type, object type) pair was seen with in training.

:func:`allowed_relations` (or :func:`allowed_table` over a frame) builds the table from training rows:
per type pair, the classes seen with it, ``no_relation`` always among them. A pair that never occurs in
the training rows is *unseen*: nothing is known about it, so it is never restricted.

The table serves two places, built by this one function:

- training with ``restrict_types`` (:class:`core.train.model.REModel` masks the logits of the relations a
  row's pair never had, in the loss and at prediction; the table is saved next to ``re_head.json`` as
  ``restriction.json`` by :func:`save_allowed`, and :func:`load_allowed` gives it back to every later
  reader of the run: prediction files, Explain);
- decoding-time restriction over any probability matrix (:mod:`core.evaluate.restriction`).

Pure functions over arrays and frames; no torch here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.common.atomic import atomic_write_text
from core.common.errors import RestudioError
from core.common.schema import NO_RELATION
from core.store.runs import HEAD_FILE, RESTRICTION_FILE, RunDir

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "RESTRICTION_FILE",
    "AllowedRelations",
    "RestrictionFileError",
    "allowed_relations",
    "allowed_table",
    "load_allowed",
    "save_allowed",
    "unseen_counts",
]

#: Bumped when the layout of ``restriction.json`` changes.
RESTRICTION_VERSION = 1


class RestrictionFileError(RestudioError, ValueError):
    """A run's ``restriction.json`` is missing, unreadable or does not fit the run's labels."""


@dataclass(frozen=True)
class AllowedRelations:
    """Per type pair, which classes a row with that pair may be given.

    ``pairs[i]`` is a ``(subject type, object type)``; ``mask[i, c]`` whether class ``c`` (of
    ``label_names``) was seen with it in training (``no_relation`` is always True).
    """

    label_names: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]
    mask: np.ndarray

    def allowed(self, subj_type: str, obj_type: str) -> tuple[str, ...] | None:
        """The labels allowed for a pair, or None for a pair never seen in training (unrestricted)."""
        try:
            i = self.pairs.index((subj_type, obj_type))
        except ValueError:
            return None
        return tuple(name for name, ok in zip(self.label_names, self.mask[i], strict=True) if ok)

    def to_dict(self) -> dict[str, list[str]]:
        """``"SUBJ-OBJ"`` -> the allowed labels, for JSON."""
        return {f"{s}-{o}": list(self.allowed(s, o) or ()) for s, o in self.pairs}

    def pair_index(self, subj_types: Sequence[str] | np.ndarray, obj_types: Sequence[str] | np.ndarray) -> np.ndarray:
        """Each row's index into :attr:`pairs`, -1 for a pair never seen in training."""
        s = np.asarray(subj_types, dtype=object).astype(str)
        o = np.asarray(obj_types, dtype=object).astype(str)
        if s.shape != o.shape or s.ndim != 1:
            raise ValueError(f"subj_types and obj_types must be 1-D of one length; got {s.shape}, {o.shape}.")
        where = {pair: i for i, pair in enumerate(self.pairs)}
        return np.array([where.get(pair, -1) for pair in zip(s.tolist(), o.tolist(), strict=True)], dtype=np.int64)

    def row_mask(self, subj_types: Sequence[str] | np.ndarray, obj_types: Sequence[str] | np.ndarray) -> np.ndarray:
        """``(n, classes)`` booleans: the classes each row may be given (all of them for an unseen pair)."""
        index = self.pair_index(subj_types, obj_types)
        padded = np.vstack([self.mask, np.ones((1, len(self.label_names)), dtype=bool)])
        return padded[index]  # -1 picks the all-True last row

    def in_order(self, label_names: Sequence[str]) -> AllowedRelations:
        """The same table with its columns in ``label_names`` order (a model's order); a label the table
        does not know is allowed nowhere but ``no_relation`` is allowed everywhere."""
        names = tuple(label_names)
        if names == self.label_names:
            return self
        index = {name: i for i, name in enumerate(self.label_names)}
        mask = np.zeros((len(self.pairs), len(names)), dtype=bool)
        for j, name in enumerate(names):
            if name in index:
                mask[:, j] = self.mask[:, index[name]]
            elif name == NO_RELATION:
                mask[:, j] = True
        return AllowedRelations(names, self.pairs, mask)

    def to_json(self) -> dict[str, Any]:
        """The table as ``restriction.json`` holds it: labels by name, so no label order is assumed."""
        return {
            "version": RESTRICTION_VERSION,
            "labels": list(self.label_names),
            "pairs": [
                {"subj_type": s, "obj_type": o, "allowed": list(self.allowed(s, o) or ())} for s, o in self.pairs
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AllowedRelations:
        """Inverse of :meth:`to_json`; ``ValueError`` for anything of another shape."""
        if not isinstance(data, Mapping) or int(data.get("version", 0)) != RESTRICTION_VERSION:
            raise ValueError(f"not a version-{RESTRICTION_VERSION} restriction table")
        names = tuple(str(x) for x in data["labels"])
        index = {name: i for i, name in enumerate(names)}
        pairs = []
        mask = np.zeros((len(data["pairs"]), len(names)), dtype=bool)
        for i, entry in enumerate(data["pairs"]):
            pairs.append((str(entry["subj_type"]), str(entry["obj_type"])))
            for name in entry["allowed"]:
                if name not in index:
                    raise ValueError(f"pair {pairs[-1]} allows {name!r}, which is not among its labels")
                mask[i, index[name]] = True
        return cls(names, tuple(pairs), mask)


def allowed_relations(
    subj_types: Sequence[str] | np.ndarray,
    obj_types: Sequence[str] | np.ndarray,
    labels: Sequence[str] | np.ndarray,
    *,
    label_names: Sequence[str],
) -> AllowedRelations:
    """The relations seen with each type pair in the training rows (one entry per row).

    ``labels`` are label names; a name outside ``label_names`` (or missing) allows nothing more.
    """
    s = np.asarray(subj_types, dtype=object).astype(str)
    o = np.asarray(obj_types, dtype=object).astype(str)
    lab = np.asarray(labels, dtype=object)
    if not (s.shape == o.shape == lab.shape) or s.ndim != 1:
        raise ValueError(
            f"subj_types, obj_types and labels must be 1-D of one length; got {s.shape}, {o.shape}, {lab.shape}."
        )
    names = tuple(label_names)
    index = {name: i for i, name in enumerate(names)}
    keys = np.char.add(np.char.add(s, "\t"), o) if s.size else np.zeros(0, dtype=str)
    unique, code = np.unique(keys, return_inverse=True)
    pairs = tuple(tuple(k.split("\t", 1)) for k in unique.tolist())
    cls = np.array([index.get(x, -1) if isinstance(x, str) else -1 for x in lab.tolist()], dtype=np.int64)
    mask = np.zeros((len(pairs), len(names)), dtype=bool)
    known = cls >= 0
    mask[code[known], cls[known]] = True
    if NO_RELATION in index:
        mask[:, index[NO_RELATION]] = True
    return AllowedRelations(names, pairs, mask)  # type: ignore[arg-type]


def allowed_table(frame: pd.DataFrame, labels: Sequence[str]) -> AllowedRelations:
    """:func:`allowed_relations` over a canonical frame's ``subj_type``, ``obj_type`` and ``label`` columns."""
    return allowed_relations(
        frame["subj_type"].astype(str).to_numpy(dtype=object),
        frame["obj_type"].astype(str).to_numpy(dtype=object),
        frame["label"].astype(object).to_numpy(dtype=object),
        label_names=labels,
    )


def unseen_counts(allowed: AllowedRelations, parts: Mapping[str, pd.DataFrame | None]) -> dict[str, int]:
    """Rows of each frame whose type pair the table never saw (left unrestricted); absent frames are left out."""
    return {
        part: int((allowed.pair_index(frame["subj_type"], frame["obj_type"]) < 0).sum())
        for part, frame in parts.items()
        if frame is not None
    }


def _checkpoint_folder(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    return path if (path / HEAD_FILE).exists() or not RunDir(path).checkpoint.is_dir() else RunDir(path).checkpoint


def save_allowed(allowed: AllowedRelations, folder: str | os.PathLike[str]) -> Path:
    """Write ``restriction.json`` into a checkpoint folder (atomically); returns its path."""
    path = Path(folder) / RESTRICTION_FILE
    atomic_write_text(path, lambda fh: json.dump(allowed.to_json(), fh, ensure_ascii=False, indent=1))
    path.chmod(0o644)  # runs are shared with the team
    return path


def load_allowed(run_or_checkpoint: str | os.PathLike[str]) -> AllowedRelations | None:
    """The table a run trained with (a run folder or its ``checkpoint/``), or None for an unrestricted run.

    Raises
    ------
    RestrictionFileError
        ``re_head.json`` says the run is restricted but ``restriction.json`` is missing or does not read.
    """
    folder = _checkpoint_folder(run_or_checkpoint)
    head = folder / HEAD_FILE
    try:
        meta = json.loads(head.read_text(encoding="utf-8")) if head.exists() else {}
    except (OSError, ValueError):
        meta = {}
    path = folder / RESTRICTION_FILE
    # The head file decides (a file left over from an earlier attempt does not make a run restricted).
    if not (meta.get("restriction") if head.exists() else path.exists()):
        return None
    try:
        return AllowedRelations.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise RestrictionFileError(
            f"{path.name}: missing from the checkpoint of a type-restricted run (its {HEAD_FILE} names it)."
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RestrictionFileError(f"{path.name}: not a restriction table ({exc}).") from None
