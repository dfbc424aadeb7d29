"""Browser: start a sweep from the Train page's form, watch its trials finish (they are jobs of the job system),
open the parameter-importance figure, come back to the page's own URL and train the best config."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core import jobs
from core.train import sweep
from tests.e2e.app_utils import settled, wait_for_app

pytestmark = pytest.mark.e2e


def open_sweeps(page) -> None:
    details = page.locator('[data-testid="stExpander"] details').filter(has_text="Hyperparameter sweeps")
    if details.first.get_attribute("open") is None:
        details.first.locator("summary").first.click()
    expect(page.locator(".st-key-sweep_space textarea")).to_be_visible()


def test_start_a_sweep_see_its_trials_open_the_importances_and_train_the_best(page, app_url, app_home, screenshot_dir):
    page.goto(f"{app_url}/train")
    wait_for_app(page)
    open_sweeps(page)
    page.locator(".st-key-sweep_fixed textarea").fill("max_steps: 30\neval_steps: 15\nearly_stopping_patience: 0")
    page.locator(".st-key-sweep_space textarea").fill("lr: {low: 1.0e-3, high: 1.0e-2, log: true}\n")
    page.locator(".st-key-sweep_trials input").fill("2")
    page.locator(".st-key-sweep_submit button").click()
    expect(page.locator('[data-testid="stAlert"]').filter(has_text="Started sweep")).to_be_visible(timeout=60_000)
    (made,) = sweep.list_sweeps(app_home)

    # The panel refreshes itself while the driver runs: the trials come in as their jobs end.
    status_line = page.locator('[data-testid="stMarkdownContainer"]').filter(has_text=re.compile(r"\(\d+ complete, "))
    expect(status_line.filter(has_text="finished (2 complete")).to_be_visible(timeout=300_000)
    trial_jobs = [j for j in jobs.JobStore(str(app_home)).list_jobs(group_id=made.name) if j.kind == "train"]
    assert len(trial_jobs) == 2 and all(j.status == "succeeded" for j in trial_jobs)

    # A returning user: the page's own URL, the sweep still there.
    page.goto(f"{app_url}/train")
    wait_for_app(page)
    open_sweeps(page)
    expect(status_line.filter(has_text="finished (2 complete")).to_be_visible()
    section = page.locator('[data-testid="stExpander"]').filter(has_text="Hyperparameter sweeps")
    # Each trial's curve: its dev micro-F1 at every evaluation (the run's own curves are in the jobs panel too).
    page.locator(".st-key-sweep_figure button", has_text="Trial curves").click()
    settled(page)
    curves = section.locator('[data-testid="stPlotlyChart"]').first
    expect(curves).to_contain_text("Dev micro-F1 at each evaluation", timeout=60_000)
    expect(curves.locator(".scatterlayer .trace")).to_have_count(2)
    page.locator(".st-key-sweep_figure button", has_text="Parameter importances").click()
    settled(page)
    panel = section.locator('[data-testid="stPlotlyChart"]').first
    expect(panel.locator(".main-svg").first).to_be_visible(timeout=60_000)
    expect(panel).to_contain_text("Hyperparameter Importances")
    expect(panel).to_contain_text("lr")
    page.locator(".st-key-sweep_figure").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "train-sweeps.png"), full_page=False)

    page.locator(f".st-key-sweep_best_{made.name}").get_by_role("button", name="Train the best config").click()
    expect(page.locator('[data-testid="stToast"]').filter(has_text="Queued job")).to_be_visible(timeout=30_000)
    best = next(j for j in jobs.JobStore(str(app_home)).list_jobs() if j.name.startswith(f"best of {made.name}"))
    assert best.kind == "train" and best.config["max_steps"] == 30
    assert best.config["lr"] == pytest.approx(sweep.sweep_status(app_home, made.name).best.params["lr"])
    jobs.cancel_job(str(app_home), best.id, wait=True, grace_s=5)
