"""The synthetic demo dataset: format, content, and that every injected error is what the manifest says."""

from __future__ import annotations

import ast
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.common.schema import (
    KLUE_LABELS,
    KLUE_OBJECT_TYPES,
    KLUE_SOURCES,
    NO_RELATION,
    UNLABELED_TEST_LABEL,
    DataError,
)
from core.data.demo import COMPETITION_COLUMNS, generate_rows, write_demo_dataset, write_large_csv
from core.data.demo_lexicon import final_sound
from core.data.demo_manifest import DemoManifest, load_manifest
from core.data.demo_rows import Generator, label_counts
from core.data.demo_templates import RELATION_OBJECT_TYPES, TEMPLATES

FILES = ("train.csv", "test.csv", "test_gold.csv", "manifest.json")
ENTITY_KEYS = ["word", "start_idx", "end_idx", "type"]


def _parse(frame: pd.DataFrame) -> pd.DataFrame:
    """Competition frame with the entity literals parsed into flat columns."""
    out = frame.copy()
    for col, role in (("subject_entity", "subj"), ("object_entity", "obj")):
        parsed = [ast.literal_eval(s) for s in frame[col]]
        for key in ENTITY_KEYS:
            out[f"{role}_{key}"] = [p[key] for p in parsed]
    return out


def _subject_type_for(label: str) -> str | None:
    if label.startswith("org:"):
        return "ORG"
    if label.startswith("per:"):
        return "PER"
    return None


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("demo")
    manifest = write_demo_dataset(out, seed=13)
    train = pd.read_csv(out / "train.csv")
    test = pd.read_csv(out / "test.csv")
    gold = pd.read_csv(out / "test_gold.csv")
    return {
        "dir": out,
        "manifest": manifest,
        "train_raw": train,
        "train": _parse(train).set_index("id", drop=False),
        "test_raw": test,
        "test": _parse(test),
        "gold": gold,
    }


def _clean_ids(data: dict[str, Any]) -> set[int]:
    return set(data["train"]["id"]) - set(data["manifest"].injected_ids())


# -- files and determinism ------------------------------------------------------------------------------


def test_writes_exactly_the_four_files(data: dict[str, Any]) -> None:
    assert sorted(p.name for p in data["dir"].iterdir()) == sorted(FILES)  # no temp files left behind


def test_same_seed_same_bytes_other_seed_other_bytes(data: dict[str, Any], tmp_path: Path) -> None:
    write_demo_dataset(tmp_path / "again", seed=13)
    for name in FILES:
        assert (tmp_path / "again" / name).read_bytes() == (data["dir"] / name).read_bytes(), name
    write_demo_dataset(tmp_path / "other", seed=14)
    assert (tmp_path / "other" / "train.csv").read_bytes() != (data["dir"] / "train.csv").read_bytes()


def test_columns_counts_and_ids(data: dict[str, Any]) -> None:
    train, test, gold = data["train_raw"], data["test_raw"], data["gold"]
    assert tuple(train.columns) == COMPETITION_COLUMNS
    assert tuple(test.columns) == COMPETITION_COLUMNS
    assert list(gold.columns) == ["id", "label"]
    assert len(train) == data["manifest"].n_train == 3000
    assert len(test) == len(gold) == data["manifest"].n_test == 800
    assert sorted(train["id"]) == list(range(3000))
    assert list(train["id"]) != list(range(3000))  # shuffled, not the row number
    assert list(test["id"]) == list(range(800))
    assert list(gold["id"]) == list(test["id"])
    assert (test["label"] == UNLABELED_TEST_LABEL).all()
    assert set(gold["label"]) <= set(KLUE_LABELS)
    assert set(train["label"]) <= set(KLUE_LABELS)


def test_entity_literals_parse_and_are_repr_of_ordered_dicts(data: dict[str, Any]) -> None:
    for frame in (data["train_raw"], data["test_raw"]):
        for col in ("subject_entity", "object_entity"):
            for text in frame[col]:
                value = ast.literal_eval(text)
                assert list(value) == ENTITY_KEYS
                assert repr(value) == text
                assert isinstance(value["start_idx"], int) and isinstance(value["end_idx"], int)


