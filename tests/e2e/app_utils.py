"""Helpers the browser tests share: the guarded page, waiting for a run, uploads, sections and the Train form.

Fixtures stay in ``conftest.py``; these are plain functions, as in Streamlit's own e2e suite.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterator

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

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

_SETTLED_JS = (
    "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
    " && document.querySelector('[data-testid=\"stAppViewContainer\"]')"
)
# Streamlit loads most widget code lazily and draws a skeleton until it arrives.
_NO_SKELETON_JS = "() => !document.querySelector('[data-testid=\"stSkeleton\"]')"


def free_port() -> int:
    """A localhost port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def settled(page) -> None:
    """The run has finished and drawn: elements of the previous run stay (marked stale) until replaced."""
    wait_for_app(page)
    page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')", timeout=60_000)


def open_section(page, name: str) -> None:
    """Click the Data view's section ``name`` and wait until it is drawn."""
    page.locator(".st-key-data_section button", has_text=name).first.click()
    settled(page)


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


def open_form(page) -> None:
    """Open the Train view's "New job" form."""
    details = page.locator('[data-testid="stExpander"] details').filter(has_text="New job")
    expect(details).to_have_count(1)
    if details.get_attribute("open") is None:
        details.locator("summary").first.click()
    expect(page.locator(".st-key-train_name input")).to_be_visible()


def submit_job(page, name: str, *, max_steps: int) -> None:
    """Submit a short training job named ``name`` from the Train view's form."""
    open_form(page)
    settled(page)  # a rerun still drawing leaves the form inert; a loaded machine once took over 30 s for one
    page.locator(".st-key-train_name input").fill(name)
    page.locator(".st-key-cfg_max_length input").fill("64")
    steps = page.locator(".st-key-cfg_max_steps input")
    if not steps.is_visible():
        # The TAPT form has an "All options" expander too: this one is in the form holding the job name.
        form = page.locator('[data-testid="stForm"]').filter(has=page.locator(".st-key-train_name"))
        form.locator("details summary").filter(has_text="All options").click()
    steps.fill(str(max_steps))
    page.locator(".st-key-train_submit button").click()


def notice(page):
    """The Train view's notice about a submitted job."""
    return page.locator('[data-testid="stAlert"]').filter(has_text=re.compile(r"Job #\d+ "))
