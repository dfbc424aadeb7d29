"""Benchmark: a 12-trial Optuna sweep of the tiny demo model against its default config.

A fresh demo workspace; :func:`core.train.sweep.create_sweep` over the space below with the default config as base,
driven here by :func:`core.train.sweep.drive` (each trial a training job of the local queue, one at a time, TPE
sampler, median pruner on each evaluation's dev micro-F1). Trial 0 is the default config itself (every default lies
in the space), so the baseline runs in the same study, under the same load. Printed: every trial (params, state,
dev micro-F1 and AUPRC, test micro-F1 and AUPRC from the run's summary), the default and the best trial, and the
best/default ratios. The best trial is picked on dev, so its dev score is optimistic; the demo's test part (gold
labels, never used for picking) says whether the gain holds.

Usage::

    .venv/bin/python bench/sweep.py                 # 12 trials, about 15-25 minutes on 2 CPU cores
    .venv/bin/python bench/sweep.py --trials 4 --space my_space.yaml
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: The seed team's knobs for a from-scratch tiny model (the pretrained ranges are 100x smaller learning rates).
SPACE = {
    "lr": {"low": 1.0e-3, "high": 1.0e-2, "log": True},
    "warmup_ratio": {"low": 0.0, "high": 0.2},
    "weight_decay": {"low": 0.0, "high": 0.1},
    "scheduler": ["linear", "cosine"],
    "batch_size": [16, 32, 64],
    "dropout": {"low": 0.0, "high": 0.3},
    "epochs": {"low": 4, "high": 15},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--space", default=None, help="a space file instead of the built-in one")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from core.store.runs import read_summary
    from core.train import sweep
    from core.train.sweep_space import load_space
    from tests.helpers.workspaces import demo_workspace

    space = load_space(args.space) if args.space else SPACE
    with tempfile.TemporaryDirectory() as tmp:
        home = demo_workspace(Path(tmp) / "ws")
        options = sweep.SweepOptions(trials=args.trials, seed=args.seed)
        name = sweep.create_sweep(home, {}, space, options)
        started = time.perf_counter()
        status = sweep.drive(home, name, echo=lambda m: print(m, file=sys.stderr, flush=True))
        wall = time.perf_counter() - started
        rows = []
        for trial in status.trials:
            summary = (read_summary(trial.run_dir) or {}) if trial.run_dir else {}
            test = summary.get("test") or {}
            rows.append(
                {
                    "trial": trial.number,
                    "state": trial.state,
                    "params": trial.params,
                    "dev_micro_f1": None if trial.micro_f1 is None else round(trial.micro_f1, 2),
                    "dev_auprc": None if trial.auprc is None else round(trial.auprc, 2),
                    "test_micro_f1": round(test["micro_f1"], 2) if test.get("micro_f1") is not None else None,
                    "test_auprc": round(test["auprc"], 2) if test.get("auprc") is not None else None,
                    "pruned_at_evaluation": trial.pruned_eval,
                    "wall_s": round(summary.get("wall_s", 0.0), 1),
                }
            )
        default = next(r for r in rows if r["trial"] == 0)
        best = next(r for r in rows if status.best is not None and r["trial"] == status.best.number)

        def ratio(key: str) -> float | None:
            return round(best[key] / default[key], 3) if best[key] and default[key] else None

        print(
            json.dumps(
                {
                    "bench": "sweep",
                    "trials": args.trials,
                    "space": space,
                    "wall_s": round(wall, 1),
                    "counts": {s: status.count(s) for s in ("complete", "pruned", "failed")},
                    "default": default,
                    "best": best,
                    "ratio_best_to_default": {k: ratio(k) for k in ("dev_micro_f1", "dev_auprc", "test_micro_f1")},
                    "all_trials": rows,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