def test_entity_words_exercise_quotes_commas_and_brackets(data: dict[str, Any]) -> None:
    words = set(data["train"]["subj_word"]) | set(data["train"]["obj_word"]) | set(data["test"]["obj_word"])
    for ch in ("'", '"', ",", "(", "《"):
        assert any(ch in w for w in words), ch
    # A word holding both quote kinds forces repr() to escape; the literal must still round-trip.
    assert any("'" in w and '"' in w for w in words)


def test_sources(data: dict[str, Any]) -> None:
    counts = data["train"]["source"].value_counts(normalize=True)
    assert set(counts.index) == set(KLUE_SOURCES)
    assert counts.max() < 0.75
    # Each template has a usual source that about 3 rows in 4 carry.
    block = Generator(unique=True).block(label_counts(3000, 0.3, 1.0), np.random.default_rng(0))
    usual = np.array([TEMPLATES[t].source for t in block.tpl])
    assert (block.source == usual).mean() == pytest.approx(0.75, abs=0.03)
    assert len({t.source for t in TEMPLATES}) == len(KLUE_SOURCES)


# -- label distribution -------------------------------------------------------------------------------


def test_all_labels_with_minimums_and_klue_like_imbalance(data: dict[str, Any]) -> None:
    counts = data["train"]["label"].value_counts()
    assert set(counts.index) == set(KLUE_LABELS)
    assert counts.min() >= 12
    clean = data["train"].loc[sorted(_clean_ids(data))]
    assert clean["label"].value_counts().min() >= 12
    rel = counts.drop(NO_RELATION)
    assert rel.idxmax() in ("org:top_members/employees", "per:employee_of")
    assert rel["org:top_members/employees"] > 10 * rel["per:place_of_death"]
    for small in ("per:religion", "org:dissolved", "per:place_of_death"):
        assert rel[small] < rel.median()


def test_no_relation_share(data: dict[str, Any]) -> None:
    train_share = (data["train"]["label"] == NO_RELATION).mean()
    test_share = (data["gold"]["label"] == NO_RELATION).mean()
    assert 0.25 <= train_share <= 0.35
    assert test_share > train_share + 0.08


# -- entity types -------------------------------------------------------------------------------------


def test_clean_rows_have_legitimate_types(data: dict[str, Any]) -> None:
    train = data["train"]
    flipped = {e.id for e in data["manifest"].label_flips} | {e.id for e in data["manifest"].label_conflicts}
    for row in train.loc[sorted(_clean_ids(data) | {e.copy_of for e in data["manifest"].duplicates})].itertuples():
        assert row.id not in flipped
        want = _subject_type_for(row.label)
        if want is None:
            assert row.subj_type in ("PER", "ORG")
        else:
            assert row.subj_type == want, row
        assert row.obj_type in RELATION_OBJECT_TYPES[row.label], row


def test_object_types_and_two_type_shares(data: dict[str, Any]) -> None:
    train = data["train"]
    assert set(train["obj_type"]) == set(KLUE_OBJECT_TYPES)
    nr = train[train["label"] == NO_RELATION]
    assert set(nr["subj_type"]) == {"PER", "ORG"}
    assert set(nr["obj_type"]) == set(KLUE_OBJECT_TYPES)
    clean = train.loc[sorted(_clean_ids(data))]
    two_type = [label for label, types in RELATION_OBJECT_TYPES.items() if len(types) == 2]
    assert len(two_type) >= 4
    for label in two_type:
        shares = clean.loc[clean["label"] == label, "obj_type"].value_counts(normalize=True)
        for t in RELATION_OBJECT_TYPES[label]:
            assert shares.get(t, 0.0) >= 0.15, (label, t, shares.to_dict())


def test_minority_type_rule_never_flags_a_clean_row(data: dict[str, Any]) -> None:
    """An audit rule 'object type held by < 5 % of its label' must only hit injected rows."""
    train = data["train"]
    share = train.groupby("label")["obj_type"].value_counts(normalize=True)
    clean = train.loc[sorted(_clean_ids(data))]
    for row in clean.itertuples():
        assert share[(row.label, row.obj_type)] >= 0.05, row
    for flip in data["manifest"].type_flips:
        if flip.role == "obj":
            label = train.at[flip.id, "label"]
            assert share[(label, flip.new_type)] < 0.05, flip


