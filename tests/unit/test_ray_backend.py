"""RayBackend against a real local Ray head (``ray start --head``), started and torn down here.

The head runs in its own session; teardown kills exactly that session's processes and their
children, not every Ray process on the machine as ``ray stop --force`` would (a developer's own
cluster survives ``make test``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from core import jobs
from core.jobs import CANCELLED, FAILED, LOST, RUNNING, SUCCEEDED, JobStore, RayBackend

pytestmark = pytest.mark.slow

RAY = Path(sys.executable).parent / "ray"
PY = sys.executable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _session_tree(sid: int) -> list[psutil.Process]:
    """Every process in session ``sid`` plus their descendants (job drivers start their own sessions)."""
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) != sid:
                continue
            found[proc.pid] = proc
            for child in proc.children(recursive=True):
                found[child.pid] = child
        except (OSError, psutil.Error):
            continue
    return list(found.values())


@pytest.fixture(scope="module")
def ray_address():
    temp_dir = tempfile.mkdtemp(prefix="rs-ray-", dir="/tmp")  # short: Ray's socket paths have a length limit
    dashboard = _free_port()
    cmd = [
        str(RAY),
        "start",
        "--head",
        f"--port={_free_port()}",
        f"--dashboard-port={dashboard}",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-agent-listen-port={_free_port()}",
        f"--ray-client-server-port={_free_port()}",
        "--num-cpus=1",
        "--num-gpus=0",
        "--include-dashboard=true",
        "--disable-usage-stats",
        "--object-store-memory=100000000",
        f"--temp-dir={temp_dir}",
    ]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    started = time.monotonic()
    head = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    sid = head.pid  # the daemons `ray start` leaves behind stay in this session
    try:
        out, _ = head.communicate(timeout=120)
        if head.returncode != 0:
            pytest.fail(f"`ray start --head` failed ({head.returncode}):\n{out[-4000:]}")
        address = f"http://127.0.0.1:{dashboard}"
        from ray.job_submission import JobSubmissionClient

        deadline = time.monotonic() + 60
        while True:
            try:
                JobSubmissionClient(address)
                break
            except Exception as exc:
                if time.monotonic() > deadline:
                    pytest.fail(f"the Ray job server at {address} never answered: {exc}\n{out[-4000:]}")
                time.sleep(0.5)
        print(f"\nRay head up in {time.monotonic() - started:.1f} s at {address}")
        yield address
    finally:
        stopping = time.monotonic()
        procs = _session_tree(sid)
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGKILL)
        _, alive = psutil.wait_procs(procs, timeout=15)
        shutil.rmtree(temp_dir, ignore_errors=True)
        print(f"\nRay head stopped in {time.monotonic() - stopping:.1f} s ({len(procs)} processes)")
        assert not alive, f"Ray processes survived the teardown: {alive}"


@pytest.fixture
def store(tmp_path):
    return JobStore(tmp_path / "ws")


@pytest.fixture(autouse=True)
def allowed_clusters(request, tmp_path, monkeypatch):
    """RayBackend contacts only the clusters the server's restudio.toml lists: list the test head, and
    whatever address a test adds with the returned function."""
    clusters: dict[str, str] = {}
    config = tmp_path / "restudio.toml"

    def allow(**more: str) -> None:
        clusters.update(more)
        config.write_text("[ray.clusters]\n" + "".join(f'{name} = "{addr}"\n' for name, addr in clusters.items()))

    monkeypatch.setenv("RESTUDIO_CONFIG", str(config))
    if "ray_address" in request.fixturenames:
        allow(test_head=request.getfixturevalue("ray_address"))
    return allow


def wait_final(backend: RayBackend, job_id: int, timeout: float = 60.0, until=lambda j: j.is_final):
    deadline = time.monotonic() + timeout
    while True:
        backend.reconcile()
        job = backend.store.get_job(job_id)
        if until(job):
            return job
        assert time.monotonic() < deadline, f"timed out; job is {job}\nlogs:\n{backend.logs(job)}"
        time.sleep(0.2)


TINY = """
import json, os, pathlib, sys
import core  # shipped with the job's working_dir
run = pathlib.Path(os.environ["RESTUDIO_RUN_DIR"])
with (run / "metrics.jsonl").open("a") as fh:
    fh.write(json.dumps({"kind": "train", "step": 1, "max_steps": 1, "epoch": 1.0, "loss": 0.5}) + "\\n")
