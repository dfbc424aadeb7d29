"""The relation classifier: any Hugging Face encoder, a [CLS] or entity-start head, three losses.

:class:`REModel` wraps an ``AutoModel`` backbone (a hub id or a local folder; ``trust_remote_code`` is
always off, and attention is loaded as ``"eager"`` because transformers 5 only returns attention maps
from the eager implementation, which the error-analysis views read). The head pools either the first
token (``cls``) or the hidden states at the subject and object start positions that
:func:`core.train.encoding.encode` computed, concatenated (``entity_start``, "Matching the Blanks"; Zhou and
Chen, 2021), then dropout and one linear layer.

A run's checkpoint is an ordinary folder: ``model.safetensors`` (backbone and head weights),
the backbone's ``config.json``, the tokenizer files (with any marker tokens the format added) and
``re_head.json`` (head, input format, type language, labels in model order, max length). A run trained with
``restrict_types`` also holds ``restriction.json`` (:mod:`core.train.restriction`): the relations each
(subject type, object type) pair may be given, which the model applies to its logits in training and at
prediction (:meth:`REModel.set_restriction`). :func:`load_run_model` rebuilds the model from it without
touching the network.

Hub downloads follow the server (``[models] allow_hub_download`` in ``restudio.toml``, narrowed for a
job by ``$RESTUDIO_HUB_DOWNLOAD``: :func:`core.train.config.hub_downloads_allowed`): when they are off,
every ``from_pretrained`` here runs with ``local_files_only=True``, so only local folders and the
Hugging Face cache load, and a hub id that is not cached raises :class:`ModelNotAvailable` with one
clear sentence instead of a download (or a network error).

:func:`build_tiny_model` makes the demo backbone: a WordPiece tokenizer trained on the given sentences
and a randomly initialised tiny BERT, written as a normal local HF model folder so that the same
``from_pretrained`` path as for a real model runs on it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_model, save_model
from torch import nn
from torch.nn import functional as F
from transformers import AutoConfig, AutoModel, AutoTokenizer, DataCollatorWithPadding, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from core.common.atomic import atomic_write_text
from core.common.errors import RestudioError
from core.common.schema import LabelSchema
from core.store.runs import CHECKPOINT_DIR, HEAD_FILE, RESTRICTION_FILE, RunDir
from core.train.config import HEADS, LOSSES
from core.train.encoding import INPUT_FORMATS, Encoded, encode, format_vocabulary, special_tokens
from core.train.restriction import AllowedRelations, load_allowed, save_allowed

__all__ = [
    "CHECKPOINT_DIR",
    "HEAD_FILE",
    "ModelNotAvailable",
    "PredictionStopped",
    "REModel",
    "add_type_pairs",
    "build_model",
    "build_tiny_model",
    "class_weights",
    "focal_loss",
    "load_backbone",
    "load_run_model",
    "load_tokenizer",
    "predict_proba",
    "prepare_tokenizer",
    "save_checkpoint",
]

#: Bumped when the checkpoint layout changes, so an old reader can refuse a newer folder clearly.
CHECKPOINT_VERSION = 1


def class_weights(labels: Sequence[int] | np.ndarray, num_labels: int) -> torch.Tensor:
    """Inverse-frequency class weights, normalised so the average weight over the training rows is 1.

    ``w_c = N / (K * n_c)`` over the K classes present; a class absent from training never appears as a
    target, so its weight (1.0) has no effect.
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_labels).astype(np.float64)
    present = counts > 0
    weights = np.ones(num_labels, dtype=np.float64)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)


def focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    gamma: float = 2.0,
    alpha: float = 1.0,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean focal loss ``alpha * (1 - p_t) ** gamma * CE`` (Lin et al., 2017); ``gamma = 0`` is CE.

    ``p_t`` comes from the log-softmax (not from ``exp(-CE)`` of a weighted CE), so class weights scale the
    loss without changing the modulating factor.
    """
    log_probs = F.log_softmax(logits.float(), dim=-1)
    log_pt = log_probs.gather(1, targets.unsqueeze(1)).squeeze(1)
    ce = -log_pt
    if weight is not None:
        ce = ce * weight.to(ce.device)[targets]
    modulating = (1.0 - log_pt.exp()).clamp(min=0.0) ** gamma if gamma else torch.ones_like(ce)
    return (alpha * modulating * ce).mean()


def token_types_usable(config: Any) -> bool:
    """Whether a backbone can take the tokenizer's ``token_type_ids`` (type 1 for a pair's second text).

    ``klue/roberta-*`` put a ``RobertaModel`` whose token-type embedding has a single row behind a
    ``BertTokenizer`` that still emits type 1 for the second sentence of a pair (the ``baseline`` and ``prompt``
    formats): passing those ids indexes past the embedding, an ``IndexError`` on the CPU and a device-side
    assert that kills the job on a GPU. Decided from the model's config, never its name: with one type row
    (or none, as in DistilBERT) the ids are left out and every token gets the single row it was pretrained with.
    """
    return int(getattr(config, "type_vocab_size", 0) or 0) > 1


class REModel(nn.Module):
    """Backbone + head + classifier for sentence-level relation classification.

    Parameters
    ----------
    backbone
        An encoder returning ``last_hidden_state`` (any ``AutoModel``).
    labels
        Label names in model order (the classifier has one output per label).
    head
        ``"cls"`` (first-token pooling) or ``"entity_start"`` (subject and object start states concatenated).
    dropout
        Dropout before the classifier.
    loss
        ``"ce"``, ``"weighted_ce"`` (needs ``weights``) or ``"focal"``.
    weights
        Per-class weights (:func:`class_weights`); used by ``weighted_ce`` and, when given, by ``focal``.
    meta
        What a reader needs besides the weights (input format, type language, max length); saved as
        ``re_head.json`` together with ``head`` and ``labels``.
    """

    def __init__(
        self,
        backbone: PreTrainedModel,
        *,
        labels: Sequence[str],
        head: str = "cls",
        dropout: float = 0.1,
        loss: str = "ce",
        weights: torch.Tensor | None = None,
        focal_gamma: float = 2.0,
        focal_alpha: float = 1.0,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"Unknown head {head!r}; choose one of {', '.join(HEADS)}.")
        if loss not in LOSSES:
            raise ValueError(f"Unknown loss {loss!r}; choose one of {', '.join(LOSSES)}.")
        if loss == "weighted_ce" and weights is None:
            raise ValueError("The weighted_ce loss needs class weights (core.train.model.class_weights).")
        self.backbone = backbone
        self.use_token_types = token_types_usable(backbone.config)
        self.labels = tuple(labels)
        self.head = head
        self.loss_name = loss
        self.focal_gamma = float(focal_gamma)
        self.focal_alpha = float(focal_alpha)
        hidden = int(backbone.config.hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden * (2 if head == "entity_start" else 1), len(self.labels))
        # Not persistent: the weights belong to the training run, not to the saved model.
        self.register_buffer("class_weights", weights, persistent=False)
        # The type restriction lives in restriction.json, not in the weights (set_restriction).
        self.restriction: AllowedRelations | None = None
        self.register_buffer("allowed_mask", None, persistent=False)
        self.meta: dict[str, Any] = {
            **dict(meta or {}),
            "head": head,
            "labels": list(self.labels),
            "dropout": float(dropout),
        }

    def pool(
        self,
        hidden: torch.Tensor,
        subj_marker_pos: torch.Tensor | None = None,
        obj_marker_pos: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The vector the classifier sees: [CLS], or subject-start and object-start states side by side."""
        if self.head == "cls":
            return hidden[:, 0]
        if subj_marker_pos is None or obj_marker_pos is None:
            raise ValueError("The entity_start head needs subj_marker_pos and obj_marker_pos (core.train.encoding).")
        rows = torch.arange(hidden.size(0), device=hidden.device)
        return torch.cat([hidden[rows, subj_marker_pos], hidden[rows, obj_marker_pos]], dim=-1)

    def set_restriction(self, allowed: AllowedRelations | None) -> None:
        """Restrict the logits to the relations each type pair was seen with (None: no restriction).

        The mask holds one row per seen pair and a last all-True row that unseen pairs point at
        (:meth:`type_pair_ids`), so a row whose pair training never saw is not restricted.
        """
        if allowed is None:
            self.restriction, self.allowed_mask = None, None
            self.meta.pop("restriction", None)
            return
        table = allowed.in_order(self.labels)
        padded = np.vstack([table.mask, np.ones((1, len(self.labels)), dtype=bool)])
        device = next(self.parameters()).device
        self.restriction = table
        self.allowed_mask = torch.as_tensor(padded, dtype=torch.bool, device=device)
        self.meta["restriction"] = RESTRICTION_FILE

    def type_pair_ids(
        self, subj_types: Sequence[str] | np.ndarray, obj_types: Sequence[str] | np.ndarray
    ) -> np.ndarray:
        """Each row's row of the restriction mask (``forward``'s ``type_pair``): unseen pairs get the last,
        all-True row. Raises ``ValueError`` on an unrestricted model."""
        if self.restriction is None:
            raise ValueError("This model is not type-restricted: it takes no type_pair.")
        index = self.restriction.pair_index(subj_types, obj_types)
        return np.where(index < 0, len(self.restriction.pairs), index)

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.loss_name == "focal":
            return focal_loss(logits, labels, gamma=self.focal_gamma, alpha=self.focal_alpha, weight=self.class_weights)
        weight = self.class_weights if self.loss_name == "weighted_ce" else None
        return F.cross_entropy(logits.float(), labels, weight=weight)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        subj_marker_pos: torch.Tensor | None = None,
        obj_marker_pos: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool = False,
        row_index: torch.Tensor | None = None,
        type_pair: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        # row_index (each row's position in the train set) is unused here: it is in the signature so the
        # Trainer keeps it in the batch for core.train.dynamics' forward hook, which records per row.
        kwargs: dict[str, Any] = {"attention_mask": attention_mask}
        if token_type_ids is not None and self.use_token_types:
            kwargs["token_type_ids"] = token_type_ids
        if output_attentions:
            kwargs["output_attentions"] = True
        out = self.backbone(input_ids=input_ids, **kwargs)
        pooled = self.pool(out.last_hidden_state, subj_marker_pos, obj_marker_pos)
        logits = self.classifier(self.dropout(pooled))
        if self.allowed_mask is not None:
            if type_pair is None:
                # Silently unrestricted logits would disagree with the run's own predictions.
                raise ValueError("This model is type-restricted: pass type_pair (REModel.type_pair_ids).")
            # The lowest finite value, not -inf: a softmax gives those classes exactly 0 and no NaN appears.
            logits = logits.masked_fill(~self.allowed_mask[type_pair], torch.finfo(logits.dtype).min)
        loss = None if labels is None else self.compute_loss(logits, labels)
        return SequenceClassifierOutput(
            loss=loss, logits=logits, attentions=out.attentions if output_attentions else None
        )


