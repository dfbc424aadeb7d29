"""Undo: a change set undone once cannot be undone again; undoing an undo is a redo."""

from __future__ import annotations

import pandas as pd
import pytest

from core.common.schema import KLUE_SCHEMA
from core.store.workspace import AlreadyUndoneError, ConflictError, PartInfo, RowChange, Workspace


def _add(ws: Workspace, frame: pd.DataFrame) -> int:
    info = PartInfo("train", "csv", "train.csv", "", "sha", len(frame), len(frame), 0, True, None)
    return ws.add_dataset("ds", schema=KLUE_SCHEMA, parts={"train": (info, frame, pd.DataFrame())}, author="t").id


def _label(ws: Workspace, ds: int, row_id: str) -> str:
    return ws.current_frame(ds).set_index("id").at[row_id, "label"]


def test_undo_twice_says_it_was_already_undone(tmp_path, small_frame):
    ws = Workspace(tmp_path)
    ds = _add(ws, small_frame)
    edit = ws.apply_changes(ds, "train", [RowChange("0", 0, {"label": "no_relation"})], author="ann", reason="e")
    undo = ws.undo(ds, edit, author="bob")
    assert ws.undone_by(ds) == {edit: undo}
    with pytest.raises(AlreadyUndoneError, match=f"change #{edit} was already undone by #{undo}") as err:
        ws.undo(ds, edit, author="bob")
    assert err.value.undone_by == undo
    assert ws.revision(ds) == undo  # nothing was written
    assert _label(ws, ds, "0") == "per:date_of_birth"


def test_undo_of_an_undo_is_a_redo(tmp_path, small_frame):
    ws = Workspace(tmp_path)
    ds = _add(ws, small_frame)
    edit = ws.apply_changes(ds, "train", [RowChange("0", 0, {"label": "no_relation"})], author="ann", reason="e")
    undo = ws.undo(ds, edit, author="bob")
    redo = ws.undo(ds, undo, author="bob")
    assert _label(ws, ds, "0") == "no_relation"
    assert ws.corrections(ds).iloc[-1]["reason"] == f"undo #{undo} (redo #{edit})"
    # The original is live again, but through the chain: the message points at the latest link.
    with pytest.raises(AlreadyUndoneError, match=f"already undone by #{undo}.*#{redo}"):
        ws.undo(ds, edit, author="bob")
    with pytest.raises(AlreadyUndoneError, match=f"change #{undo} was already undone by #{redo}"):
        ws.undo(ds, undo, author="bob")
    ws.undo(ds, redo, author="bob")  # undoing the redo reverts the edit again
    assert _label(ws, ds, "0") == "per:date_of_birth"


def test_undo_after_a_later_edit_names_the_later_change(tmp_path, small_frame):
    ws = Workspace(tmp_path)
    ds = _add(ws, small_frame)
    edit = ws.apply_changes(ds, "train", [RowChange("0", 0, {"label": "no_relation"})], author="ann", reason="e")
    later = ws.apply_changes(ds, "train", [RowChange("0", 1, {"label": "per:origin"})], author="bob", reason="l")
    with pytest.raises(ConflictError, match=f"Cannot undo change #{edit}: row 0 was changed again by bob.*#{later}"):
        ws.undo(ds, edit, author="ann")
