"""The errors injected into the demo train set on purpose, so that detectors can be checked against the truth.

:class:`InjectionPlan` says how many exact duplicates, label conflicts, entity-type flips, offset errors
and random label flips a train set of a given size gets; :func:`inject` applies the plan to a clean
:class:`~core.data.demo_rows.Block`, each error on its own row, and returns the entries the manifest
lists. It is separate because it is the one place that makes the data wrong on purpose: the rules of what
counts as a plausible error (a type the label does not allow, a span still inside the sentence, ...) live
here, apart from the clean generator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.common.schema import KLUE_LABELS
from core.data.demo_lexicon import LEX, NR, TYPE_CODE, TYPES
from core.data.demo_manifest import KINDS
from core.data.demo_rows import Block
from core.data.demo_templates import REL_BY_LABEL, RELATION_OBJECT_TYPES


@dataclass(frozen=True)
class InjectionPlan:
    duplicates: int
    label_conflicts: int
    object_type_flips: int
    subject_type_flips: int
    offset_errors: int
    label_flips: int

    @classmethod
    def for_size(cls, n_train: int) -> InjectionPlan:
        k = n_train / 3000  # the planned counts are for 3,000 rows; scale with the size
        flips = max(2, round(40 * k))
        return cls(
            duplicates=max(1, round(20 * k)),
            label_conflicts=max(1, round(15 * k)),
            object_type_flips=flips - flips * 3 // 10,
            subject_type_flips=flips * 3 // 10,
            offset_errors=max(1, round(15 * k)),
            label_flips=max(1, round(0.03 * n_train)),
        )


_FLIP_MIN_LABEL_ROWS = 60  # type flips only on labels this large, so one flip is well under 5 %
_FLIP_MAX_SHARE = 0.025  # at most this share of a label carries the same flipped (role, type)


def _legit_object(label: int) -> set[int]:
    return {TYPE_CODE[t] for t in RELATION_OBJECT_TYPES[KLUE_LABELS[label]]}


def inject(
    base: Block, plan: InjectionPlan, rng: np.random.Generator
) -> tuple[Block, dict[str, list[dict[str, Any]]], np.ndarray]:
    """Apply the plan to a copy of ``base``; return rows (copies appended), entries by row index, touched.

    Every injection lands on its own row, and no injected row is the source of a copy.
    """
    block = base.copy()
    n = len(block)
    counts = np.bincount(block.label, minlength=len(KLUE_LABELS))
    order = rng.permutation(n).tolist()
    touched = np.zeros(n, dtype=bool)
    entries: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}

    def take(pred: Callable[[int], bool], want: int) -> list[int]:
        got = []
        for r in order:
            if len(got) == want:
                break
            if not touched[r] and pred(r):
                touched[r] = True
                got.append(r)
        if len(got) < want:
            raise AssertionError(f"demo injections: only {len(got)} of {want} eligible rows")
        return got

    copies: list[int] = []
    copy_labels: list[int] = []
    # Exact duplicates.
    for r in take(lambda r: True, plan.duplicates):
        entries["duplicates"].append({"id": n + len(copies), "copy_of": r})
        copies.append(r)
        copy_labels.append(int(block.label[r]))

    # Label conflicts: another label that fits the row's types (or no_relation).
    def conflict_label(r: int) -> list[int]:
        lab = int(block.label[r])
        st, ot = int(block.subj_type[r]), int(block.obj_type[r])
        cands = [] if lab == NR else [NR]
        for other, rel in REL_BY_LABEL.items():
            prefix = TYPE_CODE["ORG" if rel.label.startswith("org:") else "PER"]
            if other != lab and prefix == st and ot in _legit_object(other):
                cands.append(other)
        return cands

    for r in take(lambda r: bool(conflict_label(r)), plan.label_conflicts):
        cands = conflict_label(r)
        new = cands[int(rng.integers(0, len(cands)))]
        entries["label_conflicts"].append(
            {
                "id": n + len(copies),
                "conflicts_with": r,
                "label": KLUE_LABELS[new],
                "original_label": KLUE_LABELS[int(block.label[r])],
            }
        )
        copies.append(r)
        copy_labels.append(new)

    # Entity-type flips to a type the label does not allow, on large labels only.
    flipped: dict[tuple[int, str, int], int] = {}

    def cap(label: int) -> int:
        return max(1, int(_FLIP_MAX_SHARE * counts[label]))

    def obj_flip_types(r: int) -> list[int]:
        lab = int(block.label[r])
        if lab == NR or counts[lab] < _FLIP_MIN_LABEL_ROWS:
            return []
        bad = [t for t in range(len(TYPES)) if t not in _legit_object(lab)]
        return [t for t in bad if flipped.get((lab, "obj", t), 0) < cap(lab)]

    for _ in range(plan.object_type_flips):
        (r,) = take(lambda r: bool(obj_flip_types(r)), 1)
        options = obj_flip_types(r)
        new = options[int(rng.integers(0, len(options)))]
        lab = int(block.label[r])
        flipped[(lab, "obj", new)] = flipped.get((lab, "obj", new), 0) + 1
        entries["type_flips"].append(
            {"id": r, "role": "obj", "original_type": TYPES[block.obj_type[r]], "new_type": TYPES[new]}
        )
        block.obj_type[r] = new

    def subj_flip_ok(r: int) -> bool:
        lab = int(block.label[r])
        if lab == NR or counts[lab] < _FLIP_MIN_LABEL_ROWS:
            return False
        new = TYPE_CODE["PER"] if block.subj_type[r] == TYPE_CODE["ORG"] else TYPE_CODE["ORG"]
        return flipped.get((lab, "subj", new), 0) < cap(lab)

    for _ in range(plan.subject_type_flips):
        (r,) = take(subj_flip_ok, 1)
        lab = int(block.label[r])
        new = TYPE_CODE["PER"] if block.subj_type[r] == TYPE_CODE["ORG"] else TYPE_CODE["ORG"]
        flipped[(lab, "subj", new)] = flipped.get((lab, "subj", new), 0) + 1
        entries["type_flips"].append(
            {"id": r, "role": "subj", "original_type": TYPES[block.subj_type[r]], "new_type": TYPES[new]}
        )
        block.subj_type[r] = new

    # Offset errors: the span shifted, stretched or shrunk by 1-3 characters, still inside the sentence.
    def offset_options(r: int, role: str) -> list[tuple[int, int]]:
        sent = str(block.sentence[r])
        start = int(getattr(block, f"{role}_start")[r])
        end = int(getattr(block, f"{role}_end")[r])
        word = LEX.words[int(getattr(block, f"{role}_gid")[r])]
        opts = []
        for d in (-3, -2, -1, 1, 2, 3):
            for s2, e2 in ((start + d, end + d), (start, end + d), (start + d, end)):
                if 0 <= s2 <= e2 < len(sent) and sent[s2 : e2 + 1] != word:
                    opts.append((s2, e2))
        return opts

    def has_offset_option(r: int) -> bool:
        return bool(offset_options(r, "subj") or offset_options(r, "obj"))

    for r in take(has_offset_option, plan.offset_errors):
        roles = ["subj", "obj"] if rng.random() < 0.5 else ["obj", "subj"]
        role = next(x for x in roles if offset_options(r, x))
        opts = offset_options(r, role)
        s2, e2 = opts[int(rng.integers(0, len(opts)))]
        start_arr, end_arr = getattr(block, f"{role}_start"), getattr(block, f"{role}_end")
        entries["offset_errors"].append(
            {
                "id": r,
                "role": role,
                "start": s2,
                "end": e2,
                "original_start": int(start_arr[r]),
                "original_end": int(end_arr[r]),
            }
        )
        start_arr[r], end_arr[r] = s2, e2

    # Random label flips (uniform over the other 29 labels; types untouched).
    for r in take(lambda r: True, plan.label_flips):
        old = int(block.label[r])
        new = int((old + rng.integers(1, len(KLUE_LABELS))) % len(KLUE_LABELS))
        entries["label_flips"].append({"id": r, "original_label": KLUE_LABELS[old], "new_label": KLUE_LABELS[new]})
        block.label[r] = new

    copied = block.take(np.asarray(copies, dtype=np.int64))
    copied.label = np.asarray(copy_labels, dtype=np.int16)
    return Block.concat([block, copied]), entries, touched
