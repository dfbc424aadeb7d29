"""core.data.loading: every failure kind lands on its row and field, valid rows around it still load."""

from __future__ import annotations

import ast
import csv
import io
import json
import pickle
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.common.schema import (
    COLUMNS,
    KLUE_LABELS,
    KLUE_OBJECT_TYPES,
    KLUE_OFFICIAL_LABELS,
    KLUE_SCHEMA,
    KLUE_SUBJECT_TYPES,
    TACRED_SCHEMA,
    DataError,
)
from core.data.label_maps import load_label_map
from core.data.loading import from_hf_dataset, load_file, load_gold, load_hf_klue
from core.data.validation import LoadResult

HEADER = ["id", "sentence", "subject_entity", "object_entity", "label", "source"]
SENTENCE = "이순신은 1545년에 태어났다."


def ent(word: object, start: object, end: object, etype: object) -> str:
    return repr({"word": word, "start_idx": start, "end_idx": end, "type": etype})


def good(rid: str) -> list[str]:
    return [
        rid,
        SENTENCE,
        ent("이순신", 0, 2, "PER"),
        ent("1545년", 5, 9, "DAT"),
        "per:date_of_birth",
        "wikipedia",
    ]


def csv_text(records: list[list[str] | str], header: list[str] = HEADER) -> str:
    """A CSV; a str record is written as a raw line (to make malformed lines)."""
    out = io.StringIO()
    # "\r\n": the csv module quotes only fields holding a character of the line terminator.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for record in records:
        if isinstance(record, str):
            out.write(record + "\n")
        else:
            writer.writerow(record)
    return out.getvalue()


