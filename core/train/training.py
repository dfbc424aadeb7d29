"""Fine-tune a relation classifier on a workspace dataset: ``python -m core train CONFIG``.

Read :func:`train` top to bottom: it is the whole recipe. A config (YAML or JSON, every option in
:class:`core.train.config.TrainConfig` with a default) is validated before anything starts; then the dataset's current
(corrected) rows are split with the workspace's dev split, encoded with the chosen input format, and a
Hugging Face ``Trainer`` fine-tunes :class:`core.train.model.REModel` with dynamic padding, optional
group-by-length sampling, mixed precision where the GPU has it, gradient accumulation, warmup and a
scheduler, early stopping on dev micro-F1 and the best checkpoint restored at the end.

The run folder it writes (readers: :mod:`core.jobs`, :mod:`core.store.runs`, the Train and ensemble views;
every file name comes from :class:`core.store.runs.RunDir`)::

    config.json            the resolved config (every option, defaults filled)
    metrics.jsonl          one JSON object per line, appended and flushed as it happens:
                           {"kind": "train"|"eval"|"progress"|"end", "step", "max_steps", "epoch", "loss",
                            "lr", "eval_micro_f1", "eval_auprc", "samples_per_s", "wall_s", ...}
    train.log              the human-readable log
    checkpoint/            the best model (core.train.model.save_checkpoint; core.train.model.load_run_model reads it)
    dev_predictions.csv    id,pred_label,probs (submission format, the schema's baseline label order)
    test_predictions.csv   the same for the dataset's test part, when it has one
    fold_ids.json          with ``folds``: the train ids this model learns from and the held-out ids
    dynamics.npz           with ``record_dynamics`` (the default): each train row's gold-label probability and
                           argmax from the training passes, at every evaluation (core.train.dynamics)
    oof_predictions.csv    with ``folds``: predictions for the held-out fold (core.train.crossval stitches them)
    summary.json           {"status": "succeeded"|"cancelled"|"failed", "best_step", "dev": {"micro_f1",
                            "auprc", "n"} or null, "predictions": [files written],
                            "pending_predictions": [files left for later], "truncated_entity_rows",
                            "train_samples_per_s", "wall_s", ...}

SIGTERM (or SIGINT, or the ``stop`` event) stops training at the next step, or at once during an
evaluation or before the first step. The run then writes its checkpoint and ``summary.json`` (status
``cancelled``) first, and the predictions after them (dev, held-out fold, test), each followed by the
summary, within a budget counted from the stop request (``$RESTUDIO_CANCEL_BUDGET_S``, which the job
backends set under their grace period before SIGKILL; 10 s by default). Files that do not fit stay in
``pending_predictions`` (``dev`` is then null) and :func:`core.train.predict.complete_predictions` (``python
-m core predict RUN_DIR``, or a ``predict`` job) makes them later. The command exits 143 when cancelled.

This module is the entrypoint: :func:`validate`, :func:`train` and the command line. Its parts live next
to it: the options and their checks in :mod:`core.train.config`, the rows in :mod:`core.train.dataset`,
``metrics.jsonl``/``train.log`` in :mod:`core.train.run_writer`, the stop flag, signals and ``Trainer``
callbacks in :mod:`core.train.callbacks`, and the prediction files in :mod:`core.train.predict`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.common.schema import NO_RELATION, SCHEMAS
from core.store.runs import CHECKPOINT_DIR, RunDir
from core.train.augmentation import augment
from core.train.callbacks import (
    CancelledBeforeTraining,
    EvaluationStopped,
    StopFlag,
    cancel_budget_s,
    is_entrypoint,
    signals_stop,
    trainer_callbacks,
)
from core.train.config import (
    ConfigError,
    TrainConfig,
    check_values,
    hub_downloads_allowed,
    load_config,
    parse_overrides,
    position_limit,
    resolve,
    trackers,
    workspace_root,
)
from core.train.dataset import load_data
from core.train.dynamics import DynamicsRecorder, with_row_index
from core.train.predict import (
    PREDICTION_FILES,
    PredictionPart,
    describe_files,
    predict_parts,
    predictions_lock,
)
from core.train.restriction import allowed_table, unseen_counts
from core.train.run_writer import RunWriter, now, write_json

__all__ = [
    "EXIT_CANCELLED",
    "cli_train",
    "default_run_dir",
    "precision_for",
    "run_guarded",
    "train",
    "validate",
]

EXIT_CANCELLED = 128 + signal.SIGTERM


def validate(config: TrainConfig | Mapping[str, Any], *, check_data: bool = True) -> TrainConfig:
    """The resolved config, or :class:`ConfigError` with one message saying every problem found.

    Checks option names (an unknown one is named, with the closest known option), types and ranges,
    the model (a local-looking path must exist; a hub id must be cached, or answer on the hub within a few
    seconds: :func:`core.train.config.hub_unavailable`), and, with ``check_data``, the workspace:
    the dataset and split exist, train and dev rows are left and labeled, and ``labels`` (when given)
    is the dataset's label set.
    """
    cfg = resolve(config)
    problems = check_values(cfg)
    if problems:
        raise ConfigError("Config refused: " + "; ".join(problems) + ".")
    if check_data:
        load_data(cfg)
    return cfg


# -- the run --------------------------------------------------------------------------------------------


def default_run_dir(config: TrainConfig) -> Path:
    """``WORKSPACE/runs/<UTC time>-<model>-<input format>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    model = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(config.model).name or "model")
    return workspace_root(config) / "runs" / f"{stamp}-{model}-{config.input_format}"


