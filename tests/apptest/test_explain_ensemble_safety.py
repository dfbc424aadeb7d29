"""AppTest: the Explain and Ensemble views are safe to serve to a team.

* Every value a link or a workspace carries (Explain's URL query, run names, dataset names, uploaded
  file names, label names) reaches markdown escaped and plotly with its tags escaped: a markdown or
  HTML image in any of them shows as text.
* A run whose checkpoint is corrupt is an error naming the run and the file, never a traceback.
* Uploading prediction files is for editors (a read-only session is refused with a message); scoring
  finished runs stays open to everyone. Uploads are saved in the session's own folder, a corrupt one is
  named by its own file name, and day-old folders are swept.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.analysis import ensemble_members, ensemble_uploads
from core.data.importing import import_dataset, seed_demo
from core.serve import display
from core.store.workspace import Workspace
from tests.helpers.models import corrupt, hf_classifier, tiny_checkpoint
from tests.helpers.payloads import HTML_IMG, MD_IMG
from tests.helpers.runs import register_run

pytestmark = [pytest.mark.apptest, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT = "Model folder or hub id…"
DATASET = f"data {MD_IMG} {HTML_IMG}"
SENTENCE = "홍길동은 회사의 대표이다."


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A workspace whose newest dataset and runs carry markup in their names, and one corrupt run."""
    home = tmp_path_factory.mktemp("safety-ws")
    ws = Workspace(home)
    seed_demo(ws)
    source = home / "demo-source"
    import_dataset(ws, DATASET, source / "train.csv", test_path=source / "test.csv", gold_path=source / "test_gold.csv")
    tiny = tiny_checkpoint(tmp_path_factory.mktemp("safety-tiny"), "typed_entity_marker_punct")
    broken = Path(shutil.copytree(tiny, tmp_path_factory.mktemp("safety-broken") / "run"))
    corrupt(broken / "checkpoint" / "model.safetensors", "garbage")
    register_run(home, "tiny ok", checkpoint_run=tiny, seed=1)
    register_run(home, MD_IMG, checkpoint_run=tiny, seed=2)
    register_run(home, HTML_IMG, seed=3)
    register_run(home, "broken", checkpoint_run=broken, seed=4)
    return home


@pytest.fixture
def temp_dir(tmp_path, monkeypatch) -> Path:
    """The system temp folder, as the app sees it: this test's own (uploads land here, not in /tmp)."""
    import tempfile

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def run_label(home: Path, name: str) -> str:
    return next(r.label for r in ensemble_members.finished_runs(home) if r.name == name)


@pytest.fixture
def open_explain(home, monkeypatch):
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


def markdown_texts(at: AppTest) -> Iterator[str]:
    """The text of every element Streamlit renders as markdown (labels of expanders included)."""
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "subheader", "title", "toast"):
        for element in at.get(kind):
            yield str(element.value if hasattr(element, "value") else element.proto.body)
    for expander in at.expander:
        yield expander.label


def assert_no_raw_payload(at: AppTest) -> None:
    for text in markdown_texts(at):
        assert MD_IMG not in text and HTML_IMG not in text and "](http" not in text, text


def plotly_strings(at: AppTest) -> list[str]:
    out: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for chart in at.get("plotly_chart"):
        walk(json.loads(chart.proto.spec))
    return out


# -- Explain: the URL query and names as text ------------------------------------------------------------


def test_entity_words_from_the_url_show_as_text(open_explain, home):
    at = open_explain(run=run_label(home, "tiny ok"), text=SENTENCE, subj=MD_IMG, obj="회사", stype="PER", otype="ORG")
    errors = [e.value for e in at.error]
    assert errors == [f"The subject {display.plain(repr(MD_IMG))} does not occur in the sentence."]
    assert_no_raw_payload(at)
    at = open_explain(run=run_label(home, "tiny ok"), text=SENTENCE, subj="홍길동", obj=HTML_IMG)
    assert [e.value for e in at.error] == [
        f"The object {display.plain(repr(HTML_IMG))} does not occur in the sentence."
    ]
    assert_no_raw_payload(at)


def test_a_model_path_from_the_url_shows_as_text(open_explain):
    at = open_explain(run=CHECKPOINT, model=MD_IMG)
    assert at.text_input(key="xp_model").value == MD_IMG
    (error,) = at.error
    assert error.value.startswith(display.plain(MD_IMG) + display.plain(": not a loadable"))
    assert_no_raw_payload(at)