def test_subject_before_and_after_object(data: dict[str, Any]) -> None:
    train = data["train"]
    rel = train[train["label"] != NO_RELATION]
    obj_first = (rel["obj_start_idx"] < rel["subj_start_idx"]).mean()
    assert 0.15 < obj_first < 0.85


# -- offsets and particles ----------------------------------------------------------------------------


def test_offsets_exact_except_the_listed_offset_errors(data: dict[str, Any]) -> None:
    train = data["train"]
    errors = {(e.id, e.role): e for e in data["manifest"].offset_errors}
    for row in train.itertuples():
        for role in ("subj", "obj"):
            start, end = getattr(row, f"{role}_start_idx"), getattr(row, f"{role}_end_idx")
            word = getattr(row, f"{role}_word")
            span = row.sentence[start : end + 1]
            if (row.id, role) in errors:
                e = errors[(row.id, role)]
                assert (start, end) == (e.start, e.end)
                assert 0 <= start <= end < len(row.sentence)
                assert span != word
                assert row.sentence[e.original_start : e.original_end + 1] == word
                assert 1 <= max(abs(e.start - e.original_start), abs(e.end - e.original_end)) <= 3
            else:
                assert span == word, (row.id, role, span, word)
    for row in data["test"].itertuples():
        assert row.sentence[row.subj_start_idx : row.subj_end_idx + 1] == row.subj_word
        assert row.sentence[row.obj_start_idx : row.obj_end_idx + 1] == row.obj_word


def test_particles_follow_the_final_sound_of_the_entity(data: dict[str, Any]) -> None:
    pairs = {"은": "는", "이": "가", "을": "를", "과": "와"}
    after_vowel = {v: k for k, v in pairs.items()}
    checked = 0
    for row in data["test"].itertuples():
        for role in ("subj", "obj"):
            end, word = getattr(row, f"{role}_end_idx"), getattr(row, f"{role}_word")
            nxt = row.sentence[end + 1 : end + 2]
            if nxt in pairs or nxt in after_vowel:
                has_batchim, _ = final_sound(word)
                assert (nxt in pairs) == has_batchim, (row.sentence, word)
                checked += 1
    assert checked > 300
    assert final_sound("김민준") == (True, False)
    assert final_sound("서울") == (True, True)
    assert final_sound("《토지》") == (False, False)
    assert final_sound("Liam O'Neil") == (True, True)
    assert final_sound("KBS") == (False, False)
    assert final_sound("35%") == (False, False)


# -- injected errors ----------------------------------------------------------------------------------


def test_injection_counts_and_disjointness(data: dict[str, Any]) -> None:
    m = data["manifest"]
    assert len(m.type_flips) == 40
    assert {f.role for f in m.type_flips} == {"subj", "obj"}
    assert len(m.duplicates) == 20
    assert len(m.label_conflicts) == 15
    assert len(m.offset_errors) == 15
    assert len(m.label_flips) == round(0.03 * m.n_train)
    ids = [
        e.id
        for kind in ("type_flips", "duplicates", "label_conflicts", "offset_errors", "label_flips")
        for e in getattr(m, kind)
    ]
    assert len(ids) == len(set(ids)), "one injection per row"
    sources = [e.copy_of for e in m.duplicates] + [e.conflicts_with for e in m.label_conflicts]
    assert len(sources) == len(set(sources))
    assert not set(sources) & set(ids), "a copied row carries no injection"


def test_duplicates_are_exact_copies_under_a_new_id(data: dict[str, Any]) -> None:
    raw = data["train_raw"].set_index("id")
    for e in data["manifest"].duplicates:
        assert e.id != e.copy_of
        assert raw.loc[e.id].to_dict() == raw.loc[e.copy_of].to_dict()