def precision_for(cfg: Any) -> tuple[bool, bool, str]:
    """(fp16, bf16, device) for this machine from a config's ``fp16`` / ``bf16`` options; explicit fp16 without
    a CUDA GPU is refused."""
    import torch

    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name(0) if cuda else "cpu"
    if cfg.fp16 == "true" and not cuda:
        raise ConfigError("fp16 needs a CUDA GPU and this machine has none; set fp16 to auto or false.")
    bf16 = cfg.bf16 == "true" or (cfg.bf16 == "auto" and cuda and torch.cuda.is_bf16_supported())
    fp16 = not bf16 and (cfg.fp16 == "true" or (cfg.fp16 == "auto" and cuda))
    return fp16, bf16, device


def train(
    config: TrainConfig | Mapping[str, Any],
    run_dir: str | os.PathLike[str],
    *,
    stop: threading.Event | Callable[[], bool] | None = None,
    echo: bool = False,
) -> dict[str, Any]:
    """Fine-tune, evaluate and write the run folder; returns ``summary.json``'s content.

    ``echo`` also prints the log lines on stdout (the CLI does, so a job's own log shows them).
    ``stop`` (an event, or a callable polled at every step) ends training early like SIGTERM does:
    the run is saved and its status is ``cancelled``. Config problems raise :class:`ConfigError`
    before anything is written; a failure later writes ``summary.json`` with status ``failed`` and
    the error, then re-raises.
    """
    started = time.time()
    cfg = validate(config)
    nothing_saved = {"dev": None, "checkpoint": None, "predictions": [], "pending_predictions": []}
    return run_guarded(
        run_dir,
        cfg.to_dict(),
        lambda run, writer, flag: _train(cfg, run, writer, flag),
        started=started,
        stop=stop,
        echo=echo,
        nothing_saved=nothing_saved,
    )


