"""Browser: the Evaluate page on a workspace with finished runs: the confusion matrix draws, a click on a cell
lists that cell's rows, and a row's link opens it in Explain on the same run."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.app_utils import settled, wait_for_app
from tests.helpers.workspaces import demo_with_runs

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def app_home(tmp_path_factory):
    return demo_with_runs(tmp_path_factory.mktemp("e2e-eval"), steps=40)


# Where the centre of the cell (gold 1, predicted 1) is on the page: the click target over it is point n + 1 of
# the chart's second trace (cells row by row), placed by the chart's own axes.
CELL_CENTRE_JS = """() => {
  const gd = document.querySelector('.st-key-ev_confusion .js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
  const n = Math.round(Math.sqrt(gd.data[1].x.length)), i = n + 1;
  return [r.left + xa._offset + xa.d2p(gd.data[1].x[i]), r.top + ya._offset + ya.d2p(gd.data[1].y[i]), gd.data[1].y[i]];
}"""


def picked(page, key: str) -> str:
    return page.locator(f".st-key-{key} input").input_value()


def test_click_a_confusion_cell_and_open_a_row_in_explain(page, app_url, screenshot_dir):
    page.goto(f"{app_url}/evaluate")
    wait_for_app(page)
    chart = page.locator(".st-key-ev_confusion")
    expect(chart.locator(".nsewdrag").first).to_be_visible(timeout=60_000)  # plotly loads lazily
    before = (picked(page, "ev_cell_gold"), picked(page, "ev_cell_pred"))
    assert before[0] != before[1]  # the default cell: the most confused pair
    page.screenshot(path=str(screenshot_dir / "evaluate.png"), full_page=False)

    # Click a cell on the diagonal (the second relation predicted as itself): its pickers follow the click.
    chart.scroll_into_view_if_needed()
    x, y, label = page.evaluate(CELL_CENTRE_JS)
    page.mouse.move(x - 4, y - 4)
    page.mouse.move(x, y)  # plotly picks the point it hovers; the click then selects it
    page.mouse.click(x, y)
    expect(page.locator(".st-key-ev_cell_pred input")).to_have_value(label, timeout=30_000)
    settled(page)
    assert picked(page, "ev_cell_gold") == label  # the diagonal cell, where the default was off it
    expect(page.locator('[data-testid="stMarkdownContainer"]').filter(has_text="rows: gold").first).to_be_visible()

    link = page.locator('a[href^="/explain?"]').first
    expect(link).to_be_visible()
    query = dict(urllib.parse.parse_qsl(link.get_attribute("href").split("?", 1)[1]))
    with page.expect_popup() as opened:  # markdown links open in a new tab
        link.click()
    explain = opened.value
    explain.wait_for_url("**/explain?**")
    wait_for_app(explain)
    # A first Explain page imports torch and loads the run: slow on a busy 2-core machine.
    expect(explain.locator(".st-key-xp_run input")).to_have_value(query["run"], timeout=120_000)
    expect(explain.locator(".st-key-xp_row input")).to_have_value(re.compile(f"^{re.escape(query['example'])} "))
    explain.close()


def test_compare_two_runs_and_export_with_the_rule(page, app_url):
    page.goto(f"{app_url}/evaluate")
    wait_for_app(page)
    tab = page.get_by_role("tab")
    tab.filter(has_text="Compare").click()
    verdict = page.locator('[data-testid="stAlert"]').filter(has_text=re.compile("is better|no clear difference"))
    expect(verdict).to_be_visible(timeout=60_000)
    tab.filter(has_text="Threshold").click()
    page.locator(".st-key-ev_use_threshold label").click()
    settled(page)
    tab.filter(has_text="Type restriction").click()
    page.locator(".st-key-ev_use_restriction label").click()
    settled(page)
    tab.filter(has_text="Export").click()
    expect(page.get_by_text("entity-type restriction; no_relation unless")).to_be_visible()
    with page.expect_download() as download:
        page.locator(".st-key-ev_export button").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,pred_label,probs" and len(lines) == 801
