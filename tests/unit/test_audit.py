"""Tests of core.data.audit: each detector on hand-made canonical frames, then recall and precision on the demo."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.common.schema import COLUMNS, KLUE_SCHEMA, InvalidRow
from core.data import audit_detectors, audit_distributions
from core.data.audit import AuditReport, audit, report_to_json, report_to_text

# --------------------------------------------------------------------------------------
# Hand-made canonical frames
# --------------------------------------------------------------------------------------


def row(
    rid: Any,
    sentence: str,
    subj: tuple[str, str] | tuple[str, str, int, int],
    obj: tuple[str, str] | tuple[str, str, int, int],
    label: str | None = "no_relation",
    source: str = "wikipedia",
) -> dict[str, Any]:
    """One canonical row; an entity is (word, type) located by ``find``, or (word, type, start, end)."""
    out: dict[str, Any] = {"id": str(rid), "sentence": sentence, "label": label, "source": source}
    for role, ent in (("subj", subj), ("obj", obj)):
        word, typ = ent[0], ent[1]
        if len(ent) == 4:
            start, end = ent[2], ent[3]
        else:
            start = sentence.index(word)
            end = start + len(word) - 1
        out.update({f"{role}_word": word, f"{role}_start": start, f"{role}_end": end, f"{role}_type": typ})
    return out


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A frame with the canonical columns and dtypes (str, int64, label missing when None)."""
    df = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "row"])
    df["row"] = np.arange(1, len(df) + 1, dtype=np.int64)
    for c in ("subj_start", "subj_end", "obj_start", "obj_end"):
        df[c] = df[c].astype(np.int64)
    for c in ("id", "sentence", "subj_word", "subj_type", "obj_word", "obj_type", "label", "source"):
        df[c] = df[c].astype("str")
    return df[list(COLUMNS)]


S1 = "이순신은 1545년 한성에서 태어났다."
S2 = "비틀즈는 리버풀에서 결성된 영국의 록 밴드이다."
S3 = "김철수는 서울대학교를 졸업하고 삼성전자에 입사했다."


def filler(n: int, start: int = 1000, label: str = "no_relation") -> list[dict[str, Any]]:
    """Distinct clean rows that trigger no detector (each its own sentence)."""
    return [
        row(
            start + i,
            f"문장 {i}번에서 홍길동{i}은 한국 사람이다.",
            (f"홍길동{i}", "PER"),
            ("한국", "LOC"),
            label,
        )
        for i in range(n)
    ]


# --------------------------------------------------------------------------------------
# Duplicates
# --------------------------------------------------------------------------------------


def test_duplicates_found_and_counted() -> None:
    base = row(1, S1, ("이순신", "PER"), ("1545년", "DAT"), "per:date_of_birth")
    rows = [base, {**base, "id": "2"}, {**base, "id": "3"}]
    other = row(4, S2, ("비틀즈", "ORG"), ("리버풀", "LOC"), "org:place_of_headquarters")
    rows += [other, {**other, "id": "5"}, *filler(3)]
    report = audit(frame(rows))
    assert report.duplicates.groups == 2
    assert report.duplicates.extra_rows == 3
    assert report.duplicates.id_groups == [["1", "2", "3"], ["4", "5"]]


def test_duplicates_need_every_field_equal() -> None:
    base = row(1, S1, ("이순신", "PER"), ("1545년", "DAT"), "per:date_of_birth")
    rows = [
        base,
        {**base, "id": "2", "label": "per:origin"},  # label differs
        {**base, "id": "3", "obj_type": "NOH"},  # type differs
        {**base, "id": "4", "obj_start": base["obj_start"] + 1},  # offset differs
        {**base, "id": "5", "sentence": S1 + " "},  # sentence differs
    ]
    report = audit(frame(rows))
    assert report.duplicates.groups == 0
    assert report.duplicates.extra_rows == 0
    assert report.duplicates.id_groups == []


