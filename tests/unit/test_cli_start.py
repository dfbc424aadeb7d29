"""The CLI's start stays light: ``python -m core --help`` (and building the parser of any sub-command)
imports no torch, transformers or scikit-learn; those load only in the command that needs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "sklearn", "captum", "cleanlab", "ray", "optuna")

_PROBE = """
import contextlib, io, json, sys
{prelude}
from core.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main({argv!r})
print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))
"""


def _modules_after(argv: list[str], *, prelude: str = "") -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(argv=argv, prelude=prelude)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "argv", [["--help"], ["ensemble", "--help"], ["jobs", "--help"], ["score", "--help"], ["sweep", "--help"]]
)
def test_the_cli_start_imports_no_heavy_library(argv: list[str]) -> None:
    loaded = _modules_after(argv)
    assert not loaded & set(HEAVY), f"python -m core {' '.join(argv)} imported {sorted(loaded & set(HEAVY))}"


def test_the_probe_sees_a_heavy_import_when_one_happens() -> None:
    # The same probe with scikit-learn imported on the way proves the check can fail.
    assert "sklearn" in _modules_after(["--help"], prelude="import sklearn.metrics")
