"""Browser: label issues from a real 2-fold cross-validation in the Data view, one relabelled through the UI
and found in the audit log with its author. Saves the README's label-issue screenshot."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core.analysis.label_issues import dataset_label_issues
from core.store.workspace import Workspace
from tests.e2e.app_utils import wait_for_app
from tests.helpers.workspaces import demo_with_crossval

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def app_home(tmp_path_factory):
    """The demo workspace plus a quick real 2-fold cross-validation (out-of-fold probabilities)."""
    return demo_with_crossval(tmp_path_factory.mktemp("e2e-cv-ws"))


def test_label_issue_table_and_relabel_in_the_browser(page, app_url, app_home, screenshot_dir):
    ws = Workspace(app_home)
    info = ws.datasets()[0]
    found = dataset_label_issues(app_home, info.id)
    assert found is not None and len(found[0]) > 0
    issues = found[0]
    # The row to relabel: the first whose id the view's search matches in no other issue row.
    text = issues["id"].astype(str) + "\n" + issues["sentence"].astype(str)
    top = next(row for _, row in issues.iterrows() if text.str.contains(str(row["id"]), regex=False).sum() == 1)

    page.goto(app_url)
    wait_for_app(page)
    name = page.locator(".st-key-author input")
    name.fill("e2e-cleaner")
    name.press("Enter")
    wait_for_app(page)
    page.locator(".st-key-data_section button", has_text="Flags").first.click()
    wait_for_app(page)
    page.locator(".st-key-flag_kind button", has_text="Label issues").first.click()
    wait_for_app(page)
    table = page.locator('.st-key-li_table [data-testid="stDataFrame"]')
    table.wait_for(timeout=30_000)
    expect(page.get_by_text(f"{len(issues)} rows, likeliest errors first")).to_be_visible(timeout=30_000)
    table.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "data-label-issues.png"), full_page=False)

    search = page.locator(".st-key-li_text input")
    search.fill(str(top["id"]))
    search.press("Enter")
    wait_for_app(page)
    relabel = page.locator(".st-key-li_relabel_shown button")
    expect(relabel).to_contain_text("Relabel all 1 shown", timeout=30_000)  # the rerun with the search applied
    relabel.click()
    wait_for_app(page)
    page.wait_for_selector('[data-testid="stAlertContentSuccess"]', timeout=30_000)
    assert "Saved change" in page.locator('[data-testid="stAlertContentSuccess"]').first.inner_text()

    log = ws.corrections(info.id)
    fix = log[(log["row_id"] == str(top["id"])) & (log["field"] == "label")].iloc[-1]
    assert (fix["before"], fix["after"], fix["author"]) == (top["label"], top["suggested_label"], "e2e-cleaner")
    assert fix["reason"] == "label issue: relabelled (bulk)"
