"""Benchmark: exhaustive ensemble scoring against the straightforward loop, in the same run.

Scores every non-empty subset of ``--members`` (default 10: 1,023 subsets) soft-voting members on the
KLUE test size, 7,765 rows x 30 classes, with :func:`core.analysis.ensemble.score_subsets` (depth-first running
sums + the batched metrics of :mod:`core.train.metrics`), and with the straightforward loop a notebook would
write: per subset ``numpy.mean`` over the members, then ``sklearn.metrics.f1_score`` (micro, without
no_relation) and, per class, ``precision_recall_curve`` + ``auc`` (:func:`core.train.metrics.reference_micro_f1`
and :func:`core.train.metrics.reference_auprc`).

The loop costs about 55 ms a subset (about a minute for 1,023), so by default it runs on a seeded random
sample of ``--sample`` subsets and its time is extrapolated to all of them (``loop_extrapolated``: true in
the JSON); ``--sample 0`` runs it on every subset. ``max_abs_diff`` compares the two on the subsets the loop
scored (x100 scale). Targets: ``speedup >= 10`` and ``max_abs_diff <= 1e-9``.

Members are seeded and realistic in shape: a 40 % no_relation gold share, softmax outputs of logits that
favour the gold class by a member-dependent margin, and every third member rounded to 3 decimals (ties,
as in files written with few decimals).

Usage::

    .venv/bin/python bench/ensemble.py
    .venv/bin/python bench/ensemble.py --members 10 --sample 0

Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import sklearn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.analysis.ensemble import score_subsets
from core.analysis.ensemble_members import MemberSet
from core.common.schema import KLUE_SCHEMA
from core.train.metrics import reference_auprc, reference_micro_f1

ROWS = 7765
CLASSES = 30


def make_members(m: int, rows: int, seed: int) -> MemberSet:
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random(rows) < 0.4, 0, rng.integers(0, CLASSES, rows))
    logits = rng.normal(size=(m, rows, CLASSES))
    logits[:, np.arange(rows), labels] += rng.uniform(0.5, 3.0, size=(m, 1))
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    probs[::3] = np.round(probs[::3], 3)
    names = tuple(f"m{i}" for i in range(m))
    return MemberSet(
        names=names,
        ids=tuple(str(i) for i in range(rows)),
        labels=labels.astype(np.int64),
        probs=probs,
        label_names=KLUE_SCHEMA.labels,
        sources=names,
        test_paths=(None,) * m,
    )


def plain_loop(members: MemberSet, subsets: list[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    f1, area = [], []
    for subset in subsets:
        mean = np.mean(members.probs[list(subset)], axis=0)
        f1.append(reference_micro_f1(members.labels, mean.argmax(axis=1)))
        area.append(reference_auprc(members.labels, mean))
    return np.array(f1), np.array(area)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--sample", type=int, default=100, help="subsets the loop scores (0: all)")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)

    members = make_members(args.members, args.rows, args.seed)
    all_subsets = [s for k in range(1, args.members + 1) for s in itertools.combinations(range(args.members), k)]
    total = len(all_subsets)
    print(f"fast path: {total} subsets of {args.members} members, {args.rows} x {CLASSES}", file=sys.stderr)
    start = time.perf_counter()
    table = score_subsets(members, methods=("soft",))
    fast_s = time.perf_counter() - start

    rng = np.random.default_rng(args.seed)
    if args.sample and args.sample < total:
        picked = sorted(rng.choice(total, size=args.sample, replace=False).tolist())
        sample = [all_subsets[i] for i in picked]
    else:
        sample = all_subsets
    print(f"straightforward loop on {len(sample)} subsets", file=sys.stderr)
    start = time.perf_counter()
    f1, area = plain_loop(members, sample)
    loop_s = time.perf_counter() - start
    loop_total_s = loop_s * total / len(sample)

    by_subset = {s: i for i, s in enumerate(table["subset"])}
    rows = [by_subset[s] for s in sample]
    diff_f1 = np.abs(table["micro_f1"].to_numpy()[rows] - f1)
    diff_auprc = np.abs(table["auprc"].to_numpy()[rows] - area)
    result: dict[str, Any] = {
        "bench": "ensemble",
        "members": args.members,
        "subsets": total,
        "rows": args.rows,
        "classes": CLASSES,
        "method": "soft",
        "fast_s": round(fast_s, 3),
        "loop_subsets_timed": len(sample),
        "loop_s": round(loop_s, 3),
        "loop_extrapolated": len(sample) < total,
        "loop_s_for_all_subsets": round(loop_total_s, 2),
        "speedup": round(loop_total_s / fast_s, 1),
        "max_abs_diff": float(max(diff_f1.max(), diff_auprc.max())),
        "max_abs_diff_micro_f1": float(diff_f1.max()),
        "max_abs_diff_auprc": float(diff_auprc.max()),
        "targets": {"speedup": ">= 10", "max_abs_diff": "<= 1e-9"},
        "ok": bool(loop_total_s / fast_s >= 10 and max(diff_f1.max(), diff_auprc.max()) <= 1e-9),
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
