"""The training options: what a run is asked to do, and whether it may be asked.

:class:`TrainConfig` holds every option with its default and help text (:func:`config_help` prints them
for ``--help``), :data:`PRESETS` the new-job form's starting points and :data:`LIMITS` the upper bounds a
shared server holds the numeric options to. :func:`load_config` and :func:`parse_overrides` read a YAML or
JSON file and ``--set`` values, :func:`resolve` coerces them to the options' types and :func:`check_values`
lists what is wrong with them, the model included (a local folder must exist, a hub model may be refused
when hub downloads are off, ``max_length`` is held to the model's own limit). It is separate from the
trainer so that the Train form, the CLI's ``--help`` and the job queue can read and check a config without
importing torch or transformers or touching the workspace's rows: nothing here imports either.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.common.config import load_server_config
from core.common.errors import RestudioError
from core.common.settings import HUB_DOWNLOAD_ENV, Settings, resolve_home
from core.train.encoding import INPUT_FORMATS, TYPE_LANGUAGES

__all__ = [
    "HEADS",
    "HUB_DOWNLOAD_ENV",
    "LIMITS",
    "LOSSES",
    "MAX_FOLDS",
    "PRESETS",
    "SCHEDULERS",
    "TRACKERS",
    "ConfigError",
    "TrainConfig",
    "check_model",
    "check_values",
    "config_help",
    "hub_cache_dir",
    "hub_download_refused",
    "hub_downloads_allowed",
    "load_config",
    "model_length_limit",
    "model_problems",
    "parse_overrides",
    "position_limit",
    "resolve",
    "resolve_options",
    "trackers",
    "workspace_root",
]

HEADS: tuple[str, ...] = ("cls", "entity_start")
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
#: Experiment trackers ``report_to`` may name (transformers' integration names); each must be installed.
TRACKERS: tuple[str, ...] = ("tensorboard", "mlflow", "wandb", "trackio")
DEMO_DATASET = "demo (synthetic KLUE-RE)"  # core.data.importing.DEMO_NAME, without importing the loaders here


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


class ConfigError(RestudioError, ValueError):
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
    record_dynamics: bool = _opt(
        True,
        "record each train row's gold-label probability at every evaluation, from the training passes "
        "(dynamics.npz, for the Data view's data map; costs well under 1% of training time)",
    )
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
    augment_entity_swap: bool = _opt(
        False, "add train rows with subject and object swapped for inverse and symmetric relations"
    )
    augment_entity_replace: float = _opt(
        0.0, "probability per train row of an added copy with one entity replaced by a train word of its type (0: off)"
    )
    augment_word_mask: float = _opt(
        0.0, "probability per word of masking train-row words outside both entities (0: off; never entities, markers)"
    )
    restrict_types: bool = _opt(
        False, "mask relations never seen in training with a row's (subject, object) type pair, in loss and prediction"
    )
    report_to: str = _opt("none", f"experiment trackers, comma-separated: none or {', '.join(TRACKERS)} (if installed)")

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


def config_help(cls: type[Any] = TrainConfig) -> str:
    """Every option of ``cls`` with its default and description, one per line (``--help`` shows this)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    width = max(map(len, fields))
    lines = []
    for name, f in fields.items():
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


def _coerce(name: str, value: Any, fields: Mapping[str, dataclasses.Field[Any]] = _FIELDS) -> Any:
    """A value of the option's type, or ConfigError naming the option (YAML and --set give strings)."""
    default = fields[name].default
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
    if name == "report_to":
        return _trackers_text(value)
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


def _trackers_text(value: Any) -> str:
    """``report_to`` as one lower-case comma-separated text (a YAML list is accepted too); "none" when empty."""
    if value is None:
        return "none"
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    names = list(dict.fromkeys(str(item).strip().lower() for item in items if str(item).strip()))
    return ",".join(names) or "none"


def trackers(report_to: str) -> list[str]:
    """The tracker names of a ``report_to`` value (empty for "none")."""
    names = [name for name in _trackers_text(report_to).split(",") if name]
    return [] if names == ["none"] else names