def run_guarded(
    run_dir: str | os.PathLike[str],
    config: Mapping[str, Any],
    body: Callable[[Path, RunWriter, StopFlag], Mapping[str, Any]],
    *,
    started: float,
    stop: threading.Event | Callable[[], bool] | None = None,
    echo: bool = False,
    nothing_saved: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``body(run, writer, flag)`` in a run folder under the cancel contract; returns the summary.

    The part every job that trains shares (fine-tuning here, masked-LM pretraining in :mod:`core.train.tapt`):
    the folder is cleared of an earlier attempt's outputs, ``config.json``, ``metrics.jsonl`` and
    ``train.log`` are started, SIGTERM / SIGINT / ``stop`` raise the stop flag, and transformers' warnings go
    to ``train.log``. ``body`` returns the summary's fields. A stop before the first step writes a
    ``cancelled`` summary with ``nothing_saved``'s fields; a failure writes a ``failed`` summary and re-raises.
    """
    started_at = datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds")
    budget = cancel_budget_s()
    run = Path(run_dir).resolve()
    run.mkdir(parents=True, exist_ok=True)
    files = RunDir(run)
    for stale in files.attempt_outputs:  # from an earlier attempt in the same folder
        stale.unlink(missing_ok=True)
    write_json(files.config, config)
    writer = RunWriter(run, started, echo=echo)
    flag = StopFlag(stop, budget_s=budget)
    writer.log(f"run folder {run}; config: {json.dumps(dict(config), ensure_ascii=False)}")
    summary: dict[str, Any] = {"status": "running", "started_at": started_at, "run_dir": str(run)}
    try:
        with signals_stop(flag, writer), _library_warnings_to(files.train_log):
            summary.update(body(run, writer, flag))
    except CancelledBeforeTraining as early:
        # Nothing trained yet: nothing to save, only the record of the stop.
        summary.update(
            status="cancelled",
            stop_reason=flag.reason,
            steps=0,
            **(nothing_saved or {}),
            note=f"stopped before training started ({early.stage}): nothing to save",
            wall_s=writer.wall(),
            finished_at=now(),
        )
        write_json(files.summary, summary)
        writer.log(f"cancelled before training started ({early.stage}): nothing to save")
        writer.record("end", status="cancelled")
    except BaseException as exc:
        summary.update(status="failed", error=f"{type(exc).__name__}: {exc}", wall_s=writer.wall(), finished_at=now())
        write_json(files.summary, summary)
        writer.log(f"FAILED: {type(exc).__name__}: {exc}")
        writer.record("end", status="failed")
        raise
    finally:
        shutil.rmtree(files.trainer_dir, ignore_errors=True)
        writer.close()
    return summary


@contextlib.contextmanager
def _library_warnings_to(path: Path) -> Iterator[None]:
    """transformers' warnings also go to train.log, and its progress bars are off meanwhile."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s [%(name)s] %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger = logging.getLogger("transformers")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        if bars:
            hf_logging.enable_progress_bar()


def _train(cfg: TrainConfig, run: Path, writer: RunWriter, flag: StopFlag) -> dict[str, Any]:
    import torch
    from transformers import (
        DataCollatorWithPadding,
        EarlyStoppingCallback,
        PrinterCallback,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    from core.train import model as re_model
    from core.train.encoding import encode
    from core.train.metrics import auprc, micro_f1

    files = RunDir(run)
    # Before the first step a stop ends the run at once (flag.check): importing torch, building the tiny
    # backbone and encoding 29k rows take tens of seconds together, and nothing before step 1 is worth saving.
    flag.check("importing the libraries")

    # 1. Machine and seed. -------------------------------------------------------------------------------
    if cfg.cpu_threads:
        torch.set_num_threads(cfg.cpu_threads)
    fp16, bf16, device = precision_for(cfg)
    set_seed(cfg.seed)
    writer.log(f"device {device}; fp16 {fp16}, bf16 {bf16}; torch threads {torch.get_num_threads()}")

    # 2. Data: the split's train/dev rows of the current (corrected) dataset, and the test part. ---------
    data = load_data(cfg)
    labels = data.labels
    label_id = {name: i for i, name in enumerate(labels)}
    writer.log(
        f"dataset {data.dataset_name!r} (#{data.dataset_id}, revision {data.revision}), split {cfg.split!r}: "
        f"{len(data.train)} train, {len(data.dev)} dev, {0 if data.test is None else len(data.test)} test rows"
    )
    if data.holdout is not None:
        # Written before training starts: the record of exactly which rows this model may learn from.
        write_json(
            files.fold_ids,
            {
                "folds": cfg.folds,
                "fold": cfg.fold,
                "fold_seed": cfg.fold_seed,
                "train_ids": data.train["id"].astype(str).tolist(),
                "holdout_ids": data.holdout["id"].astype(str).tolist(),
            },
        )
        writer.log(f"fold {cfg.fold} of {cfg.folds} (seed {cfg.fold_seed}): {len(data.holdout)} train rows held out")

    flag.check("loading the data")

    # 3. Tokenizer and model (the tiny demo backbone is built from the train sentences first). ----------
    model_path = cfg.model
    if cfg.model == "tiny":
        model_path = str(re_model.build_tiny_model(run / "tiny_model", data.train["sentence"].astype(str).tolist()))
        writer.log(f"built the tiny backbone in {model_path}")
    # Read here, in the job, from the server's file and the job's environment: nothing in the job's
    # config can turn hub downloads back on.
    allow_hub = hub_downloads_allowed()
    tokenizer = re_model.load_tokenizer(model_path, allow_hub_download=allow_hub)
    schema = SCHEMAS[data.schema_name].with_labels(labels)
    added = re_model.prepare_tokenizer(tokenizer, cfg.input_format, schema)
    # Augmentation acts on the rows the model learns from and nothing else: dev, test and the held-out fold
    # keep their rows, and fold_ids.json (written above) lists the source train ids.
    source_rows = len(data.train)
    augmented = augment(
        data.train,
        entity_swap=cfg.augment_entity_swap,
        entity_replace=cfg.augment_entity_replace,
        word_mask=cfg.augment_word_mask,
        seed=cfg.seed,
        mask_token=tokenizer.mask_token or tokenizer.unk_token or "[MASK]",
        schema=schema,
    )
    data = dataclasses.replace(data, train=augmented.frame)
    if len(data.train) != source_rows or augmented.counts["word_mask"]:
        writer.log(f"augmentation of {source_rows} train rows: {json.dumps(augmented.counts)}")
    train_y = data.train["label"].astype(str).map(label_id).to_numpy(dtype=np.int64)
    weights = re_model.class_weights(train_y, len(labels)) if cfg.loss == "weighted_ce" else None
    model = re_model.build_model(
        model_path,
        tokenizer,
        labels=labels,
        head=cfg.head,
        input_format=cfg.input_format,
        type_language=cfg.type_language,
        max_length=cfg.max_length,
        dropout=cfg.dropout,
        loss=cfg.loss,
        weights=weights,
        focal_gamma=cfg.focal_gamma,
        focal_alpha=cfg.focal_alpha,
        allow_hub_download=allow_hub,
    )
    # A hub model that was not in the cache when the config was validated is checked now that it is here.
    limit = position_limit(model.backbone.config.to_dict(), {"model_max_length": tokenizer.model_max_length})
    if limit is not None and cfg.max_length > limit:
        raise ConfigError(f"max_length must be at most {limit} for model {cfg.model!r} (its longest input).")
    restriction = None
    if cfg.restrict_types:
        # Built from the rows learned from (augmented ones included), so every training target is allowed.
        model.set_restriction(allowed_table(data.train, labels))
        prediction_rows = {"dev": data.dev, "holdout": data.holdout, "test": data.test}
        restriction = {
            "pairs": len(model.restriction.pairs),
            "unseen_pair_rows": unseen_counts(model.restriction, prediction_rows),
        }
        writer.log(f"type restriction over {restriction['pairs']} type pairs: {json.dumps(restriction)}")
    n_params = sum(p.numel() for p in model.parameters())
    writer.log(f"model {cfg.model}: {n_params / 1e6:.2f}M parameters, {added} marker tokens added")
    origin = backbone_origin(cfg.model, model_path)
    if origin.get("kind") == "tapt":
        writer.log(f"backbone: TAPT of {origin.get('base_model')} (job #{origin.get('tapt_job')})")

    flag.check("building the model")

    # 4. Encode (entity-safe truncation: rows whose entities could not both be kept are counted). -------
    def encoded(frame: pd.DataFrame, part: str) -> Any:
        enc = encode(
            frame, tokenizer, input_format=cfg.input_format, max_length=cfg.max_length, type_language=cfg.type_language
        )
        if enc.windowed_ids or enc.truncated_ids:
            writer.log(
                f"{part}: {len(enc.windowed_ids)} rows shortened around their entities; "
                f"{len(enc.truncated_ids)} rows cut through an entity (ids {enc.truncated_ids[:10]})"
            )
        return enc

    train_enc = encoded(data.train, "train")
    flag.check("encoding the train rows")
    dev_enc = encoded(data.dev, "dev")
    dev_y = data.dev["label"].astype(str).map(label_id).to_numpy(dtype=np.int64)
    truncated = {"train": len(train_enc.truncated_ids), "dev": len(dev_enc.truncated_ids)}
    windowed = {"train": len(train_enc.windowed_ids), "dev": len(dev_enc.windowed_ids)}

    # 5. The Trainer. ------------------------------------------------------------------------------------
    no_rel = label_id.get(NO_RELATION, -1)

    def compute_metrics(eval_pred: Any) -> dict[str, float]:
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        probs = torch.softmax(torch.as_tensor(logits, dtype=torch.float64), dim=-1).numpy()
        gold = np.asarray(eval_pred.label_ids, dtype=np.int64)
        return {"micro_f1": micro_f1(gold, probs.argmax(axis=1), no_relation=no_rel), "auprc": auprc(gold, probs)}

    per_epoch = cfg.eval_steps == 0
    args = TrainingArguments(
        output_dir=str(files.trainer_dir),  # the Trainer's own checkpoints; removed at the end
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size,
        learning_rate=cfg.lr,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float below 1 is a fraction of the steps
        lr_scheduler_type=cfg.scheduler,
        gradient_accumulation_steps=cfg.grad_accum,
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        fp16=fp16,
        bf16=bf16,
        use_cpu=device == "cpu",
        eval_strategy="epoch" if per_epoch else "steps",
        save_strategy="epoch" if per_epoch else "steps",
        eval_steps=None if per_epoch else cfg.eval_steps,
        save_steps=None if per_epoch else cfg.eval_steps,
        save_only_model=True,  # no optimizer state: checkpoints only serve load_best_model_at_end
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model="micro_f1",
        greater_is_better=True,
        logging_strategy="steps",
        logging_steps=cfg.logging_steps,
        seed=cfg.seed,
        dataloader_num_workers=cfg.num_workers,
        report_to=trackers(cfg.report_to) or "none",
        run_name=run.name,  # what the trackers call this run
        disable_tqdm=True,
    )
    callbacks = trainer_callbacks(
        writer,
        flag,
        samples_per_step=cfg.batch_size * cfg.grad_accum,
        logging_steps=cfg.logging_steps,
        n_train=len(data.train),
    )
    if cfg.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    train_features = re_model.add_type_pairs(model, train_enc.features(train_y), data.train)
    recorder = None
    if cfg.record_dynamics:
        # Each train row's gold probability and argmax from the training passes, at every evaluation.
        recorder = DynamicsRecorder(
            ids=data.train["id"].astype(str).tolist(),
            gold=train_y,
            labels=labels,
            path=files.dynamics,
            dataset_id=data.dataset_id,
            dataset_revision=data.revision,
        ).attach(model)
        with_row_index(train_features)
        callbacks.append(recorder.callback())
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_features,
        eval_dataset=re_model.add_type_pairs(model, dev_enc.features(dev_y), data.dev),
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if (fp16 or bf16) else None),
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
        callbacks=callbacks,
    )
    # The Trainer's PrinterCallback would print every log dict on stdout; train.log (and, from the
    # CLI, stdout) already get them as readable lines.
    trainer.remove_callback(PrinterCallback)
    for callback in trainer.callback_handler.callbacks:
        # TensorBoard writes under output_dir (the Trainer's folder, removed at the end) unless told otherwise.
        if type(callback).__name__ == "TensorBoardCallback" and getattr(callback, "logging_dir", None) is None:
            callback.logging_dir = str(run / "tensorboard")
    run_logger = callbacks[0]

    # 6. Train (the best checkpoint by dev micro-F1 is loaded back at the end). -------------------------
    flag.check("starting training", poll=True)
    flag.preparing = False
    t_train = time.time()
    try:
        trainer.train()
    except EvaluationStopped:
        # A stop during an evaluation ends it at once; the Trainer's end (loading the best checkpoint so
        # far) did not run, so do it here, as a stop between steps would have.
        writer.log("evaluation interrupted by the stop request")
        if args.load_best_model_at_end and trainer.state.best_model_checkpoint is not None:
            trainer._load_best_model()
        run_logger.on_train_end(args, trainer.state, trainer.control)  # the training rate, as at a normal end
    train_wall = time.time() - t_train
    if recorder is not None:  # rows trained on after the last evaluation, and the file if none ran
        recorder.finish(step=int(trainer.state.global_step), epoch=float(trainer.state.epoch or 0.0))
        writer.log(f"training dynamics of {len(recorder.ids)} train rows at {len(recorder.steps)} evaluation(s)")
    status = "cancelled" if flag.is_set() else "succeeded"
    model = trainer.model
    step = int(trainer.state.global_step)
    best_step = run_logger.best[1] if run_logger.best is not None else step
    writer.log(f"training {status} at step {step} after {train_wall:.1f} s; best step {best_step}")

    # 7. Save the model, then the summary, then predictions (most important first if killed). -----------
    # A cancelled run predicts only until its budget is spent (the job's grace period minus a margin);
    # what is left is listed in pending_predictions for complete_predictions (`python -m core predict`).
    re_model.save_checkpoint(model, tokenizer, files.checkpoint)
    parts = [PredictionPart(PREDICTION_FILES["dev"], data.dev, "dev", encoded=dev_enc)]
    if data.holdout is not None:  # the held-out fold, for cross-validation (core.train.crossval stitches them)
        parts.append(PredictionPart(PREDICTION_FILES["oof"], data.holdout, "holdout"))
    if data.test is not None:
        has_gold = bool(data.test["label"].notna().all())  # the demo's test part carries gold labels
        parts.append(PredictionPart(PREDICTION_FILES["test"], data.test, "test" if has_gold else None))
    summary: dict[str, Any] = {
        "status": status,
        "stop_reason": flag.reason,
        "best_step": best_step,
        "steps": step,
        "max_steps": int(trainer.state.max_steps),
        "epochs": round(float(trainer.state.epoch or 0.0), 4),
        "dev": None,  # filled once dev_predictions.csv is written
        "truncated_entity_rows": int(sum(truncated.values())),
        "truncated_entity_rows_by_part": truncated,
        "windowed_rows_by_part": windowed,
        "train_samples_per_s": run_logger.train_samples_per_s,
        "train_wall_s": round(train_wall, 3),
        "wall_s": writer.wall(),
        "n_train": len(data.train),
        "n_dev": len(data.dev),
        "n_test": 0 if data.test is None else len(data.test),
        "n_holdout": 0 if data.holdout is None else len(data.holdout),
        "augmentation": {**augmented.counts, "source_rows": source_rows},
        "restriction": restriction,
        "dynamics": None
        if recorder is None
        else {
            "file": files.dynamics.name,
            "evaluations": len(recorder.steps),
            "record_s": round(recorder.seconds, 3),
        },
        "dataset": data.dataset_name,
        "dataset_id": data.dataset_id,
        "dataset_revision": data.revision,
        "split": cfg.split,
        "split_revision": data.split_revision,
        "labels": list(labels),
        "device": device,
        "precision": "bf16" if bf16 else "fp16" if fp16 else "fp32",
        "parameters": n_params,
        "backbone": origin,
        "checkpoint": CHECKPOINT_DIR,
        "predictions": [],
        "pending_predictions": [part.file for part in parts],
        "finished_at": now(),
    }
    write_json(files.summary, summary)
    with predictions_lock(run, wait=False):
        predict_parts(
            run,
            summary,
            parts,
            model=model,
            tokenizer=tokenizer,
            data=data,
            batch_size=cfg.eval_batch_size,
            remaining=flag.remaining,
            log=writer.log,
        )
    if flag.is_set() and status == "succeeded":  # the stop came while predicting: the job ends cancelled
        summary.update(status="cancelled", stop_reason=flag.reason)
        status = "cancelled"
    dev_scores = summary["dev"]
    if dev_scores is not None and run_logger.evaluations == 0:  # no evaluation ran: give the curves one point
        writer.record(
            "eval",
            step=step,
            max_steps=trainer.state.max_steps,
            epoch=trainer.state.epoch,
            eval_micro_f1=dev_scores["micro_f1"],
            eval_auprc=dev_scores["auprc"],
        )
    summary["wall_s"] = writer.wall()
    summary["finished_at"] = now()
    write_json(files.summary, summary)
    writer.record(
        "end",
        status=status,
        step=step,
        max_steps=int(trainer.state.max_steps),
        epoch=trainer.state.epoch,
        eval_micro_f1=None if dev_scores is None else dev_scores["micro_f1"],
        eval_auprc=None if dev_scores is None else dev_scores["auprc"],
    )
    if summary["pending_predictions"]:
        writer.log(
            f"{describe_files(summary['pending_predictions'])} left for later (the cancel's time budget of "
            f"{flag.budget_s:g} s is spent): run `python -m core predict {run}`"
        )
    scores = (
        f"dev micro-F1 {dev_scores['micro_f1']:.2f}, AUPRC {dev_scores['auprc']:.2f} (n={dev_scores['n']})"
        if dev_scores is not None
        else "no dev scores yet"
    )
    writer.log(f"{status}: {scores}; wall {summary['wall_s']:.1f} s")
    return summary


