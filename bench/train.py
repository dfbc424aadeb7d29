"""Benchmark: training throughput of the job path, and dynamic padding against padding to 256 tokens.

Two measurements, each a ratio against a baseline run in the same process, with the same fixed number
of torch threads on both sides (``--threads``, default 1: on a shared 2-core machine two OpenMP threads
stall whenever another process takes a core; measured 3x slower per step than one thread under load):

1. ``job_vs_plain``: :func:`core.train.training.train` (the code a job runs: a validated config, the workspace
   data, RE Studio's callbacks writing ``metrics.jsonl`` and ``train.log``, per-epoch evaluation with
   micro-F1/AUPRC, checkpoints, the best model restored, then predictions and the summary) against a
   plain, minimal Hugging Face ``Trainer`` script written here with the same settings: the same tiny
   model, the same encoded rows and collator, and ``TrainingArguments`` filled from the same validated
   config (batch size, epochs / max steps, lr, schedule, warmup, evaluation and save cadence, best-model
   reload, early stopping, precision, seed). Throughput is measured the same way for both: ``train rows
   x epochs trained / wall time of trainer.train()``. Target: ours / plain >= 0.95. Both sides report
   their last evaluation's micro-F1; equal figures show they trained the same model the same way.

   The backbone (``--family``, ``--size``; default the demo's tiny BERT) is built once by
   :func:`core.train.tiny_backbones.build_tiny_backbone`, the builder the tests use, from the train sentences and
   given to both sides as a local model folder, so both start from the very same files (the build is
   deterministic, but building it once is simpler and quicker). A ``"tiny"`` job builds it before
   ``trainer.train()``, outside what is timed. An untimed warm-up run comes first, because the first
   Trainer run in a process pays one-off costs (measured: the first run about 40 % slower).
2. ``padding``: dynamic padding with ``group_by_length`` batches (what training uses) against padding every
   batch to 256 tokens with random batches, on a KLUE-like length mix. The demo sentences are short and
   uniform (12-57 characters) while KLUE-RE sentences are about 20-450 characters (mean about 100), so
   each demo row is embedded, entity offsets shifted, among other seeded demo sentences up to a target
   length drawn from a log-normal (median 85 characters, clipped to 20-450); the mix's character and
   token lengths are reported. Same model, weights, data and settings on both sides except the collator
   and the sampler; no evaluation (it measures the training steps), and the wall time is that of the
   training loop proper (a callback, train begin to train end). The dynamic sides train one epoch over
   ``--pad-rows`` rows (enough that the Trainer's length grouping, which sorts within "megabatches" of
   up to 50 batches, works as on a real training set); the pad-to-256 side runs ``--pad256-steps``
   random batches of the same rows, since each of its steps costs the same whichever rows it draws.
   Target: speedup >= 1.5. Dynamic padding with random batches is also reported, for information.
3. ``dynamics``: the job path with ``record_dynamics`` on (the default: each train row's gold-label probability and
   argmax kept from the training passes and written to ``dynamics.npz`` at every evaluation,
   :mod:`core.train.dynamics`) against the same job with it off, everything else equal. The figure is the
   recording's share of training time: on the CPU ``on / off - 1`` of the process CPU time of ``trainer.train()``
   (evaluations and the file writes included; with one torch thread it is the training's work, while wall time
   also carries whatever else the machine runs), on a GPU ``off samples/s / on samples/s - 1`` of the wall time;
   the median over the rounds of each round's pair (run back to back). The wall figures are listed on the CPU
   too. The recorder also times itself (hook, snapshots, file writes; ``summary.json``'s ``dynamics.record_s``),
   listed as ``recorder_share_of_train_time``: the same cost without the machine's noise. Target: overhead at
   most 0.10. Both sides report the same eval micro-F1 (the recorder only reads the logits), and the file's size
   is listed.

``--only`` runs some of the three (default: all).

Each side is run ``--repeat`` times, alternating which goes first so machine noise (other processes on
a shared machine) hits both alike; each side's figure is its best run, and every run is listed.

Measured on the 2-core development machine under load from other processes (torch 2.13.0 CPU,
transformers 5.23.0, 1 thread, full mode, 3 min 20 s): job path 295 samples/s vs plain 290 (ratio 1.02;
ratio of medians 1.00; the same eval micro-F1 57.43 on every run of both); on the length mix (chars
mean 110 / p50 100 / p95 205, tokens mean 41.5 / p50 39 / p95 65 / max 102) dynamic + grouped
187 samples/s, dynamic + random 138, padded to 256 19.9: speedup 9.4. Recording training dynamics
(``--only dynamics --epochs 3 --repeat 5``, the machine loaded by other workers): overhead 0.036 (the median of
the paired rounds' train CPU time, -0.049 to 0.088), the recorder's own time 0.54 % of training, wall-time median
0.031; ``dynamics.npz`` 45 kB for 2,700 rows x 3 evaluations. In a 15-epoch default run of the demo the recorder
timed itself at 4.3 s of 906 s (0.48 %).

Usage::

    .venv/bin/python bench/train.py                 # full: about 3.5 minutes on 2 CPU cores
    .venv/bin/python bench/train.py --quick         # smoke run (about 30 s; its figures are noisy)
    .venv/bin/python bench/train.py --only dynamics --epochs 3 --repeat 5   # the recording's overhead alone
    .venv/bin/python bench/train.py --device cuda --fp16   # on a GPU, with float16 mixed precision
    .venv/bin/python bench/train.py --device cuda --bf16 --size base --family roberta   # BERT-base sized

On CUDA each run also reports ``peak_gpu_mem_mb`` (``torch.cuda.max_memory_allocated`` over that run).

Prints one JSON object on stdout (``{"bench": "train", "job_vs_plain": {...}, "padding": {...}, ...}``);
progress goes to stderr. Exits 1 when a target is missed, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import gc
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

TARGET_RATIO = 0.95
TARGET_SPEEDUP = 1.5
#: The most the recording of training dynamics may add to training time (a share of it).
TARGET_DYNAMICS_OVERHEAD = 0.10
SECTIONS = ("job_vs_plain", "padding", "dynamics")
PAD_LENGTH = 256
#: KLUE-RE sentence lengths in characters: about 20-450, mean about 100 (log-normal-like, right-skewed).
MIX_MEDIAN_CHARS = 85.0
MIX_SIGMA = 0.5
MIX_MIN_CHARS = 20
MIX_MAX_CHARS = 450


def log(message: str) -> None:
    print(f"[train bench] {message}", file=sys.stderr, flush=True)


#: Backbone sizes (random weights): ``tiny`` is the demo model (core.train.model.build_tiny_model's defaults),
#: ``base`` the shape of klue/bert-base and klue/roberta-base (vocabulary aside: the tokenizer is trained on the
#: demo sentences, so it is far smaller than 32k; embeddings cost little of a step).
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"vocab_size": 8000, "hidden": 128, "layers": 2, "heads": 4},
    "base": {"vocab_size": 8000, "hidden": 768, "layers": 12, "heads": 12},
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke run (numbers are noisy)")
    parser.add_argument("--epochs", type=float, default=1.0, help="epochs per job_vs_plain run")
    parser.add_argument(
        "--steps", type=int, default=None, help="max optimizer steps per job_vs_plain run (overrides --epochs)"
    )
    parser.add_argument(
        "--pad-rows",
        type=int,
        default=None,
        help="rows of the length mix trained on, one epoch (full: 1280, quick: 128)",
    )
    parser.add_argument(
        "--pad256-steps", type=int, default=None, help="steps of the pad-to-256 side (full: 8, quick: 2)"
    )
    parser.add_argument("--repeat", type=int, default=None, help="runs per side (full: 3, quick: 1)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads, both sides (1: on a shared machine, OpenMP threads stall when a core is taken)",
    )
    parser.add_argument(
        "--family",
        choices=("bert", "roberta", "xlm-roberta", "electra"),
        default="bert",
        help="model family of the random backbone (core.train.tiny_backbones, the tests' builders)",
    )
    parser.add_argument(
        "--size",
        choices=tuple(SIZES),
        default="tiny",
        help="tiny: 2 layers, hidden 128 (the demo model); base: 12 layers, hidden 768 (BERT-base sized, for a GPU)",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to train")
    parser.add_argument("--fp16", action="store_true", help="float16 mixed precision (CUDA only)")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 mixed precision (CUDA only)")
    parser.add_argument("--seed", type=int, default=42, help="training seed (both sides)")
    parser.add_argument("--mix-seed", type=int, default=7, help="seed of the KLUE-like length mix")
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one, removed)")
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, default=None, help="run only this measurement (repeatable)"
    )
    args = parser.parse_args(argv)
    if args.fp16 and args.bf16:
        parser.error("choose one of --fp16 and --bf16")
    args.only = tuple(args.only or SECTIONS)
    if (args.fp16 or args.bf16) and args.device != "cuda":
        parser.error("--fp16/--bf16 need --device cuda (mixed precision is GPU-only here)")
    if args.steps is None:
        args.steps = 12 if args.quick else -1
    if args.pad_rows is None:
        args.pad_rows = 128 if args.quick else 1280
    if args.pad256_steps is None:
        args.pad256_steps = 2 if args.quick else 8
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if min(args.repeat, args.threads, args.pad_rows, args.pad256_steps) < 1 or args.epochs <= 0:
        parser.error("--repeat, --threads, --pad-rows, --pad256-steps and --epochs must be positive")
    return args


# -- the KLUE-like length mix --------------------------------------------------------------------------


def length_mix(frame: Any, *, seed: int) -> Any:
    """Each row's sentence embedded among other seeded sentences of ``frame`` up to a KLUE-like length.

    The row keeps its entities and label; its offsets move by the length of the text put before it.
    Target lengths are log-normal (median :data:`MIX_MEDIAN_CHARS`), clipped to 20-450 characters; a row
    already longer than its target stays as it is.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    sentences = frame["sentence"].astype(str).tolist()
    targets = np.clip(
        rng.lognormal(np.log(MIX_MEDIAN_CHARS), MIX_SIGMA, size=len(frame)), MIX_MIN_CHARS, MIX_MAX_CHARS
    ).astype(int)
    out = frame.copy()
    new_sentences: list[str] = []
    shifts = np.zeros(len(frame), dtype=np.int64)
    for i, own in enumerate(sentences):
        parts = [own]
        length = len(own)
        while True:
            other = sentences[int(rng.integers(len(sentences)))]
            if length + 1 + len(other) > MIX_MAX_CHARS or length >= targets[i]:
                break
            parts.append(other)
            length += 1 + len(other)
        position = int(rng.integers(len(parts)))  # where the row's own sentence goes among the fillers
        fillers = parts[1:]
        before = fillers[:position]
        ordered = [*before, own, *fillers[position:]]
        shifts[i] = sum(len(s) + 1 for s in before)
        new_sentences.append(" ".join(ordered))
    out["sentence"] = new_sentences
    for col in ("subj_start", "subj_end", "obj_start", "obj_end"):
        out[col] = out[col].to_numpy(dtype=np.int64) + shifts
    # The shifted offsets must cut out the very characters they cut out before (the demo's injected
    # offset errors stay as they were, neither fixed nor made worse).
    for role in ("subj", "obj"):
        spans = zip(frame[f"{role}_start"], frame[f"{role}_end"], out[f"{role}_start"], out[f"{role}_end"], strict=True)
        for old, new, (a, b, c, d) in zip(sentences, new_sentences, spans, strict=True):
            if old[a : b + 1] != new[c : d + 1]:
                raise AssertionError(f"length mix: shifted {role} offsets moved off their span in {old!r}")
    return out


