"""Benchmark: dev micro-F1 of the tiny model fine-tuned with and without TAPT on the demo data.

Both sides start from the very same tiny backbone folder, built once from the split's train sentences exactly
as a ``"tiny"`` job builds it (:func:`core.train.model.build_tiny_model`), and fine-tune with the same config,
seed and number of steps (early stopping off, so both run every step). The TAPT side first continues that
backbone's pretraining with :func:`core.train.tapt.tapt` (masked LM on the demo's train and test sentences,
markers shown) and fine-tunes from the backbone it writes. Seeds alternate sides (A B, B A, ...).

This is a quality measurement to report, not a speed target: ``ratio`` is micro-F1 with TAPT over without,
the median over seeds. The tiny backbone starts from random weights, so TAPT here is its only pretraining;
on a real pretrained backbone (klue/roberta-*) the gain is expected to be much smaller.

Usage::

    .venv/bin/python bench/tapt.py                  # 2 seeds, about 15 minutes on 2 CPU cores
    .venv/bin/python bench/tapt.py --quick          # smoke run (1 seed, few steps; figures meaningless)

Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def log(message: str) -> None:
    print(f"[bench/tapt] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few steps, one seed (a smoke run)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="fine-tune seeds (default 42 43)")
    parser.add_argument("--tapt-epochs", type=float, default=None, help="TAPT epochs (default 30)")
    parser.add_argument("--ft-epochs", type=float, default=None, help="fine-tune epochs, both sides (default 8)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one, removed)")
    args = parser.parse_args(argv)
    seeds = args.seeds or ([42] if args.quick else [42, 43])
    tapt_epochs = args.tapt_epochs or (0.2 if args.quick else 30.0)
    ft_epochs = args.ft_epochs or (0.3 if args.quick else 8.0)
    os.environ["CUDA_VISIBLE_DEVICES"] = os.environ.get("CUDA_VISIBLE_DEVICES", "")

    import torch
    from transformers.utils import logging as hf_logging

    from core.data.importing import seed_demo
    from core.store.workspace import Workspace
    from core.train.dataset import load_data
    from core.train.model import build_tiny_model
    from core.train.tapt import tapt
    from core.train.training import train, validate

    torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    scratch = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="restudio-tapt-bench-"))
    started = time.perf_counter()
    try:
        ws = Workspace(scratch / "workspace")
        info = seed_demo(ws)
        base = {"workspace": str(ws.root), "dataset": info.name, "early_stopping_patience": 0, "epochs": ft_epochs}
        data = load_data(validate(base))
        tiny = build_tiny_model(scratch / "tiny", data.train["sentence"].astype(str).tolist())
        log(f"tiny backbone built from {len(data.train)} train sentences; TAPT {tapt_epochs} epochs")
        t0 = time.perf_counter()
        pre = tapt(
            {
                "workspace": str(ws.root),
                "dataset": info.name,
                "model": str(tiny),
                "epochs": tapt_epochs,
                "name": "tapt-bench",
                "cpu_threads": args.threads,
            },
            scratch / "tapt-run",
        )
        tapt_wall = time.perf_counter() - t0
        log(f"TAPT {pre['status']}: {pre['steps']} steps, loss {pre['train_mlm_loss']}, {tapt_wall:.0f} s")

        def finetune(model: str, seed: int, tag: str) -> dict[str, Any]:
            cfg = {**base, "model": model, "seed": seed, "cpu_threads": args.threads}
            summary = train(cfg, scratch / f"ft-{tag}-{seed}")
            log(f"{tag} seed {seed}: dev micro-F1 {summary['dev']['micro_f1']:.2f} ({summary['steps']} steps)")
            return {"seed": seed, "steps": summary["steps"], **{k: summary["dev"][k] for k in ("micro_f1", "auprc")}}

        without, with_tapt = [], []
        for i, seed in enumerate(seeds):
            order = [("without", str(tiny)), ("with", pre["backbone_dir"])]
            for tag, model in order if i % 2 == 0 else reversed(order):
                (without if tag == "without" else with_tapt).append(finetune(model, seed, tag))
        ratios = [w["micro_f1"] / max(o["micro_f1"], 1e-9) for w, o in zip(with_tapt, without, strict=True)]
        result = {
            "bench": "tapt",
            "dataset": {"name": info.name, "train_rows": len(data.train), "dev_rows": len(data.dev)},
            "finetune": {"epochs": ft_epochs, "early_stopping": False, "seeds": seeds},
            "tapt": {
                "epochs": tapt_epochs,
                "steps": pre["steps"],
                "texts": pre["n_texts"],
                "train_mlm_loss": pre["train_mlm_loss"],
                "eval_mlm_loss": pre["eval_mlm_loss"],
                "wall_s": round(tapt_wall, 1),
            },
            "without_tapt": without,
            "with_tapt": with_tapt,
            "micro_f1_without": round(statistics.median(r["micro_f1"] for r in without), 2),
            "micro_f1_with": round(statistics.median(r["micro_f1"] for r in with_tapt), 2),
            "auprc_without": round(statistics.median(r["auprc"] for r in without), 2),
            "auprc_with": round(statistics.median(r["auprc"] for r in with_tapt), 2),
            "ratio": round(statistics.median(ratios), 3),
            "wall_s": round(time.perf_counter() - started, 1),
            "threads": args.threads,
            "python": platform.python_version(),
            "torch": torch.__version__,
        }
        print(json.dumps(result))
        return 0
    finally:
        if not args.workdir:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
