"""Benchmark: what each training technique does to the tiny demo model, against the same run with all of them off.

Techniques (options of :class:`core.train.config.TrainConfig`, each off by default):

- ``entity_swap``: ``augment_entity_swap`` (swapped rows for inverse and symmetric relations);
- ``entity_replace``: ``augment_entity_replace`` = ``--replace`` (a copy of that share of the rows with one
  entity replaced by a train word of its type);
- ``word_mask``: ``augment_word_mask`` = ``--mask`` (each non-entity word masked with that probability);
- ``restrict_types``: ``restrict_types`` (relations never seen with a row's type pair masked in loss and prediction).

Every run is :func:`core.train.training.train` (the job's code) on a freshly seeded demo workspace with the same
seed and the same number of optimizer steps: ``--epochs`` epochs of the baseline's train rows (augmented runs
see more rows, so they make fewer passes over them in the same steps), early stopping off and one evaluation,
at the last step, so the model scored is the last one for every run (no best-checkpoint pick on dev). Dev
micro-F1 and AUPRC (x100) of each run are listed, with each technique's ratio and difference against the
baseline; the demo's test part (which carries gold labels) is listed too.

One seed per run: differences of a point or so are within what another seed would change (the demo dev part
has 300 rows, so one row is 0.33 micro-F1 points at most); ``--seeds`` runs several and reports the means.

Measured on the shared 2-core development machine (torch CPU, 2 threads, under load from other work; defaults:
3 epochs = 255 steps of batch 32, seed 42, 11 minutes), dev micro-F1 / AUPRC (ratio to the baseline):

==================  ======================  ============  ============  ==========
run                 dev micro-F1 / AUPRC    ratio F1      ratio AUPRC   train rows
==================  ======================  ============  ============  ==========
all off             89.10 / 87.02           1             1             2,700
entity_swap         79.81 / 72.93           0.896         0.838         3,065
entity_replace 0.3  89.88 / 86.08           1.009         0.989         3,508
word_mask 0.15      89.93 / 80.51           1.009         0.925         2,700
restrict_types      93.37 / 88.27           1.048         1.014         2,700
==================  ======================  ============  ============  ==========

Entity swap at 6 epochs (510 steps) is still behind: 86.19 / 83.42 against 93.46 / 88.49 all off. Its loss is
mostly direction: 7 of the 17 dev ``org:member_of`` rows become ``org:members`` (the swapped rows repeat each
sentence with the inverse label, and the tiny from-scratch model has not learned to read the marker roles).

Usage::

    .venv/bin/python bench/techniques.py                  # 3 epochs, seed 42, 5 runs: about 11 minutes
    .venv/bin/python bench/techniques.py --epochs 6 --seeds 42 7   # longer and two seeds (about 40 minutes)
    .venv/bin/python bench/techniques.py --only restrict_types     # the baseline and one technique

Prints one JSON object on stdout (``{"bench": "techniques", "baseline": {...}, "techniques": {...}}``);
progress goes to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.data.importing import seed_demo  # noqa: E402
from core.store.workspace import Workspace  # noqa: E402
from core.train.config import TrainConfig  # noqa: E402
from core.train.dataset import load_data  # noqa: E402
from core.train.training import train  # noqa: E402

TECHNIQUES = ("entity_swap", "entity_replace", "word_mask", "restrict_types")


def technique_options(name: str, *, replace: float, mask: float) -> dict[str, Any]:
    return {
        "baseline": {},
        "entity_swap": {"augment_entity_swap": True},
        "entity_replace": {"augment_entity_replace": replace},
        "word_mask": {"augment_word_mask": mask},
        "restrict_types": {"restrict_types": True},
    }[name]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_once(home: Path, name: str, options: dict[str, Any], *, seed: int, steps: int, threads: int) -> dict[str, Any]:
    config: dict[str, Any] = {
        "workspace": str(home),
        "seed": seed,
        "max_steps": steps,
        "eval_steps": steps,  # one evaluation, at the end: every run is scored on its last model
        "early_stopping_patience": 0,
        "cpu_threads": threads,
        **options,
    }
    if "record_dynamics" in {f.name for f in dataclasses.fields(TrainConfig)}:
        config["record_dynamics"] = False  # not what is measured here
    started = time.perf_counter()
    summary = train(config, home / "runs" / f"{name}-seed{seed}")
    wall = time.perf_counter() - started
    if summary["status"] != "succeeded":
        raise RuntimeError(f"{name} (seed {seed}) ended {summary['status']}: {summary.get('error')}")
    out = {
        "dev_micro_f1": round(summary["dev"]["micro_f1"], 3),
        "dev_auprc": round(summary["dev"]["auprc"], 3),
        "test_micro_f1": round(summary["test"]["micro_f1"], 3) if summary.get("test") else None,
        "test_auprc": round(summary["test"]["auprc"], 3) if summary.get("test") else None,
        "steps": summary["steps"],
        "train_rows": summary["n_train"],
        "wall_s": round(wall, 1),
    }
    if any(summary["augmentation"].get(k) for k in ("entity_swap", "entity_replace", "word_mask")):
        out["augmentation"] = summary["augmentation"]
    if summary.get("restriction"):
        out["restriction"] = summary["restriction"]
    log(f"{name} seed {seed}: {json.dumps(out)}")
    return out


METRICS = ("dev_micro_f1", "dev_auprc", "test_micro_f1", "test_auprc")


def mean_of(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {m: round(statistics.fmean(r[m] for r in runs), 3) for m in METRICS if runs[0].get(m) is not None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=float, default=3.0, help="epochs of the baseline's train rows (steps fixed)")
    parser.add_argument("--batch-size", type=int, default=TrainConfig().batch_size)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads of every run")
    parser.add_argument("--replace", type=float, default=0.3, help="augment_entity_replace of its run")
    parser.add_argument("--mask", type=float, default=0.15, help="augment_word_mask of its run")
    parser.add_argument("--only", nargs="+", choices=TECHNIQUES, default=list(TECHNIQUES))
    args = parser.parse_args(argv)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-techniques-") as tmp:
        home = Path(tmp)
        seed_demo(Workspace(home))
        n_train = len(load_data(TrainConfig(workspace=str(home))).train)
        steps = math.ceil(math.ceil(n_train / args.batch_size) * args.epochs)
        log(f"{n_train} train rows, {steps} steps per run, seeds {args.seeds}")
        names = ["baseline", *args.only]
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for seed in args.seeds:
            for name in names:
                options = technique_options(name, replace=args.replace, mask=args.mask)
                options["batch_size"] = args.batch_size
                runs[name].append(run_once(home, name, options, seed=seed, steps=steps, threads=args.threads))
    base = mean_of(runs["baseline"])
    techniques = {}
    for name in args.only:
        mean = mean_of(runs[name])
        techniques[name] = {
            "options": technique_options(name, replace=args.replace, mask=args.mask),
            **mean,
            "ratio": {m: round(mean[m] / base[m], 4) for m in mean if base.get(m)},
            "delta": {m: round(mean[m] - base[m], 3) for m in mean},
            "runs": runs[name],
        }
    print(
        json.dumps(
            {
                "bench": "techniques",
                "model": "tiny",
                "epochs": args.epochs,
                "steps": steps,
                "batch_size": args.batch_size,
                "seeds": args.seeds,
                "threads": args.threads,
                "baseline": {**base, "runs": runs["baseline"]},
                "techniques": techniques,
                "wall_s": round(time.perf_counter() - started, 1),
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
