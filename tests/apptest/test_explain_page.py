"""AppTest: the Explain page renders a trained run on a dev row and on a typed sentence, any HF checkpoint
given by folder, and the URL query reproduces the state (run or checkpoint, example, method, target)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.data.importing import seed_demo
from core.serve import display
from core.store.workspace import Workspace
from tests.helpers.models import hf_classifier
from tests.helpers.payloads import XSS_IMG
from tests.helpers.runs import register_run_copy, trained_run_dir

pytestmark = [pytest.mark.apptest, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("explain-app")
    seed_demo(Workspace(home))
    register_run_copy(home, trained_run_dir(), name="tiny explain")
    return home


@pytest.fixture
def open_page(home, tmp_path, monkeypatch):
    monkeypatch.setenv("RESTUDIO_HOME", str(home))
    monkeypatch.setenv("RESTUDIO_NO_WATCHER", "1")

    def make(**query: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
        for key, value in query.items():
            at.query_params[key] = value
        at.run()
        at.switch_page("views/explain.py")
        at.run()
        assert not at.exception, at.exception
        return at

    return make


def _htmls(at: AppTest) -> list[str]:
    return [el.proto.body for el in at.get("html")]


def test_renders_a_run_and_a_dev_example(open_page):
    at = open_page()
    assert at.title[0].value == "Explain"
    assert at.selectbox(key="xp_run").value.endswith("tiny explain")
    row = at.selectbox(key="xp_row").value
    assert at.query_params["example"] == [row] or at.query_params["example"] == row
    assert any(m.value.startswith("Predicted **") for m in at.markdown)
    strips = [h for h in _htmls(at) if 'class="xp-strip"' in h]
    assert len(strips) == 4  # one heat strip per method
    assert any("comprehensiveness" in c.value for c in at.caption)
    assert any("IG convergence delta" in c.value for c in at.caption)


def test_query_reproduces_run_example_method_and_target(open_page):
    first = open_page()
    rows = first.selectbox(key="xp_row").options
    wanted = rows[3].split(" · ")[0]
    at = open_page(example=wanted, method="occlusion", target="per:title")
    assert at.selectbox(key="xp_row").value == wanted
    assert at.multiselect(key="xp_methods").value == ["occlusion"]
    assert at.selectbox(key="xp_target").value == "per:title"
    # Label names reach markdown escaped (display.plain): per\:title renders as per:title.
    assert any("Attributions for per\\:title" in m.value for m in at.markdown)
    strips = [h for h in _htmls(at) if 'class="xp-strip"' in h]
    assert len(strips) == 1 and 'data-method="occlusion"' in strips[0]


def test_typed_sentence_with_markup_renders_as_text(open_page):
    sentence = f"홍길동은 {XSS_IMG} 회사의 대표이다."
    at = open_page(text=sentence, subj="홍길동", obj="회사", stype="PER", otype="ORG")
    assert at.segmented_control(key="xp_source").value == "Type a sentence"
    assert any('class="xp-strip"' in h for h in _htmls(at))
    for body in _htmls(at):
        assert "<img" not in body
    assert any("&lt;img" in body for body in _htmls(at))


@pytest.fixture(scope="module")
def hf_checkpoint(tmp_path_factory) -> Path:
    """A plain HF sequence classifier (no run folder around it), as a team would bring from elsewhere."""
    from core.common.schema import KLUE_LABELS

    return hf_classifier(tmp_path_factory.mktemp("hf-checkpoint"), KLUE_LABELS)


def test_any_checkpoint_by_folder_on_a_dataset_row(open_page, hf_checkpoint):
    at = open_page(run="Model folder or hub id…", model=str(hf_checkpoint), format="typed_entity_marker_punct")
    assert at.text_input(key="xp_model").value == str(hf_checkpoint)
    assert at.selectbox(key="xp_format").value == "typed_entity_marker_punct"
    assert at.selectbox(key="xp_row").value  # rows of the sidebar's dataset
    assert any(m.value.startswith("Predicted **") for m in at.markdown)
    assert sum('class="xp-strip"' in h for h in _htmls(at)) == 4
    assert any(display.plain(hf_checkpoint) == s.value for s in at.subheader)
    # The checkpoint carries no input format: the one chosen is the one used.
    encoded = next(e for e in at.expander if "Encoded input" in e.label)
    assert display.plain("typed_entity_marker_punct") in encoded.label


def test_a_folder_that_is_not_a_checkpoint_is_named_in_an_error(open_page, tmp_path):
    at = open_page(run="Model folder or hub id…", model=str(tmp_path / "nowhere"))
    assert any(display.plain("not a loadable sequence-classification checkpoint") in e.value for e in at.error)
    assert not any(m.value.startswith("Predicted **") for m in at.markdown)


def test_a_workspace_without_runs_still_explains_a_checkpoint(tmp_path, monkeypatch, hf_checkpoint):
    home = tmp_path / "no-runs"
    seed_demo(Workspace(home))
    monkeypatch.setenv("RESTUDIO_HOME", str(home))
    monkeypatch.setenv("RESTUDIO_NO_WATCHER", "1")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.switch_page("views/explain.py")
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="xp_run").options == ["Model folder or hub id…"]
    assert any("No finished run in this workspace yet" in c.value for c in at.caption)
    at.text_input(key="xp_model").input(str(hf_checkpoint)).run()
    assert not at.exception, at.exception
    assert any(m.value.startswith("Predicted **") for m in at.markdown)


def _flagged_ids(home: Path, threshold: float) -> set[str]:
    """The train rows the Data view flags at this minority-type threshold (types, offsets, duplicates, conflicts)."""
    from core.data import audit

    ws = Workspace(home)
    info = ws.datasets()[-1]
    test = ws.current_frame(info.id, "test") if "test" in info.parts else None
    report = audit.audit(ws.current_frame(info.id), test, schema=info.schema, minority_threshold=threshold)
    ids = set(report.type_flags["id"].astype(str)) | set(report.offset_mismatches["id"].astype(str))
    for group in report.duplicates.id_groups + report.label_conflicts.id_groups:
        ids |= set(group)
    return ids


def test_flagged_rows_follow_the_data_views_minority_threshold(open_page, home):
    at = open_page()
    rows = {o.split(" · ")[0] for o in at.selectbox(key="xp_row").options}  # the dev rows with predictions
    low, high = (_flagged_ids(home, t) & rows for t in (0.05, 0.2))
    assert low != high  # the demo's dev rows tell the two thresholds apart

    def flagged_shown() -> tuple[set[str], str]:
        """The rows listed with "Flagged only" on, and the row shown before (listed too, flagged or not)."""
        before = at.query_params["example"]
        before = before[0] if isinstance(before, list) else before
        at.toggle(key="xp_flagged").set_value(True).run()
        assert not at.exception, at.exception
        return {o.split(" · ")[0] for o in at.selectbox(key="xp_row").options}, before

    shown, before = flagged_shown()
    assert shown - {before} == low - {before}  # the sidebar's default threshold
    at.switch_page("views/data.py").run()
    at.slider(key="minority_threshold").set_value(0.2).run()
    at.switch_page("views/explain.py").run()
    assert not at.exception, at.exception
    shown, before = flagged_shown()
    assert shown - {before} == high - {before}
