"""The corrections store: change sets, the audit log, optimistic versions, undo, splits."""

from __future__ import annotations

import os
import stat
import threading

import pandas as pd
import pytest

from core.common.schema import KLUE_SCHEMA, DataError
from core.store import database
from core.store.workspace import ConflictError, PartInfo, RowChange, Workspace


def _add(ws: Workspace, frame: pd.DataFrame, name: str = "ds") -> int:
    info = PartInfo("train", "csv", "train.csv", "", "sha", len(frame), len(frame), 0, True, None)
    return ws.add_dataset(name, schema=KLUE_SCHEMA, parts={"train": (info, frame, pd.DataFrame())}, author="t").id


def test_edit_is_logged_and_applied(tmp_path, small_frame):
    ws = Workspace(tmp_path)
    ds = _add(ws, small_frame)
    cid = ws.apply_changes(ds, "train", [RowChange("0", 0, {"label": "no_relation"})], author="ann", reason="fix")
    assert cid > 0
    cur = ws.current_frame(ds)
    assert cur.set_index("id").at["0", "label"] == "no_relation"
    assert cur.set_index("id").at["0", "_version"] == 1
    log = ws.corrections(ds)
    assert log[["row_id", "field", "before", "after", "author", "reason"]].values.tolist() == [
        ["0", "label", "per:date_of_birth", "no_relation", "ann", "fix"]
    ]
    assert ws.revision(ds) == cid
    # the parsed frame on disk is untouched
    assert ws.base_frame(ds).set_index("id").at["0", "label"] == "per:date_of_birth"


def test_int_fields_stay_ints_and_unchanged_fields_are_not_logged(tmp_path, small_frame):
    ws = Workspace(tmp_path)
    ds = _add(ws, small_frame)
    ws.apply_changes(
        ds,
        "train",
        [RowChange("1", 0, {"obj_start": 10, "obj_end": 11, "obj_type": "PER"})],
        author="ann",
        reason="span",
    )
    log = ws.corrections(ds)
    assert set(log["field"]) == {"obj_end"}  # start and type were already those values
    cur = ws.current_frame(ds).set_index("id")
    assert cur.at["1", "obj_end"] == 11 and cur["obj_end"].dtype == "int64"
    assert ws.apply_changes(ds, "train", [RowChange("1", 1, {"obj_end": 11})], author="a", reason="noop") == 0


def test_stale_version_is_refused_and_nothing_is_written(tmp_path, small_frame):
    ws = Workspace(tmp_path)
    ds = _add(ws, small_frame)
    ws.apply_changes(ds, "train", [RowChange("2", 0, {"label": "per:siblings"})], author="ann", reason="first")
    with pytest.raises(ConflictError, match="row 2 was changed by ann"):
        ws.apply_changes(
            ds,
            "train",
            [RowChange("3", 0, {"label": "no_relation"}), RowChange("2", 0, {"label": "no_relation"})],
            author="bob",
            reason="second",
        )
    cur = ws.current_frame(ds).set_index("id")
    assert cur.at["2", "label"] == "per:siblings"
    assert cur.at["3", "label"] == "per:parents"  # the whole change set was refused
    assert len(ws.corrections(ds)) == 1


def test_concurrent_writers_never_lose_an_update(tmp_path, small_frame):
    """Many threads race to edit the same row from version 0: exactly one wins."""
    ws = Workspace(tmp_path)
    ds = _add(ws, small_frame)
    results: list[str] = []

    def edit(i: int) -> None:
        try:
            Workspace(tmp_path).apply_changes(
                ds,
                "train",
                [RowChange("0", 0, {"subj_type": "ORG" if i % 2 else "PER", "label": "no_relation"})],
                author=f"user{i}",
                reason="race",
            )
            results.append("ok")
        except ConflictError:
            results.append("refused")

    threads = [threading.Thread(target=edit, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1 and results.count("refused") == 7


def test_drop_undo_and_undo_refused_after_later_change(tmp_path, small_frame):
    ws = Workspace(tmp_path)
    ds = _add(ws, small_frame)
    drop = ws.apply_changes(ds, "train", [RowChange("3", 0, drop=True)], author="ann", reason="dup")
    assert "3" not in set(ws.current_frame(ds)["id"])
    assert "3" in set(ws.current_frame(ds, include_dropped=True)["id"])
    undo = ws.undo(ds, drop, author="bob")
    assert "3" in set(ws.current_frame(ds)["id"])
    log = ws.corrections(ds)
    assert log.iloc[-1]["reason"] == f"undo #{drop}" and log.iloc[-1]["undoes"] == drop

    edit = ws.apply_changes(ds, "train", [RowChange("0", 0, {"label": "no_relation"})], author="ann", reason="e")
    ws.apply_changes(ds, "train", [RowChange("0", 1, {"label": "per:origin"})], author="bob", reason="later")
    with pytest.raises(ConflictError):
        ws.undo(ds, edit, author="ann")
    assert undo > drop


def test_refuses_unknown_fields_missing_author_and_unknown_rows(tmp_path, small_frame):
    ws = Workspace(tmp_path)
    ds = _add(ws, small_frame)
    with pytest.raises(ValueError, match="cannot be edited"):
        ws.apply_changes(ds, "train", [RowChange("0", 0, {"sentence": "x"})], author="a", reason="r")
    with pytest.raises(ValueError, match="Set your name"):
        ws.apply_changes(ds, "train", [RowChange("0", 0, {"label": "no_relation"})], author=" ", reason="r")
    with pytest.raises(DataError, match="not in dataset"):
        ws.apply_changes(ds, "train", [RowChange("nope", 0, {"label": "no_relation"})], author="a", reason="r")
    assert ws.corrections(ds).empty and ws.revision(ds) == 0


def test_store_file_is_read_only_and_names_are_unique(tmp_path, small_frame):
    src = tmp_path / "in.csv"
    src.write_text("a,b\n1,2\n")
    ws = Workspace(tmp_path / "ws")
    stored, digest = ws.store_file(src)
    assert stored.read_text() == "a,b\n1,2\n" and len(digest) == 64
    assert not os.stat(stored).st_mode & stat.S_IWUSR
    _add(ws, small_frame, "one")
    with pytest.raises(DataError, match="already exists"):
        _add(ws, small_frame, "one")
    assert [d.name for d in Workspace(tmp_path / "ws").datasets()] == ["one"]


def test_wal_mode(tmp_path):
    ws = Workspace(tmp_path)
    with database.connect(ws.db_path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
