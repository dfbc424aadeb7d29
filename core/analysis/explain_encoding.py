"""The example to explain and how the model sees it: :class:`Example` and :class:`EncodedExample`.

:func:`make_example` checks a typed sentence and its spans, :func:`example_from_row` takes a canonical-frame
row; :func:`encode_example` encodes either exactly as the model's run does
(:func:`core.train.encoding.encode` with the run's input format, max length and type language, so
markers, prompt segments and entity-safe truncation are those the model saw in training) and assigns
every token to a *word unit*: a whitespace-separated word of the sentence, an entity marker, a special
token, or a word of a first segment. Every interpreter scores tokens and merges them by these units, so
the units are defined once, here, apart from the methods that use them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from core.analysis.explain_load import Explainer
from core.common.schema import COLUMNS
from core.train.encoding import MARKER_FORMATS, encode, mark_row

__all__ = ["EncodedExample", "Example", "encode_example", "example_from_row", "make_example"]


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
