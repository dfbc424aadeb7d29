"""Input formats, entity start positions and entity-safe truncation (core.train.encoding)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.common.schema import KLUE_SCHEMA, TACRED_SCHEMA
from core.train.encoding import INPUT_FORMATS, encode, mark_row, special_tokens
from core.train.model import build_tiny_model, load_tokenizer, prepare_tokenizer
from tests.helpers.frames import make_frame

FILLER_LEFT = " ".join(["가나"] * 60)
FILLER_RIGHT = " ".join(["다라"] * 60)
CORE = "이순신은 1545년에 태어났다."


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts = [
        CORE,
        "삼성전자의 회장은 이건희이다.",
        "김철수와 이영희는 부부이다.",
        "박지성의 아버지는 박성종이다.",
        FILLER_LEFT,
        FILLER_RIGHT,
    ]
    return build_tiny_model(tmp_path_factory.mktemp("tiny"), texts * 3, vocab_size=300, hidden=32, layers=1, heads=2)


def tokenizer_for(path: Path, input_format: str):
    tokenizer = load_tokenizer(path)
    prepare_tokenizer(tokenizer, input_format, KLUE_SCHEMA)
    return tokenizer


def squash(text: str) -> str:
    """Decoded text without spaces: WordPiece decoding moves spaces around punctuation."""
    return "".join(text.split())


EXPECTED = {
    "baseline": ("[CLS]이순신[SEP]1545년[SEP]이순신은1545년에태어났다.[SEP]", None, None),
    "entity_marker": ("[E1]이순신[/E1]은[E2]1545년[/E2]에", "[E1]", "[E2]"),
    "entity_marker_punct": ("@이순신@은#1545년#에", "@", "#"),
    "typed_entity_marker": ("<S:PER>이순신</S:PER>은<O:DAT>1545년</O:DAT>에", "<S:PER>", "<O:DAT>"),
    "typed_entity_marker_punct": ("@*PER*이순신@은#^DAT^1545년#에", "@", "#"),
    "prompt": ("[CLS]이순신과1545년의관계[SEP]이순신은1545년에태어났다.[SEP]", None, None),
}


@pytest.mark.parametrize("input_format", INPUT_FORMATS)
def test_each_format_marks_the_entities(tiny_path: Path, small_frame: pd.DataFrame, input_format: str) -> None:
    tokenizer = tokenizer_for(tiny_path, input_format)
    enc = encode(small_frame, tokenizer, input_format=input_format)
    assert len(enc) == len(small_frame) and enc.ids == ["0", "1", "2", "3"]
    assert not enc.truncated_ids and not enc.windowed_ids
    tokens = tokenizer.convert_ids_to_tokens(enc.input_ids[0])
    assert "[UNK]" not in tokens
    expected, subj_marker, obj_marker = EXPECTED[input_format]
    assert expected in squash(tokenizer.decode(enc.input_ids[0]))
    s, o = int(enc.subj_marker_pos[0]), int(enc.obj_marker_pos[0])
    if subj_marker is not None:
        assert (tokens[s], tokens[o]) == (subj_marker, obj_marker)
    else:
        # No markers: the first token of each entity inside the sentence (the second segment).
        assert tokenizer.decode(enc.input_ids[0][s : s + 2]).replace(" ", "").startswith("이순")
        assert tokenizer.decode(enc.input_ids[0][o : o + 3]).replace(" ", "").startswith("1545")
        assert enc.token_type_ids is not None
        assert enc.token_type_ids[0][s] == 1 and enc.token_type_ids[0][o] == 1
        assert enc.token_type_ids[0][1] == 0
    assert enc.attention_mask[0] == [1] * len(enc.input_ids[0])
    # Every row's positions point at the right kind of token.
    for i in range(len(enc)):
        row_tokens = tokenizer.convert_ids_to_tokens(enc.input_ids[i])
        if subj_marker is not None:
            assert row_tokens[enc.subj_marker_pos[i]].startswith(subj_marker[:2])
            assert row_tokens[enc.obj_marker_pos[i]].startswith(obj_marker[:2])


def test_typed_punct_in_korean_and_prompt_particles(tiny_path: Path, small_frame: pd.DataFrame) -> None:
    tokenizer = tokenizer_for(tiny_path, "typed_entity_marker_punct")
    enc = encode(small_frame, tokenizer, input_format="typed_entity_marker_punct", type_language="ko")
    assert "@*사람*이순신@은#^날짜^1545년#에" in squash(tokenizer.decode(enc.input_ids[0]))
    enc = encode(small_frame, tokenizer, input_format="prompt")
    # 와 after a vowel-final word (김철수), 과 after a consonant-final one (이순신).
    assert "김철수와이영희의관계" in squash(tokenizer.decode(enc.input_ids[2]))
    assert "이순신과1545년의관계" in squash(tokenizer.decode(enc.input_ids[0]))


def test_special_tokens_per_format() -> None:
    assert special_tokens("entity_marker", KLUE_SCHEMA) == ["[E1]", "[/E1]", "[E2]", "[/E2]"]
    typed = special_tokens("typed_entity_marker", KLUE_SCHEMA)
    assert len(typed) == 2 * 2 * len(KLUE_SCHEMA.entity_types) == len(set(typed))
    assert {"<S:PER>", "</S:ORG>", "<O:DAT>", "</O:NOH>", "<S:LOC>"} <= set(typed)
    assert "<O:COUNTRY>" in special_tokens("typed_entity_marker", TACRED_SCHEMA)
    for fmt in ("baseline", "entity_marker_punct", "typed_entity_marker_punct", "prompt"):
        assert special_tokens(fmt, KLUE_SCHEMA) == []
    with pytest.raises(ValueError, match="Unknown input format"):
        special_tokens("markers", KLUE_SCHEMA)


def test_unprepared_tokenizer_is_refused(tiny_path: Path, small_frame: pd.DataFrame) -> None:
    tokenizer = load_tokenizer(tiny_path)  # no marker tokens added
    with pytest.raises(ValueError, match=r"special token <S:PER> \(row id 0"):
        encode(small_frame, tokenizer, input_format="typed_entity_marker")


def test_mark_row_adjacent_and_nested_spans() -> None:
    markers = ("<s>", "</s>", "<o>", "</o>")
    text, s, o = mark_row("AB", (0, 0), (1, 1), markers)
    assert text == "<s> A </s><o> B </o>"
    assert text[s[0] : s[1]] == "<s> A </s>" and text[o[0] : o[1]] == "<o> B </o>"
    text, s, o = mark_row("ABC", (0, 2), (1, 1), markers)  # object inside the subject (bad data)
    assert text == "<s> A<o> B </o>C </s>"
    assert text[s[0] : s[1]] == text and text[o[0] : o[1]] == "<o> B </o>"
    text, s, o = mark_row("xA yB", (4, 4), (1, 1), markers)  # object first
    assert text == "x<o> A </o> y<s> B </s>"


def long_rows() -> pd.DataFrame:
    middle = f"{FILLER_LEFT} {CORE} {FILLER_RIGHT}"
    start = middle.index(CORE)
    far = f"이순신은 {FILLER_LEFT} {FILLER_RIGHT} 1545년"
    start_only = f"{CORE} {FILLER_RIGHT}"
    return make_frame(
        [
            {"id": "mid", "sentence": middle, "subj": (start, start + 2), "obj": (start + 5, start + 9)},
            {"id": "far", "sentence": far, "subj": (0, 2), "obj": (len(far) - 5, len(far) - 1)},
            {"id": "left", "sentence": start_only, "subj": (0, 2), "obj": (5, 9)},
            {"id": "short", "sentence": CORE, "subj": (0, 2), "obj": (5, 9)},
        ]
    )


@pytest.mark.parametrize("input_format", ["typed_entity_marker", "entity_marker_punct", "baseline", "prompt"])
def test_truncation_keeps_both_entities_and_counts_the_rest(tiny_path: Path, input_format: str) -> None:
    tokenizer = tokenizer_for(tiny_path, input_format)
    frame = long_rows()
    full = encode(frame, tokenizer, input_format=input_format, max_length=4096)
    enc = encode(frame, tokenizer, input_format=input_format, max_length=32)
    assert enc.windowed_ids == ["mid", "left"]
    assert enc.truncated_ids == ["far"]
    assert all(len(ids) <= 32 for ids in enc.input_ids)
    assert enc.input_ids[3] == full.input_ids[3]  # short rows are untouched
    for i in (0, 2):  # windowed rows: both entities with their markers, positions still on them
        assert len(enc.input_ids[i]) == 32
        text = squash(tokenizer.decode(enc.input_ids[i]))
        assert "이순신" in text and "1545년" in text
        shift_s = full.input_ids[i][full.subj_marker_pos[i]]
        assert enc.input_ids[i][enc.subj_marker_pos[i]] == shift_s
        assert enc.input_ids[i][enc.obj_marker_pos[i]] == full.input_ids[i][full.obj_marker_pos[i]]
        assert enc.input_ids[i][0] == tokenizer.cls_token_id and enc.input_ids[i][-1] == tokenizer.sep_token_id
        if enc.token_type_ids is not None:
            assert len(enc.token_type_ids[i]) == 32
    # Context trimmed from both ends of the centred row, only from the right of the left-aligned one.
    mid = squash(tokenizer.decode(enc.input_ids[0]))
    assert "가나" in mid and "다라" in mid
    assert squash(tokenizer.decode(enc.input_ids[2])).count("다라") > mid.count("다라")
    # The row that cannot keep both: cut to the limit, the lost entity points at [CLS].
    far_text = squash(tokenizer.decode(enc.input_ids[1]))
    sentence_part = far_text.split("[SEP]")[-2]  # baseline / prompt repeat the entities in a first segment
    assert "이순신" in sentence_part and "1545년" not in sentence_part
    assert len(enc.input_ids[1]) == 32 and enc.obj_marker_pos[1] == 0
    assert enc.input_ids[1][enc.subj_marker_pos[1]] == full.input_ids[1][full.subj_marker_pos[1]]


def test_features_and_empty_frame(tiny_path: Path, small_frame: pd.DataFrame) -> None:
    tokenizer = tokenizer_for(tiny_path, "entity_marker_punct")
    enc = encode(small_frame, tokenizer, input_format="entity_marker_punct")
    feats = enc.features([3, 1, 4, 1])
    assert [f["labels"] for f in feats] == [3, 1, 4, 1]
    assert set(feats[0]) == {
        "input_ids",
        "attention_mask",
        "token_type_ids",
        "subj_marker_pos",
        "obj_marker_pos",
        "labels",
    }
    np.testing.assert_array_equal(enc.lengths, [len(x) for x in enc.input_ids])
    empty = encode(small_frame.iloc[:0], tokenizer, input_format="entity_marker_punct")
    assert len(empty) == 0 and empty.features() == []
    with pytest.raises(ValueError, match="type language"):
        encode(small_frame, tokenizer, input_format="entity_marker_punct", type_language="fr")


def test_huge_entity_words_are_cut_and_counted(tiny_path: Path) -> None:
    # baseline repeats the entity words in a first segment; words this long leave no room for the sentence.
    word = " ".join(["가나"] * 40)
    sentence = f"{word} 다라"
    frame = make_frame(
        [{"id": "huge", "sentence": sentence, "subj": (0, len(word) - 1), "obj": (len(word) + 1, len(word) + 2)}]
    )
    tokenizer = tokenizer_for(tiny_path, "baseline")
    enc = encode(frame, tokenizer, input_format="baseline", max_length=16)
    assert enc.truncated_ids == ["huge"] and enc.windowed_ids == []
    assert len(enc.input_ids[0]) == 16 and enc.input_ids[0][-1] == tokenizer.sep_token_id
    assert enc.subj_marker_pos[0] == 0 and enc.obj_marker_pos[0] == 0
