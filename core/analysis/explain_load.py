"""Loading a model for Explain: the :class:`Explainer` a checkpoint becomes, and why a checkpoint does not load.

A run folder (or its ``checkpoint/``) is read with ``core.train.model.load_run_model`` (:func:`load_run`); a
local Hugging Face checkpoint folder or hub id with ``core.train.model.load_classifier`` and
``load_tokenizer`` (:func:`load_hf`), which apply the server's hub-download policy and raise
``ModelNotAvailable`` when a hub model is not cached and downloads are off. When the files are there but
do not load, this module finds the file to blame (each JSON, safetensors and torch file is read on its
own, cheaply) and raises :class:`CheckpointError` naming the model and that file, never the server folder.
It is separate from :mod:`core.analysis.explain`, whose :func:`~core.analysis.explain.load_explainer` keeps
the loaded models (LRU cache, one load per model at a time): this module only reads files and diagnoses
them, and holds no state.
"""

from __future__ import annotations

import json
import os
import pickle
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from core.common.errors import RestudioError
from core.store.runs import CHECKPOINT_DIR, HEAD_FILE, RunDir

__all__ = ["CheckpointError", "Explainer"]


# -- models --------------------------------------------------------------------------------------------


@dataclass
class Explainer:
    """A loaded model with what is needed to encode for it, and the lock its users share."""

    name: str
    kind: str  # "run" (RE Studio checkpoint) or "hf" (AutoModelForSequenceClassification)
    model: torch.nn.Module
    tokenizer: Any
    labels: tuple[str, ...]
    input_format: str
    max_length: int
    type_language: str
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def embeddings(self) -> torch.nn.Module:
        """The token-embedding layer (where IG, gradient x input and saliency attach)."""
        inner = self.model.backbone if self.kind == "run" else self.model
        return inner.get_input_embeddings()

    @property
    def num_layers(self) -> int:
        inner = self.model.backbone if self.kind == "run" else self.model
        return int(inner.config.num_hidden_layers)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def type_pair(self, subj_type: str, obj_type: str, batch: int = 1) -> torch.Tensor | None:
        """``forward``'s ``type_pair`` for an example with these entity types, ``batch`` copies: the row of
        the run's type-restriction table (``restriction.json``, applied as in training and in the run's
        prediction files); None for a model without one."""
        restriction = getattr(self.model, "restriction", None) if self.kind == "run" else None
        if restriction is None:
            return None
        pair = self.model.type_pair_ids([subj_type], [obj_type])
        return torch.full((batch,), int(pair[0]), dtype=torch.long, device=self.device)

    @property
    def pad_id(self) -> int:
        for candidate in (self.tokenizer.pad_token_id, self.tokenizer.unk_token_id):
            if candidate is not None:
                return int(candidate)
        return 0

    def forward(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None,
        subj_pos: torch.Tensor,
        obj_pos: torch.Tensor,
        *,
        output_attentions: bool = False,
        type_pair: torch.Tensor | None = None,
    ) -> Any:
        """Logits (and attentions) for a batch; the model's own forward for its kind. ``type_pair``
        (:meth:`type_pair`) is required by a run trained with ``restrict_types``."""
        from core.train.model import token_types_usable  # with torch, which this module loads lazily

        kwargs: dict[str, Any] = {"attention_mask": attention_mask}
        # A run's REModel leaves out the ids its backbone cannot take; a plain classifier is checked here.
        if token_type_ids is not None and (self.kind == "run" or token_types_usable(self.model.config)):
            kwargs["token_type_ids"] = token_type_ids
        if output_attentions:
            kwargs["output_attentions"] = True
        if self.kind == "run":
            if type_pair is not None:
                kwargs["type_pair"] = type_pair
            return self.model(input_ids=input_ids, subj_marker_pos=subj_pos, obj_marker_pos=obj_pos, **kwargs)
        return self.model(input_ids=input_ids, **kwargs)


def run_folder(source: Path) -> Path | None:
    for folder in (source, RunDir(source).checkpoint):
        if (folder / HEAD_FILE).exists():
            return folder
    return None


class CheckpointError(RestudioError, ValueError):
    """A model's files are there but do not load: corrupt, cut short, or not what their name says.

    The message names the model as the user knows it (``run #3 name``, or the checkpoint as given) and
    the file, not the folder on the server: ``run #3 x: the checkpoint pytorch_model.bin could not be
    loaded (...)``. ``file`` is None when no single file could be blamed.
    """

    def __init__(self, owner: str, file: str | None, reason: str) -> None:
        self.owner, self.file, self.reason = owner, file, reason
        what = f"the checkpoint {file}" if file else "the checkpoint"
        super().__init__(f"{owner}: {what} could not be loaded ({reason}).")


def _load_errors() -> tuple[type[BaseException], ...]:
    """What reading a checkpoint raises on bad files: torch.load (UnpicklingError, RuntimeError from its
    zip reader, EOFError on an empty file), safetensors (SafetensorError), json and transformers (ValueError,
    OSError), and a re_head.json of the wrong shape (KeyError, TypeError)."""
    from safetensors import SafetensorError

    return (pickle.UnpicklingError, RuntimeError, OSError, ValueError, KeyError, TypeError, EOFError, SafetensorError)