def _tracker_problem(report_to: str) -> str | None:
    """Why ``report_to`` cannot be used here: an unknown name, "none" mixed with others, or a tracker whose
    package is not installed (transformers' own test, so the Trainer would accept what passes here; it
    imports torch, so it runs only when a tracker is named)."""
    names = trackers(report_to)
    if not names:
        return None
    if "none" in names:
        return f"report_to {report_to!r}: none turns every tracker off, so it cannot be combined with others"
    unknown = [name for name in names if name not in TRACKERS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], TRACKERS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"report_to {unknown[0]!r} is not none or one of {', '.join(TRACKERS)}{hint}"
    from transformers.integrations import get_available_reporting_integrations

    available = set(get_available_reporting_integrations())
    missing = [name for name in names if name not in available]
    if missing:
        return f"report_to {', '.join(missing)}: not installed on this machine (pip install {' '.join(missing)})"
    return None


def check_values(cfg: TrainConfig) -> list[str]:
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
    if not 0 <= cfg.augment_entity_replace <= 1:
        problems.append(f"augment_entity_replace must be in [0, 1], got {cfg.augment_entity_replace}")
    if not 0 <= cfg.augment_word_mask < 1:
        problems.append(f"augment_word_mask must be in [0, 1), got {cfg.augment_word_mask}")
    tracker_problem = _tracker_problem(cfg.report_to)
    if tracker_problem:
        problems.append(tracker_problem)
    if cfg.folds == 1 or cfg.folds < 0:
        problems.append(f"folds must be 0 (off) or at least 2, got {cfg.folds}")
    elif cfg.folds and not 0 <= cfg.fold < cfg.folds:
        problems.append(f"fold must be between 0 and {cfg.folds - 1} (folds is {cfg.folds}), got {cfg.fold}")
    problems.extend(model_problems(cfg.model, cfg.max_length))
    return problems


def model_problems(model: str, max_length: int) -> list[str]:
    """What is wrong with a ``model`` and the ``max_length`` asked of it (:func:`check_model`, then the model's
    own longest input when it can be told here): a fine-tune's and a TAPT run's check."""
    problem = check_model(model)
    if problem:
        return [problem]
    limit = model_length_limit(model)
    if limit is not None and max_length > limit:
        return [f"max_length must be at most {limit} for model {model!r} (its longest input)"]
    return []


def hub_downloads_allowed() -> bool:
    """Whether a hub id not in the local cache may be downloaded: ``[models] allow_hub_download`` of the
    server's ``restudio.toml`` (default yes), and not forbidden by ``$RESTUDIO_HUB_DOWNLOAD=0``, which the
    job backends set for the jobs of a server that forbids it. Nothing here can turn downloads on."""
    if not Settings.from_env().hub_download:
        return False
    return load_server_config().allow_hub_download


def hub_download_refused(model: str) -> str:
    """The one message for a hub model that may not be fetched (the form, the CLI and a job say the same)."""
    return f"model {model!r} is not in the local cache and hub downloads are off on this server"


#: Seconds the config check waits for the hub before it calls the hub unreachable. One request, no retries:
#: loading a model with no network retried for about a minute before it failed with the hub library's message.
HUB_PROBE_TIMEOUT_S = 3.0
_TRUE = frozenset({"1", "true", "yes", "on"})


