"""Why a model predicts what it does on one example: probabilities, attention maps and attributions.

LIT-style: a loaded model (:class:`Explainer`) and one :class:`Example` go into an interpreter
(:data:`INTERPRETERS`); plain data (lists, floats, strings) comes out, ready for a view, a JSON file or a
test. The example is encoded exactly as the model's run encodes it (:func:`core.train.encoding.encode` with the
run's input format, max length and type language), so markers, prompt segments and entity-safe
truncation are those the model saw in training.

Models
    :func:`load_explainer` takes a run folder (``core.train.model.load_run_model``), or the path or hub id of
    any Hugging Face sequence-classification checkpoint (``AutoModelForSequenceClassification``,
    ``trust_remote_code=False``, eager attention so attention maps exist). Each model is loaded once and
    kept (a small LRU); every interpreter runs under the model's own lock, because Captum registers
    forward hooks on the shared module while it runs and two sessions must not see each other's hooks.
    A checkpoint whose files are there but do not load (a corrupt ``pytorch_model.bin``, a cut-short
    ``model.safetensors``, a ``config.json`` that is not JSON) raises :class:`CheckpointError`, naming
    the run and the file, never the server folder it sits in.

Units
    Subword scores are merged into *words*: whitespace-separated words of the original sentence (a Korean
    eojeol such as ``이순신은`` is one word whether or not a marker splits it), each entity marker as one
    unit (``@ * PER *``), each special token as one unit, and the words of a first segment (baseline,
    prompt) as units of their own. A word's score is the sum of its tokens' scores, so nothing is lost
    in merging; ``norm`` divides by the largest absolute word score (in [-1, 1]).

Methods (all for any target label)
    ``integrated_gradients``: Captum ``LayerIntegratedGradients`` on the input embeddings against a
    baseline that replaces every content token by ``[PAD]`` and keeps special tokens and entity markers;
    the convergence delta (sum of attributions minus ``f(x) - f(baseline)``) is reported. Default:
    Gauss-Legendre quadrature with :data:`IG_STEPS` points in one batch, which matches the error of
    50-step Riemann trapezoid (the reference the issue sets) in under half the time (``bench/explain.py``).
    ``input_x_gradient`` (gradient x embedding, signed), ``saliency`` (gradient norm, unsigned) and
    ``occlusion`` (Captum ``FeatureAblation`` with one feature group per word: the change in the target
    probability when that word's tokens become ``[PAD]``).
    Every method's scores get ERASER faithfulness (:func:`faithfulness`).

The explained quantity ``f`` is the softmax probability of the target label, so IG attributions add up
to a change in probability and faithfulness is measured in the same unit.

Attention
    :func:`attention` returns the attention maps (layers x heads x tokens x tokens) with an optional
    layer and token limit for long inputs; :func:`bertviz_html` renders bertviz's head view or model
    view as a self-contained page: require.js, d3 and jQuery are inlined from ``assets/vendor`` (``make
    assets``), so nothing is fetched from a CDN, and every token reaches the page as JSON with ``<``,
    ``>``, ``&`` escaped, so a token cannot close the script it sits in.
"""

from __future__ import annotations

import html
import json
import os
import pickle
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from core.common.schema import COLUMNS
from core.train.encoding import INPUT_FORMATS, MARKER_FORMATS, encode, mark_row

__all__ = [
    "ASSET_DIR",
    "DEFAULT_KS",
    "IG_STEPS",
    "INTERPRETERS",
    "METHODS",
    "CheckpointError",
    "EncodedExample",
    "Example",
    "Explainer",
    "attention",
    "bertviz_html",
    "clear_cache",
    "encode_example",
    "example_from_row",
    "explain",
    "faithfulness",
    "input_x_gradient",
    "integrated_gradients",
    "load_explainer",
    "make_example",
    "masked_probabilities",
    "merge_scores",
    "occlusion",
    "predict",
    "safe_json",
    "saliency",
    "target_probabilities",
]

#: Gauss-Legendre points for IG by default. On the trained demo model 16 points beat the 50-step
#: Riemann trapezoid's error (8 do not); on BERT-base (bench/explain.py) they are far below it.
IG_STEPS = 16
#: ERASER's bins: the top 1, 5, 10, 20 and 50 % of the content tokens (at least one token each).
DEFAULT_KS: tuple[float, ...] = (0.01, 0.05, 0.10, 0.20, 0.50)
METHODS: tuple[str, ...] = ("integrated_gradients", "input_x_gradient", "saliency", "occlusion")
#: Where ``make assets`` puts require.js, d3 and jQuery.
ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "vendor"
VENDOR_FILES: tuple[tuple[str, str], ...] = (
    ("d3", "d3.min.js"),
    ("jquery", "jquery.min.js"),
    ("requirejs", "require.js"),
)
_CACHE_SIZE = 4


# -- examples ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One row to explain: a sentence with a subject and an object span (``end`` INCLUSIVE)."""

    id: str
    sentence: str
    subj_start: int
    subj_end: int
    subj_type: str
    obj_start: int
    obj_end: int
    obj_type: str
    label: str | None = None
    subj_word: str = ""
    obj_word: str = ""

    def frame(self) -> pd.DataFrame:
        """A one-row canonical frame (what :func:`core.train.encoding.encode` takes)."""
        row = {
            "id": self.id,
            "sentence": self.sentence,
            "subj_word": self.subj_word or self.sentence[self.subj_start : self.subj_end + 1],
            "subj_start": self.subj_start,
            "subj_end": self.subj_end,
            "subj_type": self.subj_type,
            "obj_word": self.obj_word or self.sentence[self.obj_start : self.obj_end + 1],
            "obj_start": self.obj_start,
            "obj_end": self.obj_end,
            "obj_type": self.obj_type,
            "label": self.label,
            "source": "",
            "row": 1,
        }
        return pd.DataFrame([row], columns=list(COLUMNS))


