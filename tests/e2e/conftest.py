"""Browser tests: a real `streamlit run` on a free localhost port, driven by Playwright in Debian's chromium.

Like Streamlit's own e2e tests: start the server, poll /_stcore/health, wait for the
script to finish running, find widgets by data-testid and .st-key-<key>. Every request
that does not go to localhost is blocked, so the tests prove the app works offline.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from core.data.importing import seed_demo
from core.store.workspace import Workspace

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


TRACEBACK_SCAN_JS = """() => {
  for (const el of document.querySelectorAll('[data-testid="stException"]')) {
    if (!el.dataset.reReported) { el.dataset.reReported = "1"; window.__reTraceback(el.innerText); }
  }
}"""
TRACEBACK_WATCH_JS = f"""
(() => {{
  const scan = {TRACEBACK_SCAN_JS};
  new MutationObserver(scan).observe(document, {{childList: true, subtree: true}});
}})();
"""


# Two shared cores run the server, the browser and the jobs: give retrying assertions room.
expect.set_options(timeout=15_000)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory) -> Path:
    """Where screens are saved: docs/screenshots with `make screenshots`, else a temp folder."""
    target = os.environ.get("RESTUDIO_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screens")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def app_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("e2e-ws")
    seed_demo(Workspace(home))
    return home


@pytest.fixture(scope="module")
def app_url(app_home) -> Iterator[str]:
    home = app_home
    port = _free_port()
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


@contextlib.contextmanager
def guarded_page(browser) -> Iterator:
    """A page in its own browser context (its own Streamlit session) that fails the test on any request
    off localhost and on any traceback element the app ever draws, even one a later rerun replaced."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    blocked: list[str] = []

    def only_localhost(route):
        host = route.request.url.split("/")[2].split(":")[0] if "://" in route.request.url else ""
        if host in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_localhost)
    tracebacks: list[str] = []
    context.expose_function("__reTraceback", lambda text: tracebacks.append(text))
    context.add_init_script(TRACEBACK_WATCH_JS)
    page = context.new_page()
    page.blocked_requests = blocked  # type: ignore[attr-defined]
    page.tracebacks = tracebacks  # type: ignore[attr-defined]
    yield page
    with contextlib.suppress(Exception):  # the page may be gone already; what it reported is kept
        page.evaluate(TRACEBACK_SCAN_JS)
    context.close()
    # Every page must work offline: nothing it asked for may have needed another host.
    assert not blocked, f"requests to other hosts: {blocked}"
    assert not tracebacks, f"the app showed a traceback: {tracebacks[0][:2000]}"


@pytest.fixture
def page(browser, app_url):
    with guarded_page(browser) as page:
        yield page


@pytest.fixture
def second_page(browser, app_url):
    """Another user's session on the same server at the same time, under the same guards."""
    with guarded_page(browser) as page:
        yield page


_SETTLED_JS = (
    "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
    " && document.querySelector('[data-testid=\"stAppViewContainer\"]')"
)
# Streamlit loads most widget code lazily and draws a skeleton until it arrives.
_NO_SKELETON_JS = "() => !document.querySelector('[data-testid=\"stSkeleton\"]')"


def wait_for_app(page, timeout: float = 60_000) -> None:
    """Wait until the script has finished its run and every lazily loaded widget is drawn.

    On a loaded CI machine a widget chunk (text input, data frame) once never arrived and its skeleton
    stayed for the whole test; such a page is reloaded once, and a second stall fails the test.
    """
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    page.wait_for_function(_SETTLED_JS, timeout=timeout)
    try:
        page.wait_for_function(_NO_SKELETON_JS, timeout=20_000)
    except PlaywrightTimeout:
        page.reload()
        page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
        page.wait_for_function(_SETTLED_JS, timeout=timeout)
        page.wait_for_function(_NO_SKELETON_JS, timeout=timeout)
    page.wait_for_timeout(300)


def upload(page, key: str, files) -> None:
    """Put ``files`` into the file uploader with widget key ``key`` and wait until every upload has finished.

    The uploader's value reaches the script only once its upload request is done; a button clicked while
    a chip still shows its spinner runs the script without the file.
    """
    page.locator(f".st-key-{key} input[type=file]").set_input_files(files)
    count = len(files) if isinstance(files, list) else 1
    expect(page.locator(f'.st-key-{key} [data-testid="stFileChipName"]')).to_have_count(count)
    expect(page.locator(f'.st-key-{key} [data-testid="stFileChipIconSpinner"]')).to_have_count(0)
    wait_for_app(page)
