"""Project hygiene: requirements.txt and pyproject.toml list the same pins; torch stays pinned."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _requirements() -> set[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return {line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()}


def test_requirements_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])
    assert _requirements() == declared


def test_torch_is_pinned_to_the_local_cpu_wheel():
    assert "torch==2.13.0" in _requirements()
