"""The seeded synthetic Korean demo dataset, in the KLUE-RE competition CSV format.

RE Studio embeds this dataset as its default data: every later feature (loading, the audit, training a
small model, confident-learning label-error detection, scoring) is exercised on it. It therefore has to
look like the real competition data and be learnable:

- all 30 KLUE labels with a KLUE-like imbalance (``no_relation`` about 30 %, a long tail, but every label
  with enough rows for a stratified dev split);
- Korean sentences from several relation-specific templates per label, the subject before or after the
  object, particles (은/는, 이/가, ...) chosen by the final sound of the entity, entity words that contain
  quotes, commas and brackets;
- ``no_relation`` rows from their own templates and from relation sentences marked on another,
  unrelated entity pair, as in the real data;
- character-exact offsets (``sentence[start_idx:end_idx + 1] == word``, end inclusive);
- a test set with a larger ``no_relation`` share and more POH objects than train, sharing some sentences
  (under other entity pairs) and a few exact triples with train;
- train errors injected on purpose and listed in ``manifest.json`` (entity-type flips, exact duplicates,
  label conflicts, offset errors, random label flips), so that detectors can be checked against the truth.

Why hand-written: no library generates KLUE-format relation data; the row generator is vectorised with
numpy (``StringDType`` string arithmetic, one pass per template) because the benchmark builds a
1,000,000-row file from it and a per-row Python loop would be several times slower. Everything is drawn
from one ``numpy`` seed, so the same seed writes the same bytes.

This module holds the public writers (:func:`write_demo_dataset`, :func:`write_large_csv`,
:func:`generate_rows`), the rendering to the competition CSV and the demo test set. The parts live in
sibling modules: :mod:`core.data.demo_lexicon` (entity words), :mod:`core.data.demo_templates` (relations
and sentence templates), :mod:`core.data.demo_rows` (the vectorised row generator),
:mod:`core.data.demo_injections` (the injected train errors) and :mod:`core.data.demo_manifest`
(``manifest.json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from core.common.atomic import atomic_write_text
from core.common.schema import KLUE_LABELS, KLUE_SOURCES, UNLABELED_TEST_LABEL
from core.data.demo_injections import InjectionPlan, inject
from core.data.demo_lexicon import LEX, NR, STR, TYPES
from core.data.demo_manifest import KINDS, DemoManifest
from core.data.demo_rows import Block, Generator, entity_keys, group_sig, label_counts
from core.data.demo_templates import TEMPLATES

__all__ = [
    "COMPETITION_COLUMNS",
    "generate_rows",
    "write_demo_dataset",
    "write_large_csv",
]

#: Columns of the competition CSV, in file order.
COMPETITION_COLUMNS: tuple[str, ...] = (
    "id",
    "sentence",
    "subject_entity",
    "object_entity",
    "label",
    "source",
)

# ----------------------------------------------------------------------------------------------------
# Rendering to the competition CSV.
# ----------------------------------------------------------------------------------------------------

_TYPE_TAIL = np.asarray([f", 'type': '{t}'}}" for t in TYPES], dtype=STR)


def _entity_strings(gid: np.ndarray, start: np.ndarray, end: np.ndarray, type_code: np.ndarray) -> np.ndarray:
    """``repr()`` of ``{'word', 'start_idx', 'end_idx', 'type'}`` dicts, built column-wise."""
    out = np.strings.add("{'word': ", LEX.repr_arr[gid])
    out = np.strings.add(out, ", 'start_idx': ")
    out = np.strings.add(out, start.astype(STR))
    out = np.strings.add(out, ", 'end_idx': ")
    out = np.strings.add(out, end.astype(STR))
    return np.strings.add(out, _TYPE_TAIL[type_code])


_PD_STR = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default ``str`` dtype


def _as_str(arr: np.ndarray) -> pd.Series:
    """A pandas ``str`` column straight from a numpy string array (no Python objects in between)."""
    return pd.Series(pa.array(arr, type=pa.large_string()), dtype=_PD_STR)


def _render(block: Block, ids: np.ndarray, *, unlabeled: bool = False) -> pd.DataFrame:
    labels: Any
    if unlabeled:
        labels = np.full(len(block), UNLABELED_TEST_LABEL, dtype=np.int64)
    else:
        labels = _as_str(np.asarray(KLUE_LABELS, dtype=STR)[block.label])
    return pd.DataFrame(
        {
            "id": np.asarray(ids, dtype=np.int64),
            "sentence": _as_str(block.sentence),
            "subject_entity": _as_str(
                _entity_strings(block.subj_gid, block.subj_start, block.subj_end, block.subj_type)
            ),
            "object_entity": _as_str(_entity_strings(block.obj_gid, block.obj_start, block.obj_end, block.obj_type)),
            "label": labels,
            "source": _as_str(np.asarray(KLUE_SOURCES, dtype=STR)[block.source]),
        }
    )


def generate_rows(
    n: int,
    *,
    seed: int,
    no_relation_share: float = 0.30,
    poh_boost: float = 1.0,
    unique: bool = True,
) -> pd.DataFrame:
    """Clean synthetic KLUE-RE rows in competition-CSV columns.

    Parameters
    ----------
    n
        Number of rows (>= 0).
    seed
        Seed of the ``numpy`` generator; the same seed gives the same frame.
    no_relation_share
        Share of ``no_relation`` rows (about 0.30 in the competition train set).
    poh_boost
        Weight multiplier for relations and ``no_relation`` templates with a POH object (the
        competition test set has more of them).
    unique
        Redraw entities so that no (sentence, subject, object) triple repeats. Best effort: a template
        whose combinations run out (only at hundreds of thousands of rows) keeps some repeats.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COMPETITION_COLUMNS`; ``id`` is ``0..n-1`` in row order, rows are shuffled,
        entity columns hold ``repr()`` of ``{'word', 'start_idx', 'end_idx', 'type'}`` with an
        inclusive end.
    """
    if n < 0:
        raise ValueError(f"generate_rows: n must be >= 0, got {n}")
    if not 0.0 <= no_relation_share <= 1.0:
        raise ValueError(f"generate_rows: no_relation_share must be in [0, 1], got {no_relation_share}")
    if poh_boost <= 0:
        raise ValueError(f"generate_rows: poh_boost must be > 0, got {poh_boost}")
    if n == 0:
        return pd.DataFrame({c: pd.Series([], dtype="str") for c in COMPETITION_COLUMNS}).astype({"id": np.int64})
    rng = np.random.default_rng(seed)
    block = Generator(unique=unique).block(label_counts(n, no_relation_share, poh_boost), rng, poh_boost=poh_boost)
    return _render(block, np.arange(n))


def write_large_csv(path: str | Path, n_rows: int, *, seed: int = 13) -> Path:
    """Write ``n_rows`` clean rows (:func:`generate_rows`) to a competition CSV at ``path``, atomically.

    Used by the benchmarks (32,470 rows like the real train set, and 1,000,000 rows).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = generate_rows(n_rows, seed=seed)
    atomic_write_text(path, lambda fh: frame.to_csv(fh, index=False, lineterminator="\n"))
    return path


# ----------------------------------------------------------------------------------------------------
# The demo dataset.
# ----------------------------------------------------------------------------------------------------

_TEST_NO_RELATION_SHARE = 0.45
_TEST_POH_BOOST = 2.0
_TEST_REUSE_SHARE = 0.03  # test rows on a train sentence, another entity pair
_TEST_EXACT_SHARE = 0.006  # test rows that repeat a train triple exactly
_MIN_TRAIN, _MIN_TEST = 1000, 100


def _pair_row(block: Block, r: int, a: int, b: int) -> Block:
    """Row ``r`` of ``block`` marked on slots (a, b) instead, labelled as the template says."""
    row = block.take(np.asarray([r]))
    t = TEMPLATES[int(row.tpl[0])]
    ga, gb = int(row.slot_gid[0, a]), int(row.slot_gid[0, b])
    sa, sb = int(row.slot_start[0, a]), int(row.slot_start[0, b])
    row.subj_slot[0], row.obj_slot[0] = a, b
    row.subj_gid[0], row.obj_gid[0] = ga, gb
    row.subj_start[0], row.subj_end[0] = sa, sa + LEX.length[ga] - 1
    row.obj_start[0], row.obj_end[0] = sb, sb + LEX.length[gb] - 1
    row.subj_type[0], row.obj_type[0] = LEX.type_code[ga], LEX.type_code[gb]
    row.label[0] = t.label if (a, b) == (t.s, t.o) else NR
    return row


def _test_block(gen: Generator, train_base: Block, touched: np.ndarray, n_test: int, rng: np.random.Generator) -> Block:
    n_exact = max(1, round(_TEST_EXACT_SHARE * n_test))
    n_reuse = max(1, round(_TEST_REUSE_SHARE * n_test))
    fresh = gen.block(
        label_counts(n_test - n_exact - n_reuse, _TEST_NO_RELATION_SHARE, _TEST_POH_BOOST),
        rng,
        poh_boost=_TEST_POH_BOOST,
    )
    parts = [fresh]
    clean = [r for r in rng.permutation(len(train_base)).tolist() if not touched[r]]
    reused = 0
    taken: set[int] = set()
    for r in clean:
        if reused == n_reuse:
            break
        t = TEMPLATES[int(train_base.tpl[r])]
        v = t.variants[int(train_base.var[r])]
        if not v.alt_pairs:  # the sentence has no other entity pair to mark
            continue
        current = (int(train_base.subj_slot[r]), int(train_base.obj_slot[r]))
        pairs = [p for p in (*v.alt_pairs, (t.s, t.o)) if p != current]
        a, b = pairs[int(rng.integers(0, len(pairs)))]
        sig = group_sig(int(train_base.tpl[r]), int(train_base.var[r]), a, b)
        key = entity_keys(train_base.slot_gid[[r]])
        used = gen.used.get(sig, np.zeros(0, dtype=np.int64))
        if np.isin(key, used).any():
            continue  # that triple already exists (in train or test)
        gen.used[sig] = np.concatenate([used, key])
        parts.append(_pair_row(train_base, r, a, b))
        taken.add(r)
        reused += 1
    exact = [r for r in clean if r not in taken][:n_exact]
    parts.append(train_base.take(np.asarray(exact, dtype=np.int64)))
    out = Block.concat(parts)
    if len(out) != n_test:
        raise AssertionError(f"demo test set: built {len(out)} rows, wanted {n_test}")
    return out.take(rng.permutation(len(out)))


def write_demo_dataset(out_dir: str | Path, *, seed: int = 13, n_train: int = 3000, n_test: int = 800) -> DemoManifest:
    """Write the synthetic KLUE-RE demo dataset into ``out_dir``.

    Files (each written to a temporary file in ``out_dir`` and moved into place with ``os.replace``):

    - ``train.csv``: competition CSV, ``n_train`` rows (clean rows plus injected copies), ids
      ``0..n_train-1`` in shuffled order; the injected errors are listed in the manifest.
    - ``test.csv``: competition CSV, ``n_test`` clean rows, ``label`` = 100 on every row, ids
      ``0..n_test-1``; more ``no_relation`` (about 45 %) and more POH objects than train; some sentences
      also in train under other entity pairs and a few triples also in train.
    - ``test_gold.csv``: ``id,label`` with the test label names.
    - ``manifest.json``: :meth:`DemoManifest.to_json`.

    Parameters
    ----------
    out_dir
        Target folder; created if missing. Existing files of the same names are replaced.
    seed
        Everything is drawn from this seed: the same seed writes the same bytes.
    n_train, n_test
        Row counts (at least 1,000 and 100, so that every label keeps enough rows).

    Returns
    -------
    DemoManifest
        The manifest also written to ``manifest.json``.
    """
    if isinstance(n_train, bool) or not isinstance(n_train, int) or n_train < _MIN_TRAIN:
        raise ValueError(f"write_demo_dataset: n_train must be an integer >= {_MIN_TRAIN}, got {n_train!r}")
    if isinstance(n_test, bool) or not isinstance(n_test, int) or n_test < _MIN_TEST:
        raise ValueError(f"write_demo_dataset: n_test must be an integer >= {_MIN_TEST}, got {n_test!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    s_train, s_inject, s_test = np.random.SeedSequence(seed).spawn(3)
    rng_train, rng_inject, rng_test = (np.random.default_rng(s) for s in (s_train, s_inject, s_test))
    plan = InjectionPlan.for_size(n_train)
    gen = Generator(unique=True)
    n_base = n_train - plan.duplicates - plan.label_conflicts
    base = gen.block(label_counts(n_base, 0.30, 1.0), rng_train)
    train, entries, touched = inject(base, plan, rng_inject)

    # File order and ids: rows shuffled, ids a separate permutation (ids are not row numbers).
    order = rng_inject.permutation(n_train)
    ids = rng_inject.permutation(n_train)
    id_of = np.empty(n_train, dtype=np.int64)
    id_of[order] = ids
    remap = {"id": id_of, "copy_of": id_of, "conflicts_with": id_of}
    manifest_kwargs: dict[str, Any] = {}
    for kind, entry_cls in KINDS.items():
        items = [entry_cls(**{k: int(remap[k][v]) if k in remap else v for k, v in e.items()}) for e in entries[kind]]
        manifest_kwargs[kind] = tuple(sorted(items, key=lambda e: e.id))
    manifest = DemoManifest(seed=seed, n_train=n_train, n_test=n_test, **manifest_kwargs)

    test = _test_block(gen, base, touched, n_test, rng_test)
    train_df = _render(train.take(order), ids)
    test_df = _render(test, np.arange(n_test), unlabeled=True)
    gold_df = pd.DataFrame(
        {"id": np.arange(n_test, dtype=np.int64), "label": _as_str(np.asarray(KLUE_LABELS)[test.label])}
    )
    for name, frame in (("train.csv", train_df), ("test.csv", test_df), ("test_gold.csv", gold_df)):
        atomic_write_text(out / name, lambda fh, f=frame: f.to_csv(fh, index=False, lineterminator="\n"))
    atomic_write_text(out / "manifest.json", lambda fh: fh.write(manifest.to_json()))
    return manifest
