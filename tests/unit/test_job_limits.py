"""A job system safe to serve to a team: training option limits, queue caps, who launched each job (and
the migration that adds that column), Ray only to the configured clusters with nothing secret uploaded,
and the switch that keeps hub models off the server."""

from __future__ import annotations

import json
import socket
import sqlite3
import sys
import time
import zipfile
from pathlib import Path

import pytest

from core import cli, jobs
from core.common.config import ServerConfig
from core.jobs import JobError, JobStore, LocalBackend
from core.train import crossval, training
from core.train.config import HUB_DOWNLOAD_ENV, LIMITS, MAX_FOLDS, ConfigError, hub_downloads_allowed, position_limit

PY = sys.executable


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "ws")


@pytest.fixture
def server_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write the server's restudio.toml (RESTUDIO_CONFIG points at it) and return its path."""
    path = tmp_path / "restudio.toml"
    monkeypatch.setenv("RESTUDIO_CONFIG", str(path))

    def write(text: str) -> Path:
        path.write_text(text, encoding="utf-8")
        return path

    write("")
    return write


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection attempt fails the test: refusals must come before anything is contacted."""

    def refuse(self: socket.socket, address: object) -> None:
        raise AssertionError(f"a connection to {address} was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


# -- training option limits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "too_much", "shown"),
    [
        ("epochs", 101, "100"),
        ("max_steps", 1_000_001, "1,000,000"),
        ("batch_size", 1025, "1,024"),
        ("eval_batch_size", 5000, "4,096"),
        ("grad_accum", 257, "256"),
        ("num_workers", 17, "16"),
        ("cpu_threads", 65, "64"),
        ("logging_steps", 100_001, "100,000"),
        ("early_stopping_patience", 101, "100"),
        ("folds", 11, "10"),
    ],
)
def test_each_option_over_its_limit_is_refused_naming_it(option: str, too_much: int, shown: str) -> None:
    limit = LIMITS[option]
    extra = {"fold": 0} if option == "folds" else {}
    training.validate({option: limit, **extra}, check_data=False)  # the limit itself is fine
    with pytest.raises(ConfigError, match=rf"{option} must be at most {shown}, got {too_much:,}"):
        training.validate({option: too_much, **extra}, check_data=False)


def test_max_length_is_held_to_the_models_own_limit(tmp_path: Path) -> None:
    training.validate({"max_length": 512}, check_data=False)
    with pytest.raises(ConfigError, match=r"max_length must be at most 512 for model 'tiny'"):
        training.validate({"max_length": 1024}, check_data=False)
    with pytest.raises(ConfigError, match="max_length must be between 16 and 8192"):
        training.validate({"max_length": 10_000}, check_data=False)
    # A local model folder: its config (positions) and tokenizer config say how long an input may be.
    folder = tmp_path / "small-bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "max_position_embeddings": 128}))
    training.validate({"model": str(folder), "max_length": 128}, check_data=False)
    with pytest.raises(ConfigError, match=r"max_length must be at most 128 for model .*small-bert"):
        training.validate({"model": str(folder), "max_length": 256}, check_data=False)
    # RoBERTa numbers positions after the padding index: 514 embeddings take 512 tokens.
    assert position_limit({"model_type": "roberta", "max_position_embeddings": 514}) == 512
    assert position_limit({"max_position_embeddings": 512}, {"model_max_length": 256}) == 256
    assert position_limit({}, {"model_max_length": int(1e30)}) is None


def test_crossval_k_is_bounded_before_anything_is_read(tmp_path: Path) -> None:
    with pytest.raises(crossval.CrossvalError, match="k must be at most 10 folds"):
        crossval.fold_configs({"workspace": str(tmp_path / "none")}, k=11)
    assert crossval.MAX_K == MAX_FOLDS == 10 and crossval.CONFIRM_ABOVE_K == 5


# -- queue caps ------------------------------------------------------------------------------------------


def queue(store: JobStore, owner: str, server: ServerConfig, name: str = "j") -> jobs.Job:
    # No CPU slot: every job stays queued, so the count is exactly what was submitted.
    return jobs.submit_job(
        store, [PY, "-c", "pass"], name=name, backend=LocalBackend(store, max_cpu_jobs=0), owner=owner,
        server_config=server,
    )  # fmt: skip


def test_per_person_and_total_caps_refuse_with_the_cap_in_the_message(store: JobStore) -> None:
    server = ServerConfig(max_queued_per_user=2, max_queued_total=3)
    first = queue(store, "ana@lab.example", server)
    queue(store, "ana@lab.example", server)
    with pytest.raises(jobs.QueueFull, match=r"full for ANA@lab.example: 2 job\(s\) .* the cap is 2 per person"):
        queue(store, "ANA@lab.example", server)  # the same person, typed another way
    queue(store, "min@lab.example", server)
    with pytest.raises(jobs.QueueFull, match=r"server's job queue is full: 3 job\(s\) .* cap is 3 \(max_queued_total"):
        queue(store, "bo@lab.example", server)
    assert len(store.list_jobs()) == 3  # nothing was written for the refusals
    LocalBackend(store).cancel(first)  # a finished job frees its place
    assert queue(store, "bo@lab.example", server).owner == "bo@lab.example"


def test_caps_come_from_the_servers_file_and_count_a_group_whole(store: JobStore, server_toml) -> None:
    server_toml("[limits]\nmax_queued_per_user = 3\nmax_queued_total = 4\n")
    backend = LocalBackend(store, max_cpu_jobs=0)
    for name in ("one", "two", "three"):
        jobs.submit_job(store, [PY, "-c", "pass"], name=name, backend=backend, owner="ana")
    with pytest.raises(jobs.QueueFull, match=r"the cap is 3 per person \(max_queued_per_user in restudio\.toml\)"):
        jobs.submit_job(store, [PY, "-c", "pass"], name="four", backend=backend, owner="ana")
    # A cross-validation group is checked whole, before its first job.
    jobs.check_queue_room(store, 1, owner="")
    with pytest.raises(jobs.QueueFull, match=r"3 job\(s\) are queued or running and the cap is 4 .* so 2 jobs cannot"):
        jobs.check_queue_room(store, 2, owner="")


def test_a_crossval_group_that_does_not_fit_queues_nothing(tmp_path: Path, server_toml, monkeypatch) -> None:
    from core.data.importing import seed_demo
    from core.store.workspace import Workspace

    monkeypatch.setenv("RESTUDIO_MAX_CPU_JOBS", "0")
    server_toml("[limits]\nmax_queued_per_user = 3\n")
    ws = Workspace(tmp_path / "demo")
    seed_demo(ws)
    with pytest.raises(jobs.QueueFull, match="so 4 more jobs cannot be added"):
        crossval.submit_crossval(ws.root, {}, k=4, owner="ana")
    assert JobStore(ws.root).list_jobs() == []
    crossval.submit_crossval(ws.root, {}, k=3, owner="ana")
    assert [j.owner for j in JobStore(ws.root).list_jobs()] == ["ana"] * 3


# -- who launched each job ---------------------------------------------------------------------------------

OLD_SCHEMA = """
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, kind TEXT NOT NULL, backend TEXT NOT NULL,
    status TEXT NOT NULL, config_json TEXT, command_json TEXT NOT NULL, run_dir TEXT NOT NULL,
    gpu_request TEXT, gpu TEXT, pid INTEGER, pgid INTEGER, proc_start_time REAL, ray_address TEXT,
    ray_job_id TEXT, created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT, exit_code INTEGER,
    error TEXT, group_id TEXT, parent_id INTEGER REFERENCES jobs(id), cancel_requested_at TEXT
);
INSERT INTO jobs (name, kind, backend, status, command_json, run_dir, created_at)
VALUES ('from last year', 'train', 'local', 'succeeded', '["true"]', '/tmp/old-run', '2025-01-01T00:00:00+00:00');
"""


def test_an_older_database_gains_the_owner_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    with sqlite3.connect(home / "restudio.db") as con:
        con.executescript(OLD_SCHEMA)
    monkeypatch.setenv("RESTUDIO_AUTHOR", "ana@lab.example")
    store = JobStore.from_db(home / "restudio.db")
    JobStore.from_db(home / "restudio.db")  # a second process opening it finds the column there
    (old,) = store.list_jobs()
    assert old.name == "from last year" and old.owner is None
    new = store.create(name="new", command=["true"])
    assert store.get_job(new.id).owner == "ana@lab.example"  # RESTUDIO_AUTHOR, as the CLI records it
    with sqlite3.connect(home / "restudio.db") as con:
        assert "owner" in [row[1] for row in con.execute("PRAGMA table_info(jobs)")]


def test_the_owner_is_the_author_else_the_os_user_and_the_cli_lists_it(
    store: JobStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import getpass

    monkeypatch.delenv("RESTUDIO_AUTHOR", raising=False)
    assert store.create(name="a", command=["true"]).owner == getpass.getuser()
    assert store.create(name="b", command=["true"], owner=" min@lab.example ").owner == "min@lab.example"
    assert cli.main(["jobs", "--home", str(store.root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-1] == "owner" and lines[2].rstrip().endswith("min@lab.example")
    assert cli.main(["jobs", "--json", "--home", str(store.root)]) == 0
    assert [r["owner"] for r in json.loads(capsys.readouterr().out)] == [getpass.getuser(), "min@lab.example"]


# -- Ray: only the configured clusters -----------------------------------------------------------------------

OUTSIDE = "http://203.0.113.9:8265"


@pytest.fixture
def no_ray_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Making a Ray client for a refused address would already be a request to it."""
    from ray import job_submission

    def refuse(address: str, *args: object, **kwargs: object) -> None:
        raise AssertionError(f"a Ray client was made for {address}")

    monkeypatch.setattr(job_submission, "JobSubmissionClient", refuse)


