"""AppTest: the label-issue table (from a real k-fold run) renders, a bulk relabel lands in the audit log,
and retraining from the cleaned revision queues a job."""

from __future__ import annotations

import pytest

from core import jobs
from core.store.workspace import Workspace
from tests.helpers.workspaces import demo_with_crossval

pytestmark = [pytest.mark.apptest, pytest.mark.slow]


@pytest.fixture(scope="module")
def cv_home(tmp_path_factory):
    return demo_with_crossval(tmp_path_factory.mktemp("cv-ws"))


def test_label_issue_table_and_bulk_relabel(cv_home, make_app, monkeypatch):
    monkeypatch.setenv("RESTUDIO_MAX_CPU_JOBS", "0")  # the retrain job stays queued
    at = make_app(cv_home, author="ann", section="Flags")
    at.segmented_control(key="flag_kind").set_value("Label issues").run()
    assert not at.exception, at.exception
    table = next(df for df in at.dataframe if "suggested_label" in df.value.columns).value
    assert len(table) > 0 and {"id", "label", "suggested_label", "quality"} <= set(table.columns)

    confirm = next((c for c in at.checkbox if c.key and c.key.startswith("li_relabel_shown_confirm_")), None)
    if confirm is not None:  # a bulk relabel of more than 20 rows waits for its confirmation
        confirm.check().run()
    at.button(key="li_relabel_shown").click().run()
    assert not at.exception, at.exception
    assert any("Saved change" in s.value for s in at.success), ([e.value for e in at.error], [i.value for i in at.info])
    ws = Workspace(cv_home)
    log = ws.corrections(ws.datasets()[0].id)
    relabels = log[log["reason"] == "label issue: relabelled (bulk)"]
    assert len(relabels) == len(table) and set(relabels["field"]) == {"label"} and set(relabels["author"]) == {"ann"}

    at.segmented_control(key="flag_kind").set_value("Label issues").run()
    at.button(key="li_retrain").click().run()
    assert not at.exception, at.exception
    assert any("Queued job" in s.value for s in at.success), [e.value for e in at.error]
    queued = jobs.JobStore(str(cv_home)).list_jobs(status="queued")
    assert queued and not queued[-1].config.get("folds")
