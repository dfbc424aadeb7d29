"""Clean row generation of the synthetic demo dataset: columnar row blocks, drawn template by template.

A :class:`Block` holds rows as columns of integers and strings (template, word ids per slot, offsets,
types) before they are rendered to CSV text, so that later steps (the injections, the test set) edit
integers rather than strings. :class:`Generator` fills blocks with numpy, vectorised over the rows of one
template, and remembers the entity choices it has used, so that train rows stay unique and test rows do
not repeat train by chance; :func:`label_counts` gives each label its number of rows with a KLUE-like
imbalance. It is separate because it is the performance-critical part (the benchmark builds a
1,000,000-row file from it) and is shared by the large-file writer, the injections and the demo test set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from core.common.schema import KLUE_LABELS, KLUE_SOURCES
from core.data.demo_lexicon import LEX, N_GIVEN, NR, STR, TYPE_CODE
from core.data.demo_templates import MAX_SLOTS, REL_BY_LABEL, TEMPLATES, Rel, Template, Variant

# Approximate label counts of the competition train set (32,470 rows), used only as relative weights.
_KLUE_TRAIN_COUNTS: dict[str, int] = {
    "no_relation": 9534,
    "org:top_members/employees": 4284,
    "org:members": 420,
    "org:product": 380,
    "per:title": 2103,
    "org:alternate_names": 1320,
    "per:employee_of": 3573,
    "org:place_of_headquarters": 1195,
    "per:product": 139,
    "org:number_of_employees/members": 48,
    "per:children": 304,
    "per:place_of_residence": 193,
    "per:alternate_names": 1001,
    "per:other_family": 190,
    "per:colleagues": 534,
    "per:origin": 1234,
    "per:siblings": 136,
    "per:spouse": 795,
    "org:founded": 450,
    "org:political/religious_affiliation": 98,
    "org:member_of": 1866,
    "per:parents": 520,
    "org:dissolved": 66,
    "per:schools_attended": 82,
    "per:date_of_death": 418,
    "per:date_of_birth": 1130,
    "per:place_of_birth": 166,
    "per:place_of_death": 40,
    "org:founded_by": 155,
    "per:religion": 96,
}

_SOURCE_AFFINITY = 0.75  # share of a template's rows that carry its usual source
_DERIVED_SHARE = 0.25  # share of no_relation rows marked on an unrelated pair of a relation sentence
_MIN_TYPE_SHARE = 0.15  # floor for each legitimate object type of a two-type relation
_FLOOR_SHARE = 0.006  # each relation gets at least this share of rows (18 of 3,000)

# ----------------------------------------------------------------------------------------------------
# Row blocks: columnar rows before rendering, so injections edit integers rather than strings.
# ----------------------------------------------------------------------------------------------------


@dataclass
class Block:
    sentence: np.ndarray  # StringDType
    label: np.ndarray  # int16, index into KLUE_LABELS
    source: np.ndarray  # int8, index into KLUE_SOURCES
    tpl: np.ndarray  # int32, index into TEMPLATES
    var: np.ndarray  # int8, variant of the template
    slot_gid: np.ndarray  # (n, 4) int32 word id per slot, -1 where the template has fewer slots
    slot_start: np.ndarray  # (n, 4) int64
    subj_slot: np.ndarray  # int8
    obj_slot: np.ndarray  # int8
    subj_gid: np.ndarray  # int32
    obj_gid: np.ndarray
    subj_start: np.ndarray  # int64; end inclusive
    subj_end: np.ndarray
    obj_start: np.ndarray
    obj_end: np.ndarray
    subj_type: np.ndarray  # int8 type code
    obj_type: np.ndarray

    def __len__(self) -> int:
        return len(self.label)

    def take(self, idx: np.ndarray) -> Block:
        return Block(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def copy(self) -> Block:
        return Block(**{f.name: getattr(self, f.name).copy() for f in fields(self)})

    @staticmethod
    def concat(blocks: list[Block]) -> Block:
        return Block(**{f.name: np.concatenate([getattr(b, f.name) for b in blocks]) for f in fields(Block)})


def group_sig(tpl: int, var: int, s: int, o: int) -> tuple[int, int, int, int]:
    return (tpl, var, s, o)


def entity_keys(slot_gid: np.ndarray) -> np.ndarray:
    """One int64 per row identifying its entity choice (mixed radix over the slots)."""
    n_words = np.int64(len(LEX.words) + 1)
    key = np.zeros(len(slot_gid), dtype=np.int64)
    for k in range(slot_gid.shape[1]):
        key = key * n_words + (slot_gid[:, k].astype(np.int64) + 1)
    return key


class Generator:
    """Draws clean rows template by template; remembers every (template, pair, entities) it used.

    The memory lets the demo keep train rows unique and keep the test set from repeating train triples
    by chance (the few shared triples are put there on purpose).
    """

    def __init__(self, *, unique: bool) -> None:
        self.unique = unique
        self.used: dict[tuple[int, int, int, int], np.ndarray] = {}

    # -- sampling ------------------------------------------------------------------------------------
    @staticmethod
    def _sample(v: Variant, c: int, rng: np.random.Generator) -> np.ndarray:
        idx = np.zeros((c, len(v.classes)), dtype=np.int64)
        gid = np.full((c, MAX_SLOTS), -1, dtype=np.int32)
        for k in v.order:
            cls = LEX.classes[v.classes[k]]
            tie = v.ties[k]
            if tie is None:
                idx[:, k] = rng.integers(0, len(cls), c)
            elif tie[0] == "pair":
                idx[:, k] = idx[:, tie[1]]
            else:  # kin: same surname, another given name
                ref = idx[:, tie[1]]
                given = (ref % N_GIVEN + rng.integers(1, N_GIVEN, c)) % N_GIVEN
                idx[:, k] = (ref // N_GIVEN) * N_GIVEN + given
            gid[:, k] = cls[idx[:, k]]
        return gid

    def _draw(self, sig: tuple[int, int, int, int], v: Variant, c: int, rng: np.random.Generator) -> np.ndarray:
        gid = self._sample(v, c, rng)
        n_slots = len(v.classes)

        def clashes(g: np.ndarray) -> np.ndarray:
            # One word in two slots of a sentence would make the marked pair ambiguous.
            bad = np.zeros(len(g), dtype=bool)
            for a in range(n_slots):
                for b in range(a + 1, n_slots):
                    bad |= g[:, a] == g[:, b]
            return bad

        used = self.used.get(sig, np.zeros(0, dtype=np.int64))
        if self.unique:
            best, stalled = c + 1, 0
            for _ in range(200):
                keys = entity_keys(gid)
                _, first = np.unique(keys, return_index=True)
                bad = np.ones(c, dtype=bool)
                bad[first] = False
                bad |= np.isin(keys, used) | clashes(gid)
                n_bad = int(bad.sum())
                if n_bad == 0:
                    break
                stalled = stalled + 1 if n_bad >= best else 0
                if stalled >= 10:  # no progress in 10 rounds: not just bad luck
                    break  # the template has run out of unused combinations: keep the repeats
                best = min(best, n_bad)
                gid[bad] = self._sample(v, n_bad, rng)
        for _ in range(100):
            bad = clashes(gid)
            if not bad.any():
                break
            gid[bad] = self._sample(v, int(bad.sum()), rng)
        else:
            raise AssertionError("demo generator: could not draw distinct entities")
        self.used[sig] = np.concatenate([used, entity_keys(gid)])
        return gid

    # -- one group: one template, one variant, one marked pair ----------------------------------------
    def group(self, tpl_i: int, var_i: int, s: int, o: int, label: int, c: int, rng: np.random.Generator) -> Block:
        t = TEMPLATES[tpl_i]
        v = t.variants[var_i]
        gid = self._draw(group_sig(tpl_i, var_i, s, o), v, c, rng)
        sentence, starts = _assemble(t, gid)
        src = np.full(c, t.source, dtype=np.int8)
        moved = rng.random(c) >= _SOURCE_AFFINITY
        src[moved] = (t.source + rng.integers(1, len(KLUE_SOURCES), int(moved.sum()))) % len(KLUE_SOURCES)
        rows = np.arange(c)
        sg, og = gid[rows, s], gid[rows, o]
        return Block(
            sentence=sentence,
            label=np.full(c, label, dtype=np.int16),
            source=src,
            tpl=np.full(c, tpl_i, dtype=np.int32),
            var=np.full(c, var_i, dtype=np.int8),
            slot_gid=gid,
            slot_start=starts,
            subj_slot=np.full(c, s, dtype=np.int8),
            obj_slot=np.full(c, o, dtype=np.int8),
            subj_gid=sg,
            obj_gid=og,
            subj_start=starts[:, s].copy(),
            subj_end=starts[:, s] + LEX.length[sg] - 1,
            obj_start=starts[:, o].copy(),
            obj_end=starts[:, o] + LEX.length[og] - 1,
            subj_type=LEX.type_code[sg].copy(),
            obj_type=LEX.type_code[og].copy(),
        )

    def _spread(
        self,
        total: int,
        options: list[tuple[int, int, int, int]],
        weights: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Split ``total`` rows over groups (tpl, var, s, o) at random, by ``weights``.

        With ``unique``, a group gets at most half of its unused entity combinations while others have
        room, so that short templates over small lexicons do not run out of distinct rows.
        """
        w = np.asarray(weights, dtype=float) / np.sum(weights)
        counts = rng.multinomial(total, w)
        if not self.unique:
            return counts
        free = [
            _capacity(TEMPLATES[ti].variants[vi]) - len(self.used.get(group_sig(ti, vi, a, b), ()))
            for ti, vi, a, b in options
        ]
        ceil = np.maximum(np.asarray(free, dtype=np.int64) // 2, 0)
        for _ in range(10):
            excess = int(np.maximum(counts - ceil, 0).sum())
            room = ceil - np.minimum(counts, ceil)
            if excess == 0 or room.sum() == 0:
                break
            counts = np.minimum(counts, ceil)
            share = w * (room > 0)
            counts += rng.multinomial(excess, share / share.sum())
        return counts

    def block(self, counts: np.ndarray, rng: np.random.Generator, *, poh_boost: float = 1.0) -> Block:
        """Rows for ``counts[label]`` rows per label, shuffled."""
        groups: list[tuple[int, int, int, int, int, int]] = []  # tpl, var, s, o, label, count
        for label, m in enumerate(counts.tolist()):
            if m == 0:
                continue
            if label == NR:
                groups += self._no_relation_groups(m, rng, poh_boost)
                continue
            rel = REL_BY_LABEL[label]
            for type_code, m_t in _split_types(m, rel).items():
                opts = [
                    (ti, vi, t.s, t.o)
                    for ti, t in enumerate(TEMPLATES)
                    if t.label == label
                    for vi, v in enumerate(t.variants)
                    if v.obj_type == type_code
                ]
                spread = self._spread(m_t, opts, np.ones(len(opts)), rng)
                groups += [(*opt, label, int(c)) for opt, c in zip(opts, spread, strict=True)]
        blocks = [self.group(ti, vi, s, o, lab, c, rng) for ti, vi, s, o, lab, c in groups if c > 0]
        out = Block.concat(blocks)
        return out.take(rng.permutation(len(out)))

    def _no_relation_groups(
        self, m: int, rng: np.random.Generator, poh_boost: float
    ) -> list[tuple[int, int, int, int, int, int]]:
        m_derived = round(_DERIVED_SHARE * m)
        plain = [(ti, 0, t.s, t.o) for ti, t in enumerate(TEMPLATES) if t.label == NR]
        poh = TYPE_CODE["POH"]
        w = np.array([poh_boost if TEMPLATES[ti].variants[0].obj_type == poh else 1.0 for ti, *_ in plain])
        spread = self._spread(m - m_derived, plain, w, rng)
        out = [(*opt, NR, int(c)) for opt, c in zip(plain, spread, strict=True)]
        # Derived: a relation sentence marked on an unrelated pair; each template weighs the same.
        opts: list[tuple[int, int, int, int]] = []
        ws: list[float] = []
        for ti, t in enumerate(TEMPLATES):
            pairs = [(ti, vi, a, b) for vi, v in enumerate(t.variants) for a, b in v.alt_pairs]
            opts += pairs
            ws += [1.0 / len(pairs) for _ in pairs]
        spread = self._spread(m_derived, opts, np.asarray(ws), rng)
        return out + [(*opt, NR, int(c)) for opt, c in zip(opts, spread, strict=True)]


def _capacity(v: Variant) -> int:
    """How many distinct entity choices a template variant has (a tie adds none, a relative G - 1)."""
    cap = 1
    for cls, tie in zip(v.classes, v.ties, strict=True):
        if tie is None:
            cap *= len(LEX.classes[cls])
        elif tie[0] == "kin":
            cap *= N_GIVEN - 1
    return cap


def _split_types(m: int, rel: Rel) -> dict[int, int]:
    """Rows per object type: deterministic, each legitimate type at least 15 % of the label."""
    types = [TYPE_CODE[t] for t in rel.obj]
    if len(types) == 1:
        return {types[0]: m}
    minor = round(m * rel.minor_share)
    if m >= 4:
        floor = math.ceil(_MIN_TYPE_SHARE * m)
        minor = min(max(minor, floor), m - floor)
    return {types[0]: m - minor, types[1]: minor}


def _assemble(t: Template, gid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sentences and slot start offsets for one template, vectorised over rows."""
    c = len(gid)
    acc = np.full(c, "", dtype=STR)
    pos = np.zeros(c, dtype=np.int64)
    starts = np.full((c, MAX_SLOTS), -1, dtype=np.int64)
    for part in t.parts:
        kind = part[0]
        if kind == "lit":
            acc = np.strings.add(acc, part[1])
            pos += len(part[1])
        elif kind == "slot":
            k = part[1]
            starts[:, k] = pos
            acc = np.strings.add(acc, LEX.word_arr[gid[:, k]])
            pos += LEX.length[gid[:, k]]
        else:
            _, k, after_batchim, after_vowel, is_ro = part
            g = gid[:, k]
            use_a = LEX.batchim[g] & ~LEX.rieul[g] if is_ro else LEX.batchim[g]
            forms = np.asarray([after_vowel, after_batchim], dtype=STR)
            acc = np.strings.add(acc, forms[use_a.astype(np.intp)])
            pos += np.where(use_a, len(after_batchim), len(after_vowel))
    return acc, starts


def _allocate(total: int, weights: np.ndarray, floor: int) -> np.ndarray:
    """Split ``total`` by ``weights``, every entry at least ``floor`` (water-filling, largest remainder)."""
    k = len(weights)
    floor = min(floor, total // k) if k else 0
    fixed = np.zeros(k, dtype=bool)
    while True:
        free = ~fixed
        rest = total - floor * int(fixed.sum())
        quota = np.where(fixed, float(floor), rest * weights / weights[free].sum())
        low = free & (quota < floor)
        if not low.any():
            break
        fixed |= low
    base = np.floor(quota).astype(np.int64)
    left = total - int(base.sum())
    order = np.lexsort((np.arange(k), -(quota - base)))  # largest remainder, ties by position
    base[order[:left]] += 1
    return base


def label_counts(n: int, no_relation_share: float, poh_boost: float) -> np.ndarray:
    """Rows per label (KLUE_LABELS order) for ``n`` rows."""
    n_nr = round(n * no_relation_share)
    rel_labels = [i for i in range(len(KLUE_LABELS)) if i != NR]
    weights = []
    for i in rel_labels:
        rel = REL_BY_LABEL[i]
        poh_part = 0.0
        if "POH" in rel.obj:
            poh_part = (
                1.0 if len(rel.obj) == 1 else (rel.minor_share if list(rel.obj)[1] == "POH" else 1 - rel.minor_share)
            )
        weights.append(_KLUE_TRAIN_COUNTS[KLUE_LABELS[i]] * (1 + (poh_boost - 1) * poh_part))
    floor = round(_FLOOR_SHARE * n) if n >= 200 else int(n >= 29)
    counts = np.zeros(len(KLUE_LABELS), dtype=np.int64)
    counts[rel_labels] = _allocate(n - n_nr, np.asarray(weights, dtype=float), floor)
    counts[NR] = n_nr
    return counts
