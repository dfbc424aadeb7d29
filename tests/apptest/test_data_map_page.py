"""AppTest: the Data view's data map renders from a demo run, a lasso selection on it lands in the row table,
a relabel from there reaches the audit log, and a dataset without a recording run says so."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from streamlit.testing.v1 import AppTest

from core.analysis import datamap
from core.data.importing import seed_demo
from core.store.workspace import Split, Workspace
from core.train.training import train

pytestmark = pytest.mark.apptest

N_TRAIN = 150


@pytest.fixture(scope="module")
def run_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workspace with one quick run (a small split: 150 train rows, 3 epochs) in its runs/ folder."""
    home = tmp_path_factory.mktemp("dm-app")
    ws = Workspace(home)
    info = seed_demo(ws)
    default = ws.split(info.id)
    assert default is not None
    small = Split("small", 1, 0.3, 0, default.train_ids[:N_TRAIN], default.dev_ids[:60], "", "test")
    ws.save_split(info.id, small)
    config = {"workspace": str(home), "split": "small", "epochs": 3, "batch_size": 16, "early_stopping_patience": 0}
    summary = train(config, home / "runs" / "quick")
    assert summary["status"] == "succeeded", summary.get("error")
    return home


def values(array: Any) -> list[float]:
    """A figure array as plotly writes it into the spec: a list, or a typed array (``dtype`` and base64 ``bdata``)."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def chart(at: AppTest, key: str) -> Any:
    return next(e for e in at.get("plotly_chart") if e.key == key)


def select_on_chart(at: AppTest, key: str, ids: list[str]) -> AppTest:
    """Rerun the app as the browser does after a lasso on the chart ``key`` around the points of ``ids``.

    AppTest has no plotly widget to drive, so the run gets the widget state the browser would send: the
    selection as JSON under the chart's element id, beside every other widget's current value.
    """
    spec = json.loads(chart(at, key).proto.spec)
    trace = spec["data"][0]
    where = {row[0]: i for i, row in enumerate(trace["customdata"])}
    points = [
        {
            "curve_number": 0,
            "point_number": where[i],
            "point_index": where[i],
            "x": values(trace["x"])[where[i]],
            "y": values(trace["y"])[where[i]],
            "customdata": [i],
        }
        for i in ids
    ]
    selection = {
        "points": points,
        "point_indices": [p["point_index"] for p in points],
        "box": [],
        "lasso": [{"x": [0, 1, 1], "y": [0, 0, 1]}],
    }
    states: WidgetStates = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = chart(at, key).proto.id
    state.string_value = json.dumps({"selection": selection})
    return at._run(widget_state=states)


def test_map_renders_a_lasso_selection_lands_in_the_table_and_a_relabel_is_logged(run_home, make_app) -> None:
    at = make_app(run_home, author="ann", section="Flags")
    at.segmented_control(key="flag_kind").set_value("Data map").run()
    assert not at.exception, at.exception
    spec = json.loads(chart(at, "dm_chart").proto.spec)
    trace = spec["data"][0]
    assert len(trace["customdata"]) == len(values(trace["x"])) == N_TRAIN  # every train row of the run is a point
    assert all(0 <= y <= 1 for y in values(trace["y"]))
    assert spec["layout"]["xaxis"]["title"]["text"] == "variability"
    regions = {m.label: m.value for m in at.metric}
    assert sum(int(regions[datamap.REGION_TITLES[name]].replace(",", "")) for name in datamap.REGIONS) == N_TRAIN
    table = at.dataframe(key="dm_table").value
    assert len(table) > 0 and set(table["region"]) == {"hard to learn"}

    # A lasso around three rows the model predicts otherwise: the table lists exactly them.
    found = datamap.run_data_map(run_home / "runs" / "quick", root=run_home).table
    wrong = found[found["model_label"].notna() & (found["model_label"] != found["label"])]
    picked = wrong["id"].astype(str).head(3).tolist()
    assert len(picked) == 3
    select_on_chart(at, "dm_chart", picked)
    assert not at.exception, at.exception
    table = at.dataframe(key="dm_table").value
    assert sorted(table["id"]) == sorted(picked)
    assert any("3 rows selected on the map" in c.value for c in at.caption)

    at.button(key="dm_relabel_shown").click().run()
    assert not at.exception, at.exception
    assert any("Saved change" in s.value for s in at.success), [e.value for e in at.error]
    ws = Workspace(run_home)
    log = ws.corrections(ws.datasets()[0].id)
    logged = log[log["reason"] == "data map: relabelled (bulk)"]
    assert sorted(logged["row_id"]) == sorted(picked) and set(logged["author"]) == {"ann"}
    suggested = wrong.set_index("id").loc[picked, "model_label"]
    assert logged.set_index("row_id").loc[picked, "after"].tolist() == suggested.tolist()

    # The relabelled rows are now marked as changed since the run.
    at.segmented_control(key="flag_kind").set_value("Data map").run()
    assert any("changed since" in c.value for c in at.caption)


def test_without_a_recording_run_the_view_says_so(demo_home, make_app) -> None:
    at = make_app(demo_home, author="ann", section="Flags")
    at.segmented_control(key="flag_kind").set_value("Data map").run()
    assert not at.exception, at.exception
    assert any("no map to draw" in i.value for i in at.info)
    assert not [e for e in at.get("plotly_chart") if e.key == "dm_chart"]


def test_rows_confident_learning_flags_are_marked_and_ranked_first(run_home, make_app, tmp_path) -> None:
    """With out-of-fold probabilities that doubt three hard-to-learn rows, those three lead the region's table."""
    from core.train.crossval import OOF_DIR
    from core.train.metrics import write_submission

    home = Path(shutil.copytree(run_home, tmp_path / "ws"))
    ws = Workspace(home)
    info = ws.datasets()[0]
    hard = datamap.ranked(datamap.run_data_map(home / "runs" / "quick", root=ws).table, "hard_to_learn")
    hard = hard[hard["label"].notna()]
    doubted = hard["id"].astype(str).tail(3).tolist()  # the region's last rows: first only when flagged
    frame = ws.current_frame(info.id)
    labels = list(info.labels)
    probs = np.full((len(frame), len(labels)), 0.1 / (len(labels) - 1))
    given = frame["label"].map(labels.index).to_numpy()
    other = (given + 1) % len(labels)
    doubt = frame["id"].astype(str).isin(doubted).to_numpy()
    probs[np.arange(len(frame)), np.where(doubt, other, given)] = 0.9
    folder = home / OOF_DIR / str(info.id)
    folder.mkdir(parents=True)
    write_submission(folder / "r0-test.csv", frame["id"].astype(str).tolist(), probs, label_names=labels)
    (folder / "r0-test.json").write_text(json.dumps({"labels": labels, "revision": ws.revision(info.id)}))

    at = make_app(home, author="ann", section="Flags")
    at.segmented_control(key="flag_kind").set_value("Data map").run()
    assert not at.exception, at.exception
    table = at.dataframe(key="dm_table").value
    assert table["flagged"].tolist()[:3] == [True, True, True] and not table["flagged"].iloc[3:].any()
    assert sorted(table["id"].head(3)) == sorted(doubted)
    at.toggle(key="dm_flagged_first").set_value(False).run()
    table = at.dataframe(key="dm_table").value
    assert table["id"].tolist() == hard["id"].astype(str).tolist()  # the region's own order: confidence, lowest first