def write(tmp_path: Path, text: str | bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def assert_invariant(result: LoadResult) -> None:
    distinct = {r.row for r in result.invalid}
    assert result.n_records == len(result.frame) + len(distinct)
    assert not distinct & set(result.frame["row"])


def with_field(row: list[str], index: int, value: str) -> list[str]:
    row = list(row)
    row[index] = value
    return row


# One bad record per failure kind, between two good ones: (record, field, words the reason must contain).
BAD_ROWS = {
    "unparsable entity": (
        with_field(good("2"), 2, "{'word': '이순신', 'start_idx': 0,"),
        "subject_entity",
        "cannot read",
    ),
    "entity not a dict": (
        with_field(good("2"), 2, "['이순신', 0, 2, 'PER']"),
        "subject_entity",
        "expected a dict",
    ),
    "empty entity cell": (with_field(good("2"), 3, ""), "object_entity", "object_entity is empty"),
    "missing key": (
        with_field(good("2"), 3, "{'word': '1545년', 'start_idx': 5, 'end_idx': 9}"),
        "object_entity.type",
        "key 'type' is missing",
    ),
    "start not an integer": (
        with_field(good("2"), 2, ent("이순신", "0", 2, "PER")),
        "subject_entity.start_idx",
        "must be an integer",
    ),
    "end is a float": (
        with_field(good("2"), 3, ent("1545년", 5, 9.0, "DAT")),
        "object_entity.end_idx",
        "must be an integer, got 9.0",
    ),
    "start negative": (
        with_field(good("2"), 2, ent("이순신", -1, 2, "PER")),
        "subject_entity.start_idx",
        "start_idx -1 is negative",
    ),
    "end past the sentence": (
        with_field(good("2"), 3, ent("1545년", 5, 17, "DAT")),
        "object_entity.end_idx",
        "past the end of the sentence (length 17",
    ),
    "start after end": (
        with_field(good("2"), 2, ent("이순신", 2, 0, "PER")),
        "subject_entity.end_idx",
        "end_idx 0 is before start_idx 2",
    ),
    "unknown label": (
        with_field(good("2"), 4, "per:favourite_food"),
        "label",
        "unknown label 'per:favourite_food'",
    ),
    "numeric label without map": (with_field(good("2"), 4, "3"), "label", "pass a label map"),
    "empty label": (with_field(good("2"), 4, ""), "label", "label is empty"),
    "TACRED type in a KLUE file": (
        with_field(good("2"), 2, ent("이순신", 0, 2, "PERSON")),
        "subject_entity.type",
        "unknown entity type 'PERSON'",
    ),
    "type typo": (
        with_field(good("2"), 3, ent("1545년", 5, 9, "DTA")),
        "object_entity.type",
        "unknown entity type 'DTA'",
    ),
    "duplicate id": (good("1"), "id", "duplicate id '1' (first seen in row 1)"),
    "empty id": (good(""), "id", "id is empty"),
    "empty sentence": (with_field(good("2"), 1, ""), "sentence", "sentence is empty"),
    "too many fields": ("2,a,b,c,d,e,f", "record", "expected 6 fields, found 7"),
    "too few fields": ("2,a,b,c", "record", "expected 6 fields, found 4"),
}


@pytest.mark.parametrize("kind", sorted(BAD_ROWS))
def test_each_bad_row_is_reported_on_its_row_and_field(tmp_path, kind):
    record, field_name, reason = BAD_ROWS[kind]
    result = load_file(write(tmp_path, csv_text([good("1"), record, good("3")])))
    assert [(r.row, r.field) for r in result.invalid] == [(2, field_name)], result.invalid
    assert reason in result.invalid[0].reason
    expected_id = None if kind == "empty id" else ("1" if kind == "duplicate id" else "2")
    if kind != "empty id":
        assert result.invalid[0].id == expected_id
    assert result.frame["row"].tolist() == [1, 3]
    assert result.frame["id"].tolist() == ["1", "3"]
    assert result.n_records == 3
    assert_invariant(result)


def test_a_row_with_several_problems_reports_each_and_counts_once(tmp_path):
    bad = ["2", SENTENCE, ent("이순신", 0, 2, "PERSON"), ent("1545년", 5, 40, "DAT"), "nope", "x"]
    result = load_file(write(tmp_path, csv_text([good("1"), bad])))
    assert [(r.row, r.field) for r in result.invalid] == [
        (2, "subject_entity.type"),
        (2, "object_entity.end_idx"),
        (2, "label"),
    ]
    assert result.n_records == 2 and len(result.frame) == 1
    assert_invariant(result)
    table = result.invalid_frame()
    assert list(table.columns) == ["row", "field", "reason", "id"]
    assert table["row"].tolist() == [2, 2, 2] and set(table["id"]) == {"2"}


def test_canonical_frame_columns_and_dtypes(tmp_path):
    unlabeled = with_field(good("2"), 4, "100")
    result = load_file(write(tmp_path, csv_text([good("1"), unlabeled])))
    frame = result.frame
    assert tuple(frame.columns) == COLUMNS
    for column in ("id", "sentence", "subj_word", "subj_type", "obj_word", "obj_type", "label", "source"):
        assert frame[column].dtype == "str", column
    for column in ("subj_start", "subj_end", "obj_start", "obj_end", "row"):
        assert frame[column].dtype == "int64", column
    first = frame.iloc[0]
    assert (first["subj_word"], first["subj_start"], first["subj_end"]) == ("이순신", 0, 2)
    assert SENTENCE[first["obj_start"] : first["obj_end"] + 1] == first["obj_word"] == "1545년"
    assert first["label"] == "per:date_of_birth"
    assert pd.isna(frame.iloc[1]["label"])  # label 100: unlabeled
    assert result.labeled and result.fmt == "csv" and result.schema == KLUE_SCHEMA


def test_unlabeled_test_file(tmp_path):
    rows = [with_field(good(str(i)), 4, "100") for i in range(1, 4)]
    result = load_file(write(tmp_path, csv_text(rows)))
    assert not result.labeled and result.frame["label"].isna().all() and not result.invalid


def test_offset_mismatch_and_odd_role_type_load(tmp_path):
    """The audit flags these; the loader must not refuse them."""
    mismatch = with_field(good("1"), 2, ent("원균", 0, 2, "PER"))  # offsets in range, word differs
    loc_subject = with_field(good("2"), 2, ent("이순신", 0, 2, "LOC"))  # legal type, odd for a subject
    result = load_file(write(tmp_path, csv_text([mismatch, loc_subject])))
    assert not result.invalid
    assert result.frame["subj_word"].tolist() == ["원균", "이순신"]
    assert result.frame["subj_type"].tolist() == ["PER", "LOC"]


def test_words_with_quotes_commas_brackets_backslashes(tmp_path):
    words = ["O'Neil", '"인용"', "a, b [c]", 'it\'s "both"', "back\\slash", "{'word': 'x'}", "줄\n바꿈"]
    records = []
    for i, word in enumerate(words, start=1):
        sentence = f"{word} 와 비틀즈"
        obj_start = len(word) + 3
        records.append(
            [
                str(i),
                sentence,
                ent(word, 0, len(word) - 1, "ORG"),
                ent("비틀즈", obj_start, obj_start + 2, "ORG"),
                "no_relation",
                "wikitree",
            ]
        )
    result = load_file(write(tmp_path, csv_text(records)))
    assert not result.invalid
    assert result.frame["subj_word"].tolist() == words
    assert (result.frame["subj_end"] == [len(w) - 1 for w in words]).all()


@pytest.mark.parametrize(
    "cell",
    [
        '{"word": "이순신", "start_idx": 0, "end_idx": 2, "type": "PER"}',  # JSON-style quotes
        "{'type': 'PER', 'word': '이순신', 'start_idx': 0, 'end_idx': 2}",  # other key order
        "{'word':'이순신','start_idx':0,'end_idx':2,'type':'PER'}",  # no spaces
        "{'word': '이' '순신', 'start_idx': 0x0, 'end_idx': 2, 'type': 'PER'}",  # implicit concatenation, hex
        "{'word': '\\uc774\\uc21c\\uc2e0', 'start_idx': -0, 'end_idx': 2, 'type': 'PER', 'extra': 1}",
        "  {'word': u'이순신', 'start_idx': 0, 'end_idx': 2, 'type': 'PER'}",
    ],
)
def test_non_canonical_literals_read_exactly_like_literal_eval(tmp_path, cell):
    expected = ast.literal_eval(cell.strip())
    result = load_file(write(tmp_path, csv_text([with_field(good("1"), 2, cell)])))
    assert not result.invalid
    row = result.frame.iloc[0]
    assert (row["subj_word"], row["subj_start"], row["subj_end"], row["subj_type"]) == (
        expected["word"],
        expected["start_idx"],
        expected["end_idx"],
        expected["type"],
    )
    assert any("ast.literal_eval" in note for note in result.notes)


def test_leading_zero_offset_is_refused_like_literal_eval(tmp_path):
    cell = "{'word': '이순신', 'start_idx': 00, 'end_idx': 02, 'type': 'PER'}"
    with pytest.raises(SyntaxError):
        ast.literal_eval(cell)
    result = load_file(write(tmp_path, csv_text([with_field(good("1"), 2, cell)])))
    assert [(r.row, r.field) for r in result.invalid] == [(1, "subject_entity")]


def test_blank_lines_are_skipped_with_a_note_and_rows_stay_line_numbers(tmp_path):
    text = csv_text([good("1"), "", good("2"), "  ", good("3")])
    result = load_file(write(tmp_path, text))
    assert result.frame["row"].tolist() == [1, 3, 5]
    assert result.n_records == 3 and not result.invalid
    assert any("blank line" in note for note in result.notes)


def test_multiline_record_and_unclosed_quote(tmp_path):
    multiline = ["1", "첫 줄\n둘째 줄", ent("첫", 0, 0, "PER"), ent("줄", 2, 2, "NOH"), "no_relation", "x"]
    text = csv_text([multiline, good("2")]) + '3,"not closed,a,b,c,d\n4,x,y,z,w,v\n'
    result = load_file(write(tmp_path, text))
    assert result.frame["row"].tolist() == [1, 2]
    assert result.frame["sentence"].iloc[0] == "첫 줄\n둘째 줄"
    assert [(r.row, r.field) for r in result.invalid] == [(3, "record")]
    assert "double quote is probably not closed" in result.invalid[0].reason
    assert_invariant(result)


def test_extra_columns_ignored_and_source_optional(tmp_path):
    header = ["Unnamed: 0", "id", "sentence", "subject_entity", "object_entity", "label", "note"]
    row = ["0", *good("1")[:5], "whatever"]
    result = load_file(write(tmp_path, csv_text([row], header=header)))
    assert not result.invalid and result.frame["source"].tolist() == [""]
    assert any("no source column" in note for note in result.notes)


# -- whole-file failures ---------------------------------------------------------------------------

FILE_ERRORS = {
    "missing file": (None, "does not exist"),
    "empty file": ("", "is empty"),
    "header only": ("id,sentence,subject_entity,object_entity,label,source\n", "no data rows"),
    "missing columns": ("id,sentence,subject_entity,source\n1,a,b,c\n", "object_entity, label"),
    "tab separated": ("id\tsentence\tsubject_entity\tobject_entity\tlabel\n", "tab-separated"),
    "not JSON": ('[{"guid": 1,', "not valid JSON"),
    "JSON object": ('{"data": []}', "expected a list of records"),
    "empty JSON list": ("[]", "holds no records"),
    "unknown JSON layout": ('[{"text": "a", "relation": "b"}]', "does not look like KLUE"),
    "key missing everywhere": ('[{"guid": "a", "sentence": "b", "subject_entity": {}}]', "object_entity"),
}


@pytest.mark.parametrize("kind", sorted(FILE_ERRORS))
def test_unreadable_files_raise_one_sentence_naming_the_file(tmp_path, kind):
    content, fragment = FILE_ERRORS[kind]
    suffix = ".json" if content and content.lstrip()[:1] in "[{" else ".csv"
    path = tmp_path / f"input{suffix}"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_file(path)
    message = str(info.value)
    assert str(path) in message and fragment in message
    assert "\n" not in message


def test_cp949_file_is_diagnosed_and_loads_with_encoding(tmp_path):
    text = csv_text([good("1"), good("2")])
    path = write(tmp_path, text.encode("cp949"))
    with pytest.raises(DataError, match=r"not UTF-8 \(it decodes as cp949\).*encoding='cp949'") as info:
        load_file(path)
    assert str(path) in str(info.value)
    result = load_file(path, encoding="cp949")
    assert not result.invalid and result.frame["subj_word"].tolist() == ["이순신", "이순신"]
    assert result.frame.equals(load_file(write(tmp_path, text, "utf8.csv")).frame)


def test_cp949_json_and_utf8_bom(tmp_path):
    records = [_klue_record("a")]
    path = write(tmp_path, json.dumps(records, ensure_ascii=False).encode("cp949"), "data.json")
    with pytest.raises(DataError, match="cp949"):
        load_file(path)
    assert len(load_file(path, encoding="cp949").frame) == 1
    bom = write(tmp_path, "\ufeff" + csv_text([good("1")]), "bom.csv")
    assert load_file(bom).frame["id"].tolist() == ["1"]


# -- JSON formats ----------------------------------------------------------------------------------


def _klue_record(guid: str, **changes: object) -> dict:
    record = {
        "guid": guid,
        "sentence": SENTENCE,
        "subject_entity": {"word": "이순신", "start_idx": 0, "end_idx": 2, "type": "PER"},
        "object_entity": {"word": "1545년", "start_idx": 5, "end_idx": 9, "type": "DAT"},
        "label": "per:date_of_birth",
        "source": "wikipedia",
    }
    record.update(changes)
    return record


def test_klue_json_rows_and_problems(tmp_path):
    records = [
        _klue_record("klue-re-v1_dev_00000"),
        ["not", "an", "object"],
        {k: v for k, v in _klue_record("c").items() if k != "sentence"},
        _klue_record("d", subject_entity={"word": "이순신", "start_idx": "0", "end_idx": 2, "type": "PER"}),
        _klue_record("e", label=None),
    ]
    result = load_file(write(tmp_path, json.dumps(records, ensure_ascii=False), "dev.json"))
    assert result.fmt == "klue-json"
    assert [(r.row, r.field) for r in result.invalid] == [
        (2, "record"),
        (3, "sentence"),
        (4, "subject_entity.start_idx"),
    ]
    assert result.frame["id"].tolist() == ["klue-re-v1_dev_00000", "e"]
    assert result.frame["row"].tolist() == [1, 5]
    assert pd.isna(result.frame["label"].iloc[1])
    assert_invariant(result)


def test_klue_json_entity_as_literal_string_and_explicit_format(tmp_path):
    literal = ent("이순신", 0, 2, "PER")
    records = [_klue_record("a", subject_entity=literal), _klue_record("b", subject_entity="{'word': ")]
    path = write(tmp_path, json.dumps(records, ensure_ascii=False), "data.txt")
    result = load_file(path, fmt="klue-json")
    assert result.frame["subj_word"].tolist() == ["이순신"]
    assert [(r.row, r.field) for r in result.invalid] == [(2, "subject_entity")]
    with pytest.raises(ValueError, match="fmt"):
        load_file(path, fmt="xlsx")


def test_json_lines(tmp_path):
    lines = [json.dumps(_klue_record("a"), ensure_ascii=False), "", "{broken", json.dumps(_klue_record("b"))]
    result = load_file(write(tmp_path, "\n".join(lines) + "\n", "train.jsonl"))
    assert result.frame["row"].tolist() == [1, 4]
    assert [(r.row, r.field) for r in result.invalid] == [(3, "record")]
    assert_invariant(result)


def _tacred_record(rid: str, **changes: object) -> dict:
    record = {
        "id": rid,
        "docid": "APW_ENG_20101103.0539",
        "token": ["Bill", "Gates", "founded", "Microsoft", "."],
        "subj_start": 0,
        "subj_end": 1,
        "obj_start": 3,
        "obj_end": 3,
        "subj_type": "PERSON",
        "obj_type": "ORGANIZATION",
        "relation": "org:founded_by",
    }
    record.update(changes)
    return record


def test_tacred_conversion_to_character_spans(tmp_path):
    records = [
        _tacred_record("e7798fb926b9403cfcd2"),
        _tacred_record("bad-index", obj_end=5),
        _tacred_record("bad-type", subj_type="PER"),
    ]
    result = load_file(write(tmp_path, json.dumps(records), "tacred.json"))
    assert result.fmt == "tacred-json" and result.schema == TACRED_SCHEMA
    row = result.frame.iloc[0]
    assert row["sentence"] == "Bill Gates founded Microsoft ."
    assert (row["subj_word"], row["subj_start"], row["subj_end"]) == ("Bill Gates", 0, 9)
    assert (row["obj_word"], row["obj_start"], row["obj_end"]) == ("Microsoft", 19, 27)
    assert row["label"] == "org:founded_by" and row["source"] == ""
    assert [(r.row, r.field) for r in result.invalid] == [(2, "obj_end"), (3, "subj_type")]
    assert "outside the token list (5 tokens)" in result.invalid[0].reason
    assert_invariant(result)


def test_tacred_layout_with_klue_types_keeps_the_klue_schema(tmp_path):
    record = _tacred_record("1", subj_type="PER", obj_type="ORG", relation="org:founded_by")
    result = load_file(write(tmp_path, json.dumps([record]), "t.json"))
    assert result.schema == KLUE_SCHEMA and not result.invalid


# -- label maps ------------------------------------------------------------------------------------

LABEL_TO_NUM = {label: i for i, label in enumerate(KLUE_LABELS)}


def test_label_map_from_json_and_pickles(tmp_path):
    as_json = write(tmp_path, json.dumps(LABEL_TO_NUM), "map.json")
    inverse_json = write(tmp_path, json.dumps({str(v): k for k, v in LABEL_TO_NUM.items()}), "inv.json")
    to_num = write(tmp_path, pickle.dumps(LABEL_TO_NUM), "dict_label_to_num.pkl")
    to_label = write(tmp_path, pickle.dumps({v: k for k, v in LABEL_TO_NUM.items()}, protocol=0), "num.pkl")
    for path in (as_json, inverse_json, to_num, to_label):
        assert load_label_map(path) == LABEL_TO_NUM, path


class _CreatesFile:
    """Unpickling this runs open(target, 'w'): it creates a file."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    target = tmp_path / "pwned"
    payload = pickle.dumps({"no_relation": 0, "evil": _CreatesFile(target)})
    path = write(tmp_path, payload, "dict_label_to_num.pkl")
    with pytest.raises(DataError, match="not a plain pickled dict") as info:
        load_label_map(path)
    assert str(path) in str(info.value)
    assert not target.exists()
    # Control: the payload is live, so the refusal above is what kept the file from appearing.
    control = tmp_path / "control"
    handle = pickle.loads(pickle.dumps(_CreatesFile(control)))
    handle.close()
    assert control.exists()


@pytest.mark.parametrize(
    ("obj", "fragment"),
    [
        (["no_relation"], "not a dict"),
        ({}, "not a dict"),
        ({"a": 0, "b": 2}, "0..1"),
        ({"a": 0, "b": 0}, "0..1"),
        ({"a": "0"}, "must map label names to numbers"),
        ({0: "a", 1: "a"}, "two numbers"),
        ({"a": True}, "must map label names"),
    ],
)
def test_bad_label_maps(tmp_path, obj, fragment):
    with pytest.raises(DataError, match=fragment):
        load_label_map(write(tmp_path, pickle.dumps(obj), "m.pkl"))


def test_corrupt_pickle(tmp_path):
    with pytest.raises(DataError, match="not a readable pickle"):
        load_label_map(write(tmp_path, pickle.dumps(LABEL_TO_NUM)[:40], "m.pkl"))


def test_numeric_labels_go_through_the_label_map(tmp_path):
    order = list(reversed(KLUE_LABELS))
    label_map = {label: i for i, label in enumerate(order)}
    rows = [
        with_field(good("1"), 4, "0"),
        with_field(good("2"), 4, "29"),
        with_field(good("3"), 4, "30"),
        with_field(good("4"), 4, "100"),
        with_field(good("5"), 4, "no_relation"),
        with_field(good("6"), 4, "not_a_label"),
    ]
    result = load_file(write(tmp_path, csv_text(rows)), label_map=label_map)
    assert result.schema.labels == tuple(order)
    assert result.frame["label"].tolist()[:2] == [order[0], order[29]]
    assert pd.isna(result.frame["label"].iloc[2]) and result.frame["label"].iloc[3] == "no_relation"
    assert [(r.row, r.field) for r in result.invalid] == [(3, "label"), (6, "label")]
    assert "not in the label map" in result.invalid[0].reason
    assert_invariant(result)


# -- gold ------------------------------------------------------------------------------------------


def test_gold_from_id_label_csv_and_from_dataset(tmp_path):
    simple = write(tmp_path, "id,label\n7,no_relation\n8,per:title\n", "gold.csv")
    gold = load_gold(simple)
    assert gold.to_dict() == {"7": "no_relation", "8": "per:title"}
    assert gold.index.dtype == "str" and gold.name == "label"
    dataset = write(tmp_path, csv_text([good("1"), good("2")]), "dev.csv")
    assert load_gold(dataset).to_dict() == {"1": "per:date_of_birth", "2": "per:date_of_birth"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("id,label\n7,no_relation\n8,per:nope\n", "row 2, field label: unknown label"),
        ("id,label\n7,no_relation\n7,per:title\n", "row 2, field id: duplicate id"),
        ("id,label\n7,no_relation\n8,3\n", "row 2, field label: label is the number 3"),
        ("id,label\n7,no_relation\n8,per:title,x\n", "row 2, field record"),
        ("id,label\n7,\n", "row 1, field label"),
    ],
)
def test_bad_gold_files(tmp_path, text, fragment):
    with pytest.raises(DataError, match=fragment):
        load_gold(write(tmp_path, text, "gold.csv"))


def test_gold_dataset_must_be_complete(tmp_path):
    with pytest.raises(DataError, match="row 2, field label: no label"):
        load_gold(write(tmp_path, csv_text([good("1"), with_field(good("2"), 4, "100")])))
    with pytest.raises(DataError, match=r"row 2, field subject_entity\.type"):
        load_gold(write(tmp_path, csv_text([good("1"), with_field(good("2"), 2, ent("이순신", 0, 2, "X"))])))


# -- Hugging Face ----------------------------------------------------------------------------------


def _hf_rows() -> list[dict]:
    official = list(KLUE_OFFICIAL_LABELS)
    return [
        {**_klue_record("klue-re-v1_train_00000"), "label": official.index("per:date_of_birth")},
        {**_klue_record("klue-re-v1_train_00001"), "label": official.index("org:dissolved")},
        {**_klue_record("klue-re-v1_train_00002"), "label": official.index("per:title")},
    ]


def test_hf_json_lines_offline_labels_mapped_by_name(tmp_path):
    datasets = pytest.importorskip("datasets")
    path = tmp_path / "klue_re.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in _hf_rows()) + "\n", encoding="utf-8")
    cache = str(tmp_path / "cache")
    ds = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=cache)
    result = from_hf_dataset(ds)
    # The official order differs from the baseline order: names, not indices, must survive.
    assert result.frame["label"].tolist() == ["per:date_of_birth", "org:dissolved", "per:title"]
    assert KLUE_OFFICIAL_LABELS.index("org:dissolved") != KLUE_LABELS.index("org:dissolved")
    assert result.frame["subj_word"].tolist() == ["이순신"] * 3 and result.fmt == "klue-json"
    assert not result.invalid
    via_loader = load_hf_klue("train", name_or_path="json", data_files=str(path), cache_dir=cache)
    pd.testing.assert_frame_equal(via_loader.frame, result.frame)


def test_hf_class_label_names_are_used(tmp_path):
    datasets = pytest.importorskip("datasets")
    names = list(reversed(KLUE_OFFICIAL_LABELS))
    rows = [
        {**r, "label": names.index(lab)}
        for r, lab in zip(_hf_rows(), ["per:title", "no_relation", "per:title"], strict=True)
    ]
    rows[2]["label"] = -1  # HF's "no label"
    entity = datasets.Features(
        {
            "word": datasets.Value("string"),
            "start_idx": datasets.Value("int32"),
            "end_idx": datasets.Value("int32"),
            "type": datasets.Value("string"),
        }
    )
    features = datasets.Features(
        {
            "guid": datasets.Value("string"),
            "sentence": datasets.Value("string"),
            "subject_entity": entity,
            "object_entity": entity,
            "label": datasets.ClassLabel(names=names),
            "source": datasets.Value("string"),
        }
    )
    result = from_hf_dataset(datasets.Dataset.from_list(rows, features=features))
    assert result.frame["label"].tolist()[:2] == ["per:title", "no_relation"]
    assert pd.isna(result.frame["label"].iloc[2])


def test_hub_unreachable_is_a_data_error(monkeypatch):
    datasets = pytest.importorskip("datasets")

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'klue' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError, match=r"hub may be unreachable.*load_file"):
        load_hf_klue("train")


# -- property: random mixes of good and corrupted rows ---------------------------------------------

WORD = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=6)
FILLER = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)


@st.composite
def good_rows(draw: st.DrawFn) -> dict:
    subj, obj = draw(WORD), draw(WORD)
    prefix, middle, suffix = draw(FILLER), draw(FILLER), draw(FILLER)
    sentence = prefix + subj + middle + obj + suffix
    subj_start = len(prefix)
    obj_start = subj_start + len(subj) + len(middle)
    return {
        "sentence": sentence,
        "subj_word": subj,
        "subj_start": subj_start,
        "subj_end": subj_start + len(subj) - 1,
        "subj_type": draw(st.sampled_from(KLUE_SUBJECT_TYPES)),
        "obj_word": obj,
        "obj_start": obj_start,
        "obj_end": obj_start + len(obj) - 1,
        "obj_type": draw(st.sampled_from(KLUE_OBJECT_TYPES)),
        "label": draw(st.sampled_from((*KLUE_LABELS, None))),
        "source": draw(st.sampled_from(("wikipedia", "wikitree", "policy_briefing", ""))),
    }


def to_record(rid: str, row: dict) -> list[str]:
    return [
        rid,
        row["sentence"],
        ent(row["subj_word"], row["subj_start"], row["subj_end"], row["subj_type"]),
        ent(row["obj_word"], row["obj_start"], row["obj_end"], row["obj_type"]),
        "100" if row["label"] is None else row["label"],
        row["source"],
    ]


CORRUPTIONS = {
    "literal": (lambda r: with_field(r, 2, r[2][:-1]), "subject_entity"),
    "missing key": (lambda r: with_field(r, 3, r[3].replace("'type'", "'kind'")), "object_entity.type"),
    "out of range": (lambda r: with_field(r, 3, ent("x", 0, len(r[1]) + 5, "PER")), "object_entity.end_idx"),
    "label": (lambda r: with_field(r, 4, "per:unknown"), "label"),
    "type": (lambda r: with_field(r, 2, ent("x", 0, 0, "PERSON")), "subject_entity.type"),
    "sentence": (lambda r: with_field(r, 1, ""), "sentence"),
    "fields": (lambda r: [*r, "extra"], "record"),
    "duplicate": (None, "id"),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.tuples(good_rows(), st.none() | st.sampled_from(sorted(CORRUPTIONS))), min_size=1, max_size=12))
def test_random_mixes_keep_good_rows_unchanged(tmp_path, plan):
    records: list[list[str] | str] = []
    expected_good: dict[int, dict] = {}
    expected_bad: dict[int, str] = {}
    first_good_id: str | None = None
    for number, (row, corruption) in enumerate(plan, start=1):
        rid = f"r{number}"
        record = to_record(rid, row)
        if corruption == "duplicate" and first_good_id is None:
            corruption = "label"
        if corruption is None:
            expected_good[number] = {"id": rid, **row}
            first_good_id = first_good_id or rid
        elif corruption == "duplicate":
            record = with_field(record, 0, first_good_id)
            expected_bad[number] = "id"
        else:
            corrupt, field_name = CORRUPTIONS[corruption]
            record = corrupt(record)
            expected_bad[number] = field_name
        if corruption == "fields":
            out = io.StringIO()
            csv.writer(out, lineterminator="\r\n").writerow(record)
            records.append(out.getvalue()[:-2])
        else:
            records.append(record)
    path = tmp_path / "mix.csv"
    path.write_text(csv_text(records), encoding="utf-8", newline="")
    result = load_file(path)

    assert result.n_records == len(plan)
    assert_invariant(result)
    assert set(result.frame["row"]) == set(expected_good)
    for row_number, field_name in expected_bad.items():
        assert field_name in {r.field for r in result.invalid if r.row == row_number}, (
            row_number,
            result.invalid,
        )
    frame = result.frame.set_index("row")
    for number, row in expected_good.items():
        loaded = frame.loc[number]
        for key, value in row.items():
            if key == "label" and value is None:
                assert pd.isna(loaded["label"])
            else:
                assert loaded[key] == value, (key, value, loaded[key])


def test_no_bare_pickle_loads_in_the_data_package():
    for path in Path(__file__).resolve().parents[2].joinpath("core", "data").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert "pickle.load(" not in source and "pickle.loads(" not in source, path.name
