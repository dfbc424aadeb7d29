"""AppTest: the Train page's form submits a job that shows in the job table; bad configs are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import jobs
from core.data.importing import DEMO_NAME, import_dataset, seed_demo
from core.data.splits import create_split
from core.jobs.store import now
from core.serve import display
from core.store.workspace import Workspace

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
    at.button(key="train_submit").click().run()
    assert not at.exception, at.exception
    assert any("apptest job" in i.value and "queued" in i.value for i in at.info), [e.value for e in at.error]
    table = at.dataframe[0].value
    row = table[table["job"] == "apptest job"].iloc[0]
    assert "queued" in row["status"] and row["format"] == "entity_marker"
    job = jobs.JobStore(str(home)).list_jobs()[0]
    assert job.config["epochs"] == 2.0 and job.config["input_format"] == "entity_marker"

    at.button(key=f"cancel_{job.id}").click().run()
    assert jobs.JobStore(str(home)).get_job(job.id).status == "cancelled"


def test_bad_config_is_refused_before_a_job_exists(train_app, make_app):
    _, home = train_app
    # The model picker takes typed values (accept_new_options). AppTest can only type one through the session
    # state, and only before the picker is first drawn (it looks the value up among the drawn options).
    at = make_app(home)
    at.session_state["cfg_model"] = "./no/such/model/folder"
    at.switch_page("views/train.py").run()
    assert at.selectbox(key="cfg_model").value == "./no/such/model/folder"
    at.button(key="train_submit").click().run()
    assert any("no/such/model" in e.value for e in at.error), [e.value for e in at.error]
    assert jobs.JobStore(str(home)).list_jobs() == []


@pytest.fixture
def two_datasets_app(tmp_path, make_app, monkeypatch):
    """A workspace that already holds two datasets (the demo first, a second import newest)."""
    monkeypatch.setenv("RESTUDIO_MAX_CPU_JOBS", "0")
    home = tmp_path / "ws"
    ws = Workspace(home)
    demo = seed_demo(ws)
    import_dataset(ws, "second", home / "demo-source" / "train.csv", author="t")
    create_split(ws, demo.id, name="other", dev_fraction=0.2, seed=7)
    at = make_app(home)
    at.switch_page("views/train.py").run()
    assert not at.exception, at.exception
    return at, home


def submit(at, name: str) -> None:
    at.text_input(key="train_name").set_value(name)
    at.button(key="train_submit").click().run()
    assert not at.exception, at.exception


def test_form_names_its_dataset_and_split_and_trains_on_them(two_datasets_app):
    at, home = two_datasets_app
    # A new session's sidebar picks the newest dataset; the form says so and lets the person change it.
    assert at.selectbox(key="dataset").value == "second"
    assert at.selectbox(key="train_dataset").value == "second"
    assert at.selectbox(key="train_split").options == ["default"]
    at.selectbox(key="train_dataset").set_value(DEMO_NAME).run()
    assert sorted(at.selectbox(key="train_split").options) == ["default", "other"]
    at.selectbox(key="train_split").set_value("other").run()
    assert any("Trains on **demo \\(synthetic" in c.value and "split **other**" in c.value for c in at.caption)
    # Markdown-escaped: a button label draws markdown (an image in a name would be fetched).
    assert f"{display.plain(DEMO_NAME)} · other" in at.button(key="train_submit").label
    submit(at, "on demo")
    job = jobs.JobStore(str(home)).list_jobs()[0]
    assert (job.config["dataset"], job.config["split"]) == (DEMO_NAME, "other")
    # The sidebar's dataset did not change behind the person's back.
    assert at.selectbox(key="dataset").value == "second"


def test_second_job_in_one_session_is_shown_by_default(train_app):
    at, home = train_app
    submit(at, "first")
    submit(at, "second")
    store = jobs.JobStore(str(home))
    first, second = store.list_jobs()
    assert at.selectbox(key="train_detail").value == second.id
    assert at.multiselect(key="train_runs").value[0] == f"#{second.id} second"
    assert f"#{first.id} first" in at.multiselect(key="train_runs").value
    assert not any("Pick runs" in c.value for c in at.caption)
    assert any(f"#{second.id} second is queued" in i.value for i in at.info)
    assert at.dataframe[0].value["id"].tolist()[0] == second.id  # newest first

    # A job submitted elsewhere (the CLI, a teammate) is picked up too.
    third = store.create(name="from cli", command=["true"], kind="train", config={"model": "tiny"})
    at.run()
    assert at.selectbox(key="train_detail").value == third.id
    assert at.multiselect(key="train_runs").value[0] == f"#{third.id} from cli"


def test_messages_follow_the_job_state(train_app):
    at, home = train_app
    submit(at, "watched")
    store = jobs.JobStore(str(home))
    job = store.list_jobs()[0]
    assert any("is queued" in i.value for i in at.info)

    store.transition(job.id, jobs.RUNNING, pid=None, started_at=now())
    store.update(job.id, cancel_requested_at=now())
    at.run()
    table = at.dataframe[0].value
    assert table.loc[table["id"] == job.id, "status"].item() == "cancelling"
    assert at.button(key=f"cancel_{job.id}").disabled
    assert any("is cancelling" in w.value for w in at.warning)
    assert not any("is queued" in i.value or "is running" in i.value for i in at.info)

    store.transition(job.id, jobs.SUCCEEDED, finished_at=now())
    at.run()
    assert any(f"#{job.id} watched succeeded" in s.value for s in at.success)
    assert not any("is cancelling" in w.value for w in at.warning)
    row = at.dataframe[0].value.iloc[0]
    assert row["status"] == "succeeded" and "%" not in row["resources"] and "MB" not in row["resources"]
    assert row["dev micro-F1"] == "" and row["dev AUPRC"] == ""  # no score yet: blank, never "None"
    assert {"model", "format", "created"} <= set(at.dataframe[0].value.columns)
    assert "T" not in row["created"]  # a readable local time, not a raw ISO string


def test_a_cancel_that_left_predictions_offers_to_make_them(train_app):
    at, home = train_app
    submit(at, "cut short")
    store = jobs.JobStore(str(home))
    job = store.list_jobs()[0]
    store.transition(job.id, jobs.RUNNING, pid=None, started_at=now())
    store.update(job.id, cancel_requested_at=now())
    summary = {
        "status": "cancelled",
        "dev": None,
        "pending_predictions": ["dev_predictions.csv", "test_predictions.csv"],
    }
    (Path(job.run_dir) / "summary.json").write_text(json.dumps(summary))
    store.transition(job.id, jobs.CANCELLED, finished_at=now())
    at.run()
    assert not at.exception, at.exception
    assert any("2 prediction file(s) are left" in i.value for i in at.info)
    assert any("dev_predictions.csv, test_predictions.csv" in w.value for w in at.warning)
    at.button(key=f"predict_{job.id}").click().run()
    assert not at.exception, at.exception
    predict = store.list_jobs()[-1]
    assert predict.kind == "predict" and predict.status == "queued"
    assert at.selectbox(key="train_detail").value == predict.id
    # A predict job trains nothing: no curves of its own, nothing to re-run with edits.
    assert f"#{predict.id} {predict.name}" not in at.multiselect(key="train_runs").options
    assert not [b for b in at.button if b.key == f"rerun_{predict.id}"]