def test_unlabeled_identical_rows_are_duplicates() -> None:
    base = row(1, S1, ("이순신", "PER"), ("1545년", "DAT"), None)
    report = audit(frame([base, {**base, "id": "2"}]))
    assert report.duplicates.id_groups == [["1", "2"]]
    assert report.label_conflicts.groups == 0


# --------------------------------------------------------------------------------------
# Label conflicts
# --------------------------------------------------------------------------------------


def test_label_conflicts_group_rows_and_tabulate_labels() -> None:
    base = row(10, S1, ("이순신", "PER"), ("1545년", "DAT"), "per:date_of_birth")
    rows = [
        base,
        {**base, "id": "11", "label": "no_relation"},
        {**base, "id": "12"},  # duplicate of 10, still part of the conflict group
        {**base, "id": "13", "obj_type": "NOH", "label": "per:origin"},  # types are not part of the key
        *filler(4),
    ]
    report = audit(frame(rows))
    conflicts = report.label_conflicts
    assert conflicts.groups == 1
    assert conflicts.rows == 4
    assert conflicts.id_groups == [["10", "11", "12", "13"]]
    table = conflicts.table
    assert list(table.columns) == list(audit_detectors.CONFLICT_TABLE_COLUMNS)
    assert table["label"].tolist() == [
        "per:date_of_birth",
        "no_relation",
        "per:origin",
    ]  # most frequent first
    assert table["count"].tolist() == [2, 1, 1]
    assert table["ids"].tolist() == [["10", "12"], ["11"], ["13"]]
    assert set(table["group"]) == {0}
    assert table["subj_word"].tolist() == ["이순신"] * 3


def test_no_conflict_when_spans_differ_or_label_missing() -> None:
    sentence = "이순신과 이순신은 같은 이름이다."
    a = row(1, sentence, ("이순신", "PER", 0, 2), ("이름", "POH"), "per:alternate_names")
    b = row(2, sentence, ("이순신", "PER", 5, 7), ("이름", "POH"), "no_relation")  # other subject span
    c = {**a, "id": "3", "label": None}  # unlabeled: not a label
    d = {**a, "id": "4"}  # same label as a: a duplicate, not a conflict
    report = audit(frame([a, b, c, d]))
    assert report.label_conflicts.groups == 0
    assert report.label_conflicts.rows == 0
    assert report.label_conflicts.id_groups == []
    assert report.label_conflicts.table.empty


# --------------------------------------------------------------------------------------
# Offset mismatches
# --------------------------------------------------------------------------------------


def test_clean_offsets_give_no_mismatch() -> None:
    rows = [row(1, S1, ("이순신", "PER"), ("1545년", "DAT"), "per:date_of_birth"), *filler(5)]
    mismatches = audit(frame(rows)).offset_mismatches
    assert mismatches.empty
    assert list(mismatches.columns) == list(audit_detectors.OFFSET_COLUMNS)


def test_exclusive_end_is_recognised() -> None:
    # 이순신 spans 0-2; an exclusive end writes 0-3.
    r = row(7, S1, ("이순신", "PER", 0, 3), ("1545년", "DAT"), "per:date_of_birth")
    mismatches = audit(frame([r])).offset_mismatches
    assert len(mismatches) == 1
    m = mismatches.iloc[0]
    assert (m["id"], m["role"], m["word"], m["start"], m["end"]) == ("7", "subj", "이순신", 0, 3)
    assert m["found"] == "이순신은"
    assert (m["suggested_start"], m["suggested_end"]) == (0, 2)
    assert m["kind"] == "exclusive_end"
    assert "exclusive" in m["reason"] and "off by one" in m["reason"]


def test_exclusive_end_at_sentence_end() -> None:
    sentence = "그는 서울"
    r = row(1, sentence, ("그", "PER"), ("서울", "LOC", 3, 5), "per:place_of_residence")  # 5 == len
    m = audit(frame([r])).offset_mismatches.iloc[0]
    assert m["kind"] == "exclusive_end"
    assert (m["suggested_start"], m["suggested_end"]) == (3, 4)