def test_the_map_starts_at_the_best_dev_evaluation_and_the_slider_changes_it(run_home, make_app) -> None:
    at = make_app(run_home, author="ann", section="Flags")
    at.segmented_control(key="flag_kind").set_value("Data map").run()
    found = datamap.run_data_map(run_home / "runs" / "quick", root=run_home)
    (slider,) = [s for s in at.slider if s.label == "Evaluations"]
    assert slider.value == found.evaluations and slider.max == found.recorded == 3
    caption = f"evaluations 1–{found.evaluations} of 3 (best dev micro-F1 at {found.best_evaluation})"
    assert any(caption in c.value for c in at.caption)
    assert slider.min == 2  # one evaluation has no spread: no map of it
    other = 3 if found.evaluations != 3 else 2
    slider.set_value(other).run()
    assert not at.exception, at.exception
    assert any(f"evaluations 1–{other} of 3" in c.value for c in at.caption)
    spec = json.loads(chart(at, "dm_chart").proto.spec)
    wanted = datamap.run_data_map(run_home / "runs" / "quick", root=run_home, through=other).table
    ids = [c[0] for c in spec["data"][0]["customdata"]]
    assert values(spec["data"][0]["y"]) == pytest.approx(wanted.set_index("id").loc[ids, "confidence"].tolist())
