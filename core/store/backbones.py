"""Backbone folders a workspace holds: ``WORKSPACE/backbones/<name>/``.

Each is an ordinary Hugging Face model folder (``config.json``, weights, tokenizer files), so training loads
it like any local model, plus ``restudio_backbone.json``, the record of where it came from::

    {"kind": "tapt" | "tiny", "name", "base_model", "family", "created_at",
     "dataset", "dataset_id", "dataset_revision", "input_format", "type_language", "markers",
     "status": "succeeded" | "cancelled", "steps", "max_steps", "sentences",
     "train_mlm_loss", "eval_mlm_loss", "job_id", "run_dir"}

(keys that do not apply are null). TAPT jobs (:mod:`core.train.tapt`) and the tiny-family builds
(:mod:`core.train.catalog`) write them; the Train view's catalog and a run's summary read them.

A folder is published whole: it is written under a hidden staging name in the same parent and renamed into
place (:func:`publish`), so the catalog and a training job never see half a model. Nothing here imports torch.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.common.atomic import atomic_write_text

__all__ = [
    "BACKBONES_DIR",
    "META_FILE",
    "BackboneInfo",
    "backbones_root",
    "list_backbones",
    "publish",
    "read_backbone",
    "slug",
    "staging_dir",
    "write_meta",
]

BACKBONES_DIR = "backbones"
META_FILE = "restudio_backbone.json"
_STAGING_PREFIX = ".staging-"


@dataclass(frozen=True)
class BackboneInfo:
    """One backbone folder of the workspace and its record (``meta``: the whole JSON, for what is not a field)."""

    name: str
    path: str
    kind: str
    base_model: str | None = None
    family: str | None = None
    created_at: str | None = None
    dataset: str | None = None
    dataset_revision: int | None = None
    input_format: str | None = None
    status: str | None = None
    steps: int | None = None
    max_steps: int | None = None
    job_id: int | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def describe(self) -> str:
        """One line for the catalog: what it is and where it came from."""
        if self.kind == "tapt":
            where = f" on {self.dataset}" if self.dataset else ""
            rev = f" (revision {self.dataset_revision})" if self.dataset_revision is not None else ""
            job = f", job #{self.job_id}" if self.job_id is not None else ""
            steps = f", {self.steps:,} of {self.max_steps:,} steps" if self.steps is not None and self.max_steps else ""
            state = " — cancelled" if self.status == "cancelled" else ""
            return f"TAPT of {self.base_model}{where}{rev}{job}{steps}{state}"
        if self.kind == "tiny":
            return f"tiny random {self.family or ''} checkpoint (no pretraining)".replace("  ", " ")
        return self.kind


def backbones_root(root: str | os.PathLike[str]) -> Path:
    """``WORKSPACE/backbones``."""
    return Path(root) / BACKBONES_DIR


def slug(text: str, *, limit: int = 48) -> str:
    """A folder-name-safe version of ``text`` (letters, digits, ``.``, ``_``, ``-``)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    return cleaned[:limit] or "backbone"


def _as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_backbone(folder: str | os.PathLike[str]) -> BackboneInfo | None:
    """The record of one backbone folder; None when it is not one (no ``config.json`` or no readable record)."""
    path = Path(folder)
    if path.name.startswith(_STAGING_PREFIX) or not (path / "config.json").is_file():
        return None
    try:
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict):
        return None

    def text(key: str) -> str | None:
        value = meta.get(key)
        return None if value is None else str(value)

    return BackboneInfo(
        name=path.name,
        path=str(path.resolve()),
        kind=text("kind") or "unknown",
        base_model=text("base_model"),
        family=text("family"),
        created_at=text("created_at"),
        dataset=text("dataset"),
        dataset_revision=_as_int(meta.get("dataset_revision")),
        input_format=text("input_format"),
        status=text("status"),
        steps=_as_int(meta.get("steps")),
        max_steps=_as_int(meta.get("max_steps")),
        job_id=_as_int(meta.get("job_id")),
        meta=meta,
    )


def list_backbones(root: str | os.PathLike[str]) -> list[BackboneInfo]:
    """Every backbone folder of the workspace, newest first."""
    base = backbones_root(root)
    if not base.is_dir():
        return []
    found = [info for child in base.iterdir() if child.is_dir() and (info := read_backbone(child)) is not None]
    return sorted(found, key=lambda b: (b.created_at or "", b.name), reverse=True)


def staging_dir(root: str | os.PathLike[str], name: str) -> Path:
    """An empty hidden folder next to where backbone ``name`` will be published (removed first if left over)."""
    path = backbones_root(root) / f"{_STAGING_PREFIX}{name}-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def write_meta(folder: str | os.PathLike[str], meta: dict[str, Any]) -> None:
    atomic_write_text(Path(folder) / META_FILE, lambda fh: json.dump(meta, fh, ensure_ascii=False, indent=2))


def publish(staging: str | os.PathLike[str], root: str | os.PathLike[str], name: str) -> Path:
    """Rename a finished staging folder to ``WORKSPACE/backbones/<name>``, replacing an older folder of that
    name (moved aside first, so the name always holds a whole model); returns the published folder."""
    final = backbones_root(root) / name
    old: Path | None = None
    if final.exists():
        old = final.with_name(f"{_STAGING_PREFIX}old-{name}-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(staging, final)
    with contextlib.suppress(OSError):
        os.chmod(final, 0o755)  # mkdtemp-like modes would hide it from the team
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final