# -- loading and building ----------------------------------------------------------------------------


class ModelNotAvailable(RestudioError, ValueError):
    """A hub model that is not in the local cache, on a server where hub downloads are off."""


def _local_files_only(allow_hub_download: bool | None) -> bool:
    """``local_files_only`` for ``from_pretrained``: the caller's choice, else the server's policy."""
    if allow_hub_download is None:
        from core.train.config import hub_downloads_allowed  # light: no torch there at import

        allow_hub_download = hub_downloads_allowed()
    return not allow_hub_download


def _from_pretrained(loader: Callable[..., Any], name_or_path: str, local_only: bool, **kwargs: Any) -> Any:
    try:
        return loader(name_or_path, local_files_only=local_only, **kwargs)
    except OSError:
        # transformers says "couldn't connect ... and couldn't find them in the cached files": true, but the
        # reason here is the server's policy, and the person needs to hear that instead.
        if local_only and not Path(name_or_path).expanduser().exists():
            from core.train.config import hub_download_refused

            raise ModelNotAvailable(hub_download_refused(name_or_path)) from None
        raise


def load_tokenizer(name_or_path: str | os.PathLike[str], *, allow_hub_download: bool | None = None) -> Any:
    """The backbone's tokenizer (fast: :func:`core.train.encoding.encode` needs character offsets).

    ``allow_hub_download``: False loads local folders and the Hugging Face cache only
    (:class:`ModelNotAvailable` otherwise); None follows the server's setting.
    """
    local_only = _local_files_only(allow_hub_download)
    tokenizer = _from_pretrained(AutoTokenizer.from_pretrained, str(name_or_path), local_only, trust_remote_code=False)
    if not tokenizer.is_fast:
        raise ValueError(f"{name_or_path}: only a slow tokenizer is available; RE Studio needs a fast one.")
    return tokenizer


