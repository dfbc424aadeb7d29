"""Label issues through cleanlab, the no_relation view, and bulk changes into the audit log
(core.analysis.label_issues)."""

from __future__ import annotations

import cleanlab.filter
import cleanlab.rank
import numpy as np
import pandas as pd
import pytest

from core.analysis.label_issues import (
    align_oof,
    find_label_issues,
    no_relation_view,
    relabel_changes,
)
from core.data.importing import seed_demo
from core.store.workspace import ConflictError, RowChange, Workspace

LABELS = ("no_relation", "org:founded_by", "per:employee_of")


def noisy(n: int = 300, flips: int = 12, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Rows whose probabilities confidently back their true label; ``flips`` rows carry another label."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, len(LABELS), n)
    probs = rng.dirichlet(np.ones(len(LABELS)) * 0.3, n) * 0.15
    probs[np.arange(n), true] += 0.85
    probs /= probs.sum(axis=1, keepdims=True)
    given = true.copy()
    flipped = rng.choice(n, flips, replace=False)
    given[flipped] = (true[flipped] + rng.integers(1, len(LABELS), flips)) % len(LABELS)
    frame = pd.DataFrame(
        {
            "id": [str(i) for i in range(n)],
            "label": [LABELS[g] for g in given],
            "sentence": [f"sentence {i}" for i in range(n)],
            "subj_word": "A",
            "obj_word": "B",
        }
    )
    return frame, probs, flipped


def test_issues_are_cleanlabs_own_ranked_by_its_quality_score() -> None:
    frame, probs, flipped = noisy()
    issues = find_label_issues(frame, probs, label_names=LABELS)
    codes = frame["label"].map({name: i for i, name in enumerate(LABELS)}).to_numpy()
    mask = cleanlab.filter.find_label_issues(codes, probs, filter_by="low_self_confidence", n_jobs=1)
    quality = cleanlab.rank.get_label_quality_scores(codes, probs)
    assert set(issues["id"]) == {str(i) for i in np.flatnonzero(mask)}
    found, truth = set(issues["id"]), {str(i) for i in flipped}
    assert found <= truth and len(found) >= len(truth) // 2  # clear-cut flips: no false alarm, most found
    assert issues["quality"].is_monotonic_increasing
    np.testing.assert_allclose(issues["quality"], quality[issues["id"].astype(int)])
    assert list(issues.columns[:7]) == [
        "id",
        "label",
        "suggested_label",
        "suggested_prob",
        "given_prob",
        "quality",
        "is_issue",
    ]
    assert {"sentence", "subj_word", "obj_word"} <= set(issues.columns)
    row = issues.iloc[0]
    i = int(row["id"])
    assert row["label"] == frame.loc[i, "label"]
    assert row["suggested_label"] == LABELS[int(probs[i].argmax())]
    assert row["suggested_prob"] == pytest.approx(probs[i].max())
    assert row["given_prob"] == pytest.approx(probs[i, LABELS.index(row["label"])])


def test_options_reach_cleanlab_and_return_all_scores_every_row() -> None:
    frame, probs, _ = noisy(seed=1)
    everything = find_label_issues(frame, probs, label_names=LABELS, return_all=True, score_method="normalized_margin")
    assert len(everything) == len(frame) and everything["quality"].is_monotonic_increasing
    codes = frame["label"].map({name: i for i, name in enumerate(LABELS)}).to_numpy()
    expected = cleanlab.rank.get_label_quality_scores(codes, probs, method="normalized_margin")
    np.testing.assert_allclose(everything.sort_values("id", key=lambda s: s.astype(int))["quality"], expected)
    noise_rate = find_label_issues(frame, probs, label_names=LABELS, filter_by="prune_by_noise_rate")
    expected_mask = cleanlab.filter.find_label_issues(codes, probs, filter_by="prune_by_noise_rate", n_jobs=1)
    assert set(noise_rate["id"]) == {str(i) for i in np.flatnonzero(expected_mask)}
    argmax = find_label_issues(frame, probs, label_names=LABELS, filter_by="predicted_neq_given")
    assert set(argmax["id"]) == {str(i) for i in np.flatnonzero(probs.argmax(axis=1) != codes)}
    with pytest.raises(ValueError, match="filter_by 'nope' is not one of"):
        find_label_issues(frame, probs, label_names=LABELS, filter_by="nope")


def test_bad_input_is_refused_with_the_row_named() -> None:
    frame, probs, _ = noisy(n=30, flips=2)
    bad = frame.copy()
    bad.loc[7, "label"] = "per:favourite_food"
    with pytest.raises(ValueError, match=r"Row id 7: label 'per:favourite_food' is not one of the 3 label names"):
        find_label_issues(bad, probs, label_names=LABELS)
    with pytest.raises(ValueError, match=r"probs must have shape \(30, 3\)"):
        find_label_issues(frame, probs[:, :2], label_names=LABELS)
    nan = probs.copy()
    nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        find_label_issues(frame, nan, label_names=LABELS)
    empty = find_label_issues(frame.iloc[:0], probs[:0], label_names=LABELS)
    assert empty.empty and "suggested_label" in empty.columns


def test_align_oof_lines_rows_up_by_id_and_names_what_is_gone() -> None:
    frame = pd.DataFrame({"id": ["a", "b", "c", "d"], "label": ["no_relation"] * 4})
    probs = np.eye(3)[[0, 1, 2]]  # for ids c, a, gone
    rows, row_probs, missing = align_oof(frame, ["c", "a", "gone"], probs)
    assert rows["id"].tolist() == ["a", "c"]  # frame order; b and d have no out-of-fold row
    np.testing.assert_array_equal(row_probs, np.eye(3)[[1, 0]])
    assert missing == ["gone"]
    with pytest.raises(ValueError, match="duplicates"):
        align_oof(frame, ["a", "a", "b"], probs)


def test_no_relation_view_both_directions_and_threshold() -> None:
    frame = pd.DataFrame(
        {
            "id": ["1", "2", "3", "4", "5"],
            "label": ["no_relation", "no_relation", "per:employee_of", "org:founded_by", "per:employee_of"],
        }
    )
    probs = np.array(
        [
            [0.05, 0.15, 0.80],  # no_relation, but 95 % some relation (per:employee_of likeliest)
            [0.60, 0.20, 0.20],  # no_relation and the model agrees
            [0.90, 0.05, 0.05],  # a relation the model calls no_relation
            [0.30, 0.70, 0.00],  # a relation it agrees with
            [0.85, 0.05, 0.10],
        ]
    )
    view = no_relation_view(frame, probs, label_names=LABELS, threshold=0.8)
    assert view["id"].tolist() == ["1", "3", "5"]  # most confident first
    first = view.iloc[0]
    assert first["direction"] == "no_relation -> relation" and first["suggested_label"] == "per:employee_of"
    assert first["confidence"] == pytest.approx(0.95) and first["suggested_prob"] == pytest.approx(0.80)
    assert set(view.loc[view["id"] != "1", "direction"]) == {"relation -> no_relation"}
    assert set(view.loc[view["id"] != "1", "suggested_label"]) == {"no_relation"}
    assert no_relation_view(frame, probs, label_names=LABELS, threshold=0.88)["id"].tolist() == ["1", "3"]
    with pytest.raises(ValueError, match="threshold"):
        no_relation_view(frame, probs, label_names=LABELS, threshold=0)


def test_bulk_relabel_and_drop_land_in_the_audit_log(tmp_path) -> None:
    ws = Workspace(tmp_path / "ws")
    info = seed_demo(ws)
    frame = ws.current_frame(info.id).head(5)
    other = {label: next(x for x in info.labels if x != label) for label in frame["label"]}
    issues = pd.DataFrame(
        {"id": frame["id"], "label": frame["label"], "suggested_label": [other[x] for x in frame["label"]]}
    )
    issues.loc[issues.index[4], "suggested_label"] = issues.loc[issues.index[4], "label"]  # nothing to change
    versions = ws.row_versions(info.id)
    changes = relabel_changes(issues.head(4), versions, labels={frame["id"].iloc[0]: "per:title"})
    assert len(changes) == 4 and changes[0].updates == {"label": "per:title"}
    assert relabel_changes(issues.tail(1), versions) == []
    ws.apply_changes(info.id, "train", changes, author="tester", reason="label issue (confident learning)")
    log = ws.corrections(info.id)
    assert len(log) == 4 and set(log["field"]) == {"label"} and set(log["author"]) == {"tester"}
    assert log["row_id"].tolist() == frame["id"].head(4).tolist()
    assert log["before"].tolist() == frame["label"].head(4).tolist()
    current = ws.current_frame(info.id).set_index("id")
    assert current.loc[frame["id"].iloc[0], "label"] == "per:title"
    # The same bulk action on versions seen before it is refused, not applied twice.
    with pytest.raises(ConflictError):
        ws.apply_changes(info.id, "train", relabel_changes(issues.head(2), versions), author="b", reason="again")


def _write_oof(ws: Workspace, dataset_id: int, *, seed: int = 0) -> tuple[str, pd.DataFrame, np.ndarray]:
    """An out-of-fold file (and its sidecar) for the dataset's train rows at its current revision."""
    import json

    from core.train.metrics import write_submission

    info = ws.dataset(dataset_id)
    frame = ws.current_frame(dataset_id)
    labels = list(info.labels)
    rng = np.random.default_rng(seed)
    given = frame["label"].map({name: i for i, name in enumerate(labels)}).to_numpy()
    probs = rng.dirichlet(np.ones(len(labels)) * 0.3, len(frame)) * 0.3
    probs[np.arange(len(frame)), given] += 0.7
    probs /= probs.sum(axis=1, keepdims=True)
    revision = ws.revision(dataset_id)
    folder = ws.root / "oof" / str(dataset_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"r{revision}-test.csv"
    write_submission(path, frame["id"].tolist(), probs, label_names=labels)
    meta = {"labels": labels, "revision": revision, "k": 2, "config": {}, "created_at": "2026-01-01T00:00:00"}
    path.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    return str(path), frame, probs


def test_dataset_label_issues_gives_both_views_and_says_when_stale(tmp_path) -> None:
    from core.analysis.label_issues import dataset_label_issues, oof_is_stale
    from core.train.crossval import load_oof

    ws = Workspace(tmp_path / "ws")
    info = seed_demo(ws)
    path, frame, probs = _write_oof(ws, info.id)
    labels = list(info.labels)
    found = dataset_label_issues(ws, info.id, view="both", threshold=0.6)
    assert found is not None
    (issues, nr_view), meta = found
    pd.testing.assert_frame_equal(issues, find_label_issues(frame, probs, label_names=labels))
    pd.testing.assert_frame_equal(nr_view, no_relation_view(frame, probs, label_names=labels, threshold=0.6))
    assert meta.path == path and meta.k == 2 and meta.missing_ids == () and meta.stale is False
    # Written out, it is the sidecar's JSON object and then what lines it up with the dataset.
    assert meta.to_dict() == {**load_oof(path)[3].to_dict(), "path": path, "missing_ids": [], "stale": False}
    # One read gives what the single views give.
    pd.testing.assert_frame_equal(issues, dataset_label_issues(ws, info.id)[0])
    pd.testing.assert_frame_equal(nr_view, dataset_label_issues(ws, info.id, view="no_relation", threshold=0.6)[0])

    row = frame.iloc[0]
    other = next(x for x in labels if x != row["label"])
    change = RowChange(row["id"], int(row["_version"]), {"label": other})
    ws.apply_changes(info.id, "train", [change], author="t", reason="test")
    # With "both", threshold goes to the no_relation view and the other options to the issues.
    (issues, _), meta = dataset_label_issues(ws, info.id, view="both", path=path, return_all=True, threshold=0.9)
    assert meta.stale is True  # the dataset changed since the cross-validation
    assert len(issues) == len(frame) and issues.loc[issues["id"] == row["id"], "label"].tolist() == [other]
    # A caller's own frame and revision (the view's cached ones) decide what is scored and whether it is stale.
    _, meta = dataset_label_issues(ws, info.id, view="both", path=path, frame=frame, revision=meta.revision)
    assert meta.stale is False
    assert oof_is_stale({"revision": 3}, 3) is False and oof_is_stale({"revision": 3}, 4) is True
    assert oof_is_stale({}, 3) is True
    with pytest.raises(ValueError, match="view"):
        dataset_label_issues(ws, info.id, view="nope")


def test_the_data_views_label_issues_are_dataset_label_issues(tmp_path) -> None:
    import streamlit as st

    from core.analysis.label_issues import dataset_label_issues
    from views import common

    ws = Workspace(tmp_path / "ws")
    info = seed_demo(ws)
    path, _, _ = _write_oof(ws, info.id, seed=1)
    revision = ws.revision(info.id)
    st.cache_data.clear()
    issues, nr_view, meta = common.label_issues(str(ws.root), info.id, revision, path, 0.7)
    (want_issues, want_nr), want_meta = dataset_label_issues(ws, info.id, view="both", threshold=0.7)
    pd.testing.assert_frame_equal(issues, want_issues)
    pd.testing.assert_frame_equal(nr_view, want_nr)
    assert meta == want_meta and meta.stale is False
