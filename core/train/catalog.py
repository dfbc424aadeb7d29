"""The backbones a training run can start from, in one list: the built-in tiny BERT, the workspace's backbone
folders (tiny family builds, TAPT outputs: :mod:`core.store.backbones`) and the models of the local Hugging
Face cache. Each entry's ``value`` is what goes in a config's ``model``; any other hub id is still accepted
there (:func:`core.train.config.check_model` asks the hub for it).

Listing stays cheap: no torch or transformers import, one ``config.json`` read per model, and the cache scan is
the hub library's (:func:`huggingface_hub.scan_cache_dir`, file stats only). :func:`build_tiny` writes a new
workspace backbone (a random checkpoint of one of :data:`core.train.tiny_backbones.FAMILIES`); it imports
torch.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.store.backbones import BackboneInfo, list_backbones, publish, slug, staging_dir, write_meta
from core.train.config import ConfigError, hub_cache_dir
from core.train.tiny_backbones import FAMILIES

__all__ = ["SOURCES", "TINY", "CatalogEntry", "build_tiny", "catalog", "format_size"]

log = logging.getLogger(__name__)

#: Where an entry comes from, in the order :func:`catalog` lists them.
SOURCES: tuple[str, ...] = ("built-in", "workspace", "hf-cache")


@dataclass(frozen=True)
class CatalogEntry:
    """One backbone a run can start from.

    ``value`` goes in the config's ``model``: ``"tiny"``, the absolute path of a workspace backbone folder, or
    a hub id. ``family`` is the ``model_type`` of its ``config.json`` (None when unreadable); ``detail`` one
    line saying what it is; ``backbone`` the workspace record (workspace entries only).
    """

    value: str
    label: str
    source: str
    family: str | None = None
    detail: str = ""
    size_bytes: int | None = None
    backbone: BackboneInfo | None = None


#: The built-in backbone: a small random BERT whose tokenizer each run trains on its own train rows.
TINY = CatalogEntry(
    value="tiny",
    label="tiny",
    source="built-in",
    family="bert",
    detail="tiny random BERT built from the run's training rows (no pretraining; for trying things out)",
)


def format_size(size: int) -> str:
    """``1.2 GB``-style size (powers of 1000, as the hub shows them)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def _model_type(config: Path) -> str | None:
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    kind = data.get("model_type") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) and kind else None


def _folder_size(folder: Path) -> int | None:
    try:
        return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    except OSError:
        return None


def _workspace_entries(root: str | os.PathLike[str]) -> list[CatalogEntry]:
    entries = []
    for info in list_backbones(root):
        folder = Path(info.path)
        entries.append(
            CatalogEntry(
                value=info.path,
                label=info.name,
                source="workspace",
                family=_model_type(folder / "config.json") or info.family,
                detail=info.describe,
                size_bytes=_folder_size(folder),
                backbone=info,
            )
        )
    return entries


def _cache_entries() -> list[CatalogEntry]:
    """Models of the local hub cache whose ``main`` revision holds ``config.json``, by repo id.

    Only the revision ``refs/main`` points to counts: a config's ``model`` names a repo, not a revision, and
    the offline lookup (:func:`huggingface_hub.try_to_load_from_cache`, which the config check uses) resolves
    ``main``; a repo cached only at another revision would be listed and then refused.
    """
    from huggingface_hub import CacheNotFound, scan_cache_dir

    cache = hub_cache_dir()
    try:
        info = scan_cache_dir(cache)
    except (CacheNotFound, OSError, ValueError) as exc:
        log.debug("no Hugging Face cache entries from %s: %s", cache, exc)
        return []
    for warning in info.warnings:
        log.debug("Hugging Face cache %s: %s", cache, warning)
    entries = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        main = next((rev for rev in repo.revisions if "main" in rev.refs), None)
        config = None if main is None else next((f for f in main.files if f.file_name == "config.json"), None)
        if main is None or config is None or config.file_path.parent != main.snapshot_path:
            log.debug("Hugging Face cache %s: %s has no main revision with a config.json", cache, repo.repo_id)
            continue
        entries.append(
            CatalogEntry(
                value=repo.repo_id,
                label=repo.repo_id,
                source="hf-cache",
                family=_model_type(config.file_path),
                detail=f"Hugging Face cache, {format_size(main.size_on_disk)}, revision {main.commit_hash[:7]}",
                size_bytes=main.size_on_disk,
            )
        )
    return sorted(entries, key=lambda e: e.value.lower())


def catalog(root: str | os.PathLike[str], *, include_cache: bool = True) -> list[CatalogEntry]:
    """Every backbone a run in workspace ``root`` can start from without downloading: the built-in ``tiny``
    first, then the workspace's backbone folders (newest first), then the local Hugging Face cache's models
    (by id; the cache is :func:`core.train.config.hub_cache_dir`, read now). A missing or unreadable cache
    adds nothing."""
    entries = [TINY, *_workspace_entries(root)]
    if include_cache:
        try:
            entries += _cache_entries()
        except (OSError, ValueError) as exc:  # a repo folder unreadable half-way through the scan
            log.debug("no Hugging Face cache entries: %s", exc)
    return entries


