"""Fine-tune a relation classifier on a workspace dataset: ``python -m core train CONFIG``.

Read :func:`train` top to bottom: it is the whole recipe. A config (YAML or JSON, every option in
:class:`TrainConfig` with a default) is validated before anything starts; then the dataset's current
(corrected) rows are split with the workspace's dev split, encoded with the chosen input format, and a
Hugging Face ``Trainer`` fine-tunes :class:`core.train.model.REModel` with dynamic padding, optional
group-by-length sampling, mixed precision where the GPU has it, gradient accumulation, warmup and a
scheduler, early stopping on dev micro-F1 and the best checkpoint restored at the end.

The run folder it writes (readers: :mod:`core.jobs`, :mod:`core.store.runs`, the Train and ensemble views)::

    config.json            the resolved config (every option, defaults filled)
    metrics.jsonl          one JSON object per line, appended and flushed as it happens:
                           {"kind": "train"|"eval"|"progress"|"end", "step", "max_steps", "epoch", "loss",
                            "lr", "eval_micro_f1", "eval_auprc", "samples_per_s", "wall_s", ...}
    train.log              the human-readable log
    checkpoint/            the best model (core.train.model.save_checkpoint; core.train.model.load_run_model reads it)
    dev_predictions.csv    id,pred_label,probs (submission format, the schema's baseline label order)
    test_predictions.csv   the same for the dataset's test part, when it has one
    fold_ids.json          with ``folds``: the train ids this model learns from and the held-out ids
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
``pending_predictions`` (``dev`` is then null) and :func:`complete_predictions` (``python -m core predict
RUN_DIR``, or a ``predict`` job) makes them later. The command exits 143 when cancelled.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import json
import logging
import math
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from core.common.atomic import atomic_write_text
from core.common.config import load_server_config
from core.common.schema import NO_RELATION, SCHEMAS, DataError
from core.train.encoding import INPUT_FORMATS, TYPE_LANGUAGES

__all__ = [
    "HEADS",
    "HUB_DOWNLOAD_ENV",
    "INPUT_KEY",
    "LIMITS",
    "LOSSES",
    "MAX_FOLDS",
    "PREDICTION_FILES",
    "PRESETS",
    "SCHEDULERS",
    "ConfigError",
    "PredictionError",
    "TrainConfig",
    "TrainingData",
    "add_train_parser",
    "cancel_budget_s",
    "cli_train",
    "complete_predictions",
    "config_help",
    "default_run_dir",
    "fold_assignment",
    "hub_download_refused",
    "hub_downloads_allowed",
    "input_groups",
    "load_config",
    "load_data",
    "main",
    "model_length_limit",
    "position_limit",
    "predict_main",
    "submission_labels",
    "train",
    "validate",
]

HEADS: tuple[str, ...] = ("cls", "entity_start")
#: The columns that make a row's model input (entity types aside): rows equal on these are copies.
INPUT_KEY: tuple[str, ...] = ("sentence", "subj_start", "subj_end", "obj_start", "obj_end")
LOSSES: tuple[str, ...] = ("ce", "weighted_ce", "focal")
#: Schedulers that need no extra arguments (``transformers.SchedulerType`` names).
SCHEDULERS: tuple[str, ...] = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
)
PRECISIONS: tuple[str, ...] = ("auto", "true", "false")
DEMO_DATASET = "demo (synthetic KLUE-RE)"  # core.data.importing.DEMO_NAME, without importing the loaders here
EXIT_CANCELLED = 128 + signal.SIGTERM
#: Set by the job backends for each job: seconds a cancelled run may spend, from the stop request, on
#: stopping, saving and predicting before it must exit (a margin under the grace before SIGKILL).
CANCEL_BUDGET_ENV = "RESTUDIO_CANCEL_BUDGET_S"
#: The budget without the variable (a run started by hand): under the jobs' default 20 s grace.
DEFAULT_CANCEL_BUDGET_S = 10.0
#: The prediction files a run writes, in the order it writes them: dev first (the summary's dev scores),
#: then the held-out fold (cross-validation), then the test part.
PREDICTION_FILES: dict[str, str] = {
    "dev": "dev_predictions.csv",
    "oof": "oof_predictions.csv",
    "test": "test_predictions.csv",
}


#: Set by the job backends (``core.jobs.HUB_DOWNLOAD_ENV``) for every job of a server whose
#: ``restudio.toml`` turns hub downloads off: a Ray job does not see the server's file. Only forbids.
HUB_DOWNLOAD_ENV = "RESTUDIO_HUB_DOWNLOAD"
#: The tiny demo backbone's longest input (``core.train.model.build_tiny_model``: 512 positions).
TINY_MAX_LENGTH = 512
#: Cross-validation trains one model per fold: more than this is a typo, not a plan.
MAX_FOLDS = 10
#: Upper limits of the numeric options. A shared server must not take a typo (a batch of a million
#: rows, 10,000 epochs, 500 data-loader processes) as an order: validate refuses more, naming the
#: option and its limit, and the Train form's inputs stop there. ``max_length`` is also held to the
#: model's own limit (:func:`model_length_limit`).
LIMITS: dict[str, int | float] = {
    "epochs": 100.0,
    "max_steps": 1_000_000,
    "batch_size": 1024,
    "eval_batch_size": 4096,
    "grad_accum": 256,
    "max_length": 8192,
    "num_workers": 16,
    "cpu_threads": 64,
    "logging_steps": 100_000,
    "eval_steps": 1_000_000,
    "early_stopping_patience": 100,
    "focal_gamma": 10.0,
    "focal_alpha": 100.0,
    "weight_decay": 1.0,
    "folds": MAX_FOLDS,
}


class ConfigError(ValueError):
    """A training config was refused before anything started; the message says what to change."""


def _opt(default: Any, help_: str) -> Any:
    return field(default=default, metadata={"help": help_})


@dataclass(frozen=True)
class TrainConfig:
    """Every training option. The defaults train the tiny demo model to >= 80 dev micro-F1 on a CPU."""

    dataset: str = _opt(DEMO_DATASET, "workspace dataset to train on (name or id)")
    split: str = _opt("default", "dev split of the dataset (made in the Data view or with `python -m core split`)")
    workspace: str | None = _opt(None, "workspace folder (null: $RESTUDIO_HOME, else ./workspace)")
    model: str = _opt("tiny", "backbone: hub id, local model folder, or 'tiny' (a small BERT built from train data)")
    input_format: str = _opt("typed_entity_marker_punct", f"how entities are shown: {', '.join(INPUT_FORMATS)}")
    type_language: str = _opt("en", "entity type names in typed_entity_marker_punct: en (PER) or ko (사람)")
    head: str = _opt("entity_start", "cls ([CLS] pooling) or entity_start (subject+object start states)")
    loss: str = _opt("ce", "ce, weighted_ce (inverse-frequency class weights) or focal")
    focal_gamma: float = _opt(2.0, "focal loss gamma (0 = cross-entropy)")
    focal_alpha: float = _opt(1.0, "focal loss alpha (scale)")
    dropout: float = _opt(0.1, "dropout before the classifier")
    max_length: int = _opt(128, "longest input in tokens; longer rows keep a window around both entities")
    epochs: float = _opt(15.0, "training epochs (ignored when max_steps > 0)")
    max_steps: int = _opt(-1, "stop after this many optimizer steps (-1: run all epochs)")
    batch_size: int = _opt(32, "training batch size per device")
    eval_batch_size: int = _opt(128, "batch size for dev/test prediction")
    lr: float = _opt(3e-3, "peak learning rate (tiny from-scratch model: 1e-3..5e-3; pretrained: 1e-5..5e-5)")
    weight_decay: float = _opt(0.01, "AdamW weight decay")
    warmup_ratio: float = _opt(0.1, "fraction of the steps spent warming the learning rate up")
    scheduler: str = _opt("linear", f"learning-rate schedule: {', '.join(SCHEDULERS)}")
    grad_accum: int = _opt(1, "gradient accumulation steps (effective batch = batch_size * grad_accum)")
    group_by_length: bool = _opt(True, "batch rows of similar length together (less padding, faster)")
    fp16: str = _opt("auto", "float16 mixed precision: auto (on a GPU without bf16, never on CPU), true, false")
    bf16: str = _opt("auto", "bfloat16 mixed precision: auto (where the GPU supports it, never on CPU), true, false")
    early_stopping_patience: int = _opt(5, "stop after this many evaluations without a better dev micro-F1 (0: off)")
    eval_steps: int = _opt(0, "evaluate (and keep the best checkpoint) every N steps (0: once per epoch)")
    logging_steps: int = _opt(20, "log train loss and learning rate every N steps")
    seed: int = _opt(42, "random seed (model init, data order, dropout)")
    num_workers: int = _opt(0, "data-loader worker processes")
    cpu_threads: int = _opt(0, "torch CPU threads (0: torch's default)")
    labels: list[str] | None = field(
        default=None, metadata={"help": "optional: the label list you expect; refused if the dataset's differs"}
    )
    folds: int = _opt(0, "cross-validation: cut the split's train rows into this many stratified folds (0: off)")
    fold: int = _opt(0, "with folds: the fold held out (0..folds-1); its rows get oof_predictions.csv")
    fold_seed: int = _opt(42, "with folds: seed of the stratified fold assignment (same seed, same folds)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: Starting points for the new-job form; each is a partial config laid over the defaults.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny demo (typed punct markers, entity start)": {},
    "tiny demo, entity markers": {"input_format": "entity_marker", "head": "entity_start"},
    "tiny demo, baseline [CLS]": {"input_format": "baseline", "head": "cls"},
    "klue/roberta-base, typed punct markers": {
        "model": "klue/roberta-base",
        "lr": 3e-5,
        "epochs": 5,
        "batch_size": 32,
        "max_length": 256,
        "early_stopping_patience": 3,
    },
    "klue/roberta-large, typed punct markers, focal": {
        "model": "klue/roberta-large",
        "lr": 1e-5,
        "epochs": 5,
        "batch_size": 16,
        "grad_accum": 2,
        "max_length": 256,
        "loss": "focal",
        "early_stopping_patience": 3,
    },
}

_FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(TrainConfig)}


def config_help() -> str:
    """Every option with its default and description, one per line (``--help`` shows this)."""
    width = max(map(len, _FIELDS))
    lines = []
    for name, f in _FIELDS.items():
        lines.append(f"  {name:<{width}}  {f.metadata['help']} (default: {json.dumps(f.default, ensure_ascii=False)})")
    return "\n".join(lines)


# -- reading and validating a config ------------------------------------------------------------------


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Options from a YAML or JSON file (JSON is YAML, so one parser reads both)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config file {path} cannot be read: {exc}.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ConfigError(f"Config file {path} is not valid YAML/JSON{where}.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {path} must hold a mapping of options, not a {type(data).__name__}.")
    return data


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``key=value`` strings (``--set``), each value read as YAML (``lr=1e-4`` is a number)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: write it as key=value.")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def _coerce(name: str, value: Any) -> Any:
    """A value of the option's type, or ConfigError naming the option (YAML and --set give strings)."""
    default = _FIELDS[name].default
    if name in ("fp16", "bf16"):
        text = str(value).strip().lower() if not isinstance(value, bool) else str(value).lower()
        if text not in PRECISIONS:
            raise ConfigError(f"{name} must be auto, true or false, got {value!r}.")
        return text
    if name == "labels":
        if value is None:
            return None
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError("labels must be a list of label names.")
        return list(value)
    if name == "workspace":
        return None if value in (None, "") else str(value)
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "1", "on"):
            return True
        if text in ("false", "no", "0", "off"):
            return False
        raise ConfigError(f"{name} must be true or false, got {value!r}.")
    if isinstance(default, int):
        if isinstance(value, bool):
            raise ConfigError(f"{name} must be a whole number, got {value!r}.")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a whole number, got {value!r}.") from None
        if not number.is_integer():
            raise ConfigError(f"{name} must be a whole number, got {value!r}.")
        return int(number)
    if isinstance(default, float):
        if isinstance(value, bool):
            raise ConfigError(f"{name} must be a number, got {value!r}.")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a number, got {value!r}.") from None
        if not math.isfinite(number):
            raise ConfigError(f"{name} must be a finite number, got {value!r}.")
        return number
    if value is None or isinstance(value, list | dict):
        raise ConfigError(f"{name} must be a text value, got {value!r}.")
    return str(value)


