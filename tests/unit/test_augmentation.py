"""Training-row augmentation (core.train.augmentation): entity swap, entity-word replacement, word masking, and
that a training run applies them to its train rows only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.common.schema import INVERSE_RELATIONS, SYMMETRIC_RELATIONS
from core.data.augment import entity_swap
from core.data.importing import seed_demo
from core.store.workspace import Workspace
from core.train import augmentation, training
from core.train.augmentation import augment, mask_words, replace_entities
from core.train.config import TrainConfig
from core.train.dataset import load_data
from core.train.encoding import MARKER_FORMATS, build_texts, entity_markers
from core.train.metrics import read_submission
from tests.helpers.frames import make_frame

MASK = "[MASK]"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("ws"))
    seed_demo(ws)
    return ws


@pytest.fixture(scope="module")
def demo_train(workspace: Workspace) -> pd.DataFrame:
    """The demo's train rows whose spans hold their words (the demo also injects broken offsets on purpose)."""
    frame = load_data(TrainConfig(workspace=str(workspace.root))).train
    return frame[spans_hold_words(frame)].reset_index(drop=True)


def spans_hold_words(frame: pd.DataFrame) -> np.ndarray:
    ok = np.ones(len(frame), dtype=bool)
    for role in ("subj", "obj"):
        cols = zip(frame["sentence"], frame[f"{role}_start"], frame[f"{role}_end"], frame[f"{role}_word"], strict=True)
        ok &= np.array([s[a : b + 1] == w for s, a, b, w in cols])
    return ok


def hand_frame() -> pd.DataFrame:
    rows = [
        {"sentence": "이순신은 1545년에 한양에서 태어났다.", "subj": (0, 2), "obj": (5, 9), "obj_type": "DAT"},
        # Object before subject, an entity that is a whole word, and one glued to punctuation.
        {"sentence": "삼성전자 회장 이건희는 말했다.", "subj": (8, 10), "obj": (0, 3), "label": "per:employee_of"},
        {"sentence": "김철수 씨와 박영희 씨는 남매다 .", "subj": (0, 2), "obj": (7, 9), "obj_type": "PER"},
        {"sentence": "(이순신)", "subj": (1, 3), "obj": (1, 3), "obj_type": "PER"},  # one span, nothing else
    ]
    return make_frame(rows)


# -- word masking ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prob", [0.3, 0.9])
def test_masking_never_hides_an_entity_or_a_marker(demo_train: pd.DataFrame, prob: float) -> None:
    frame = pd.concat([demo_train, hand_frame()], ignore_index=True)
    masked, rows, words = mask_words(frame, prob=prob, rng=np.random.default_rng(0), mask_token=MASK)
    assert rows > 0 and words >= rows
    assert masked["id"].tolist() == frame["id"].tolist()
    assert spans_hold_words(masked).all()  # both entities intact, at their shifted offsets
    assert masked["subj_word"].tolist() == frame["subj_word"].tolist()
    assert masked["obj_word"].tolist() == frame["obj_word"].tolist()
    for fmt in MARKER_FORMATS:
        _, texts, spans = build_texts(masked, fmt, "en", None)
        for i, (text, (s0, s1, o0, o1)) in enumerate(zip(texts, spans, strict=True)):
            row = masked.iloc[i]
            s_open, s_close, o_open, o_close = entity_markers(fmt, row["subj_type"], row["obj_type"], "en")
            if (row["subj_start"], row["subj_end"]) == (row["obj_start"], row["obj_end"]):
                continue  # a nested pair: markers wrap one another, checked by the encoding tests
            # Each marked entity is exactly open marker, word, close marker: nothing masked inside.
            assert text[s0:s1] == f"{s_open} {row['subj_word']} {s_close}"
            assert text[o0:o1] == f"{o_open} {row['obj_word']} {o_close}"
    # Words that overlap an entity (an eojeol with a particle: 이순신은, 이건희는) are never masked.
    hand = masked.tail(4)
    for sentence, keep in zip(hand["sentence"], ["이순신은", "이건희는", "김철수", "(이순신)"], strict=True):
        assert keep in sentence.split()


