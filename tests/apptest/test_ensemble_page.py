"""AppTest: pick three trained demo runs on the Ensemble page, see the leaderboard, get the export."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from core.analysis import ensemble_members
from tests.helpers.runs import RUN_VARIANTS, make_demo_runs

pytestmark = [pytest.mark.apptest, pytest.mark.slow]

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
PAGE = "views/ensemble.py"
#: Until the lead registers the page in app.py, it is opened through a one-page navigation.
REGISTERED = PAGE in (ROOT / "app.py").read_text()


def frame_with(at: AppTest, column: str):
    """The shown dataframe holding ``column`` (AppTest finds dataframes by position only)."""
    frames = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(frames) == 1, [list(d.value.columns) for d in at.dataframe]
    return frames[0]


@pytest.fixture(scope="module")
def runs_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("ens-app")
    make_demo_runs(home)
    return home


@pytest.fixture
def ensemble_page(runs_home, make_app, monkeypatch, tmp_path):
    if REGISTERED:
        at = make_app(runs_home)
        at.switch_page(PAGE).run()
    else:
        monkeypatch.setenv("RESTUDIO_HOME", str(runs_home))
        monkeypatch.setenv("RESTUDIO_NO_WATCHER", "1")
        wrapper = tmp_path / "one_page.py"
        wrapper.write_text(
            "import sys\n"
            f"sys.path.insert(0, {str(ROOT)!r})\n"
            "import streamlit as st\n"
            f"st.navigation([st.Page({str(ROOT / PAGE)!r}, title='Ensemble', url_path='ensemble')]).run()\n"
        )
        at = AppTest.from_file(str(wrapper), default_timeout=120)
        at.run()
    assert not at.exception, at.exception
    return at


def test_pick_three_runs_score_and_export(ensemble_page, runs_home):
    at = ensemble_page
    assert at.title[0].value == "Ensemble"
    labels = [r.label for r in ensemble_members.finished_runs(runs_home)]
    assert [label.split(" ", 1)[1] for label in labels] == [name for name, _ in RUN_VARIANTS]
    at.multiselect(key="ens_runs").set_value(labels).run()
    assert not at.exception, at.exception
    at.button(key="ens_score").click().run()
    assert not at.exception, at.exception

    board = frame_with(at, "pareto")
    assert len(board) == 2 * 7 + 2  # every subset of 3, soft and hard, plus two greedy ensembles
    assert board["micro_f1"].is_monotonic_decreasing or board["micro_f1"].iloc[0] == board["micro_f1"].max()
    assert set(board["method"]) == {"soft", "hard", "weighted"}

    # filters: only 3-member hard voting
    at.multiselect(key="ens_methods").set_value(["hard"]).run()
    at.slider(key="ens_size").set_value((3, 3)).run()
    board = frame_with(at, "pareto")
    assert len(board) == 1 and board["method"].iloc[0] == "hard" and board["size"].iloc[0] == 3

    # the chosen ensemble (the only row left) drives per-class F1 and the export
    assert "best member" in at.subheader[1].value
    downloads = at.get("download_button")
    labels_shown = [d.proto.label for d in downloads]
    assert any(label.startswith("Download submission (800 test rows)") for label in labels_shown), labels_shown
    assert "Download recipe (JSON)" in labels_shown
    caption = next(c.value for c in at.caption if c.value.startswith("Recipe:"))
    assert caption.startswith("Recipe: hard of \\#")  # run names reach markdown escaped (display.plain)

    at.number_input(key="ens_honesty_seeds").set_value(2)
    at.button(key="ens_honesty_run").click().run()
    assert not at.exception, at.exception
    summary = frame_with(at, "heldout_gain_mean")
    assert set(summary["procedure"]) == {"greedy", "best subset"}
    assert {"heldout_gain_mean", "heldout_gain_std", "selection_gain_mean"} <= set(summary.columns)
    json.dumps(summary.to_dict())


def test_one_run_is_not_scored_or_exported(ensemble_page, runs_home):
    at = ensemble_page
    first = ensemble_members.finished_runs(runs_home)[0].label
    at.multiselect(key="ens_runs").set_value([first]).run()
    assert not at.exception, at.exception
    assert any("at least two members" in i.value for i in at.info)
    assert not [b for b in at.button if b.key == "ens_score"]
    assert not at.get("download_button")
