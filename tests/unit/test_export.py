"""core.data.export: what export_frame writes, load_file reads back unchanged."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from core.common.schema import COLUMNS, KLUE_SCHEMA, TACRED_SCHEMA, DataError
from core.data.export import export_frame
from core.data.loading import load_file

SUFFIX = {"csv": ".csv", "klue-json": ".json", "tacred-json": ".json"}

# Words with quotes, commas, brackets, apostrophes, backslashes and Korean; every entity is a run of
# whole space-separated tokens so that the TACRED layout can hold it too.
TRICKY = [
    ("1", 'O\'Neil 은 "비틀즈" 를 좋아했다 .', "O'Neil", "PER", '"비틀즈"', "ORG", "no_relation"),
    ("2", '[괄호], 안의 말 과 it\'s "both" 이다', "[괄호],", "ORG", 'it\'s "both"', "POH", "org:product"),
    ("3", "back\\slash 와 {'word': 'x'} 그리고 1545년", "back\\slash", "PER", "1545년", "DAT", None),
    ("4", "이순신 은 1545년 에 태어났다 .", "이순신", "PER", "1545년", "DAT", "per:date_of_birth"),
]


def tricky_frame() -> pd.DataFrame:
    rows = []
    for number, (rid, sentence, subj, subj_type, obj, obj_type, label) in enumerate(TRICKY, start=1):
        s, o = sentence.index(subj), sentence.index(obj)
        rows.append(
            {
                "id": rid,
                "sentence": sentence,
                "subj_word": subj,
                "subj_start": s,
                "subj_end": s + len(subj) - 1,
                "subj_type": subj_type,
                "obj_word": obj,
                "obj_start": o,
                "obj_end": o + len(obj) - 1,
                "obj_type": obj_type,
                "label": label,
                "source": "wikipedia" if number % 2 else "",
                "row": number,
            }
        )
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    ints = {c: "int64" for c in ("subj_start", "subj_end", "obj_start", "obj_end", "row")}
    return frame.astype({c: "str" for c in COLUMNS if c not in ints} | ints)


def reload(tmp_path, frame: pd.DataFrame, fmt: str, **kwargs) -> pd.DataFrame:
    path = tmp_path / f"out{SUFFIX[fmt]}"
    path.write_bytes(export_frame(frame, fmt=fmt))
    result = load_file(path, **kwargs)
    assert not result.invalid, result.invalid
    assert result.fmt == fmt
    return result.frame


@pytest.mark.parametrize("fmt", ["csv", "klue-json", "tacred-json"])
def test_round_trip_reproduces_the_frame(tmp_path, fmt):
    frame = tricky_frame()
    # A TACRED file carrying KLUE types stays under the KLUE schema (see load_file).
    back = reload(tmp_path, frame, fmt)
    pd.testing.assert_frame_equal(back, frame)


def test_round_trip_from_a_loaded_file_and_row_renumbering(tmp_path):
    frame = tricky_frame()
    gappy = frame.iloc[[1, 3]].reset_index(drop=True)  # e.g. rows 1 and 3 were invalid
    back = reload(tmp_path, gappy, "csv")
    assert back["row"].tolist() == [1, 2]
    pd.testing.assert_frame_equal(back.drop(columns="row"), gappy.drop(columns="row"))


def test_csv_layout(tmp_path):
    data = export_frame(tricky_frame(), fmt="csv")
    text = data.decode("utf-8")
    assert text.splitlines()[0] == "id,sentence,subject_entity,object_entity,label,source"
    table = pd.read_csv(io.BytesIO(data), keep_default_na=False)
    assert table["id"].dtype == "int64"
    assert table["subject_entity"][0] == repr({"word": "O'Neil", "start_idx": 0, "end_idx": 5, "type": "PER"})
    assert table["label"].astype(str).tolist() == ["no_relation", "org:product", "100", "per:date_of_birth"]
    assert "Unnamed" not in text  # no index column


def test_non_integer_ids_stay_text(tmp_path):
    frame = tricky_frame()
    frame["id"] = pd.Series(["007", "8", "x-9", "10"], dtype="str")
    back = reload(tmp_path, frame, "csv")
    assert back["id"].tolist() == ["007", "8", "x-9", "10"]


def test_carriage_return_in_a_sentence_survives_csv(tmp_path):
    frame = tricky_frame().iloc[[3]].reset_index(drop=True)
    frame["sentence"] = frame["sentence"] + "\r"
    frame["row"] = 1
    back = reload(tmp_path, frame, "csv")
    assert back["sentence"].tolist() == frame["sentence"].tolist()


def test_json_layouts():
    frame = tricky_frame()
    klue = json.loads(export_frame(frame, fmt="klue-json"))
    assert klue[0]["guid"] == "1" and klue[0]["subject_entity"] == {
        "word": "O'Neil",
        "start_idx": 0,
        "end_idx": 5,
        "type": "PER",
    }
    assert klue[2]["label"] is None
    tacred = json.loads(export_frame(frame, fmt="tacred-json"))
    first = tacred[3]
    assert first["token"] == ["이순신", "은", "1545년", "에", "태어났다", "."]
    assert (first["subj_start"], first["subj_end"], first["obj_start"], first["obj_end"]) == (0, 0, 2, 2)
    assert first["relation"] == "per:date_of_birth"


def test_tacred_round_trip_with_tacred_schema(tmp_path):
    frame = tricky_frame().iloc[[3]].reset_index(drop=True)
    frame["row"] = 1
    frame["subj_type"] = pd.Series(["PERSON"], dtype="str")
    frame["obj_type"] = pd.Series(["DATE"], dtype="str")
    frame["label"] = pd.Series(["per:date_of_birth"], dtype="str")
    path = tmp_path / "t.json"
    path.write_bytes(export_frame(frame, fmt="tacred-json", schema=TACRED_SCHEMA))
    result = load_file(path)
    assert result.schema == TACRED_SCHEMA
    pd.testing.assert_frame_equal(result.frame, frame)


def test_span_not_on_token_boundaries_names_the_id():
    frame = tricky_frame()
    frame.loc[3, "subj_end"] = 1  # "이순" inside the token "이순신"
    frame.loc[3, "subj_word"] = "이순"
    with pytest.raises(DataError, match=r"id '4'.*token boundaries"):
        export_frame(frame, fmt="tacred-json")
    export_frame(frame, fmt="csv")  # the other layouts hold it


def test_word_mismatch_cannot_be_tacred_but_round_trips_elsewhere(tmp_path):
    frame = tricky_frame()
    frame.loc[3, "subj_word"] = "원균"
    with pytest.raises(DataError, match=r"id '4'.*differs from the sentence"):
        export_frame(frame, fmt="tacred-json")
    for fmt in ("csv", "klue-json"):
        pd.testing.assert_frame_equal(reload(tmp_path, frame, fmt), frame)


@pytest.mark.parametrize(
    ("column", "value", "fragment"),
    [
        ("label", "per:favourite_food", "is not a klue label"),
        ("subj_type", "PERSON", "is not a klue type"),
        ("subj_start", None, "not an integer"),
        ("id", "2", "appears twice"),
    ],
)
def test_rows_the_loader_would_refuse_are_not_written(column, value, fragment):
    frame = tricky_frame().astype({"subj_start": "float64"} if value is None else {})
    frame.loc[0, column] = value if value is not None else float("nan")
    with pytest.raises(DataError, match=fragment):
        export_frame(frame, fmt="csv", schema=KLUE_SCHEMA)


def test_unknown_format_and_missing_columns():
    with pytest.raises(ValueError, match="fmt"):
        export_frame(tricky_frame(), fmt="xlsx")
    with pytest.raises(DataError, match="lacks the column"):
        export_frame(tricky_frame().drop(columns="label"), fmt="csv")


def test_object_dtype_frame_with_pd_na_labels(tmp_path):
    """Frames coming back from storage may hold object columns and pd.NA."""
    frame = tricky_frame().astype(object)
    frame.loc[2, "label"] = pd.NA
    back = reload(tmp_path, frame, "csv")
    assert pd.isna(back.loc[2, "label"]) and back["subj_word"].tolist() == tricky_frame()["subj_word"].tolist()
