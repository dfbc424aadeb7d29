"""AppTest: the Train page on a shared server. Viewers cannot launch, cancel, predict or re-run; Ray
jobs go only to the configured clusters; the job table says who launched each job; the form stops at
the limits, the queue at its caps, and a large cross-validation asks first."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from core import jobs
from core.data.importing import seed_demo
from core.store.workspace import Workspace
from core.train import training
from core.train.config import LIMITS

pytestmark = pytest.mark.apptest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RESTUDIO_MAX_CPU_JOBS", "0")  # no CPU slot: jobs stay queued, nothing trains
    home = tmp_path / "ws"
    seed_demo(Workspace(home))
    return home


@pytest.fixture
def server_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def write(text: str) -> None:
        (tmp_path / "restudio.toml").write_text(text, encoding="utf-8")

    monkeypatch.setenv("RESTUDIO_CONFIG", str(tmp_path / "restudio.toml"))
    write("")
    return write


def train_page(make_app, home: Path, **kwargs):
    at = make_app(home, **kwargs)
    at.switch_page("views/train.py").run()
    assert not at.exception, at.exception
    return at


def warnings(at) -> list[str]:
    return [w.value for w in at.warning]


def test_a_read_only_session_cannot_launch_cancel_predict_or_rerun(home: Path, server_toml, make_app) -> None:
    store = jobs.JobStore(str(home))
    config = training.validate({"workspace": str(home)}).to_dict()
    queued = store.create(name="someone's job", command=["true"], kind="train", config=config)
    cut = store.create(name="cut short", command=["true"], kind="train", config=config)
    store.transition(cut.id, jobs.RUNNING, pid=None)
    store.transition(cut.id, jobs.CANCELLED)
    (Path(cut.run_dir) / "summary.json").write_text(
        json.dumps({"status": "cancelled", "dev": None, "pending_predictions": ["dev_predictions.csv"]})
    )
    server_toml("[access]\nread_only = true\n")
    at = train_page(make_app, home)

    at.text_input(key="train_name").set_value("viewer job")
    at.button(key="train_submit").click().run()
    assert not at.exception, at.exception
    assert "Launching jobs is for editors; this session is read-only." in warnings(at)
    assert [j.id for j in store.list_jobs()] == [queued.id, cut.id]  # no job was created

    at.selectbox(key="train_detail").set_value(queued.id).run()
    at.button(key=f"cancel_{queued.id}").click().run()
    assert not at.exception, at.exception
    assert "Cancelling a job is for editors; this session is read-only." in warnings(at)
    assert store.get_job(queued.id).status == jobs.QUEUED and store.get_job(queued.id).cancel_requested_at is None

    at.selectbox(key="train_detail").set_value(cut.id).run()
    at.button(key=f"predict_{cut.id}").click().run()
    assert "Making predictions is for editors; this session is read-only." in warnings(at)
    at.button(key=f"rerun_{cut.id}").click().run()
    assert "Re-running a job is for editors; this session is read-only." in warnings(at)
    assert at.text_input(key="train_name").value == "viewer job"  # the form was not refilled
    assert len(store.list_jobs()) == 2


def test_the_ray_picker_offers_only_the_configured_clusters(home: Path, server_toml, make_app) -> None:
    at = train_page(make_app, home)
    assert at.selectbox(key="train_backend").options == ["local"]
    assert not [t for t in at.text_input if t.key == "train_ray_address"]  # no address is ever typed
    assert any("no cluster is configured" in c.value and r"restudio\.toml" in c.value for c in at.caption)

    with socket.socket() as s:  # a port nothing listens on: the submission fails at once, on this machine
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    server_toml(f'[ray.clusters]\ngpu-a = "{closed}"\ngpu-b = "http://10.0.0.6:8265"\n')
    at.run()
    assert at.selectbox(key="train_backend").options == ["local", "ray"]
    assert at.selectbox(key="train_ray_cluster").options == ["gpu-a", "gpu-b"]
    at.selectbox(key="train_backend").set_value("ray")
    at.selectbox(key="train_ray_cluster").set_value("gpu-a")
    at.text_input(key="train_name").set_value("on the cluster")
    at.button(key="train_submit").click().run()
    assert not at.exception, at.exception
    (job,) = jobs.JobStore(str(home)).list_jobs()
    assert job.backend == "ray" and job.ray_address == closed


def test_the_table_says_who_launched_each_job_and_the_queue_has_a_cap(home: Path, server_toml, make_app) -> None:
    server_toml("[limits]\nmax_queued_per_user = 1\n")
    at = train_page(make_app, home, author="ana@lab.example")
    at.text_input(key="train_name").set_value("first")
    at.button(key="train_submit").click().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert table.loc[table["job"] == "first", "owner"].item() == "ana@lab.example"
    assert jobs.JobStore(str(home)).list_jobs()[0].owner == "ana@lab.example"

    at.text_input(key="train_name").set_value("second")
    at.button(key="train_submit").click().run()
    assert not at.exception, at.exception
    assert any("cap is 1 per person" in e.value for e in at.error), [e.value for e in at.error]
    assert len(jobs.JobStore(str(home)).list_jobs()) == 1


def test_the_form_stops_at_the_limits_and_a_large_crossval_asks_first(home: Path, server_toml, make_app) -> None:
    at = train_page(make_app, home)
    assert at.number_input(key="cfg_batch_size").max == LIMITS["batch_size"]
    assert at.number_input(key="cfg_epochs").max == LIMITS["epochs"]
    assert at.number_input(key="train_folds").max == 10

    at.number_input(key="train_folds").set_value(3).run()
    assert not [c for c in at.checkbox if c.key.startswith("train_confirm_folds")]  # a few folds: no question
    at.number_input(key="train_folds").set_value(7).run()
    assert at.checkbox(key="train_confirm_folds_7").label == "Yes, train 7 models"
    assert at.button(key="train_submit").label.startswith("Submit 7 fold jobs on ")
    at.button(key="train_submit").click().run()
    assert not at.exception, at.exception
    assert any("tick 'Yes, train 7 models'" in w for w in warnings(at))
    assert jobs.JobStore(str(home)).list_jobs() == []

    at.checkbox(key="train_confirm_folds_7").check().run()
    at.button(key="train_submit").click().run()
    assert not at.exception, at.exception
    assert len(jobs.JobStore(str(home)).list_jobs()) == 7
