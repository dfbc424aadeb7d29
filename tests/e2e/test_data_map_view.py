"""Browser: the Data view's data map from a real demo run, a lasso drawn on it with the mouse, the lassoed rows in
the row table, and a relabel from there in the audit log with its author."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.analysis import datamap
from core.data.importing import seed_demo
from core.store.workspace import Split, Workspace
from core.train.training import train
from tests.e2e.app_utils import settled, wait_for_app

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: Half the side of the lasso's square around the chosen point, in pixels.
REACH = 7

#: For each candidate id, the page position of its point and the ids of the points surely inside a lasso square of
#: half-side ``reach`` around it (``near``) and of those that may be (``around``, a few pixels of marker size and
#: mouse path more); returns the candidate with the fewest neighbours (a lasso there selects few rows).
PICK_JS = """([candidates, reach]) => {
  const gd = document.querySelector('.st-key-dm_chart .js-plotly-plot');
  const trace = gd._fullData[0], xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  const pos = (i) => [box.left + xa._offset + xa.l2p(trace.x[i]), box.top + ya._offset + ya.l2p(trace.y[i])];
  const ids = trace.customdata.map((c) => String(c[0]));
  let best = null;
  for (const id of candidates) {
    const i = ids.indexOf(id);
    if (i < 0) continue;
    const [x, y] = pos(i);
    const within = (margin) => ids.filter((_, j) => {
      const [a, b] = pos(j);
      return Math.abs(a - x) < margin && Math.abs(b - y) < margin;
    });
    const near = within(reach - 2), around = within(reach + 3);
    if (best === null || around.length < best.around.length) best = {id, x, y, near, around};
  }
  return best;
}"""


@pytest.fixture(scope="module")
def app_home(tmp_path_factory):
    """The demo workspace with one quick run of the tiny model (150 train rows, 3 epochs) in runs/."""
    home = tmp_path_factory.mktemp("e2e-dm-ws")
    ws = Workspace(home)
    info = seed_demo(ws)
    default = ws.split(info.id)
    assert default is not None
    ws.save_split(info.id, Split("small", 1, 0.3, 0, default.train_ids[:150], default.dev_ids[:60], "", "test"))
    config = {"workspace": str(home), "split": "small", "epochs": 3, "batch_size": 16, "early_stopping_patience": 0}
    assert train(config, home / "runs" / "quick")["status"] == "succeeded"
    return home


def test_lasso_on_the_data_map_then_relabel(page, app_url, app_home, screenshot_dir):
    found = datamap.run_data_map(app_home / "runs" / "quick", root=app_home).table
    wrong = found[found["model_label"].notna() & (found["model_label"] != found["label"])]
    assert len(wrong) > 0

    page.goto(app_url)
    wait_for_app(page)
    name = page.locator(".st-key-author input")
    name.fill("e2e-mapper")
    name.press("Enter")
    wait_for_app(page)
    page.locator(".st-key-data_section button", has_text="Flags").first.click()
    wait_for_app(page)
    page.locator(".st-key-flag_kind button", has_text="Data map").first.click()
    settled(page)
    chart = page.locator(".st-key-dm_chart .js-plotly-plot")
    chart.wait_for(timeout=30_000)
    chart.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('.st-key-dm_chart .js-plotly-plot')._fullData")
    page.screenshot(path=str(screenshot_dir / "data-map.png"), full_page=False)

    target = page.evaluate(PICK_JS, [wrong["id"].astype(str).tolist(), REACH])
    assert target is not None and target["id"] in target["near"]
    x, y = target["x"], target["y"]
    page.mouse.move(x - REACH, y - REACH)
    page.mouse.down()
    for cx, cy in ((x + REACH, y - REACH), (x + REACH, y + REACH), (x - REACH, y + REACH), (x - REACH, y - REACH)):
        page.mouse.move(cx, cy, steps=4)
    page.mouse.up()
    settled(page)
    caption = page.get_by_text(re.compile(r"^\d+ rows selected on the map"))
    expect(caption).to_be_visible(timeout=30_000)
    n = int(caption.inner_text().split()[0])
    assert len(target["near"]) <= n <= len(target["around"])
    relabel = page.locator(".st-key-dm_relabel_shown button")
    expect(relabel).to_contain_text(f"Relabel all {n} shown")
    if n > 20:  # a bulk change of more rows waits for its confirmation
        page.locator(f".st-key-dm_relabel_shown_confirm_{n} label").click()
        settled(page)
    relabel.click()
    wait_for_app(page)
    page.wait_for_selector('[data-testid="stAlertContentSuccess"]', timeout=30_000)
    assert "Saved change" in page.locator('[data-testid="stAlertContentSuccess"]').first.inner_text()

    ws = Workspace(app_home)
    log = ws.corrections(ws.datasets()[0].id)
    fixes = log[log["reason"] == "data map: relabelled (bulk)"].set_index("row_id")
    row = wrong.set_index("id").loc[target["id"]]
    assert fixes.loc[target["id"], "after"] == row["model_label"]
    assert fixes.loc[target["id"], "before"] == row["label"]
    assert set(fixes["author"]) == {"e2e-mapper"} and set(fixes.index) <= set(target["around"])
