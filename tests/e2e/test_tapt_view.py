"""Browser: a TAPT job from the Train page's form runs through the job system, its backbone shows in the
catalog, "Fine-tune from it" fills the new-job form, and the fine-tune that follows records the TAPT job."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from core import jobs
from tests.e2e.app_utils import notice, open_form, settled, submit_job, wait_for_app

pytestmark = pytest.mark.e2e


def open_expander(page, title: str) -> None:
    details = page.locator('[data-testid="stExpander"] details').filter(has_text=title)
    if details.first.get_attribute("open") is None:
        details.first.locator("summary").first.click()


def test_tapt_job_then_fine_tune_from_its_backbone(page, app_url, app_home, screenshot_dir):
    page.goto(f"{app_url}/train")
    wait_for_app(page)
    open_expander(page, "Task-adaptive pretraining (TAPT)")
    expect(page.locator(".st-key-tapt_job_name input")).to_be_visible()
    page.locator(".st-key-tapt_job_name input").fill("e2e tapt")
    page.locator(".st-key-tapt_max_steps input").fill("6")
    page.locator(".st-key-tapt_max_length input").fill("64")
    page.locator(".st-key-tapt_submit button").click()
    expect(notice(page).filter(has_text="e2e tapt")).to_be_visible()
    expect(notice(page).filter(has_text="is in the model list")).to_be_visible(timeout=240_000)
    tapt_job = next(j for j in jobs.JobStore(str(app_home)).list_jobs() if j.name == "e2e tapt")
    assert tapt_job.kind == "tapt" and tapt_job.status == "succeeded"
    backbone = json.loads((Path(tapt_job.run_dir) / "summary.json").read_text())["backbone_name"]

    open_expander(page, "Backbones")
    # A canvas grid: its cells are not DOM text, so the screenshot shows them and the picker below names it.
    catalog = page.locator('[data-testid="stExpander"]').filter(has_text="Tiny random backbone")
    expect(catalog.locator('[data-testid="stDataFrame"]')).to_be_visible()
    wait_for_app(page)
    page.screenshot(path=str(screenshot_dir / "train-tapt.png"), full_page=True)

    page.locator(f".st-key-finetune_{tapt_job.id} button").click()
    settled(page)  # the click reruns the whole page: its old elements stay inert until redrawn
    open_form(page)
    settled(page)
    expect(page.locator(".st-key-cfg_model input")).to_have_value(re.compile(re.escape(backbone)))
    submit_job(page, "e2e from tapt", max_steps=4)
    expect(notice(page).filter(has_text=re.compile(r"e2e from tapt succeeded"))).to_be_visible(timeout=240_000)
    run = next(j for j in jobs.JobStore(str(app_home)).list_jobs() if j.name == "e2e from tapt")
    summary = json.loads((Path(run.run_dir) / "summary.json").read_text())
    assert summary["backbone"]["kind"] == "tapt" and summary["backbone"]["tapt_job"] == tapt_job.id
