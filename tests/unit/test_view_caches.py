"""views.common's caches: one shared frame per (dataset, part, revision), safe to change, same audit as before."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import streamlit as st

from core.data import audit as audit_core
from core.data.importing import seed_demo
from core.store.workspace import RowChange, Workspace
from views import common


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("view-caches")
    info = seed_demo(Workspace(root))
    return str(root), info.id


@pytest.fixture(autouse=True)
def _fresh_caches():
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


def test_sessions_share_one_frame_and_changes_stay_local(demo):
    root, ds = demo
    revision = Workspace(root).revision(ds)
    first = common.current_frame(root, ds, "train", revision)
    second = common.current_frame(root, ds, "train", revision)
    assert first is not second
    assert np.shares_memory(first["subj_start"].to_numpy(), second["subj_start"].to_numpy())  # no copy per run

    # Whatever one run does to its frame, the next run gets the stored rows.
    want = Workspace(root).current_frame(ds, "train")
    first.loc[0, "label"] = "changed"
    first["subj_start"] = -1
    first.drop(columns="sentence")
    second.iloc[1, second.columns.get_loc("obj_type")] = "XXX"
    with pytest.raises(ValueError, match="read-only"):
        second["obj_end"].to_numpy()[0] = 5
    pd.testing.assert_frame_equal(common.current_frame(root, ds, "train", revision), want, check_exact=True)


def test_a_new_revision_gives_the_new_rows(demo):
    root, ds = demo
    ws = Workspace(root)
    before = common.current_frame(root, ds, "train", ws.revision(ds))
    row = str(before["id"].iloc[5])
    ws.apply_changes(ds, "train", [RowChange(row, int(before["_version"].iloc[5]), drop=True)], author="a", reason="d")
    after = common.current_frame(root, ds, "train", ws.revision(ds))
    assert row in set(before["id"]) and row not in set(after["id"])
    dropped = common.current_frame(root, ds, "train", ws.revision(ds), include_dropped=True)
    assert bool(dropped.set_index("id").at[row, "_dropped"])


def test_audit_report_equals_the_audit_of_the_current_frames(demo):
    root, ds = demo
    ws = Workspace(root)
    info = ws.dataset(ds)
    got = common.audit_report(root, ds, ws.revision(ds), 0.05)
    want = audit_core.audit(
        ws.current_frame(ds, "train"), ws.current_frame(ds, "test"), schema=info.schema, minority_threshold=0.05
    )
    assert audit_core.report_to_json(got) == audit_core.report_to_json(want)


def test_overview_figures_are_built_once_and_equal_the_display_ones(demo):
    from core.serve import display

    root, ds = demo
    dist = common.audit_report(root, ds, Workspace(root).revision(ds), 0.05).distributions
    first = common.distribution_figure(dist["label"], "Labels", horizontal=True)
    assert common.distribution_figure(dist["label"], "Labels", horizontal=True) is first
    assert first.to_json() == display.distribution_figure(dist["label"], "Labels", horizontal=True).to_json()
    assert common.distribution_figure(dist["label"], "Other title", horizontal=True) is not first
    assert common.distribution_figure(dist["source"], "Labels", horizontal=True) is not first
    # Each session gets its own unpickled copy of the cached report: equal tables hit the same figure.
    copy = pickle.loads(pickle.dumps(dist["label"]))
    assert copy is not dist["label"] and common.distribution_figure(copy, "Labels", horizontal=True) is first
    changed = copy.assign(train_count=copy["train_count"] + 1)
    assert common.distribution_figure(changed, "Labels", horizontal=True) is not first
    heat = common.heatmap_figure(dist["label_type_pair"])
    assert common.heatmap_figure(dist["label_type_pair"]) is heat
    assert heat.to_json() == display.heatmap_figure(dist["label_type_pair"]).to_json()


def test_row_versions_are_shared_read_only_and_match_the_frame(demo):
    root, ds = demo
    revision = Workspace(root).revision(ds)
    versions = common.row_versions(root, ds, "train", revision)
    train = common.current_frame(root, ds, "train", revision)
    assert dict(versions) == dict(zip(train["id"].astype(str), train["_version"].astype(int), strict=True))
    assert all(type(v) is int for v in versions.values())
    assert common.row_versions(root, ds, "train", revision) is versions
    with pytest.raises(TypeError):
        versions["x"] = 1  # type: ignore[index]


def test_the_startup_heap_is_frozen_once_and_only_in_a_streamlit_runtime(demo, monkeypatch):
    root, ds = demo
    calls = []
    monkeypatch.setattr(common.gc, "freeze", lambda: calls.append(1))
    monkeypatch.setattr(common, "_heap_frozen", False)
    revision = Workspace(root).revision(ds)
    common.current_frame(root, ds, "train", revision)
    assert calls == []  # no runtime: a plain caller's heap is left alone
    monkeypatch.setattr(common.runtime, "exists", lambda: True)
    common.current_frame(root, ds, "train", revision)
    common.current_frame(root, ds, "test", revision)
    assert calls == [1]