def load_classifier(name_or_path: str | os.PathLike[str], *, allow_hub_download: bool | None = None) -> Any:
    """``AutoModelForSequenceClassification.from_pretrained`` (a plain HF classifier, e.g. for Explain)
    with remote code off, eager attention and hub downloads as in :func:`load_tokenizer`."""
    from transformers import AutoModelForSequenceClassification

    local_only = _local_files_only(allow_hub_download)
    return _from_pretrained(
        AutoModelForSequenceClassification.from_pretrained,
        str(name_or_path),
        local_only,
        trust_remote_code=False,
        attn_implementation="eager",
    )


def load_backbone(name_or_path: str | os.PathLike[str], *, allow_hub_download: bool | None = None) -> PreTrainedModel:
    """``AutoModel.from_pretrained`` with remote code off and eager attention (attention maps available).

    ``allow_hub_download`` as in :func:`load_tokenizer`.
    """
    local_only = _local_files_only(allow_hub_download)
    return _from_pretrained(
        AutoModel.from_pretrained, str(name_or_path), local_only, trust_remote_code=False, attn_implementation="eager"
    )


def load_masked_lm(
    name_or_path: str | os.PathLike[str], *, allow_hub_download: bool | None = None
) -> tuple[PreTrainedModel, list[str]]:
    """``AutoModelForMaskedLM.from_pretrained`` (TAPT's model: the backbone with a masked-LM head) with remote
    code off and hub downloads as in :func:`load_tokenizer`; returns the model and the names of the weights
    it had to initialise (the head, for a checkpoint saved without one). transformers' own loading report, a
    table of those names, is kept out of the job's log: the caller logs one line instead."""
    from transformers import AutoModelForMaskedLM
    from transformers.utils import logging as hf_logging

    local_only = _local_files_only(allow_hub_download)
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model, info = _from_pretrained(
            AutoModelForMaskedLM.from_pretrained,
            str(name_or_path),
            local_only,
            trust_remote_code=False,
            output_loading_info=True,
        )
    finally:
        hf_logging.set_verbosity(level)
    return model, list(info.get("missing_keys", []))


def prepare_tokenizer(tokenizer: Any, input_format: str, schema: LabelSchema) -> int:
    """Add the format's marker tokens as special tokens (never split); returns how many were new."""
    tokens = special_tokens(input_format, schema)
    if not tokens:
        return 0
    return int(tokenizer.add_special_tokens({"extra_special_tokens": tokens}, replace_extra_special_tokens=False))


def build_model(
    name_or_path: str | os.PathLike[str],
    tokenizer: Any,
    *,
    labels: Sequence[str],
    head: str = "cls",
    input_format: str = "baseline",
    type_language: str = "en",
    max_length: int = 256,
    dropout: float = 0.1,
    loss: str = "ce",
    weights: torch.Tensor | None = None,
    focal_gamma: float = 2.0,
    focal_alpha: float = 1.0,
    allow_hub_download: bool | None = None,
) -> REModel:
    """A fresh :class:`REModel` on a pretrained backbone, embeddings resized to the (prepared) tokenizer.

    ``allow_hub_download`` as in :func:`load_tokenizer`.
    """
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"Unknown input format {input_format!r}; choose one of {', '.join(INPUT_FORMATS)}.")
    backbone = load_backbone(name_or_path, allow_hub_download=allow_hub_download)
    if len(tokenizer) > backbone.get_input_embeddings().num_embeddings:
        # New marker tokens: grow the embedding matrix (new rows start at the mean of the old ones).
        backbone.resize_token_embeddings(len(tokenizer))
    meta = {
        "input_format": input_format,
        "type_language": type_language,
        "max_length": int(max_length),
        "backbone": str(name_or_path),
    }
    return REModel(
        backbone,
        labels=labels,
        head=head,
        dropout=dropout,
        loss=loss,
        weights=weights,
        focal_gamma=focal_gamma,
        focal_alpha=focal_alpha,
        meta=meta,
    )


