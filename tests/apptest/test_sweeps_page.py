"""AppTest: the Train page's sweeps. A workspace that already holds a finished sweep (three real tiny trials) shows
its trials, Optuna's figures (the importance one included) and trains the best config; the form refuses a bad
space naming the option, and starts a sweep whose driver runs as a background job and can be stopped."""

from __future__ import annotations

import time

import pytest

from core import jobs
from core.train import sweep
from tests.helpers.workspaces import demo_workspace

pytestmark = pytest.mark.apptest
TINY = {"max_steps": 30, "eval_steps": 15, "early_stopping_patience": 0, "cpu_threads": 1, "record_dynamics": False}


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A demo workspace with one finished 3-trial sweep over the learning rate, driven here as the CLI would."""
    home = demo_workspace(tmp_path_factory.mktemp("sweep-ws"))
    space = {"lr": {"low": 1.0e-3, "high": 1.0e-2, "log": True}, "scheduler": ["linear", "cosine"]}
    name = sweep.create_sweep(home, TINY, space, sweep.SweepOptions(trials=3, pruner="none", seed=1))
    status = sweep.drive(home, name, poll_s=0.5)
    assert status.state == sweep.FINISHED and status.count("complete") == 3, status
    return home, name


def _open_train(make_app, home, monkeypatch):
    monkeypatch.setenv("RESTUDIO_MAX_CPU_JOBS", "0")  # what the page submits stays queued
    at = make_app(home, author="sweeper")
    at.switch_page("views/train.py").run()
    assert not at.exception, at.exception
    return at


def test_a_finished_sweep_shows_its_trials_figures_and_trains_the_best_config(swept, make_app, monkeypatch):
    home, name = swept
    at = _open_train(make_app, home, monkeypatch)
    assert at.selectbox(key="sweep_pick").value == name
    table = next(d.value for d in at.dataframe if "dev micro-F1" in d.value.columns and "trial" in d.value.columns)
    status = sweep.sweep_status(home, name)
    assert len(table) == 3 and table["state"].str.contains("complete").all()
    assert table["dev micro-F1"].iloc[0] == pytest.approx(status.best.micro_f1)  # best first
    assert set(table.columns) >= {"lr", "scheduler", "pruned at", "job"}
    assert at.get("plotly_chart"), "the optimisation history is drawn by default"

    for figure in ("Trial curves", "Parallel coordinates", "Parameter importances"):
        at.segmented_control(key="sweep_figure").set_value(figure).run()
        assert not at.exception, at.exception
        assert at.get("plotly_chart"), figure
        assert not [e for e in at.info if "need" in e.value], figure

    before = {j.id for j in jobs.JobStore(home).list_jobs()}
    at.button(key=f"sweep_best_{name}").click().run()
    assert not at.exception, at.exception
    new = [j for j in jobs.JobStore(home).list_jobs() if j.id not in before]
    assert len(new) == 1 and new[0].kind == "train" and new[0].owner == "sweeper"
    assert new[0].config["lr"] == pytest.approx(status.best.params["lr"]) and new[0].config["max_steps"] == 30
    assert any(f"#{new[0].id}" in t.value for t in at.toast)
    jobs.cancel_job(home, new[0].id)


def test_the_form_refuses_a_bad_space_then_starts_a_sweep_that_can_be_stopped(tmp_path, make_app, monkeypatch):
    home = demo_workspace(tmp_path / "ws")
    at = _open_train(make_app, home, monkeypatch)
    assert "No sweeps yet" in " ".join(c.value for c in at.caption)
    at.text_area(key="sweep_space").set_value("lr: {low: 1.0e-2, high: 1.0e-3}\nwarmup: [0.1]\n")
    at.button(key="sweep_submit").click().run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error).replace("\\", "")  # the view escapes markdown (display.plain)
    assert "lr: low (0.01) must be below high (0.001)" in errors and "did you mean 'warmup_ratio'?" in errors
    assert not sweep.list_sweeps(home)

    at.text_area(key="sweep_fixed").set_value("max_steps: 20\n")
    at.text_area(key="sweep_space").set_value("lr: [3.0e-3, 1.0e-2]\n")
    at.number_input(key="sweep_trials").set_value(2)
    at.button(key="sweep_submit").click().run()
    assert not at.exception, at.exception
    (made,) = sweep.list_sweeps(home)
    assert made.options.trials == 2 and made.base["max_steps"] == 20 and made.owner == "sweeper"
    assert any(made.name in s.value.replace("\\", "") for s in at.success)
    store = jobs.JobStore(home)
    driver = store.get_job(made.driver_job)
    assert driver.kind == "sweep" and driver.status == "running"  # it takes no CPU slot (there are none here)
    try:
        # The base config's values wait as trial 0 until the driver asks for it; its job then waits in the queue.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(t.job_id for t in sweep.sweep_status(home, made.name).trials):
            time.sleep(0.5)
        at.run()
        table = next(d.value for d in at.dataframe if "trial" in d.value.columns and "state" in d.value.columns)
        assert table["state"].str.contains("running").tolist() == [True]
        at.button(key=f"sweep_stop_{made.name}").click().run()
        assert not at.exception, at.exception
        assert any("Stopping" in t.value for t in at.toast)
    finally:
        backend = jobs.LocalBackend(store)
        deadline = time.monotonic() + 60
        while not store.get_job(driver.id).is_final and time.monotonic() < deadline:
            backend.reconcile()
            time.sleep(0.5)
    assert store.get_job(driver.id).status == "cancelled"
    status = sweep.sweep_status(home, made.name)
    assert status.state == sweep.PAUSED and status.count("failed") == 1 and status.count("running") == 0
    assert all(j.is_final for j in store.list_jobs(group_id=made.name))
    at.run()
    assert at.button(key=f"sweep_resume_{made.name}") is not None
