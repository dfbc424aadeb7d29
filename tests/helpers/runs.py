"""Runs recorded as succeeded training jobs: trained for real (tiny), or fake with random prediction files.

Each job goes through the job store as the job system records a run; a job that moves to running is owned by this
process, so a watcher in a running app leaves it alone.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import psutil
import torch

from core import jobs
from core.data.importing import seed_demo
from core.store.workspace import Workspace
from core.train import training
from core.train.metrics import write_submission
from core.train.predict import submission_labels

#: Three tiny demo runs with different input formats (and heads), as the Train page would make them.
RUN_VARIANTS: tuple[tuple[str, dict[str, object]], ...] = (
    ("typed punct", {"input_format": "typed_entity_marker_punct", "head": "entity_start", "seed": 1}),
    ("entity marker", {"input_format": "entity_marker", "head": "entity_start", "seed": 2}),
    ("baseline cls", {"input_format": "baseline", "head": "cls", "seed": 3}),
)


def train_registered_run(home: str | Path, *, epochs: float = 3, name: str = "explain test run") -> jobs.Job:
    """Train a tiny demo model in ``home`` (seeded) and register it as a succeeded training job."""
    store = jobs.JobStore(str(home))
    # Two torch threads whatever the machine or test runner (one per pytest-xdist worker otherwise): the
    # thread count changes the float sums, so the trained weights, and the quality checks on it are
    # asserted on one reproducible model.
    config = training.validate({"workspace": str(home), "epochs": epochs, "cpu_threads": 2}).to_dict()
    job = store.create(name=name, command=jobs.training_command(), kind="train", config=config)
    store.update(job.id, status="running")
    threads = torch.get_num_threads()
    try:
        summary = training.train(config, job.run_dir)
    finally:
        # train() sets the process's torch threads; the rest of this test process keeps its own count.
        torch.set_num_threads(threads)
    assert summary["status"] == "succeeded", summary
    return store.update(job.id, status="succeeded", exit_code=0)


_TRAINED: dict[float, Path] = {}


def trained_run_dir(epochs: float = 3) -> Path:
    """A real run folder trained once per test process (the unit, AppTest and browser modules reuse it)."""
    if epochs not in _TRAINED:
        home = Path(tempfile.mkdtemp(prefix="explain-train-"))
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        seed_demo(Workspace(home))
        _TRAINED[epochs] = Path(train_registered_run(home, epochs=epochs).run_dir)
    return _TRAINED[epochs]


def register_run_copy(home: str | Path, run_dir: Path, *, name: str) -> jobs.Job:
    """Register a copy of a trained run folder as a succeeded job of the workspace at ``home``."""
    store = jobs.JobStore(str(home))
    config = {**json.loads((run_dir / "config.json").read_text()), "workspace": str(home)}
    job = store.create(name=name, command=jobs.training_command(), kind="train", config=config)
    shutil.copytree(run_dir, job.run_dir, dirs_exist_ok=True)
    store.update(job.id, status="running")
    return store.update(job.id, status="succeeded", exit_code=0)


_DEMO_RUNS: dict[int, Path] = {}


def make_demo_runs(home: str | os.PathLike[str], *, max_steps: int = 40) -> list[jobs.Job]:
    """Three tiny runs on the demo dataset, recorded in ``home`` as succeeded jobs as the job system does.

    The runs are trained once per test session (``core.train.training.train`` with few steps, in a scratch
    demo workspace) and their run folders copied into each workspace that asks: the demo dataset and
    its default split are seeded identically, which is checked. Per workspace, ``JobStore.create``
    makes the job and its run folder, the job moves to running with this process as its owner (so a
    watcher in a running app leaves it alone), gets the run folder's files, and ends succeeded.
    """
    if max_steps not in _DEMO_RUNS:
        scratch = Path(tempfile.mkdtemp(prefix="restudio-ens-runs-"))
        seed_demo(Workspace(scratch))
        for name, options in RUN_VARIANTS:
            config = {"workspace": str(scratch), "max_steps": max_steps, "max_length": 64, "logging_steps": 5}
            config.update(early_stopping_patience=0, eval_batch_size=256, **options)
            summary = training.train(training.validate(config).to_dict(), scratch / "trained" / name)
            assert summary["status"] == "succeeded", summary
        _DEMO_RUNS[max_steps] = scratch
    scratch = _DEMO_RUNS[max_steps]
    home = str(home)
    ws = Workspace(home)
    info = seed_demo(ws)
    source = Workspace(scratch)
    assert ws.split(info.id).dev_ids == source.split(source.dataset(info.name).id).dev_ids, "demo split differs"
    store = jobs.JobStore(home)
    me = psutil.Process()
    out = []
    for name, options in RUN_VARIANTS:
        config = training.validate({"workspace": home, "max_steps": max_steps, "max_length": 64, **options}).to_dict()
        job = store.create(name=name, command=jobs.training_command(), kind="train", config=config)
        store.transition(job.id, jobs.RUNNING, pid=me.pid, pgid=os.getpgid(me.pid), proc_start_time=me.create_time())
        shutil.copytree(scratch / "trained" / name, job.run_dir, dirs_exist_ok=True)
        out.append(store.transition(job.id, jobs.SUCCEEDED, exit_code=0))
    return out


def register_run(
    home: str | os.PathLike[str], name: str, *, checkpoint_run: Path | None = None, seed: int = 0
) -> jobs.Job:
    """A succeeded training job of the demo dataset in ``home``, without training.

    The run folder gets ``summary.json`` and random but valid ``dev_predictions.csv`` (so the Ensemble
    view lists it) and, when given, a copy of ``checkpoint_run`` (a run folder with ``checkpoint/``, for
    the Explain view). The job goes queued, running (owned by this process, so a watcher leaves it
    alone), succeeded: as the job system records a run.
    """
    ws = Workspace(home)
    info = ws.datasets()[-1]
    split = ws.split(info.id)
    assert split is not None
    store = jobs.JobStore(str(home))
    job = store.create(
        name=name,
        command=jobs.training_command(),
        kind="train",
        config={"workspace": str(home), "dataset": info.name},
    )
    me = psutil.Process()
    store.transition(job.id, jobs.RUNNING, pid=me.pid, pgid=os.getpgid(me.pid), proc_start_time=me.create_time())
    run = Path(job.run_dir)
    if checkpoint_run is not None:
        shutil.copytree(checkpoint_run, run, dirs_exist_ok=True)
    labels = submission_labels(info.schema_name, info.labels)
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(len(labels)), size=len(split.dev_ids))
    write_submission(run / "dev_predictions.csv", split.dev_ids, probs, label_names=labels)
    summary = {"status": "succeeded", "dataset_id": info.id, "labels": list(info.labels)}
    (run / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    done = store.transition(job.id, jobs.SUCCEEDED, exit_code=0)
    assert done is not None
    return done