def test_shifted_offset_suggests_nearest_occurrence() -> None:
    sentence = "서울 시민이 서울 시청 앞, 그리고 다시 서울 광장에 모였다."
    occurrences = [i for i in range(len(sentence)) if sentence.startswith("서울", i)]
    assert len(occurrences) == 3
    # Given start 20 sits between the 2nd (7) and 3rd (22) occurrences, nearer the 3rd.
    r = row(3, sentence, ("시민", "PER"), ("서울", "LOC", 20, 21), "no_relation")
    m = audit(frame([r])).offset_mismatches.iloc[0]
    assert m["role"] == "obj"
    assert m["found"] == sentence[20:22]
    assert m["kind"] == "shifted"
    assert (m["suggested_start"], m["suggested_end"]) == (occurrences[2], occurrences[2] + 1)
    # Equidistant occurrences (0 and 4 around start 2): the earlier one wins.
    tie = "서울과 서울 사이"
    r2 = row(4, tie, ("서울", "LOC", 2, 3), ("사이", "POH"), "no_relation")
    m2 = audit(frame([r2])).offset_mismatches.iloc[0]
    assert (m2["suggested_start"], m2["suggested_end"]) == (0, 1)


def test_word_absent_or_out_of_range() -> None:
    absent = row(1, S1, ("이순신", "PER"), ("부산", "LOC", 10, 11), "no_relation")
    outside = row(2, S1, ("이순신", "PER", 0, 2), ("1545년", "DAT", 40, 44), "per:date_of_birth")
    negative = row(3, S2, ("비틀즈", "ORG", -1, 1), ("리버풀", "LOC"), "no_relation")
    mismatches = audit(frame([absent, outside, negative])).offset_mismatches.set_index("id")
    assert mismatches.loc["1", "kind"] == "not_found"
    assert pd.isna(mismatches.loc["1", "suggested_start"]) and pd.isna(mismatches.loc["1", "suggested_end"])
    assert mismatches.loc["2", "kind"] == "out_of_range"
    assert mismatches.loc["2", "found"] == ""
    assert mismatches.loc["2", "suggested_start"] == S1.index("1545년")
    assert mismatches.loc["3", "kind"] == "out_of_range"
    assert mismatches.loc["3", "suggested_start"] == 0
    assert str(mismatches["suggested_start"].dtype) == "Int64"


def test_both_roles_of_one_row_reported_subject_first() -> None:
    r = row(9, S1, ("이순신", "PER", 1, 3), ("1545년", "DAT", 6, 11), "per:date_of_birth")
    mismatches = audit(frame([r, *filler(2)])).offset_mismatches
    assert mismatches[["id", "role"]].values.tolist() == [["9", "subj"], ["9", "obj"]]
    assert report_to_json(audit(frame([r])))["offset_mismatches"] == ["9"]


ALPHABET = st.sampled_from(list("ab가나 😀́\x00'\""))


@st.composite
def entity_case(draw: st.DrawFn) -> tuple[str, str, int, int]:
    """A sentence, a word and offsets; half the time the word is the sentence's own slice."""
    sentence = draw(st.text(ALPHABET, max_size=8))
    start, end = draw(st.integers(-2, 9)), draw(st.integers(-2, 9))
    own = sentence[max(start, 0) : max(end + 1, 0)]
    word = own if draw(st.booleans()) else draw(st.text(ALPHABET, max_size=4))
    return sentence, word, start, end


@settings(max_examples=200, deadline=None)
@given(st.lists(entity_case(), max_size=12))
def test_spells_word_equals_python_slicing(cases: list[tuple[str, str, int, int]]) -> None:
    sentences = pd.Series([c[0] for c in cases], dtype="str")
    words = pd.Series([c[1] for c in cases], dtype="str")
    starts = np.asarray([c[2] for c in cases], dtype=np.int64)
    ends = np.asarray([c[3] for c in cases], dtype=np.int64)
    expected = [0 <= a <= b < len(s) and s[a : b + 1] == w for s, w, a, b in cases]
    assert audit_detectors.spells_word(sentences, words, starts, ends).tolist() == expected
    block = audit_detectors._SPELL_BLOCK
    audit_detectors._SPELL_BLOCK = 3  # several blocks, and block-relative offsets
    try:
        assert audit_detectors.spells_word(sentences, words, starts, ends).tolist() == expected
    finally:
        audit_detectors._SPELL_BLOCK = block


