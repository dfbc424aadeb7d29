"""Browser: pick three trained demo runs on the Ensemble page, see the leaderboard, download the submission."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.analysis import ensemble_members
from core.common.schema import KLUE_SCHEMA
from core.store.workspace import Workspace
from core.train.metrics import read_submission
from tests.e2e.app_utils import wait_for_app
from tests.helpers.runs import make_demo_runs

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def trained_home(app_home) -> Path:
    make_demo_runs(app_home)  # before any page loads: the runs are there when the app starts
    return app_home


@pytest.fixture(scope="module")
def ensemble_url(trained_home, request) -> str:
    # app_url starts the server after trained_home made the runs, so they are there when the app starts.
    return f"{request.getfixturevalue('app_url')}/ensemble"


def test_pick_three_runs_see_leaderboard_and_download_submission(
    trained_home, ensemble_url, page, tmp_path, screenshot_dir
):
    labels = [r.label for r in ensemble_members.finished_runs(trained_home)]
    assert len(labels) == 3
    page.goto(ensemble_url)
    wait_for_app(page)
    # The open dropdown makes the rest of the page inert: pick all three with the keyboard, then close it.
    page.locator(".st-key-ens_runs input").click()
    for label in labels:
        page.keyboard.type(label)
        page.get_by_role("option", name=label, exact=True).wait_for()
        page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.get_by_text("3 member(s) on", exact=False).wait_for(timeout=60_000)  # the rerun with all three
    wait_for_app(page)
    for label in labels:
        assert page.locator(".st-key-ens_runs").get_by_text(label, exact=True).count() >= 1
    page.locator(".st-key-ens_score button").click()
    wait_for_app(page, timeout=180_000)
    page.get_by_role("heading", name="Leaderboard").wait_for(timeout=60_000)
    board = page.locator('[data-testid="stDataFrame"]:visible').first  # "Members alone" is collapsed
    board.wait_for(timeout=30_000)
    choice = page.locator(".st-key-ens_choice")
    choice.scroll_into_view_if_needed()
    expect(choice.locator("input")).to_have_value(
        re.compile("AUPRC"), timeout=30_000
    )  # the chosen (best) leaderboard row
    charts = page.locator('[data-testid="stPlotlyChart"]')
    expect(charts).to_have_count(3, timeout=60_000)  # scatter + Pareto front, diversity heatmap, per-class F1
    page.get_by_role("heading", name="Leaderboard").scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # let the charts finish drawing
    page.screenshot(path=str(screenshot_dir / "ensemble.png"), full_page=False)

    with page.expect_download(timeout=60_000) as info:
        page.locator(".st-key-ens_download_submission button").click()
    target = tmp_path / "submission.csv"
    info.value.save_as(target)
    ids, probs = read_submission(target, label_names=KLUE_SCHEMA.labels)  # a valid submission file
    ws = Workspace(trained_home)
    dataset = ws.dataset("demo (synthetic KLUE-RE)")
    test_ids = ws.current_frame(dataset.id, "test")["id"].astype(str).tolist()
    assert sorted(ids) == sorted(test_ids) and probs.shape == (len(test_ids), len(KLUE_SCHEMA.labels))
    assert not page.blocked_requests  # type: ignore[attr-defined]  # offline: no CDN, no font host