def quantiles(values: Any) -> dict[str, float]:
    import numpy as np

    arr = np.asarray(values, dtype=np.float64)
    return {
        "mean": round(float(arr.mean()), 1),
        "p50": round(float(np.percentile(arr, 50)), 1),
        "p95": round(float(np.percentile(arr, 95)), 1),
        "min": int(arr.min()),
        "max": int(arr.max()),
    }


# -- the two sides of job_vs_plain ---------------------------------------------------------------------


def job_config(args: argparse.Namespace, workspace: Path) -> dict[str, Any]:
    """The job's config: every default, with the bench's sizes, threads and precision."""
    return {
        "workspace": str(workspace),
        "epochs": args.epochs,
        "max_steps": args.steps,
        "cpu_threads": args.threads if args.device == "cpu" else 0,
        "seed": args.seed,
        "fp16": "true" if args.fp16 else "false",
        "bf16": "true" if args.bf16 else "false",
    }


def run_ours(config: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """One job through core.train.training.train; throughput from its own trainer.train() wall time."""
    from core.store.runs import RunDir
    from core.train.training import train

    shutil.rmtree(run_dir, ignore_errors=True)
    t0 = time.perf_counter()
    with train_cpu_timer() as cpu:
        summary = train(config, run_dir)
    total = time.perf_counter() - t0
    if summary["status"] != "succeeded":
        raise RuntimeError(f"job path run ended {summary['status']}: {summary.get('error')}")
    samples = summary["n_train"] * summary["epochs"]
    # The Trainer's last evaluation during training (the same compute_metrics as the plain side): equal
    # figures on both sides show they trained the same model the same way.
    evals = [json.loads(line) for line in RunDir(run_dir).metrics.read_text(encoding="utf-8").splitlines()]
    last_eval = [row["eval_micro_f1"] for row in evals if row["kind"] == "eval" and "eval_loss" in row]
    dynamics = RunDir(run_dir).dynamics
    return {
        "samples_per_s": samples / summary["train_wall_s"],
        "train_wall_s": summary["train_wall_s"],
        "samples": samples,
        "steps": summary["steps"],
        "job_wall_s": round(total, 2),
        "eval_micro_f1": round(last_eval[-1], 4) if last_eval else None,
        "dynamics_bytes": dynamics.stat().st_size if dynamics.is_file() else None,
        "record_s": (summary.get("dynamics") or {}).get("record_s"),
        "train_cpu_s": round(cpu["train_cpu_s"], 3),
    }


@contextlib.contextmanager
def train_cpu_timer() -> Any:
    """The process CPU time of every ``Trainer.train()`` call inside the block, in ``["train_cpu_s"]``.

    With one torch thread the work of a CPU run happens on this process's threads, so its CPU time is the
    training's cost whatever else the machine runs (wall time is not: another process taking a core stretches
    it, by 2x at times on a shared 2-core machine). Patched on the class, since the job path builds its own
    ``Trainer`` inside :func:`core.train.training.train`.
    """
    from transformers import Trainer

    out = {"train_cpu_s": 0.0}
    original = Trainer.train

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            out["train_cpu_s"] += time.process_time() - started

    Trainer.train = timed
    try:
        yield out
    finally:
        Trainer.train = original


def training_arguments(cfg: Any, output_dir: Path, *, fp16: bool, bf16: bool, use_cpu: bool, **over: Any) -> Any:
    """``TrainingArguments`` as a plain script would write them for the settings in ``cfg``."""
    from transformers import TrainingArguments

    per_epoch = cfg.eval_steps == 0
    options: dict[str, Any] = {
        "output_dir": str(output_dir),
        "num_train_epochs": cfg.epochs,
        "max_steps": cfg.max_steps,
        "per_device_train_batch_size": cfg.batch_size,
        "per_device_eval_batch_size": cfg.eval_batch_size,
        "learning_rate": cfg.lr,
        "weight_decay": cfg.weight_decay,
        "warmup_steps": cfg.warmup_ratio,
        "lr_scheduler_type": cfg.scheduler,
        "gradient_accumulation_steps": cfg.grad_accum,
        "train_sampling_strategy": "group_by_length" if cfg.group_by_length else "random",
        "fp16": fp16,
        "bf16": bf16,
        "use_cpu": use_cpu,
        "eval_strategy": "epoch" if per_epoch else "steps",
        "save_strategy": "epoch" if per_epoch else "steps",
        "eval_steps": None if per_epoch else cfg.eval_steps,
        "save_steps": None if per_epoch else cfg.eval_steps,
        "save_only_model": True,
        "save_total_limit": 1,
        "load_best_model_at_end": True,
        "metric_for_best_model": "micro_f1",
        "greater_is_better": True,
        "logging_strategy": "steps",
        "logging_steps": cfg.logging_steps,
        "seed": cfg.seed,
        "dataloader_num_workers": cfg.num_workers,
        "report_to": "none",
        "disable_tqdm": True,
    }
    options.update(over)
    return TrainingArguments(**options)


class Prepared:
    """Tokenizer, fresh model and encoded rows, built exactly as the job builds them."""

    def __init__(self, cfg: Any, data: Any, *, max_length: int | None = None) -> None:
        import numpy as np
        from transformers import set_seed

        from core.common.schema import SCHEMAS
        from core.train import model as re_model

        set_seed(cfg.seed)
        self.labels = data.labels
        self.label_id = {name: i for i, name in enumerate(self.labels)}
        path = cfg.model  # the tiny backbone folder both sides share
        self.tokenizer = re_model.load_tokenizer(path)
        schema = SCHEMAS[data.schema_name].with_labels(self.labels)
        re_model.prepare_tokenizer(self.tokenizer, cfg.input_format, schema)
        self.max_length = max_length or cfg.max_length
        self.model = re_model.build_model(
            path,
            self.tokenizer,
            labels=self.labels,
            head=cfg.head,
            input_format=cfg.input_format,
            type_language=cfg.type_language,
            max_length=self.max_length,
            dropout=cfg.dropout,
            loss=cfg.loss,
            focal_gamma=cfg.focal_gamma,
            focal_alpha=cfg.focal_alpha,
        )
        self.cfg = cfg
        self.y = {
            part: frame["label"].astype(str).map(self.label_id).to_numpy(dtype=np.int64)
            for part, frame in (("train", data.train), ("dev", data.dev))
        }

    def encode(self, frame: Any) -> Any:
        from core.train.encoding import encode

        cfg = self.cfg
        return encode(
            frame,
            self.tokenizer,
            input_format=cfg.input_format,
            max_length=self.max_length,
            type_language=cfg.type_language,
        )


def run_plain(cfg: Any, data: Any, workdir: Path, *, fp16: bool, bf16: bool, use_cpu: bool) -> dict[str, Any]:
    """The baseline: a minimal HF Trainer script with the job's settings, model and data."""
    import numpy as np
    import torch
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer

    from core.common.schema import NO_RELATION
    from core.train.metrics import auprc, micro_f1

    shutil.rmtree(workdir, ignore_errors=True)
    prep = Prepared(cfg, data)
    no_rel = prep.label_id.get(NO_RELATION, -1)

    def compute_metrics(eval_pred: Any) -> dict[str, float]:
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        probs = torch.softmax(torch.as_tensor(logits, dtype=torch.float64), dim=-1).numpy()
        gold = np.asarray(eval_pred.label_ids, dtype=np.int64)
        return {"micro_f1": micro_f1(gold, probs.argmax(axis=1), no_relation=no_rel), "auprc": auprc(gold, probs)}

    trainer = Trainer(
        model=prep.model,
        args=training_arguments(cfg, workdir / "out", fp16=fp16, bf16=bf16, use_cpu=use_cpu),
        train_dataset=prep.encode(data.train).features(prep.y["train"]),
        eval_dataset=prep.encode(data.dev).features(prep.y["dev"]),
        data_collator=DataCollatorWithPadding(prep.tokenizer, pad_to_multiple_of=8 if (fp16 or bf16) else None),
        processing_class=prep.tokenizer,
        compute_metrics=compute_metrics,
        callbacks=[EarlyStoppingCallback(cfg.early_stopping_patience)] if cfg.early_stopping_patience else None,
    )
    t0 = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t0
    samples = len(data.train) * float(trainer.state.epoch)
    shutil.rmtree(workdir, ignore_errors=True)
    evals = [row["eval_micro_f1"] for row in trainer.state.log_history if "eval_micro_f1" in row]
    return {
        "samples_per_s": samples / wall,
        "train_wall_s": round(wall, 3),
        "samples": samples,
        "steps": int(trainer.state.global_step),
        "eval_micro_f1": round(evals[-1], 4) if evals else None,
    }


# -- the two sides of padding ----------------------------------------------------------------------------


def loop_timer() -> Any:
    """A callback that records the wall time of the training loop proper (train begin to train end).

    The padding runs are short, so the Trainer's set-up inside ``trainer.train()`` (optimizer,
    scheduler, data loader) would otherwise weigh on the side with fewer steps. (A factory, so that
    transformers, and torch with it, is imported only after ``main`` has chosen the device.)
    """
    from transformers import TrainerCallback

    class LoopTimer(TrainerCallback):
        def __init__(self) -> None:
            self.begin = self.end = 0.0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.begin = time.perf_counter()

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.end = time.perf_counter()

    return LoopTimer()


def run_padding(
    prep: Prepared,
    features: list[dict[str, Any]],
    workdir: Path,
    *,
    pad256: bool,
    grouped: bool,
    max_steps: int,
    fp16: bool,
    bf16: bool,
    use_cpu: bool,
    state: dict[str, Any],
) -> dict[str, Any]:
    """Train on ``features`` from the same initial weights; only collator, sampler and length differ.

    ``max_steps`` -1 runs one epoch. Padded to 256 with random batches, every step costs the same
    whichever rows it draws, so that side may run fewer steps without changing its samples/s.
    """
    from transformers import DataCollatorWithPadding, Trainer, set_seed

    set_seed(prep.cfg.seed)
    prep.model.load_state_dict(state)  # every run starts from the same weights
    if pad256:
        collator = DataCollatorWithPadding(prep.tokenizer, padding="max_length", max_length=PAD_LENGTH)
    else:  # what the job path uses
        collator = DataCollatorWithPadding(prep.tokenizer, pad_to_multiple_of=8 if (fp16 or bf16) else None)
    args = training_arguments(
        prep.cfg,
        workdir,
        fp16=fp16,
        bf16=bf16,
        use_cpu=use_cpu,
        num_train_epochs=1,
        max_steps=max_steps,
        train_sampling_strategy="group_by_length" if grouped else "random",
        eval_strategy="no",
        save_strategy="no",
        load_best_model_at_end=False,
        metric_for_best_model=None,
    )
    timer = loop_timer()
    trainer = Trainer(
        model=prep.model,
        args=args,
        train_dataset=features,
        data_collator=collator,
        processing_class=prep.tokenizer,
        callbacks=[timer],
    )
    trainer.train()
    wall = timer.end - timer.begin
    shutil.rmtree(workdir, ignore_errors=True)
    samples = len(features) * float(trainer.state.epoch)
    return {
        "samples_per_s": samples / wall,
        "train_wall_s": round(wall, 3),
        "samples": samples,
        "steps": int(trainer.state.global_step),
    }


# -- main ------------------------------------------------------------------------------------------------


def alternate(repeat: int, sides: list[tuple[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Run each side ``repeat`` times, swapping which goes first each round."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in sides}
    for i in range(repeat):
        for name, fn in sides if i % 2 == 0 else sides[::-1]:
            gc.collect()
            cuda = _cuda_in_use()
            if cuda is not None:
                cuda.empty_cache()
                cuda.reset_peak_memory_stats()
            with contextlib.redirect_stdout(sys.stderr):  # the Trainer prints log dicts; stdout is the JSON
                result = fn()
            if cuda is not None:  # the peak of this run alone: weights, optimizer state, activations
                result["peak_gpu_mem_mb"] = round(cuda.max_memory_allocated() / 2**20, 1)
            runs[name].append(result)
            log(f"round {i + 1}: {name} {result['samples_per_s']:.1f} samples/s ({result['train_wall_s']:.2f} s)")
    return runs


def _cuda_in_use() -> Any:
    """``torch.cuda`` when this bench trains on a GPU, else None (torch is imported by then)."""
    torch = sys.modules.get("torch")
    return torch.cuda if torch is not None and torch.cuda.is_available() else None


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [r["samples_per_s"] for r in runs]
    return {
        "best": max(rates),
        "median": statistics.median(rates),
        "runs": [{k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()} for r in runs],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "cpu":
        # The job path picks a GPU whenever torch sees one; hide it so both sides run on the CPU.
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    import torch
    from transformers.utils import logging as hf_logging

    from core.data.importing import seed_demo
    from core.store.workspace import Workspace
    from core.train.dataset import load_data
    from core.train.tiny_backbones import build_tiny_backbone
    from core.train.training import validate

    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda, but torch sees no CUDA GPU on this machine.", file=sys.stderr)
        return 2
    if args.bf16 and not torch.cuda.is_bf16_supported():
        print("error: --bf16, but this GPU does not support bfloat16; use --fp16.", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    use_cpu = args.device == "cpu"
    started = time.perf_counter()

    scratch = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="restudio-train-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        ws = Workspace(scratch / "workspace")
        seed_demo(ws)
        config = job_config(args, ws.root)
        data = load_data(validate(config))  # the job's own rows: the split's train/dev part of the dataset
        # The tiny backbone, built once from the train sentences as a "tiny" job builds it, and given to
        # both sides as a local model folder, so both start from the very same files. (A "tiny" job
        # builds it before trainer.train(), outside what is timed.)
        config["model"] = str(
            build_tiny_backbone(
                scratch / "backbone",
                data.train["sentence"].astype(str).tolist(),
                family=args.family,
                **SIZES[args.size],
            )
        )
        cfg = validate(config)
        log(
            f"{args.device}, {args.threads} thread(s), {len(data.train)} train / {len(data.dev)} dev rows, "
            f"epochs {cfg.epochs}, max_steps {cfg.max_steps}, batch {cfg.batch_size}, repeat {args.repeat}"
        )
        # Warm-up (untimed): the first Trainer run in a process pays one-off costs (lazy imports, kernel
        # set-up) that would otherwise land on whichever side runs first.
        with contextlib.redirect_stdout(sys.stderr):
            run_plain(
                dataclasses.replace(cfg, max_steps=4, eval_steps=2),
                data,
                scratch / "warmup",
                fp16=args.fp16,
                bf16=args.bf16,
                use_cpu=use_cpu,
            )
        log("warm-up done")

        job_vs_plain = padding = dynamics = None
        # 1. Job path vs a plain Trainer script. ------------------------------------------------------------
        if "job_vs_plain" in args.only:
            job_vs_plain = measure_job_vs_plain(args, config, cfg, data, scratch, use_cpu)

        # 2. Dynamic padding + group_by_length vs padding to 256, on a KLUE-like length mix. ---------------
        if "padding" in args.only:
            padding = measure_padding(args, cfg, data, scratch, use_cpu)

        # 3. Recording training dynamics on vs off, on the job path. -----------------------------------------
        if "dynamics" in args.only:
            dynamics = measure_dynamics(args, config, scratch, use_cpu)
    finally:
        if not args.workdir:
            shutil.rmtree(scratch, ignore_errors=True)
    return report(args, cfg, data, use_cpu, started, job_vs_plain, padding, dynamics)


def measure_job_vs_plain(
    args: argparse.Namespace, config: dict[str, Any], cfg: Any, data: Any, scratch: Path, use_cpu: bool
) -> dict[str, Any]:
    """Section 1: the job path against a plain Trainer script."""
    runs = alternate(
        args.repeat,
        [
            ("ours", lambda: run_ours(config, scratch / "run")),
            (
                "plain",
                lambda: run_plain(cfg, data, scratch / "plain", fp16=args.fp16, bf16=args.bf16, use_cpu=use_cpu),
            ),
        ],
    )
    ours, plain = summarise(runs["ours"]), summarise(runs["plain"])
    ratio = ours["best"] / plain["best"]
    job_vs_plain = {
        "ours_samples_per_s": round(ours["best"], 1),
        "plain_samples_per_s": round(plain["best"], 1),
        "ratio": round(ratio, 3),
        "ratio_of_medians": round(ours["median"] / plain["median"], 3),
        "target": TARGET_RATIO,
        "ok": ratio >= TARGET_RATIO,
        "ours_runs": ours["runs"],
        "plain_runs": plain["runs"],
    }
    return job_vs_plain


def measure_padding(args: argparse.Namespace, cfg: Any, data: Any, scratch: Path, use_cpu: bool) -> dict[str, Any]:
    """Section 2: dynamic padding with length grouping against padding to 256 tokens."""
    mix_source = data.train.sample(
        n=min(args.pad_rows, len(data.train)), random_state=args.mix_seed, replace=False
    ).reset_index(drop=True)
    mix = length_mix(mix_source, seed=args.mix_seed)
    prep = Prepared(cfg, data, max_length=PAD_LENGTH)
    encoded = prep.encode(mix)
    mix_y = mix["label"].astype(str).map(prep.label_id).to_numpy()
    features = encoded.features(mix_y)
    state = {k: v.detach().clone() for k, v in prep.model.state_dict().items()}
    chars = mix["sentence"].str.len().to_numpy()
    tokens = encoded.lengths
    length_info = {
        "rows": len(mix),
        "chars": quantiles(chars),
        "tokens": quantiles(tokens),
        "rows_over_256_tokens_before_windowing": len(encoded.windowed_ids) + len(encoded.truncated_ids),
        "demo_chars": quantiles(mix_source["sentence"].str.len().to_numpy()),
        "recipe": (
            f"each demo row embedded among seeded demo sentences up to a log-normal target length "
            f"(median {MIX_MEDIAN_CHARS:.0f} chars, sigma {MIX_SIGMA}, clipped {MIX_MIN_CHARS}-{MIX_MAX_CHARS})"
        ),
    }
    log(f"length mix: chars {length_info['chars']}, tokens {length_info['tokens']}")
    sides = {  # name: (pad to 256, group by length, max steps)
        "dynamic_grouped": (False, True, -1),
        "pad256": (True, False, args.pad256_steps),
        "dynamic_random": (False, False, -1),  # for information: how much of the gain is grouping
    }
    pad_runs = alternate(
        args.repeat,
        [
            (
                name,
                functools.partial(
                    run_padding,
                    prep,
                    features,
                    scratch / "pad_out",
                    pad256=pad256,
                    grouped=grouped,
                    max_steps=steps,
                    fp16=args.fp16,
                    bf16=args.bf16,
                    use_cpu=use_cpu,
                    state=state,
                ),
            )
            for name, (pad256, grouped, steps) in sides.items()
        ],
    )
    dyn, pad, rnd = (summarise(pad_runs[name]) for name in sides)
    speedup = dyn["best"] / pad["best"]
    padding = {
        "dynamic_grouped_samples_per_s": round(dyn["best"], 1),
        "pad256_samples_per_s": round(pad["best"], 1),
        "speedup": round(speedup, 2),
        "speedup_of_medians": round(dyn["median"] / pad["median"], 2),
        "target": TARGET_SPEEDUP,
        "ok": speedup >= TARGET_SPEEDUP,
        "dynamic_random_samples_per_s": round(rnd["best"], 1),
        "length_mix": length_info,
        "dynamic_grouped_runs": dyn["runs"],
        "pad256_runs": pad["runs"],
        "dynamic_random_runs": rnd["runs"],
    }
    return padding


def measure_dynamics(args: argparse.Namespace, config: dict[str, Any], scratch: Path, use_cpu: bool) -> dict[str, Any]:
    """Section 3: the job path recording training dynamics against the same job without, paired runs."""
    runs = alternate(
        args.repeat,
        [
            ("record_on", lambda: run_ours({**config, "record_dynamics": True}, scratch / "run_on")),
            ("record_off", lambda: run_ours({**config, "record_dynamics": False}, scratch / "run_off")),
        ],
    )
    on, off = summarise(runs["record_on"]), summarise(runs["record_off"])
    # Round i of each side ran back to back: their ratio cancels most of the machine's drift between rounds.
    pairs = list(zip(runs["record_on"], runs["record_off"], strict=True))
    paired = [off_run["samples_per_s"] / on_run["samples_per_s"] - 1.0 for on_run, off_run in pairs]
    paired_cpu = [on_run["train_cpu_s"] / off_run["train_cpu_s"] - 1.0 for on_run, off_run in pairs]
    # On the CPU the training's CPU time is the cost (wall time is the machine's load as much); on a GPU the work
    # is the device's, which process CPU time does not see, so there it is the wall time.
    overhead = statistics.median(paired_cpu if use_cpu else paired)
    # What the recorder itself spent (hook, snapshots, file writes), timed inside the run: free of that noise.
    own = [r["record_s"] / r["train_wall_s"] for r in runs["record_on"]]
    return {
        "record_on_samples_per_s": round(on["best"], 1),
        "record_off_samples_per_s": round(off["best"], 1),
        "overhead": round(overhead, 4),
        "overhead_measure": "train CPU time, median of paired rounds" if use_cpu else "train wall, median of pairs",
        "paired_cpu_overheads": [round(x, 4) for x in paired_cpu],
        "wall_overhead": round(statistics.median(paired), 4),
        "paired_wall_overheads": [round(x, 4) for x in paired],
        "wall_overhead_of_best": round(off["best"] / on["best"] - 1.0, 4),
        "recorder_share_of_train_time": round(statistics.median(own), 5),
        "target": TARGET_DYNAMICS_OVERHEAD,
        "ok": overhead <= TARGET_DYNAMICS_OVERHEAD,
        "dynamics_bytes": runs["record_on"][-1].get("dynamics_bytes"),
        "record_on_runs": on["runs"],
        "record_off_runs": off["runs"],
    }


def report(
    args: argparse.Namespace,
    cfg: Any,
    data: Any,
    use_cpu: bool,
    started: float,
    job_vs_plain: dict[str, Any] | None,
    padding: dict[str, Any] | None,
    dynamics: dict[str, Any] | None,
) -> int:
    """Print the JSON result; 0 when every measurement run met its target."""
    import torch
    import transformers

    result: dict[str, Any] = {
        "bench": "train",
        "mode": "quick" if args.quick else "full",
        "device": args.device if use_cpu else torch.cuda.get_device_name(0),
        "precision": "fp16" if args.fp16 else "bf16" if args.bf16 else "fp32",
        "job_vs_plain": job_vs_plain,
        "padding": padding,
        "dynamics": dynamics,
        "settings": {
            "model": f"random {args.family} backbone, size {args.size} ({SIZES[args.size]}; "
            "core.train.tiny_backbones.build_tiny_backbone)",
            "input_format": cfg.input_format,
            "head": cfg.head,
            "batch_size": cfg.batch_size,
            "epochs": cfg.epochs,
            "max_steps": cfg.max_steps,
            "lr": cfg.lr,
            "eval": "per epoch" if cfg.eval_steps == 0 else f"every {cfg.eval_steps} steps",
            "n_train": len(data.train),
            "n_dev": len(data.dev),
            "repeat": args.repeat,
            "figure": (
                "best run per side; job_vs_plain: rows x epochs trained / wall of trainer.train(); "
                "padding: rows trained / wall of the training loop (train begin to end); dynamics: off / on - 1 "
                "of job-path samples/s (the job path records dynamics by default, job_vs_plain's ours included)"
            ),
        },
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result, ensure_ascii=False))
    return 0 if all(part is None or part["ok"] for part in (job_vs_plain, padding, dynamics)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