def test_masking_counts_and_shifts_by_hand() -> None:
    frame = make_frame([{"sentence": "가나다 이순신은 라마 1545년에 바사아", "subj": (4, 6), "obj": (14, 18)}])
    masked, rows, words = mask_words(frame, prob=1.0, rng=np.random.default_rng(0), mask_token=MASK)
    assert (rows, words) == (1, 3)
    row = masked.iloc[0]
    assert row["sentence"] == "[MASK] 이순신은 [MASK] 1545년에 [MASK]"
    assert (row["subj_start"], row["subj_end"]) == (7, 9)
    assert (row["obj_start"], row["obj_end"]) == (21, 25)
    assert spans_hold_words(masked).all()


def test_masking_is_seeded_and_off_at_zero(demo_train: pd.DataFrame) -> None:
    def run(seed: int) -> pd.DataFrame:
        return mask_words(demo_train, prob=0.2, rng=np.random.default_rng(seed), mask_token=MASK)[0]

    pd.testing.assert_frame_equal(run(1), run(1))
    assert not run(1)["sentence"].equals(run(2)["sentence"])
    same, rows, words = mask_words(demo_train, prob=0.0, rng=np.random.default_rng(0), mask_token=MASK)
    pd.testing.assert_frame_equal(same, demo_train)
    assert rows == words == 0
    with pytest.raises(ValueError, match="mask_token"):
        mask_words(demo_train, prob=0.2, rng=np.random.default_rng(0), mask_token="two words")


# -- entity replacement and swap -------------------------------------------------------------------------


def test_entity_replacement_keeps_types_and_spans(demo_train: pd.DataFrame) -> None:
    new = replace_entities(demo_train, prob=0.5, rng=np.random.default_rng(3))
    assert 0.35 * len(demo_train) < len(new) <= 0.5 * len(demo_train) * 1.2
    assert spans_hold_words(new).all()
    assert new["id"].str.endswith("-repl").all()
    source = demo_train.set_index("id").loc[new["id"].str.removesuffix("-repl")]
    words_of: dict[str, set[str]] = {}
    for role in ("subj", "obj"):
        for etype, word in zip(demo_train[f"{role}_type"], demo_train[f"{role}_word"], strict=True):
            words_of.setdefault(etype, set()).add(word)
    changed_subj = new["subj_word"].to_numpy() != source["subj_word"].to_numpy()
    changed_obj = new["obj_word"].to_numpy() != source["obj_word"].to_numpy()
    assert (changed_subj ^ changed_obj).all()  # exactly one entity replaced per copy
    assert changed_subj.any() and changed_obj.any()
    for role, changed in (("subj", changed_subj), ("obj", changed_obj)):
        for etype, word in zip(new.loc[changed, f"{role}_type"], new.loc[changed, f"{role}_word"], strict=True):
            assert word in words_of[etype]  # a train word of the same type
    for column in ("subj_type", "obj_type", "label", "source"):
        assert new[column].tolist() == source[column].tolist()


def test_entity_swap_reuses_the_data_rules(demo_train: pd.DataFrame) -> None:
    result = augment(demo_train, entity_swap=True, seed=0)
    reference = entity_swap(demo_train)
    added = result.frame.iloc[len(demo_train) :]
    assert result.counts["entity_swap"] == len(reference.frame) == len(added) > 0
    assert result.counts["entity_swap_skipped_type"] == reference.skipped_type
    pd.testing.assert_frame_equal(added.reset_index(drop=True), reference.frame)
    source = demo_train.set_index("id").loc[added["id"].str.removesuffix("-swap")]
    for old, new in zip(source["label"], added["label"], strict=True):
        assert new == INVERSE_RELATIONS.get(old, old) and (old in INVERSE_RELATIONS or old in SYMMETRIC_RELATIONS)


