"""Task-adaptive pretraining (TAPT): masked-LM training of a backbone on a dataset's own sentences.

``python -m core tapt --dataset NAME --model BACKBONE [--set key=value]`` (or a TAPT job from the Train view)
continues the backbone's pretraining on the sentences of the dataset's train part (dev rows included: labels
are never read) and, by default, its test part, as Gururangan et al. (2020) do, then writes the result as a
backbone folder of the workspace (:mod:`core.store.backbones`) that any fine-tune can start from.

Read :func:`tapt` top to bottom. The sentences are shown as the fine-tune will show them: with the input
format's entity markers inserted, after the markers were added to the tokenizer, so the fine-tune starts
from embeddings that have seen them (they are inputs, never masked targets). The run folder is a normal run
folder (``config.json``, ``metrics.jsonl`` with the masked-LM loss as ``loss`` and, on the held-out sentences,
``eval_loss``; ``train.log``; ``summary.json``), so the job system, its cancel contract and the Train view's
curves treat it like a fine-tune: a stop ends training at the next step, and the backbone as trained so
far is still published (its record says ``cancelled`` and at which step), within the cancel budget.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.common.settings import JOB_ID_ENV
from core.train.config import (
    DEMO_DATASET,
    LIMITS,
    SCHEDULERS,
    ConfigError,
    load_config,
    model_problems,
    parse_overrides,
    resolve_options,
)
from core.train.encoding import INPUT_FORMATS, MARKER_FORMATS, TYPE_LANGUAGES

__all__ = ["TAPT_LIMITS", "TaptConfig", "backbone_name", "cli_tapt", "tapt", "tapt_sentences", "validate_tapt"]


def _opt(default: Any, help_: str) -> Any:
    return field(default=default, metadata={"help": help_})


@dataclass(frozen=True)
class TaptConfig:
    """Every TAPT option. The defaults pretrain the tiny demo backbone in a few minutes on a CPU."""

    dataset: str = _opt(DEMO_DATASET, "workspace dataset whose sentences to pretrain on (name or id)")
    workspace: str | None = _opt(None, "workspace folder (null: $RESTUDIO_HOME, else ./workspace)")
    model: str = _opt("tiny", "backbone to continue: hub id, local folder, workspace backbone, or 'tiny'")
    input_format: str = _opt(
        "typed_entity_marker_punct",
        f"the fine-tune's input format: its markers are added and shown in the sentences ({', '.join(INPUT_FORMATS)})",
    )
    type_language: str = _opt("en", "entity type names in typed_entity_marker_punct: en (PER) or ko (사람)")
    include_test: bool = _opt(True, "also pretrain on the test part's sentences (labels are never read)")
    mlm_probability: float = _opt(0.15, "share of tokens masked for the masked-LM objective")
    max_length: int = _opt(128, "longest input in tokens; longer sentences are cut")
    epochs: float = _opt(10.0, "passes over the sentences (ignored when max_steps > 0)")
    max_steps: int = _opt(-1, "stop after this many optimizer steps (-1: run all epochs)")
    batch_size: int = _opt(32, "batch size per device")
    lr: float = _opt(5e-4, "peak learning rate (tiny from-scratch model: 5e-4..1e-3; pretrained: 1e-5..1e-4)")
    weight_decay: float = _opt(0.01, "AdamW weight decay")
    warmup_ratio: float = _opt(0.06, "fraction of the steps spent warming the learning rate up")
    scheduler: str = _opt("linear", f"learning-rate schedule: {', '.join(SCHEDULERS)}")
    grad_accum: int = _opt(1, "gradient accumulation steps")
    eval_fraction: float = _opt(0.05, "share of the sentences held out for the masked-LM evaluation loss (0: none)")
    eval_steps: int = _opt(0, "evaluate every N steps (0: once per epoch)")
    logging_steps: int = _opt(20, "log the loss and learning rate every N steps")
    fp16: str = _opt("auto", "float16 mixed precision: auto (on a GPU without bf16), true, false")
    bf16: str = _opt("auto", "bfloat16 mixed precision: auto (where the GPU supports it), true, false")
    seed: int = _opt(42, "random seed (masking, data order, the held-out sentences)")
    num_workers: int = _opt(0, "data-loader worker processes")
    cpu_threads: int = _opt(0, "torch CPU threads (0: torch's default)")
    name: str = _opt("", "backbone folder name in WORKSPACE/backbones (empty: tapt-<job>-<model>-<dataset>)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: Upper limits of the numeric options (a shared server must not take a typo as an order).
TAPT_LIMITS: dict[str, int | float] = {
    name: LIMITS[name]
    for name in (
        "epochs",
        "max_steps",
        "batch_size",
        "grad_accum",
        "max_length",
        "num_workers",
        "cpu_threads",
        "logging_steps",
        "eval_steps",
        "weight_decay",
    )
}


def validate_tapt(config: TaptConfig | Mapping[str, Any], *, check_data: bool = True) -> TaptConfig:
    """The resolved config, or :class:`ConfigError` saying every problem found (with ``check_data``, also that
    the dataset exists and has sentences)."""
    from core.store.backbones import slug

    cfg: TaptConfig = resolve_options(TaptConfig, config, command="tapt")
    problems = []
    choices = (("input_format", INPUT_FORMATS), ("type_language", TYPE_LANGUAGES), ("scheduler", SCHEDULERS))
    for name, options in choices:
        if getattr(cfg, name) not in options:
            problems.append(f"{name} {getattr(cfg, name)!r} is not one of {', '.join(options)}")
    for name in ("lr", "epochs", "batch_size", "grad_accum", "logging_steps"):
        if getattr(cfg, name) <= 0:
            problems.append(f"{name} must be greater than 0, got {getattr(cfg, name)}")
    for name in ("weight_decay", "eval_steps", "num_workers", "cpu_threads"):
        if getattr(cfg, name) < 0:
            problems.append(f"{name} must not be negative, got {getattr(cfg, name)}")
    for name, limit in TAPT_LIMITS.items():
        if getattr(cfg, name) > limit:
            problems.append(f"{name} must be at most {limit:,}, got {getattr(cfg, name):,}")
    if not 0 < cfg.mlm_probability < 1:
        problems.append(f"mlm_probability must be between 0 and 1, got {cfg.mlm_probability}")
    if not 0 <= cfg.eval_fraction <= 0.5:
        problems.append(f"eval_fraction must be between 0 and 0.5, got {cfg.eval_fraction}")
    if not 0 <= cfg.warmup_ratio < 1:
        problems.append(f"warmup_ratio must be in [0, 1), got {cfg.warmup_ratio}")
    if cfg.max_steps == 0 or cfg.max_steps < -1:
        problems.append(f"max_steps must be -1 (all epochs) or a positive number, got {cfg.max_steps}")
    if cfg.lr > 1:
        problems.append(f"lr {cfg.lr} is far too large (typical: 1e-5..1e-3)")
    if cfg.name and slug(cfg.name) != cfg.name:
        problems.append(f"name {cfg.name!r} may hold only letters, digits, '.', '_' and '-' (e.g. {slug(cfg.name)!r})")
    problems.extend(model_problems(cfg.model, cfg.max_length))
    if cfg.max_length < 16:
        problems.append(f"max_length must be at least 16 tokens, got {cfg.max_length}")
    if problems:
        raise ConfigError("Config refused: " + "; ".join(problems) + ".")
    if check_data:
        tapt_sentences(cfg, texts=False)
    return cfg


@dataclass
class TaptData:
    """The rows TAPT reads (labels unused) and where they come from."""

    dataset_id: int
    dataset_name: str
    schema_name: str
    labels: tuple[str, ...]
    revision: int
    frame: Any  # pandas.DataFrame: the train part's current rows, then the test part's


def tapt_sentences(cfg: TaptConfig, *, texts: bool = True) -> TaptData:
    """The dataset's current train rows (and test rows with ``include_test``); :class:`ConfigError` when the
    workspace or dataset is missing or holds no rows."""
    import pandas as pd

    from core.common.settings import resolve_home
    from core.store.workspace import Workspace
    from core.train.dataset import find_dataset

    root = resolve_home(cfg.workspace)
    if not (root / "restudio.db").exists():
        raise ConfigError(f"No workspace at {root} (no restudio.db); set workspace or RESTUDIO_HOME.")
    ws = Workspace(root)
    info = find_dataset(ws, cfg.dataset)
    parts = [ws.current_frame(info.id, "train")]
    if cfg.include_test and "test" in info.parts:
        parts.append(ws.current_frame(info.id, "test"))
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if frame.empty:
        raise ConfigError(f"Dataset {info.name!r} has no rows left to pretrain on (all were dropped).")
    return TaptData(
        dataset_id=info.id,
        dataset_name=info.name,
        schema_name=info.schema_name,
        labels=tuple(info.labels),
        revision=ws.revision(info.id),
        frame=frame,
    )


def backbone_name(cfg: TaptConfig, *, job_id: str | None = None) -> str:
    """The folder name of the backbone a TAPT run writes: ``cfg.name``, else
    ``tapt-<job or time>-<model>-<dataset>``."""
    from core.store.backbones import slug

    if cfg.name:
        return cfg.name
    stamp = f"job{job_id}" if job_id else datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    model = slug(Path(cfg.model).name or cfg.model, limit=32)
    return slug(f"tapt-{stamp}-{model}-{slug(cfg.dataset, limit=24)}", limit=96)


def tapt(
    config: TaptConfig | Mapping[str, Any],
    run_dir: str | os.PathLike[str],
    *,
    stop: threading.Event | Callable[[], bool] | None = None,
    echo: bool = False,
) -> dict[str, Any]:
    """Pretrain, publish the backbone and write the run folder; returns ``summary.json``'s content.

    ``stop`` and ``echo`` as in :func:`core.train.training.train`. A stop before the first step publishes
    nothing; a stop later publishes the backbone as trained so far, marked ``cancelled``.
    """
    from core.train.training import run_guarded

    started = time.time()
    cfg = validate_tapt(config)
    return run_guarded(
        run_dir,
        cfg.to_dict(),
        lambda run, writer, flag: _tapt(cfg, run, writer, flag),
        started=started,
        stop=stop,
        echo=echo,
        nothing_saved={"backbone_dir": None},
    )


def _tapt(cfg: TaptConfig, run: Path, writer: Any, flag: Any) -> dict[str, Any]:
    import numpy as np
    import torch
    from transformers import DataCollatorForLanguageModeling, PrinterCallback, Trainer, TrainingArguments, set_seed

    from core.common.schema import SCHEMAS
    from core.store import backbones
    from core.store.runs import RunDir
    from core.train import model as re_model
    from core.train.callbacks import EvaluationStopped, trainer_callbacks
    from core.train.config import hub_downloads_allowed
    from core.train.encoding import build_texts
    from core.train.run_writer import now, write_json
    from core.train.training import precision_for

    files = RunDir(run)
    flag.check("importing the libraries")

    # 1. Machine and seed. -------------------------------------------------------------------------------
    if cfg.cpu_threads:
        torch.set_num_threads(cfg.cpu_threads)
    fp16, bf16, device = precision_for(cfg)
    set_seed(cfg.seed)
    writer.log(f"device {device}; fp16 {fp16}, bf16 {bf16}; torch threads {torch.get_num_threads()}")

    # 2. The sentences, as the fine-tune will show them (labels are never read). -------------------------
    data = tapt_sentences(cfg)
    frame = data.frame
    flag.check("loading the data")

    # 3. Tokenizer with the format's markers, and the backbone with a masked-LM head. --------------------
    model_path = cfg.model
    if cfg.model == "tiny":
        model_path = str(re_model.build_tiny_model(run / "tiny_model", frame["sentence"].astype(str).tolist()))
        writer.log(f"built the tiny backbone in {model_path}")
    allow_hub = hub_downloads_allowed()
    tokenizer = re_model.load_tokenizer(model_path, allow_hub_download=allow_hub)
    schema = SCHEMAS[data.schema_name].with_labels(data.labels)
    added = re_model.prepare_tokenizer(tokenizer, cfg.input_format, schema)
    if cfg.input_format in MARKER_FORMATS:
        _, texts, _ = build_texts(frame, cfg.input_format, cfg.type_language, tokenizer.sep_token)
    else:  # the pair formats add no markers: the plain sentences
        texts = frame["sentence"].astype(str).tolist()
    texts = list(dict.fromkeys(texts))  # one entity pair per sentence is one text; copies add nothing
    model, fresh = re_model.load_masked_lm(model_path, allow_hub_download=allow_hub)
    if fresh:
        writer.log(f"{len(fresh)} weights newly initialised (the checkpoint has no masked-LM head): {fresh[:3]} ...")
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    n_params = sum(p.numel() for p in model.parameters())
    writer.log(
        f"dataset {data.dataset_name!r} (#{data.dataset_id}, revision {data.revision}): {len(texts):,} distinct "
        f"texts from {len(frame):,} rows; model {cfg.model}: {n_params / 1e6:.2f}M parameters, "
        f"{added} marker tokens added"
    )
    flag.check("building the model")

    # 4. Tokenize and hold out the evaluation sentences. -------------------------------------------------
    encoded = tokenizer(texts, truncation=True, max_length=cfg.max_length, return_special_tokens_mask=True)
    features = [
        {"input_ids": ids, "attention_mask": mask, "special_tokens_mask": special}
        for ids, mask, special in zip(
            encoded["input_ids"], encoded["attention_mask"], encoded["special_tokens_mask"], strict=True
        )
    ]
    order = np.random.default_rng(cfg.seed).permutation(len(features))
    n_eval = round(len(features) * cfg.eval_fraction) if len(features) >= 20 else 0
    eval_set = [features[i] for i in order[:n_eval]]
    train_set = [features[i] for i in order[n_eval:]]
    flag.check("tokenizing the sentences")

    # 5. The Trainer. ------------------------------------------------------------------------------------
    per_epoch = cfg.eval_steps == 0
    evaluate = "no" if not eval_set else "epoch" if per_epoch else "steps"
    args = TrainingArguments(
        output_dir=str(files.trainer_dir),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        learning_rate=cfg.lr,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float below 1 is a fraction of the steps
        lr_scheduler_type=cfg.scheduler,
        gradient_accumulation_steps=cfg.grad_accum,
        train_sampling_strategy="group_by_length",
        fp16=fp16,
        bf16=bf16,
        use_cpu=device == "cpu",
        eval_strategy=evaluate,
        eval_steps=None if per_epoch or not eval_set else cfg.eval_steps,
        save_strategy="no",  # the backbone is written once, at the end (or at the stop)
        logging_strategy="steps",
        logging_steps=cfg.logging_steps,
        seed=cfg.seed,
        dataloader_num_workers=cfg.num_workers,
        report_to="none",
        disable_tqdm=True,
    )
    callbacks = trainer_callbacks(
        writer,
        flag,
        samples_per_step=cfg.batch_size * cfg.grad_accum,
        logging_steps=cfg.logging_steps,
        n_train=len(train_set),
    )
    collator = DataCollatorForLanguageModeling(
        tokenizer, mlm_probability=cfg.mlm_probability, pad_to_multiple_of=8 if (fp16 or bf16) else None
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set or None,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)
    run_logger = callbacks[0]

    # 6. Train. ------------------------------------------------------------------------------------------
    flag.check("starting training", poll=True)
    flag.preparing = False
    t_train = time.time()
    try:
        trainer.train()
    except EvaluationStopped:
        writer.log("evaluation interrupted by the stop request")
        run_logger.on_train_end(args, trainer.state, trainer.control)
    train_wall = time.time() - t_train
    status = "cancelled" if flag.is_set() else "succeeded"
    step = int(trainer.state.global_step)
    max_steps = int(trainer.state.max_steps)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    eval_losses = [h["eval_loss"] for h in trainer.state.log_history if "eval_loss" in h]
    writer.log(f"pretraining {status} at step {step} of {max_steps} after {train_wall:.1f} s")

    # 7. Publish the backbone (whole or not at all), then the summary. -----------------------------------
    job_id = os.environ.get(JOB_ID_ENV)  # set by the job backends: the record names the job
    name = backbone_name(cfg, job_id=job_id)
    root = Path(cfg.workspace or ".")
    staging = backbones.staging_dir(root, name)
    trainer.model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    record = {
        "kind": "tapt",
        "name": name,
        "base_model": cfg.model,
        "family": getattr(trainer.model.config, "model_type", None),
        "created_at": now(),
        "dataset": data.dataset_name,
        "dataset_id": data.dataset_id,
        "dataset_revision": data.revision,
        "input_format": cfg.input_format,
        "type_language": cfg.type_language,
        "markers": added,
        "status": status,
        "steps": step,
        "max_steps": max_steps,
        "sentences": len(texts),
        "train_mlm_loss": losses[-1] if losses else None,
        "eval_mlm_loss": eval_losses[-1] if eval_losses else None,
        "job_id": int(job_id) if job_id and job_id.isdigit() else None,
        "run_dir": str(run),
    }
    backbones.write_meta(staging, record)
    published = backbones.publish(staging, root, name)
    writer.log(f"backbone written to {published}")
    summary = {
        "status": status,
        "stop_reason": flag.reason,
        "steps": step,
        "max_steps": max_steps,
        "epochs": round(float(trainer.state.epoch or 0.0), 4),
        "dev": None,
        "train_mlm_loss": record["train_mlm_loss"],
        "eval_mlm_loss": record["eval_mlm_loss"],
        "n_texts": len(texts),
        "n_train_texts": len(train_set),
        "n_eval_texts": len(eval_set),
        "n_rows": len(frame),
        "dataset": data.dataset_name,
        "dataset_id": data.dataset_id,
        "dataset_revision": data.revision,
        "base_model": cfg.model,
        "markers_added": added,
        "backbone_name": name,
        "backbone_dir": str(published),
        "train_samples_per_s": run_logger.train_samples_per_s,
        "train_wall_s": round(train_wall, 3),
        "wall_s": writer.wall(),
        "device": device,
        "precision": "bf16" if bf16 else "fp16" if fp16 else "fp32",
        "parameters": n_params,
        "finished_at": now(),
    }
    write_json(files.summary, summary)
    writer.record("end", status=status, step=step, max_steps=max_steps, epoch=trainer.state.epoch)
    loss = f"masked-LM loss {losses[-1]:.3f}" if losses else "no loss logged"
    held = f", held-out {eval_losses[-1]:.3f}" if eval_losses else ""
    writer.log(f"{status}: {loss}{held}; backbone {name}; wall {summary['wall_s']:.1f} s")
    return summary


# -- command line -----------------------------------------------------------------------------------------


def cli_tapt(args: argparse.Namespace) -> int:
    """Run (or with ``--submit`` queue) TAPT from parsed arguments: 0 succeeded or queued, 143 cancelled."""
    raw = load_config(args.config) if args.config else {}
    if args.dataset:
        raw["dataset"] = args.dataset
    if args.model:
        raw["model"] = args.model
    raw.update(parse_overrides(args.overrides))
    if args.home and "workspace" not in raw:
        raw["workspace"] = args.home
    cfg = validate_tapt(raw)
    if args.check:
        print(json.dumps(cfg.to_dict(), ensure_ascii=False, indent=2))
        return 0
    if args.submit:
        from core import jobs

        ray_address = None
        if args.backend == "ray":
            ray_address = jobs.resolve_ray_cluster(args.ray_cluster or "")
        job = jobs.submit_tapt(
            cfg.workspace,
            cfg.to_dict(),
            name=args.name or f"TAPT {cfg.model} on {cfg.dataset}",
            backend=args.backend,
            gpu=jobs.normalize_gpu(args.gpu),
            ray_address=ray_address,
        )
        print(f"Queued TAPT job #{job.id} ({job.status}); run folder {job.run_dir}")
        return 0
    from core.train.training import EXIT_CANCELLED, _exit_now_if_entrypoint

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = Path(args.run_dir) if args.run_dir else Path(cfg.workspace or ".") / "runs" / f"{stamp}-tapt"
    print(f"Pretraining in {run_dir} ...", flush=True)
    summary = tapt(cfg, run_dir, echo=True)
    where = summary.get("backbone_dir") or "nothing was written"
    print(f"{summary['status']}: {summary.get('steps', 0)} steps, {summary['wall_s']:.1f} s. Backbone: {where}")
    if summary["status"] == "succeeded":
        return 0
    sys.stdout.flush()
    _exit_now_if_entrypoint(EXIT_CANCELLED)
    return EXIT_CANCELLED