def backbone_origin(model: str, model_path: str) -> dict[str, Any]:
    """Where a run's backbone came from, for its summary: the config's ``model``, and for a workspace backbone
    folder its record (a TAPT job's id, base model and dataset; :mod:`core.store.backbones`)."""
    from core.store.backbones import read_backbone

    info = read_backbone(model_path) if Path(model_path).is_dir() else None
    if model == "tiny":
        return {"model": model, "kind": "tiny", "folder": model_path}
    if info is None:
        kind = "local" if Path(model).expanduser().exists() else "hub"
        return {"model": model, "kind": kind}
    return {
        "model": model,
        "kind": info.kind,
        "name": info.name,
        "base_model": info.base_model,
        "family": info.family,
        "tapt_job": info.job_id,
        "tapt_status": info.status if info.kind == "tapt" else None,
        "dataset": info.dataset,
        "dataset_revision": info.dataset_revision,
    }


# -- command line -----------------------------------------------------------------------------------------


def cli_train(args: argparse.Namespace) -> int:
    """Run ``train`` from parsed arguments: 0 succeeded, 143 cancelled; ConfigError propagates (exit 2)."""
    raw = load_config(args.config) if args.config else {}
    raw.update(parse_overrides(args.overrides))
    cfg = validate(raw)
    if args.check:
        print(json.dumps(cfg.to_dict(), ensure_ascii=False, indent=2))
        return 0
    run_dir = Path(args.run_dir) if args.run_dir else default_run_dir(cfg)
    print(f"Training in {run_dir} ...", flush=True)
    summary = train(cfg, run_dir, echo=True)
    dev = summary.get("dev")  # None when cancelled before its dev predictions were made
    scores = f"dev micro-F1 {dev['micro_f1']:.2f}, AUPRC {dev['auprc']:.2f} (n={dev['n']})" if dev else "no dev scores"
    best = f", best step {summary['best_step']}" if summary.get("best_step") is not None else ""
    print(f"{summary['status']}: {scores}{best}, {summary['wall_s']:.1f} s. Run folder: {run_dir}", flush=True)
    if summary.get("pending_predictions"):
        print(f"Left for later: {', '.join(summary['pending_predictions'])}: run `python -m core predict {run_dir}`")
    if summary["status"] == "succeeded":
        return 0
    _exit_now_if_entrypoint(EXIT_CANCELLED)
    return EXIT_CANCELLED


def _exit_now_if_entrypoint(code: int) -> None:
    """End a cancelled ``python -m core train`` process at once, skipping the interpreter's teardown.

    Unloading torch and transformers takes 3-4 s on a busy 2-core machine (measured: import both, then
    exit), a fifth of the grace period before SIGKILL. Everything the run writes is closed by now
    (atomic files, the run writer, the log handler), so only stdout and stderr need flushing. Only when
    this process is the CLI (``python -m core``), never in a
    process that merely called :func:`cli_train` (a test, the app).
    """
    if is_entrypoint():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
