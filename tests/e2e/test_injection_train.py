"""Browser: names people type (a dataset, jobs, a job's error) are shown as text on the Train page. A
markdown image or an HTML tag in them is never drawn: the page fixture fails on any request that leaves
localhost, and no element may point at the payload's host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from core import jobs
from core.data.importing import import_dataset, seed_demo
from core.store.workspace import Workspace
from core.train import training
from tests.e2e.app_utils import open_form, wait_for_app

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HOST = "203.0.113.9"  # TEST-NET-3: never a real server
DATASET = f"![x](http://{HOST}/p.png) data <img src=http://{HOST}/q.png>"
JOB = f"![y](http://{HOST}/j.png) run <img src=http://{HOST}/k.png> <a href=http://{HOST}/l>l</a>"

#: Elements that would fetch from the payload's host (an image, a style, an object), and links to it whose
#: text is not their own address (a disguised link such as ``<a href=…>l</a>`` drawn from a name). A bare
#: URL in a name may still be linked as written (GitHub-flavoured markdown links URL text): the page then
#: shows exactly where it goes, and nothing is fetched.
POINTING_AT_HOST_JS = f"""() => {{
  const out = [];
  for (const el of document.querySelectorAll('*')) {{
    for (const a of el.attributes) {{
      if (!a.value.includes('{HOST}')) continue;
      if (/^(href|xlink:href)$/i.test(a.name) && el.tagName.toLowerCase() === 'a') {{
        if (el.textContent.trim() !== decodeURI(a.value)) out.push(`disguised link: ${{el.outerHTML}}`);
      }} else if (/^(src|srcset|href|xlink:href|poster|data|action|style|background)$/i.test(a.name)) {{
        out.push(`fetches: ${{el.tagName}} ${{a.name}}=${{a.value}}`);
      }}
    }}
  }}
  return out;
}}"""


@pytest.fixture(scope="module")
def app_home(tmp_path_factory) -> Path:
    """The demo and a dataset named with the payload (the newest, so the sidebar and the form pick it),
    two finished jobs with curves and a failed one whose error quotes its name, all named with it."""
    home = tmp_path_factory.mktemp("e2e-injection")
    ws = Workspace(home)
    seed_demo(ws)
    import_dataset(ws, DATASET, home / "demo-source" / "train.csv", author="e2e")
    store = jobs.JobStore(str(home))
    config = training.validate({"workspace": str(home), "dataset": DATASET, "max_length": 64}).to_dict()
    for i, lr in enumerate((3e-3, 1e-3), start=1):
        job = store.create(name=f"{JOB} {i}", command=["true"], kind="train", config={**config, "lr": lr})
        records = [
            {"kind": "train", "step": s, "max_steps": 10, "epoch": s / 10, "loss": 2.0 / s, "lr": lr, "wall_s": s}
            for s in range(1, 11)
        ]
        (Path(job.run_dir) / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        store.transition(job.id, jobs.RUNNING, pid=None)
        store.transition(job.id, jobs.SUCCEEDED, exit_code=0)
    failed = store.create(name=f"{JOB} 3", command=["true"], kind="train", config=config)
    store.transition(failed.id, jobs.RUNNING, pid=None)
    store.transition(failed.id, jobs.FAILED, exit_code=2, error=f"error: dataset {DATASET} broke\nlast line {JOB}")
    return home


def test_names_with_markdown_and_html_are_shown_as_text(page, app_url) -> None:
    page.goto(f"{app_url}/train")
    wait_for_app(page)
    open_form(page)
    # The form names the dataset it trains on, exactly as typed.
    caption = page.locator('[data-testid="stCaptionContainer"]').filter(has_text="Trains on")
    expect(caption).to_contain_text(DATASET)
    expect(page.locator(".st-key-train_submit button")).to_contain_text(DATASET)
    # The failed job (the newest) is in the Job panel: its error's first line, as text.
    expect(page.locator('[data-testid="stAlert"]').filter(has_text="broke")).to_contain_text(
        f"error: dataset {DATASET} broke"
    )
    # Both finished runs are overlaid: the config diff names them and the legends show them as text.
    expect(page.locator('[data-testid="stMarkdownContainer"]').filter(has_text="Config diff")).to_contain_text(
        f"{JOB} 1"
    )
    legend = page.locator('[data-testid="stPlotlyChart"] .legendtext')
    expect(legend.first).to_be_visible()
    assert any(JOB in text for text in legend.all_text_contents()), legend.all_text_contents()
    page.wait_for_timeout(1000)  # anything an image would fetch has been asked for by now
    assert page.evaluate(POINTING_AT_HOST_JS) == []
