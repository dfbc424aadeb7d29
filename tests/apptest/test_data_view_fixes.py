"""AppTest: the Data view's user-reported defects (import with a dataset present, undo twice,
filters kept across sections, legend, bulk confirmations, readable numbers and times)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.data.importing import seed_demo
from core.store.workspace import RowChange, Workspace

pytestmark = pytest.mark.apptest


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory) -> Path:
    from core.data.demo import write_demo_dataset

    src = tmp_path_factory.mktemp("demo-src")
    write_demo_dataset(src, seed=5, n_train=1000, n_test=100)
    return src


def _no_exception(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_import_with_a_dataset_present_shows_summary_and_switches(tmp_path, make_app, demo_source):
    home = tmp_path / "ws"
    seed_demo(Workspace(home))
    at = make_app(home, author="ann", section="Import & export")
    assert at.selectbox(key="dataset").value == "demo (synthetic KLUE-RE)"
    at.text_input(key="import_name").set_value("second copy")
    at.file_uploader(key="import_train").set_value(("train.csv", (demo_source / "train.csv").read_bytes(), "text/csv"))
    at.file_uploader(key="import_test").set_value(("test.csv", (demo_source / "test.csv").read_bytes(), "text/csv"))
    next(b for b in at.button if b.label == "Import").click().run()
    _no_exception(at)
    texts = " ".join(x.value for x in [*at.success, *at.warning, *at.info])
    assert "train: 1,000 rows read, 1,000 loaded, 0 invalid" in texts, texts
    assert "test: 100 rows read" in texts, texts
    assert at.selectbox(key="dataset").value == "second copy"
    assert at.query_params.get("dataset") in ("second copy", ["second copy"])
    assert {m.label: m.value for m in at.metric}["Train rows"] == "1,000"
    assert [d.name for d in Workspace(home).datasets()] == ["demo (synthetic KLUE-RE)", "second copy"]
    # The next run keeps the new dataset and drops the one-off summary.
    at.run()
    _no_exception(at)
    assert at.selectbox(key="dataset").value == "second copy"
    assert not any("rows read" in x.value for x in [*at.success, *at.warning])


def test_failed_import_says_why_and_stores_nothing(tmp_path, make_app, demo_source):
    home = tmp_path / "ws"
    seed_demo(Workspace(home))
    files_before = sorted(p.name for p in (home / "files").iterdir())
    at = make_app(home, author="ann", section="Import & export")
    at.text_input(key="import_name").set_value("demo (synthetic KLUE-RE)")  # taken
    at.file_uploader(key="import_train").set_value(("t.csv", (demo_source / "train.csv").read_bytes(), "text/csv"))
    next(b for b in at.button if b.label == "Import").click().run()
    _no_exception(at)
    assert any("already exists" in e.value for e in at.error), [e.value for e in at.error]
    assert at.selectbox(key="dataset").value == "demo (synthetic KLUE-RE)"
    assert sorted(p.name for p in (home / "files").iterdir()) == files_before
    assert len(Workspace(home).datasets()) == 1


def test_import_into_an_empty_workspace_opens_the_dataset(tmp_path, make_app, demo_source):
    at = make_app(tmp_path / "empty", author="ann")
    at.file_uploader(key="import_train").set_value(("train.csv", (demo_source / "train.csv").read_bytes(), "text/csv"))
    next(b for b in at.button if b.label == "Import").click().run()
    _no_exception(at)
    assert at.selectbox(key="dataset").value == "train.csv"
    assert any("1,000 rows read" in s.value for s in at.success), [s.value for s in at.success]
    assert {m.label: m.value for m in at.metric}["Train rows"] == "1,000"


def test_undo_twice_is_refused_clearly(tmp_path, make_app):
    home = tmp_path / "ws"
    info = seed_demo(Workspace(home))
    edit = Workspace(home).apply_changes(
        info.id, "train", [RowChange("5", 0, {"label": "per:religion"})], author="ann", reason="fix"
    )
    at = make_app(home, author="bob", section="Audit log")
    at.selectbox(key="log_undo_pick").set_value(edit).run()
    at.button(key="log_undo").click().run()
    _no_exception(at)
    assert any(f"Undid change #{edit}" in s.value for s in at.success), [e.value for e in at.error]
    undo_id = Workspace(home).undone_by(info.id)[edit]
    # The same change offered again: marked, with the undo named, and no button to undo it twice.
    at.selectbox(key="log_undo_pick").set_value(edit).run()
    _no_exception(at)
    pick = at.selectbox(key="log_undo_pick")
    assert f"undone by #{undo_id}" in pick.format_func(edit)
    assert at.button(key="log_undo").disabled
    assert any(f"already undone by #{undo_id}" in c.value for c in at.caption)
    assert not any("changed by" in e.value for e in at.error)
    # Undoing the undo is a redo.
    at.selectbox(key="log_undo_pick").set_value(undo_id).run()
    assert at.button(key="log_undo").label == f"Undo change #{undo_id} (redo #{edit})"
    at.button(key="log_undo").click().run()
    _no_exception(at)
    assert any(f"change #{edit} is back" in s.value for s in at.success)
    assert Workspace(home).current_frame(info.id).set_index("id").at["5", "label"] == "per:religion"


def test_flag_filters_survive_switching_sections(demo_home, make_app):
    at = make_app(demo_home, section="Flags")
    labels = at.multiselect(key="tf_labels").options[:2]
    at.multiselect(key="tf_labels").set_value(labels)
    at.selectbox(key="tf_role").set_value("subj")
    at.selectbox(key="tf_rule").set_value("minority")
    at.run()
    _no_exception(at)
    for section in ["Overview", "Audit log", "Flags"]:
        at.segmented_control(key="data_section").set_value(section).run()
        _no_exception(at)
    assert at.multiselect(key="tf_labels").value == labels
    assert at.selectbox(key="tf_role").value == "subj"
    assert at.selectbox(key="tf_rule").value == "minority"

    at.segmented_control(key="flag_kind").set_value("Duplicates").run()
    at.text_input(key="dup_text").set_value("no such text anywhere").run()
    for section in ["Overview", "Edit row", "Flags"]:
        at.segmented_control(key="data_section").set_value(section).run()
        _no_exception(at)
    assert at.segmented_control(key="flag_kind").value == "Duplicates"
    assert at.text_input(key="dup_text").value == "no such text anywhere"
    assert any("0 of 20 groups match" in c.value for c in at.caption)
    # Back to the type flags: their filters are still set too, even after a visit to another page.
    at.segmented_control(key="flag_kind").set_value("Type flags").run()
    at.switch_page("views/ensemble.py").run()
    _no_exception(at)
    at.switch_page("views/data.py").run()
    _no_exception(at)
    assert at.segmented_control(key="data_section").value == "Flags"
    assert at.selectbox(key="tf_role").value == "subj"
    assert at.multiselect(key="tf_labels").value == labels


def test_bulk_actions_over_20_rows_need_a_confirmation(tmp_path, make_app):
    from streamlit.testing.v1.element_tree import AppTestError

    home = tmp_path / "ws"
    info = seed_demo(Workspace(home))
    at = make_app(home, author="ann", section="Flags")
    accept_all = at.button(key="tf_accept_shown")
    n_flags = int(accept_all.label.split()[2].replace(",", ""))
    assert n_flags > 20, accept_all.label
    assert accept_all.disabled
    with pytest.raises(AppTestError):
        accept_all.click()
    revision = Workspace(home).revision(info.id)
    confirm = next(c for c in at.checkbox if c.key and c.key.startswith("tf_accept_shown_confirm_"))
    assert confirm.label.startswith("I confirm changing ") and confirm.label.endswith(" rows")
    confirm.check().run()
    _no_exception(at)
    assert not at.button(key="tf_accept_shown").disabled
    at.button(key="tf_accept_shown").click().run()
    _no_exception(at)
    assert any("Saved change" in s.value for s in at.success), [e.value for e in at.error]
    assert Workspace(home).revision(info.id) > revision
    # The demo's 20 duplicate copies are at the threshold, not over it: no confirmation asked.
    at.segmented_control(key="flag_kind").set_value("Duplicates").run()
    assert "20 extra copies" in at.button(key="dup_drop_all").label
    assert not at.button(key="dup_drop_all").disabled
    assert not any(c.key and c.key.startswith("dup_drop_all_confirm") for c in at.checkbox)


def test_legend_next_to_the_sentence_cards(demo_home, make_app):
    at = make_app(demo_home, section="Flags")
    # The app's stylesheet (also an html element) names the classes too: look for the legend's own markup.
    legends = [h.value for h in at.html if 'class="re-legend"' in h.value]
    assert legends and all(f'<mark class="{c}">' in legends[0] for c in ("re-subj", "re-obj")), legends
    at.segmented_control(key="flag_kind").set_value("Duplicates").run()
    assert any('class="re-legend"' in h.value for h in at.html)


def test_row_history_and_log_show_readable_columns_and_times(tmp_path, make_app):
    import re

    home = tmp_path / "ws"
    info = seed_demo(Workspace(home))
    Workspace(home).apply_changes(
        info.id, "train", [RowChange("7", 0, {"label": "per:origin"})], author="ann", reason="because"
    )
    at = make_app(home, author="bob", section="Edit row")
    at.text_input(key="edit_id").set_value("7").run()
    _no_exception(at)
    history = at.dataframe[0].value  # the only table in "Edit row": the row history
    assert list(history.columns) == ["change", "time", "author", "field", "before", "after", "reason"]
    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$")
    assert all(stamp.match(t) for t in history["time"]), history["time"].tolist()
    at.segmented_control(key="data_section").set_value("Audit log").run()
    _no_exception(at)
    assert all(stamp.match(t) for t in at.dataframe[0].value["time"])  # the log table
    feed = " ".join(m.value for m in at.markdown)
    assert "**ann**" in feed and not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", feed)
    at.segmented_control(key="data_section").set_value("Import & export").run()
    made = next(m.value for m in at.markdown if "made at revision" in m.value)
    assert re.search(r"made at revision \d+ on \d{4}-\d\d-\d\d \d\d:\d\d by", made), made
