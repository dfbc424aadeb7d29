"""Tests of core.data.finders: every registered finder returns the one findings shape, and a new finder
registered from outside shows up in the registry in its place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import core.analysis.label_issue_finder as label_issue_finder
from core.analysis.label_issues import OofInfo
from core.data.audit import audit
from core.data.finders import FINDERS, FINDING_COLUMNS, Finder, FinderInput, finders, findings, register

AUDIT_KINDS = ["type_flags", "duplicates", "conflicts", "offsets", "overlap", "invalid_rows"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from core.data.demo import write_demo_dataset
    from core.data.loading import load_file

    out: Path = tmp_path_factory.mktemp("demo")
    write_demo_dataset(out)
    train = load_file(out / "train.csv").frame
    test = load_file(out / "test.csv").frame
    invalid = pd.DataFrame(
        {
            "row": [7, 7, 9],
            "field": ["subject_entity", "label", "object_entity"],
            "reason": ["not a dict literal", "unknown label 'x'", "end_idx before start_idx"],
            "id": ["6", "6", None],
        }
    )
    report = audit(train, test)
    return {"train": train, "source": FinderInput(report=report, train=train, invalid_rows=invalid)}


def test_registry_order_is_the_data_views_flag_list() -> None:
    assert [f.title for f in finders()][:7] == [
        "Type flags",
        "Duplicates",
        "Conflicts",
        "Offsets",
        "Train/test overlap",
        "Invalid rows",
        "Label issues",
    ]
    assert [f.kind for f in finders()][:7] == [*AUDIT_KINDS, label_issue_finder.KIND]
    assert all(f.help for f in finders())


def test_every_finder_returns_the_same_columns_on_the_demo(demo: dict[str, Any]) -> None:
    source = demo["source"]
    train_ids = set(demo["train"]["id"].astype(str))
    for finder in finders():
        table = finder.run(source)
        assert tuple(table.columns) == FINDING_COLUMNS, finder.kind
        assert table.dtypes.to_dict() == findings(finder.kind, []).dtypes.to_dict(), finder.kind
        assert (table["kind"] == finder.kind).all()
        assert table["score"].between(0.0, 1.0).all(), finder.kind
        assert table["detail"].map(lambda d: isinstance(d, str) and d != "").all(), finder.kind
        if finder.kind in AUDIT_KINDS:
            assert len(table), f"the demo has {finder.kind} to find"
        if finder.kind not in ("invalid_rows", label_issue_finder.KIND):
            assert set(table["id"]) <= train_ids, finder.kind


def test_findings_agree_with_the_report(demo: dict[str, Any]) -> None:
    source = demo["source"]
    report = source.report
    table = {kind: FINDERS[kind].run(source) for kind in AUDIT_KINDS}
    assert table["type_flags"]["id"].tolist() == report.type_flags["id"].tolist()
    assert len(table["duplicates"]) == report.duplicates.extra_rows == FINDERS["duplicates"].counted(source)
    assert set(table["duplicates"]["id"]) == {i for g in report.duplicates.id_groups for i in g[1:]}
    assert len(table["conflicts"]) == report.label_conflicts.rows
    assert FINDERS["conflicts"].counted(source) == report.label_conflicts.groups
    assert len(table["offsets"]) == len(report.offset_mismatches)
    has_span = report.offset_mismatches["suggested_start"].notna().to_numpy()
    assert (table["offsets"]["suggestion"].notna().to_numpy() == has_span).all()
    assert report.overlap is not None
    assert FINDERS["overlap"].counted(source) == report.overlap.shared_triples
    assert set(table["overlap"]["id"]) == set(report.overlap.triple_train_ids)
    assert table["invalid_rows"]["id"].tolist() == ["6", "6", None]
    assert FINDERS["invalid_rows"].counted(source) == 2
    assert FINDERS["invalid_rows"].counted(FinderInput(report=report)) == 0


def test_label_issues_in_the_same_shape(demo: dict[str, Any]) -> None:
    issues = pd.DataFrame(
        {
            "id": ["4", "1"],
            "label": ["per:origin", "no_relation"],
            "suggested_label": ["no_relation", "org:members"],
            "suggested_prob": [0.9, 0.7],
            "given_prob": [0.05, 0.2],
            "quality": [0.05, 0.2],
            "is_issue": [True, True],
        }
    )
    table = label_issue_finder.issue_findings(issues)
    assert tuple(table.columns) == FINDING_COLUMNS
    assert table["id"].tolist() == ["4", "1"]
    assert table["score"].tolist() == pytest.approx([0.95, 0.8])
    assert table["suggestion"].tolist() == ["no_relation", "org:members"]
    # Without a workspace there is nothing to read, and no count is shown.
    finder = FINDERS[label_issue_finder.KIND]
    without_workspace = FinderInput(report=demo["source"].report)
    assert finder.run(without_workspace).empty
    assert finder.counted(without_workspace) is None


def test_label_issue_finder_reads_the_datasets_out_of_fold_issues(demo: dict[str, Any], monkeypatch) -> None:
    issues = pd.DataFrame(
        {
            "id": ["3"],
            "label": ["no_relation"],
            "suggested_label": ["per:title"],
            "suggested_prob": [0.8],
            "given_prob": [0.1],
            "quality": [0.1],
        }
    )
    calls: list[tuple[Any, ...]] = []

    def fake(root: Any, dataset_id: int, *, view: str) -> tuple[pd.DataFrame, OofInfo] | None:
        calls.append((root, dataset_id, view))
        return None if dataset_id == 2 else (issues, OofInfo())

    monkeypatch.setattr(label_issue_finder, "dataset_label_issues", fake)
    finder = FINDERS[label_issue_finder.KIND]
    report = demo["source"].report
    table = finder.run(FinderInput(report=report, root="ws", dataset_id=1))
    assert table["id"].tolist() == ["3"] and table["suggestion"].tolist() == ["per:title"]
    assert finder.run(FinderInput(report=report, root="ws", dataset_id=2)).empty  # no cross-validation yet
    assert calls == [("ws", 1, "issues"), ("ws", 2, "issues")]


def test_a_new_finder_is_one_registration(demo: dict[str, Any]) -> None:
    def long_sentences(source: FinderInput) -> pd.DataFrame:
        train = source.train
        assert train is not None
        long = train[train["sentence"].str.len() > 60]
        return findings("long_sentences", long["id"], score=0.5, detail="over 60 characters")

    new = Finder(
        kind="long_sentences", title="Long sentences", help="Sentences over 60 characters.", find=long_sentences
    )
    try:
        assert register(new) is new
        assert finders()[-1] is new and FINDERS["long_sentences"] is new
        table = new.run(demo["source"])
        assert tuple(table.columns) == FINDING_COLUMNS and (table["kind"] == "long_sentences").all()
        assert new.counted(demo["source"]) == len(table)  # no count function: the findings' rows
        register(Finder(kind="long_sentences", title="Long", help="x", find=long_sentences))
        assert sum(f.kind == "long_sentences" for f in finders()) == 1  # registering again replaces
    finally:
        FINDERS.pop("long_sentences", None)
    assert "long_sentences" not in FINDERS


def test_a_finder_with_another_shape_is_refused(demo: dict[str, Any]) -> None:
    bad = Finder(kind="bad", title="Bad", help="x", find=lambda source: pd.DataFrame({"id": ["1"]}))
    with pytest.raises(ValueError, match="every finder returns"):
        bad.run(demo["source"])
    with pytest.raises(ValueError, match="2 values for 1 ids"):
        findings("bad", ["1"], detail=["a", "b"])
