"""Browser: open the app, see the Data charts, accept a suggested fix, find it in the audit log,
export and download the cleaned CSV. Saves a PNG of each screen (the README's screenshots)."""

from __future__ import annotations

import ast

import pandas as pd
import pytest
from playwright.sync_api import expect

from core.store.workspace import Workspace
from tests.e2e.app_utils import open_section, upload, wait_for_app

pytestmark = pytest.mark.e2e


def _section(page, name: str) -> None:
    open_section(page, name)
    _no_traceback(page)


def _no_traceback(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]'
    ).first.inner_text()


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
    # Click the card whose key was read: `.first` is looked up again at click time, and the flag
    # list may have redrawn in between with another card first.
    page.locator(f".{key} button").click()
    wait_for_app(page)
    page.wait_for_selector('[data-testid="stAlertContentSuccess"]', timeout=30_000)
    assert "Saved change" in page.locator('[data-testid="stAlertContentSuccess"]').first.inner_text()

    _section(page, "Audit log")
    feed = page.locator('[data-testid="stMarkdownContainer"]', has_text="e2e-reviewer").first
    feed.wait_for(timeout=30_000)
    assert f"{role}_type" in feed.inner_text() and f"row {row_id} " in feed.inner_text()
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


def test_data_view_import_confirm_legend_and_kept_filters(page, app_url, tmp_path, screenshot_dir):
    """The user reports: import with a dataset present, bulk actions without confirmation,
    no highlight legend, filters lost when switching sections."""
    from core.data.demo import write_demo_dataset

    write_demo_dataset(tmp_path / "src", seed=5, n_train=1000, n_test=100)
    page.goto(app_url)
    wait_for_app(page)
    page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=60_000)
    name = page.locator(".st-key-author input")
    name.fill("e2e-importer")
    name.press("Enter")
    wait_for_app(page)

    _section(page, "Flags")
    expect(page.locator(".re-legend").first).to_be_visible()
    expect(page.locator(".re-legend mark.re-subj:not(.re-obj)").first).to_have_text("subject")
    accept_all = page.locator(".st-key-tf_accept_shown button")
    expect(accept_all).to_be_disabled()  # the demo has more than 20 type flags
    every_flag = accept_all.inner_text()
    page.locator(".st-key-tf_role").click()
    page.get_by_role("option", name="obj", exact=True).click()
    wait_for_app(page)
    expect(accept_all).not_to_have_text(every_flag)  # the rerun with the filter has drawn
    page.locator('[class*="st-key-tf_accept_shown_confirm_"] label').first.click()
    wait_for_app(page)
    expect(accept_all).to_be_enabled()
    page.screenshot(path=str(screenshot_dir / "data-flags-confirm.png"), full_page=False)

    _section(page, "Overview")
    _section(page, "Audit log")
    _section(page, "Flags")
    expect(page.locator(".st-key-tf_role input")).to_have_value("obj")

    _section(page, "Import & export")
    page.locator(".st-key-import_name input").fill("second (e2e)")
    upload(page, "import_train", str(tmp_path / "src" / "train.csv"))
    expect(page.locator('.st-key-import_train [data-testid="stFileChipName"]')).to_have_text("train.csv")
    page.get_by_role("button", name="Import", exact=True).click()
    wait_for_app(page)
    _no_traceback(page)
    expect(page.locator('[data-testid="stAlertContentSuccess"]', has_text="1,000 rows read")).to_be_visible()
    expect(page.locator(".st-key-dataset input")).to_have_value("second (e2e)")
    assert "dataset=second" in page.url
    # The form is fresh: no file left to import twice.
    expect(page.locator('.st-key-import_train_1 [data-testid="stFileChipName"]')).to_have_count(0)