def make_example(
    sentence: str,
    *,
    subj: tuple[int, int],
    obj: tuple[int, int],
    subj_type: str,
    obj_type: str,
    id: str = "typed",
    label: str | None = None,
) -> Example:
    """A typed sentence with subject and object character spans (``end`` INCLUSIVE), checked.

    Raises ``ValueError`` naming the field when a span is empty, reversed or outside the sentence.
    """
    if not isinstance(sentence, str) or not sentence.strip():
        raise ValueError("sentence: type a sentence first.")
    for name, (start, end) in (("subject", subj), ("object", obj)):
        if not (0 <= int(start) <= int(end) < len(sentence)):
            raise ValueError(
                f"{name} span ({start}, {end}) must satisfy 0 <= start <= end < {len(sentence)} (end inclusive)."
            )
        if not sentence[int(start) : int(end) + 1].strip():
            raise ValueError(f"{name} span ({start}, {end}) covers only whitespace.")
    for name, etype in (("subject type", subj_type), ("object type", obj_type)):
        if not str(etype).strip():
            raise ValueError(f"{name}: choose an entity type.")
    return Example(
        id=str(id),
        sentence=sentence,
        subj_start=int(subj[0]),
        subj_end=int(subj[1]),
        subj_type=str(subj_type),
        obj_start=int(obj[0]),
        obj_end=int(obj[1]),
        obj_type=str(obj_type),
        label=label,
    )


