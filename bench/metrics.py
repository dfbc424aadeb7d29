"""Benchmark: batched KLUE-RE metrics against the plain sklearn recipe, set by set.

The ensemble view scores every subset of its members (4,095 sets for 12 members) on the KLUE test
size, 7,765 rows x 30 classes. This times :func:`core.train.metrics.micro_f1_many` +
:func:`core.train.metrics.auprc_many` on ``--sets`` such probability sets (default 100) against a loop of
:func:`core.train.metrics.reference_micro_f1` + :func:`core.train.metrics.reference_auprc` (sklearn ``f1_score``,
``precision_recall_curve`` and ``auc``, as the KLUE baseline computes them) over the same sets. Each
side is timed as the best of ``--repeat`` runs, alternating, so machine noise hits both alike.
``max_abs_diff`` is the largest difference between the two, over both metrics and all sets (x100
scale); the target is ``max_abs_diff <= 1e-9`` and ``speedup >= 10``.

Measured on the 2-core development machine (numpy 2.4.6 with AVX-512 sorting, sklearn 1.9.1), 100
sets: fast 0.24 s, sklearn 5.2 s, speedup 21.9, max_abs_diff 2.0e-13; extrapolated to the 4,095
ensemble subsets, about 10 s against 3.5 minutes.

Probabilities are seeded and realistic in shape: a 40 % no_relation gold share, softmax outputs of
logits that favour the gold class by a set-dependent margin, and every tenth set rounded to 3
decimals (ties, as in files written with few decimals).

Usage::

    .venv/bin/python bench/metrics.py
    .venv/bin/python bench/metrics.py --sets 100 --repeat 3

Prints one JSON object on stdout (``{"bench": "metrics", "speedup": ..., "max_abs_diff": ...}`` and
details); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import sklearn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.train.metrics import auprc_many, micro_f1_many, reference_auprc, reference_micro_f1

ROWS = 7765
CLASSES = 30
#: Subsets of 12 ensemble members, what the Ensemble view scores exhaustively.
ENSEMBLE_SETS = 2**12 - 1


def make_sets(sets: int, rows: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random(rows) < 0.4, 0, rng.integers(0, classes, rows))
    logits = rng.normal(size=(sets, rows, classes))
    logits[:, np.arange(rows), labels] += rng.uniform(0.5, 3.0, size=(sets, 1))
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    probs[::10] = np.round(probs[::10], 3)
    return labels, probs


def fast(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return micro_f1_many(labels, probs.argmax(axis=-1)), auprc_many(labels, probs)


def plain(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    preds = probs.argmax(axis=-1)
    f1 = np.array([reference_micro_f1(labels, p) for p in preds])
    area = np.array([reference_auprc(labels, p) for p in probs])
    return f1, area


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=100)
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--repeat", type=int, default=3, help="runs per side")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    if min(args.sets, args.rows, args.repeat) < 1:
        parser.error("--sets, --rows and --repeat must be positive")
    labels, probs = make_sets(args.sets, args.rows, CLASSES, args.seed)
    times: dict[str, list[float]] = {"fast": [], "sklearn": []}
    results: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    steps = [("sklearn", plain), ("fast", fast)]
    for i in range(args.repeat):
        for name, fn in steps if i % 2 == 0 else steps[::-1]:
            gc.collect()
            t0 = time.perf_counter()
            results[name] = fn(labels, probs)
            times[name].append(time.perf_counter() - t0)
            print(f"[metrics bench] run {i + 1}: {name} {times[name][-1]:.3f}s", file=sys.stderr)
    diff = max(float(np.abs(a - b).max()) for a, b in zip(results["fast"], results["sklearn"], strict=True))
    fast_s, plain_s = min(times["fast"]), min(times["sklearn"])
    speedup = plain_s / fast_s
    result: dict[str, Any] = {
        "bench": "metrics",
        "speedup": round(speedup, 1),
        "max_abs_diff": diff,
        "sets": args.sets,
        "rows": args.rows,
        "classes": CLASSES,
        "repeat": args.repeat,
        "fast_s": round(fast_s, 4),
        "sklearn_s": round(plain_s, 4),
        "fast_ms_per_set": round(1000 * fast_s / args.sets, 3),
        "sklearn_ms_per_set": round(1000 * plain_s / args.sets, 3),
        f"fast_s_for_{ENSEMBLE_SETS}_sets": round(fast_s / args.sets * ENSEMBLE_SETS, 1),
        f"sklearn_s_for_{ENSEMBLE_SETS}_sets": round(plain_s / args.sets * ENSEMBLE_SETS, 1),
        "target": {"max_abs_diff": 1e-9, "speedup": 10},
        "ok": diff <= 1e-9 and speedup >= 10,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "machine": platform.machine(),
    }
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