def save_checkpoint(model: REModel, tokenizer: Any, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``model.safetensors``, the backbone config, the tokenizer and ``re_head.json`` to ``out_dir``.

    ``safetensors.torch.save_model`` (not ``save_file``) so backbones with tied weights save too.
    ``re_head.json`` is written last: a folder that has it is complete.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    head_file = out / HEAD_FILE
    head_file.unlink(missing_ok=True)
    save_model(model, str(out / "model.safetensors"), metadata={"format": "pt"})
    model.backbone.config.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if model.restriction is not None:
        save_allowed(model.restriction, out)
    else:
        (out / RESTRICTION_FILE).unlink(missing_ok=True)  # from an earlier, restricted attempt
    meta = {**model.meta, "checkpoint_version": CHECKPOINT_VERSION, "num_labels": len(model.labels)}
    _team_readable(out)
    atomic_write_text(head_file, lambda fh: json.dump(meta, fh, ensure_ascii=False, indent=2))
    return out


def _team_readable(folder: Path) -> None:
    """0644 for every file: safetensors and HF writers leave some at 0600, but runs are shared."""
    for path in folder.iterdir():
        if path.is_file():
            path.chmod(0o644)


def _checkpoint_dir(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if (path / HEAD_FILE).exists():
        return path
    if RunDir(path).checkpoint_head.exists():
        return RunDir(path).checkpoint
    raise FileNotFoundError(f"{path}: no {HEAD_FILE} here or in {CHECKPOINT_DIR}/ (not a finished RE Studio run).")


def load_run_model(
    run_dir_or_checkpoint: str | os.PathLike[str], *, device: str | torch.device | None = None
) -> tuple[REModel, Any, dict[str, Any]]:
    """Rebuild a saved model (run folder or its ``checkpoint/``) in eval mode: ``(model, tokenizer, meta)``."""
    folder = _checkpoint_dir(run_dir_or_checkpoint)
    meta = json.loads((folder / HEAD_FILE).read_text(encoding="utf-8"))
    if int(meta.get("checkpoint_version", 1)) > CHECKPOINT_VERSION:
        raise ValueError(f"{folder}: checkpoint format {meta['checkpoint_version']} is newer than this RE Studio.")
    # A run's checkpoint is a local folder: never anything to download.
    tokenizer = load_tokenizer(folder, allow_hub_download=False)
    config = AutoConfig.from_pretrained(folder, trust_remote_code=False, local_files_only=True)
    backbone = AutoModel.from_config(config, trust_remote_code=False, attn_implementation="eager")
    extra = {k: v for k, v in meta.items() if k not in ("head", "labels", "dropout")}
    model = REModel(
        backbone, labels=meta["labels"], head=meta["head"], dropout=float(meta.get("dropout", 0.1)), meta=extra
    )
    load_model(model, str(folder / "model.safetensors"), strict=True)
    model.set_restriction(load_allowed(folder))
    model.eval()
    if device is not None:
        model.to(device)
    return model, tokenizer, meta


class PredictionStopped(Exception):
    """:func:`predict_proba` was asked to stop (its ``should_stop`` said so) before every row was scored."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__(f"prediction stopped after {done} of {total} rows")
        self.done = done
        self.total = total


def predict_proba(
    model: REModel,
    tokenizer: Any,
    frame: pd.DataFrame,
    *,
    meta: Mapping[str, Any],
    batch_size: int = 64,
    encoded: Encoded | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Class probabilities (rows in frame order, columns in ``meta["labels"]`` order), float64.

    Rows are run shortest first with dynamic padding (far less padding than frame order), then put back.
    The softmax is taken in float64 so each row sums to 1 to rounding.

    Parameters
    ----------
    encoded
        ``frame`` already encoded with the model's input format and max length (the trainer has it):
        saves encoding the rows a second time.
    should_stop
        Polled after encoding and after every batch; when it returns True, :class:`PredictionStopped`
        is raised (a cancelled run predicts under a deadline and must not overrun it by a whole file).
    """
    if encoded is None:
        encoded = encode(
            frame,
            tokenizer,
            input_format=meta["input_format"],
            max_length=int(meta["max_length"]),
            type_language=meta.get("type_language", "en"),
        )
    n = len(encoded)
    if n != len(frame):
        raise ValueError(f"encoded holds {n} rows but the frame has {len(frame)}")
    probs = np.zeros((n, len(meta["labels"])), dtype=np.float64)
    if n == 0:
        return probs
    if should_stop is not None and should_stop():
        raise PredictionStopped(0, n)
    features = add_type_pairs(model, encoded.features(), frame)
    collator = DataCollatorWithPadding(tokenizer)
    order = np.argsort(encoded.lengths, kind="stable")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                batch = collator([features[k] for k in idx])
                logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
                probs[idx] = torch.softmax(logits.double(), dim=-1).cpu().numpy()
                done = min(start + batch_size, n)
                if done < n and should_stop is not None and should_stop():
                    raise PredictionStopped(done, n)
    finally:
        model.train(was_training)
    return probs


def add_type_pairs(model: REModel, features: list[dict[str, Any]], frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``features`` (one dict per row of ``frame``, :meth:`Encoded.features`) with each row's ``type_pair``
    when ``model`` is type-restricted; unchanged otherwise."""
    if model.restriction is None:
        return features
    if len(features) != len(frame):
        raise ValueError(f"{len(features)} features for {len(frame)} rows")
    pairs = model.type_pair_ids(frame["subj_type"].astype(str).tolist(), frame["obj_type"].astype(str).tolist())
    for item, pair in zip(features, pairs.tolist(), strict=True):
        item["type_pair"] = int(pair)
    return features


def wordpiece_tokenizer(texts: Iterable[str], *, vocab_size: int = 8000) -> Any:
    """A ``BertTokenizer`` with a WordPiece vocabulary trained on ``texts`` (the tiny BERT's, and the
    tokenizer the tiny RoBERTa and ELECTRA checkpoints of :mod:`core.train.tiny_backbones` share).

    The normaliser keeps case and accents: BERT's accent stripping decomposes Hangul syllables (NFD) into
    jamo, which would shred Korean. The vocabulary also sees :func:`core.train.encoding.format_vocabulary`
    (punctuation markers, type names, prompt words), so no input format maps its markers to ``[UNK]``.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertTokenizer

    corpus = [*texts, *format_vocabulary()]
    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False
    )
    # The trainer creates each "##c" continuation token the first time it meets one while walking a hash map,
    # so their ids, the merge tie-breaks that compare ids, and so the vocabulary itself differ from one run
    # to the next (huggingface/tokenizers#1794). Registering every "##c" up front, in sorted order, fixes
    # their ids: the same sentences then always give the same vocabulary, and every fold and rerun of a
    # tiny-model job the same backbone.
    alphabet = sorted({char for text in corpus for char in normalizer.normalize_str(text) if not char.isspace()})
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    continuations = [f"##{char}" for char in alphabet]
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizer
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=[*specials, *continuations], show_progress=False
    )
    wordpiece.train_from_iterator(corpus, trainer=trainer)
    # BertTokenizer rebuilds the same normaliser / pre-tokeniser / [CLS] A [SEP] B [SEP] template from the
    # vocabulary, and its tokenizer_config.json records lowercase=False so AutoTokenizer reloads it as is.
    return BertTokenizer(vocab=wordpiece.get_vocab(), do_lower_case=False, strip_accents=False, model_max_length=512)


def build_tiny_model(
    out_dir: str | os.PathLike[str],
    texts: Iterable[str],
    *,
    vocab_size: int = 8000,
    hidden: int = 128,
    layers: int = 2,
    heads: int = 4,
    seed: int = 0,
) -> Path:
    """Train a WordPiece tokenizer on ``texts`` and write it with a random tiny BERT as a local HF model."""
    from transformers import BertConfig, BertModel

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = wordpiece_tokenizer(texts, vocab_size=vocab_size)
    tokenizer.save_pretrained(out)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * hidden,
        max_position_embeddings=512,
        type_vocab_size=2,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):  # seed the init without moving the caller's RNG
        torch.manual_seed(seed)
        model = BertModel(config)
    model.save_pretrained(out)
    _team_readable(out)
    return out
