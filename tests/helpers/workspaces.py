"""Workspaces seeded with the demo dataset, with or without a cross-validation."""

from __future__ import annotations

import os
from pathlib import Path

from core.data.importing import seed_demo
from core.store.workspace import Workspace


def demo_workspace(home: str | os.PathLike[str]) -> Path:
    """Seed the demo dataset (and its default split) into the workspace at ``home``."""
    seed_demo(Workspace(home))
    return Path(home)


def demo_with_crossval(home: Path, *, epochs: int = 3) -> Path:
    """A demo workspace at ``home`` with a quick real 2-fold cross-validation: label issues to look at."""
    from core.train import crossval  # torch and transformers load only for the tests that train

    demo_workspace(home)
    crossval.run_crossval({"workspace": str(home), "epochs": epochs}, k=2, seed=1, out_dir=home / "runs" / "cv")
    return home


def demo_with_runs(
    home: Path, *, steps: int = 40, formats: tuple[str, ...] = ("typed_entity_marker_punct", "entity_marker")
) -> Path:
    """A demo workspace at ``home`` with one short finished training job per input format (seeds 1, 2, ...),
    as the job system leaves them: a returning user's workspace for the Evaluate and Ensemble pages."""
    import torch

    from core import jobs
    from core.train import training

    demo_workspace(home)
    store = jobs.JobStore(home)
    threads = torch.get_num_threads()  # train() sets the process's threads; the test process keeps its own
    try:
        for seed, fmt in enumerate(formats, start=1):
            config = training.validate(
                {"workspace": str(home), "max_steps": steps, "eval_steps": max(steps // 2, 1), "seed": seed,
                 "input_format": fmt}
            )  # fmt: skip
            job = store.create(
                name=f"run {seed} {fmt}", command=jobs.training_command(), kind="train", config=config.to_dict()
            )
            training.train(config, job.run_dir)
            store.transition(job.id, "running", expect={"queued"})
            store.transition(job.id, "succeeded", expect={"running"})
    finally:
        torch.set_num_threads(threads)
    return home
