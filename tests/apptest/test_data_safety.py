"""AppTest: the Data view served to a team. Read-only sessions browse and download but every write
(edit, drop, undo, bulk accept, import, split) is refused with a message and writes nothing; the audit
log records ``common.identity()``; text from people and files is shown as text, not markdown."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.store.workspace import RowChange, Workspace

pytestmark = pytest.mark.apptest

PAYLOAD = "![x](http://203.0.113.9/p.png) <img src=http://203.0.113.9/q.png> `tick"


@pytest.fixture
def home(tmp_path, demo_home) -> Path:
    """A private copy of the seeded demo workspace: these tests write (or must not write) to it."""
    copy = tmp_path / "ws"
    shutil.copytree(demo_home, copy)
    return copy


@pytest.fixture
def read_only(tmp_path, monkeypatch) -> Path:
    config = tmp_path / "restudio.toml"
    config.write_text("[access]\nread_only = true\n")
    monkeypatch.setenv("RESTUDIO_CONFIG", str(config))
    return config


def _state(home: Path) -> tuple:
    """Everything a write would change: datasets, revisions, audit log, splits, stored files."""
    ws = Workspace(home)
    infos = ws.datasets()
    return (
        [d.name for d in infos],
        [ws.revision(d.id) for d in infos],
        [len(ws.corrections(d.id)) for d in infos],
        [ws.split(d.id) for d in infos],
        sorted(p.name for p in (home / "files").iterdir()),
    )


def _warnings(at) -> str:
    return " | ".join(w.value for w in at.warning)


def _ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_viewer_sees_no_import_form_nor_split_form_but_can_download(home, read_only, make_app):
    before = _state(home)
    at = make_app(home, section="Import & export")
    _ok(at)
    warnings = _warnings(at)
    assert "Importing a dataset is for editors; this session is read-only." in warnings, warnings
    assert "Making a dev split is for editors" in warnings, warnings
    assert not at.get("file_uploader")
    assert not any(b.label == "Import" for b in at.button)
    assert any("Read-only session" in c.value for c in at.caption)
    # Browsing and export stay open.
    labels = [d.proto.label for d in at.get("download_button")]
    assert any(label.startswith("Download cleaned train") for label in labels), labels
    assert _state(home) == before


def test_viewer_bulk_and_single_accepts_are_disabled(home, read_only, make_app):
    before = _state(home)
    at = make_app(home, section="Flags")
    assert at.button(key="tf_accept_shown").disabled
    assert all(b.disabled for b in at.button if b.key and b.key.startswith("accept_type_"))
    assert _state(home) == before


def test_a_click_after_losing_the_editor_right_is_refused(home, tmp_path, make_app, monkeypatch):
    """The buttons were drawn for an editor; the server turns read-only before the click arrives (or a
    crafted message clicks a disabled button): the callbacks check again and write nothing."""
    ws = Workspace(home)
    info = ws.datasets()[0]
    ws.apply_changes(info.id, "train", [RowChange("7", 0, drop=True)], author="ed", reason="dup")
    at = make_app(home, author="ann", section="Flags")
    config = tmp_path / "restudio.toml"
    config.write_text("[access]\nread_only = true\n")
    monkeypatch.setenv("RESTUDIO_CONFIG", str(config))
    before = _state(home)
    next(b for b in at.button if b.key and b.key.startswith("accept_type_")).click().run()
    _ok(at)
    assert "Changing rows is for editors; this session is read-only." in _warnings(at)
    assert not any("Saved change" in s.value for s in at.success)
    monkeypatch.delenv("RESTUDIO_CONFIG")
    at.segmented_control(key="data_section").set_value("Audit log").run()
    monkeypatch.setenv("RESTUDIO_CONFIG", str(config))
    at.button(key="log_undo").click().run()
    _ok(at)
    assert "Undoing a change is for editors" in _warnings(at)
    assert _state(home) == before


def test_viewer_cannot_edit_drop_or_undo_a_row(home, read_only, make_app):
    ws = Workspace(home)
    info = ws.datasets()[0]
    row = ws.current_frame(info.id).iloc[3]
    # One change made by an editor earlier, so there is something to undo.
    ws.apply_changes(info.id, "train", [RowChange(str(row["id"]), 0, drop=True)], author="ed", reason="dup")
    before = _state(home)
    at = make_app(home, section="Edit row")
    at.text_input(key="edit_id").set_value(str(row["id"])).run()
    _ok(at)
    assert "Editing a row is for editors" in _warnings(at)
    assert not any(b.label == "Save" for b in at.button)
    drop = next(b for b in at.button if b.key and b.key.startswith("edit_drop_"))
    assert drop.disabled and at.button(key="edit_undo_last").disabled
    at.segmented_control(key="data_section").set_value("Audit log").run()
    _ok(at)
    assert at.button(key="log_undo").disabled
    assert _state(home) == before


def test_viewer_on_an_empty_workspace_gets_a_message_not_a_form(tmp_path, read_only, make_app):
    at = make_app(tmp_path / "empty")
    _ok(at)
    assert "Importing a dataset is for editors" in _warnings(at)
    assert not at.get("file_uploader")


def test_audit_log_records_the_session_identity_not_the_typed_name(home, make_app, monkeypatch):
    from views import common

    # With OIDC, identity() is the signed-in account whatever the sidebar says.
    monkeypatch.setattr(common, "identity", lambda: "ana@lab.example")
    at = make_app(home, author="typed name", section="Flags")
    next(b for b in at.button if b.key and b.key.startswith("accept_type_")).click().run()
    _ok(at)
    ws = Workspace(home)
    log = ws.corrections(ws.datasets()[0].id)
    assert set(log["author"]) == {"ana@lab.example"}


def test_people_and_file_text_is_markdown_escaped(home, make_app):
    ws = Workspace(home)
    info = ws.datasets()[0]
    rid = str(ws.current_frame(info.id).iloc[0]["id"])
    ws.apply_changes(info.id, "train", [RowChange(rid, 0, drop=True)], author=PAYLOAD + "\u202e", reason=PAYLOAD)
    at = make_app(home, author="ann", section="Audit log")
    _ok(at)
    latest = next(m.value for m in at.markdown if "· row" in m.value)
    # The typed text is in the line, every markdown character escaped, the bidi override shown as a code.
    assert "⟨U\\+202E⟩" in latest
    assert "\\!\\[x\\]\\(http\\://203\\.0\\.113\\.9/p\\.png\\)" in latest and "\\<img" in latest
    assert "![" not in latest.replace("\\!\\[", "")
    # Row ids typed into the edit box come back as text too.
    at.segmented_control(key="data_section").set_value("Edit row").run()
    at.text_input(key="edit_id").set_value("`x` ![i](http://203.0.113.9/r.png)").run()
    _ok(at)
    [error] = [e.value for e in at.error]
    assert "\\`x\\` \\!\\[i\\]" in error, error


def test_failed_upload_message_names_the_upload_not_a_temp_path(home, make_app):
    at = make_app(home, author="ann", section="Import & export")
    at.text_input(key="import_name").set_value("broken")
    at.file_uploader(key="import_train").set_value(("our_train.csv", b"id,sentence\n1,hi\n", "text/csv"))
    next(b for b in at.button if b.label == "Import").click().run()
    _ok(at)
    [error] = [e.value for e in at.error]
    assert error.replace("\\", "").startswith("Not imported: our_train.csv lacks the required column(s)"), error
    assert "restudio-upload" not in error
