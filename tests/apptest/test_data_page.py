"""AppTest: the Data page on the demo data and on a full-size dataset; edits across sessions."""

from __future__ import annotations

import pytest

from core.data.importing import import_dataset
from core.store.workspace import Workspace

pytestmark = pytest.mark.apptest


def _edit(at, dataset_id: int, row_id: str, label: str):
    at.text_input(key="edit_id").set_value(row_id).run()
    assert not at.exception, at.exception
    key = f"{dataset_id}_train_{row_id}_"
    label_box = next(s for s in at.selectbox if s.key and s.key.startswith(f"edit_label_{key}"))
    label_box.set_value(label)
    save = next(b for b in at.button if b.label == "Save")
    save.click().run()
    assert not at.exception, at.exception
    return at


def test_data_page_renders_demo(demo_home, make_app):
    at = make_app(demo_home)
    assert at.title[0].value == "Data"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Train rows"] == "3,000" and int(metrics["Type flags"].replace(",", "")) > 0
    assert len(at.get("plotly_chart")) >= 6
    for section in ["Flags", "Edit row", "Audit log", "Import & export"]:
        at.segmented_control(key="data_section").set_value(section).run()
        assert not at.exception, (section, at.exception)
    at.segmented_control(key="data_section").set_value("Flags").run()
    for kind in ["Type flags", "Duplicates", "Conflicts", "Offsets", "Train/test overlap", "Invalid rows"]:
        at.segmented_control(key="flag_kind").set_value(kind).run()
        assert not at.exception, (kind, at.exception)
    at.segmented_control(key="flag_kind").set_value("Duplicates").run()
    at.text_input(key="dup_text").set_value("no such text anywhere").run()
    assert any("0 of 20 groups match" in c.value for c in at.caption)
    at.segmented_control(key="flag_kind").set_value("Conflicts").run()
    at.multiselect(key="conf_labels").set_value(["no_relation"]).run()
    assert not at.exception, at.exception


def test_data_page_renders_full_size_dataset(tmp_path, make_app):
    from core.data.demo import write_demo_dataset

    src = tmp_path / "src"
    write_demo_dataset(src, seed=3, n_train=32_470, n_test=7_765)  # real KLUE-RE sizes, with injected errors
    home = tmp_path / "ws"
    import_dataset(
        Workspace(home),
        "klue-size",
        src / "train.csv",
        test_path=src / "test.csv",
        gold_path=src / "test_gold.csv",
    )
    at = make_app(home)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Train rows"] == "32,470"
    # Every count over 999 carries a thousands separator (metrics, flag kinds, buttons, captions).
    assert "," in metrics["Type flags"], metrics
    at.segmented_control(key="data_section").set_value("Flags").run()
    assert not at.exception, at.exception
    assert at.dataframe, "the type-flag table should render"
    kinds = at.segmented_control(key="flag_kind")
    assert any("," in str(k) for k in kinds.options), kinds.options  # "Type flags (1,580)"
    assert "," in at.button(key="tf_accept_shown").label
    at.selectbox(key="tf_role").set_value("subj").run()
    assert any(" of " in c.value and "flags match" in c.value and "," in c.value for c in at.caption)
    at.segmented_control(key="data_section").set_value("Import & export").run()
    assert not at.exception, at.exception
    assert any("rows at revision" in c.value and "," in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 0  # charts belong to Overview only; Flags stays light


def test_accept_type_suggestion_lands_in_audit_log(tmp_path, make_app):
    from core.data.importing import seed_demo

    home = tmp_path / "ws"
    seed_demo(Workspace(home))
    at = make_app(home, author="ann", section="Flags")
    accept = next(b for b in at.button if b.key and b.key.startswith("accept_type_"))
    _, _, row_id, role = accept.key.split("_", 3)
    accept.click().run()
    assert not at.exception, at.exception
    assert any("Saved change" in s.value for s in at.success)
    at.segmented_control(key="data_section").set_value("Audit log").run()
    # User values are markdown-escaped (shown as typed): compare without the escaping backslashes.
    text = " ".join(m.value for m in at.markdown).replace("\\", "")
    assert f"row **{row_id}**" in text and f"{role}_type" in text and "**ann**" in text


def test_edit_in_one_session_is_seen_in_another(tmp_path, make_app):
    from core.data.importing import seed_demo

    home = tmp_path / "ws"
    info = seed_demo(Workspace(home))
    ann = make_app(home, author="ann", section="Edit row")
    _edit(ann, info.id, "5", "per:religion")
    assert any("Saved change" in s.value for s in ann.success), [e.value for e in ann.error]

    bob = make_app(home, author="bob", section="Edit row")
    bob.text_input(key="edit_id").set_value("5").run()
    label_box = next(s for s in bob.selectbox if s.key and s.key.startswith(f"edit_label_{info.id}_train_5_"))
    assert label_box.value == "per:religion"
    bob.segmented_control(key="data_section").set_value("Audit log").run()
    assert any("per\\:religion" in m.value and "**ann**" in m.value for m in bob.markdown)


def test_conflicting_concurrent_edit_is_refused(tmp_path, make_app):
    from core.data.importing import seed_demo

    home = tmp_path / "ws"
    info = seed_demo(Workspace(home))
    ann = make_app(home, author="ann", section="Edit row")
    bob = make_app(home, author="bob", section="Edit row")
    # Both open row 9 before either saves.
    ann.text_input(key="edit_id").set_value("9").run()
    bob.text_input(key="edit_id").set_value("9").run()
    _edit(ann, info.id, "9", "per:origin")
    assert any("Saved change" in s.value for s in ann.success)
    _edit(bob, info.id, "9", "per:title")
    assert any("Not saved" in e.value and "ann" in e.value for e in bob.error), [e.value for e in bob.error]
    frame = Workspace(home).current_frame(info.id)
    assert frame.set_index("id").at["9", "label"] == "per:origin"