# --------------------------------------------------------------------------------------
# Type flags
# --------------------------------------------------------------------------------------


def school_rows(n_org: int, n_loc: int, start: int = 0) -> list[dict[str, Any]]:
    """per:schools_attended rows: ``n_org`` with an ORG object, ``n_loc`` with a LOC object."""
    out = []
    for i in range(n_org + n_loc):
        typ = "ORG" if i < n_org else "LOC"
        sentence = f"학생{i}은 학교{i}를 다녔다."
        out.append(row(start + i, sentence, (f"학생{i}", "PER"), (f"학교{i}", typ), "per:schools_attended"))
    return out


def test_minority_rule_flags_rare_type_with_majority_suggestion() -> None:
    flags = audit(frame(school_rows(20, 1))).type_flags  # LOC share 1/21 = 4.8% < 5%
    assert list(flags.columns) == list(audit_detectors.TYPE_FLAG_COLUMNS)
    assert len(flags) == 1
    f = flags.iloc[0]
    assert (f["id"], f["role"], f["type"], f["label"]) == ("20", "obj", "LOC", "per:schools_attended")
    assert f["suggested_type"] == "ORG"
    assert f["rule"] == "minority"
    assert f["share"] == pytest.approx(1 / 21)
    assert "LOC" in f["reason"] and "majority ORG" in f["reason"]


def test_minority_threshold_is_strict() -> None:
    rows = frame(school_rows(19, 1))  # LOC share exactly 1/20 = 0.05
    assert audit(rows, minority_threshold=0.05).type_flags.empty
    assert len(audit(rows, minority_threshold=0.0501).type_flags) == 1
    assert audit(rows, minority_threshold=0.0).type_flags.empty


def test_no_relation_is_not_type_checked() -> None:
    rows = [
        row(i, f"가{i} 나{i}", (f"가{i}", "PER"), (f"나{i}", "DAT" if i else "NOH"), "no_relation") for i in range(40)
    ]
    assert audit(frame(rows)).type_flags.empty


def test_prefix_rule_and_merge_with_minority() -> None:
    rows = [
        row(
            i,
            f"회사{i}는 직원{i}을 두었다.",
            (f"회사{i}", "ORG"),
            (f"직원{i}", "PER"),
            "org:top_members/employees",
        )
        for i in range(40)
    ]
    # A PER subject in an org:* row: rare (1/41) and against the prefix, so both rules hit it.
    rows.append(row(40, "철수는 영희를 두었다.", ("철수", "PER"), ("영희", "PER"), "org:top_members/employees"))
    # A per:* label whose subjects are mostly ORG: the prefix rule flags them although they are the majority.
    rows += [
        row(
            100 + i,
            f"단체{i}의 직함{i}",
            (f"단체{i}", "ORG" if i < 3 else "PER"),
            (f"직함{i}", "POH"),
            "per:title",
        )
        for i in range(4)
    ]
    flags = audit(frame(rows)).type_flags
    both = flags[flags["id"] == "40"]
    assert len(both) == 1  # one row per (id, role)
    f = both.iloc[0]
    assert (f["role"], f["type"], f["suggested_type"], f["rule"]) == ("subj", "PER", "ORG", "prefix+minority")
    assert "need a ORG subject" in f["reason"] and "majority ORG" in f["reason"]
    prefix_only = flags[flags["label"] == "per:title"]
    assert sorted(prefix_only["id"]) == ["100", "101", "102"]
    assert set(prefix_only["rule"]) == {"prefix"}
    assert set(prefix_only["suggested_type"]) == {"PER"}
    assert prefix_only["share"].tolist() == pytest.approx([0.75] * 3)