def test_augment_all_off_returns_the_rows_and_never_changes_its_input(demo_train: pd.DataFrame) -> None:
    before = demo_train.copy()
    off = augment(demo_train)
    pd.testing.assert_frame_equal(off.frame, demo_train)
    assert off.counts == {
        "entity_swap": 0,
        "entity_swap_skipped_type": 0,
        "entity_replace": 0,
        "word_mask": 0,
        "words_masked": 0,
        "train_rows": len(demo_train),
    }
    on = augment(demo_train, entity_swap=True, entity_replace=0.3, word_mask=0.2, seed=5)
    pd.testing.assert_frame_equal(demo_train, before)
    again = augment(demo_train, entity_swap=True, entity_replace=0.3, word_mask=0.2, seed=5)
    pd.testing.assert_frame_equal(on.frame, again.frame)
    counts = on.counts
    assert counts["train_rows"] == len(demo_train) + counts["entity_swap"] + counts["entity_replace"]
    assert on.frame["id"].is_unique and on.frame.dtypes.equals(demo_train.dtypes)
    assert on.frame["id"].iloc[: len(demo_train)].tolist() == demo_train["id"].tolist()
    assert spans_hold_words(on.frame).all()
    # Masking on does not change which copies are made (one random stream per technique).
    unmasked = augment(demo_train, entity_swap=True, entity_replace=0.3, seed=5)
    assert unmasked.frame["id"].tolist() == on.frame["id"].tolist()


def test_added_ids_never_collide() -> None:
    frame = make_frame(
        [
            {"id": "7", "sentence": "김철수와 김영희는 부부다.", "subj": (0, 2), "obj": (5, 7), "label": "per:spouse"},
            {"id": "7-swap", "sentence": "이건희는 삼성 회장이다.", "subj": (0, 2), "obj": (5, 6)},
        ]
    )
    frame["obj_type"] = ["PER", "ORG"]
    result = augment(frame, entity_swap=True)
    assert result.frame["id"].tolist() == ["7", "7-swap", "7-swap-2"]


# -- in a training run -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_training_augments_train_rows_only(workspace: Workspace, tmp_path: Path, monkeypatch) -> None:
    seen: list[dict[str, Any]] = []

    def spy(frame: pd.DataFrame, **options: Any) -> augmentation.Augmented:
        result = augment(frame, **options)
        seen.append({"ids": frame["id"].astype(str).tolist(), "result": result})
        return result

    monkeypatch.setattr(training, "augment", spy)
    options = {"augment_entity_swap": True, "augment_entity_replace": 0.2, "augment_word_mask": 0.15}
    config = {"workspace": str(workspace.root), "folds": 2, "fold": 1, "max_steps": 4, "batch_size": 8}
    config |= {"eval_steps": 2, "logging_steps": 2, "eval_batch_size": 256, "seed": 3, **options}
    run = tmp_path / "run"
    summary = training.train(config, run)
    assert summary["status"] == "succeeded"
    data = load_data(training.validate(config))
    train_ids, dev_ids = data.train["id"].astype(str).tolist(), set(data.dev["id"].astype(str))
    holdout_ids, test_ids = set(data.holdout["id"].astype(str)), set(data.test["id"].astype(str))
    assert len(seen) == 1 and seen[0]["ids"] == train_ids  # the train rows, nothing else
    assert json.loads((run / "fold_ids.json").read_text())["train_ids"] == train_ids
    learned = seen[0]["result"].frame["id"].astype(str)
    sources = set(learned.str.replace(r"-(swap|repl)(-\d+)?$", "", regex=True))
    assert sources == set(train_ids)
    assert not set(learned) & (dev_ids | holdout_ids)  # (the test part numbers its rows on its own)
    # Every scored row is a dataset row, under its own id: dev, the held-out fold and test.
    for name, ids in (("dev", dev_ids), ("oof", holdout_ids), ("test", test_ids)):
        assert set(read_submission(run / f"{name}_predictions.csv", label_names=data.labels)[0]) == ids
    counts = summary["augmentation"]
    assert counts == {**seen[0]["result"].counts, "source_rows": len(train_ids)}
    assert counts["entity_swap"] > 0 and counts["entity_replace"] > 0 and counts["word_mask"] > 0
    assert summary["n_train"] == counts["train_rows"] == len(learned)
    assert summary["n_dev"] == len(dev_ids) and summary["n_holdout"] == len(holdout_ids)
