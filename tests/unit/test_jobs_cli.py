"""``python -m core jobs``: list (status, progress, dev micro-F1, ...), cancel, log and predict, headless."""

from __future__ import annotations

import contextlib
import json
import sys
import textwrap
import threading
import time
from datetime import datetime
from pathlib import Path

import psutil
import pytest

from core import jobs
from core.cli import main
from core.jobs import CANCELLED, QUEUED, RUNNING, JobStore, LocalBackend
from core.jobs.processes import group_members
from core.jobs.store import now

PY = sys.executable

TRAPS_SIGTERM = """
import signal, sys, time
def stop(signum, frame):
    print("got SIGTERM, saving", flush=True)
    time.sleep(0.3)
    sys.exit(143)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""

# 50 numbered lines, then waits for RUN_DIR/go and prints "done".
LINES_THEN_GO = """
import os, pathlib, time
run = pathlib.Path(os.environ["RESTUDIO_RUN_DIR"])
for i in range(50):
    print("line", i, flush=True)
while not (run / "go").exists():
    time.sleep(0.02)
print("done", flush=True)
"""


def py(code: str) -> list[str]:
    return [PY, "-c", textwrap.dedent(code)]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("core.jobs.local.list_gpus", lambda: [])
    monkeypatch.setenv("RESTUDIO_MAX_CPU_JOBS", "1")
    st = JobStore(tmp_path / "ws")
    yield st
    for job in st.list_jobs(status=RUNNING, backend="local"):  # never leave a test's processes behind
        for proc in group_members(job.pgid, job.proc_start_time):
            with contextlib.suppress(psutil.Error):
                proc.kill()


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def wait_log(job: jobs.Job, line: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while line not in job.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        assert time.monotonic() < deadline, f"{line!r} never appeared in {job.log_path}"
        time.sleep(0.02)


def one_line_error(code: int, err: str, text: str) -> None:
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and text in err, err
    assert "Traceback" not in err


# -- listing -------------------------------------------------------------------------------------------------


def test_no_workspace_is_one_line_and_nothing_is_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nowhere = tmp_path / "nowhere"
    code, _, err = run_cli(capsys, "jobs", "--home", str(nowhere))
    one_line_error(code, err, f"no workspace at {nowhere}")
    assert not nowhere.exists()
    code, out, _ = run_cli(capsys, "jobs", "--home", str(JobStore(tmp_path / "ws").root))
    assert code == 0 and out == f"No jobs in {tmp_path / 'ws'}.\n"


def test_the_list_shows_what_the_train_view_shows(store: JobStore, capsys: pytest.CaptureFixture[str]) -> None:
    config = {"model": "tiny", "input_format": "entity_marker"}
    running = store.create(name="half way", command=py("pass"), kind="train", config=config)
    store.update(running.id, status=RUNNING)  # no pid yet: reconcile leaves it running for a minute
    (running.run_path / "metrics.jsonl").write_text(
        json.dumps({"kind": "progress", "step": 5, "max_steps": 10})
        + "\n"
        + json.dumps({"kind": "eval", "step": 5, "max_steps": 10, "eval_micro_f1": 61.5})
        + "\n"
    )
    stopping = store.create(name="being cancelled", command=py("pass"), kind="train", config=config)
    store.update(stopping.id, status=RUNNING, cancel_requested_at=now())
    done = store.create(name="cancelled early " + "x" * 40, command=py("pass"), kind="train", config=config)
    store.update(done.id, status=RUNNING)
    store.update(done.id, status=CANCELLED)
    (done.run_path / "summary.json").write_text(
        json.dumps({"status": "cancelled", "dev": None, "pending_predictions": ["test_predictions.csv"]})
    )
    finished = store.create(name="finished", command=py("pass"), kind="train", config=config)
    store.update(finished.id, status=RUNNING)
    store.update(finished.id, status="succeeded")
    (finished.run_path / "summary.json").write_text(
        json.dumps({"status": "succeeded", "dev": {"micro_f1": 91.234, "auprc": 80.0, "n": 300}})
    )

    code, out, _ = run_cli(capsys, "jobs", "--home", str(store.root))
    assert code == 0
    lines = out.splitlines()
    header = ["id", "name", "status", "progress", "dev", "micro-F1", "model", "format", "created", "owner"]
    assert lines[0].split() == header
    by_id = {line.split()[0]: line for line in lines[1:5]}
    assert "running" in by_id["#1"] and "50%" in by_id["#1"] and "61.50" in by_id["#1"]
    assert "tiny" in by_id["#1"] and "entity_marker" in by_id["#1"]
    assert "cancelling" in by_id["#2"]
    assert "cancelled*" in by_id["#3"] and "…" in by_id["#3"]  # a long name is cut; * owes predictions
    assert "succeeded" in by_id["#4"] and "100%" in by_id["#4"] and "91.23" in by_id["#4"]
    created = datetime.fromisoformat(running.created_at).astimezone().strftime("%Y-%m-%d %H:%M")
    assert created in by_id["#1"]  # local time, not UTC
    assert "python -m core jobs predict ID" in lines[-1] and "#3" in lines[-1]

    code, out, _ = run_cli(capsys, "jobs", "list", "--json", "--home", str(store.root))
    records = json.loads(out)
    assert code == 0 and [r["id"] for r in records] == [1, 2, 3, 4]
    assert (
        records[0]["progress"] == 0.5
        and records[0]["dev_micro_f1"] == 61.5
        and records[0]["format"] == config["input_format"]
    )
    assert records[1]["status"] == "cancelling" and records[1]["cancelling"] is True
    assert records[2]["pending_predictions"] == ["test_predictions.csv"] and records[2]["dev_micro_f1"] is None
    assert records[3]["dev_micro_f1"] == 91.234 and records[3]["created"].startswith(created)


def test_bad_ids_and_options_are_one_line_exit_2(store: JobStore, capsys: pytest.CaptureFixture[str]) -> None:
    home = ("--home", str(store.root))
    store.create(name="queued", command=py("pass"))
    one_line_error(*run_cli(capsys, "jobs", "cancel", "abc", *home)[::2], "'abc' is not a job id")
    one_line_error(*run_cli(capsys, "jobs", "cancel", "0", *home)[::2], "'0' is not a job id")
    one_line_error(*run_cli(capsys, "jobs", "cancel", "999", *home)[::2], "no job #999")
    one_line_error(*run_cli(capsys, "jobs", "log", "999", *home)[::2], "no job #999")
    one_line_error(*run_cli(capsys, "jobs", "log", "x1", *home)[::2], "'x1' is not a job id")
    one_line_error(*run_cli(capsys, "jobs", "predict", "999", *home)[::2], "no job #999")
    one_line_error(*run_cli(capsys, "jobs", "cancel", *home)[::2], "name the jobs to cancel")
    one_line_error(*run_cli(capsys, "jobs", "cancel", "1", "--all", *home)[::2], "not both")
    one_line_error(*run_cli(capsys, "jobs", "predict", "1", *home)[::2], "job #1 is queued")
    assert store.get_job(1).status == QUEUED  # none of that touched it


# -- cancelling ----------------------------------------------------------------------------------------------


def test_cancel_queued_then_all(store: JobStore, capsys: pytest.CaptureFixture[str]) -> None:
    home = ("--home", str(store.root))
    backend = LocalBackend(store, max_cpu_jobs=1)
    running = jobs.submit_job(store, py(TRAPS_SIGTERM), name="runs", backend=backend)
    waiting = [jobs.submit_job(store, py("print('never')"), name=f"waits {i}", backend=backend) for i in (1, 2)]
    assert running.status == RUNNING and all(j.status == QUEUED for j in waiting)
    wait_log(running, "ready")

    code, out, _ = run_cli(capsys, "jobs", "cancel", "--queued", *home)
    assert code == 0 and out.count(": cancelled") == 2
    assert [store.get_job(j.id).status for j in waiting] == [CANCELLED, CANCELLED]
    assert store.get_job(running.id).status == RUNNING

    code, out, _ = run_cli(capsys, "jobs", "cancel", "#1", "2", *home)  # '#1' as the list shows it
    assert code == 0
    assert "#1 runs: cancelling" in out and "#2 waits 1: already cancelled" in out
    assert "#1 runs: cancelled" in out  # it waited for the end
    job = store.get_job(running.id)
    assert job.status == CANCELLED and job.exit_code == 143 and "got SIGTERM, saving" in job.log_path.read_text()
    code, out, _ = run_cli(capsys, "jobs", "cancel", "--all", *home)
    assert code == 0 and out == "No jobs to cancel.\n"


def test_cancel_all_without_waiting_shows_cancelling(store: JobStore, capsys: pytest.CaptureFixture[str]) -> None:
    home = ("--home", str(store.root))
    backend = LocalBackend(store, max_cpu_jobs=1)
    running = jobs.submit_job(store, py(TRAPS_SIGTERM.replace("0.3", "3")), name="slow to stop", backend=backend)
    queued = jobs.submit_job(store, py("print('never')"), name="next", backend=backend)
    wait_log(running, "ready")
    code, out, _ = run_cli(capsys, "jobs", "cancel", "--all", "--no-wait", *home)
    assert code == 0 and "#2 next: cancelled" in out and "#1 slow to stop: cancelling" in out
    assert out.index("#2 next") < out.index("#1 slow")  # the queue first, so nothing starts behind
    code, out, _ = run_cli(capsys, "jobs", *home)
    assert "cancelling" in out.splitlines()[1]
    deadline = time.monotonic() + 20
    while not store.get_job(running.id).is_final:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert store.get_job(running.id).status == CANCELLED and store.get_job(queued.id).status == CANCELLED


# -- logs -----------------------------------------------------------------------------------------------------


def test_log_lines_and_follow(store: JobStore, capsys: pytest.CaptureFixture[str]) -> None:
    home = ("--home", str(store.root))
    job = jobs.submit_job(store, py(LINES_THEN_GO), name="chatty", backend=LocalBackend(store))
    wait_log(job, "line 49")
    code, out, _ = run_cli(capsys, "jobs", "log", str(job.id), "--lines", "3", *home)
    assert code == 0 and out.splitlines() == ["line 47", "line 48", "line 49"]

    threading.Timer(1.0, (job.run_path / "go").touch).start()
    started = time.monotonic()
    code, out, _ = run_cli(capsys, "jobs", "log", str(job.id), "-n", "2", "--follow", *home)
    assert code == 0 and time.monotonic() - started < 15  # it returned once the job had ended
    lines = out.splitlines()
    assert lines[:2] == ["line 48", "line 49"] and "done" in lines
    assert lines[-1].startswith(f"[restudio] job {job.id} succeeded")
    assert store.get_job(job.id).status == "succeeded"


def test_predict_queues_a_predict_job(
    store: JobStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESTUDIO_MAX_CPU_JOBS", "0")  # stays queued: this test does not train
    trained = store.create(name="stopped", command=py("pass"), kind="train")
    store.update(trained.id, status=RUNNING)
    store.update(trained.id, status=CANCELLED)
    (trained.run_path / "summary.json").write_text(
        json.dumps({"status": "cancelled", "pending_predictions": ["dev_predictions.csv"]})
    )
    code, out, _ = run_cli(capsys, "jobs", "predict", str(trained.id), "--home", str(store.root))
    assert code == 0 and "Queued job #2 'predictions of #1 stopped' (queued)" in out
    job = store.get_job(2)
    assert job.kind == "predict" and jobs.predict_target(job) == trained.run_dir
    one_line_error(*run_cli(capsys, "jobs", "predict", "1", "--home", str(store.root))[::2], "already queued")
