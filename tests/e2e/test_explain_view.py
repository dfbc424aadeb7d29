"""Browser: the Explain view draws bertviz's head and model views (SVG) and the attribution strips with
every non-localhost request blocked, and a sentence carrying markup runs no script anywhere.

The server is the shared `app_url` fixture, on this module's workspace (``app_home`` with a trained run).
"""

from __future__ import annotations

import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from core.data.importing import seed_demo
from core.store.workspace import Workspace
from tests.e2e.app_utils import wait_for_app
from tests.helpers.runs import register_run_copy, trained_run_dir

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
XSS = '<img src=x onerror="window.__pwned=1;alert(1)"> </script><script>window.__pwned2=1;alert(2)</script>'


@pytest.fixture(scope="module")
def app_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("explain-e2e")
    seed_demo(Workspace(home))
    register_run_copy(home, trained_run_dir(), name="e2e explain")
    return home


def _page_url(app_url: str, **query: str) -> str:
    path = "/explain"
    return f"{app_url}{path}?{urllib.parse.urlencode(query)}" if query else f"{app_url}{path}"


def _bertviz_frames(page, timeout_s: float = 120) -> list:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        frames = [f for f in page.frames if f != page.main_frame and f.query_selector("[id^=bertviz-]")]
        if len(frames) >= 2:
            return frames
        page.wait_for_timeout(500)
    return [f for f in page.frames if f != page.main_frame and f.query_selector("[id^=bertviz-]")]


def _open(page, url: str) -> list:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(url)
    wait_for_app(page, timeout=180_000)
    page.wait_for_selector(".xp-strip", timeout=180_000)
    return dialogs


def test_head_and_model_views_draw_svg_offline(page, app_url, screenshot_dir):
    dialogs = _open(page, _page_url(app_url))
    strips = page.locator(".xp-strip")
    assert strips.count() == 4 and page.locator(".xp-strip .xp-word").count() > 5
    page.get_by_role("tab", name="Model view").click()
    frames = _bertviz_frames(page)
    assert len(frames) == 2, "expected a head view and a model view"
    for frame in frames:
        frame.wait_for_selector("#vis svg", state="attached", timeout=60_000)
        counts = frame.evaluate(
            "() => { const c = {}; document.querySelectorAll('#vis svg *').forEach(e => {"
            " c[e.tagName] = (c[e.tagName] || 0) + 1; }); return c; }"
        )
        # Attention drawn: token labels and lines / boxes inside the SVG.
        assert sum(counts.values()) > 20, counts
        assert frame.evaluate("() => typeof window.d3 === 'object' && typeof window.jQuery === 'function'")
    head = next(f for f in frames if f.query_selector("#layer"))
    assert head.evaluate("() => document.querySelectorAll('#vis svg line, #vis svg path').length") > 0
    assert not dialogs
    # Every request beyond localhost was blocked, so nothing came from a CDN.
    assert not [u for u in page.blocked_requests if "cdnjs" in u or "d3" in u or "jquery" in u]
    page.screenshot(path=str(screenshot_dir / "explain.png"), full_page=False)


def test_markup_in_a_sentence_runs_no_script(page, app_url):
    sentence = f"홍길동은 {XSS} 회사의 대표이다."
    url = _page_url(app_url, text=sentence, subj="홍길동", obj="회사", stype="PER", otype="ORG", method="occlusion")
    dialogs = _open(page, url)
    page.get_by_role("tab", name="Model view").click()
    frames = _bertviz_frames(page)
    assert len(frames) == 2
    for frame in frames:
        frame.wait_for_selector("#vis svg", state="attached", timeout=60_000)
    page.wait_for_timeout(1500)
    assert not dialogs, dialogs
    for frame in page.frames:
        assert frame.evaluate("() => window.__pwned === undefined && window.__pwned2 === undefined")
        assert frame.evaluate("() => document.querySelectorAll('img[src=\"x\"]').length") == 0
    # The markup is shown as text in the heat strip, and the attention views drew the tokens as text.
    assert "<img" in page.locator(".xp-strip").first.inner_text()
    head = next(f for f in frames if f.query_selector("#layer"))
    texts = head.evaluate("() => Array.from(document.querySelectorAll('#vis svg text')).map(t => t.textContent)")
    assert "[UNK]" in texts and "PER" in texts


def test_attention_views_show_markup_tokens_as_text(page, tmp_path):
    """With a tokenizer that knows ``<`` and ``>``, markup becomes tokens: still text, no script runs."""
    from core.analysis import explain as ex
    from core.analysis.attention import attention, bertviz_html
    from tests.helpers.models import malicious, tiny_checkpoint

    explainer = ex.load_explainer(tiny_checkpoint(tmp_path, "typed_entity_marker_punct"))
    data = attention(explainer, malicious())
    assert any("<" in t for t in data.tokens) and any("script" in t for t in data.tokens)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)[:300]))
    for view in ("head", "model"):
        page.set_content(bertviz_html(data, view=view))
        page.wait_for_selector("#vis svg", state="attached", timeout=30_000)
        page.wait_for_timeout(500)
        assert page.evaluate("() => window.__pwned === undefined")
        assert page.evaluate("() => document.querySelectorAll('img, script[src]').length") == 0
        if view == "head":
            texts = page.evaluate(
                "() => Array.from(document.querySelectorAll('#vis svg text')).map(t => t.textContent)"
            )
            assert "<" in texts and "script" in " ".join(texts)
    assert not dialogs, dialogs
    assert not errors, errors
