"""Browser: markdown and HTML typed into an author name, an edit reason, a row id, a dataset name, an
uploaded file's name and a `source` value show as text everywhere in the Data view; nothing makes the
browser fetch from another host (the `page` fixture fails on any request off localhost)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import expect

from core.data.importing import import_dataset, seed_demo
from core.store.workspace import Workspace
from tests.e2e.app_utils import open_section, settled, upload

pytestmark = pytest.mark.e2e

IMG_MD = "![x](http://203.0.113.9/p.png)"
IMG_HTML = "<img src=http://203.0.113.9/q.png>"
AUTHOR = f"{IMG_MD} `ann {IMG_HTML}"
REASON = f"fixed {IMG_HTML} see {IMG_MD} `x"
ROW_ID = f"r`1 {IMG_MD}"
SOURCE = f"{IMG_HTML} <a href=http://203.0.113.9/s>wiki</a>"
DATASET = f"team {IMG_MD} {IMG_HTML} `d"
FILE_NAME = "![f](x.png) <b>b</b> `t.csv"


@pytest.fixture(scope="module")
def app_home(tmp_path_factory) -> Path:
    """The demo, plus a dataset whose name, first row id, file name and some `source` values are payloads."""
    home = tmp_path_factory.mktemp("e2e-injection")
    ws = Workspace(home)
    seed_demo(ws)
    frame = pd.read_csv(home / "demo-source" / "train.csv", dtype=str, keep_default_na=False)
    frame.loc[0, "id"] = ROW_ID
    frame.loc[frame.index[:40], "source"] = SOURCE
    path = home / "payload.csv"
    frame.to_csv(path, index=False)
    import_dataset(ws, DATASET, path, original_names={"train": FILE_NAME}, author="e2e")
    return home


def _no_fetched_payload(page) -> None:
    """No image points the browser at the payload hosts or files, no payload tag became an element, and
    no link hides its address: markdown turns a bare URL into a link whose text is that URL (GFM
    autolinks, which escaping cannot stop), but never a link with other text, as `<a href>` would."""
    for selector in ('img[src*="203.0.113.9"]', 'img[src*="x.png"]', "main b", "svg a"):
        expect(page.locator(selector)).to_have_count(0)
    links = page.locator('a[href*="203.0.113.9"]')
    for i in range(links.count()):
        link = links.nth(i)
        assert link.inner_text() == link.get_attribute("href"), link.evaluate("e => e.outerHTML")


def test_payloads_show_as_text_in_every_data_section(page, app_url, app_home):
    page.goto(app_url)
    settled(page)
    # The payload dataset is the newest, so it is the selected one; its name is text in the sidebar.
    expect(page.locator(".st-key-dataset input")).to_have_value(DATASET)

    # Overview: the source chart's tick label is text, not an <a> link or an image.
    page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=60_000)
    source_chart = page.locator('[data-testid="stPlotlyChart"]').nth(1)
    expect(source_chart.locator("text", has_text="href").first).to_contain_text(SOURCE)
    _no_fetched_payload(page)

    # Author name typed in the sidebar; an edit with a payload reason on the payload row.
    author = page.locator(".st-key-author input")
    author.fill(AUTHOR)
    author.press("Enter")
    settled(page)
    open_section(page, "Edit row")
    row_box = page.locator(".st-key-edit_id input")
    row_box.fill(ROW_ID)
    row_box.press("Enter")
    settled(page)
    start = page.locator('[class*="st-key-edit_subj_start_"] input')
    end = page.locator('[class*="st-key-edit_subj_end_"] input')
    start.fill(end.input_value())  # a one-character span: a real change
    page.locator('[class*="st-key-edit_reason_"] input').fill(REASON)
    page.locator('[data-testid="stFormSubmitButton"] button', has_text="Save").click()
    settled(page)
    success = page.locator('[data-testid="stAlertContentSuccess"]').first
    expect(success).to_contain_text(f"(1 row(s)): {REASON}. Undo it from the audit log.")
    _no_fetched_payload(page)

    # A typed row id that does not exist is echoed as text.
    row_box.fill(f"{ROW_ID} missing")
    row_box.press("Enter")
    settled(page)
    expect(page.locator('[data-testid="stAlertContentError"]').first).to_contain_text(f"{ROW_ID} missing")

    # Audit log: author, reason and row id as text in the feed, the undo picker and the author filter.
    open_section(page, "Audit log")
    feed = page.locator('[data-testid="stMarkdownContainer"]', has_text="· row").first
    expect(feed).to_contain_text(AUTHOR)
    expect(feed).to_contain_text(REASON)
    expect(feed).to_contain_text(f"row {ROW_ID}")
    # Select boxes draw options as plain text: the payload as typed, without escaping backslashes.
    picked = re.compile(re.escape(f"#1 · {REASON} · {AUTHOR},"))
    expect(page.locator(".st-key-log_undo_pick input")).to_have_value(picked)
    page.locator(".st-key-log_author input").click()
    expect(page.get_by_role("option", name=AUTHOR)).to_be_visible()
    page.keyboard.press("Escape")
    _no_fetched_payload(page)

    # Flags > Invalid rows names the file as uploaded, as text.
    open_section(page, "Flags")
    page.locator(".st-key-flag_kind button", has_text="Invalid rows").first.click()
    settled(page)
    expect(page.locator('[data-testid="stMarkdownContainer"]', has_text=FILE_NAME).first).to_be_visible()

    open_section(page, "Import & export")
    expect(page.locator('[data-testid="stMarkdownContainer"]', has_text="dev ids").first).to_be_visible()
    _no_fetched_payload(page)


def test_upload_with_payload_names_shows_them_as_text(page, app_url, app_home, tmp_path):
    page.goto(app_url)
    settled(page)
    open_section(page, "Import & export")
    name = f"up {IMG_MD} `u"
    page.locator(".st-key-import_name input").fill(name)
    data = (app_home / "demo-source" / "train.csv").read_bytes()
    upload(page, "import_train", {"name": FILE_NAME, "mimeType": "text/csv", "buffer": data})
    page.get_by_role("button", name="Import", exact=True).click()
    settled(page)
    expect(page.locator('[data-testid="stAlertContentSuccess"]').first).to_contain_text(
        f"Imported {name}; it is now the selected dataset."
    )
    expect(page.locator(".st-key-dataset input")).to_have_value(name)
    _no_fetched_payload(page)

    # A failed upload's message names the uploaded file, as text, and never a server path.
    page.locator(".st-key-import_name_1 input").fill("broken upload")
    upload(page, "import_train_1", {"name": FILE_NAME, "mimeType": "text/csv", "buffer": b"id,sentence\n1,hi\n"})
    page.get_by_role("button", name="Import", exact=True).click()
    settled(page)
    error = page.locator('[data-testid="stAlertContentError"]').first
    expect(error).to_contain_text(f"Not imported: {FILE_NAME} lacks the required column(s)")
    assert not re.search(r"/tmp|restudio-upload", error.inner_text())
    _no_fetched_payload(page)