def test_type_flags_ranked_rarest_first() -> None:
    rows = school_rows(20, 1)  # LOC share 1/21
    rows += [
        row(
            200 + i,
            f"사람{i}은 {1900 + i}년에 태어났다.",
            (f"사람{i}", "PER"),
            (f"{1900 + i}년", "DAT"),
            "per:date_of_birth",
        )
        for i in range(60)
    ]
    rows.append(row(300, "사람은 서울에서 태어났다.", ("사람", "PER"), ("서울", "LOC"), "per:date_of_birth"))  # 1/61
    rows.append(row(301, "기관은 2000년에 태어났다.", ("기관", "ORG"), ("2000년", "DAT"), "per:date_of_birth"))
    flags = audit(frame(rows)).type_flags
    assert flags["share"].is_monotonic_increasing
    assert flags["id"].tolist()[:2] == ["300", "301"]  # both 1/61, file order breaks the tie
    assert flags["id"].tolist()[-1] == "20"


# --------------------------------------------------------------------------------------
# Distributions, divergence, overlap, counts
# --------------------------------------------------------------------------------------


def small_pair() -> tuple[pd.DataFrame, pd.DataFrame]:
    train = frame(
        [
            row(1, S1, ("이순신", "PER"), ("1545년", "DAT"), "per:date_of_birth"),
            row(2, S2, ("비틀즈", "ORG"), ("리버풀", "LOC"), "org:place_of_headquarters", "wikitree"),
            row(3, S3, ("김철수", "PER"), ("서울대학교", "ORG"), "per:schools_attended"),
            row(4, S3, ("김철수", "PER"), ("삼성전자", "ORG"), "per:employee_of"),
        ]
    )
    test = frame(
        [
            row(1, S3, ("김철수", "PER"), ("서울대학교", "ORG"), None),  # shared triple
            row(2, S2, ("영국", "LOC", 15, 16), ("비틀즈", "ORG"), None),  # shared sentence only
            row(3, "완전히 다른 문장이다.", ("문장", "POH"), ("완전히", "POH"), None, "policy_briefing"),
        ]
    )
    return train, test


def test_distributions_shapes_and_shares() -> None:
    train, test = small_pair()
    report = audit(train, test)
    assert set(report.distributions) == set(audit_distributions.DISTRIBUTIONS)
    for name, dist in report.distributions.items():
        assert list(dist.columns) == list(audit_distributions.DISTRIBUTION_COLUMNS), name
        assert dist["train_count"].sum() == 4, name
        assert dist["train_share"].sum() == pytest.approx(1.0), name
    pairs = report.distributions["type_pair"].set_index("value")
    assert pairs.loc["PER-ORG", "train_count"] == 2
    assert pairs.loc["POH-POH", "test_count"] == 1 and pairs.loc["POH-POH", "train_count"] == 0
    lab = report.distributions["label"]
    assert set(KLUE_SCHEMA.labels) <= set(lab["value"])  # zero-count labels are listed too
    assert (lab["test_count"] == 0).all() and lab["test_share"].isna().all()  # unlabeled test
    assert math.isnan(report.divergence["label"]) and math.isnan(report.divergence["label_type_pair"])
    ltp = report.distributions["label_type_pair"].set_index("value")
    assert ltp.loc["per:schools_attended | PER-ORG", "train_count"] == 1
    lengths = report.distributions["sentence_length"]
    assert lengths["value"].iloc[0] == "0-9"
    assert lengths.loc[lengths["value"] == f"{len(S1) // 10 * 10}-{len(S1) // 10 * 10 + 9}", "train_count"].item() >= 1
    source = report.distributions["source"].set_index("value")
    assert source.loc["policy_briefing", "test_share"] == pytest.approx(1 / 3)
    assert 0.0 < report.divergence["obj_type"] <= 1.0