def test_label_conflicts_share_the_triple_not_the_label(data: dict[str, Any]) -> None:
    raw = data["train_raw"].set_index("id")
    for e in data["manifest"].label_conflicts:
        a, b = raw.loc[e.id], raw.loc[e.conflicts_with]
        for col in ("sentence", "subject_entity", "object_entity"):
            assert a[col] == b[col]
        assert a["label"] == e.label != e.original_label == b["label"]


def test_type_flips_break_the_label_type_contract(data: dict[str, Any]) -> None:
    train = data["train"]
    counts = train["label"].value_counts()
    for e in data["manifest"].type_flips:
        row = train.loc[e.id]
        assert row[f"{e.role}_type"] == e.new_type != e.original_type
        if e.role == "subj":
            assert _subject_type_for(row["label"]) == e.original_type != e.new_type
        else:
            assert e.original_type in RELATION_OBJECT_TYPES[row["label"]]
            assert e.new_type not in RELATION_OBJECT_TYPES[row["label"]]
            assert counts[row["label"]] >= 60


def test_label_flips_change_only_the_label(data: dict[str, Any]) -> None:
    train = data["train"]
    targets = Counter()
    for e in data["manifest"].label_flips:
        row = train.loc[e.id]
        assert row["label"] == e.new_label != e.original_label
        # Types are untouched: they still fit the original label.
        want = _subject_type_for(e.original_label)
        assert want is None or row["subj_type"] == want
        assert row["obj_type"] in RELATION_OBJECT_TYPES[e.original_label]
        assert row["sentence"][row["subj_start_idx"] : row["subj_end_idx"] + 1] == row["subj_word"]
        targets[e.new_label] += 1
    assert len(targets) >= 20  # spread over the labels, not a single target


def test_only_injected_rows_repeat_a_triple(data: dict[str, Any]) -> None:
    raw = data["train_raw"]
    key = ["sentence", "subject_entity", "object_entity"]
    repeated = set(raw.loc[raw.duplicated(key, keep=False), "id"])
    m = data["manifest"]
    expected = {e.id for e in m.duplicates} | {e.copy_of for e in m.duplicates}
    expected |= {e.id for e in m.label_conflicts} | {e.conflicts_with for e in m.label_conflicts}
    assert repeated == expected


# -- test set -----------------------------------------------------------------------------------------


def test_test_set_is_clean_and_shifted(data: dict[str, Any]) -> None:
    test, gold, train = data["test"], data["gold"], data["train"]
    for row, label in zip(test.itertuples(), gold["label"], strict=True):
        want = _subject_type_for(label)
        assert want is None or row.subj_type == want
        assert row.obj_type in RELATION_OBJECT_TYPES[label]
    assert (test["obj_type"] == "POH").mean() > (train["obj_type"] == "POH").mean() + 0.03
    key = ["sentence", "subject_entity", "object_entity"]
    assert not test.duplicated(key).any()


def test_test_set_shares_sentences_and_a_few_triples_with_train(data: dict[str, Any]) -> None:
    train, test, gold = data["train_raw"], data["test_raw"], data["gold"]
    train_triples = {(r.sentence, r.subject_entity, r.object_entity): r.label for r in train.itertuples()}
    train_sentences = set(train["sentence"])
    exact = [
        (r.Index, train_triples[(r.sentence, r.subject_entity, r.object_entity)])
        for r in test.itertuples()
        if (r.sentence, r.subject_entity, r.object_entity) in train_triples
    ]
    assert 1 <= len(exact) <= 10
    for i, train_label in exact:
        assert gold.at[i, "label"] == train_label
    other_pair = [
        r
        for r in test.itertuples()
        if r.sentence in train_sentences and (r.sentence, r.subject_entity, r.object_entity) not in train_triples
    ]
    assert len(other_pair) >= 15


# -- templates ----------------------------------------------------------------------------------------


def test_template_inventory() -> None:
    by_label: dict[str, list[Any]] = {}
    for t in TEMPLATES:
        by_label.setdefault(KLUE_LABELS[t.label], []).append(t)
    assert set(by_label) == set(KLUE_LABELS)
    for label, templates in by_label.items():
        assert len(templates) >= 3, label
        if label != NO_RELATION:
            object_first = [t for t in templates if t.text.index("{O") < t.text.index("{S")]
            assert object_first, f"{label}: every template puts the subject first"
    assert sum(bool(v.alt_pairs) for t in TEMPLATES for v in t.variants) >= 30


