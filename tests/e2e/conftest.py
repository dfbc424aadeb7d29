"""Browser tests: a real `streamlit run` on a free localhost port, driven by Playwright in Debian's chromium.

Like Streamlit's own e2e tests: start the server, poll /_stcore/health, wait for the
script to finish running, find widgets by data-testid and .st-key-<key>. Every request
that does not go to localhost is blocked, so the tests prove the app works offline.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.app_utils import free_port, guarded_page
from tests.helpers.workspaces import demo_workspace

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


# Two shared cores run the server, the browser and the jobs: give retrying assertions room.
expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory) -> Path:
    """Where screens are saved: docs/screenshots with `make screenshots`, else a temp folder."""
    target = os.environ.get("RESTUDIO_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screens")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def app_home(tmp_path_factory) -> Path:
    return demo_workspace(tmp_path_factory.mktemp("e2e-ws"))


@pytest.fixture(scope="module")
def app_url(app_home) -> Iterator[str]:
    home = app_home
    port = free_port()
    env = {**os.environ, "RESTUDIO_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    log = open(home / "streamlit.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"streamlit did not start: {(home / 'streamlit.log').read_text()[-2000:]}")
        time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    # Fail, never skip: `make test` installs chromium, so a missing one is a broken set-up.
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)."
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_url):
    with guarded_page(browser) as page:
        yield page


@pytest.fixture
def second_page(browser, app_url):
    """Another user's session on the same server at the same time, under the same guards."""
    with guarded_page(browser) as page:
        yield page