def _check_values(cfg: TrainConfig) -> list[str]:
    """Problems with option values on their own (no workspace needed)."""
    problems = []

    def choice(name: str, options: Sequence[str]) -> None:
        value = getattr(cfg, name)
        if value not in options:
            close = difflib.get_close_matches(str(value), options, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{name} {value!r} is not one of {', '.join(options)}{hint}")

    choice("input_format", INPUT_FORMATS)
    choice("type_language", TYPE_LANGUAGES)
    choice("head", HEADS)
    choice("loss", LOSSES)
    choice("scheduler", SCHEDULERS)
    positive = ("lr", "epochs", "batch_size", "eval_batch_size", "grad_accum", "logging_steps", "focal_alpha")
    for name in positive:
        if getattr(cfg, name) <= 0:
            problems.append(f"{name} must be greater than 0, got {getattr(cfg, name)}")
    for name in ("weight_decay", "focal_gamma", "early_stopping_patience", "eval_steps", "num_workers", "cpu_threads"):
        if getattr(cfg, name) < 0:
            problems.append(f"{name} must not be negative, got {getattr(cfg, name)}")
    if not 0 <= cfg.warmup_ratio < 1:
        problems.append(f"warmup_ratio must be in [0, 1), got {cfg.warmup_ratio}")
    if not 0 <= cfg.dropout < 1:
        problems.append(f"dropout must be in [0, 1), got {cfg.dropout}")
    if not 16 <= cfg.max_length <= LIMITS["max_length"]:
        problems.append(f"max_length must be between 16 and {LIMITS['max_length']} tokens, got {cfg.max_length}")
    for name, limit in LIMITS.items():
        value = getattr(cfg, name)
        if name != "max_length" and value > limit:
            shown = int(limit) if float(limit).is_integer() else limit
            problems.append(f"{name} must be at most {shown:,}, got {value:,}")
    if cfg.max_steps == 0 or cfg.max_steps < -1:
        problems.append(f"max_steps must be -1 (all epochs) or a positive number, got {cfg.max_steps}")
    if cfg.lr > 1:
        problems.append(f"lr {cfg.lr} is far too large (typical: 1e-5..5e-3)")
    if cfg.folds == 1 or cfg.folds < 0:
        problems.append(f"folds must be 0 (off) or at least 2, got {cfg.folds}")
    elif cfg.folds and not 0 <= cfg.fold < cfg.folds:
        problems.append(f"fold must be between 0 and {cfg.folds - 1} (folds is {cfg.folds}), got {cfg.fold}")
    model_problem = _check_model(cfg.model)
    if model_problem:
        problems.append(model_problem)
    else:
        limit = model_length_limit(cfg.model)
        if limit is not None and cfg.max_length > limit:
            problems.append(f"max_length must be at most {limit} for model {cfg.model!r} (its longest input)")
    return problems


def hub_downloads_allowed() -> bool:
    """Whether a hub id not in the local cache may be downloaded: ``[models] allow_hub_download`` of the
    server's ``restudio.toml`` (default yes), and not forbidden by ``$RESTUDIO_HUB_DOWNLOAD=0``, which the
    job backends set for the jobs of a server that forbids it. Nothing here can turn downloads on."""
    if os.environ.get(HUB_DOWNLOAD_ENV, "").strip().lower() in ("0", "false", "no", "off"):
        return False
    return load_server_config().allow_hub_download


def hub_download_refused(model: str) -> str:
    """The one message for a hub model that may not be fetched (the form, the CLI and a job say the same)."""
    return f"model {model!r} is not in the local cache and hub downloads are off on this server"


def _hub_file(model: str, filename: str) -> Path | None:
    """``filename`` of hub model ``model`` in the local Hugging Face cache, without any network."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(model, filename)
    except ValueError:  # not a valid repo id (HFValidationError)
        return None
    return Path(found) if isinstance(found, str) else None


def _read_json_or_empty(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


#: Model types whose positions start after the padding index, so two position slots never hold a token.
_OFFSET_POSITIONS = frozenset({"roberta", "xlm-roberta", "camembert", "longformer", "bart", "mbart", "xmod"})


def position_limit(config: Mapping[str, Any], tokenizer_config: Mapping[str, Any] | None = None) -> int | None:
    """The longest input a model takes, from its ``config.json`` and ``tokenizer_config.json`` values
    (the smaller of the tokenizer's ``model_max_length`` and the usable position embeddings); None
    when neither says."""
    limits = []
    tokenizer_max = (tokenizer_config or {}).get("model_max_length")
    if isinstance(tokenizer_max, int) and 0 < tokenizer_max < 1_000_000:  # "no limit" is stored as 1e30
        limits.append(tokenizer_max)
    positions = config.get("max_position_embeddings")
    if isinstance(positions, int) and positions > 0:
        limits.append(positions - (2 if config.get("model_type") in _OFFSET_POSITIONS else 0))
    return min(limits) if limits else None


def model_length_limit(model: str) -> int | None:
    """The longest input ``model`` takes, when it can be told here without the network: the tiny
    backbone, a local model folder, or a hub model in the local cache. None otherwise (the trainer
    checks again once the model is loaded)."""
    if model == "tiny":
        return TINY_MAX_LENGTH
    path = Path(model).expanduser()
    if path.is_dir():
        config, tokenizer = path / "config.json", path / "tokenizer_config.json"
        return position_limit(_read_json_or_empty(config), _read_json_or_empty(tokenizer))
    if path.exists() or not _HUB_ID.fullmatch(model):
        return None
    config = _hub_file(model, "config.json")
    if config is None:
        return None
    return position_limit(_read_json_or_empty(config), _read_json_or_empty(_hub_file(model, "tokenizer_config.json")))


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


def _check_model(model: str) -> str | None:
    """A local model folder must exist and hold config.json; anything shaped like a hub id passes
    (there is no network here to ask the hub, and the worker that trains may have it cached), unless
    the server turns hub downloads off and the id is not in the local cache."""
    if model == "tiny":
        return None
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            return f"model {model!r} is a file; give the model folder (the one holding config.json)"
        if not (path / "config.json").exists():
            return f"model folder {model!r} has no config.json (not a Hugging Face model folder)"
        return None
    looks_local = model.startswith(("/", "./", "../", "~", ".")) or "\\" in model or model.count("/") > 1
    if looks_local or not _HUB_ID.fullmatch(model):
        return f"model path {model!r} does not exist (and it is not a hub id like 'klue/roberta-base')"
    if not hub_downloads_allowed() and _hub_file(model, "config.json") is None:
        return hub_download_refused(model)
    return None


@dataclass
class TrainingData:
    """The rows a run trains and scores on, resolved from the workspace."""

    dataset_id: int
    dataset_name: str
    schema_name: str
    labels: tuple[str, ...]
    train: pd.DataFrame
    dev: pd.DataFrame
    test: pd.DataFrame | None
    revision: int
    split_revision: int
    holdout: pd.DataFrame | None = None  # with folds: the held-out fold of the split's train rows


def _workspace_root(cfg: TrainConfig) -> Path:
    from core.store.workspace import DEFAULT_HOME

    return Path(cfg.workspace or os.environ.get("RESTUDIO_HOME") or DEFAULT_HOME).expanduser().resolve()


def load_data(cfg: TrainConfig) -> TrainingData:
    """Train = the split's train ids in the dataset's current frame, dev = its dev ids, test = the test part."""
    from core.store.workspace import Workspace

    root = _workspace_root(cfg)
    if not (root / "restudio.db").exists():
        raise ConfigError(f"No workspace at {root} (no restudio.db); set workspace or RESTUDIO_HOME.")
    ws = Workspace(root)
    try:
        info = ws.dataset(cfg.dataset)
    except DataError:
        names = [d.name for d in ws.datasets()]
        close = [n for n in names if cfg.dataset.lower() in n.lower()] or difflib.get_close_matches(
            cfg.dataset, names, n=1
        )
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"Unknown dataset {cfg.dataset!r} in workspace {root}.{hint} Datasets: {', '.join(map(repr, names))}."
        ) from None
    split = ws.split(info.id, cfg.split)
    if split is None:
        splits = ws.splits(info.id)
        raise ConfigError(
            f"Dataset {info.name!r} has no split {cfg.split!r}"
            + (f" (it has: {', '.join(map(repr, splits))})." if splits else "; make one in the Data view first.")
        )
    frame = ws.current_frame(info.id, "train")
    ids = frame["id"].astype(str)
    train = frame[ids.isin(set(map(str, split.train_ids)))].reset_index(drop=True)
    dev = frame[ids.isin(set(map(str, split.dev_ids)))].reset_index(drop=True)
    for part, rows in (("train", train), ("dev", dev)):
        if rows.empty:
            raise ConfigError(
                f"Split {cfg.split!r} of dataset {info.name!r} has no {part} rows left"
                " (empty split, or all its rows were dropped); remake the split."
            )
        unlabeled = rows["label"].isna()
        if unlabeled.any():
            raise ConfigError(
                f"Dataset {info.name!r}: {int(unlabeled.sum())} {part} row(s) have no label "
                f"(first id {rows.loc[unlabeled, 'id'].iloc[0]})."
            )
        unknown = sorted(set(rows["label"].astype(str)) - set(info.labels))
        if unknown:
            raise ConfigError(f"Dataset {info.name!r}: {part} rows carry labels outside its label set: {unknown[:5]}.")
    if cfg.labels is not None and set(cfg.labels) != set(info.labels):
        missing = [x for x in info.labels if x not in cfg.labels]
        extra = [x for x in cfg.labels if x not in info.labels]
        problems = []
        if missing:
            problems.append(f"the dataset has {_few(missing)} that the config lacks")
        if extra:
            problems.append(f"the config has {_few(extra)} that the dataset lacks")
        raise ConfigError(f"labels do not match dataset {info.name!r}: {'; '.join(problems)}.")
    holdout = None
    if cfg.folds:
        groups = input_groups(train)
        distinct = len(np.unique(groups))
        if distinct < cfg.folds:
            raise ConfigError(
                f"folds {cfg.folds} is more than the {distinct} distinct train rows of split {cfg.split!r}."
            )
        assignment = fold_assignment(train["id"], train["label"], folds=cfg.folds, seed=cfg.fold_seed, groups=groups)
        held = assignment == cfg.fold
        holdout = train[held].reset_index(drop=True)
        train = train[~held].reset_index(drop=True)
    test = ws.current_frame(info.id, "test") if "test" in info.parts else None
    return TrainingData(
        dataset_id=info.id,
        dataset_name=info.name,
        schema_name=info.schema_name,
        labels=tuple(info.labels),
        train=train,
        dev=dev,
        test=test,
        revision=ws.revision(info.id),
        split_revision=split.revision,
        holdout=holdout,
    )


def fold_assignment(
    ids: Sequence[Any],
    labels: Sequence[Any],
    *,
    folds: int,
    seed: int,
    groups: Sequence[Any] | np.ndarray | None = None,
) -> np.ndarray:
    """The fold (0..folds-1) of each row: sklearn's ``StratifiedKFold`` (shuffled, seeded).

    The rows are put in id order first, so the folds depend on the rows, their labels and the seed,
    never on the order a frame happens to list them in. A label with fewer rows than folds is spread
    over as many folds as it has rows (sklearn's warning about it is expected here and silenced).

    ``groups`` (e.g. :func:`input_groups`) keeps rows of one group in one fold: the folds are drawn over
    each group's first row (in id order, stratified by its label) and the other rows follow it. Copies of
    a sentence then never sit on both sides of a fold, where the model would be scored on a row it trained
    on. This is written out rather than sklearn's ``StratifiedGroupKFold`` for speed: that one loops over
    every group in Python (4.5 s for 32k rows, paid by each fold job and each form check), while copies
    are a handful of rows, so stratifying the first rows is as even and takes about 50 ms for 32k rows.
    """
    import warnings

    from sklearn.model_selection import StratifiedKFold

    id_text = np.asarray([str(i) for i in ids], dtype=object)
    order = np.argsort(id_text, kind="stable")
    y = np.asarray([str(v) for v in labels], dtype=object)[order]
    if groups is None:
        group_of = np.arange(len(order))
    else:
        group_of, _ = pd.factorize(np.asarray(groups, dtype=object)[order])  # codes in order of first row
    firsts = np.unique(group_of, return_index=True)[1]
    first_fold = np.empty(len(firsts), dtype=np.int64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for k, (_, held) in enumerate(splitter.split(np.zeros(len(firsts)), y[firsts])):
            first_fold[held] = k
    out = np.empty(len(id_text), dtype=np.int64)
    out[order] = first_fold[group_of]
    return out


def input_groups(frame: pd.DataFrame) -> np.ndarray:
    """A group code per row: rows with the same sentence and entity spans (the same model input) share one."""
    return frame.groupby(list(INPUT_KEY), sort=True, dropna=False).ngroup().to_numpy()


def _few(items: Sequence[str], limit: int = 5) -> str:
    return ", ".join(map(repr, items[:limit])) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _resolve(config: TrainConfig | Mapping[str, Any]) -> TrainConfig:
    raw = config.to_dict() if isinstance(config, TrainConfig) else dict(config)
    unknown = [k for k in raw if k not in _FIELDS]
    if unknown:
        parts = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), list(_FIELDS), n=1)
            parts.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(f"Unknown option {', '.join(parts)}. Run `python -m core train --help` for the options.")
    values = {name: _coerce(name, value) for name, value in raw.items()}
    cfg = TrainConfig(**values)
    return dataclasses.replace(cfg, workspace=str(_workspace_root(cfg)))


def validate(config: TrainConfig | Mapping[str, Any], *, check_data: bool = True) -> TrainConfig:
    """The resolved config, or :class:`ConfigError` with one message saying every problem found.

    Checks option names (an unknown one is named, with the closest known option), types and ranges,
    the model (a local-looking path must exist; hub ids pass), and, with ``check_data``, the workspace:
    the dataset and split exist, train and dev rows are left and labeled, and ``labels`` (when given)
    is the dataset's label set.
    """
    cfg = _resolve(config)
    problems = _check_values(cfg)
    if problems:
        raise ConfigError("Config refused: " + "; ".join(problems) + ".")
    if check_data:
        load_data(cfg)
    return cfg


# -- the run folder -----------------------------------------------------------------------------------


class _RunWriter:
    """Appends records to ``metrics.jsonl`` and lines to ``train.log``, flushing each one.

    Several threads may write (the Trainer loop, a signal handler's note), hence the lock.
    """

    def __init__(self, run_dir: Path, started: float, *, echo: bool = False) -> None:
        self.started = started
        self.echo = echo
        # Reentrant: the SIGTERM handler logs from the main thread, possibly while that thread is inside
        # log() or record() itself; a plain Lock would deadlock the run until its SIGKILL.
        self._lock = threading.RLock()
        # Emptied first: the folder belongs to this run, and lines of an earlier attempt would corrupt its
        # curves. Then appended to ("a" = O_APPEND), because a logging handler writes to train.log too.
        for name in ("metrics.jsonl", "train.log"):
            (run_dir / name).write_bytes(b"")
        self._metrics: IO[str] = open(run_dir / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self._log: IO[str] = open(run_dir / "train.log", "a", encoding="utf-8")  # noqa: SIM115

    def wall(self) -> float:
        return round(time.time() - self.started, 3)

    def record(self, kind: str, **fields: Any) -> None:
        row = {"kind": kind, **{k: _jsonable(v) for k, v in fields.items() if v is not None}}
        row.setdefault("wall_s", self.wall())
        with self._lock:
            self._metrics.write(json.dumps(row, ensure_ascii=False) + "\n")
            self._metrics.flush()

    def log(self, message: str) -> None:
        line = f"{datetime.now().strftime('%Y-%m-%d %H:%M:%S')} {message}"
        with self._lock:
            self._log.write(line + "\n")
            self._log.flush()
        if self.echo:  # the CLI: the job's log (stdout) shows the same lines
            print(line, flush=True)

    def close(self) -> None:
        with self._lock:
            self._metrics.close()
            self._log.close()


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float):
        return round(value, 8) if math.isfinite(value) else None
    return value


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    atomic_write_text(path, lambda fh: json.dump(data, fh, ensure_ascii=False, indent=2))


def cancel_budget_s() -> float:
    """Seconds a stopped run may spend, counted from the stop request, before it must have exited:
    ``$RESTUDIO_CANCEL_BUDGET_S`` (the job backends set it a safety margin under their grace period),
    else :data:`DEFAULT_CANCEL_BUDGET_S`. Raises :class:`ConfigError` for a value that is not a number >= 0."""
    raw = os.environ.get(CANCEL_BUDGET_ENV, "").strip()
    if not raw:
        return DEFAULT_CANCEL_BUDGET_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{CANCEL_BUDGET_ENV} must be a number of seconds >= 0, got {raw!r}.")
    return value


class _CancelledBeforeTraining(Exception):
    """The stop request came before the first training step: there is no model worth saving."""

    def __init__(self, stage: str) -> None:
        super().__init__(stage)
        self.stage = stage


class _EvaluationStopped(Exception):
    """Raised from inside the Trainer's evaluation loop to end it at once on a stop request."""


class _StopFlag:
    """Set by SIGTERM / SIGINT (main thread only) or by the caller's ``stop`` event or callable.

    Once set, the run has ``budget_s`` seconds (from that moment) to stop, save and predict: the job
    backends SIGKILL a job whose grace period is over, and what is being written then is lost. What does
    not fit is left for :func:`complete_predictions`.
    """

    def __init__(
        self, stop: threading.Event | Callable[[], bool] | None, *, budget_s: float = DEFAULT_CANCEL_BUDGET_S
    ) -> None:
        self._event = threading.Event()
        self._stop = stop
        self.reason: str | None = None
        self.budget_s = budget_s
        self.set_at: float | None = None  # time.monotonic() of the stop request
        #: True until training starts: a stop then has nothing to save (see _signals_stop).
        self.preparing = True

    def set(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
            self.set_at = time.monotonic()
            self._event.set()

    def is_set(self) -> bool:
        if not self._event.is_set() and self._stop is not None:
            asked = self._stop.is_set() if isinstance(self._stop, threading.Event) else bool(self._stop())
            if asked:
                self.set("stop requested")
        return self._event.is_set()

    def remaining(self) -> float | None:
        """Seconds left of the budget; None while no stop was asked for (no limit then)."""
        if not self.is_set() or self.set_at is None:
            return None
        return self.budget_s - (time.monotonic() - self.set_at)

    def out_of_time(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def check(self, stage: str, *, poll: bool = False) -> None:
        """Before training starts: end the run now if a stop was asked for (nothing to save yet).

        A ``stop`` callable is documented as polled once per step, so it is only asked with ``poll``
        (once, right before training); signals and a ``stop`` event count at every check.
        """
        if not self._event.is_set() and isinstance(self._stop, threading.Event) and self._stop.is_set():
            self.set("stop requested")
        if self._event.is_set() or (poll and self.is_set()):
            raise _CancelledBeforeTraining(stage)


@contextlib.contextmanager
def _signals_stop(flag: _StopFlag, writer: _RunWriter) -> Iterator[None]:
    """SIGTERM / SIGINT set the stop flag instead of killing the process (restored afterwards).

    Python runs signal handlers in the main thread only, so elsewhere (a thread running train())
    only the ``stop`` argument can stop the run.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    interrupt_preparation = _is_entrypoint()

    def handler(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        flag.set(name)
        if signum == signal.SIGINT:  # a second Ctrl-C interrupts at once
            signal.signal(signal.SIGINT, previous[signal.SIGINT])
        if flag.preparing and interrupt_preparation:
            # Nothing is trained yet, and importing torch alone takes 15-25 s on a busy 2-core machine:
            # waiting for the next check would eat most of the grace period. Raised here, wherever the
            # main thread is; train() records the stop. Only in a `python -m core train` process, which
            # exits right after: a half-finished import must not outlive it in a host process (a test).
            writer.log(f"{name} received before training started: stopping now.")
            raise _CancelledBeforeTraining(f"{name} while preparing the run")
        writer.log(f"{name} received: stopping at the next step, then saving.")

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# -- Trainer callbacks ----------------------------------------------------------------------------------


def _callbacks(
    writer: _RunWriter, flag: _StopFlag, *, samples_per_step: int, logging_steps: int, n_train: int
) -> list[Any]:
    from transformers import TrainerCallback

    class RunLogger(TrainerCallback):
        """metrics.jsonl + train.log: train loss/lr at logging steps, each evaluation, and progress."""

        def __init__(self) -> None:
            self.t0 = time.time()
            self.step0 = 0
            self.last_progress = 0.0
            self.best: tuple[float, int] | None = None
            self.train_samples_per_s: float | None = None
            self.evaluations = 0

        def _rate(self, step: int) -> float | None:
            elapsed = time.time() - self.t0
            return round((step - self.step0) * samples_per_step / elapsed, 2) if elapsed > 0 else None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.t0, self.step0 = time.time(), state.global_step
            writer.record("progress", step=state.global_step, max_steps=state.max_steps, epoch=0.0)
            writer.log(f"training: {state.max_steps} steps over {state.num_train_epochs} epoch(s)")

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # Rows actually trained on (epochs done x train rows) per second of the training loop,
            # evaluations included. The Trainer's own figure assumes every planned step ran, which
            # overstates it for a cancelled or early-stopped run.
            elapsed = time.time() - self.t0
            if elapsed > 0 and state.epoch:
                self.train_samples_per_s = round(float(state.epoch) * n_train / elapsed, 2)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            now = time.time()
            step = state.global_step
            if step % logging_steps == 0 or now - self.last_progress >= 5 or step >= state.max_steps:
                self.last_progress = now
                writer.record(
                    "progress",
                    step=step,
                    max_steps=state.max_steps,
                    epoch=state.epoch,
                    samples_per_s=self._rate(step),
                )

        def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None, **_: Any) -> None:
            logs = dict(logs or {})
            base = {"step": state.global_step, "max_steps": state.max_steps, "epoch": state.epoch}
            if "train_runtime" in logs:
                pass  # the Trainer's own end-of-training summary; see on_train_end
            elif any(k.startswith("eval_") for k in logs):
                self.evaluations += 1
                f1 = logs.get("eval_micro_f1")
                if f1 is not None and (self.best is None or f1 > self.best[0]):
                    self.best = (float(f1), state.global_step)
                writer.record(
                    "eval",
                    **base,
                    eval_micro_f1=f1,
                    eval_auprc=logs.get("eval_auprc"),
                    eval_loss=logs.get("eval_loss"),
                )
                writer.log(
                    f"eval step {state.global_step} epoch {state.epoch:.2f}: micro-F1 {f1:.2f}"
                    f" AUPRC {logs.get('eval_auprc', float('nan')):.2f} loss {logs.get('eval_loss', float('nan')):.4f}"
                )
            elif "loss" in logs:
                writer.record(
                    "train",
                    **base,
                    loss=logs.get("loss"),
                    lr=logs.get("learning_rate"),
                    grad_norm=logs.get("grad_norm"),
                    samples_per_s=self._rate(state.global_step),
                )
                writer.log(
                    f"step {state.global_step}/{state.max_steps} epoch {state.epoch:.2f}: "
                    f"loss {logs['loss']:.4f} lr {logs.get('learning_rate', 0):.3g}"
                )

    class StopOnSignal(TrainerCallback):
        """Ends training at the next step once the stop flag is up (SIGTERM, SIGINT or ``stop``).

        Registered after the Trainer's DefaultFlowCallback, so it has the last word on ``control``.
        """

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if flag.is_set():
                control.should_training_stop = True
                # Our own checkpoint/ is written after train() returns: no Trainer save needed here.
                control.should_save = False
                control.should_evaluate = False

        on_step_begin = on_step_end
        # Leaving the epoch early still runs on_epoch_end, where DefaultFlowCallback asks for an evaluation
        # and a save with per-epoch evaluation: a whole pass over the dev set after the cancel (10 s for
        # 3,247 dev rows of the tiny model on 2 cores, far more for a large model). Cleared here too.
        on_epoch_end = on_step_end

        def on_prediction_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # The evaluation loop has no stop flag of its own: leave it from inside (caught in _train).
            if flag.is_set():
                raise _EvaluationStopped

    return [RunLogger(), StopOnSignal()]


# -- the run --------------------------------------------------------------------------------------------


def default_run_dir(config: TrainConfig) -> Path:
    """``WORKSPACE/runs/<UTC time>-<model>-<input format>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    model = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(config.model).name or "model")
    return _workspace_root(config) / "runs" / f"{stamp}-{model}-{config.input_format}"


def _precision(cfg: TrainConfig) -> tuple[bool, bool, str]:
    """(fp16, bf16, device) for this machine; explicit fp16 without a CUDA GPU is refused."""
    import torch

    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name(0) if cuda else "cpu"
    if cfg.fp16 == "true" and not cuda:
        raise ConfigError("fp16 needs a CUDA GPU and this machine has none; set fp16 to auto or false.")
    bf16 = cfg.bf16 == "true" or (cfg.bf16 == "auto" and cuda and torch.cuda.is_bf16_supported())
    fp16 = not bf16 and (cfg.fp16 == "true" or (cfg.fp16 == "auto" and cuda))
    return fp16, bf16, device


def submission_labels(schema_name: str, labels: Sequence[str]) -> tuple[str, ...]:
    """The label order of the ``probs`` lists in a run's prediction files: the schema's baseline order
    when the dataset holds the same labels (submission format), else the dataset's own order."""
    base = SCHEMAS[schema_name].labels if schema_name in SCHEMAS else tuple(labels)
    return tuple(base) if set(base) == set(labels) else tuple(labels)


def _submission_order(data: TrainingData) -> tuple[str, ...]:
    return submission_labels(data.schema_name, data.labels)


def _write_predictions(path: Path, ids: Sequence[str], probs: np.ndarray, data: TrainingData) -> None:
    from core.train.metrics import write_submission

    order = _submission_order(data)
    columns = [data.labels.index(name) for name in order]
    write_submission(path, list(ids), probs[:, columns], label_names=order)


def _scores(frame: pd.DataFrame, probs: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    from core.train.metrics import auprc, micro_f1

    index = {name: i for i, name in enumerate(labels)}
    gold = frame["label"].astype(str).map(index).to_numpy(dtype=np.int64)
    no_rel = index.get(NO_RELATION, -1)
    return {
        "micro_f1": micro_f1(gold, probs.argmax(axis=1), no_relation=no_rel),
        "auprc": auprc(gold, probs),
        "n": len(frame),
    }


#: Files a run writes that must not survive from an earlier attempt in the same folder.
_RUN_OUTPUTS = ("summary.json", "dev_predictions.csv", "test_predictions.csv", "oof_predictions.csv", "fold_ids.json")


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
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    cfg = validate(config)
    budget = cancel_budget_s()
    run = Path(run_dir).resolve()
    run.mkdir(parents=True, exist_ok=True)
    for stale in _RUN_OUTPUTS:  # from an earlier attempt in the same folder
        (run / stale).unlink(missing_ok=True)
    _write_json(run / "config.json", cfg.to_dict())
    writer = _RunWriter(run, started, echo=echo)
    flag = _StopFlag(stop, budget_s=budget)
    writer.log(f"run folder {run}; config: {json.dumps(cfg.to_dict(), ensure_ascii=False)}")
    summary: dict[str, Any] = {"status": "running", "started_at": started_at, "run_dir": str(run)}
    try:
        with _signals_stop(flag, writer), _library_warnings_to(run / "train.log"):
            summary.update(_train(cfg, run, writer, flag))
    except _CancelledBeforeTraining as early:
        # Nothing trained yet: no checkpoint and no predictions to make, only the record of the stop.
        summary.update(
            status="cancelled",
            stop_reason=flag.reason,
            steps=0,
            dev=None,
            checkpoint=None,
            predictions=[],
            pending_predictions=[],
            note=f"stopped before training started ({early.stage}): nothing to save",
            wall_s=writer.wall(),
            finished_at=_now(),
        )
        _write_json(run / "summary.json", summary)
        writer.log(f"cancelled before training started ({early.stage}): nothing to save")
        writer.record("end", status="cancelled")
    except BaseException as exc:
        summary.update(status="failed", error=f"{type(exc).__name__}: {exc}", wall_s=writer.wall(), finished_at=_now())
        _write_json(run / "summary.json", summary)
        writer.log(f"FAILED: {type(exc).__name__}: {exc}")
        writer.record("end", status="failed")
        raise
    finally:
        shutil.rmtree(run / "_trainer", ignore_errors=True)
        writer.close()
    return summary


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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


def _train(cfg: TrainConfig, run: Path, writer: _RunWriter, flag: _StopFlag) -> dict[str, Any]:
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

    # Before the first step a stop ends the run at once (flag.check): importing torch, building the tiny
    # backbone and encoding 29k rows take tens of seconds together, and nothing before step 1 is worth saving.
    flag.check("importing the libraries")

    # 1. Machine and seed. -------------------------------------------------------------------------------
    if cfg.cpu_threads:
        torch.set_num_threads(cfg.cpu_threads)
    fp16, bf16, device = _precision(cfg)
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
        _write_json(
            run / "fold_ids.json",
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
    n_params = sum(p.numel() for p in model.parameters())
    writer.log(f"model {cfg.model}: {n_params / 1e6:.2f}M parameters, {added} marker tokens added")

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
        output_dir=str(run / "_trainer"),  # the Trainer's own checkpoints; removed at the end
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
        report_to="none",
        disable_tqdm=True,
    )
    callbacks = _callbacks(
        writer,
        flag,
        samples_per_step=cfg.batch_size * cfg.grad_accum,
        logging_steps=cfg.logging_steps,
        n_train=len(data.train),
    )
    if cfg.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_enc.features(train_y),
        eval_dataset=dev_enc.features(dev_y),
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if (fp16 or bf16) else None),
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
        callbacks=callbacks,
    )
    # The Trainer's PrinterCallback would print every log dict on stdout; train.log (and, from the
    # CLI, stdout) already get them as readable lines.
    trainer.remove_callback(PrinterCallback)
    run_logger = callbacks[0]

    # 6. Train (the best checkpoint by dev micro-F1 is loaded back at the end). -------------------------
    flag.check("starting training", poll=True)
    flag.preparing = False
    t_train = time.time()
    try:
        trainer.train()
    except _EvaluationStopped:
        # A stop during an evaluation ends it at once; the Trainer's end (loading the best checkpoint so
        # far) did not run, so do it here, as a stop between steps would have.
        writer.log("evaluation interrupted by the stop request")
        if args.load_best_model_at_end and trainer.state.best_model_checkpoint is not None:
            trainer._load_best_model()
        run_logger.on_train_end(args, trainer.state, trainer.control)  # the training rate, as at a normal end
    train_wall = time.time() - t_train
    status = "cancelled" if flag.is_set() else "succeeded"
    model = trainer.model
    step = int(trainer.state.global_step)
    best_step = run_logger.best[1] if run_logger.best is not None else step
    writer.log(f"training {status} at step {step} after {train_wall:.1f} s; best step {best_step}")

    # 7. Save the model, then the summary, then predictions (most important first if killed). -----------
    # A cancelled run predicts only until its budget is spent (the job's grace period minus a margin);
    # what is left is listed in pending_predictions for complete_predictions (`python -m core predict`).
    re_model.save_checkpoint(model, tokenizer, run / "checkpoint")
    parts = [_PredictionPart(PREDICTION_FILES["dev"], data.dev, "dev", encoded=dev_enc)]
    if data.holdout is not None:  # the held-out fold, for cross-validation (core.train.crossval stitches them)
        parts.append(_PredictionPart(PREDICTION_FILES["oof"], data.holdout, "holdout"))
    if data.test is not None:
        has_gold = bool(data.test["label"].notna().all())  # the demo's test part carries gold labels
        parts.append(_PredictionPart(PREDICTION_FILES["test"], data.test, "test" if has_gold else None))
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
        "dataset": data.dataset_name,
        "dataset_id": data.dataset_id,
        "dataset_revision": data.revision,
        "split": cfg.split,
        "split_revision": data.split_revision,
        "labels": list(labels),
        "device": device,
        "precision": "bf16" if bf16 else "fp16" if fp16 else "fp32",
        "parameters": n_params,
        "checkpoint": "checkpoint",
        "predictions": [],
        "pending_predictions": [part.file for part in parts],
        "finished_at": _now(),
    }
    _write_json(run / "summary.json", summary)
    with _predictions_lock(run, wait=False):
        _predict_parts(
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
    summary["finished_at"] = _now()
    _write_json(run / "summary.json", summary)
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
            f"{_describe_files(summary['pending_predictions'])} left for later (the cancel's time budget of "
            f"{flag.budget_s:g} s is spent): run `python -m core predict {run}`"
        )
    scores = (
        f"dev micro-F1 {dev_scores['micro_f1']:.2f}, AUPRC {dev_scores['auprc']:.2f} (n={dev_scores['n']})"
        if dev_scores is not None
        else "no dev scores yet"
    )
    writer.log(f"{status}: {scores}; wall {summary['wall_s']:.1f} s")
    return summary


@dataclass
class _PredictionPart:
    """One prediction file to write: its rows, the summary key its scores go under (None: no gold labels
    to score against) and, when the caller already has it, the rows' encoding."""

    file: str
    frame: pd.DataFrame
    score_key: str | None
    encoded: Any = None


def _describe_files(files: Sequence[str]) -> str:
    """``dev_predictions.csv`` -> "dev predictions"; several joined with "and"."""
    names = [name.removesuffix(".csv").replace("_", " ") for name in files]
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def _predict_parts(
    run: Path,
    summary: dict[str, Any],
    parts: Sequence[_PredictionPart],
    *,
    model: Any,
    tokenizer: Any,
    data: TrainingData,
    batch_size: int,
    remaining: Callable[[], float | None],
    log: Callable[[str], None],
) -> list[str]:
    """Predict ``parts`` in order; after each, write its file, then ``summary.json`` (atomically) with
    the part moved from ``pending_predictions`` to ``predictions`` and its scores added.

    ``remaining()`` gives the seconds left (None: no limit). A part is not started when the time is up,
    or when the rate of the parts done so far says it cannot finish in time; one that runs out of time is
    abandoned between batches. The parts not done stay pending. Returns the files written.
    """
    from core.train import model as re_model
    from core.train.encoding import encode

    meta = model.meta
    last_poll = [time.monotonic()]

    def should_stop() -> bool:
        # Polled after each batch: stop when what is left would not hold one more batch as long as the
        # last one (a batch of a large model on a CPU can take seconds).
        now = time.monotonic()
        batch_s, last_poll[0] = now - last_poll[0], now
        left = remaining()
        return left is not None and left <= batch_s

    written: list[str] = []
    rows_done, seconds = 0, 0.0
    for part in parts:
        left = remaining()
        if left is not None:
            if left <= 0:
                break
            if rows_done and seconds > 0:
                estimate = len(part.frame) * seconds / rows_done
                if estimate > left:
                    log(f"{part.file}: about {estimate:.0f} s of prediction, but {max(left, 0):.0f} s are left")
                    break
        t0 = last_poll[0] = time.monotonic()
        enc = part.encoded
        if enc is None:
            enc = encode(
                part.frame,
                tokenizer,
                input_format=meta["input_format"],
                max_length=int(meta["max_length"]),
                type_language=meta.get("type_language", "en"),
            )
            _count_shortened(summary, part.score_key or part.file.split("_")[0], enc, log)
        try:
            probs = re_model.predict_proba(
                model, tokenizer, part.frame, meta=meta, batch_size=batch_size, encoded=enc, should_stop=should_stop
            )
        except re_model.PredictionStopped as stopped:
            log(f"{part.file}: stopped after {stopped.done} of {stopped.total} rows, out of time")
            break
        seconds += time.monotonic() - t0
        rows_done += len(part.frame)
        _write_predictions(run / part.file, part.frame["id"].astype(str).tolist(), probs, data)
        if part.score_key is not None:
            summary[part.score_key] = _scores(part.frame, probs, data.labels)
        summary["predictions"] = [*summary.get("predictions", []), part.file]
        summary["pending_predictions"] = [f for f in summary.get("pending_predictions", []) if f != part.file]
        _write_json(run / "summary.json", summary)
        written.append(part.file)
    return written


def _count_shortened(summary: dict[str, Any], part: str, enc: Any, log: Callable[[str], None]) -> None:
    """Record a part's windowed and entity-truncated rows in the summary (and the log)."""
    if enc.windowed_ids or enc.truncated_ids:
        log(
            f"{part}: {len(enc.windowed_ids)} rows shortened around their entities; "
            f"{len(enc.truncated_ids)} rows cut through an entity (ids {enc.truncated_ids[:10]})"
        )
    truncated = summary.setdefault("truncated_entity_rows_by_part", {})
    truncated[part] = len(enc.truncated_ids)
    summary.setdefault("windowed_rows_by_part", {})[part] = len(enc.windowed_ids)
    summary["truncated_entity_rows"] = int(sum(truncated.values()))


@contextlib.contextmanager
def _predictions_lock(run: Path, *, wait: bool) -> Iterator[bool]:
    """An advisory lock on the run's predictions (``RUN_DIR/.predictions.lock``): the trainer's own
    prediction phase and :func:`complete_predictions` must not both rewrite ``summary.json``.

    Yields whether the lock is held. With ``wait=False`` a lock held elsewhere is not waited for: the
    trainer goes on (it owns its run), :func:`complete_predictions` refuses.
    """
    import fcntl

    with open(run / ".predictions.lock", "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class PredictionError(ValueError):
    """:func:`complete_predictions` cannot make a run's pending predictions; the message says why."""


def complete_predictions(run_dir: str | os.PathLike[str], *, echo: bool = False) -> list[str]:
    """Write the prediction files a run left for later (``summary.json``'s ``pending_predictions``).

    A cancelled run predicts only what fits in its cancel budget. This loads its checkpoint and config,
    predicts the rest (dev, then the held-out fold, then test, each on the rows the run used: the
    split's dev ids, ``fold_ids.json``'s held-out ids, the test part), and after each file updates
    ``summary.json`` atomically, as the trainer would have. Returns the files written (``[]`` when
    nothing was pending). ``echo`` prints the log lines (the CLI); they go to ``train.log`` too.

    Raises :class:`PredictionError` when the run has no summary or checkpoint, another process is
    completing it, or its split was remade since (its dev rows are gone).
    """
    import torch

    from core.store.runs import pending_predictions
    from core.train import model as re_model

    run = Path(run_dir).resolve()
    summary = _read_json_file(run / "summary.json")
    if summary is None:
        raise PredictionError(f"{run}: no summary.json (not a run folder, or the run has not finished).")
    if not pending_predictions(run):
        return []
    with _predictions_lock(run, wait=False) as held:
        if not held:
            raise PredictionError(f"{run}: another process is making this run's predictions right now.")
        summary = _read_json_file(run / "summary.json") or summary  # as the last holder left it
        # Also a run from before pending_predictions existed, killed while predicting: its missing files.
        pending = pending_predictions(run)
        summary["pending_predictions"] = list(pending)
        summary.setdefault("predictions", [])
        unknown = sorted(set(pending) - set(PREDICTION_FILES.values()))
        if unknown:
            raise PredictionError(f"{run}: unknown pending prediction file(s) {unknown}.")
        if not pending:
            return []
        if not (run / "checkpoint" / re_model.HEAD_FILE).exists():
            raise PredictionError(f"{run}: no saved checkpoint to predict with.")
        config = _read_json_file(run / "config.json")
        if config is None:
            raise PredictionError(f"{run}: no config.json.")
        cfg = _resolve(config)

        log_file = open(run / "train.log", "a", encoding="utf-8")  # noqa: SIM115

        def log(message: str) -> None:
            line = f"{datetime.now().strftime('%Y-%m-%d %H:%M:%S')} {message}"
            log_file.write(line + "\n")
            log_file.flush()
            if echo:
                print(line, flush=True)

        try:
            # The split's train rows whole (folds off): the held-out fold is taken by id from fold_ids.json,
            # exactly the rows the run held out, whatever the data looks like now.
            data = load_data(dataclasses.replace(cfg, folds=0))
            if summary.get("split_revision") is not None and data.split_revision != summary["split_revision"]:
                raise PredictionError(
                    f"{run}: split {cfg.split!r} was remade after this run (revision {summary['split_revision']}, "
                    f"now {data.split_revision}): its dev rows are gone. Train again."
                )
            device = "cuda" if torch.cuda.is_available() else "cpu"
            model, tokenizer, meta = re_model.load_run_model(run, device=device)
            if set(meta["labels"]) != set(data.labels):
                raise PredictionError(f"{run}: the checkpoint's labels differ from dataset {data.dataset_name!r}.")
            data = dataclasses.replace(data, labels=tuple(meta["labels"]))  # probability columns: model order
            if summary.get("dataset_revision") is not None and data.revision != summary["dataset_revision"]:
                log(
                    f"dataset {data.dataset_name!r} is at revision {data.revision} now; the run trained on revision "
                    f"{summary['dataset_revision']}: predicting the current rows"
                )
                summary["predictions_revision"] = data.revision
            parts = []
            for name in pending:
                if name == PREDICTION_FILES["dev"]:
                    parts.append(_PredictionPart(name, data.dev, "dev"))
                elif name == PREDICTION_FILES["oof"]:
                    parts.append(_PredictionPart(name, _holdout_rows(run, data.train), "holdout"))
                elif data.test is not None:
                    has_gold = bool(data.test["label"].notna().all())
                    parts.append(_PredictionPart(name, data.test, "test" if has_gold else None))
            log(f"making the predictions left for later: {', '.join(pending)}")
            written = _predict_parts(
                run,
                summary,
                parts,
                model=model,
                tokenizer=tokenizer,
                data=data,
                batch_size=int(cfg.eval_batch_size),
                remaining=lambda: None,
                log=log,
            )
            summary["predictions_completed_at"] = _now()
            _write_json(run / "summary.json", summary)
            dev = summary.get("dev")
            done = f"wrote {', '.join(written)}" if written else "nothing written"
            log(done + (f"; dev micro-F1 {dev['micro_f1']:.2f}, AUPRC {dev['auprc']:.2f}" if dev else ""))
        finally:
            log_file.close()
    return written


def _holdout_rows(run: Path, train_rows: pd.DataFrame) -> pd.DataFrame:
    folds = _read_json_file(run / "fold_ids.json")
    if folds is None or "holdout_ids" not in folds:
        raise PredictionError(f"{run}: oof_predictions.csv is pending but fold_ids.json is missing.")
    wanted = [str(i) for i in folds["holdout_ids"]]
    by_id = train_rows.assign(_key=train_rows["id"].astype(str)).set_index("_key", drop=True)
    missing = [i for i in wanted if i not in by_id.index]
    if missing:
        raise PredictionError(
            f"{run}: {len(missing)} held-out row(s) are no longer in the split's train rows (first id {missing[0]})."
        )
    return by_id.loc[wanted].reset_index(drop=True)


def _read_json_file(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# -- command line -----------------------------------------------------------------------------------------


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``train`` on an argparse subparsers object (``core.cli`` calls this)."""
    parser = subparsers.add_parser(
        "train",
        help="fine-tune a relation classifier on a workspace dataset and write a run folder",
        description="Fine-tune a relation classifier on a workspace dataset and write a run folder.",
        epilog="options (in CONFIG or with --set key=value):\n" + config_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_arguments(parser)
    parser.set_defaults(func=cli_train)
    return parser


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", default=None, help="YAML or JSON file of options (omit: all defaults)")
    parser.add_argument("--run-dir", default=None, help="run folder (default: WORKSPACE/runs/<time>-<model>-<format>)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one option (repeatable); VALUE is read as YAML",
    )
    parser.add_argument("--check", action="store_true", help="validate and print the resolved config; do not train")


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
    this module's CLI is the program (``python -m core`` / ``python -m core.train.training``), never in a
    process that merely called :func:`cli_train` (a test, the app).
    """
    if _is_entrypoint():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _is_entrypoint() -> bool:
    """This process is ``python -m core ...`` or ``python -m core.train.training`` (not a test or the app)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", None) in ("core.__main__", "core.train.training")


def predict_main(argv: Sequence[str] | None = None) -> int:
    """``python -m core predict RUN_DIR [RUN_DIR ...]``: :func:`complete_predictions` for each run.

    Exits 0 when every run's pending predictions are written (or none were pending), 2 with a one-line
    message when a run cannot be completed.
    """
    parser = argparse.ArgumentParser(
        prog="python -m core predict",
        description="Make the prediction files a cancelled run left for later (summary.json's "
        "pending_predictions) from its saved checkpoint, and update its summary.",
    )
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folder (WORKSPACE/runs/...)")
    args = parser.parse_args(argv)
    for run_dir in args.run_dirs:
        try:
            written = complete_predictions(run_dir, echo=True)
        except (ConfigError, DataError, PredictionError, FileNotFoundError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{run_dir}: " + (f"wrote {', '.join(written)}" if written else "no predictions were pending"))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m core.train.training CONFIG [--run-dir DIR] [--set key=value ...]`` (the ``train`` arguments)."""
    parser = argparse.ArgumentParser(
        prog="python -m core train",
        description="Fine-tune a relation classifier on a workspace dataset and write a run folder.",
        epilog="options (in CONFIG or with --set key=value):\n" + config_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return cli_train(args)
    except (ConfigError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
