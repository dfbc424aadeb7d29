"""Browser: open the app, see the Data charts, accept a suggested fix, find it in the audit log,
export and download the cleaned CSV. Saves a PNG of each screen (the README's screenshots)."""

from __future__ import annotations

import ast

import pandas as pd
import pytest

from core.workspace import Workspace
from tests.e2e.conftest import wait_for_app

pytestmark = pytest.mark.e2e


def _section(page, name: str) -> None:
    page.locator(".st-key-data_section button", has_text=name).first.click()
    wait_for_app(page)


def test_data_view_fix_audit_export(page, app_url, app_home, screenshot_dir, tmp_path):
    page.goto(app_url)
    wait_for_app(page)
    page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=60_000)
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 6
    assert page.locator('[data-testid="stMetric"]').first.is_visible()
    page.screenshot(path=str(screenshot_dir / "data-overview.png"), full_page=False)

    name = page.locator(".st-key-author input")
    name.fill("e2e-reviewer")
    name.press("Enter")
    wait_for_app(page)

    _section(page, "Flags")
    accept = page.locator('[class*="st-key-accept_type_"] button').first
    accept.wait_for(timeout=30_000)
    key = next(
        c
        for c in accept.locator("xpath=ancestor::div[contains(@class,'st-key-accept_type_')]")
        .first.get_attribute("class")
        .split()
        if c.startswith("st-key-accept_type_")
    )
    _, row_id, role = key.removeprefix("st-key-").rsplit("_", 2)
    page.locator(".re-card").first.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "data-flags.png"), full_page=False)
    accept.click()
    wait_for_app(page)
    page.wait_for_selector('[data-testid="stAlertContentSuccess"]', timeout=30_000)
    assert "Saved change" in page.locator('[data-testid="stAlertContentSuccess"]').first.inner_text()

    _section(page, "Audit log")
    feed = page.locator('[data-testid="stMarkdownContainer"]', has_text="e2e-reviewer").first
    feed.wait_for(timeout=30_000)
    assert f"{role}_type" in feed.inner_text() and row_id in feed.inner_text()
    page.screenshot(path=str(screenshot_dir / "data-audit-log.png"), full_page=False)

    _section(page, "Import & export")
    page.screenshot(path=str(screenshot_dir / "data-export.png"), full_page=False)
    with page.expect_download(timeout=60_000) as download_info:
        page.locator(".st-key-export_download button").click()
    target = tmp_path / "clean.csv"
    download_info.value.save_as(target)
    clean = pd.read_csv(target, dtype={"id": str})
    assert list(clean.columns) == ["id", "sentence", "subject_entity", "object_entity", "label", "source"]
    log = Workspace(app_home).corrections(Workspace(app_home).datasets()[0].id)
    fix = log[(log["row_id"] == row_id) & (log["field"] == f"{role}_type")].iloc[-1]
    assert fix["author"] == "e2e-reviewer"
    column = "subject_entity" if role == "subj" else "object_entity"
    entity = ast.literal_eval(clean.set_index("id").at[row_id, column])
    assert entity["type"] == fix["after"] != fix["before"]
