"""Benchmark: load + full audit of a competition CSV against the plain-pandas parse of the same file.

The target (``ratio <= 1.0``): ``core.data.loading.load_file`` followed by ``core.data.audit.audit`` on a file
takes no longer than ``pandas.read_csv`` plus ``ast.literal_eval`` of both entity columns, i.e. what
a team's own notebook spends merely to *read* the file. Both run in this process on the same file;
each is timed as the best of N runs, alternating the two so that machine noise hits both alike.

Files come from :func:`core.data.demo.write_large_csv` (seeded, clean synthetic KLUE-RE rows) in a
temporary folder: by default 32,470 rows (the real train set) and 1,000,000 rows.

Usage::

    .venv/bin/python bench/audit.py                      # both sizes
    .venv/bin/python bench/audit.py --rows 32470 --repeat 5

Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import ast
import gc
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data.audit import audit
from core.data.demo import write_large_csv
from core.data.loading import load_file

#: Files at least this large are timed ``--repeat-large`` times instead of ``--repeat``.
LARGE_ROWS = 200_000


def baseline(path: Path) -> dict[str, float]:
    """What a plain notebook does to read the file: read_csv, then parse both entity literals."""
    t0 = time.perf_counter()
    frame = pd.read_csv(path)
    subjects = frame["subject_entity"].map(ast.literal_eval)
    objects = frame["object_entity"].map(ast.literal_eval)
    elapsed = time.perf_counter() - t0
    assert len(subjects) == len(objects) == len(frame)
    return {"total": elapsed}


def ours(path: Path) -> dict[str, float]:
    """RE Studio: load (parse and validate every row) then the full audit."""
    t0 = time.perf_counter()
    result = load_file(path)
    t1 = time.perf_counter()
    report = audit(result.frame)
    t2 = time.perf_counter()
    assert report.rows == len(result.frame)
    return {"total": t2 - t0, "load": t1 - t0, "audit": t2 - t1}


def best_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """The fastest run (by total), with its own split into phases."""
    return min(runs, key=lambda r: r["total"])


def run_case(rows: int, repeat: int, workdir: Path, seed: int) -> dict[str, Any]:
    path = workdir / f"train_{rows}.csv"
    t0 = time.perf_counter()
    write_large_csv(path, rows, seed=seed)
    print(f"[audit bench] wrote {rows:,} rows in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    timings: dict[str, list[dict[str, float]]] = {"baseline": [], "ours": []}
    steps: list[tuple[str, Callable[[Path], dict[str, float]]]] = [("baseline", baseline), ("ours", ours)]
    for i in range(repeat):
        for name, fn in steps if i % 2 == 0 else steps[::-1]:
            gc.collect()
            timings[name].append(fn(path))
            print(f"[audit bench] {rows:,} rows, run {i + 1}: {name} {timings[name][-1]}", file=sys.stderr)
    base, mine = best_of(timings["baseline"]), best_of(timings["ours"])
    ratio = mine["total"] / base["total"]
    return {
        "rows": rows,
        "repeat": repeat,
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "baseline_s": round(base["total"], 4),
        "ours_s": round(mine["total"], 4),
        "load_s": round(mine["load"], 4),
        "audit_s": round(mine["audit"], 4),
        "ratio": round(ratio, 4),
        "target": 1.0,
        "ok": ratio <= 1.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="32470,1000000", help="comma-separated row counts")
    parser.add_argument("--repeat", type=int, default=5, help="runs per side for files under 200,000 rows")
    parser.add_argument("--repeat-large", type=int, default=2, help="runs per side for larger files")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    try:
        sizes = [int(part) for part in args.rows.split(",") if part.strip()]
    except ValueError:
        parser.error(f"--rows must be comma-separated integers, got {args.rows!r}")
    if not sizes or min(sizes) < 1 or args.repeat < 1 or args.repeat_large < 1:
        parser.error("--rows, --repeat and --repeat-large must be positive")
    cases = []
    with tempfile.TemporaryDirectory(prefix="restudio-bench-") as tmp:
        for rows in sizes:
            repeat = args.repeat if rows < LARGE_ROWS else args.repeat_large
            cases.append(run_case(rows, repeat, Path(tmp), args.seed))
    result = {
        "bench": "audit",
        "cases": cases,
        "python": platform.python_version(),
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "pyarrow": pa.__version__,
        "machine": platform.machine(),
    }
    print(json.dumps(result))
    return 0 if all(case["ok"] for case in cases) else 1


if __name__ == "__main__":
    raise SystemExit(main())
