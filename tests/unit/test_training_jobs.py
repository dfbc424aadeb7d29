"""The real trainer through the job system: a tiny job finishes with every file of the run folder and
>= 80 dev micro-F1; SIGKILL is noticed within 10 s (and a fresh AppTest still lists the job); cancel works."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from core import jobs
from core.common.schema import KLUE_LABELS
from core.data.importing import seed_demo
from core.store.workspace import Workspace
from core.train import training

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
RUN_FILES = ("config.json", "metrics.jsonl", "train.log", "dev_predictions.csv", "test_predictions.csv", "summary.json")


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("train-ws")
    seed_demo(Workspace(root))
    return str(root)


def _wait(store: jobs.JobStore, job_id: int, until, timeout: float) -> jobs.Job:
    backend = jobs.LocalBackend(store, max_cpu_jobs=1, grace_s=10)
    deadline = time.monotonic() + timeout
    while True:
        backend.reconcile()
        job = store.get_job(job_id)
        if until(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


def test_tiny_job_finishes_with_every_file_and_reaches_80(home):
    store = jobs.JobStore(home)
    config = training.validate({"workspace": home}).to_dict()  # the defaults are the demo recipe
    job = jobs.submit_training(store, config, name="ci tiny", backend=jobs.LocalBackend(store, max_cpu_jobs=1))
    job = _wait(store, job.id, lambda j: j.is_final, timeout=900)
    assert job.status == "succeeded", job.error
    run = Path(job.run_dir)
    for name in RUN_FILES:
        assert (run / name).stat().st_size > 0, name
    assert (run / "checkpoint" / "model.safetensors").exists()
    summary = json.loads((run / "summary.json").read_text())
    print(
        f"\ndemo-dev micro-F1 {summary['dev']['micro_f1']:.2f}, AUPRC {summary['dev']['auprc']:.2f}, "
        f"{summary['wall_s']:.0f} s"
    )
    assert summary["status"] == "succeeded" and summary["dev"]["micro_f1"] >= 80
    dev = pd.read_csv(run / "dev_predictions.csv")
    assert list(dev.columns) == ["id", "pred_label", "probs"] and len(dev) == summary["dev"]["n"]
    assert len(json.loads(dev["probs"].iloc[0])) == len(KLUE_LABELS)
    assert len(pd.read_csv(run / "test_predictions.csv")) == 800


def test_sigkill_is_noticed_within_10s_and_a_fresh_apptest_lists_it(home, monkeypatch):
    store = jobs.JobStore(home)
    config = training.validate({"workspace": home, "epochs": 50}).to_dict()
    job = jobs.submit_training(store, config, name="to be killed", backend=jobs.LocalBackend(store, max_cpu_jobs=1))
    job = _wait(store, job.id, lambda j: j.status == "running" and (Path(j.run_dir) / "metrics.jsonl").exists(), 300)
    assert job.status == "running"
    os.killpg(job.pgid, signal.SIGKILL)  # the wrapper and the trainer, as the OOM killer would
    killed_at = time.monotonic()
    job = _wait(store, job.id, lambda j: j.is_final, timeout=10)
    assert job.status in ("failed", "lost") and time.monotonic() - killed_at <= 10

    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("RESTUDIO_HOME", home)
    monkeypatch.setenv("RESTUDIO_NO_WATCHER", "1")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("views/train.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert job.status in table.loc[table["id"] == job.id, "status"].iloc[0]


def test_cancel_stops_a_running_job_and_saves(home):
    store = jobs.JobStore(home)
    config = training.validate({"workspace": home, "epochs": 50}).to_dict()
    job = jobs.submit_training(store, config, name="to be cancelled", backend=jobs.LocalBackend(store, max_cpu_jobs=1))
    job = _wait(store, job.id, lambda j: j.status == "running" and (Path(j.run_dir) / "metrics.jsonl").exists(), 300)
    started = time.monotonic()
    jobs.cancel_job(home, job.id, wait=True, grace_s=20)
    job = _wait(store, job.id, lambda j: j.is_final, timeout=30)
    assert job.status == "cancelled" and time.monotonic() - started <= 30
    summary = json.loads((Path(job.run_dir) / "summary.json").read_text())
    assert summary["status"] == "cancelled"
