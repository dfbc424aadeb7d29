"""Browser: the team-password gate of a real `streamlit run` (client address, throttle, server log), and a
secrets file broken while the server runs closing the app."""

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

from tests.e2e.app_utils import free_port, wait_for_app
from tests.e2e.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def secrets_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("e2e-secrets") / "secrets.toml"
    path.write_text(f'[auth]\npassword = "{PASSWORD}"\n')
    return path


@pytest.fixture(scope="module")
def app_url(app_home, secrets_file) -> Iterator[str]:
    """Overrides the shared server: this one reads its gate from ``secrets_file``."""
    port = free_port()
    env = {
        **os.environ,
        "RESTUDIO_HOME": str(app_home),
        "RESTUDIO_SECRETS_FILE": str(secrets_file),
        "RESTUDIO_CONFIG": str(secrets_file.parent / "restudio.toml"),
        "RESTUDIO_NO_WATCHER": "1",
        "PYTHONUNBUFFERED": "1",
    }
    log_path = secrets_file.parent / "streamlit.log"
    with open(log_path, "w") as log:
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
                raise RuntimeError(f"streamlit did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def submit(page, password: str) -> None:
    box = page.locator(".st-key-password input")
    box.fill(password)
    page.get_by_role("button", name="Enter").click()
    page.wait_for_timeout(300)
    wait_for_app(page)


def test_wrong_passwords_lock_out_and_are_logged_then_the_right_one_opens_the_app(page, app_url, secrets_file):
    page.goto(app_url)
    wait_for_app(page)
    expect(page.locator(".st-key-password input")).to_be_visible()
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)
    for _ in range(3):
        submit(page, "guess")
        expect(page.get_by_text("Wrong password.", exact=True)).to_be_visible()
    time.sleep(0.5)
    submit(page, "guess")  # the 4th: locked for 2 s
    expect(page.get_by_text("try again in 2 s")).to_be_visible()
    time.sleep(2.2)
    submit(page, "guess")  # the 5th: locked for 4 s
    expect(page.get_by_text("try again in 4 s")).to_be_visible()
    time.sleep(4.2)
    submit(page, "guess")  # the 6th: locked for 8 s, room for a slow machine
    submit(page, PASSWORD)  # right, but refused unseen while locked
    expect(page.get_by_text("Too many wrong passwords: try again in")).to_be_visible()
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)
    time.sleep(8.2)
    submit(page, PASSWORD)
    expect(page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox")).to_be_visible(timeout=30_000)
    log = (secrets_file.parent / "streamlit.log").read_text()
    assert "wrong team password: client local" in log and "failure 6" in log and "refused" in log
    assert "guess" not in log and PASSWORD not in log

    # The file broken while the server runs: the open session is closed on its next run, a new one too.
    secrets_file.write_text(f'[auth]\npasword = "{PASSWORD}"\n')
    page.reload()
    wait_for_app(page)
    expect(page.get_by_text("Sign-in is misconfigured, so RE Studio is closed.")).to_be_visible()
    expect(page.get_by_text("unknown key 'pasword' in [auth]")).to_be_visible()
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)
    expect(page.get_by_text(PASSWORD)).to_have_count(0)
