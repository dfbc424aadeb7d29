"""The job store and the local backend, with real processes (small ``python -c`` commands)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from core import jobs
from core.jobs import (
    CANCELLED,
    FAILED,
    LOST,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    JobError,
    JobStore,
    LocalBackend,
    TransitionError,
)
from core.jobs.processes import group_members
from core.store import runs

ROOT = Path(__file__).resolve().parents[2]
real_list_gpus = jobs.list_gpus  # the store fixture replaces the list_gpus the local backend calls
PY = sys.executable

# A command that says it is ready, writes its pid, then waits for RUN_DIR/go and exits 0.
WAIT_FOR_GO = """
import os, pathlib, time
run = pathlib.Path(os.environ["RESTUDIO_RUN_DIR"])
(run / "child.pid").write_text(str(os.getpid()))
(run / "cvd.txt").write_text(os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"))
print("ready", flush=True)
while not (run / "go").exists():
    time.sleep(0.02)
print("done", flush=True)
"""


def py(code: str) -> list[str]:
    return [PY, "-c", textwrap.dedent(code)]


@pytest.fixture
def store(tmp_path, monkeypatch):
    # No GPU unless a test says so, whatever machine runs the suite.
    monkeypatch.setattr("core.jobs.local.list_gpus", lambda: [])
    st = JobStore(tmp_path / "ws")
    yield st
    # Never leave a test's processes behind.
    for job in st.list_jobs(status=RUNNING, backend="local"):
        for proc in group_members(job.pgid, job.proc_start_time):
            with contextlib.suppress(psutil.Error):
                proc.kill()


def wait_for(backend, job_id, predicate, *, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        backend.reconcile()
        job = backend.store.get_job(job_id)
        if predicate(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s; job is {job}")
        time.sleep(0.05)


def wait_log(job, line: str, *, timeout: float = 10.0) -> None:
    """Wait for a whole line (the wrapper's first line quotes the command, so substrings would match early)."""
    deadline = time.monotonic() + timeout
    while line not in runs.log_tail(job.log_path, lines=1000).splitlines():
        if time.monotonic() > deadline:
            raise AssertionError(f"{line!r} never appeared in {job.log_path}:\n{runs.log_tail(job.log_path)}")
        time.sleep(0.02)


def release(job) -> None:
    (job.run_path / "go").touch()


def child_pid(job) -> int:
    return int((job.run_path / "child.pid").read_text())


# -- lifecycle ---------------------------------------------------------------------------------------


def test_queued_running_succeeded(store):
    backend = LocalBackend(store)
    job = store.create(name="ok job", command=py(WAIT_FOR_GO))
    assert job.status == QUEUED and job.pid is None
    assert job.run_path == store.root / "runs" / f"{job.id}-ok-job" and job.run_path.is_dir()

    job = backend.submit(job)
    assert job.status == RUNNING and job.pid and job.pgid == job.pid and job.started_at
    assert psutil.Process(job.pid).create_time() == pytest.approx(job.proc_start_time, abs=1)
    wait_log(job, "ready")
    assert os.getpgid(child_pid(job)) == job.pgid  # the command runs in the job's own process group
    assert os.getsid(job.pid) != os.getsid(0)  # ...and session: the app closing does not touch it
    assert backend.status(job) == RUNNING

    release(job)
    job = wait_for(backend, job.id, lambda j: j.is_final)
    assert job.status == SUCCEEDED and job.exit_code == 0 and job.error is None and job.finished_at
    assert "done" in backend.logs(job)
    assert json.loads((job.run_path / jobs.EXIT_FILE).read_text())["status"] == SUCCEEDED


def test_the_wrapper_records_the_result_without_any_reconcile(store):
    job = jobs.submit_job(store, py("print('hello')"), name="quick", backend=LocalBackend(store))
    deadline = time.monotonic() + 10
    while not store.get_job(job.id).is_final and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.get_job(job.id).status == SUCCEEDED


def test_failing_command_is_failed_with_its_log_tail(store):
    backend = LocalBackend(store)
    code = "import sys\nfor i in range(100): print('line', i)\nprint('boom: bad thing', file=sys.stderr)\nsys.exit(3)"
    job = jobs.submit_job(store, py(code), name="bad", backend=backend)
    job = wait_for(backend, job.id, lambda j: j.is_final)
    assert job.status == FAILED and job.exit_code == 3
    assert job.error.startswith("exit code 3")
    assert "boom: bad thing" in job.error and "line 99" in job.error
    assert "line 0\n" not in job.error  # a tail, not the whole log


def test_a_run_that_reports_itself_cancelled_is_cancelled(store):
    """A trainer stopped by a SIGTERM that did not come from us (a shutdown) writes summary.json
    with status "cancelled" and exits 143 (run-folder contract): not a failure."""
    code = """
    import json, os, pathlib, sys
    run = pathlib.Path(os.environ["RESTUDIO_RUN_DIR"])
    (run / "summary.json").write_text(json.dumps({"status": "cancelled"}))
    sys.exit(143)
    """
    backend = LocalBackend(store)
    job = wait_for(backend, jobs.submit_job(store, py(code), name="stopped", backend=backend).id, lambda j: j.is_final)
    assert job.status == CANCELLED and job.exit_code == 143


def test_command_that_cannot_start_is_failed(store):
    backend = LocalBackend(store)
    job = jobs.submit_job(store, ["/nonexistent/binary", "x"], name="nope", backend=backend)
    job = wait_for(backend, job.id, lambda j: j.is_final)
    assert job.status == FAILED and "/nonexistent/binary" in job.error


# -- killed jobs and restarts -------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["group", "wrapper", "command"])
def test_sigkill_is_noticed_within_10_s(store, target):
    job = jobs.submit_job(store, py(WAIT_FOR_GO), name=f"kill {target}", backend=LocalBackend(store))
    wait_log(job, "ready")
    command_pid = child_pid(job)
    if target == "group":
        os.killpg(job.pgid, signal.SIGKILL)
    elif target == "wrapper":
        os.kill(job.pid, signal.SIGKILL)
    else:
        os.kill(command_pid, signal.SIGKILL)
    killed_at = time.monotonic()

    fresh = LocalBackend(JobStore(store.root))  # as after an app restart
    job = wait_for(fresh, job.id, lambda j: j.is_final, timeout=10)
    assert time.monotonic() - killed_at < 10
    if target == "command":
        # the wrapper saw its command die and recorded it
        assert job.status == FAILED and "killed by signal SIGKILL" in job.error and job.exit_code == -9
    else:
        assert job.status == LOST
        assert "ended without recording a result" in job.error
        assert "ready" in job.error  # the log tail
    # nothing of the job is left running (an orphaned command is killed, its slot really free)
    deadline = time.monotonic() + 5
    while psutil.pid_exists(command_pid) and psutil.Process(command_pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the job's command survived"
        time.sleep(0.05)


def test_a_fresh_backend_reattaches_to_a_job_started_by_another_process(store):
    """The app that started the job exits; a new one finds the job running and sees it finish."""
    code = f"""
from core import jobs
from core.jobs import local
local.list_gpus = lambda: []
job = jobs.submit_job({str(store.root)!r}, {py(WAIT_FOR_GO)!r}, name="detached", backend="local")
print(job.id, job.status)
"""
    out = subprocess.run([PY, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    job_id, status = out.stdout.split()
    assert status == RUNNING
    job = store.get_job(int(job_id))
    wait_log(job, "ready")

    fresh = LocalBackend(JobStore(store.root))
    assert fresh.reconcile() == []
    again = store.get_job(job.id)
    assert again.status == RUNNING and again.pid == job.pid  # re-attached, not restarted
    assert psutil.Process(job.pid).ppid() != os.getpid()  # really not our child

    release(job)
    job = wait_for(fresh, job.id, lambda j: j.is_final)
    assert job.status == SUCCEEDED
    assert runs.log_tail(job.log_path, lines=1000).splitlines().count("ready") == 1  # ran once


def test_a_reused_pid_is_not_taken_for_the_job(store):
    """The job's pid now belongs to another process group leader: the job is lost, and neither
    that process nor its group is touched."""
    other = subprocess.Popen(
        py(
            "import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            "time.sleep(60)"
        ),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while len(psutil.Process(other.pid).children()) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        grandchild = psutil.Process(other.pid).children()[0]
        job = store.create(name="ghost", command=py("pass"))
        earlier = psutil.Process(other.pid).create_time() - 100  # the job's own wrapper started long ago
        store.update(job.id, status=RUNNING, pid=other.pid, pgid=other.pid, proc_start_time=earlier)
        job = wait_for(LocalBackend(store), job.id, lambda j: j.is_final)
        assert job.status == LOST
        assert other.poll() is None and grandchild.is_running()
        assert group_members(other.pid, earlier) == []
    finally:
        os.killpg(other.pid, signal.SIGKILL)
        other.wait()


def test_watcher_marks_a_killed_job_without_anyone_looking(store):
    watcher = jobs.Watcher(store, interval_s=0.2)
    watcher.start()
    thread = watcher._thread
    assert watcher.start()._thread is thread  # idempotent: one thread
    try:
        job = jobs.submit_job(store, py(WAIT_FOR_GO), name="watched", backend=LocalBackend(store))
        wait_log(job, "ready")
        os.killpg(job.pgid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while store.get_job(job.id).status == RUNNING:
            assert time.monotonic() < deadline, "the watcher did not notice the killed job"
            time.sleep(0.05)
        assert store.get_job(job.id).status == LOST
    finally:
        watcher.stop()
        watcher.stop()
    assert not watcher.running and not thread.is_alive()


# -- cancel ---------------------------------------------------------------------------------------------

TRAPS_SIGTERM = """
import signal, sys, time
def stop(signum, frame):
    print("got SIGTERM, saving", flush=True)
    time.sleep(0.2)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""

IGNORES_SIGTERM = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""


def test_cancel_a_command_that_stops_on_sigterm(store):
    backend = LocalBackend(store, grace_s=20)
    job = jobs.submit_job(store, py(TRAPS_SIGTERM), name="polite", backend=backend)
    wait_log(job, "ready")
    started = time.monotonic()
    job = backend.cancel(job)
    assert time.monotonic() - started < 5  # no need to wait for the grace period
    assert job.status == CANCELLED and job.exit_code == 0 and job.cancel_requested_at
    assert "got SIGTERM, saving" in backend.logs(job)
    assert not group_members(job.pgid, job.proc_start_time)


def test_cancel_signals_the_main_process_not_its_helpers(store):
    """A trainer's DataLoader workers must outlive its SIGTERM, or it crashes instead of saving."""
    code = """
    import signal, subprocess, sys, time
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    def stop(signum, frame):
        time.sleep(0.3)  # a group-wide SIGTERM would have killed the helper by now
        print("helper alive at SIGTERM:", helper.poll() is None, flush=True)
        helper.terminate()
        helper.wait()
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    while True:
        time.sleep(0.05)
    """
    backend = LocalBackend(store, grace_s=20)
    job = jobs.submit_job(store, py(code), name="with helper", backend=backend)
    wait_log(job, "ready")
    job = backend.cancel(job)
    assert job.status == CANCELLED
    assert "helper alive at SIGTERM: True" in backend.logs(job).splitlines()


def test_cancel_a_command_that_ignores_sigterm_kills_it_after_the_grace(store):
    backend = LocalBackend(store, grace_s=1.0)
    job = jobs.submit_job(store, py(IGNORES_SIGTERM), name="stubborn", backend=backend)
    wait_log(job, "ready")
    started = time.monotonic()
    job = backend.cancel(job)
    took = time.monotonic() - started
    assert 1.0 <= took < 10
    assert job.status == CANCELLED and "killed" in job.error
    assert "SIGKILL" in backend.logs(job)
    assert not group_members(job.pgid, job.proc_start_time)


def test_cancel_without_waiting_is_finished_by_the_watcher(store):
    backend = LocalBackend(store, grace_s=0.5)
    job = jobs.submit_job(store, py(IGNORES_SIGTERM), name="stubborn", backend=backend)
    wait_log(job, "ready")
    job = backend.cancel(job, wait=False)
    assert job.status == RUNNING and job.cancel_requested_at
    watcher = jobs.Watcher(store, interval_s=0.2, grace_s=0.5).start()
    try:
        deadline = time.monotonic() + 10
        while store.get_job(job.id).status == RUNNING:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        watcher.stop()
    assert store.get_job(job.id).status == CANCELLED


def test_cancel_a_queued_job(store):
    backend = LocalBackend(store, max_cpu_jobs=0)
    job = jobs.submit_job(store, py("pass"), name="waiting", backend=backend)
    assert job.status == QUEUED
    job = backend.cancel(job)
    assert job.status == CANCELLED and job.started_at is None and job.finished_at
    assert jobs.cancel_job(store.root, job.id).status == CANCELLED  # cancelling twice is harmless


# -- scheduling -------------------------------------------------------------------------------------------


def test_max_cpu_jobs_queues_the_second_job_until_the_first_ends(store):
    backend = LocalBackend(store, max_cpu_jobs=1)
    first = jobs.submit_job(store, py(WAIT_FOR_GO), name="first", backend=backend)
    second = jobs.submit_job(store, py(WAIT_FOR_GO), name="second", backend=backend)
    assert first.status == RUNNING and second.status == QUEUED
    wait_log(first, "ready")
    backend.reconcile()
    assert store.get_job(second.id).status == QUEUED
    assert not (second.run_path / jobs.JOB_LOG_FILE).exists()

    release(first)
    wait_for(backend, first.id, lambda j: j.status == SUCCEEDED)
    second = wait_for(backend, second.id, lambda j: j.status == RUNNING)
    release(second)
    assert wait_for(backend, second.id, lambda j: j.is_final).status == SUCCEEDED


def test_cuda_visible_devices_comes_from_the_picked_gpu(store, monkeypatch):
    monkeypatch.setattr("core.jobs.local.list_gpus", lambda: [jobs.Gpu("0", "A100"), jobs.Gpu("1", "A100")])
    backend = LocalBackend(store, max_cpu_jobs=1)
    a = jobs.submit_job(store, py(WAIT_FOR_GO), name="a", backend=backend)  # any free GPU
    b = jobs.submit_job(store, py(WAIT_FOR_GO), name="b", backend=backend)
    c = jobs.submit_job(store, py(WAIT_FOR_GO), name="c", backend=backend)  # both GPUs busy: waits
    cpu = jobs.submit_job(store, py(WAIT_FOR_GO), name="cpu", backend=backend, gpu="cpu")
    on_1 = jobs.submit_job(store, py(WAIT_FOR_GO), name="on 1", backend=backend, gpu="cuda:1")
    assert [j.status for j in (a, b, c, cpu, on_1)] == [RUNNING, RUNNING, QUEUED, RUNNING, QUEUED]
    assert (a.gpu, b.gpu, cpu.gpu, on_1.gpu_request) == ("0", "1", "", "1")
    for job, expected in ((a, "0"), (b, "1"), (cpu, "")):
        wait_log(job, "ready")
        assert (job.run_path / "cvd.txt").read_text() == expected
    with pytest.raises(JobError, match="GPU 7 was requested but this machine's GPUs are: 0, 1"):
        jobs.submit_job(store, py("pass"), name="nope", backend=backend, gpu=7)
    assert [j.name for j in store.list_jobs()] == ["a", "b", "c", "cpu", "on 1"]  # refused before writing

    release(b)
    wait_for(backend, b.id, lambda j: j.status == SUCCEEDED)
    c = wait_for(backend, c.id, lambda j: j.status == RUNNING)  # first in line gets GPU 1
    assert c.gpu == "1" and store.get_job(on_1.id).status == QUEUED
    wait_log(c, "ready")
    assert (c.run_path / "cvd.txt").read_text() == "1"


FAKE_NVIDIA_SMI = """#!/bin/sh
case "$1" in
  --query-gpu=*) printf '0, NVIDIA H100, GPU-aaa, 81559, 1\\n1, NVIDIA H100, GPU-bbb, 81559, 20000\\n' ;;
  --query-compute-apps=*) cat "$FAKE_SMI_APPS" ;;
  *) exit 9 ;;
esac
"""


def test_gpus_and_gpu_memory_come_from_nvidia_smi(store, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text(FAKE_NVIDIA_SMI)
    (bin_dir / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert real_list_gpus() == [
        jobs.Gpu("0", "NVIDIA H100", "GPU-aaa", 81559.0, 1.0),
        jobs.Gpu("1", "NVIDIA H100", "GPU-bbb", 81559.0, 20000.0),
    ]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-bbb")  # the app itself was limited to one GPU
    assert [g.index for g in real_list_gpus()] == ["1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert real_list_gpus() == []

    monkeypatch.setattr("core.jobs.local.list_gpus", lambda: [jobs.Gpu("0")])
    backend = LocalBackend(store)
    job = jobs.submit_job(store, py(WAIT_FOR_GO), name="on gpu", backend=backend)
    wait_log(job, "ready")
    apps = tmp_path / "apps.csv"
    apps.write_text(f"{child_pid(job)}, 1234\n{2**22 + 7}, 5\n")  # ours, and someone else's
    monkeypatch.setenv("FAKE_SMI_APPS", str(apps))
    assert jobs.resource_usage(job).gpu_mem_mb == 1234
    apps.write_text("")
    assert jobs.resource_usage(job).gpu_mem_mb is None  # unknown, not zero
    release(job)
    assert wait_for(backend, job.id, lambda j: j.is_final).status == SUCCEEDED


def test_no_gpu_means_the_cpu_slot(store):
    backend = LocalBackend(store, max_cpu_jobs=2)
    job = jobs.submit_job(store, py(WAIT_FOR_GO), name="auto", backend=backend)
    wait_log(job, "ready")
    assert job.gpu == "" and (job.run_path / "cvd.txt").read_text() == ""


# -- the store --------------------------------------------------------------------------------------------


def test_status_transitions_are_validated(store):
    job = store.create(name="t", command=py("pass"))
    with pytest.raises(TransitionError, match="cannot go from queued to succeeded"):
        store.update(job.id, status=SUCCEEDED)
    running = store.update(job.id, status=RUNNING, pid=1)
    assert running.started_at and running.pid == 1
    done = store.update(job.id, status=FAILED, exit_code=2)
    assert done.finished_at and done.exit_code == 2
    for status in (RUNNING, SUCCEEDED, QUEUED):
        with pytest.raises(TransitionError):
            store.update(job.id, status=status)
    # a racing finisher loses quietly
    assert store.transition(job.id, CANCELLED, expect={RUNNING}) is None
    assert store.get_job(job.id).status == FAILED
    with pytest.raises(JobError, match="unknown job status"):
        store.update(job.id, status="exploded")
    with pytest.raises(JobError, match="cannot update job field"):
        store.update(job.id, created_at="yesterday")
    with pytest.raises(JobError, match="no job with id 999"):
        store.get_job(999)


def test_create_and_list(store):
    a = store.create(name="Korean 모델 / run #1", command=[PY, "-c", "pass", jobs.RUN_DIR_TOKEN], group_id="kfold-1")
    b = store.create(name="b", command=py("pass"), backend="ray", ray_address="http://x:8265", parent_id=a.id)
    assert a.run_path.name == f"{a.id}-Korean-모델-run-1"
    assert a.command[-1] == a.run_dir  # the token is replaced
    assert [j.id for j in store.list_jobs()] == [a.id, b.id]
    assert [j.id for j in store.list_jobs(group_id="kfold-1")] == [a.id]
    assert [j.id for j in store.list_jobs(backend="ray")] == [b.id]
    assert store.get_job(b.id).parent_id == a.id
    assert store.list_jobs(status=[SUCCEEDED, FAILED]) == []
    (store.runs_dir / "3-c").mkdir()  # left by a deleted database: never written into
    assert store.create(name="c", command=["x"]).run_path.name == "3-c-2"
    for kwargs, message in (
        ({"name": " ", "command": ["x"]}, "non-empty name"),
        ({"name": "x", "command": []}, "non-empty list of strings"),
        ({"name": "x", "command": ["x"], "backend": "slurm"}, "unknown backend 'slurm'"),
        ({"name": "x", "command": ["x"], "backend": "ray"}, "needs ray_address"),
        ({"name": "x", "command": ["x"], "gpu": "first"}, "gpu must be"),
    ):
        with pytest.raises(JobError, match=message):
            store.create(**kwargs)


def test_submit_training_writes_the_config_and_queues_the_real_command(store):
    backend = LocalBackend(store, max_cpu_jobs=0)  # keep it queued: only the submission is under test
    config = {"model": "demo", "input_format": "typed_entity_marker_punct", "epochs": 1}
    job = jobs.submit_training(store, config, name="tiny demo", backend=backend, gpu="cpu")
    assert job.status == QUEUED and job.kind == "train" and job.config == config and job.gpu_request == ""
    assert json.loads((job.run_path / jobs.JOB_CONFIG_FILE).read_text()) == config
    assert job.command == [
        PY,
        "-m",
        "core",
        "train",
        str(job.run_path / jobs.JOB_CONFIG_FILE),
        "--run-dir",
        str(job.run_path),
    ]
    with pytest.raises(JobError, match="must be a mapping"):
        jobs.submit_training(store, ["not", "a", "dict"], name="x", backend=backend)  # type: ignore[arg-type]


def test_backend_for(store, tmp_path, monkeypatch):
    # Ray jobs go only to the clusters the server's restudio.toml lists (tests/unit/test_job_limits.py).
    (tmp_path / "restudio.toml").write_text('[ray.clusters]\nlocal = "http://127.0.0.1:1"\n')
    monkeypatch.setenv("RESTUDIO_CONFIG", str(tmp_path / "restudio.toml"))
    local = store.create(name="l", command=["x"])
    ray = store.create(name="r", command=["x"], backend="ray", ray_address="http://127.0.0.1:1")
    assert isinstance(jobs.backend_for(local, store), LocalBackend)
    ray_backend = jobs.backend_for(ray, store)
    assert isinstance(ray_backend, jobs.RayBackend) and ray_backend.address == "http://127.0.0.1:1"
    assert isinstance(ray_backend, jobs.Backend) and isinstance(LocalBackend(store), jobs.Backend)


# -- what the view shows --------------------------------------------------------------------------------


def test_progress_reads_metrics_with_a_partial_last_line(store):
    job = store.create(name="p", command=py("pass"))
    job = store.update(job.id, status=RUNNING)
    assert jobs.progress(job).step is None and jobs.progress(job).fraction is None
    lines = [
        {"kind": "train", "step": 10, "max_steps": 100, "epoch": 0.1, "loss": 2.0, "lr": 1e-4, "wall_s": 10.0},
        {"kind": "eval", "step": 20, "epoch": 0.2, "eval_micro_f1": 55.0, "eval_auprc": 40.0, "wall_s": 21.0},
        {"kind": "train", "step": 30, "max_steps": 100, "epoch": 0.3, "loss": 1.5, "lr": 9e-5, "wall_s": 30.0},
    ]
    text = "\n".join(json.dumps(r) for r in lines[:2]) + "\nnot json at all\n" + json.dumps(lines[2]) + "\n"
    partial = '{"kind": "train", "step": 40, "max_st'
    (job.run_path / "metrics.jsonl").write_text(text + partial)

    assert [r["step"] for r in runs.read_metric_records(job.run_dir)] == [10, 20, 30]
    p = jobs.progress(job)
    assert (p.step, p.max_steps, p.epoch, p.fraction) == (30, 100, 0.3, 0.3)
    assert p.eta_s == pytest.approx(70.0)  # 1 step/s between the first and last timed records
    assert p.last_metrics["loss"] == 1.5 and p.last_metrics["eval_micro_f1"] == 55.0
    assert "kind" not in p.last_metrics
    assert p.to_dict() == {
        "step": 30,
        "max_steps": 100,
        "epoch": 0.3,
        "fraction": 0.3,
        "eta_s": p.eta_s,
        "last_metrics": dict(p.last_metrics),
    }

    with (job.run_path / "metrics.jsonl").open("a") as fh:  # the writer finishes the line
        fh.write('eps": 100, "epoch": 0.4, "loss": 1.2, "wall_s": 40.0}\n')
    p = jobs.progress(job)
    assert (p.step, p.fraction, p.last_metrics["loss"]) == (40, 0.4, 1.2)

    done = store.update(job.id, status=SUCCEEDED)
    assert jobs.progress(done).fraction == 1.0 and jobs.progress(done).eta_s is None


def test_resource_usage_of_a_running_job(store):
    busy = "import time\nprint('ready', flush=True)\nt = time.time()\nwhile time.time() - t < 20: pass"
    backend = LocalBackend(store)
    job = jobs.submit_job(store, py(busy), name="busy", backend=backend)
    wait_log(job, "ready")
    jobs.resource_usage(job)
    time.sleep(0.5)
    usage = jobs.resource_usage(job)
    assert usage.cpu_percent > 10 and usage.rss_mb > 5 and usage.gpu_mem_mb is None
    backend.cancel(job, grace_s=5)
    stopped = jobs.resource_usage(store.get_job(job.id))
    assert stopped.to_dict() == {"cpu_percent": None, "rss_mb": None, "gpu_mem_mb": None}


def test_logs_tail(store):
    backend = LocalBackend(store)
    job = jobs.submit_job(store, py("for i in range(50): print('row', i)"), name="chatty", backend=backend)
    job = wait_for(backend, job.id, lambda j: j.is_final)
    assert backend.logs(job, tail_lines=2).splitlines()[0] == "row 49"  # then the wrapper's closing line
    assert backend.logs(job, tail_lines=0) == ""
    assert jobs.job_logs(store, job.id, 3) == backend.logs(job, 3)


def test_a_finishing_job_starts_the_next_queued_one_without_a_watcher(tmp_path):
    """The local queue drains by itself: jobs queued before any app runs still all run."""
    store = jobs.JobStore(tmp_path)
    backend = jobs.LocalBackend(store, max_cpu_jobs=1)
    quick = [sys.executable, "-c", "import time; time.sleep(0.5)"]
    first = jobs.submit_job(store, quick, name="first", backend=backend)
    second = jobs.submit_job(store, quick, name="second", backend=backend)
    assert store.get_job(second.id).status == "queued"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and store.get_job(second.id).status != "succeeded":
        time.sleep(0.2)  # nobody calls reconcile here: the first job's wrapper starts the second
    assert store.get_job(first.id).status == "succeeded"
    assert store.get_job(second.id).status == "succeeded"