#: Checkpoint files read as JSON, in the order they are checked (the small files that describe the model first).
_JSON_FILES = (
    HEAD_FILE,
    "config.json",
    "tokenizer_config.json",
    "tokenizer.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "generation_config.json",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_MAX_REASON = 240


def _short_reason(exc: BaseException, folder: Path | None = None) -> str:
    """One readable line for ``exc``: no server paths, no library advice that does not apply here."""
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (invalid byte at offset {exc.start})"
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    if isinstance(exc, EOFError):
        return "the file is empty or cut short"
    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError) and "WeightsUnpickler error:" in text:
        # torch's message leads with advice to load unsafely; the cause follows this marker.
        detail = text.split("WeightsUnpickler error:", 1)[1].split("Check the documentation", 1)[0]
        return f"not a PyTorch weights file ({' '.join(detail.split())})"
    if folder is not None:
        for base in sorted({str(folder), str(folder.resolve()), str(folder.parent)}, key=len, reverse=True):
            text = text.replace(base + os.sep, "").replace(base, "the checkpoint folder")
    text = " ".join(text.split())
    if isinstance(exc, RuntimeError) and ". " in text:
        text = text.split(". ", 1)[0]  # torch's zip reader appends paragraphs of guesses
    text = text or type(exc).__name__
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


def _check_file(path: Path) -> None:
    """Raise what reading ``path`` raises, by its kind (JSON, safetensors, torch pickle); cheap: the
    safetensors header and the torch pickle are read, the tensor data is not."""
    if path.suffix == ".json":
        json.loads(path.read_bytes().decode("utf-8"))
    elif path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            list(handle.keys())
    elif path.suffix in (".bin", ".pt", ".pth"):
        torch.load(path, map_location="meta", weights_only=True)


def _corrupt_file(folder: Path) -> tuple[str, str] | None:
    """(file name, reason) of the first checkpoint file in ``folder`` that does not read, else None."""
    if not folder.is_dir():
        return None
    weights = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin"))
    for path in [folder / name for name in _JSON_FILES] + weights:
        if not path.is_file():
            continue
        try:
            _check_file(path)
        except Exception as exc:  # any failure to read the file is the answer sought here
            return path.name, _short_reason(exc, folder)
    return None


def _checkpoint_error(
    owner: str, folder: Path, exc: BaseException, culprit: tuple[str, str] | None = None
) -> CheckpointError:
    """A :class:`CheckpointError` for a failed load of ``folder``, blaming the file that does not read
    (``culprit``, when the caller has looked already)."""
    culprit = culprit or _corrupt_file(folder)
    if culprit is not None:
        return CheckpointError(owner, *culprit)
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return CheckpointError(owner, Path(str(exc.filename)).name, "the file is missing")
    # Every file reads on its own (wrong shapes, missing keys, a tokenizer that does not build, a weights
    # file that is not there): name the file the error mentions, if any.
    text = str(exc)
    present = {p.name for p in folder.iterdir() if p.is_file()} if folder.is_dir() else set()
    named = [name for name in present | set(_WEIGHT_FILES) | set(_JSON_FILES) if name in text]
    if named:
        file = max(named, key=len)
        return CheckpointError(owner, file, _short_reason(exc, folder) if file in present else "the file is missing")
    return CheckpointError(owner, None, _short_reason(exc, folder))


def load_run(folder: Path, owner: str) -> Explainer:
    from core.train.model import load_run_model

    try:
        model, tokenizer, meta = load_run_model(folder)
        labels = tuple(str(label) for label in meta["labels"])
    except _load_errors() as exc:
        raise _checkpoint_error(owner, folder, exc) from exc
    model.eval()
    return Explainer(
        name=str(folder.parent if folder.name == CHECKPOINT_DIR else folder),
        kind="run",
        model=model,
        tokenizer=tokenizer,
        labels=labels,
        input_format=str(meta.get("input_format", "baseline")),
        max_length=int(meta.get("max_length", 256)),
        type_language=str(meta.get("type_language", "en")),
    )


def load_hf(
    source: str, input_format: str, max_length: int, type_language: str, owner: str, allow_hub_download: bool | None
) -> Explainer:
    from core.train.model import ModelNotAvailable, load_classifier, load_tokenizer

    try:
        tokenizer = load_tokenizer(source, allow_hub_download=allow_hub_download)
        model = load_classifier(source, allow_hub_download=allow_hub_download)
    except ModelNotAvailable:
        raise  # its message already says why (hub downloads are off on this server)
    except _load_errors() as exc:
        folder = Path(source).expanduser()
        culprit = _corrupt_file(folder)
        if culprit is None and isinstance(exc, (OSError, ValueError)):
            # Nothing there is corrupt: a missing folder, a hub id that is not reachable, not a classifier.
            raise ValueError(f"{source}: not a loadable sequence-classification checkpoint ({exc}).") from exc
        raise _checkpoint_error(owner, folder, exc, culprit) from exc
    model.eval()
    id2label = dict(getattr(model.config, "id2label", {}) or {})
    labels = tuple(str(id2label.get(i, f"LABEL_{i}")) for i in range(int(model.config.num_labels)))
    return Explainer(
        name=source,
        kind="hf",
        model=model,
        tokenizer=tokenizer,
        labels=labels,
        input_format=input_format,
        max_length=min(int(max_length), int(getattr(tokenizer, "model_max_length", max_length) or max_length)),
        type_language=type_language,
    )