def test_an_address_that_is_not_a_configured_cluster_is_refused_before_anything(
    store: JobStore, server_toml, no_ray_client, no_network
) -> None:
    with pytest.raises(JobError, match=r"No Ray cluster is configured on this server: .*\[ray.clusters\]"):
        jobs.submit_job(store, [PY, "-c", "pass"], name="x", backend="ray", ray_address=OUTSIDE)
    server_toml('[ray.clusters]\ngpu-a = "http://10.0.0.5:8265"\n')
    with pytest.raises(JobError, match=r"'http://203.0.113.9:8265' is not one of this server's Ray clusters \(gpu-a\)"):
        jobs.submit_training(store, {"model": "tiny"}, name="x", backend="ray", ray_address=OUTSIDE)
    with pytest.raises(JobError, match="not one of this server's Ray clusters"):
        jobs.RayBackend(OUTSIDE, store)
    assert store.list_jobs() == []
    assert jobs.resolve_ray_cluster("gpu-a") == "http://10.0.0.5:8265"
    with pytest.raises(JobError, match="No Ray cluster named 'gpu-b' on this server; configured: gpu-a"):
        jobs.resolve_ray_cluster("gpu-b")
    assert jobs.RayBackend("http://10.0.0.5:8265/", store).address == "http://10.0.0.5:8265/"  # same address