def hub_unavailable(model: str) -> str | None:
    """Why uncached hub model ``model`` cannot be fetched from here, in one line, or None when the hub has it.

    One ``HEAD`` request for its ``config.json`` (at ``$HF_ENDPOINT``, with the token ``huggingface-cli login``
    saved, for private and gated models), :data:`HUB_PROBE_TIMEOUT_S` at most; with ``HF_HUB_OFFLINE=1`` none.
    Written with ``urllib`` (not the hub client) to control exactly that: one try, a short timeout.
    """
    import urllib.error
    import urllib.request

    how = (
        f"download it where the hub is reachable (`huggingface-cli download {model}`) and copy the Hugging Face "
        "cache (HF_HOME) to this machine, or give the model's local folder"
    )
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        return f"model {model!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE=1 is set: {how}"
    from huggingface_hub import get_token, hf_hub_url

    request = urllib.request.Request(hf_hub_url(model, "config.json"), method="HEAD")
    token = get_token()
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    outcome: list[BaseException | None] = []

    def probe() -> None:
        try:
            urllib.request.urlopen(request, timeout=HUB_PROBE_TIMEOUT_S).close()
            outcome.append(None)
        except Exception as exc:  # handed to the caller below
            outcome.append(exc)

    # A thread bounds the name lookup too, which the socket timeout does not cover.
    thread = threading.Thread(target=probe, name="hub-probe", daemon=True)
    thread.start()
    thread.join(HUB_PROBE_TIMEOUT_S + 0.5)
    if not outcome:
        return (
            f"model {model!r} is not in the local Hugging Face cache and the hub did not answer within "
            f"{HUB_PROBE_TIMEOUT_S:g} s: {how}"
        )
    try:
        if outcome[0] is not None:
            raise outcome[0]
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403, 404):
            return (
                f"model {model!r} is not on the hub, or it is private or gated (HTTP {exc.code}): check the id, "
                "or log in with `huggingface-cli login` on this machine"
            )
        return f"model {model!r} is not in the local Hugging Face cache and the hub answered HTTP {exc.code}: {how}"
    except (OSError, ValueError) as exc:  # URLError, timeouts, refused or blocked connections
        reason = getattr(exc, "reason", exc)
        return f"model {model!r} is not in the local Hugging Face cache and the hub cannot be reached ({reason}): {how}"
    return None


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder the environment names now: ``$HF_HUB_CACHE``, else the legacy
    ``$HUGGINGFACE_HUB_CACHE``, else ``$HF_HOME/hub``, else ``$XDG_CACHE_HOME/huggingface/hub``, else
    ``~/.cache/huggingface/hub`` (the hub library's order).

    Read at call time: the hub library reads these variables once, at import, but a job is a new process
    that reads them as they are when it starts, so this is the cache a job queued now will load from.
    """

    def expand(value: str) -> Path:
        return Path(os.path.expandvars(os.path.expanduser(value)))

    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return expand(os.environ[var])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface"
    )
    return expand(home) / "hub"


def _hub_file(model: str, filename: str) -> Path | None:
    """``filename`` of hub model ``model`` in the local Hugging Face cache, without any network.

    Looks in :func:`hub_cache_dir` (what a job started now reads), then in the folder the hub library of
    this process resolved at import (what in-process loaders read); they differ only when the environment
    changed since.
    """
    from huggingface_hub import constants, try_to_load_from_cache

    caches = [hub_cache_dir()]
    if Path(constants.HF_HUB_CACHE) != caches[0]:
        caches.append(Path(constants.HF_HUB_CACHE))
    for cache in caches:
        try:
            found = try_to_load_from_cache(model, filename, cache_dir=cache)
        except ValueError:  # not a valid repo id (HFValidationError)
            return None
        if isinstance(found, str):
            return Path(found)
    return None


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


def check_model(model: str) -> str | None:
    """A local model folder must exist and hold config.json; a hub id must be in the local cache, or
    downloads must be allowed on this server and the hub must answer for it (:func:`hub_unavailable`:
    a few seconds at most, so an offline machine refuses at once instead of failing a job a minute later)."""
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
    if _hub_file(model, "config.json") is not None:
        return None
    if not hub_downloads_allowed():
        return hub_download_refused(model)
    return hub_unavailable(model)


def workspace_root(cfg: TrainConfig) -> Path:
    return resolve_home(cfg.workspace)


def resolve(config: TrainConfig | Mapping[str, Any]) -> TrainConfig:
    return resolve_options(TrainConfig, config, command="train")


def resolve_options(cls: type[Any], config: Any, *, command: str) -> Any:
    """``config`` (a ``cls`` or a mapping) as a ``cls`` dataclass with every value coerced to its option's type
    and the workspace resolved; an unknown option is named with the closest known one (``command``'s
    ``--help`` lists them). Shared by :class:`TrainConfig` and the TAPT options."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    raw = config.to_dict() if isinstance(config, cls) else dict(config)
    unknown = [k for k in raw if k not in fields]
    if unknown:
        parts = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            parts.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(f"Unknown option {', '.join(parts)}. Run `python -m core {command} --help` for the options.")
    values = {name: _coerce(name, value, fields) for name, value in raw.items()}
    cfg = cls(**values)
    return dataclasses.replace(cfg, workspace=str(resolve_home(cfg.workspace)))
