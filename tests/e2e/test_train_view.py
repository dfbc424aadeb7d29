"""Browser: a running job's curves grow on the Train page without a manual reload, and its log box
opens at the newest lines."""

from __future__ import annotations

import time

import pytest

from core import jobs
from core.train import training
from tests.e2e.app_utils import wait_for_app

pytestmark = pytest.mark.e2e

# Raw points are drawn as markers: count what the browser actually rendered.
POINTS_JS = """() => document.querySelectorAll('[data-testid="stPlotlyChart"] .scatterlayer path.point').length"""
# A log longer than its box, drawn with its last line at the box's bottom edge (within its padding) and the
# oldest lines scrolled out of sight, as the box first appears, without any scrolling by the user.
LOG_AT_NEWEST_JS = """() => {
  const box = document.querySelector('.re-log');
  const text = box && box.querySelector('pre');
  if (!text) return false;
  const b = box.getBoundingClientRect(), t = text.getBoundingClientRect();
  return t.height > b.height + 20 && Math.abs(t.bottom - b.bottom) <= 12 && t.top < b.top;
}"""


def test_running_job_curve_grows_without_reload(page, app_url, app_home, screenshot_dir):
    config = training.validate(
        {"workspace": str(app_home), "epochs": 4, "logging_steps": 2, "eval_steps": 20, "max_length": 64}
    ).to_dict()
    job = jobs.submit_training(str(app_home), config, name="e2e live curve")
    try:
        page.goto(f"{app_url}/train")
        wait_for_app(page)
        deadline = time.monotonic() + 180
        first = 0
        while time.monotonic() < deadline and first == 0:  # wait for the first logged points
            first = page.evaluate(POINTS_JS)
            page.wait_for_timeout(1000)
        assert first > 0, f"no curve appeared; job: {jobs.JobStore(str(app_home)).get_job(job.id)}"
        grown = first
        while time.monotonic() < deadline and grown <= first:
            page.wait_for_timeout(1000)
            grown = page.evaluate(POINTS_JS)
        assert grown > first, "the curve did not grow by itself"
        page.wait_for_function(LOG_AT_NEWEST_JS, timeout=60_000)
        page.screenshot(path=str(screenshot_dir / "train.png"), full_page=False)
    finally:
        jobs.cancel_job(str(app_home), job.id, wait=True, grace_s=5)
