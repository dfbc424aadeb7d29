"""A cancel always finishes: the stopped run saves its checkpoint and summary, predicts only what fits in its
budget (under the job's grace period), and leaves the rest for ``complete_predictions`` / a predict job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core import cli, jobs
from core.common.schema import KLUE_LABELS
from core.data.demo import write_demo_dataset
from core.data.importing import DEMO_NAME, import_dataset, seed_demo
from core.data.splits import create_split
from core.jobs.processes import group_members
from core.jobs.store import now
from core.store import runs
from core.store.workspace import Workspace
from core.train import callbacks, predict, training
from core.train.config import ConfigError
from core.train.metrics import read_submission
from core.train.model import PredictionStopped, load_run_model, predict_proba

ROOT = Path(__file__).resolve().parents[2]
DEV, TEST = "dev_predictions.csv", "test_predictions.csv"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("cancel-ws"))
    seed_demo(ws)
    return ws


def quick(workspace: Workspace, **options: Any) -> dict[str, Any]:
    """Long enough never to finish by itself, evaluated only when a test says so."""
    return {
        "workspace": str(workspace.root),
        "max_steps": 100_000,
        "batch_size": 8,
        "logging_steps": 1,
        "eval_steps": 100_000,
        "eval_batch_size": 256,
        **options,
    }


def wait_for_step(run: Path, step: int, *, timeout: float = 120.0, alive: Any = None) -> None:
    """Until metrics.jsonl shows a training step >= ``step`` (the trainer is stepping)."""
    deadline = time.monotonic() + timeout
    while True:
        steps = [r.get("step", -1) for r in runs.read_metric_records(run) if r.get("kind") in ("progress", "train")]
        if max(steps, default=-1) >= step:
            return
        if alive is not None and not alive():
            raise AssertionError(f"the run ended before step {step}:\n{runs.log_tail(run / 'train.log')}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no step {step} after {timeout} s:\n{runs.log_tail(run / 'train.log')}")
        time.sleep(0.1)


def dev_rows(workspace: Workspace) -> pd.DataFrame:
    info = workspace.dataset(DEMO_NAME)
    split = workspace.split(info.id)
    assert split is not None
    frame = workspace.current_frame(info.id, "train")
    return frame[frame["id"].astype(str).isin(set(map(str, split.dev_ids)))].reset_index(drop=True)


# -- the pieces ---------------------------------------------------------------------------------------------


def test_job_cancelling_and_the_budget_under_the_grace(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    store = jobs.JobStore(tmp_path / "ws")
    job = store.create(name="x", command=[sys.executable, "-c", "pass"])
    assert not job.cancelling and job.display_status == "queued"
    job = store.update(job.id, status="running", cancel_requested_at=now())
    assert job.cancelling and job.display_status == "cancelling"
    job = store.update(job.id, status="cancelled")
    assert not job.cancelling and job.display_status == "cancelled"

    monkeypatch.delenv(jobs.CANCEL_BUDGET_ENV, raising=False)
    assert jobs.cancel_budget_s(20) == 15 and jobs.cancel_budget_s(8) == 3 and jobs.cancel_budget_s(2) == 0
    monkeypatch.setenv(jobs.CANCEL_BUDGET_ENV, "1.5")  # lowers it, never raises it past the grace
    assert jobs.cancel_budget_s(20) == 1.5 and jobs.cancel_budget_s(4) == 0
    assert callbacks.cancel_budget_s() == 1.5
    monkeypatch.setenv(jobs.CANCEL_BUDGET_ENV, "soon")
    with pytest.raises(ConfigError, match="RESTUDIO_CANCEL_BUDGET_S must be a number"):
        callbacks.cancel_budget_s()
    monkeypatch.delenv(jobs.CANCEL_BUDGET_ENV)
    assert callbacks.cancel_budget_s() == callbacks.DEFAULT_CANCEL_BUDGET_S < jobs.DEFAULT_GRACE_S


def test_predict_proba_stops_between_batches(workspace: Workspace, tmp_path: Path) -> None:
    training.train(quick(workspace, max_steps=1), tmp_path / "run")
    model, tokenizer, meta = load_run_model(tmp_path / "run")
    rows = dev_rows(workspace)
    calls = {"n": 0}

    def after_two_batches() -> bool:
        calls["n"] += 1
        return calls["n"] > 2  # polled once after encoding, then after each batch

    with pytest.raises(PredictionStopped) as info:
        predict_proba(model, tokenizer, rows, meta=meta, batch_size=16, should_stop=after_two_batches)
    assert (info.value.done, info.value.total) == (32, len(rows))
    full = predict_proba(model, tokenizer, rows, meta=meta, batch_size=16, should_stop=lambda: False)
    np.testing.assert_allclose(full.sum(axis=1), 1.0, atol=1e-9)


def test_a_stop_before_the_first_step_ends_the_run_at_once(workspace: Workspace, tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    summary = training.train(quick(workspace), tmp_path / "run", stop=stop)
    assert summary["status"] == "cancelled" and summary["steps"] == 0 and summary["dev"] is None
    assert summary["pending_predictions"] == [] and summary["checkpoint"] is None
    assert "before training started" in summary["note"]
    assert not (tmp_path / "run" / "checkpoint").exists()  # an untrained model is not worth saving
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "cancelled"


def _called_from(name: str) -> bool:
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code.co_name == name:
            return True
        frame = frame.f_back
    return False


def test_a_stop_during_an_evaluation_ends_it_at_once(workspace: Workspace, tmp_path: Path) -> None:
    # The stop arrives while the Trainer evaluates (step 3), after its first dev batch.
    summary = training.train(
        quick(workspace, eval_steps=3, eval_batch_size=8),
        tmp_path / "run",
        stop=lambda: _called_from("evaluation_loop"),
    )
    assert summary["status"] == "cancelled" and summary["steps"] == 3
    log = (tmp_path / "run" / "train.log").read_text(encoding="utf-8")
    assert "evaluation interrupted by the stop request" in log
    assert "eval step" not in log  # the Trainer's evaluation never finished
    assert summary["train_samples_per_s"] > 0 and (tmp_path / "run" / "checkpoint").is_dir()


def test_a_stop_mid_epoch_does_not_evaluate_at_the_epoch_end(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(callbacks.CANCEL_BUDGET_ENV, "600")  # the predictions must not depend on the machine's load
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 8  # a few steps into the first epoch

    summary = training.train(quick(workspace, eval_steps=0, max_steps=-1, epochs=1), tmp_path / "run", stop=stop)
    assert summary["status"] == "cancelled" and summary["steps"] < 20
    # Per-epoch evaluation would have run a whole dev pass (and a Trainer save) after the cancel.
    assert "eval step" not in (tmp_path / "run" / "train.log").read_text(encoding="utf-8")
    assert summary["dev"]["n"] == 300  # the dev scores still come from the dev predictions


# -- a cancelled CLI run, completed later ------------------------------------------------------------------


@pytest.mark.slow
def test_cancel_with_no_budget_leaves_predictions_for_later_then_complete_predictions_makes_them(
    workspace: Workspace, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    env = {**os.environ, "RESTUDIO_HOME": str(workspace.root), callbacks.CANCEL_BUDGET_ENV: "0"}
    config = tmp_path / "config.json"
    config.write_text(json.dumps(quick(workspace)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "train", str(config), "--run-dir", str(run)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_step(run, 2, alive=lambda: proc.poll() is None)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == training.EXIT_CANCELLED, out
    assert "Left for later: dev_predictions.csv, test_predictions.csv" in out

    summary = runs.read_summary(run)
    assert summary is not None and summary["status"] == "cancelled" and summary["stop_reason"] == "SIGTERM"
    assert summary["pending_predictions"] == [DEV, TEST] and summary["predictions"] == []
    assert summary["dev"] is None and "test" not in summary
    assert (run / "checkpoint" / "re_head.json").exists()
    assert not (run / DEV).exists() and not (run / TEST).exists()
    assert runs.pending_predictions(run) == [DEV, TEST]
    log = (run / "train.log").read_text(encoding="utf-8")
    assert "dev predictions and test predictions left for later" in log and f"python -m core predict {run}" in log
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1]) == {
        "kind": "end",
        "status": "cancelled",
        "step": summary["steps"],
        "max_steps": 100_000,
        "epoch": pytest.approx(summary["epochs"], abs=1e-3),
        "wall_s": pytest.approx(summary["wall_s"], abs=1.0),
    }

    assert predict.complete_predictions(run) == [DEV, TEST]
    done = runs.read_summary(run)
    assert done is not None and done["pending_predictions"] == [] and done["predictions"] == [DEV, TEST]
    assert done["status"] == "cancelled" and done["predictions_completed_at"]
    assert "making the predictions left for later" in (run / "train.log").read_text(encoding="utf-8")

    # The same files and scores as a direct prediction with the saved checkpoint.
    model, tokenizer, meta = load_run_model(run)
    rows = dev_rows(workspace)
    probs = predict_proba(model, tokenizer, rows, meta=meta, batch_size=64)
    ids, written = read_submission(run / DEV, label_names=KLUE_LABELS)
    by_id = dict(zip(ids, written, strict=True))
    np.testing.assert_allclose(np.stack([by_id[i] for i in rows["id"].astype(str)]), probs, atol=1e-12)
    direct = predict._scores(rows, probs, meta["labels"])
    assert done["dev"] == pytest.approx(direct)
    test_ids, _ = read_submission(run / TEST, label_names=KLUE_LABELS)
    info = workspace.dataset(DEMO_NAME)
    assert test_ids == workspace.current_frame(info.id, "test")["id"].astype(str).tolist()
    assert done["test"]["n"] == 800

    assert predict.complete_predictions(run) == []  # nothing left: a second call is a no-op


def test_a_run_from_before_pending_predictions_owes_its_missing_files(tmp_path: Path) -> None:
    """Cancelled runs used to be SIGKILLed while predicting, with a summary but no prediction files."""
    (tmp_path / "summary.json").write_text(json.dumps({"status": "cancelled", "n_test": 800, "predictions": []}))
    assert runs.pending_predictions(tmp_path) == []  # no checkpoint to predict with
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "re_head.json").write_text("{}")
    assert runs.pending_predictions(tmp_path) == [DEV, TEST]
    (tmp_path / "fold_ids.json").write_text("{}")
    (tmp_path / DEV).write_text("id,pred_label,probs\n")
    assert runs.pending_predictions(tmp_path) == ["oof_predictions.csv", TEST]
    (tmp_path / "summary.json").write_text(json.dumps({"status": "failed", "n_test": 800}))
    assert runs.pending_predictions(tmp_path) == []


def test_complete_predictions_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    with pytest.raises(predict.PredictionError, match=r"no summary\.json"):
        predict.complete_predictions(tmp_path)
    (tmp_path / "summary.json").write_text(json.dumps({"status": "cancelled", "pending_predictions": [DEV]}))
    with pytest.raises(predict.PredictionError, match="no saved checkpoint"):
        predict.complete_predictions(tmp_path)
    assert cli.main(["predict", str(tmp_path)]) == 2
    (tmp_path / "summary.json").write_text(json.dumps({"status": "cancelled", "pending_predictions": []}))
    assert predict.complete_predictions(tmp_path) == []


# -- through the job system -----------------------------------------------------------------------------


@pytest.fixture
def no_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("core.jobs.local.list_gpus", lambda: [])


def test_submit_predictions_refusals_and_the_queued_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_gpus: None
) -> None:
    monkeypatch.setenv("RESTUDIO_MAX_CPU_JOBS", "0")  # everything waits in the queue
    store = jobs.JobStore(tmp_path / "ws")
    train_job = store.create(name="trained", command=[sys.executable, "-c", "pass"], kind="train")
    with pytest.raises(jobs.JobError, match="is queued: its predictions can be made once it has ended"):
        jobs.submit_predictions(store, train_job.id)
    store.update(train_job.id, status="running")
    store.update(train_job.id, status="cancelled")
    with pytest.raises(jobs.JobError, match="owes no predictions"):
        jobs.submit_predictions(store, train_job.id)
    (train_job.run_path / "summary.json").write_text(json.dumps({"status": "cancelled", "pending_predictions": [TEST]}))

    job = jobs.submit_predictions(store, train_job.id)
    assert job.kind == "predict" and job.status == "queued" and job.config is None
    assert job.command[-3:] == ["core", "predict", train_job.run_dir] and jobs.predict_target(job) == train_job.run_dir
    assert job.run_dir != train_job.run_dir  # its own folder, for its log
    with pytest.raises(jobs.JobError, match=f"already queued as job #{job.id}"):
        jobs.submit_predictions(store, train_job.id)
    with pytest.raises(jobs.JobError, match="is itself a predict job"):
        jobs.submit_predictions(store, job.id)


@pytest.mark.slow
def test_cancel_through_the_local_backend_is_never_killed_for_predicting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_gpus: None
) -> None:
    """5,000 test rows predicted one at a time take far longer than the 6 s grace: before, the job was
    SIGKILLed while predicting; now it predicts what fits in its budget (1 s here) and exits."""
    ws = Workspace(tmp_path / "ws")
    write_demo_dataset(tmp_path / "src", n_train=1000, n_test=5000)
    src = tmp_path / "src"
    info = import_dataset(
        ws, "big test", src / "train.csv", test_path=src / "test.csv", gold_path=src / "test_gold.csv"
    ).dataset
    create_split(ws, info.id)
    monkeypatch.setenv(jobs.CANCEL_BUDGET_ENV, "1")  # passed on to the job (lower than the 6 s grace gives)
    grace = 6.0
    store = jobs.JobStore(ws)
    backend = jobs.LocalBackend(store, max_cpu_jobs=1, grace_s=grace)
    config = training.validate(quick(ws, dataset="big test", eval_batch_size=1)).to_dict()
    job = jobs.submit_training(store, config, name="big test part", backend=backend)
    try:
        wait_for_step(job.run_path, 2, alive=lambda: not store.get_job(job.id).is_final)
        started = time.monotonic()
        job = backend.cancel(store.get_job(job.id), wait=True)
        took = time.monotonic() - started
    finally:
        current = store.get_job(job.id)
        for proc in group_members(current.pgid, current.proc_start_time):
            proc.kill()
    log = job.log_path.read_text(encoding="utf-8")
    assert job.status == "cancelled" and job.exit_code == training.EXIT_CANCELLED, (job.error, log[-3000:])
    assert "did not stop within" not in (job.error or "") and "did not stop within" not in log
    assert took < grace
    summary = runs.read_summary(job.run_dir)
    assert summary is not None and summary["status"] == "cancelled"
    assert TEST in summary["pending_predictions"] and (job.run_path / "checkpoint" / "re_head.json").exists()
    assert "left for later" in log