# -- generate_rows / write_large_csv ------------------------------------------------------------------


def test_generate_rows_format_and_determinism() -> None:
    a = generate_rows(1500, seed=5)
    b = generate_rows(1500, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(generate_rows(1500, seed=6))
    assert tuple(a.columns) == COMPETITION_COLUMNS
    assert list(a["id"]) == list(range(1500))
    parsed = _parse(a)
    for row in parsed.itertuples():
        assert row.sentence[row.subj_start_idx : row.subj_end_idx + 1] == row.subj_word
        assert row.sentence[row.obj_start_idx : row.obj_end_idx + 1] == row.obj_word
    assert set(a["label"]) == set(KLUE_LABELS)
    assert not a.duplicated(["sentence", "subject_entity", "object_entity"]).any()
    share = (generate_rows(1000, seed=5, no_relation_share=0.5)["label"] == NO_RELATION).mean()
    assert share == pytest.approx(0.5, abs=0.01)
    empty = generate_rows(0, seed=1)
    assert tuple(empty.columns) == COMPETITION_COLUMNS and len(empty) == 0


def test_write_large_csv_round_trips(tmp_path: Path) -> None:
    path = write_large_csv(tmp_path / "sub" / "big.csv", 700, seed=3)
    assert path.exists() and sorted(p.name for p in path.parent.iterdir()) == ["big.csv"]
    back = pd.read_csv(path)
    want = generate_rows(700, seed=3)
    assert back["id"].tolist() == want["id"].tolist()
    for col in COMPETITION_COLUMNS[1:]:
        assert back[col].tolist() == want[col].tolist()


def test_bad_arguments_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_train"):
        write_demo_dataset(tmp_path, n_train=10)
    with pytest.raises(ValueError, match="n_test"):
        write_demo_dataset(tmp_path, n_test=5)
    with pytest.raises(ValueError, match="n must be"):
        generate_rows(-1, seed=0)
    with pytest.raises(ValueError, match="no_relation_share"):
        generate_rows(10, seed=0, no_relation_share=1.5)
    assert not list(tmp_path.iterdir())


# -- manifest -----------------------------------------------------------------------------------------


def test_manifest_round_trip_and_layout(data: dict[str, Any]) -> None:
    m = data["manifest"]
    path = data["dir"] / "manifest.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert list(raw) == ["seed", "n_train", "n_test", "injected"]
    assert (raw["seed"], raw["n_train"], raw["n_test"]) == (13, 3000, 800)
    assert list(raw["injected"]) == [
        "type_flips",
        "duplicates",
        "label_conflicts",
        "offset_errors",
        "label_flips",
    ]
    assert raw["injected"]["duplicates"][0].keys() == {"id", "copy_of"}
    assert load_manifest(path) == m
    assert DemoManifest.from_json(m.to_json()) == m
    assert raw == m.to_dict()


def test_manifest_errors_name_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "manifest.json"
    bad.write_text('{"seed": 1, "n_train": 3000}', encoding="utf-8")
    with pytest.raises(DataError, match=r"manifest\.json.*n_test"):
        load_manifest(bad)
    good = DemoManifest(seed=1, n_train=10, n_test=5).to_dict()
    good["injected"]["duplicates"] = [{"id": 1}]
    with pytest.raises(ValueError, match=r"injected\.duplicates\[0\]"):
        DemoManifest.from_dict(good)
    good["injected"]["duplicates"] = [{"id": "1", "copy_of": 2}]
    with pytest.raises(ValueError, match=r"duplicates\[0\]\.id"):
        DemoManifest.from_dict(good)


def test_injected_ids_maps_every_entry(data: dict[str, Any]) -> None:
    m = data["manifest"]
    kinds = m.injected_ids()
    assert Counter(kinds.values()) == {
        "type_flips": 40,
        "duplicates": 20,
        "label_conflicts": 15,
        "offset_errors": 15,
        "label_flips": len(m.label_flips),
    }
    assert np.isin(list(kinds), data["train_raw"]["id"]).all()
