"""Turn canonical rows into model inputs: entity markers, prompt segments and entity-safe truncation.

Six input formats (``../shared/klue_re_facts.md``), shown on "이순신은 1545년에 태어났다." with subject
이순신/PER and object 1545년/DAT:

=============================  ================================================================
``baseline``                   ``[CLS] 이순신 [SEP] 1545년 [SEP] 이순신은 1545년에 태어났다. [SEP]``
``entity_marker``              ``[E1] 이순신 [/E1]은 [E2] 1545년 [/E2]에 ...`` (new special tokens)
``entity_marker_punct``        ``@ 이순신 @은 # 1545년 #에 ...``
``typed_entity_marker``        ``<S:PER> 이순신 </S:PER>은 <O:DAT> 1545년 </O:DAT>에 ...`` (new special tokens)
``typed_entity_marker_punct``  ``@ * PER * 이순신 @은 # ^ DAT ^ 1545년 #에 ...`` (types in English or Korean)
``prompt``                     ``[CLS] 이순신과 1545년의 관계 [SEP] 이순신은 1545년에 태어났다. [SEP]``
=============================  ================================================================

The prompt joins the subject with 와 or 과 by its final sound (과 after a final consonant), as Korean does.

Every row also gets the token index of its subject and object *start*: the start marker for the marker
formats, the first token of the entity inside the sentence for ``baseline`` and ``prompt``. The
entity-start head of :class:`core.train.model.REModel` pools the hidden states there.

Truncation never cuts an entity out silently. Rows are tokenised whole (one batched call to the fast
tokenizer, with offsets); a row longer than ``max_length`` keeps a window of its sentence tokens that
holds both entities with their markers, trimming context from both ends evenly. The window is cut out of
the token ids already computed (no second tokenisation, so the length is exact). When even the span from
the first entity to the last one cannot fit, the row is cut anyway and its id is reported in
:attr:`Encoded.truncated_ids`; an entity cut off that way points at position 0 (``[CLS]``).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from core.common.schema import KLUE_TYPE_NAMES_KO, LabelSchema

if TYPE_CHECKING:  # the frames come from callers; the training config imports this module for its constants
    import pandas as pd

__all__ = [
    "INPUT_FORMATS",
    "MARKER_FORMATS",
    "SPECIAL_TOKEN_FORMATS",
    "TYPE_LANGUAGES",
    "Encoded",
    "build_texts",
    "encode",
    "entity_markers",
    "format_vocabulary",
    "mark_row",
    "rust_backend",
    "special_tokens",
]

INPUT_FORMATS: tuple[str, ...] = (
    "baseline",
    "entity_marker",
    "entity_marker_punct",
    "typed_entity_marker",
    "typed_entity_marker_punct",
    "prompt",
)
#: Formats that insert markers into the sentence (the others put the entities in a first segment).
MARKER_FORMATS: frozenset[str] = frozenset(INPUT_FORMATS[1:5])
#: Formats whose markers must be added to the tokenizer as special tokens.
SPECIAL_TOKEN_FORMATS: frozenset[str] = frozenset({"entity_marker", "typed_entity_marker"})
TYPE_LANGUAGES: tuple[str, ...] = ("en", "ko")


@dataclass
class Encoded:
    """Model inputs for a frame, one entry per row in frame order.

    ``token_type_ids`` is ``None`` when the tokenizer has none (RoBERTa-style models).
    ``windowed_ids`` are rows shortened by dropping context only (both entities kept);
    ``truncated_ids`` are rows where an entity (or part of one) had to be cut.
    """

    ids: list[str]
    input_ids: list[list[int]]
    attention_mask: list[list[int]]
    token_type_ids: list[list[int]] | None
    subj_marker_pos: np.ndarray
    obj_marker_pos: np.ndarray
    windowed_ids: list[str] = field(default_factory=list)
    truncated_ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.input_ids), dtype=np.int64, count=len(self.input_ids))

    def features(self, labels: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """One dict per row, as ``DataCollatorWithPadding`` and the HF Trainer take them."""
        out: list[dict[str, Any]] = []
        for i in range(len(self.input_ids)):
            item: dict[str, Any] = {
                "input_ids": self.input_ids[i],
                "attention_mask": self.attention_mask[i],
                "subj_marker_pos": int(self.subj_marker_pos[i]),
                "obj_marker_pos": int(self.obj_marker_pos[i]),
            }
            if self.token_type_ids is not None:
                item["token_type_ids"] = self.token_type_ids[i]
            if labels is not None:
                item["labels"] = int(labels[i])
            out.append(item)
        return out


def _check_format(input_format: str, type_language: str = "en") -> None:
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"Unknown input format {input_format!r}; choose one of {', '.join(INPUT_FORMATS)}.")
    if type_language not in TYPE_LANGUAGES:
        raise ValueError(f"Unknown type language {type_language!r}; choose one of {', '.join(TYPE_LANGUAGES)}.")


def special_tokens(input_format: str, schema: LabelSchema) -> list[str]:
    """The new special tokens a format needs (empty for formats built from existing characters).

    Typed markers are made for every entity type in both roles: corrupted data (a type flip) can put any
    type on a subject, and a marker the tokenizer does not know would be split into pieces.
    """
    _check_format(input_format)
    if input_format == "entity_marker":
        return ["[E1]", "[/E1]", "[E2]", "[/E2]"]
    if input_format == "typed_entity_marker":
        tokens: list[str] = []
        for role in ("S", "O"):
            for etype in schema.entity_types:
                tokens += [f"<{role}:{etype}>", f"</{role}:{etype}>"]
        return tokens
    return []


def _type_name(etype: str, type_language: str) -> str:
    return KLUE_TYPE_NAMES_KO.get(etype, etype) if type_language == "ko" else etype


def entity_markers(input_format: str, subj_type: str, obj_type: str, type_language: str) -> tuple[str, str, str, str]:
    """(subject open, subject close, object open, object close) for one row."""
    if input_format == "entity_marker":
        return "[E1]", "[/E1]", "[E2]", "[/E2]"
    if input_format == "entity_marker_punct":
        return "@", "@", "#", "#"
    if input_format == "typed_entity_marker":
        return f"<S:{subj_type}>", f"</S:{subj_type}>", f"<O:{obj_type}>", f"</O:{obj_type}>"
    # typed_entity_marker_punct (Zhou and Chen, 2021)
    return (
        f"@ * {_type_name(subj_type, type_language)} *",
        "@",
        f"# ^ {_type_name(obj_type, type_language)} ^",
        "#",
    )


def _with_particle(word: str) -> str:
    """``word`` + 와/과: 과 after a Hangul syllable with a final consonant, 와 otherwise."""
    last = word[-1:] if word else ""
    if "가" <= last <= "힣" and (ord(last) - 0xAC00) % 28:
        return f"{word}과"
    return f"{word}와"


def format_vocabulary() -> list[str]:
    """Strings every format can write besides the sentence (punct markers, type names, prompt words).

    :func:`core.train.model.build_tiny_model` trains its WordPiece vocabulary on them too, so that a
    from-scratch tokenizer does not map ``@`` or ``사람`` to ``[UNK]``.
    """
    names = [*KLUE_TYPE_NAMES_KO, *KLUE_TYPE_NAMES_KO.values()]
    # The prompt's particles attach to the entity word ("이순신과"), so WordPiece needs them as
    # continuation pieces (##과) as well as on their own.
    return ["@ * # ^ @ #", " ".join(names), "와 과 의 관계 관계와 관계과 관계의"]


def mark_row(
    sentence: str,
    subj: tuple[int, int],
    obj: tuple[int, int],
    markers: tuple[str, str, str, str],
) -> tuple[str, tuple[int, int], tuple[int, int]]:
    """Insert ``open + " "`` before and ``" " + close`` after each span (``end`` INCLUSIVE).

    Returns the marked text and, for subject and object, the (start, end-exclusive) character range of
    the whole marked entity (open marker to close marker) in it. Overlapping or nested spans (bad data)
    still get all four markers, nested in span order.
    """
    s_open, s_close, o_open, o_close = markers
    # (position in the sentence, order at that position, role, is_open, text): closes come before opens
    # at a shared position so that adjacent entities do not interleave, and at a shared start the subject
    # opens first and closes last (it wraps the object).
    events = [
        (subj[0], 1, 0, True, s_open + " "),
        (subj[1] + 1, 0, 0, False, " " + s_close),
        (obj[0], 1, 1, True, o_open + " "),
        (obj[1] + 1, 0, 1, False, " " + o_close),
    ]
    events.sort(key=lambda e: (e[0], e[1], e[2] if e[3] else -e[2]))
    parts: list[str] = []
    starts = [0, 0]
    ends = [0, 0]
    cursor = 0
    length = 0
    for pos, _, role, is_open, text in events:
        chunk = sentence[cursor:pos]
        parts.append(chunk)
        length += len(chunk)
        cursor = pos
        if is_open:
            starts[role] = length
        parts.append(text)
        length += len(text)
        if not is_open:
            ends[role] = length
    parts.append(sentence[cursor:])
    return "".join(parts), (starts[0], ends[0]), (starts[1], ends[1])


def build_texts(
    frame: pd.DataFrame, input_format: str, type_language: str, sep_token: str | None
) -> tuple[list[str] | None, list[str], np.ndarray]:
    """First segments (or None), texts, and char ranges [subj_s, subj_e, obj_s, obj_e] in the text."""
    sentences = frame["sentence"].astype(str).tolist()
    ss = frame["subj_start"].astype("int64").to_numpy()
    se = frame["subj_end"].astype("int64").to_numpy()
    os_ = frame["obj_start"].astype("int64").to_numpy()
    oe = frame["obj_end"].astype("int64").to_numpy()
    spans = np.empty((len(frame), 4), dtype=np.int64)
    if input_format in MARKER_FORMATS:
        texts: list[str] = []
        stypes = frame["subj_type"].astype(str).tolist()
        otypes = frame["obj_type"].astype(str).tolist()
        for i, sentence in enumerate(sentences):
            markers = entity_markers(input_format, stypes[i], otypes[i], type_language)
            text, s_rng, o_rng = mark_row(sentence, (int(ss[i]), int(se[i])), (int(os_[i]), int(oe[i])), markers)
            texts.append(text)
            spans[i] = (*s_rng, *o_rng)
        return None, texts, spans
    # baseline / prompt: entities in a first segment, the plain sentence second.
    spans[:, 0], spans[:, 1], spans[:, 2], spans[:, 3] = ss, se + 1, os_, oe + 1
    subj_words = frame["subj_word"].astype(str).tolist()
    obj_words = frame["obj_word"].astype(str).tolist()
    if input_format == "baseline":
        # The tokenizer's own separator (``[SEP]`` for BERT, ``</s>`` for RoBERTa) so it stays one token.
        sep = f" {sep_token} " if sep_token else " "
        first = [f"{s}{sep}{o}" for s, o in zip(subj_words, obj_words, strict=True)]
    else:
        first = [f"{_with_particle(s)} {o}의 관계" for s, o in zip(subj_words, obj_words, strict=True)]
    return first, sentences, spans


def _check_special_tokens(tokenizer: Any, frame: pd.DataFrame, input_format: str) -> None:
    """Refuse to encode with markers the tokenizer would split (it was not prepared for the format)."""
    if input_format not in SPECIAL_TOKEN_FORMATS:
        return
    added = set(tokenizer.get_added_vocab())
    for col, role, plain in (("subj_type", "S", "[E1]"), ("obj_type", "O", "[E2]")):
        types = frame[col].astype(str)
        for etype in types.unique():
            opener = f"<{role}:{etype}>" if input_format == "typed_entity_marker" else plain
            if opener not in added:
                where = frame.loc[types == etype, "id"].iloc[0]
                raise ValueError(
                    f"Input format {input_format!r} needs the special token {opener} (row id {where}, {col} "
                    f"{etype!r}), which the tokenizer does not have: add core.train.encoding.special_tokens(...) to it "
                    "first (core.train.model.prepare_tokenizer does)."
                )


def encode(
    frame: pd.DataFrame,
    tokenizer: Any,
    *,
    input_format: str,
    max_length: int = 256,
    type_language: str = "en",
) -> Encoded:
    """Tokenise a canonical frame for relation classification.

    Parameters
    ----------
    frame
        Canonical rows (:data:`core.common.schema.COLUMNS`); offsets are character offsets, end inclusive.
    tokenizer
        A *fast* Hugging Face tokenizer (offsets are needed), already holding the format's
        :func:`special_tokens`.
    input_format
        One of :data:`INPUT_FORMATS`.
    max_length
        Longest sequence in tokens, special tokens included.
    type_language
        ``"en"`` (PER, ORG, ...) or ``"ko"`` (사람, 단체, ...) for ``typed_entity_marker_punct``.

    Returns
    -------
    Encoded
        Token ids, masks, entity start positions and the rows that were shortened or cut.
    """
    _check_format(input_format, type_language)
    if max_length < 8:
        raise ValueError(f"max_length must be at least 8 tokens, got {max_length}.")
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("Encoding needs a fast tokenizer (character offsets); this model only has a slow one.")
    ids = frame["id"].astype(str).tolist()
    n = len(ids)
    has_types = "token_type_ids" in getattr(tokenizer, "model_input_names", ())
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Encoded(ids, [], [], [] if has_types else None, empty, empty.copy())
    _check_special_tokens(tokenizer, frame, input_format)
    first, texts, spans = build_texts(frame, input_format, type_language, getattr(tokenizer, "sep_token", None))
    backend = rust_backend(tokenizer)
    with _gc_paused():
        return _encode_rows(backend, ids, first, texts, spans, max_length, has_types)


def _encode_rows(
    backend: Any,
    ids: list[str],
    first: list[str] | None,
    texts: list[str],
    spans: np.ndarray,
    max_length: int,
    has_types: bool,
) -> Encoded:
    n = len(ids)
    text_seq = 0 if first is None else 1
    encodings = backend.encode_batch(texts if first is None else list(zip(first, texts, strict=True)))
    input_ids = [e.ids for e in encodings]
    type_ids = [e.type_ids for e in encodings] if has_types else None
    subj_pos = np.zeros(n, dtype=np.int64)
    obj_pos = np.zeros(n, dtype=np.int64)
    windowed: list[str] = []
    truncated: list[str] = []
    for i, e in enumerate(encodings):
        s_tok = e.char_to_token(int(spans[i, 0]), text_seq)
        o_tok = e.char_to_token(int(spans[i, 2]), text_seq)
        # An entity that is only whitespace, or an offset past the end (bad data), has no token.
        subj_pos[i] = 0 if s_tok is None else s_tok
        obj_pos[i] = 0 if o_tok is None else o_tok
        if len(input_ids[i]) > max_length:
            kept = _window(e, i, spans[i], text_seq, max_length, subj_pos, obj_pos, input_ids, type_ids)
            (windowed if kept else truncated).append(ids[i])
    attention_mask = [[1] * len(x) for x in input_ids]
    return Encoded(ids, input_ids, attention_mask, type_ids, subj_pos, obj_pos, windowed, truncated)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building ~1M small int lists.

    The lists hold no cycles, but their allocation triggers full collections that rescan every object
    (a measured 0.3 s of 2 s for 33k rows); reference counting still frees everything as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def rust_backend(tokenizer: Any) -> Any:
    """A private copy of the tokenizer's Rust ``tokenizers.Tokenizer`` with truncation and padding off.

    Calling the Rust tokenizer directly (``encode_batch``, parallel) instead of ``tokenizer(...)`` skips
    transformers' per-row conversion of every encoding into Python lists, which measured at 0.9 s of
    2.4 s for 33k KLUE-length rows; the copy leaves the caller's tokenizer settings untouched.
    """
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_truncation()
    backend.no_padding()
    return backend


def _window(
    enc: Any,
    i: int,
    span: np.ndarray,
    text_seq: int,
    max_length: int,
    subj_pos: np.ndarray,
    obj_pos: np.ndarray,
    input_ids: list[list[int]],
    type_ids: list[list[int]] | None,
) -> bool:
    """Cut row ``i`` down to ``max_length`` tokens in place; True when both entities survived.

    Keeps every token outside the sentence segment (special tokens, the first segment) and a contiguous
    window of sentence tokens around the entities, centred when context is left on both sides.
    """
    seq_ids = enc.sequence_ids
    text_tokens = [k for k, s in enumerate(seq_ids) if s == text_seq]
    # A sentence with no tokens at all cannot hold the entities: the hard cut below handles it.
    t_first, t_last = (text_tokens[0], text_tokens[-1]) if text_tokens else (len(seq_ids), len(seq_ids) - 1)
    overhead = len(seq_ids) - len(text_tokens)
    budget = max_length - overhead
    offsets = enc.offsets
    lo_char, hi_char = int(min(span[0], span[2])), int(max(span[1], span[3]))
    # Sentence tokens that overlap the entity region [lo_char, hi_char).
    region = [k for k in text_tokens if offsets[k][1] > lo_char and offsets[k][0] < hi_char]
    r0, r1 = (region[0], region[-1]) if region else (t_first, t_first)
    kept = bool(text_tokens) and budget >= r1 - r0 + 1
    if budget < 1 or not text_tokens:
        # The first segment alone is too long (huge entity words): hard cut, keeping the final token.
        # Tokens before max_length - 1 keep their index (a..b is what survives of the sentence).
        a, b = t_first, max_length - 2
        new = input_ids[i][: max_length - 1] + input_ids[i][-1:]
        new_types = None if type_ids is None else type_ids[i][: max_length - 1] + type_ids[i][-1:]
    else:
        if kept:
            extra = budget - (r1 - r0 + 1)
            left_room, right_room = r0 - t_first, t_last - r1
            left = min(left_room, extra // 2)
            right = min(right_room, extra - left)
            left = min(left_room, extra - right)
            a, b = r0 - left, r1 + right
        else:
            a, b = r0, r0 + budget - 1  # keep the first entity's start; the rest is cut (and reported)
        keep = list(range(0, t_first)) + list(range(a, b + 1)) + list(range(t_last + 1, len(seq_ids)))
        row = input_ids[i]
        new = [row[k] for k in keep]
        new_types = None if type_ids is None else [type_ids[i][k] for k in keep]
    input_ids[i] = new
    if type_ids is not None and new_types is not None:
        type_ids[i] = new_types
    shift = a - t_first
    for pos in (subj_pos, obj_pos):
        p = int(pos[i])
        if t_first <= p <= t_last:
            # Inside the sentence: move with the window, or fall back to [CLS] when cut out.
            pos[i] = p - shift if a <= p <= b else 0
        elif p >= len(new):
            pos[i] = 0
    return bool(kept)
