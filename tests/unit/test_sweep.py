"""Hyperparameter sweeps: the search space is checked like a config; a sweep of tiny trials runs through the job
system with its driver as a background job, prunes a trial that cannot win, survives its driver being killed (as
a restart would) and resumes without rerunning the trial that was running; the CLI prints its trials as JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import jobs
from core.train import sweep
from core.train.config import ConfigError
from core.train.sweep_space import Dimension, contains, parse_space
from tests.helpers.workspaces import demo_workspace

ROOT = Path(__file__).resolve().parents[2]
#: Tiny trials: 120 steps with an evaluation every 15, so a bad trial has evaluations to be pruned at.
BASE = {"max_steps": 120, "eval_steps": 15, "early_stopping_patience": 0, "cpu_threads": 1, "record_dynamics": False}


# -- the search space -------------------------------------------------------------------------------------


def test_a_space_file_reads_ranges_by_their_bounds_type_and_choices():
    dims = parse_space(
        {
            "lr": {"low": 1.0e-4, "high": 1.0e-2, "log": True},
            "epochs": {"low": 2, "high": 6},
            "warmup_ratio": {"low": 0.0, "high": 0.3, "step": 0.1},
            "scheduler": ["linear", "cosine"],
            "restrict_types": [True, False],
        }
    )
    assert dims["lr"] == Dimension("lr", "float", low=1e-4, high=1e-2, log=True)
    assert dims["epochs"].kind == "int" and dims["warmup_ratio"].step == 0.1
    assert dims["scheduler"].choices == ("linear", "cosine") and dims["restrict_types"].choices == (True, False)
    assert contains(dims["epochs"], 3) and not contains(dims["epochs"], 3.5) and not contains(dims["lr"], 0.1)
    assert contains(dims["warmup_ratio"], 0.2) and not contains(dims["warmup_ratio"], 0.15)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"learning_rate": {"low": 0.1, "high": 0.2}}, "unknown option 'learning_rate'"),
        ({"lr": {"low": 1.0e-2, "high": 1.0e-4}}, "low (0.01) must be below high (0.0001)"),
        ({"lr": {"low": 0.0, "high": 1.0e-2, "log": True}}, "a log range needs low above 0"),
        ({"lr": {"low": "1e-4", "high": 1.0e-2}}, "lr: low must be a number"),
        ({"scheduler": {"low": 1, "high": 2}}, "scheduler is not a number"),
        ({"scheduler": ["linear", "cosine_warm"]}, "scheduler 'cosine_warm' is not one of"),
        ({"batch_size": {"low": 8.5, "high": 64.0}}, "batch_size is a whole number"),
        ({"dropout": {"low": 0.0, "high": 1.5}}, "dropout must be in [0, 1)"),
        ({"dataset": ["a", "b"]}, "dataset is fixed by the base config"),
        ({"lr": {"low": 1.0e-4, "hi": 1.0e-2}}, "unknown range key 'hi'"),
        ({"batch_size": []}, "the list of choices is empty"),
    ],
)
def test_a_bad_space_is_refused_naming_the_file_and_the_option(space, message):
    with pytest.raises(ConfigError) as err:
        parse_space(space, source="space.yaml")
    assert str(err.value).startswith("space.yaml: ") and message in str(err.value)


def test_the_cli_refuses_a_bad_space_in_one_line(tmp_path):
    home = demo_workspace(tmp_path / "ws")
    (tmp_path / "space.yaml").write_text("lr: {low: 1.0e-2, high: 1.0e-4}\nwarmup: [0.1]\n")
    out = subprocess.run(
        [sys.executable, "-m", "core", "sweep", "--space", str(tmp_path / "space.yaml"), "--home", str(home)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{tmp_path / 'space.yaml'}: lr: low (0.01) must be below high (0.0001)" in out.stderr
    assert "unknown option 'warmup' (did you mean 'warmup_ratio'?)" in out.stderr
    assert not sweep.list_sweeps(home)  # nothing was stored


# -- a sweep through the job system ------------------------------------------------------------------------


def _wait(home: Path, name: str, until, timeout: float) -> sweep.SweepStatus:
    """Reconcile the jobs (the app's watcher would) until ``until(status)``."""
    watcher = jobs.Watcher(home)
    deadline = time.monotonic() + timeout
    while True:
        watcher.tick()
        status = sweep.sweep_status(home, name)
        if until(status) or time.monotonic() > deadline:
            return status
        time.sleep(0.5)


@pytest.mark.slow
def test_a_sweep_runs_as_jobs_prunes_a_hopeless_trial_survives_a_killed_driver_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("RESTUDIO_MAX_CPU_JOBS", "1")  # one trial at a time: the driver must not take the slot
    home = demo_workspace(tmp_path / "ws")
    # The base lr (3e-3) is the first trial; the others draw learning rates far too small to learn anything.
    space = {"lr": [3.0e-3, 1.0e-9, 2.0e-9]}
    options = sweep.SweepOptions(trials=4, startup_trials=1, warmup_evals=1, seed=3)
    name, driver = sweep.start_sweep(home, BASE, space, options)
    assert driver.kind == "sweep"

    # The driver runs as a job next to its trial, though the CPU queue has one slot.
    store = jobs.JobStore(home)

    def trial_job_running(s: sweep.SweepStatus) -> bool:  # the trial's job started, not only queued
        live = [t for t in s.trials if t.state == "running" and t.job_id]
        return s.count("complete") >= 1 and len(live) == 1 and store.get_job(live[0].job_id).status == "running"

    status = _wait(home, name, trial_job_running, 240)
    assert status.state == sweep.RUNNING and status.trials[0].params == {"lr": 3.0e-3}
    assert status.trials[0].micro_f1 is not None and status.trials[0].micro_f1 > 20
    running = {j.kind for j in store.list_jobs(status=jobs.RUNNING)}
    assert running == {"sweep", "train"}

    # Kill the driver as a reboot would; its running trial's job carries on by itself.
    in_flight = next(t for t in status.trials if t.state == "running")
    driver = store.get_job(driver.id)
    os.killpg(driver.pgid, signal.SIGKILL)
    status = _wait(home, name, lambda s: s.state == sweep.PAUSED, 30)
    assert status.state == sweep.PAUSED
    assert store.get_job(driver.id).status == "lost"
    assert store.get_job(in_flight.job_id).status in ("running", "succeeded")

    # A second driver while one runs is refused; the resumed one picks the running trial up.
    again = sweep.resume_sweep(home, name)
    with pytest.raises(sweep.SweepError, match="already running"):
        sweep.resume_sweep(home, name)
    status = _wait(home, name, lambda s: s.state == sweep.FINISHED and store.get_job(again.id).is_final, 400)
    assert status.state == sweep.FINISHED, status
    assert store.get_job(again.id).status == "succeeded"  # the driver ends once the sweep has
    assert [t.number for t in status.trials] == [0, 1, 2, 3]
    assert next(t for t in status.trials if t.number == in_flight.number).job_id == in_flight.job_id
    assert len({t.job_id for t in status.trials}) == 4  # no trial ran twice
    pruned = [t for t in status.trials if t.state == "pruned"]
    assert pruned, [(t.number, t.state, t.params, t.evals) for t in status.trials]
    for trial in pruned:
        assert trial.params["lr"] < 1e-8 and trial.pruned_eval is not None and trial.pruned_eval < 8
        assert store.get_job(trial.job_id).status in ("cancelled", "succeeded")
    assert status.best is not None and status.best.params == {"lr": 3.0e-3}

    # The CLI prints the trials best first; the best config trains into a normal run.
    out = subprocess.run(
        [sys.executable, "-m", "core", "sweep", "--status", name, "--json", "--home", str(home)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    report = json.loads(out.stdout)
    assert report["trials"][0]["number"] == status.best.number and report["counts"]["pruned"] == len(pruned)
    assert report["trials"][0]["micro_f1"] == pytest.approx(status.best.micro_f1)
    best = sweep.train_best(home, name)
    assert best.kind == "train" and best.group_id is None and best.config["lr"] == 3.0e-3
    assert best.config["max_steps"] == 120
    figures = sweep.figures(home, name)
    assert set(figures) == {"history", "intermediate", "parallel", "importance"}
    jobs.cancel_job(store, best.id, wait=True, grace_s=5)


@pytest.mark.slow
def test_the_cli_runs_a_sweep_here_and_prints_json(tmp_path):
    home = demo_workspace(tmp_path / "ws")
    (tmp_path / "base.yaml").write_text(json.dumps({**BASE, "max_steps": 30}))
    (tmp_path / "space.yaml").write_text("warmup_ratio: {low: 0.0, high: 0.2}\n")
    out = subprocess.run(
        [sys.executable, "-m", "core", "sweep", str(tmp_path / "base.yaml"), "--space", str(tmp_path / "space.yaml"),
         "--trials", "2", "--pruner", "none", "--json", "--home", str(home)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["state"] == "finished"
    assert report["counts"] == {"complete": 2, "pruned": 0, "failed": 0, "running": 0, "waiting": 0}
    assert report["trials"][0]["params"] == {"warmup_ratio": 0.1}  # the base config's own value, tried first
    scores = [t["micro_f1"] for t in report["trials"]]
    assert scores == sorted(scores, reverse=True)
    assert "trial 1: job #" in out.stderr


@pytest.mark.slow
def test_stop_reaches_a_driver_running_in_a_shell(tmp_path):
    """``--stop`` (or the view's Stop) while ``python -m core sweep`` drives in a terminal: that driver cancels its
    running trial and ends with the sweep paused; ``--resume`` would continue it."""
    home = demo_workspace(tmp_path / "ws")
    name = sweep.create_sweep(home, {**BASE, "max_steps": 400}, {"lr": [3.0e-3]}, sweep.SweepOptions(trials=2))
    driver = subprocess.Popen(
        [sys.executable, "-m", "core", "sweep", "--resume", name, "--home", str(home)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status = _wait(home, name, lambda s: any(t.job_id for t in s.trials), 60)
        assert status.state == sweep.RUNNING and status.driver_job is None  # a shell drives it, not a job
        with pytest.raises(sweep.SweepError, match="driven by `python -m core sweep` in a shell"):
            sweep.resume_sweep(home, name)
        sweep.stop_sweep(home, name)
        output, _ = driver.communicate(timeout=60)
    finally:
        driver.kill()
    assert driver.returncode == 143, output
    assert "stopped" in output
    status = _wait(home, name, lambda s: all(j.is_final for j in jobs.JobStore(home).list_jobs(group_id=name)), 60)
    assert status.state == sweep.PAUSED and status.count("failed") == 1 and status.count("running") == 0
    assert status.trials[0].error == "sweep stopped"
    assert jobs.JobStore(home).get_job(status.trials[0].job_id).status == "cancelled"


def test_fixed_options_are_set_over_the_base_and_bad_text_is_refused(tmp_path):
    home = demo_workspace(tmp_path / "ws")
    name = sweep.create_sweep(home, BASE, {"lr": [3.0e-3]}, fixed="max_steps: 50\nseed: 7\n")
    status = sweep.sweep_status(home, name)
    assert status.base["max_steps"] == 50 and status.base["seed"] == 7 and status.base["eval_steps"] == 15
    for text, message in (("max_steps: [", "Fixed options: not valid YAML"), ("- 1", "one option per line")):
        with pytest.raises(ConfigError, match=message):
            sweep.create_sweep(home, BASE, {"lr": [3.0e-3]}, fixed=text)
    with pytest.raises(ConfigError, match="Unknown option 'max_stepz'"):
        sweep.create_sweep(home, BASE, {"lr": [3.0e-3]}, fixed="max_stepz: 5")
    assert [s.name for s in sweep.list_sweeps(home)] == [name]