def example_from_row(row: Mapping[str, Any] | pd.Series) -> Example:
    """An :class:`Example` from a canonical-frame row (a missing label stays ``None``)."""
    label = row.get("label")
    label = None if label is None or (not isinstance(label, str) and pd.isna(label)) else str(label)
    return Example(
        id=str(row["id"]),
        sentence=str(row["sentence"]),
        subj_start=int(row["subj_start"]),
        subj_end=int(row["subj_end"]),
        subj_type=str(row["subj_type"]),
        obj_start=int(row["obj_start"]),
        obj_end=int(row["obj_end"]),
        obj_type=str(row["obj_type"]),
        label=label,
        subj_word=str(row.get("subj_word", "") or ""),
        obj_word=str(row.get("obj_word", "") or ""),
    )


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
    ) -> Any:
        """Logits (and attentions) for a batch; the model's own forward for its kind."""
        kwargs: dict[str, Any] = {"attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        if output_attentions:
            kwargs["output_attentions"] = True
        if self.kind == "run":
            return self.model(input_ids=input_ids, subj_marker_pos=subj_pos, obj_marker_pos=obj_pos, **kwargs)
        return self.model(input_ids=input_ids, **kwargs)


_CACHE: OrderedDict[tuple[Any, ...], Explainer] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_LOADING: dict[tuple[Any, ...], threading.Lock] = {}


def clear_cache() -> None:
    """Forget every loaded model (tests; a run folder rewritten in place is noticed by mtime anyway)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _run_folder(source: Path) -> Path | None:
    from core.train.model import CHECKPOINT_DIR, HEAD_FILE

    for folder in (source, source / CHECKPOINT_DIR):
        if (folder / HEAD_FILE).exists():
            return folder
    return None


class CheckpointError(ValueError):
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
    "re_head.json",
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


def load_explainer(
    source: str | os.PathLike[str],
    *,
    input_format: str = "baseline",
    max_length: int = 256,
    type_language: str = "en",
    owner: str | None = None,
    allow_hub_download: bool | None = None,
) -> Explainer:
    """Load a model once and keep it (LRU of :data:`_CACHE_SIZE`); every caller gets the same object.

    Parameters
    ----------
    source
        A run folder (or its ``checkpoint/``), a local HF checkpoint folder, or a hub id.
    input_format, max_length, type_language
        Only for a plain HF checkpoint, which does not record how it was trained; a run's checkpoint
        carries its own (``re_head.json``) and these are ignored.
    owner
        What error messages call the model (``run #3 name``); default ``run <folder name>`` for a run,
        ``source`` as given for a checkpoint.
    allow_hub_download
        For a hub id: False loads it from the local Hugging Face cache only (a read-only session must not
        pull models onto the server); None follows the server's ``[models] allow_hub_download``.

    Loading happens outside the cache lock (other models stay usable) but under a per-key lock, so two
    sessions asking for the same model at once load it once.

    Raises
    ------
    CheckpointError
        The checkpoint's files are there but one does not load (corrupt, cut short, wrong format).
    ValueError
        An unknown input format; a folder or hub id that is not a sequence-classification checkpoint.
    """
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"Unknown input format {input_format!r}; choose one of {', '.join(INPUT_FORMATS)}.")
    path = Path(source).expanduser()
    folder = _run_folder(path) if path.exists() else None
    if folder is None and (path / "checkpoint").is_dir():
        from core.train.model import HEAD_FILE

        # A run whose checkpoint lost its head file: not a plain HF checkpoint to try instead.
        raise CheckpointError(owner or f"run {path.name}", HEAD_FILE, "the file is missing")
    if folder is not None:
        from core.train.model import HEAD_FILE

        key: tuple[Any, ...] = ("run", str(folder.resolve()), (folder / HEAD_FILE).stat().st_mtime_ns)
    else:
        stamp = (path / "config.json").stat().st_mtime_ns if (path / "config.json").exists() else None
        ident = str(path.resolve()) if path.exists() else str(source)
        key = ("hf", ident, stamp, input_format, int(max_length), type_language)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        loading = _LOADING.setdefault(key, threading.Lock())
    with loading:
        with _CACHE_LOCK:
            if key in _CACHE:
                return _CACHE[key]
        try:
            if folder is not None:
                run = folder.parent if folder.name == "checkpoint" else folder
                explainer = _load_run(folder, owner or f"run {run.name}")
            else:
                explainer = _load_hf(
                    str(source), input_format, int(max_length), type_language, owner or str(source), allow_hub_download
                )
        except BaseException:
            # A failed load is not cached (the files may be fixed); its lock must not stay behind either.
            with _CACHE_LOCK:
                _LOADING.pop(key, None)
            raise
        with _CACHE_LOCK:
            _CACHE[key] = explainer
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
            _LOADING.pop(key, None)
    return explainer


def _load_run(folder: Path, owner: str) -> Explainer:
    from core.train.model import load_run_model

    try:
        model, tokenizer, meta = load_run_model(folder)
        labels = tuple(str(label) for label in meta["labels"])
    except _load_errors() as exc:
        raise _checkpoint_error(owner, folder, exc) from exc
    model.eval()
    return Explainer(
        name=str(folder.parent if folder.name == "checkpoint" else folder),
        kind="run",
        model=model,
        tokenizer=tokenizer,
        labels=labels,
        input_format=str(meta.get("input_format", "baseline")),
        max_length=int(meta.get("max_length", 256)),
        type_language=str(meta.get("type_language", "en")),
    )


def _load_hf(
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


# -- encoding with word units --------------------------------------------------------------------------


@dataclass
class EncodedExample:
    """One example as the model sees it, with each token's word unit.

    ``content[k]`` is False for tokens every method keeps (special tokens, entity markers): IG's
    baseline keeps them, occlusion and ERASER never remove them.
    """

    example: Example
    input_ids: list[int]
    token_type_ids: list[int] | None
    subj_pos: int
    obj_pos: int
    tokens: list[str]
    unit_of: list[int]
    units: list[dict[str, Any]]
    content: np.ndarray
    sentence_b_start: int | None
    note: str = ""

    def __len__(self) -> int:
        return len(self.input_ids)

    def tensors(
        self, batch: int = 1, device: torch.device | str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """``(input_ids, attention_mask, token_type_ids, subj_pos, obj_pos)``, ``batch`` copies."""
        ids = torch.tensor([self.input_ids] * batch, dtype=torch.long, device=device)
        mask = torch.ones_like(ids)
        types = (
            None
            if self.token_type_ids is None
            else torch.tensor([self.token_type_ids] * batch, dtype=torch.long, device=device)
        )
        subj = torch.full((batch,), self.subj_pos, dtype=torch.long, device=device)
        obj = torch.full((batch,), self.obj_pos, dtype=torch.long, device=device)
        return ids, mask, types, subj, obj

    def as_dict(self) -> dict[str, Any]:
        return {
            "tokens": list(self.tokens),
            "input_ids": list(self.input_ids),
            "units": [dict(u) for u in self.units],
            "unit_of": list(self.unit_of),
            "content": [bool(c) for c in self.content],
            "subj_pos": self.subj_pos,
            "obj_pos": self.obj_pos,
            "sentence_b_start": self.sentence_b_start,
            "note": self.note,
        }


def _kept_indices(full: list[int], kept: list[int], t_first: int, t_last: int) -> list[int]:
    """Which positions of the whole tokenisation survived :func:`core.train.encoding.encode`'s window."""
    if kept == full:
        return list(range(len(full)))
    n_suffix = len(full) - t_last - 1
    width = len(kept) - t_first - n_suffix
    if width > 0:
        for a in range(t_first, t_last - width + 2):
            if full[a : a + width] == kept[t_first : t_first + width]:
                return [*range(t_first), *range(a, a + width), *range(t_last + 1, len(full))]
    # The hard cut (first segment alone too long): the head of the row and its final token.
    return [*range(len(kept) - 1), len(full) - 1]


def _origin_map(example: Example, markers: tuple[str, str, str, str]) -> np.ndarray:
    """For each character of the marked text, its index in the sentence (-1 for marker text).

    :func:`core.train.encoding.mark_row` is run on a sentence of distinct private-use characters, so the
    mapping is exactly the one the encoder's text has, without re-implementing its ordering rules.
    """
    n = len(example.sentence)
    placeholder = "".join(chr(0xF0000 + i) for i in range(n))
    marked, _, _ = mark_row(
        placeholder, (example.subj_start, example.subj_end), (example.obj_start, example.obj_end), markers
    )
    codes = np.fromiter((ord(c) for c in marked), dtype=np.int64, count=len(marked))
    return np.where((codes >= 0xF0000) & (codes < 0xF0000 + n), codes - 0xF0000, -1)


def _sentence_words(sentence: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Word index of each character (-1 for whitespace) and the words' (start, end-exclusive) spans."""
    word_of = np.full(len(sentence), -1, dtype=np.int64)
    spans = []
    for k, m in enumerate(re.finditer(r"\S+", sentence)):
        word_of[m.start() : m.end()] = k
        spans.append((m.start(), m.end()))
    return word_of, spans


def encode_example(explainer: Explainer, example: Example) -> EncodedExample:
    """Encode ``example`` as the model's run does and assign every token to a word unit."""
    from core.train.encoding import build_texts, entity_markers, rust_backend

    tok = explainer.tokenizer
    frame = example.frame()
    enc = encode(
        frame,
        tok,
        input_format=explainer.input_format,
        max_length=explainer.max_length,
        type_language=explainer.type_language,
    )
    first, texts, _ = build_texts(
        frame, explainer.input_format, explainer.type_language, getattr(tok, "sep_token", None)
    )
    backend = rust_backend(tok)
    whole = backend.encode(texts[0]) if first is None else backend.encode(first[0], texts[0])
    text_seq = 0 if first is None else 1
    seq_ids = whole.sequence_ids
    text_tokens = [k for k, s in enumerate(seq_ids) if s == text_seq]
    t_first, t_last = (text_tokens[0], text_tokens[-1]) if text_tokens else (len(seq_ids), len(seq_ids) - 1)
    keep = _kept_indices(list(whole.ids), list(enc.input_ids[0]), t_first, t_last)

    special_ids = set(int(i) for i in tok.all_special_ids)
    word_of, word_spans = _sentence_words(example.sentence)
    subj_rng = (example.subj_start, example.subj_end + 1)
    obj_rng = (example.obj_start, example.obj_end + 1)
    if explainer.input_format in MARKER_FORMATS:
        markers = entity_markers(explainer.input_format, example.subj_type, example.obj_type, explainer.type_language)
        origin = _origin_map(example, markers)
    else:
        origin = np.arange(len(example.sentence), dtype=np.int64)
    text = texts[0]
    # Inserted marker text (origin -1) in maximal runs: one unit per run, e.g. "@ * PER * " is one marker.
    inserted = origin < 0
    run_starts = inserted & ~np.concatenate([[False], inserted[:-1]])
    marker_run = np.where(inserted, np.cumsum(run_starts) - 1, -1)
    first_words = None
    if first is not None:
        first_words, first_spans = _sentence_words(first[0])

    units: list[dict[str, Any]] = []
    index: dict[tuple[Any, ...], int] = {}
    unit_of: list[int] = []
    content: list[bool] = []

    def unit(key: tuple[Any, ...], text_: str, kind: str) -> int:
        if key not in index:
            index[key] = len(units)
            units.append({"text": text_, "kind": kind, "tokens": []})
        return index[key]

    ids = [int(whole.ids[k]) for k in keep]
    tokens = tok.convert_ids_to_tokens(ids)
    for pos, k in enumerate(keep):
        seq = seq_ids[k]
        start, end = whole.offsets[k]
        token_id = int(whole.ids[k])
        if seq is None or (token_id in special_ids and seq != text_seq):
            u = unit(("special", pos), tokens[pos], "special")
            keep_it = False
        elif seq != text_seq:
            assert first_words is not None
            w = int(first_words[start]) if start < len(first_words) else -1
            ws, we = first_spans[w] if w >= 0 else (start, end)
            u = unit(("first", w), first[0][ws:we], "query")
            keep_it = True
        else:
            chars = origin[start:end]
            inside = chars[chars >= 0]
            if inside.size == 0:
                r = int(marker_run[start]) if start < len(marker_run) else -1
                u = unit(("marker", r, pos if r < 0 else -1), tokens[pos], "marker")
                if r >= 0:
                    where = np.flatnonzero(marker_run == r)
                    units[u]["text"] = text[where[0] : where[-1] + 1].strip()
                keep_it = False
            else:
                w = int(word_of[int(inside[0])])
                ws, we = word_spans[w]
                kind = "word"
                if ws < subj_rng[1] and subj_rng[0] < we:
                    kind = "subject"
                elif ws < obj_rng[1] and obj_rng[0] < we:
                    kind = "object"
                u = unit(("word", w), example.sentence[ws:we], kind)
                keep_it = True
        units[u]["tokens"].append(pos)
        unit_of.append(u)
        content.append(keep_it)

    note = ""
    if enc.truncated_ids:
        note = f"The input was cut to {explainer.max_length} tokens and an entity did not fit whole."
    elif enc.windowed_ids:
        note = f"The input was cut to {explainer.max_length} tokens around the entities (context trimmed)."
    b_start = None
    if first is not None:
        b_start = next((pos for pos, k in enumerate(keep) if seq_ids[k] == text_seq), None)
    return EncodedExample(
        example=example,
        input_ids=ids,
        token_type_ids=None if enc.token_type_ids is None else list(enc.token_type_ids[0]),
        subj_pos=int(enc.subj_marker_pos[0]),
        obj_pos=int(enc.obj_marker_pos[0]),
        tokens=list(tokens),
        unit_of=unit_of,
        units=units,
        content=np.asarray(content, dtype=bool),
        sentence_b_start=b_start,
        note=note,
    )


# -- prediction -----------------------------------------------------------------------------------------


def _resolve_target(explainer: Explainer, target: int | str | None, probs: np.ndarray) -> int:
    if target is None:
        return int(np.argmax(probs))
    if isinstance(target, str):
        if target not in explainer.labels:
            raise ValueError(f"Unknown target label {target!r}; the model's labels are {', '.join(explainer.labels)}.")
        return explainer.labels.index(target)
    if not 0 <= int(target) < len(explainer.labels):
        raise ValueError(f"Target index {target} is outside 0..{len(explainer.labels) - 1}.")
    return int(target)


def _probs(explainer: Explainer, encoded: EncodedExample) -> np.ndarray:
    with torch.inference_mode():
        logits = explainer.forward(*encoded.tensors(device=explainer.device)).logits
    return torch.softmax(logits.double(), dim=-1)[0].cpu().numpy()


def masked_probabilities(
    explainer: Explainer, encoded: EncodedExample, masks: np.ndarray, *, mode: str = "delete"
) -> np.ndarray:
    """Class probabilities with some tokens removed, one row of ``masks`` (True = keep) per variant.

    ``mode="delete"`` (ERASER): a removed token becomes ``[PAD]`` with attention mask 0, so no other
    position can attend to it; this is deletion except that the remaining tokens keep their positions
    (so the entity-start head still finds its tokens). ``mode="pad"`` (occlusion, IG's baseline): the
    token becomes ``[PAD]`` and stays attended. One batched forward pass; float64 softmax.
    """
    if mode not in ("delete", "pad"):
        raise ValueError(f"mode must be 'delete' or 'pad', got {mode!r}.")
    masks = np.atleast_2d(np.asarray(masks, dtype=bool))
    if masks.shape[1] != len(encoded):
        raise ValueError(f"Each mask needs {len(encoded)} entries (one per token), got {masks.shape[1]}.")
    ids, _, types, subj, obj = encoded.tensors(len(masks), explainer.device)
    keep = torch.from_numpy(masks).to(explainer.device)
    ids = torch.where(keep, ids, torch.full_like(ids, explainer.pad_id))
    with explainer.lock, torch.inference_mode():
        attend = keep.long() if mode == "delete" else torch.ones_like(ids)
        logits = explainer.forward(ids, attend, types, subj, obj).logits
    return torch.softmax(logits.double(), dim=-1).cpu().numpy()


def target_probabilities(explainer: Explainer, encoded: EncodedExample, masks: np.ndarray, target: int) -> np.ndarray:
    """The target column of :func:`masked_probabilities`."""
    return masked_probabilities(explainer, encoded, masks)[:, target]


def predict(explainer: Explainer, example: Example | EncodedExample, *, top: int | None = None) -> dict[str, Any]:
    """Probabilities for every label (model order), the predicted label, and the gold one if known."""
    encoded = example if isinstance(example, EncodedExample) else encode_example(explainer, example)
    with explainer.lock:
        probs = _probs(explainer, encoded)
    order = np.argsort(-probs, kind="stable")
    ranked = [{"label": explainer.labels[i], "prob": float(probs[i])} for i in order[: top or len(order)]]
    pred = int(order[0])
    gold = encoded.example.label
    return {
        "id": encoded.example.id,
        "labels": list(explainer.labels),
        "probs": [float(p) for p in probs],
        "pred_label": explainer.labels[pred],
        "pred_prob": float(probs[pred]),
        "gold_label": gold,
        "correct": None if gold is None else gold == explainer.labels[pred],
        "ranked": ranked,
    }


# -- attributions --------------------------------------------------------------------------------------


def merge_scores(encoded: EncodedExample, token_scores: Sequence[float] | np.ndarray) -> list[dict[str, Any]]:
    """Word-level scores: the sum of each unit's token scores, plus ``norm`` (divided by the max |score|).

    Units whose tokens every method keeps (special tokens, markers) are included with their sum too.
    """
    scores = np.asarray(token_scores, dtype=np.float64)
    if scores.shape != (len(encoded),):
        raise ValueError(f"Expected {len(encoded)} token scores, got shape {scores.shape}.")
    sums = np.zeros(len(encoded.units), dtype=np.float64)
    np.add.at(sums, np.asarray(encoded.unit_of, dtype=np.int64), scores)
    scale = float(np.abs(sums).max()) if len(sums) else 0.0
    out = []
    for i, unit in enumerate(encoded.units):
        out.append(
            {
                "text": unit["text"],
                "kind": unit["kind"],
                "tokens": list(unit["tokens"]),
                "score": float(sums[i]),
                "norm": float(sums[i] / scale) if scale > 0 else 0.0,
            }
        )
    return out


def faithfulness(
    explainer: Explainer,
    encoded: EncodedExample,
    token_scores: Sequence[float] | np.ndarray,
    target: int,
    *,
    ks: Sequence[float] = DEFAULT_KS,
) -> dict[str, Any]:
    """ERASER comprehensiveness and sufficiency of a ranking of the content tokens (DeYoung et al., 2020).

    For each k, the top ``max(1, round(k * n))`` content tokens by score are removed
    (comprehensiveness: ``p(x) - p(x without them)``, higher is better) or kept alone with the special
    tokens and markers (sufficiency: ``p(x) - p(only them)``, lower is better); both are averaged over
    the bins (AOPC). Removal is :func:`target_probabilities`' masking. All variants run in one batch.
    """
    scores = np.asarray(token_scores, dtype=np.float64)
    content = np.flatnonzero(encoded.content)
    base = np.ones(len(encoded), dtype=bool)
    if content.size == 0:
        return {"comprehensiveness": 0.0, "sufficiency": 0.0, "bins": []}
    # Highest score first; ties broken by position so the result is deterministic.
    ranked = content[np.lexsort((content, -scores[content]))]
    sizes = [max(1, min(content.size, round(k * content.size))) for k in ks]
    masks = [base]
    for size in sizes:
        top = ranked[:size]
        comp = base.copy()
        comp[top] = False
        suff = base.copy()
        suff[np.setdiff1d(content, top)] = False
        masks += [comp, suff]
    probs = target_probabilities(explainer, encoded, np.stack(masks), target)
    p = float(probs[0])
    bins = []
    for i, (k, size) in enumerate(zip(ks, sizes, strict=True)):
        bins.append(
            {
                "k": float(k),
                "n_tokens": int(size),
                "comprehensiveness": p - float(probs[1 + 2 * i]),
                "sufficiency": p - float(probs[2 + 2 * i]),
            }
        )
    return {
        "comprehensiveness": float(np.mean([b["comprehensiveness"] for b in bins])),
        "sufficiency": float(np.mean([b["sufficiency"] for b in bins])),
        "prob": p,
        "bins": bins,
    }


def _prob_forward(explainer: Explainer) -> Callable[..., torch.Tensor]:
    def forward(
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None,
        subj_pos: torch.Tensor,
        obj_pos: torch.Tensor,
    ) -> torch.Tensor:
        logits = explainer.forward(input_ids, attention_mask, token_type_ids, subj_pos, obj_pos).logits
        return torch.softmax(logits.float(), dim=-1)

    return forward


def _extra_args(explainer: Explainer, encoded: EncodedExample) -> tuple[Any, ...]:
    _, mask, types, subj, obj = encoded.tensors(device=explainer.device)
    return (mask, types, subj, obj)


def _baseline_ids(explainer: Explainer, encoded: EncodedExample) -> torch.Tensor:
    """[PAD] for every content token; special tokens and entity markers kept."""
    ids = torch.tensor([encoded.input_ids], dtype=torch.long, device=explainer.device)
    content = torch.from_numpy(encoded.content)[None, :].to(explainer.device)
    return torch.where(content, torch.full_like(ids, explainer.pad_id), ids)


def _result(
    explainer: Explainer,
    encoded: EncodedExample,
    method: str,
    target: int,
    token_scores: np.ndarray,
    started: float,
    *,
    ks: Sequence[float] | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "method": method,
        "target": int(target),
        "target_label": explainer.labels[target],
        "tokens": list(encoded.tokens),
        "token_scores": [float(s) for s in token_scores],
        "words": merge_scores(encoded, token_scores),
        "wall_s": time.perf_counter() - started,
        **dict(extra or {}),
    }
    if ks is not None:
        out["faithfulness"] = faithfulness(explainer, encoded, token_scores, target, ks=ks)
    return out


def _prepare(
    explainer: Explainer, example: Example | EncodedExample, target: int | str | None
) -> tuple[EncodedExample, int]:
    encoded = example if isinstance(example, EncodedExample) else encode_example(explainer, example)
    probs = _probs(explainer, encoded) if target is None else np.zeros(len(explainer.labels))
    return encoded, _resolve_target(explainer, target, probs)


def integrated_gradients(
    explainer: Explainer,
    example: Example | EncodedExample,
    *,
    target: int | str | None = None,
    n_steps: int = IG_STEPS,
    method: str = "gausslegendre",
    internal_batch_size: int | None = None,
    ks: Sequence[float] | None = DEFAULT_KS,
) -> dict[str, Any]:
    """Layer Integrated Gradients on the token embeddings, summed over the hidden size per token.

    ``delta`` is Captum's convergence delta: ``sum(attributions) - (f(x) - f(baseline))`` with ``f`` the
    target probability; ``f_x`` and ``f_baseline`` are reported so completeness can be checked.
    ``internal_batch_size`` defaults to all steps in one batch up to ~8k tokens per batch: one large
    batch keeps the matrix multiplications busy, the cap bounds memory on long inputs.
    """
    from captum.attr import LayerIntegratedGradients

    started = time.perf_counter()
    with explainer.lock:
        encoded, tgt = _prepare(explainer, example, target)
        if internal_batch_size is None:
            internal_batch_size = max(1, min(n_steps, 8192 // max(1, len(encoded))))
        ids = torch.tensor([encoded.input_ids], dtype=torch.long, device=explainer.device)
        baseline = _baseline_ids(explainer, encoded)
        lig = LayerIntegratedGradients(_prob_forward(explainer), explainer.embeddings)
        attributions = lig.attribute(
            ids,
            baselines=baseline,
            target=tgt,
            additional_forward_args=_extra_args(explainer, encoded),
            n_steps=int(n_steps),
            method=method,
            internal_batch_size=int(internal_batch_size),
        )
        scores = attributions.sum(dim=-1)[0].detach().double().cpu().numpy()
        # Captum's convergence delta, sum(attributions) - (f(x) - f(baseline)), computed here from one
        # two-row forward pass that also gives f(x) and f(baseline) to the caller (Captum's own
        # return_convergence_delta would run that forward pass a second time).
        with torch.inference_mode():
            _, mask, types, subj, obj = encoded.tensors(2, explainer.device)
            both = torch.cat([ids, baseline])
            f = _prob_forward(explainer)(both, mask, types, subj, obj)[:, tgt].double().cpu().numpy()
        delta = float(scores.sum() - (f[0] - f[1]))
        elapsed = time.perf_counter() - started
        out = _result(
            explainer,
            encoded,
            "integrated_gradients",
            tgt,
            scores,
            started,
            ks=ks,
            extra={
                "delta": delta,
                "f_x": float(f[0]),
                "f_baseline": float(f[1]),
                "n_steps": int(n_steps),
                "integration": method,
            },
        )
    out["wall_s"] = elapsed
    return out


def _gradient_attribution(
    explainer: Explainer,
    example: Example | EncodedExample,
    target: int | str | None,
    ks: Sequence[float] | None,
    *,
    method: str,
) -> dict[str, Any]:
    """Captum ``LayerGradientXActivation`` on the embeddings, reduced over the hidden size per ``method``.

    ``input_x_gradient`` multiplies the gradient by the embedding and sums (signed); ``saliency`` keeps the
    bare gradient and takes its L2 norm (unsigned).
    """
    from captum.attr import LayerGradientXActivation

    started = time.perf_counter()
    with explainer.lock:
        encoded, tgt = _prepare(explainer, example, target)
        multiply = method == "input_x_gradient"
        layer = LayerGradientXActivation(_prob_forward(explainer), explainer.embeddings, multiply_by_inputs=multiply)
        ids = torch.tensor([encoded.input_ids], dtype=torch.long, device=explainer.device)
        attr = layer.attribute(ids, target=tgt, additional_forward_args=_extra_args(explainer, encoded))
        per_dim = attr[0].detach().double()
        scores = (per_dim.sum(dim=-1) if multiply else per_dim.norm(dim=-1)).cpu().numpy()
        elapsed = time.perf_counter() - started
        out = _result(explainer, encoded, method, tgt, scores, started, ks=ks)
    out["wall_s"] = elapsed
    return out


def input_x_gradient(
    explainer: Explainer,
    example: Example | EncodedExample,
    *,
    target: int | str | None = None,
    ks: Sequence[float] | None = DEFAULT_KS,
) -> dict[str, Any]:
    """Gradient x embedding (Captum ``LayerGradientXActivation``), summed over the hidden size: signed."""
    return _gradient_attribution(explainer, example, target, ks, method="input_x_gradient")


def saliency(
    explainer: Explainer,
    example: Example | EncodedExample,
    *,
    target: int | str | None = None,
    ks: Sequence[float] | None = DEFAULT_KS,
) -> dict[str, Any]:
    """Saliency: the L2 norm of the target probability's gradient at each token embedding (unsigned)."""
    return _gradient_attribution(explainer, example, target, ks, method="saliency")


def occlusion(
    explainer: Explainer,
    example: Example | EncodedExample,
    *,
    target: int | str | None = None,
    ks: Sequence[float] | None = DEFAULT_KS,
) -> dict[str, Any]:
    """Word occlusion: ``p(x) - p(x with the word's tokens as [PAD])`` per word (Captum ``FeatureAblation``).

    Captum's sliding-window ``Occlusion`` cannot follow word boundaries, so ``FeatureAblation`` with one
    feature group per word unit does the occluding; special tokens and markers get a baseline equal to
    themselves (score 0). A word's score is split evenly over its tokens, so merging gives it back.
    """
    from captum.attr import FeatureAblation

    started = time.perf_counter()
    with explainer.lock:
        encoded, tgt = _prepare(explainer, example, target)
        ids = torch.tensor([encoded.input_ids], dtype=torch.long, device=explainer.device)
        mask = torch.tensor([encoded.unit_of], dtype=torch.long, device=explainer.device)
        ablation = FeatureAblation(_prob_forward(explainer))
        with torch.inference_mode():
            attr = ablation.attribute(
                ids,
                baselines=_baseline_ids(explainer, encoded),
                target=tgt,
                additional_forward_args=_extra_args(explainer, encoded),
                feature_mask=mask,
                perturbations_per_eval=max(1, len(encoded.units)),
            )
        per_token = attr[0].double().cpu().numpy()
        sizes = np.bincount(np.asarray(encoded.unit_of), minlength=len(encoded.units))
        scores = per_token / sizes[np.asarray(encoded.unit_of)]
        # Kept tokens are 'ablated' into themselves; drop the float noise of the batched re-run.
        scores[~encoded.content] = 0.0
        elapsed = time.perf_counter() - started
        out = _result(explainer, encoded, "occlusion", tgt, scores, started, ks=ks)
    out["wall_s"] = elapsed
    return out


#: Interpreter name -> function(explainer, example, *, target=..., ...) -> plain data.
INTERPRETERS: dict[str, Callable[..., dict[str, Any]]] = {
    "integrated_gradients": integrated_gradients,
    "input_x_gradient": input_x_gradient,
    "saliency": saliency,
    "occlusion": occlusion,
}


def explain(
    explainer: Explainer,
    example: Example,
    *,
    target: int | str | None = None,
    methods: Sequence[str] = METHODS,
    ks: Sequence[float] | None = DEFAULT_KS,
) -> dict[str, Any]:
    """Encoding, prediction and every requested attribution for one example (target: predicted label)."""
    unknown = [m for m in methods if m not in INTERPRETERS]
    if unknown:
        raise ValueError(f"Unknown method(s) {', '.join(unknown)}; choose from {', '.join(INTERPRETERS)}.")
    with explainer.lock:
        encoded = encode_example(explainer, example)
        prediction = predict(explainer, encoded)
        tgt = _resolve_target(explainer, target, np.asarray(prediction["probs"]))
        return {
            "encoded": encoded.as_dict(),
            "prediction": prediction,
            "target": tgt,
            "target_label": explainer.labels[tgt],
            "attributions": {m: INTERPRETERS[m](explainer, encoded, target=tgt, ks=ks) for m in methods},
        }


# -- attention ------------------------------------------------------------------------------------------


def attention(
    explainer: Explainer,
    example: Example | EncodedExample,
    *,
    layers: Sequence[int] | None = None,
    max_tokens: int | None = None,
) -> dict[str, Any]:
    """Attention maps of the chosen layers as a float32 array (layers x heads x tokens x tokens).

    ``max_tokens`` limits a long input to a window of tokens around the entities (the full rows are
    computed; the shown block is cut out of them, so the weights are the model's, not renormalised);
    ``note`` says what was left out.
    """
    encoded = example if isinstance(example, EncodedExample) else encode_example(explainer, example)
    with explainer.lock, torch.inference_mode():
        out = explainer.forward(*encoded.tensors(device=explainer.device), output_attentions=True)
    maps = out.attentions
    if not maps or maps[0] is None:
        raise ValueError(f"{explainer.name}: the model returned no attention maps (load it with eager attention).")
    n_layers = len(maps)
    chosen = list(range(n_layers)) if layers is None else sorted({int(x) for x in layers if 0 <= int(x) < n_layers})
    if not chosen:
        raise ValueError(f"Choose at least one layer in 0..{n_layers - 1}.")
    stack = torch.stack([maps[i][0] for i in chosen]).float().cpu().numpy()
    n = len(encoded)
    lo, hi = 0, n
    notes = [encoded.note] if encoded.note else []
    if max_tokens is not None and n > max_tokens:
        centre = (min(encoded.subj_pos, encoded.obj_pos) + max(encoded.subj_pos, encoded.obj_pos)) // 2
        lo = max(0, min(n - max_tokens, centre - max_tokens // 2))
        hi = lo + max_tokens
        stack = stack[:, :, lo:hi, lo:hi]
        notes.append(f"Showing tokens {lo}–{hi - 1} of {n} (around the entities) to keep the view responsive.")
    if len(chosen) < n_layers:
        notes.append(f"Showing {len(chosen)} of {n_layers} layers.")
    b_start = encoded.sentence_b_start
    if b_start is not None:
        b_start = b_start - lo if lo < b_start < hi else None
    return {
        "tokens": encoded.tokens[lo:hi],
        "attention": stack,
        "layers": chosen,
        "n_layers": n_layers,
        "n_heads": int(stack.shape[1]),
        "token_range": (lo, hi),
        "sentence_b_start": b_start,
        "note": " ".join(notes),
    }


def safe_json(value: Any) -> str:
    """JSON that is safe inside ``<script>``: ``<``, ``>``, ``&`` and the JS line separators escaped.

    ``json.dumps`` alone leaves ``</script>`` (and ``<!--``) intact, which would end the script early and
    let a token become markup.
    """
    text = json.dumps(value, ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def _vendor_scripts(asset_dir: Path) -> str:
    missing = [name for _, name in VENDOR_FILES if not (asset_dir / name).exists()]
    if missing:
        raise FileNotFoundError(
            f"{asset_dir}: {', '.join(missing)} missing; run `make assets` (npm) to install the browser libraries "
            "the attention views need."
        )
    # An AMD loader already on the page (a re-used window) would make d3 an anonymous module: hide it
    # while d3 and jQuery load, so they always become globals.
    parts = ["<script>window.__reStudioDefine = window.define; window.define = undefined;</script>"]
    for _, name in VENDOR_FILES:
        if name == "require.js":
            parts.append("<script>window.define = window.__reStudioDefine;</script>")
        # d3 and jQuery load before require.js, so they become globals instead of anonymous AMD modules
        # (an anonymous define() in an inline script is an error for require.js).
        source = (asset_dir / name).read_text(encoding="utf-8").replace("</script", "<\\/script")
        parts.append(f"<script>\n{source}\n</script>")
    parts.append(
        "<script>define('d3', [], function () { return window.d3; });"
        "define('jquery', [], function () { return window.jQuery; });</script>"
    )
    return "\n".join(parts)


_REQUIRE_TAG = re.compile(r"<script src=\"https://[^\"]*require[^\"]*\"></script>")
_REQUIRE_CONFIG = re.compile(r"require\.config\(\{.*?\}\);", re.S)


def bertviz_html(
    data: Mapping[str, Any],
    *,
    view: str = "head",
    layer: int | None = None,
    heads: Sequence[int] | None = None,
    display_mode: str = "light",
    asset_dir: str | os.PathLike[str] = ASSET_DIR,
) -> str:
    """A self-contained HTML page with bertviz's head view or model view for :func:`attention`'s output.

    bertviz builds the page; this function (1) hands it placeholder tokens and puts the real tokens in
    afterwards as :func:`safe_json` strings, so no token can break out of the script, and (2) replaces
    the CDN require.js tag and bertviz's ``require.config`` CDN paths by the inlined local libraries.
    Raises ``FileNotFoundError`` (with the fix) when ``assets/vendor`` is missing.
    """
    from bertviz import head_view, model_view
    from bertviz.util import format_special_chars

    if view not in ("head", "model"):
        raise ValueError(f"view must be 'head' or 'model', got {view!r}.")
    tokens = format_special_chars(list(data["tokens"]))
    tag = uuid.uuid4().hex
    placeholders = [f"\x00{tag}:{i}\x00" for i in range(len(tokens))]
    # float64 after rounding: bertviz's tolist() then writes 0.123, not 0.12300000339746475 (3x smaller page).
    attn = torch.from_numpy(np.round(np.asarray(data["attention"], dtype=np.float64), 4))
    per_layer = [attn[i][None] for i in range(attn.shape[0])]
    layers = list(data.get("layers", range(len(per_layer))))
    kwargs: dict[str, Any] = {
        "attention": per_layer,
        "tokens": placeholders,
        "sentence_b_start": data.get("sentence_b_start"),
        "html_action": "return",
    }
    if view == "head":
        pos = layers.index(layer) if layer in layers else None
        page = head_view(**kwargs, prettify_tokens=False, layer=pos, heads=list(heads) if heads else None).data
    else:
        page = model_view(**kwargs, prettify_tokens=False, display_mode=display_mode).data
    for ph, token in zip(placeholders, tokens, strict=True):
        page = page.replace(json.dumps(ph), safe_json(token))
    # bertviz numbers the chosen layers 0..n-1; show the model's own layer numbers instead.
    page = page.replace(
        '"include_layers": ' + json.dumps(list(range(len(per_layer)))), '"include_layers": ' + json.dumps(layers)
    )
    page = _REQUIRE_TAG.sub("", page)
    page = _REQUIRE_CONFIG.sub("", page, count=1)
    if re.search(r"""src=["']https?:|paths:\s*\{|cdnjs""", page):
        raise RuntimeError("bertviz's page still refers to a remote script; the offline rewrite needs updating.")
    head = _vendor_scripts(Path(asset_dir))
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>attention</title></head>'
        f'<body style="margin:0">{head}\n{page}</body></html>'
    )


def escape_text(text: str) -> str:
    """HTML-escaped text (the views build heat strips from it)."""
    return html.escape(text, quote=True)


def ig_convergence(
    explainer: Explainer,
    example: Example | EncodedExample,
    *,
    target: int | str | None = None,
    steps: Sequence[int] = (4, 8, 16, 32, 50, 64),
    methods: Sequence[str] = ("riemann_trapezoid", "gausslegendre"),
) -> list[dict[str, Any]]:
    """|delta| and wall time of IG for each integration rule and number of steps (bench and tests)."""
    rows = []
    for method in methods:
        for n in steps:
            res = integrated_gradients(explainer, example, target=target, n_steps=n, method=method, ks=None)
            rows.append({"method": method, "n_steps": int(n), "abs_delta": abs(res["delta"]), "wall_s": res["wall_s"]})
    return rows