def test_divergence_bounds_and_scipy_agreement() -> None:
    train, _ = small_pair()
    same = audit(train, train)
    for name, value in same.divergence.items():
        assert value == pytest.approx(0.0, abs=1e-12), name
    disjoint = train.assign(source="wikitree")
    other = train.assign(source="wikipedia")
    assert audit(disjoint, other).divergence["source"] == pytest.approx(1.0)
    spatial = pytest.importorskip("scipy.spatial.distance")
    _, test = small_pair()
    report = audit(train, test)
    for name in ("obj_type", "type_pair", "sentence_length", "source"):
        dist = report.distributions[name]
        expected = spatial.jensenshannon(dist["train_count"], dist["test_count"], base=2) ** 2
        assert report.divergence[name] == pytest.approx(expected, abs=1e-12), name
    assert all(math.isnan(v) for v in audit(train).divergence.values())


def test_overlap_triples_and_sentences() -> None:
    train, test = small_pair()
    overlap = audit(train, test).overlap
    assert overlap is not None
    assert overlap.shared_triples == 1
    assert (overlap.triple_train_ids, overlap.triple_test_ids) == (["3"], ["1"])
    assert overlap.shared_sentences == 2
    assert overlap.sentence_train_ids == ["2", "3", "4"]
    assert overlap.sentence_test_ids == ["1", "2"]
    assert overlap.table[["train_ids", "test_ids"]].values.tolist() == [[["3"], ["1"]]]
    assert audit(train).overlap is None


def test_counts() -> None:
    train, test = small_pair()
    mixed = pd.concat([train, test.assign(id=["u1", "u2", "u3"])], ignore_index=True)
    report = audit(mixed, test)
    assert report.rows == 7
    assert report.counts["labeled_rows"] == 4 and report.counts["unlabeled_rows"] == 3
    assert report.counts["unique_sentences"] == 4
    assert report.label_counts == {
        "org:place_of_headquarters": 1,
        "per:employee_of": 1,
        "per:schools_attended": 1,
        "per:date_of_birth": 1,
    }  # schema order
    assert list(report.label_counts) == [lab for lab in KLUE_SCHEMA.labels if lab in report.label_counts]
    assert report.counts["test_rows"] == 3 and report.counts["test_labeled_rows"] == 0


def test_bad_input_is_named() -> None:
    train, _ = small_pair()
    with pytest.raises(ValueError, match="obj_type"):
        audit(train.drop(columns="obj_type"))
    with pytest.raises(ValueError, match="minority_threshold"):
        audit(train, minority_threshold=1.5)
    with pytest.raises(ValueError, match="test frame"):
        audit(train, train.drop(columns="label"))


def test_missing_offset_is_named() -> None:
    train, _ = small_pair()
    broken = train.assign(obj_start=train["obj_start"].astype("Int64"))
    broken.loc[1, "obj_start"] = pd.NA
    with pytest.raises(ValueError, match="'obj_start' has missing offsets"):
        audit(broken)


def test_any_index_and_row_order() -> None:
    base = row(1, S1, ("이순신", "PER", 0, 3), ("1545년", "DAT"), "per:date_of_birth")
    rows = frame([base, {**base, "id": "2"}, *filler(3)])
    shuffled = rows.iloc[::-1].set_index(pd.Index([10, 3, 7, 1, 0]))
    report = audit(shuffled)
    assert report.duplicates.id_groups == [["2", "1"]]  # file (frame) order
    assert report.offset_mismatches["id"].tolist() == ["2", "1"]


def test_empty_frame() -> None:
    report = audit(frame([]))
    assert report.rows == 0
    assert report.duplicates.groups == 0 and report.label_conflicts.groups == 0
    assert report.offset_mismatches.empty and report.type_flags.empty
    payload = report_to_json(report)
    json.dumps(payload, allow_nan=False)
    assert payload["overlap"] is None and payload["offset_mismatches"] == []


# --------------------------------------------------------------------------------------
# JSON and text
# --------------------------------------------------------------------------------------