def test_a_stored_job_at_an_unlisted_address_is_neither_polled_nor_contacted(
    store: JobStore, server_toml, no_ray_client, no_network
) -> None:
    """A job row from before the allow-list (or a cluster the operator removed) never makes this server
    send requests to that address: the watcher skips it and a cancel is refused with the reason."""
    job = store.create(name="old", command=["true"], backend="ray", ray_address=OUTSIDE)
    store.update(job.id, ray_job_id="restudio-1-abc")
    assert jobs.Watcher(store).tick() == []
    assert store.get_job(job.id).status == jobs.QUEUED
    with pytest.raises(JobError, match=r"No Ray cluster is configured on this server"):
        jobs.cancel_job(store, job.id)


def test_the_crossval_cli_takes_a_cluster_name_only(
    tmp_path: Path, server_toml, no_ray_client, capsys: pytest.CaptureFixture[str]
) -> None:
    server_toml('[ray.clusters]\ngpu-a = "http://10.0.0.5:8265"\n')
    home = ["--set", f"workspace={tmp_path / 'ws'}"]
    assert cli.main(["crossval", *home, "--submit", "--backend", "ray", "--ray-cluster", "elsewhere"]) == 2
    assert "error: No Ray cluster named 'elsewhere' on this server; configured: gpu-a" in capsys.readouterr().err
    assert cli.main(["crossval", *home, "--submit", "--backend", "ray"]) == 2
    assert "--backend ray needs --ray-cluster NAME" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["crossval", *home, "--submit", "--backend", "ray", "--ray-address", OUTSIDE])
    assert "unrecognized arguments: --ray-address" in capsys.readouterr().err


