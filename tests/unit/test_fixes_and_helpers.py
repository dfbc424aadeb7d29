"""Fix builders, dev split, entity-swap augmentation, sentence markup and the password gate."""

from __future__ import annotations

import pandas as pd
import pytest

from core.data import fixes
from core.data.augment import entity_swap
from core.data.splits import make_dev_split
from core.serve import display
from core.serve.auth import password_ok


def test_accept_type_suggestions_merges_roles_of_one_row():
    flags = pd.DataFrame(
        {"id": ["7", "7", "9"], "role": ["subj", "obj", "obj"], "suggested_type": ["ORG", "DAT", None]}
    )
    changes = fixes.accept_type_suggestions(flags, {"7": 2})
    assert len(changes) == 1
    assert changes[0].row_id == "7" and changes[0].expected_version == 2
    assert dict(changes[0].updates) == {"subj_type": "ORG", "obj_type": "DAT"}


def test_offset_suggestions_skip_rows_without_one():
    mism = pd.DataFrame(
        {"id": ["1", "2"], "role": ["subj", "obj"], "suggested_start": [3, None], "suggested_end": [5, None]}
    )
    changes = fixes.accept_offset_suggestions(mism, {})
    assert [(c.row_id, dict(c.updates)) for c in changes] == [("1", {"subj_start": 3, "subj_end": 5})]


def test_duplicates_keep_first_and_conflict_keeps_chosen_label():
    drops = fixes.drop_duplicate_copies([["1", "2", "3"], ["8", "9"]], {"2": 1})
    assert [(c.row_id, c.drop, c.expected_version) for c in drops] == [
        ("2", True, 1),
        ("3", True, 0),
        ("9", True, 0),
    ]
    group = pd.DataFrame({"id": ["4", "5", "6"], "label": ["per:title", "no_relation", "per:title"]})
    keep = fixes.resolve_conflict(group, "per:title", {})
    assert [(c.row_id, c.drop) for c in keep] == [("5", True), ("6", True)]
    relabel = fixes.resolve_conflict(group, "per:origin", {})
    assert dict(relabel[0].updates) == {"label": "per:origin"} and relabel[0].row_id == "4"


def test_edit_row_takes_words_from_spans_and_refuses_bad_spans(small_frame):
    row = small_frame.iloc[0]
    change = fixes.edit_row(row, 0, label="no_relation", subj=(0, 1, "PER"), obj=(5, 9, "DAT"))
    assert change.updates["subj_word"] == "이순" and change.updates["obj_word"] == "1545년"
    with pytest.raises(ValueError, match="outside the sentence"):
        fixes.edit_row(row, 0, label=None, subj=(0, 99, "PER"), obj=(5, 9, "DAT"))


def test_dev_split_is_stratified_seeded_and_complete():
    labels = pd.Series(["a"] * 60 + ["b"] * 30 + ["c"] * 9 + ["d"], index=[f"r{i}" for i in range(100)])
    train, dev = make_dev_split(labels, dev_fraction=0.2, seed=7)
    assert sorted(train + dev) == sorted(labels.index) and not set(train) & set(dev)
    assert labels[dev].value_counts().to_dict() == {"a": 12, "b": 6, "c": 2}
    assert "r99" in train  # a single-row label cannot be stratified: it stays in train
    assert make_dev_split(labels, dev_fraction=0.2, seed=7) == (train, dev)
    assert make_dev_split(labels, dev_fraction=0.2, seed=8) != (train, dev)


def test_entity_swap_inverse_and_symmetric(small_frame):
    out = entity_swap(small_frame)
    by_label = out.frame.set_index("label")
    assert set(out.frame["label"]) == {"per:spouse", "per:children"}
    child = by_label.loc["per:children"]
    assert child["subj_word"] == "박성종" and child["obj_word"] == "박지성" and child["id"] == "3-swap"
    assert out.skipped_type == 0


def test_entity_swap_skips_rows_whose_new_subject_type_does_not_fit(small_frame):
    frame = small_frame.copy()
    frame.loc[1, "label"] = "org:members"
    frame.loc[1, "obj_type"] = "LOC"
    out = entity_swap(frame)
    assert "org:member_of" not in set(out.frame["label"]) and out.skipped_type == 1


def test_highlight_escapes_markup_and_marks_spans():
    sentence = "<img src=x onerror=alert(1)> 와 </script><script>"
    html = display.highlight_html(sentence, (0, 27), (31, 39))
    assert "<img" not in html and "</script>" not in html.replace("</mark>", "")
    assert '<mark class="re-subj">&lt;img src=x onerror=alert(1)&gt;</mark>' in html
    assert display.bracketed("이순신은 1545년", (0, 2), (5, 9)) == "⟦이순신⟧은 ⟨1545년⟩"


def test_password_comparison():
    # The gate's configuration (every broken secrets file) is tested in test_auth.py.
    assert password_ok("s3cret", "s3cret") and not password_ok("guess", "s3cret")


def test_filter_groups_by_label_and_text(small_frame):
    from core.serve.display import filter_groups

    groups = [["0", "1"], ["2"], ["3"]]
    assert filter_groups(small_frame, groups) == groups
    assert filter_groups(small_frame, groups, labels=["per:spouse"]) == [["2"]]
    assert filter_groups(small_frame, groups, text="삼성") == [["0", "1"]]
    assert filter_groups(small_frame, groups, text="3") == [["3"]]
    assert filter_groups(small_frame, groups, labels=["per:spouse"], text="삼성") == []
