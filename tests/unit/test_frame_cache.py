"""Current frames: the on-disk cache and the one-call JSON decode give exactly what replaying the log gave."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from core.common.schema import INT_FIELDS, KLUE_SCHEMA, DataError
from core.data.importing import seed_demo
from core.store import workspace as workspace_module
from core.store.workspace import DROPPED, FRAME_CACHE_DIR, PartInfo, RowChange, Workspace, _decode_many


def reference_corrections(ws: Workspace, dataset_id: int, part: str | None = None) -> pd.DataFrame:
    """``Workspace.corrections`` before the one-call decode (verbatim but for NULL read as NaN, which it
    could not decode)."""
    query = (
        "SELECT c.id, c.change_id, c.part, c.row_id, c.field, c.before, c.after, c.reason, c.author,"
        " c.created_at, c.row_version, s.undoes FROM corrections c JOIN change_sets s ON s.id = c.change_id"
        " WHERE c.dataset_id = ?"
    )
    params: list = [dataset_id]
    if part is not None:
        query += " AND c.part = ?"
        params.append(part)
    with sqlite3.connect(ws.db_path) as con:
        frame = pd.read_sql_query(query + " ORDER BY c.id", con, params=params)
    for col in ("before", "after"):
        frame[col] = [json.loads(v) if isinstance(v, str) else None for v in frame[col]]
    return frame


def reference_current_frame(
    ws: Workspace, dataset_id: int, part: str = "train", include_dropped: bool = False
) -> pd.DataFrame:
    """``Workspace.current_frame`` before the cache (verbatim): the log replayed over the stored rows."""
    frame = ws.base_frame(dataset_id, part).copy()
    log = reference_corrections(ws, dataset_id, part)
    frame["_version"] = 0
    frame["_dropped"] = False
    if not log.empty:
        latest = log.groupby(["row_id", "field"], sort=False).tail(1)
        position = pd.Series(range(len(frame)), index=frame["id"].astype(str))
        for fld, group in latest.groupby("field"):
            rows = position.reindex(group["row_id"]).to_numpy()
            known = ~pd.isna(rows)
            if not known.all():
                missing = group["row_id"][~known].tolist()[:5]
                raise DataError(f"Audit log of dataset {dataset_id} names unknown row ids {missing}.")
            column = "_dropped" if fld == DROPPED else str(fld)
            values = pd.Series(group["after"].tolist(), dtype=frame[column].dtype if column != "label" else None)
            frame.loc[frame.index[rows.astype(int)], column] = values.to_numpy()
        versions = log.groupby("row_id")["row_version"].max()
        frame["_version"] = frame["id"].map(versions).fillna(0).astype("int64")
        for col in INT_FIELDS & set(frame.columns):
            frame[col] = frame[col].astype("int64")
    if not include_dropped:
        frame = frame[~frame["_dropped"].astype(bool)].drop(columns="_dropped")
    return frame.reset_index(drop=True)


def _assert_same(ws_root, dataset_id: int, part: str) -> None:
    """A fresh Workspace (a new server process) gives the reference frame, with and without dropped rows."""
    for include_dropped in (False, True):
        fresh = Workspace(ws_root)
        got = fresh.current_frame(dataset_id, part, include_dropped=include_dropped)
        want = reference_current_frame(fresh, dataset_id, part, include_dropped)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        assert list(got.dtypes) == list(want.dtypes)


def _cache_files(ws: Workspace, dataset_id: int) -> list[str]:
    folder = ws.root / "datasets" / str(dataset_id) / FRAME_CACHE_DIR
    return sorted(p.name for p in folder.glob("*.parquet")) if folder.exists() else []


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("frame-cache")
    info = seed_demo(Workspace(root))
    return root, info.id


def test_cached_frames_equal_the_replayed_log_through_edits_drops_and_undo(demo):
    root, ds = demo
    ws = Workspace(root)
    for part in ("train", "test"):
        _assert_same(root, ds, part)  # no corrections yet: nothing cached
    assert _cache_files(ws, ds) == []

    train = ws.current_frame(ds, "train")
    ids = train["id"].tolist()
    versions = dict(zip(ids, train["_version"], strict=True))
    first = ws.apply_changes(
        ds,
        "train",
        [
            RowChange(ids[0], versions[ids[0]], {"label": "per:title", "subj_type": "ORG"}),
            RowChange(ids[1], versions[ids[1]], {"obj_start": 1, "obj_end": 4}),
            RowChange(ids[2], versions[ids[2]], drop=True),
            RowChange(ids[3], versions[ids[3]], {"label": None}),  # unlabeled now: NaN in a str column
        ],
        author="ann",
        reason="mixed",
    )
    _assert_same(root, ds, "train")
    assert len(_cache_files(ws, ds)) == 1

    ws.undo(ds, first, author="bob")  # restores the dropped row and reverts the edits
    ws.apply_changes(ds, "train", [RowChange(ids[0], 2, {"label": "no_relation"})], author="bob", reason="again")
    _assert_same(root, ds, "train")
    # Each state gets its own file; the older state's file is gone.
    assert len(_cache_files(ws, ds)) == 1

    test = ws.current_frame(ds, "test")
    ws.apply_changes(ds, "test", [RowChange(test["id"].iloc[0], 0, {"obj_type": "DAT"})], author="ann", reason="t")
    _assert_same(root, ds, "test")
    _assert_same(root, ds, "train")
    assert len(_cache_files(ws, ds)) == 2  # one per part


def test_a_fresh_workspace_reads_the_cache_instead_of_replaying(demo, monkeypatch):
    root, ds = demo
    ws = Workspace(root)
    ids = ws.current_frame(ds, "train")["id"].tolist()
    row = ids[10]
    version = int(ws.current_frame(ds, "train").set_index("id").at[row, "_version"])
    ws.apply_changes(ds, "train", [RowChange(row, version, {"label": "per:origin"})], author="ann", reason="x")
    built = ws.current_frame(ds, "train", include_dropped=True)  # builds and stores

    def refuse(*args, **kwargs):
        raise AssertionError("replayed the log although a cached frame exists")

    monkeypatch.setattr(Workspace, "build_current_frame", refuse)
    again = Workspace(root).current_frame(ds, "train", include_dropped=True)
    pd.testing.assert_frame_equal(again, built, check_exact=True)


def test_cache_is_keyed_by_the_log_and_survives_broken_or_unwritable_files(demo, monkeypatch):
    root, ds = demo
    ws = Workspace(root)
    row = ws.current_frame(ds)["id"].iloc[20]
    ws.apply_changes(ds, "train", [RowChange(row, 0, drop=True)], author="a", reason="d")
    ws.current_frame(ds)
    (name,) = [n for n in _cache_files(ws, ds) if n.startswith("train-")]
    path = ws.root / "datasets" / str(ds) / FRAME_CACHE_DIR / name
    path.write_bytes(b"not parquet")  # a damaged file is rebuilt, never served
    _assert_same(root, ds, "train")
    assert path.read_bytes()[:4] == b"PAR1"

    # Another code version (or pandas) names its files differently: this one is not read.
    monkeypatch.setattr(workspace_module, "_FRAME_CODE", "othercode0")
    _assert_same(root, ds, "train")
    monkeypatch.undo()

    # A workspace whose cache cannot be written (read-only, disk full) still gives the right frame.
    for p in path.parent.iterdir():
        p.unlink()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(workspace_module, "atomic_write_bytes", full_disk)
    _assert_same(root, ds, "train")
    assert _cache_files(ws, ds) == []


def test_unknown_row_in_the_log_is_still_refused(tmp_path, small_frame):
    ws = Workspace(tmp_path)
    info = PartInfo("train", "csv", "train.csv", "", "sha", 4, 4, 0, True, None)
    ds = ws.add_dataset("ds", schema=KLUE_SCHEMA, parts={"train": (info, small_frame, pd.DataFrame())}, author="t").id
    ws.apply_changes(ds, "train", [RowChange("0", 0, {"label": "no_relation"})], author="a", reason="r")
    with sqlite3.connect(ws.db_path) as con:
        con.execute("UPDATE corrections SET row_id = 'ghost'")
    with pytest.raises(DataError, match="unknown row ids"):
        Workspace(tmp_path).current_frame(ds)


def test_corrections_decode_a_log_mixing_null_and_text(tmp_path, small_frame):
    """Labelling an unlabeled row logs ``before`` as NULL next to text values: pandas reads that column as
    ``str`` with NaN for NULL, which the per-value decode could not take."""
    frame = small_frame.copy()
    frame.loc[0, "label"] = None
    ws = Workspace(tmp_path)
    info = PartInfo("train", "csv", "train.csv", "", "sha", 4, 4, 0, True, None)
    ds = ws.add_dataset("ds", schema=KLUE_SCHEMA, parts={"train": (info, frame, pd.DataFrame())}, author="t").id
    ws.apply_changes(
        ds,
        "train",
        [RowChange("0", 0, {"label": "no_relation"}), RowChange("1", 0, {"label": "per:title", "obj_end": 13})],
        author="ann",
        reason="r",
    )
    log = ws.corrections(ds)
    assert log["before"].tolist() == [None, "org:top_members/employees", 12]
    assert log["after"].tolist() == ["no_relation", "per:title", 13]
    pd.testing.assert_frame_equal(log, reference_corrections(ws, ds), check_exact=True)
    _assert_same(tmp_path, ds, "train")


@pytest.mark.parametrize(
    "texts",
    [
        [],
        [None],
        ['"a"', None, "1", "-7", "true", "false", "null", "2.5", "NaN", '"한국어 \\"quoted\\" , ]"'],
        ['"x"', np.nan, '"y"'],
    ],
)
def test_decode_many_equals_decoding_each_value(texts):
    want = [None if not isinstance(t, str) else json.loads(t) for t in texts]
    got = _decode_many(texts)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert (g == w and type(g) is type(w)) or (isinstance(w, float) and np.isnan(w) and np.isnan(g))


@pytest.mark.parametrize("bad", ["1,2", "", "[1", "tru"])
def test_decode_many_raises_on_a_value_that_is_not_one_json_scalar(bad):
    with pytest.raises(json.JSONDecodeError):
        _decode_many(['"ok"', bad])
