"""AppTest: the Evaluate page on a returning user's workspace (two finished runs): the headline with its
intervals, a confusion cell's rows with links into Explain and the Data view's row editor (and those links
land), two runs compared, and a test submission exported with the threshold and the restriction applied."""

from __future__ import annotations

import io
import urllib.parse
from pathlib import Path

import pandas as pd
import pytest

from core.train.metrics import read_submission
from tests.helpers.workspaces import demo_with_runs

pytestmark = pytest.mark.apptest


@pytest.fixture(scope="module")
def runs_home(tmp_path_factory) -> Path:
    return demo_with_runs(tmp_path_factory.mktemp("eval-app"), steps=40)


@pytest.fixture
def evaluate(runs_home, make_app):
    at = make_app(runs_home)
    at.switch_page("views/evaluate.py").run()
    assert not at.exception, at.exception
    return at


def links(at) -> list[dict[str, str]]:
    """The query strings of every row link on the page."""
    found = []
    for md in at.markdown:
        for part in md.value.split("(")[1:]:
            url = part.split(")")[0]
            if url.startswith(("/explain?", "/data?")):
                found.append({"page": url.split("?")[0], **dict(urllib.parse.parse_qsl(url.split("?", 1)[1]))})
    return found


def test_headline_confusion_cell_rows_and_their_links(evaluate, runs_home, make_app):
    at = evaluate
    metrics = {m.label: m.value for m in at.metric}
    assert {"micro-F1", "AUPRC", "Accuracy", "Rows"} <= set(metrics) and metrics["Rows"] == "300"
    assert any("95% CI" in c.value for c in at.caption)
    side = next(d.value for d in at.dataframe if "predictions and gold" in d.value.columns)
    assert side["predictions and gold"].tolist() == ["dev, labels at revision 0", "test"]
    gold = at.selectbox(key="ev_cell_gold")
    pred = at.selectbox(key="ev_cell_pred")
    gold.set_value("no_relation")
    pred.set_value("no_relation").run()
    assert not at.exception, at.exception
    shown = [m.value for m in at.markdown if m.value.startswith("**") and "rows: gold" in m.value]
    assert shown, [m.value for m in at.markdown][:5]
    found = links(at)
    explain = next(f for f in found if f["page"] == "/explain")
    data = next(f for f in found if f["page"] == "/data")
    assert explain["run"].startswith("#2 ") and explain["example"] == data["edit"] and data["part"] == "train"

    # The links land: the row editor opens on the row, and Explain on the run and the row.
    app = make_app(runs_home)
    app.query_params.update(edit=data["edit"], part="train")
    app.run()
    assert not app.exception, app.exception
    assert app.session_state["data_section"] == "Edit row" and app.text_input(key="edit_id").value == data["edit"]
    app = make_app(runs_home)
    app.query_params.update(run=explain["run"], example=explain["example"])
    app.switch_page("views/explain.py").run()
    assert not app.exception, app.exception
    assert app.selectbox(key="xp_run").value == explain["run"]
    assert app.selectbox(key="xp_row").value == explain["example"]


def test_compare_two_runs(evaluate):
    at = evaluate
    other = at.selectbox(key="ev_compare")
    assert other.value.startswith("#1 ")
    verdicts = [a.value for a in [*at.success, *at.info] if "better" in a.value or "no clear difference" in a.value]
    assert verdicts, [a.value for a in at.info]
    assert any("rows where they disagree" in m.value for m in at.markdown)


def test_export_with_the_threshold_and_the_restriction(evaluate, runs_home):
    at = evaluate
    at.checkbox(key="ev_use_threshold").check().run()
    at.checkbox(key="ev_use_restriction").check().run()
    assert not at.exception, at.exception
    assert any("entity-type restriction; no_relation unless" in m.value.replace("\\", "") for m in at.markdown)
    button = next(b for b in at.get("download_button") if "Download test submission" in b.proto.label)
    assert "changed by the rule" in button.proto.label
    assert "800 rows" in button.proto.label


def test_an_ensemble_source(evaluate):
    at = evaluate
    at.segmented_control(key="ev_source").set_value("Ensemble").run()
    assert not at.exception, at.exception
    assert at.multiselect(key="ev_members").value and {m.label for m in at.metric} >= {"micro-F1", "AUPRC"}


def test_submission_reader_agrees_with_the_exported_file(tmp_path):
    # The export writes pred_label from the rule and probs after the restriction: both read back.
    from core.evaluate.decode import DecodingRule, write_decoded

    probs = pd.DataFrame([[0.6, 0.4], [0.3, 0.7]]).to_numpy()
    buffer = io.StringIO()
    write_decoded(buffer, ["a", "b"], probs, labels=("no_relation", "per:title"), rule=DecodingRule(threshold=0.8))
    path = tmp_path / "s.csv"
    path.write_text(buffer.getvalue())
    frame = pd.read_csv(path)
    assert frame["pred_label"].tolist() == ["no_relation", "no_relation"]  # 0.7 < 0.8: no_relation
    ids, back = read_submission(path, label_names=("no_relation", "per:title"))
    assert ids == ["a", "b"] and (back == probs).all()