def uploaded(working_dir: Path, excludes: list[str]) -> set[str]:
    """The files Ray's own packaging puts in a job's working_dir upload (ignoring .gitignore, which a
    deployed copy may lack)."""
    from ray._private.runtime_env.packaging import create_package

    target = working_dir.parent / "package.zip"
    create_package(str(working_dir), target, include_gitignore=False, excludes=excludes)
    with zipfile.ZipFile(target) as zf:
        return {name for name in zf.namelist() if not name.endswith("/")}


def test_secrets_workspaces_environments_and_data_stay_out_of_the_upload(
    tmp_path: Path, server_toml, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    files = {
        "core/jobs.py": "code",
        "core/sub/mod.py": "code",
        "app.py": "code",
        ".streamlit/config.toml": "[server]",
        ".streamlit/secrets.toml": "password = 'hunter2'",
        "restudio.toml": "[access]",
        "deploy/prod-restudio.toml": "[access]",
        "workspace/restudio.db": "db",
        "workspace/runs/1-x/checkpoint/model.safetensors": "w",
        "team-ws/restudio.db": "db",
        "team-ws/runs/2-y/metrics.jsonl": "{}",
        ".venv/bin/python": "exe",
        ".git/config": "[remote]",
        "data/train.csv": "id,sentence",
        "klue_train.json": "[]",
        "notes.parquet": "p",
        "core/__pycache__/jobs.cpython-312.pyc": "pyc",
        ".env": "TOKEN=x",
    }
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    config = server_toml('[ray.clusters]\nhead = "http://127.0.0.1:8265"\n')
    monkeypatch.setenv("RESTUDIO_HOME", str(repo / "team-ws"))  # a workspace inside the repo, another name
    monkeypatch.setenv("RESTUDIO_CONFIG", str(repo / "deploy" / "prod-restudio.toml"))
    (repo / "deploy" / "prod-restudio.toml").write_text(config.read_text())
    backend = jobs.RayBackend("http://127.0.0.1:8265", JobStore(tmp_path / "ws"), working_dir=repo, excludes=[])
    assert uploaded(repo, backend.excludes) == {"core/jobs.py", "core/sub/mod.py", "app.py", ".streamlit/config.toml"}
    # The store's own workspace is left out too, wherever it lies in the working dir.
    inside = JobStore(repo / "elsewhere-ws")
    backend = jobs.RayBackend("http://127.0.0.1:8265", inside, working_dir=repo)
    assert not any(name.startswith("elsewhere-ws/") for name in uploaded(repo, backend.excludes))
    assert "/elsewhere-ws/" in backend.excludes


def test_the_repositorys_own_upload_holds_code_only() -> None:
    excludes = jobs.ray_excludes()
    for pattern in (".streamlit/secrets.toml", "restudio.toml", "workspace/", ".venv/", ".git/", "*.csv", "*.db"):
        assert pattern in excludes


# -- hub downloads -------------------------------------------------------------------------------------------

FAKE_HUB_ID = "restudio-test/never-published-model"


def test_hub_downloads_off_refuse_an_uncached_id_at_submit_without_network(
    server_toml, no_network, monkeypatch
) -> None:
    from core.train import config as train_config

    monkeypatch.setattr(train_config, "hub_unavailable", lambda model: None)  # a hub that has it
    training.validate({"model": FAKE_HUB_ID}, check_data=False)  # allowed by default: the worker may fetch it
    server_toml("[models]\nallow_hub_download = false\n")
    message = f"model '{FAKE_HUB_ID}' is not in the local cache and hub downloads are off on this server"
    with pytest.raises(ConfigError, match=message):
        training.validate({"model": FAKE_HUB_ID}, check_data=False)
    training.validate({"model": "tiny"}, check_data=False)  # built locally: never a download


def test_the_model_loader_itself_stays_offline_when_downloads_are_off(server_toml, no_network) -> None:
    from core.train import model

    message = f"model '{FAKE_HUB_ID}' is not in the local cache and hub downloads are off on this server"
    with pytest.raises(model.ModelNotAvailable, match=message):
        model.load_tokenizer(FAKE_HUB_ID, allow_hub_download=False)
    with pytest.raises(model.ModelNotAvailable, match=message):
        model.load_backbone(FAKE_HUB_ID, allow_hub_download=False)
    with pytest.raises(model.ModelNotAvailable, match=message):
        model.load_classifier(FAKE_HUB_ID, allow_hub_download=False)
    # Without an explicit choice the server's file decides, so no caller (a job) can skip it.
    server_toml("[models]\nallow_hub_download = false\n")
    with pytest.raises(model.ModelNotAvailable, match=message):
        model.load_tokenizer(FAKE_HUB_ID)


def test_explain_of_a_hub_id_stays_offline_when_downloads_are_off(server_toml, no_network) -> None:
    from core.analysis import explain
    from core.train.model import ModelNotAvailable

    server_toml("[models]\nallow_hub_download = false\n")
    message = f"model '{FAKE_HUB_ID}' is not in the local cache and hub downloads are off on this server"
    with pytest.raises(ModelNotAvailable, match=message):
        explain.load_explainer(FAKE_HUB_ID)


def test_a_cached_hub_model_still_loads_with_downloads_off(
    tmp_path: Path, server_toml, no_network, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    from core.train import model

    server_toml("[models]\nallow_hub_download = false\n")
    cache = tmp_path / "hf-cache"
    repo = cache / "models--restudio-test--cached-tiny"
    model.build_tiny_model(repo / "snapshots" / ("a" * 40), ["이순신은 1545년에 태어났다.", "hello world"] * 4)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    training.validate({"model": "restudio-test/cached-tiny", "max_length": 512}, check_data=False)
    with pytest.raises(ConfigError, match=r"max_length must be at most 512 for model 'restudio-test/cached-tiny'"):
        training.validate({"model": "restudio-test/cached-tiny", "max_length": 600}, check_data=False)
    assert model.load_tokenizer("restudio-test/cached-tiny").is_fast
    assert model.load_backbone("restudio-test/cached-tiny").config.max_position_embeddings == 512


def test_jobs_carry_the_refusal_and_nothing_turns_it_back_on(
    store: JobStore, server_toml, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HUB_DOWNLOAD_ENV, "1")  # cannot allow what the server forbids
    server_toml("[models]\nallow_hub_download = false\n")
    assert not hub_downloads_allowed()
    server_toml("")
    assert hub_downloads_allowed()
    monkeypatch.setenv(HUB_DOWNLOAD_ENV, "0")  # set by the backends for a Ray job, which has no file
    assert not hub_downloads_allowed()
    monkeypatch.delenv(HUB_DOWNLOAD_ENV)
    # A local job of a server that forbids downloads runs with the refusal in its environment.
    server_toml("[models]\nallow_hub_download = false\n")
    code = f"import os; print('hub', os.environ.get({jobs.HUB_DOWNLOAD_ENV!r}), os.environ.get('HF_HUB_OFFLINE'))"
    job = jobs.submit_job(store, [PY, "-c", code], name="env", backend=LocalBackend(store, max_cpu_jobs=1))
    deadline = time.monotonic() + 60
    while not store.get_job(job.id).is_final and time.monotonic() < deadline:
        LocalBackend(store).reconcile()
        time.sleep(0.1)
    assert store.get_job(job.id).status == jobs.SUCCEEDED
    assert "hub 0 1" in job.log_path.read_text()