def _check_name(name: str) -> None:
    if not name or name != slug(name, limit=100) or len(name) > 100:
        raise ConfigError(
            f"Backbone name {name!r} is not a folder name: use letters, digits, '.', '_' and '-' "
            "(not first or last), at most 100 characters."
        )


def _dataset(root: Path, dataset: str):
    """(workspace, dataset info), or the training's one-line refusals for a missing workspace or dataset."""
    from core.common.schema import DataError
    from core.store.workspace import Workspace

    if not (root / "restudio.db").exists():
        raise ConfigError(f"No workspace at {root} (no restudio.db); set workspace or RESTUDIO_HOME.")
    ws = Workspace(root)
    try:
        return ws, ws.dataset(dataset)
    except DataError:
        names = [d.name for d in ws.datasets()]
        close = [n for n in names if dataset.lower() in n.lower()] or difflib.get_close_matches(dataset, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"Unknown dataset {dataset!r} in workspace {root}.{hint} Datasets: {', '.join(map(repr, names))}."
        ) from None


def _unigram_floor(texts: list[str]) -> int:
    """The smallest vocabulary the xlm-roberta family's Unigram tokenizer trains with on ``texts``: one piece per
    distinct character after NFKC (the tokenizer's normaliser) and the word-start mark ``▁`` that stands for
    spaces. Below it the tokenizers library stops with a bare "vocabulary is not large enough"; the count here
    matched that limit exactly on the demo dataset (602) and on tabs, newlines and full-width letters."""
    import unicodedata

    from core.train.encoding import format_vocabulary

    chars = {char for text in [*texts, *format_vocabulary()] for char in unicodedata.normalize("NFKC", text)}
    return len(chars - {" "}) + 1


def build_tiny(
    root: str | os.PathLike[str],
    family: str,
    *,
    dataset: str,
    name: str | None = None,
    vocab_size: int = 4000,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 2,
    seed: int = 0,
) -> BackboneInfo:
    """Build a random ``family`` checkpoint whose tokenizer is trained on ``dataset``'s current train sentences
    and publish it as workspace backbone ``name`` (default ``tiny-<family>-<dataset>``), replacing one of that
    name; returns its record. Refuses (:class:`ConfigError`) an unknown family, a name that is not a folder
    name, and an unknown dataset."""
    from core.store.backbones import read_backbone
    from core.train.tiny_backbones import build_tiny_backbone

    if family not in FAMILIES:
        close = difflib.get_close_matches(family, list(FAMILIES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"Unknown backbone family {family!r}{hint}; choose one of {', '.join(FAMILIES)}.")
    if name is not None:
        _check_name(name)
    sizes = {"vocab_size": vocab_size, "hidden": hidden, "layers": layers, "heads": heads}
    for option, value in sizes.items():
        if value < 1:
            raise ConfigError(f"{option} must be at least 1, got {value}.")
    if hidden % heads:
        raise ConfigError(f"hidden {hidden} must be a multiple of heads {heads}.")
    root = Path(root)
    ws, info = _dataset(root, dataset)
    name = name or f"tiny-{family}-{slug(info.name)}"
    revision = ws.revision(info.id)
    texts = ws.current_frame(info.id, "train")["sentence"].astype(str).tolist()
    if not texts:
        raise ConfigError(f"Dataset {info.name!r} has no train rows left to train a tokenizer on.")
    if family == "xlm-roberta" and vocab_size < (floor := _unigram_floor(texts)):
        raise ConfigError(
            f"vocab_size {vocab_size} is too small for family 'xlm-roberta' on dataset {info.name!r}: its Unigram "
            f"tokenizer keeps every distinct character as a piece, so it needs at least {floor}."
        )
    staging = staging_dir(root, name)
    try:
        build_tiny_backbone(
            staging, texts, family=family, vocab_size=vocab_size, hidden=hidden, layers=layers, heads=heads, seed=seed
        )
        meta: dict[str, Any] = {
            "kind": "tiny",
            "name": name,
            "base_model": None,
            "family": family,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "dataset": info.name,
            "dataset_id": info.id,
            "dataset_revision": revision,
            "input_format": None,
            "type_language": None,
            "markers": None,
            "status": "succeeded",
            "steps": None,
            "max_steps": None,
            "sentences": len(texts),
            "train_mlm_loss": None,
            "eval_mlm_loss": None,
            "job_id": None,
            "run_dir": None,
            # How it was built, so the same call rebuilds it.
            "vocab_size": vocab_size,
            "hidden": hidden,
            "layers": layers,
            "heads": heads,
            "seed": seed,
        }
        write_meta(staging, meta)
        folder = publish(staging, root, name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    built = read_backbone(folder)
    if built is None:  # publish renamed a folder holding both files: only a concurrent delete gets here
        raise ConfigError(f"Backbone folder {folder} disappeared while it was being published.")
    return built
