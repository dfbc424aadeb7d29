"""The demo manifest: the record of every error injected into the demo train set, as ``manifest.json``.

:class:`DemoManifest` holds the seed, the sizes and one entry per injected error (:class:`TypeFlip`,
:class:`Duplicate`, :class:`LabelConflict`, :class:`OffsetError`, :class:`LabelFlip`), and writes and
reads ``manifest.json`` (:func:`load_manifest`). It is separate from the generator because it is what
detectors and tests consume: checking a detector against the truth needs only this file format, not the
numpy row generation, and it depends on nothing else in the demo.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from core.common.schema import DataError

__all__ = [
    "DemoManifest",
    "Duplicate",
    "LabelConflict",
    "LabelFlip",
    "OffsetError",
    "TypeFlip",
    "load_manifest",
]


@dataclass(frozen=True)
class TypeFlip:
    """An entity type changed to one that the row's label does not allow."""

    id: int
    role: str  # "subj" | "obj"
    original_type: str
    new_type: str


@dataclass(frozen=True)
class Duplicate:
    """An exact copy (all columns but ``id``) of train row ``copy_of``."""

    id: int
    copy_of: int


@dataclass(frozen=True)
class LabelConflict:
    """A copy of train row ``conflicts_with`` (same sentence, subject, object) with another label."""

    id: int
    conflicts_with: int
    label: str
    original_label: str


@dataclass(frozen=True)
class OffsetError:
    """An entity span moved so that ``sentence[start:end + 1]`` no longer equals the word."""

    id: int
    role: str  # "subj" | "obj"
    start: int
    end: int
    original_start: int
    original_end: int


@dataclass(frozen=True)
class LabelFlip:
    """A label replaced by another label at random; the entity types were left as they were."""

    id: int
    original_label: str
    new_label: str


KINDS: dict[str, type] = {
    "type_flips": TypeFlip,
    "duplicates": Duplicate,
    "label_conflicts": LabelConflict,
    "offset_errors": OffsetError,
    "label_flips": LabelFlip,
}


@dataclass(frozen=True)
class DemoManifest:
    """What :func:`write_demo_dataset` wrote: the seed, the sizes and every injected train error.

    ``manifest.json`` holds ``{"seed", "n_train", "n_test", "injected": {kind: [entry, ...]}}`` with the
    kinds ``type_flips``, ``duplicates``, ``label_conflicts``, ``offset_errors``, ``label_flips``; ids
    are train ``id`` values. Each train row carries at most one injection.
    """

    seed: int
    n_train: int
    n_test: int
    type_flips: tuple[TypeFlip, ...] = ()
    duplicates: tuple[Duplicate, ...] = ()
    label_conflicts: tuple[LabelConflict, ...] = ()
    offset_errors: tuple[OffsetError, ...] = ()
    label_flips: tuple[LabelFlip, ...] = ()

    def injected_ids(self) -> dict[int, str]:
        """Train id -> kind of the injection on that row."""
        return {e.id: kind for kind in KINDS for e in getattr(self, kind)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "injected": {
                kind: [{f.name: getattr(e, f.name) for f in fields(e)} for e in getattr(self, kind)] for kind in KINDS
            },
        }

    def to_json(self) -> str:
        """JSON text: indented, one injected entry per line (easy to read and to diff)."""
        d = self.to_dict()
        lines = ["{"]
        lines += [f'  "{k}": {json.dumps(d[k])},' for k in ("seed", "n_train", "n_test")]
        lines.append('  "injected": {')
        kinds = list(d["injected"])
        for i, kind in enumerate(kinds):
            entries = d["injected"][kind]
            body = ",\n".join(f"      {json.dumps(e, ensure_ascii=False)}" for e in entries)
            close = "," if i < len(kinds) - 1 else ""
            lines.append(f'    "{kind}": [\n{body}\n    ]{close}' if entries else f'    "{kind}": []{close}')
        lines += ["  }", "}"]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> DemoManifest:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` naming the first bad field."""
        if not isinstance(data, dict):
            raise ValueError("manifest: expected a JSON object at the top level")
        for key in ("seed", "n_train", "n_test"):
            if not isinstance(data.get(key), int) or isinstance(data.get(key), bool):
                raise ValueError(f"manifest: field {key!r} must be an integer")
        injected = data.get("injected")
        if not isinstance(injected, dict):
            raise ValueError("manifest: field 'injected' must be an object")
        kwargs: dict[str, Any] = {}
        for kind, entry_cls in KINDS.items():
            entries = injected.get(kind, [])
            if not isinstance(entries, list):
                raise ValueError(f"manifest: injected.{kind} must be a list")
            names = [f.name for f in fields(entry_cls)]
            parsed = []
            for i, e in enumerate(entries):
                if not isinstance(e, dict) or sorted(e) != sorted(names):
                    raise ValueError(f"manifest: injected.{kind}[{i}] must have exactly the keys {names}")
                for f in fields(entry_cls):
                    want = int if f.type in ("int", int) else str
                    if not isinstance(e[f.name], want) or isinstance(e[f.name], bool):
                        raise ValueError(f"manifest: injected.{kind}[{i}].{f.name} must be {want.__name__}")
                parsed.append(entry_cls(**e))
            kwargs[kind] = tuple(parsed)
        return cls(seed=data["seed"], n_train=data["n_train"], n_test=data["n_test"], **kwargs)

    @classmethod
    def from_json(cls, text: str) -> DemoManifest:
        return cls.from_dict(json.loads(text))


def load_manifest(path: str | Path) -> DemoManifest:
    """Read a ``manifest.json`` written by :func:`write_demo_dataset`; ``DataError`` names the file."""
    path = Path(path)
    try:
        return DemoManifest.from_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise DataError(f"{path}: not a demo manifest ({exc})") from exc