print("hello from ray", flush=True)
print("core from", pathlib.Path(core.__file__).parent, flush=True)
"""


def test_tiny_job_runs_on_the_cluster(ray_address, store):
    backend = RayBackend(ray_address, store, grace_s=2)
    started = time.monotonic()
    job = jobs.submit_job(store, [PY, "-c", textwrap.dedent(TINY)], name="ray tiny", backend=backend)
    assert job.backend == "ray" and job.ray_address == ray_address and job.ray_job_id.startswith("restudio-1-")
    job = wait_final(backend, job.id)
    print(f"\ntiny Ray job: submitted to succeeded in {time.monotonic() - started:.1f} s")
    assert job.status == SUCCEEDED and job.exit_code == 0 and job.started_at and job.finished_at
    records = [json.loads(line) for line in (job.run_path / "metrics.jsonl").read_text().splitlines()]
    assert records == [{"kind": "train", "step": 1, "max_steps": 1, "epoch": 1.0, "loss": 0.5}]
    assert jobs.progress(job).fraction == 1.0
    logs = backend.logs(job)
    assert "hello from ray" in logs
    core_dir = logs.split("core from ", 1)[1].splitlines()[0]
    assert "runtime_resources" in core_dir  # the repository was shipped, not imported in place
    assert backend.logs(job, tail_lines=1).strip() == f"core from {core_dir}"


def test_failing_job_is_failed_with_its_log_tail(ray_address, store):
    backend = RayBackend(ray_address, store, grace_s=2)
    code = "import sys\nprint('ray boom marker', file=sys.stderr)\nsys.exit(3)"
    job = jobs.submit_job(store, [PY, "-c", code], name="ray bad", backend=backend)
    job = wait_final(backend, job.id)
    assert job.status == FAILED and job.exit_code == 3
    assert "ray boom marker" in job.error


def test_cancel_a_sleeping_job(ray_address, store):
    backend = RayBackend(ray_address, store, grace_s=2)
    code = textwrap.dedent(
        """
        import signal, sys, time
        def stop(signum, frame):
            print("stopping on SIGTERM", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        print("sleeping", flush=True)
        time.sleep(120)
        """
    )
    job = jobs.submit_job(store, [PY, "-c", code], name="ray sleeper", backend=backend)
    job = wait_final(
        backend, job.id, until=lambda j: j.status == RUNNING and "sleeping" in backend.logs(j).splitlines()
    )
    started = time.monotonic()
    job = backend.cancel(job)
    took = time.monotonic() - started
    print(f"\nRay cancel took {took:.1f} s")
    assert job.status == CANCELLED and took < 30
    assert job.cancel_requested_at and job.finished_at
    assert "stopping on SIGTERM" in backend.logs(job)


def test_a_job_the_cluster_does_not_know_is_lost(ray_address, store, monkeypatch):
    monkeypatch.setattr("core.jobs.ray_backend.RAY_SUBMIT_GRACE_S", 0.0)
    backend = RayBackend(ray_address, store)
    job = store.create(name="forgotten", command=[PY, "-c", "pass"], backend="ray", ray_address=ray_address)
    store.update(job.id, ray_job_id="restudio-never-submitted")
    assert [j.id for j in backend.reconcile()] == [job.id]
    job = store.get_job(job.id)
    assert job.status == LOST and "does not know job restudio-never-submitted" in job.error


def test_unreachable_cluster_fails_the_job_with_a_clear_message(store, allowed_clusters):
    address = f"http://127.0.0.1:{_free_port()}"
    allowed_clusters(nowhere=address)
    job = jobs.submit_job(store, [PY, "-c", "pass"], name="nowhere", backend="ray", ray_address=address)
    assert job.status == FAILED
    assert job.error.startswith(f"Ray job submission to {address} failed: cannot reach the Ray job server")