def messy_report() -> AuditReport:
    base = row(1, S1, ("이순신", "PER"), ("1545년", "DAT"), "per:date_of_birth")
    rows = [
        base,
        {**base, "id": "2"},
        {**base, "id": "3", "label": "no_relation"},
        row(4, S2, ("비틀즈", "ORG", 0, 3), ("리버풀", "LOC"), "org:place_of_headquarters"),
        *school_rows(20, 1, start=10),
    ]
    _, test = small_pair()
    return audit(frame(rows), test)


def test_json_shape_and_serialisable() -> None:
    invalid = [InvalidRow(row=5, field="subject_entity", reason="not a dict literal", id="77")]
    payload = report_to_json(messy_report(), invalid_rows=invalid)
    text = json.dumps(payload, allow_nan=False, ensure_ascii=False)  # no NaN, no numpy types
    assert json.loads(text) == payload
    for key in ("rows", "invalid_rows", "label_counts", "duplicates", "label_conflicts", "offset_mismatches"):
        assert key in payload
    assert payload["rows"] == 25
    assert payload["invalid_rows"] == [
        {"row": 5, "field": "subject_entity", "reason": "not a dict literal", "id": "77"}
    ]
    assert payload["duplicates"] == {"groups": 1, "extra_rows": 1, "id_groups": [["1", "2"]]}
    assert payload["label_conflicts"]["groups"] == 1
    assert payload["label_conflicts"]["rows"] == 3
    assert payload["label_conflicts"]["id_groups"] == [["1", "2", "3"]]
    assert payload["offset_mismatches"] == ["4"]
    assert all(set(f) >= {"id", "role", "type", "label", "suggested_type", "reason"} for f in payload["type_flags"])
    assert [(f["id"], f["suggested_type"]) for f in payload["type_flags"]] == [("30", "ORG")]
    assert payload["divergence"]["label"] is None  # NaN becomes null
    assert payload["distributions"]["label"][0]["test_share"] is None
    assert payload["overlap"]["shared_sentences"] == 1  # S2 only
    assert payload["overlap"]["sentence_train_ids"] == ["4"]
    assert isinstance(payload["label_counts"]["per:date_of_birth"], int)


def test_text_summary_mentions_every_section() -> None:
    text = report_to_text(messy_report(), invalid_rows=[InvalidRow(5, "label", "unknown label 'x'")])
    for needle in (
        "Rows: 25",
        "invalid rows: 1",
        "row 5, label: unknown label 'x'",
        "Exact duplicates: 1 groups, 1 extra rows",
        "Label conflicts",
        "Offset mismatches: 1 entities",
        "exclusive",
        "Type flags",
        "id 30 obj LOC -> ORG",
        "Jensen-Shannon",
        "shared triples: 0",
        "shared sentences: 1",
    ):
        assert needle in text, needle


# --------------------------------------------------------------------------------------
# The demo dataset: injected errors are the ground truth
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from core.data.demo import write_demo_dataset
    from core.data.loading import load_file, load_gold

    out: Path = tmp_path_factory.mktemp("demo")
    manifest = write_demo_dataset(out)
    train = load_file(out / "train.csv")
    test = load_file(out / "test.csv")
    assert not train.invalid and not test.invalid
    gold = load_gold(out / "test_gold.csv")
    labeled_test = test.frame.assign(label=test.frame["id"].map(gold).astype(test.frame["label"].dtype))
    return {
        "manifest": manifest,
        "train": train,
        "test": test,
        "report": audit(train.frame, test.frame),
        "gold_report": audit(train.frame, labeled_test),
    }


def test_demo_every_duplicate_found(demo: dict[str, Any]) -> None:
    injected = demo["manifest"].duplicates
    groups = [set(g) for g in demo["report"].duplicates.id_groups]
    found = [any({str(d.id), str(d.copy_of)} <= g for g in groups) for d in injected]
    print(f"\nduplicates: {sum(found)}/{len(injected)} found, {len(groups)} groups reported")
    assert injected and all(found)


