"""Training-row augmentation: entity swap, entity-word replacement and random word masking.

The trainer applies :func:`augment` to the rows a model learns from, and only to them: dev, test and a
cross-validation's held-out fold are never passed here, so their rows and ids stay as the dataset holds
them. Each technique is an option of :class:`core.train.config.TrainConfig`, off by default:

``augment_entity_swap``
    A new row with subject and object swapped for every inverse or symmetric relation
    (``per:parents`` -> ``per:children``, ``per:spouse`` stays), by the rules of
    :func:`core.data.augment.entity_swap` (rows whose swapped subject type the new label does not allow
    are left out and counted). Deterministic: no randomness involved.
``augment_entity_replace`` (probability per row)
    A copy of the row with one entity (subject or object, drawn at random) replaced by another entity word
    of the same type from the training rows (subjects and objects alike), offsets shifted to fit. Teaches
    the relation's context rather than memorised names. A Korean particle after the entity is kept as it
    was, so it may not fit the new word's final sound (은/는, 을/를): a little noise, as in the teams' recipe.
``augment_word_mask`` (probability per word)
    Each word of a training row (a whitespace-separated run, as a Korean eojeol) that overlaps neither
    entity becomes the tokenizer's mask token. Applied in place, to the original rows and the added ones,
    once before training (the masked words stay the same across epochs), so the number of rows and steps
    does not change. It acts on the raw sentence, before :func:`core.train.encoding.mark_row` inserts the
    markers, so no marker and no entity word can be masked; an eojeol that holds an entity and its
    particle (``이순신은``) is kept whole. The offsets of entities after a masked word are shifted by the
    difference in length.

Added rows get the source row's id with ``-swap`` or ``-repl`` appended (a numbered suffix on the rare
collision), so each one traces back to the training row it came from. Every random draw comes from a
``numpy.random.Generator`` seeded by the run's seed (one independent stream per technique), so the same
seed gives the same rows. All functions are pure: they return new frames and never change their input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.common.schema import KLUE_SCHEMA, LabelSchema
from core.data.augment import entity_swap

__all__ = [
    "SUFFIXES",
    "Augmented",
    "augment",
    "mask_words",
    "replace_entities",
    "swap_entities",
]

#: Id suffix of each kind of added row.
SUFFIXES: dict[str, str] = {"entity_swap": "-swap", "entity_replace": "-repl"}
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Augmented:
    """:func:`augment`'s result.

    Attributes
    ----------
    frame
        The rows to learn from: the input rows first (masked where ``word_mask`` is on), then the added rows.
    counts
        ``entity_swap`` (rows added), ``entity_swap_skipped_type`` (inverse rows whose swapped subject
        type the new label does not allow), ``entity_replace`` (rows added), ``word_mask`` (rows with at
        least one word masked), ``words_masked`` and ``train_rows`` (rows of ``frame``).
    """

    frame: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)


def _spans(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return tuple(frame[c].to_numpy(dtype=np.int64) for c in ("subj_start", "subj_end", "obj_start", "obj_end"))  # type: ignore[return-value]


def _unique_ids(new_ids: Iterable[str], taken: set[str]) -> list[str]:
    """``new_ids`` with a ``-2``, ``-3`` ... suffix where one is already taken (by a row or an earlier new id)."""
    out = []
    for base in new_ids:
        candidate, k = base, 1
        while candidate in taken:
            k += 1
            candidate = f"{base}-{k}"
        taken.add(candidate)
        out.append(candidate)
    return out


def swap_entities(frame: pd.DataFrame, *, schema: LabelSchema = KLUE_SCHEMA) -> tuple[pd.DataFrame, int]:
    """Swapped copies of the inverse and symmetric rows (:func:`core.data.augment.entity_swap`):
    ``(new rows, rows skipped for their type)``."""
    result = entity_swap(frame, schema=schema, id_suffix=SUFFIXES["entity_swap"])
    return result.frame, result.skipped_type


def _replace_span(sentence: str, start: int, end: int, word: str) -> str:
    return sentence[:start] + word + sentence[end + 1 :]


def replace_entities(frame: pd.DataFrame, *, prob: float, rng: np.random.Generator) -> pd.DataFrame:
    """Copies of about ``prob`` of the rows, each with one entity replaced by another word of its type.

    The replacement is drawn from the entity words of that type in ``frame`` (subject and object roles
    together). Rows whose spans overlap (bad data), whose span does not hold its word, or whose type has no
    other word are not copied. Returns the new rows only (ids suffixed ``-repl``, not yet made unique).
    """
    if prob <= 0 or frame.empty:
        return frame.iloc[:0].copy()
    words = pd.concat(
        [
            frame[["subj_type", "subj_word"]].set_axis(["type", "word"], axis=1),
            frame[["obj_type", "obj_word"]].set_axis(["type", "word"], axis=1),
        ]
    )
    # Sorted unique words per type: the draws depend on the rows and the seed, not on row order in a set.
    pools = {t: np.array(sorted(set(g["word"].astype(str))), dtype=object) for t, g in words.groupby("type")}
    chosen = rng.random(len(frame)) < prob
    role = rng.integers(0, 2, size=len(frame))  # 0: subject, 1: object
    pick = rng.random(len(frame))  # which pool word, as a fraction of the pool (one draw per row, always)
    s0, s1, o0, o1 = _spans(frame)
    rows = []
    for i in np.flatnonzero(chosen).tolist():
        if not (s1[i] < o0[i] or o1[i] < s0[i]):
            continue
        sentence = str(frame["sentence"].iat[i])
        side, other = ("subj", "obj") if role[i] == 0 else ("obj", "subj")
        start, end = int(frame[f"{side}_start"].iat[i]), int(frame[f"{side}_end"].iat[i])
        old = str(frame[f"{side}_word"].iat[i])
        if sentence[start : end + 1] != old:
            continue
        pool = pools.get(frame[f"{side}_type"].iat[i], np.zeros(0, dtype=object))
        pool = pool[pool != old]
        if pool.size == 0:
            continue
        new = str(pool[min(int(pick[i] * pool.size), pool.size - 1)])
        row = frame.iloc[i].copy()
        row["sentence"] = _replace_span(sentence, start, end, new)
        row[f"{side}_word"] = new
        row[f"{side}_end"] = start + len(new) - 1
        if int(frame[f"{other}_start"].iat[i]) > end:  # the other entity comes after: shift it
            shift = len(new) - len(old)
            row[f"{other}_start"] = int(row[f"{other}_start"]) + shift
            row[f"{other}_end"] = int(row[f"{other}_end"]) + shift
        row["id"] = f"{row['id']}{SUFFIXES['entity_replace']}"
        rows.append(row)
    if not rows:
        return frame.iloc[:0].copy()
    return pd.DataFrame(rows, columns=frame.columns).astype(frame.dtypes.to_dict()).reset_index(drop=True)


def mask_words(
    frame: pd.DataFrame, *, prob: float, rng: np.random.Generator, mask_token: str
) -> tuple[pd.DataFrame, int, int]:
    """Each word outside both entity spans replaced by ``mask_token`` with probability ``prob``.

    A word is a whitespace-separated run of the sentence; one that overlaps an entity span in any
    character is never masked. Entity offsets after a masked word move by the change in length, so
    ``sentence[start:end + 1] == word`` still holds for both entities. Returns ``(frame, rows changed,
    words masked)``; the rows keep their ids.
    """
    if prob <= 0 or frame.empty:
        return frame.copy(), 0, 0
    if not mask_token or any(ch.isspace() for ch in mask_token):
        raise ValueError(f"mask_token must be one non-empty token without spaces, got {mask_token!r}.")
    out = frame.copy()
    s0, s1, o0, o1 = _spans(frame)
    sentences = frame["sentence"].astype(str).tolist()
    new_sentences = list(sentences)
    starts = np.stack([s0, s1, o0, o1], axis=1)
    shifted = starts.copy()
    rows_changed = words_masked = 0
    for i, sentence in enumerate(sentences):
        words = [(m.start(), m.end() - 1) for m in _WORD.finditer(sentence)]
        draws = rng.random(len(words))  # one draw per word, entity words included, so streams stay aligned
        pieces, last, masked = [], 0, 0
        for (a, b), u in zip(words, draws, strict=True):
            if u >= prob or not (b < s0[i] or a > s1[i]) or not (b < o0[i] or a > o1[i]):
                continue
            pieces += [sentence[last:a], mask_token]
            last = b + 1
            masked += 1
            # Every offset after this word moves by the change in length (spans never straddle a masked word).
            shifted[i] += np.where(starts[i] > b, len(mask_token) - (b - a + 1), 0)
        if masked:
            new_sentences[i] = "".join([*pieces, sentence[last:]])
            rows_changed += 1
            words_masked += masked
    out["sentence"] = new_sentences
    for j, column in enumerate(("subj_start", "subj_end", "obj_start", "obj_end")):
        out[column] = shifted[:, j].astype(frame[column].dtype)
    return out, rows_changed, words_masked


def augment(
    frame: pd.DataFrame,
    *,
    entity_swap: bool = False,
    entity_replace: float = 0.0,
    word_mask: float = 0.0,
    seed: int = 42,
    mask_token: str = "[MASK]",
    schema: LabelSchema = KLUE_SCHEMA,
) -> Augmented:
    """The training rows with the techniques asked for (all off: the rows as given).

    Swapped and replaced copies are made from the input rows; masking then acts on every row, added ones
    included. ``seed`` seeds one ``numpy.random.Generator`` stream per technique (``SeedSequence.spawn``),
    so turning one technique on does not change another's draws.
    """
    replace_rng, mask_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    swapped, skipped = swap_entities(frame, schema=schema) if entity_swap else (frame.iloc[:0], 0)
    replaced = replace_entities(frame, prob=entity_replace, rng=replace_rng)
    added = [part for part in (swapped, replaced) if not part.empty]
    rows = frame
    if added:
        new = pd.concat(added, ignore_index=True)
        new["id"] = _unique_ids(new["id"].astype(str), set(frame["id"].astype(str)))
        rows = pd.concat([frame, new.astype(frame.dtypes.to_dict())], ignore_index=True)
    rows, masked_rows, masked_words = mask_words(rows, prob=word_mask, rng=mask_rng, mask_token=mask_token)
    counts = {
        "entity_swap": len(swapped),
        "entity_swap_skipped_type": int(skipped),
        "entity_replace": len(replaced),
        "word_mask": masked_rows,
        "words_masked": masked_words,
        "train_rows": len(rows),
    }
    return Augmented(rows.reset_index(drop=True), counts)
