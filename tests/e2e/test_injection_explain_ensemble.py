"""Browser: markdown and HTML images in Explain's URL query, in run names and in uploaded file names show
as text in a real chromium, and nothing is fetched from another host (the ``page`` fixture fails on
any request off localhost and on any traceback). A closed session's upload folder is swept.

The workspace holds tiny untrained checkpoints registered as runs (no training: what is tested is how
names and links are drawn). The server runs with a 2 s reconnect window for closed sessions and its own
temp folder, so the sweep can be watched.
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.analysis import ensemble_members
from core.data.importing import seed_demo
from core.store.workspace import Workspace
from tests.e2e.app_utils import wait_for_app
from tests.helpers.models import tiny_checkpoint
from tests.helpers.payloads import HTML_IMG, MD_IMG
from tests.helpers.runs import register_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SENTENCE = "홍길동은 회사의 대표이다."
OUTSIDE = "203.0.113.9"
#: Images and links the payloads would make if rendered (outer HTML, to show what was found). A bare URL
#: left in escaped text is still autolinked by GitHub-flavoured markdown (remark-gfm links URLs found in
#: text nodes, after escapes are resolved); such a link shows its own address as its text, fetches
#: nothing, and is not what the payloads make, so it is not counted.
OUTSIDE_MARKUP_JS = f"""() => Array.from(document.querySelectorAll(
  'img[src*="{OUTSIDE}"], a[href*="{OUTSIDE}"], img[src="x"], img[src="p.png"]'))
  .filter(e => !(e.tagName === 'A' && e.textContent === e.getAttribute('href')))
  .map(e => e.outerHTML)"""


@pytest.fixture(scope="module")
def server_tmp(tmp_path_factory) -> Iterator[Path]:
    """The server's temp folder (where uploads go) and a short reconnect window for closed sessions;
    set before ``app_url`` starts the server, which takes this process's environment."""
    folder = tmp_path_factory.mktemp("server-tmp")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TMPDIR", str(folder))
        mp.setenv("STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL", "2")
        yield folder


@pytest.fixture(scope="module")
def app_home(tmp_path_factory, server_tmp) -> Path:
    home = tmp_path_factory.mktemp("injection-e2e")
    seed_demo(Workspace(home))
    tiny = tiny_checkpoint(tmp_path_factory.mktemp("injection-tiny"), "typed_entity_marker_punct")
    register_run(home, "tiny ok", checkpoint_run=tiny, seed=1)
    register_run(home, MD_IMG, checkpoint_run=tiny, seed=2)
    register_run(home, HTML_IMG, seed=3)
    return home


def _label(home: Path, name: str) -> str:
    return next(r.label for r in ensemble_members.finished_runs(home) if r.name == name)


def _open(page, url: str) -> None:
    page.goto(url)
    wait_for_app(page, timeout=180_000)


def _explain_url(app_url: str, **query: str) -> str:
    return f"{app_url}/explain?{urllib.parse.urlencode(query)}"


def test_explain_url_payloads_show_as_text(page, app_url, app_home):
    run = _label(app_home, "tiny ok")
    _open(page, _explain_url(app_url, run=run, text=SENTENCE, subj=MD_IMG, obj="회사", stype="PER", otype="ORG"))
    alert = page.locator('[data-testid="stAlertContentError"]')
    # The first run loads torch and the model on a cold server: minutes on a busy 2-core machine.
    expect(alert).to_contain_text(f"The subject '{MD_IMG}' does not occur in the sentence.", timeout=180_000)
    assert page.evaluate(OUTSIDE_MARKUP_JS) == []

    _open(page, _explain_url(app_url, run=run, text=SENTENCE, subj="홍길동", obj=HTML_IMG))
    expect(alert).to_contain_text(f"The object '{HTML_IMG}' does not occur in the sentence.", timeout=60_000)
    assert page.evaluate(OUTSIDE_MARKUP_JS) == []

    _open(page, _explain_url(app_url, run="Model folder or hub id…", model=MD_IMG))
    expect(alert).to_contain_text(f"{MD_IMG}: not a loadable sequence-classification checkpoint", timeout=60_000)
    assert page.evaluate(OUTSIDE_MARKUP_JS) == []

    # A run named with a markdown image: its panel heading shows the name.
    _open(page, _explain_url(app_url, run=_label(app_home, MD_IMG), text=SENTENCE, subj="홍길동", obj="회사"))
    page.wait_for_selector(".xp-strip", timeout=180_000)
    expect(page.get_by_role("heading", name=_label(app_home, MD_IMG))).to_be_visible()
    assert page.evaluate(OUTSIDE_MARKUP_JS) == []


