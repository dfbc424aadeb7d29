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