def test_demo_every_label_conflict_found(demo: dict[str, Any]) -> None:
    injected = demo["manifest"].label_conflicts
    report = demo["report"].label_conflicts
    groups = [set(g) for g in report.id_groups]
    found = [any({str(c.id), str(c.conflicts_with)} <= g for g in groups) for c in injected]
    print(f"\nlabel conflicts: {sum(found)}/{len(injected)} found, {report.groups} groups reported")
    assert injected and all(found)
    # The table offers both labels of each injected pair.
    table = report.table
    for c in injected:
        labels = set(table.loc[table["ids"].map(lambda ids, i=str(c.id): i in ids), "label"])
        assert c.label in labels


def test_demo_every_offset_error_found(demo: dict[str, Any]) -> None:
    injected = demo["manifest"].offset_errors
    mismatches = demo["report"].offset_mismatches.set_index(["id", "role"])
    found = [(str(e.id), e.role) in mismatches.index for e in injected]
    restored = [
        found_
        and tuple(mismatches.loc[(str(e.id), e.role), ["suggested_start", "suggested_end"]])
        == (e.original_start, e.original_end)
        for e, found_ in zip(injected, found, strict=True)
    ]
    print(
        f"\noffset errors: {sum(found)}/{len(injected)} found, {sum(restored)} suggestions restore the "
        f"original span, {len(mismatches)} mismatches reported"
    )
    assert injected and all(found)
    assert sum(restored) >= 0.9 * len(injected)


def test_demo_type_flags_recall_and_precision(demo: dict[str, Any]) -> None:
    manifest = demo["manifest"]
    flags = demo["report"].type_flags
    flips = {(str(e.id), e.role) for e in manifest.type_flips}
    flagged = set(zip(flags["id"], flags["role"], strict=True))
    recall = len(flips & flagged) / len(flips)
    # A flag is right when its row carries any injected error: a random label flip (or a
    # conflicting copy) legitimately makes the types contradict the label.
    injected = {str(i) for i in manifest.injected_ids()}
    precision = flags["id"].isin(injected).mean() if len(flags) else 0.0
    print(f"\ntype flips: {len(flips)} injected, {len(flags)} flags; recall {recall:.3f}, precision {precision:.3f}")
    assert recall >= 0.90
    assert precision >= 0.90
    # The suggestion undoes the flip for the flips it finds.
    suggested = dict(zip(zip(flags["id"], flags["role"], strict=True), flags["suggested_type"], strict=True))
    undone = [
        suggested[(str(e.id), e.role)] == e.original_type
        for e in manifest.type_flips
        if (str(e.id), e.role) in suggested
    ]
    assert sum(undone) >= 0.9 * len(undone)


def test_demo_train_test_shift_and_overlap(demo: dict[str, Any]) -> None:
    report = demo["gold_report"]
    label = report.distributions["label"].set_index("value")
    assert label.loc["no_relation", "test_share"] > label.loc["no_relation", "train_share"]
    obj = report.distributions["obj_type"].set_index("value")
    assert obj.loc["POH", "test_share"] > obj.loc["POH", "train_share"]
    assert report.divergence["label"] > 0.01
    assert math.isnan(demo["report"].divergence["label"])  # the unlabeled test file has no label mix
    overlap = demo["report"].overlap
    assert overlap is not None
    assert overlap.shared_triples >= 1
    assert overlap.shared_sentences > overlap.shared_triples
    print(
        f"\nJSD label {report.divergence['label']:.4f}, obj_type {report.divergence['obj_type']:.4f}; "
        f"shared triples {overlap.shared_triples}, shared sentences {overlap.shared_sentences}"
    )


def test_demo_json_is_serialisable(demo: dict[str, Any]) -> None:
    payload = report_to_json(demo["report"], invalid_rows=demo["train"].invalid)
    json.dumps(payload, allow_nan=False, ensure_ascii=False)
    assert payload["rows"] == demo["manifest"].n_train
    assert sum(payload["label_counts"].values()) == demo["manifest"].n_train