def test_a_viewer_cannot_pull_a_hub_model_onto_the_server(open_explain, tmp_path, monkeypatch):
    """Hub downloads are on for the server (the default), but a read-only session loads folders and cached
    models only: a hub id that is not cached is refused before anything is contacted, and says why."""
    import socket

    def refuse(self: socket.socket, address: object) -> None:
        raise AssertionError(f"a connection to {address} was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    config = tmp_path / "restudio.toml"
    config.write_text("[access]\nread_only = true\n", encoding="utf-8")
    monkeypatch.setenv("RESTUDIO_CONFIG", str(config))
    hub_id = "restudio-test/never-published-model"
    at = open_explain(run=CHECKPOINT, model=hub_id)
    assert [e.value for e in at.error] == [
        f"{display.plain(hub_id)} is neither a folder on this server nor in its model cache, and downloading "
        "a model from the hub is for editors."
    ]
    # A checkpoint folder on the server still opens for a viewer.
    folder = hf_classifier(tmp_path, ["no_relation", "org:founded_by"])
    at = open_explain(run=CHECKPOINT, model=str(folder), text=SENTENCE, subj="홍길동", obj="회사")
    assert not at.error
    assert any(m.value.startswith("Predicted **") for m in at.markdown)


def test_run_dataset_and_label_names_show_as_text(open_explain, home, tmp_path):
    at = open_explain(run=run_label(home, MD_IMG))
    assert any(display.plain(run_label(home, MD_IMG)) == s.value for s in at.subheader)
    # The run's dataset (from its config) is named in the caption above the row picker.
    assert any(f"**{display.plain(DATASET)}**" in c.value for c in at.caption)
    assert any(m.value.startswith("Predicted **") for m in at.markdown)
    assert_no_raw_payload(at)


def test_label_names_of_a_checkpoint_show_as_text(open_explain, tmp_path):
    labels = ["no_relation", HTML_IMG, MD_IMG, "<a href=http://203.0.113.9/>link</a>"]
    folder = hf_classifier(tmp_path, labels)
    at = open_explain(run=CHECKPOINT, model=str(folder), text=SENTENCE, subj="홍길동", obj="회사")
    assert any(m.value.startswith("Predicted **") for m in at.markdown)
    assert_no_raw_payload(at)
    for text in markdown_texts(at):
        assert "<a href" not in text, text
    # Plotly draws <a href> and <b> in its labels: they reach it escaped, and it shows them as typed.
    strings = plotly_strings(at)
    assert "&lt;img src=http://203.0.113.9/q.png&gt;" in strings
    assert all("<img" not in s and "<a " not in s for s in strings)


def test_a_typed_row_id_is_echoed_as_text(open_explain, home):
    at = open_explain(run=run_label(home, "tiny ok"))
    at.text_input(key="xp_goto").input(MD_IMG).run()
    assert not at.exception, at.exception
    assert any(display.plain(repr(MD_IMG)) in w.value for w in at.warning)
    assert_no_raw_payload(at)


# -- Explain: a corrupt checkpoint --------------------------------------------------------------------------


def test_a_corrupt_run_checkpoint_is_an_error_naming_the_run_and_file(open_explain, home):
    label = run_label(home, "broken")
    at = open_explain(run=label)
    (error,) = at.error
    assert error.value.startswith(display.plain(f"run {label}: the checkpoint model.safetensors could not be loaded ("))
    assert str(home) not in error.value.replace("\\", "")
    assert not at.exception
    assert not any(m.value.startswith("Predicted **") for m in at.markdown)


def test_comparing_with_a_corrupt_run_keeps_the_other_panel(open_explain, home):
    at = open_explain(run=run_label(home, "tiny ok"), run_b=run_label(home, "broken"))
    assert not at.exception
    assert sum(m.value.startswith("Predicted **") for m in at.markdown) == 1  # the good run's panel
    assert any("model\\.safetensors could not be loaded" in e.value for e in at.error)


def test_a_checkpoint_folder_with_a_corrupt_pytorch_model_bin(open_explain, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification

    from core.common.schema import KLUE_LABELS

    folder = hf_classifier(tmp_path, KLUE_LABELS)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    corrupt(folder / "pytorch_model.bin", "garbage")
    at = open_explain(run=CHECKPOINT, model=str(folder))
    (error,) = at.error
    assert "the checkpoint pytorch\\_model\\.bin could not be loaded" in error.value
    assert not at.exception


# -- Ensemble ---------------------------------------------------------------------------------------------


@pytest.fixture
def open_ensemble(home, make_app, monkeypatch, tmp_path, temp_dir):
    def make(*, read_only: bool = False) -> AppTest:
        if read_only:
            config = tmp_path / "restudio.toml"
            config.write_text("[access]\nread_only = true\n", encoding="utf-8")
            monkeypatch.setenv("RESTUDIO_CONFIG", str(config))
        at = make_app(home)
        at.switch_page("views/ensemble.py").run()
        assert not at.exception, at.exception
        return at

    return make


def test_run_and_dataset_names_show_as_text_in_the_ensemble(open_ensemble, home):
    at = open_ensemble()
    assert any(f"**{display.plain(DATASET)}**" in c.value for c in at.caption)
    picked = [run_label(home, MD_IMG), run_label(home, HTML_IMG), run_label(home, "tiny ok")]
    at.multiselect(key="ens_runs").set_value(picked).run()
    at.button(key="ens_score").click().run()
    assert not at.exception, at.exception
    assert any(display.plain(run_label(home, MD_IMG)) in c.value for c in at.caption if c.value.startswith("Recipe"))
    assert_no_raw_payload(at)
    strings = plotly_strings(at)
    assert any("&lt;img src=http://203.0.113.9/q.png&gt;" in s for s in strings)  # drawn as the text typed
    assert all("<img" not in s and "<a " not in s for s in strings)


def test_a_read_only_session_cannot_upload_but_scores_runs(open_ensemble, home, temp_dir):
    at = open_ensemble(read_only=True)
    at.segmented_control(key="ens_source").set_value("Uploaded files").run()
    assert not at.exception, at.exception
    assert any("Uploading prediction files is for editors" in w.value for w in at.warning)
    assert not at.file_uploader
    assert not any(temp_dir.iterdir())  # nothing written on the server
    # Scoring finished runs writes nothing on the server: open to viewers.
    at.segmented_control(key="ens_source").set_value("Finished runs").run()
    at.multiselect(key="ens_runs").set_value([run_label(home, "tiny ok"), run_label(home, "broken")]).run()
    at.button(key="ens_score").click().run()
    assert not at.exception, at.exception
    assert any(s.value == "Leaderboard" for s in at.subheader)


def _gold_csv(home: Path) -> bytes:
    ws = Workspace(home)
    info = ws.dataset(DATASET)
    dev = set(ws.split(info.id).dev_ids)
    frame = ws.current_frame(info.id, "train")
    rows = frame[frame["id"].astype(str).isin(dev)]
    return (
        "id,label\n" + "".join(f"{i},{label}\n" for i, label in zip(rows["id"], rows["label"], strict=True))
    ).encode()


def test_uploads_live_in_the_session_folder_and_a_corrupt_one_is_named(open_ensemble, home, temp_dir):
    uploads_root = ensemble_uploads.upload_root()
    assert uploads_root.parent == temp_dir
    stale = ensemble_uploads.session_upload_dir("a session long gone", root=uploads_root)
    (stale / "dev").mkdir()
    (stale / "dev" / "000.csv").write_text("old")
    import os

    for path in (stale / "dev" / "000.csv", stale / "dev", stale):
        os.utime(path, (1_000_000_000, 1_000_000_000))
    at = open_ensemble()
    assert not stale.exists()  # a day old: swept on the next run of the page

    runs = {r.name: r for r in ensemble_members.finished_runs(home)}
    good = Path(runs["tiny ok"].dev_path).read_bytes()
    other = Path(runs[MD_IMG].dev_path).read_bytes()
    at.segmented_control(key="ens_source").set_value("Uploaded files").run()
    bad_name = "![x](p.png) <img src=x>.csv"  # a browser's file name has no slash
    at.file_uploader(key="ens_uploads").set_value(
        [("good.csv", good, "text/csv"), (bad_name, b"\x89PNG\r\n\x1a\n\x00garbage", "text/csv")]
    )
    at.file_uploader(key="ens_gold").set_value(("gold.csv", _gold_csv(home), "text/csv"))
    at.run()
    assert not at.exception, at.exception
    (error,) = at.error
    assert error.value.startswith(display.plain(f"{bad_name} is not UTF-8")), error.value
    assert str(uploads_root) not in error.value.replace("\\", "")
    assert_no_raw_payload(at)
    folder = uploads_root / ensemble_uploads.session_folder_name("test session id")
    assert sorted(p.name for p in (folder / "dev").iterdir()) == ["000.csv", "001.csv"]

    # Two good files: scored, the members named by their files' own names, as text.
    at.file_uploader(key="ens_uploads").set_value([("good.csv", good, "text/csv"), (bad_name, other, "text/csv")])
    at.run()
    at.button(key="ens_score").click().run()
    assert not at.exception, at.exception
    assert not at.error
    singles = next(d.value for d in at.dataframe if "member" in d.value.columns)
    assert list(singles["member"]) == ["good", "![x](p.png) <img src=x>"]
    recipe = next(c.value for c in at.caption if c.value.startswith("Recipe"))
    assert display.plain("![x](p.png) <img src=x>") in recipe
    for text in markdown_texts(at):
        assert "![x](p.png)" not in text and "<img src=x>" not in text, text
