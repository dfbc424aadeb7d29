"""Benchmark: the Evaluate analyses, reading submission files, and ``python -m core ensemble`` end to end.

Three measurements on the KLUE test size, 7,765 rows x 30 classes:

1. ``analyses``: every analysis of :mod:`core.evaluate` on one run, timed after the files are read:
   headline micro-F1 / AUPRC / accuracy with 1,000-resample bootstrap intervals, confusion matrix,
   per-relation scores, direction errors, slices (type pair, source, sentence length), the no_relation
   threshold (both modes, five seeded half splits, curve), entity-type restriction with its paired
   bootstrap, calibration with temperature scaling, and the paired comparison with a second run. The
   bootstrap resamples are drawn anew (cache cleared) in every timed run. Target: total < 1 s.
2. ``read``: reading ``--files`` submission files (default 10) with the per-cell parser the project used
   before (copied below as the baseline, with the CSV reading it shares) against
   :func:`core.train.metrics.read_submission_with_labels`. Both must give bitwise the same arrays (the same
   float64 bit patterns). Target: wall-clock speedup >= 10; the CPU time of the process (all threads) is
   reported beside it, since other processes on the shared machine stretch the wall times.
3. ``ensemble``: ``python -m core ensemble --method soft --json`` over 10 member files, as a whole process
   (interpreter start, imports, reading and checking the files, every one of the 1,023 subsets), against
   the straightforward script: ``pandas.read_csv`` and ``ast.literal_eval`` of each ``probs`` cell, then
   for every subset ``numpy.mean`` of the members and the sklearn recipe of both metrics
   (``f1_score``; ``precision_recall_curve`` + ``auc`` per class, as :func:`core.train.metrics.reference_*`
   write them, and as ``bench/ensemble.py`` times them). The script's subset loop is timed on a seeded
   sample of ``--sample`` subsets and extrapolated to all of them (``loop_extrapolated``), as in
   ``bench/ensemble.py``. Target: speedup >= 10. The default ``--method all`` (soft, hard and greedy) is
   timed too, for information.

Sides alternate (baseline, candidate, baseline, candidate, ...) so machine noise hits both alike; each
speedup is the median of the per-round ratios. Inputs are seeded: a 40 % no_relation gold share, softmax
outputs of logits that favour the gold class by a member-dependent margin, every third member rounded to
3 decimals (as files written with few decimals); rows and training rows for the slices and the
restriction come from the demo generator (:func:`core.data.demo.generate_rows`).

Measured on the 2-core development machine (full mode, 1 minute), idle (1-minute load under 1):
analyses 0.56 s; reading 10 files 111.7 ms against 10.8 ms a file, speedup 10.4, bitwise equal (the new
reader reads the usual layout straight from the bytes, the two halves of a file on two threads: 16.9 ms
of CPU a file, 6.7x; before it, the CSV-reader path took 28.4 ms, 4.05x); ``core ensemble`` soft 5.2 s
against 73 s for the script (5.6 s reading, the loop extrapolated from 60 subsets), 14.0x;
``--method all`` 16.6 s. With other processes on both cores (load 4 to 5) the reader stays on one thread
and the read speedup was 6 to 8.6: the correctly rounded float parse (Arrow's cast, about 40 % of the new
reader's time) and the comma scan (about 20 %) are what is left.

Usage::

    .venv/bin/python bench/evaluate.py            # about 1 minute on 2 busy cores
    .venv/bin/python bench/evaluate.py --quick    # about 40 s, noisier

Prints one JSON object on stdout; progress goes to stderr. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import ast
import gc
import itertools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.common.schema import KLUE_LABELS, DataError  # noqa: E402
from core.data.demo import generate_rows  # noqa: E402
from core.data.readers import check_file, read_csv_table, short_repr  # noqa: E402
from core.evaluate import scores  # noqa: E402
from core.evaluate.compare import compare_runs  # noqa: E402
from core.evaluate.report import evaluate_arrays, read_allowed, read_rows  # noqa: E402
from core.train.metrics import (  # noqa: E402
    SUM_TOLERANCE,
    read_gold,
    read_submission_with_labels,
    reference_auprc,
    reference_micro_f1,
    write_submission,
)

ROWS = 7765
CLASSES = len(KLUE_LABELS)
TRAIN_ROWS = 32470


def log(message: str) -> None:
    print(f"[evaluate bench] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# the per-cell reader the project used before (the baseline of measurement 2), copied unchanged


def old_parse_probs(cell: str, n_classes: int) -> tuple[list[float] | None, str | None]:
    text = cell.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None, f"probs is not a list of numbers: {short_repr(cell)}"
    inner = text[1:-1]
    if "np.float" in inner:
        return None, "probs holds numpy reprs such as np.float64(...); write plain floats (use .tolist())"
    parts = inner.split(",") if inner.strip() else []
    if len(parts) == 1 and len(inner.split()) > 1:
        return None, "probs is not comma-separated (looks like a printed numpy array; write str(list))"
    try:
        values = [float(part) for part in parts]
    except ValueError:
        return None, f"probs is not a list of numbers: {short_repr(cell)}"
    if len(values) != n_classes:
        return None, f"probs has {len(values)} values; expected {n_classes} (one per label)"
    for j, value in enumerate(values):
        if math.isnan(value):
            return None, f"probs holds NaN at position {j}"
        if math.isinf(value):
            return None, f"probs holds an infinite value at position {j}"
        if value < 0:
            return None, f"probs holds the negative value {value!r} at position {j}"
    total = math.fsum(values)
    if abs(total - 1.0) > SUM_TOLERANCE:
        return None, f"probs sums to {total:.6g}, not 1 (tolerance {SUM_TOLERANCE})"
    return values, None


def old_read_submission_with_labels(
    path: str | os.PathLike[str], label_names: Sequence[str]
) -> tuple[list[str], np.ndarray, list[str] | None]:
    p = Path(path)
    name = os.fspath(path)
    check_file(p, name)
    table = read_csv_table(p, name, None, ("id", "probs"), ("pred_label",))
    problems: list[tuple[int, str, str]] = [(r.row, r.field, r.reason) for r in table.malformed]
    frame, rows = table.frame, table.rows
    if frame.empty and not problems:
        raise DataError(f"{name} has a header line but no data rows.")
    known = set(label_names)
    ids = frame["id"].tolist()
    cells = frame["probs"].tolist()
    pred_labels = frame["pred_label"].tolist() if "pred_label" in frame.columns else None
    first_row: dict[str, int] = {}
    probs = np.empty((len(ids), len(label_names)), dtype=np.float64)
    for i, (rid, cell) in enumerate(zip(ids, cells, strict=True)):
        row = int(rows[i])
        if rid.strip() == "":
            problems.append((row, "id", "id is empty"))
        elif rid in first_row:
            problems.append((row, "id", f"duplicate id {short_repr(rid)} (first at row {first_row[rid]})"))
        else:
            first_row[rid] = row
        if pred_labels is not None and pred_labels[i] not in known:
            problems.append((row, "pred_label", f"unknown label {short_repr(pred_labels[i])}"))
        values, reason = old_parse_probs(cell, len(label_names))
        if reason is not None:
            problems.append((row, "probs", reason))
        else:
            probs[i] = values
    if problems:
        row, field_name, reason = min(problems)
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise DataError(f"{name}: row {row}, field {field_name}: {reason}{more}.")
    return ids, probs, pred_labels


# --------------------------------------------------------------------------------------------------
# inputs


def member_probs(labels: np.ndarray, members: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(members, labels.size, CLASSES))
    logits[:, np.arange(labels.size), labels] += rng.uniform(0.5, 3.0, size=(members, 1))
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    probs[::3] = np.round(probs[::3], 3)
    return probs


def write_inputs(folder: Path, members: int, seed: int) -> dict[str, Any]:
    """Test rows (the demo generator, KLUE test size), their gold file, member submissions, training rows."""
    test = generate_rows(ROWS, seed=seed, no_relation_share=0.4, poh_boost=2.0)
    train = generate_rows(TRAIN_ROWS, seed=seed + 1)
    test.to_csv(folder / "test.csv", index=False)
    train.to_csv(folder / "train.csv", index=False)
    gold = pd.DataFrame({"id": test["id"], "label": test["label"]})
    gold.to_csv(folder / "gold.csv", index=False)
    labels = np.array([KLUE_LABELS.index(x) for x in test["label"]], dtype=np.int64)
    probs = member_probs(labels, members, seed)
    ids = [str(i) for i in test["id"]]
    paths = []
    for m in range(members):
        path = folder / f"member{m}.csv"
        write_submission(path, ids, probs[m], label_names=KLUE_LABELS)
        paths.append(path)
    return {"gold": folder / "gold.csv", "rows": folder / "test.csv", "train": folder / "train.csv", "preds": paths}


def paired_rounds(
    rounds: int, baseline: Callable[[], Any], candidate: Callable[[], Any], name: str
) -> tuple[list[float], list[float], Any, Any, list[float], list[float]]:
    """Alternate baseline and candidate (B A B A ... starting with each in turn).

    Returns the wall times, the last results, and the CPU times of the process (all its threads): on the
    shared 2-core machine other processes stretch the wall times, the CPU times show the work itself.
    """
    base_t, cand_t, base_cpu, cand_cpu = [], [], [], []
    base_r = cand_r = None
    for i in range(rounds):
        order = [("baseline", baseline), ("candidate", candidate)]
        for side, fn in order if i % 2 == 0 else order[::-1]:
            gc.collect()
            c0 = time.process_time()
            t0 = time.perf_counter()
            result = fn()
            elapsed = time.perf_counter() - t0
            cpu = time.process_time() - c0
            if side == "baseline":
                base_t.append(elapsed)
                base_cpu.append(cpu)
                base_r = result
            else:
                cand_t.append(elapsed)
                cand_cpu.append(cpu)
                cand_r = result
            log(f"{name} round {i + 1}: {side} {elapsed:.3f}s (cpu {cpu:.3f}s)")
    return base_t, cand_t, base_r, cand_r, base_cpu, cand_cpu


def median_ratio(base: list[float], cand: list[float]) -> float:
    return statistics.median(b / c for b, c in zip(base, cand, strict=True))


# --------------------------------------------------------------------------------------------------
# 1. the analyses


def bench_analyses(inputs: dict[str, Any], repeat: int) -> dict[str, Any]:
    gold_ids, gold = read_gold(inputs["gold"])
    runs = []
    for path in inputs["preds"][:2]:
        ids, probs, _ = read_submission_with_labels(path, KLUE_LABELS)
        assert ids == gold_ids
        runs.append(probs)
    rows = read_rows(inputs["rows"], gold_ids)
    allowed, _, _ = read_allowed(inputs["train"])
    totals: list[float] = []
    parts: dict[str, list[float]] = {"evaluate_arrays": [], "compare": []}
    report: dict[str, Any] = {}
    for i in range(repeat):
        scores._counts.cache_clear()  # draw the resamples inside the timed work
        gc.collect()
        t0 = time.perf_counter()
        report, _head = evaluate_arrays(
            gold, runs[0], label_names=KLUE_LABELS, ids=gold_ids, rows=rows, allowed=allowed
        )
        t1 = time.perf_counter()
        comparison = compare_runs(gold, runs[0], runs[1], names=("member0", "member1"), label_names=KLUE_LABELS)
        t2 = time.perf_counter()
        parts["evaluate_arrays"].append(t1 - t0)
        parts["compare"].append(t2 - t1)
        totals.append(t2 - t0)
        log(f"analyses run {i + 1}: {t2 - t0:.3f}s (one run {t1 - t0:.3f}s, compare {t2 - t1:.3f}s)")
    # what each analysis costs alone (resamples cached, as in the report after the headline)
    probs = runs[0]
    pred = probs.argmax(axis=1)
    from core.evaluate import calibration, confusion, restriction, slices, threshold

    counts = scores.bootstrap_counts(gold.size)
    singles: dict[str, Callable[[], Any]] = {
        "bootstrap_counts (1,000 x 7,765)": lambda: scores._counts.__wrapped__(gold.size, 1000, 0),
        "micro_f1 + accuracy resampled": lambda: (
            scores.micro_f1_resampled(gold, pred, counts),
            scores.accuracy_resampled(gold, pred, counts),
        ),
        "auprc resampled": lambda: scores.auprc_resampled(gold, probs, counts),
        "confusion + per_class + direction": lambda: (
            confusion.confusion_matrix(gold, pred, label_names=KLUE_LABELS),
            slices.per_class(gold, pred, label_names=KLUE_LABELS),
            slices.direction_errors(gold, pred, label_names=KLUE_LABELS),
        ),
        "threshold (2 modes, 5 splits, curve)": lambda: [
            threshold.threshold_study(gold, probs, mode=m) for m in threshold.MODES
        ],
        "restrict": lambda: restriction.restrict(probs, rows.subj_types, rows.obj_types, allowed),
        "calibration + temperature": lambda: (
            calibration.reliability(gold, probs),
            calibration.temperature_study(gold, probs),
        ),
    }
    breakdown = {}
    for name, fn in singles.items():
        t0 = time.perf_counter()
        fn()
        breakdown[name] = round(time.perf_counter() - t0, 4)
    total = statistics.median(totals)
    return {
        "rows": int(gold.size),
        "classes": CLASSES,
        "resamples": 1000,
        "total_s": round(total, 3),
        "runs_s": [round(t, 3) for t in totals],
        "one_run_s": round(statistics.median(parts["evaluate_arrays"]), 3),
        "compare_s": round(statistics.median(parts["compare"]), 3),
        "breakdown_s": breakdown,
        "restriction_changed": report["restriction"]["changed"],
        "verdict": comparison.verdict,
        "target_s": 1.0,
        "ok": total < 1.0,
    }


# --------------------------------------------------------------------------------------------------
# 2. reading submission files


def bench_read(inputs: dict[str, Any], files: int, rounds: int) -> dict[str, Any]:
    paths = [inputs["preds"][i % len(inputs["preds"])] for i in range(files)]

    def read_all(reader: Callable[..., Any]) -> list[np.ndarray]:
        return [reader(path, KLUE_LABELS)[1] for path in paths]

    base, cand, old, new, base_cpu, cand_cpu = paired_rounds(
        rounds, lambda: read_all(old_read_submission_with_labels), lambda: read_all(read_submission_with_labels), "read"
    )
    # bitwise: the same float64 bit patterns, NaN and -0.0 included
    equal = all(a.shape == b.shape and a.tobytes() == b.tobytes() for a, b in zip(old, new, strict=True))
    speedup = median_ratio(base, cand)
    return {
        "files": files,
        "rows": ROWS,
        "classes": CLASSES,
        "per_cell_s": [round(t, 3) for t in base],
        "new_s": [round(t, 3) for t in cand],
        "per_cell_ms_per_file": round(1000 * statistics.median(base) / files, 1),
        "new_ms_per_file": round(1000 * statistics.median(cand) / files, 1),
        "speedup": round(speedup, 2),
        "per_cell_cpu_ms_per_file": round(1000 * statistics.median(base_cpu) / files, 1),
        "new_cpu_ms_per_file": round(1000 * statistics.median(cand_cpu) / files, 1),
        "cpu_speedup": round(median_ratio(base_cpu, cand_cpu), 2),
        "bitwise_equal": equal,
        "target": ">= 10",
        "ok": bool(equal and speedup >= 10),
    }


# --------------------------------------------------------------------------------------------------
# 3. python -m core ensemble, whole process, against the straightforward script


def straightforward(gold_path: Path, pred_paths: Sequence[Path], sample: int, seed: int) -> dict[str, Any]:
    """Read with pandas + literal_eval, then per subset mean + sklearn; the loop timed on a sample."""
    t0 = time.perf_counter()
    gold = pd.read_csv(gold_path, dtype={"id": str})
    index = {name: i for i, name in enumerate(KLUE_LABELS)}
    labels = gold["label"].map(index).to_numpy()
    members = []
    for path in pred_paths:
        frame = pd.read_csv(path, dtype={"id": str}).set_index("id").loc[gold["id"]]
        members.append(np.array([ast.literal_eval(cell) for cell in frame["probs"]], dtype=np.float64))
    probs = np.stack(members)
    read_s = time.perf_counter() - t0
    subsets = [s for k in range(1, len(pred_paths) + 1) for s in itertools.combinations(range(len(pred_paths)), k)]
    rng = np.random.default_rng(seed)
    picked = (
        subsets
        if not sample or sample >= len(subsets)
        else [subsets[i] for i in sorted(rng.choice(len(subsets), size=sample, replace=False).tolist())]
    )
    t1 = time.perf_counter()
    for subset in picked:
        mean = np.mean(probs[list(subset)], axis=0)
        reference_micro_f1(labels, mean.argmax(axis=1))
        reference_auprc(labels, mean)
    loop_s = time.perf_counter() - t1
    return {
        "read_s": read_s,
        "loop_s": loop_s,
        "subsets": len(subsets),
        "timed_subsets": len(picked),
        "total_s": read_s + loop_s * len(subsets) / len(picked),
    }


def core_ensemble(gold_path: Path, pred_paths: Sequence[Path], method: str) -> float:
    argv = [sys.executable, "-m", "core", "ensemble", "--gold", str(gold_path), *map(str, pred_paths)]
    argv += ["--method", method, "--json"]
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"python -m core ensemble failed ({done.returncode}): {done.stderr.strip()}")
    rows = json.loads(done.stdout)
    if not rows:
        raise SystemExit("python -m core ensemble printed no ensembles")
    return elapsed


def bench_ensemble(inputs: dict[str, Any], rounds: int, sample: int, seed: int) -> dict[str, Any]:
    gold, preds = inputs["gold"], inputs["preds"]
    base: list[float] = []
    cand: list[float] = []
    details: list[dict[str, Any]] = []
    for i in range(rounds):
        steps = [("baseline", None), ("candidate", None)]
        for side, _ in steps if i % 2 == 0 else steps[::-1]:
            gc.collect()
            if side == "baseline":
                info = straightforward(gold, preds, sample, seed + i)
                details.append(info)
                base.append(info["total_s"])
                log(
                    f"ensemble round {i + 1}: straightforward read {info['read_s']:.2f}s + loop {info['loop_s']:.2f}s "
                    f"on {info['timed_subsets']} subsets -> {info['total_s']:.1f}s for {info['subsets']}"
                )
            else:
                cand.append(core_ensemble(gold, preds, "soft"))
                log(f"ensemble round {i + 1}: python -m core ensemble --method soft {cand[-1]:.2f}s")
    all_methods = core_ensemble(gold, preds, "all")
    log(f"python -m core ensemble --method all {all_methods:.2f}s")
    speedup = median_ratio(base, cand)
    return {
        "members": len(preds),
        "subsets": details[0]["subsets"],
        "rows": ROWS,
        "core_soft_s": [round(t, 2) for t in cand],
        "core_all_methods_s": round(all_methods, 2),
        "straightforward_s": [round(t, 1) for t in base],
        "straightforward_read_s": [round(d["read_s"], 2) for d in details],
        "straightforward_loop_timed_subsets": details[0]["timed_subsets"],
        "loop_extrapolated": details[0]["timed_subsets"] < details[0]["subsets"],
        "speedup": round(speedup, 1),
        "target": ">= 10",
        "ok": bool(speedup >= 10),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and a smaller loop sample (noisier)")
    parser.add_argument("--files", type=int, default=10, help="submission files read in measurement 2")
    parser.add_argument("--sample", type=int, default=None, help="subsets the straightforward loop scores (0: all)")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    rounds_analyses, rounds_read, rounds_ensemble = (2, 2, 1) if args.quick else (3, 4, 2)
    sample = args.sample if args.sample is not None else (20 if args.quick else 60)
    with tempfile.TemporaryDirectory(prefix="evaluate-bench-") as tmp:
        log("writing inputs")
        inputs = write_inputs(Path(tmp), 10, args.seed)
        log("1. analyses")
        analyses = bench_analyses(inputs, rounds_analyses)
        log("2. reading submission files")
        read = bench_read(inputs, args.files, rounds_read)
        log("3. python -m core ensemble")
        ensemble = bench_ensemble(inputs, rounds_ensemble, sample, args.seed)
    result = {
        "bench": "evaluate",
        "quick": args.quick,
        "analyses": analyses,
        "read": read,
        "ensemble": ensemble,
        "ok": bool(analyses["ok"] and read["ok"] and ensemble["ok"]),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
