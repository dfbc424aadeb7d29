"""AppTest: the Train page's form submits a job that shows in the job table; bad configs are refused."""

from __future__ import annotations

import pytest

from core import jobs
from core.importing import seed_demo
from core.workspace import Workspace

pytestmark = pytest.mark.apptest


@pytest.fixture
def train_app(tmp_path, make_app, monkeypatch):
    monkeypatch.setenv("RESTUDIO_MAX_CPU_JOBS", "0")  # no CPU slot: the job stays queued, nothing trains
    home = tmp_path / "ws"
    seed_demo(Workspace(home))
    at = make_app(home)
    at.switch_page("views/train.py").run()
    assert not at.exception, at.exception
    return at, home


def test_submit_job_from_form_and_see_it_in_the_table(train_app):
    at, home = train_app
    assert at.title[0].value == "Train"
    at.selectbox(key="train_preset").set_value("tiny demo, entity markers").run()
    assert at.selectbox(key="cfg_input_format").value == "entity_marker"
    at.text_input(key="train_name").set_value("apptest job")
    at.number_input(key="cfg_epochs").set_value(2.0)
    next(b for b in at.button if b.label == "Submit job").click().run()
    assert not at.exception, at.exception
    assert any("apptest job" in s.value for s in at.success), [e.value for e in at.error]
    table = at.dataframe[0].value
    row = table[table["job"] == "apptest job"].iloc[0]
    assert "queued" in row["status"] and row["format"] == "entity_marker"
    job = jobs.JobStore(str(home)).list_jobs()[0]
    assert job.config["epochs"] == 2.0 and job.config["input_format"] == "entity_marker"

    at.button(key=f"cancel_{job.id}").click().run()
    assert jobs.JobStore(str(home)).get_job(job.id).status == "cancelled"


def test_bad_config_is_refused_before_a_job_exists(train_app):
    at, home = train_app
    at.text_input(key="cfg_model").set_value("./no/such/model/folder")
    next(b for b in at.button if b.label == "Submit job").click().run()
    assert any("no/such/model" in e.value for e in at.error), [e.value for e in at.error]
    assert jobs.JobStore(str(home)).list_jobs() == []