def _pick_runs(page, labels: list[str]) -> None:
    page.locator(".st-key-ens_runs input").click()
    for label in labels:
        page.keyboard.type(label)
        page.get_by_role("option", name=label, exact=True).wait_for()
        page.keyboard.press("Enter")
    page.keyboard.press("Escape")


def test_run_names_in_the_ensemble_show_as_text(page, app_url, app_home):
    labels = [_label(app_home, MD_IMG), _label(app_home, HTML_IMG), _label(app_home, "tiny ok")]
    _open(page, f"{app_url}/ensemble")
    _pick_runs(page, labels)
    page.get_by_text("3 member(s) on", exact=False).wait_for(timeout=60_000)
    wait_for_app(page)
    for label in labels:
        expect(page.locator(".st-key-ens_runs").get_by_text(label, exact=True).first).to_be_visible()
    page.locator(".st-key-ens_score button").click()
    wait_for_app(page, timeout=180_000)
    page.get_by_role("heading", name="Leaderboard").wait_for(timeout=60_000)
    expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(3, timeout=60_000)
    recipe = page.locator('[data-testid="stCaptionContainer"]', has_text="Recipe:")
    expect(recipe).to_contain_text(labels[0])
    # The diversity heatmap's tick labels are the member names, drawn by plotly as the text typed.
    ticks = page.locator('[data-testid="stPlotlyChart"] .xtick text, [data-testid="stPlotlyChart"] .ytick text')
    expect(ticks.filter(has_text=HTML_IMG).first).to_be_attached(timeout=30_000)
    assert page.evaluate(OUTSIDE_MARKUP_JS) == []


def _upload_root(server_tmp: Path) -> Path:
    return server_tmp / f"restudio-ensemble-uploads-{os.getuid()}"


def _choose_uploads(page) -> None:
    page.locator(".st-key-ens_source button", has_text="Uploaded files").first.click()
    page.locator(".st-key-ens_uploads input[type=file]").wait_for(state="attached", timeout=30_000)


def test_uploads_are_named_as_text_and_a_closed_sessions_folder_is_swept(browser, page, app_url, app_home, server_tmp):
    root = _upload_root(server_tmp)
    runs = {r.name: r for r in ensemble_members.finished_runs(app_home)}
    ws = Workspace(app_home)
    info = ws.datasets()[-1]
    dev = set(ws.split(info.id).dev_ids)
    frame = ws.current_frame(info.id, "train")
    rows = frame[frame["id"].astype(str).isin(dev)]
    gold = "id,label\n" + "".join(f"{i},{x}\n" for i, x in zip(rows["id"], rows["label"], strict=True))
    bad_name = "![x](p.png) <img src=x>.csv"  # a browser's file name has no slash

    _open(page, f"{app_url}/ensemble")
    _choose_uploads(page)
    page.locator(".st-key-ens_uploads input[type=file]").set_input_files(
        [
            {"name": "good.csv", "mimeType": "text/csv", "buffer": Path(runs["tiny ok"].dev_path).read_bytes()},
            {"name": bad_name, "mimeType": "text/csv", "buffer": b"\x89PNG\r\n\x1a\n\x00garbage"},
        ]
    )
    page.locator(".st-key-ens_gold input[type=file]").set_input_files(
        {"name": "gold.csv", "mimeType": "text/csv", "buffer": gold.encode()}
    )
    alert = page.locator('[data-testid="stAlertContentError"]')
    expect(alert).to_contain_text(f"{bad_name} is not UTF-8", timeout=60_000)
    assert str(server_tmp) not in alert.inner_text()
    assert page.evaluate(OUTSIDE_MARKUP_JS) == []
    folders = [p for p in root.iterdir() if p.is_dir()]
    assert len(folders) == 1 and sorted(p.name for p in (folders[0] / "dev").iterdir()) == ["000.csv", "001.csv"]
    mine = folders[0]

    # Another session's runs leave a live session's folder alone ...
    other = browser.new_context()
    try:
        second = other.new_page()
        second.goto(f"{app_url}/ensemble")
        wait_for_app(second)
        assert mine.is_dir()
        # ... and sweep it once that session has closed (after the server's reconnect window).
        page.context.close()
        deadline = time.monotonic() + 60
        while mine.exists() and time.monotonic() < deadline:
            time.sleep(3)
            second.reload()
            wait_for_app(second)
        assert not mine.exists(), "a closed session's upload folder was not swept"
    finally:
        other.close()
        shutil.rmtree(root, ignore_errors=True)
