"""Run folders: :class:`RunDir`, the names of the files in one, and the readers of metrics, summary, config, logs.

The trainer (:mod:`core.train.training`, :mod:`core.train.run_writer`, :mod:`core.train.predict`), the job
backends (:mod:`core.jobs`), cross-validation, the ensemble and Explain all name a run's files through
:class:`RunDir`, so a change in the run-folder layout has one place to go. A run folder holds::

    config.json            RunDir.config            the resolved training config
    metrics.jsonl          RunDir.metrics           one JSON record per line, appended as training goes
    train.log              RunDir.train_log         the trainer's human-readable log
    summary.json           RunDir.summary           status, scores, the prediction files written and pending
    checkpoint/            RunDir.checkpoint        the best model (its head: RunDir.checkpoint_head)
    re_head.json           RunDir.checkpoint_head   in checkpoint/: the head, its labels and input format
    dev_predictions.csv    RunDir.dev_predictions   submission format, the schema's baseline label order
    oof_predictions.csv    RunDir.oof_predictions   with folds: the held-out fold's predictions
    test_predictions.csv   RunDir.test_predictions  the dataset's test part, when it has one
    fold_ids.json          RunDir.fold_ids          with folds: the train ids and the held-out ids
    dynamics.npz           RunDir.dynamics          training dynamics: each train row's gold probability and
                                                    argmax at every evaluation (core.train.dynamics)
    .predictions.lock      RunDir.predictions_lock  the lock of whoever writes the predictions
    _trainer/              RunDir.trainer_dir       the Trainer's own checkpoints while it trains
    job_config.json        RunDir.job_config        a job's config, as submitted
    job.log                RunDir.job_log           a job's stdout and stderr
    job_exit.json          RunDir.job_exit          a job's exit status, written by its wrapper

A run's label order is no file of its own: ``summary.json`` (``labels``) and ``re_head.json`` hold it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas and numpy load lazily: the job wrapper and jobs' progress() import this module
    import numpy as np
    import pandas as pd

METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.json"
TRAIN_LOG_FILE = "train.log"
CHECKPOINT_DIR = "checkpoint"
HEAD_FILE = "re_head.json"
#: In the checkpoint, next to HEAD_FILE: the type-restriction table of a ``restrict_types`` run.
RESTRICTION_FILE = "restriction.json"
FOLD_IDS_FILE = "fold_ids.json"
DYNAMICS_FILE = "dynamics.npz"
PREDICTIONS_LOCK_FILE = ".predictions.lock"
TRAINER_DIR = "_trainer"
JOB_CONFIG_FILE = "job_config.json"
JOB_LOG_FILE = "job.log"
JOB_EXIT_FILE = "job_exit.json"
#: The prediction files a run writes, in the order it writes them: dev first (the summary's dev scores),
#: then the held-out fold (cross-validation), then the test part.
PREDICTION_FILES: dict[str, str] = {
    "dev": "dev_predictions.csv",
    "oof": "oof_predictions.csv",
    "test": "test_predictions.csv",
}


@dataclass(frozen=True, init=False)
class RunDir:
    """The files of one run folder, by what they hold: ``RunDir(path).summary`` is its ``summary.json``.

    Only names: nothing is read or created here, and a file need not exist yet.
    """

    path: Path

    def __init__(self, path: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "path", Path(path))

    def file(self, name: str) -> Path:
        """A file of the run by its name (as ``summary.json`` lists prediction files)."""
        return self.path / name

    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def metrics(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def train_log(self) -> Path:
        return self.path / TRAIN_LOG_FILE

    @property
    def summary(self) -> Path:
        return self.path / SUMMARY_FILE

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT_DIR

    @property
    def checkpoint_head(self) -> Path:
        return self.checkpoint / HEAD_FILE

    def predictions(self, part: str) -> Path:
        """The prediction file of ``part``: ``dev``, ``oof`` (the held-out fold) or ``test``."""
        return self.path / PREDICTION_FILES[part]

    @property
    def dev_predictions(self) -> Path:
        return self.predictions("dev")

    @property
    def oof_predictions(self) -> Path:
        return self.predictions("oof")

    @property
    def test_predictions(self) -> Path:
        return self.predictions("test")

    @property
    def fold_ids(self) -> Path:
        return self.path / FOLD_IDS_FILE

    @property
    def dynamics(self) -> Path:
        return self.path / DYNAMICS_FILE

    @property
    def predictions_lock(self) -> Path:
        return self.path / PREDICTIONS_LOCK_FILE

    @property
    def trainer_dir(self) -> Path:
        return self.path / TRAINER_DIR

    @property
    def job_config(self) -> Path:
        return self.path / JOB_CONFIG_FILE

    @property
    def job_log(self) -> Path:
        return self.path / JOB_LOG_FILE

    @property
    def job_exit(self) -> Path:
        return self.path / JOB_EXIT_FILE

    @property
    def attempt_outputs(self) -> tuple[Path, ...]:
        """Files a training attempt writes that must not survive into the next attempt in the same folder."""
        return (
            self.summary,
            self.dev_predictions,
            self.test_predictions,
            self.oof_predictions,
            self.fold_ids,
            self.dynamics,
        )


#: Curves the Train view draws, with their titles.
CURVES: dict[str, str] = {
    "loss": "Training loss",
    "lr": "Learning rate",
    "eval_micro_f1": "Dev micro-F1 (no_relation excluded)",
    "eval_auprc": "Dev AUPRC",
    # Fine-tuning: cross-entropy on the dev rows; TAPT: masked-LM loss on its held-out sentences.
    "eval_loss": "Evaluation loss (dev; held-out sentences for TAPT)",
}


def read_metric_records(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of ``metrics.jsonl`` in order (``[]`` when there is none yet).

    The trainer appends while we read, so the piece after the last newline may be a
    line being written: it is left for the next read. A torn line elsewhere (a killed
    writer) is skipped, and the rest kept.
    """
    try:
        data = RunDir(run_dir).metrics.read_bytes()
    except FileNotFoundError:
        return []
    records = []
    for line in data.split(b"\n")[:-1]:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def read_metrics(run_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """:func:`read_metric_records` as a frame."""
    import pandas as pd

    return pd.DataFrame.from_records(read_metric_records(run_dir))


def read_json(run_dir: str | os.PathLike[str], name: str) -> dict[str, Any] | None:
    try:
        return json.loads(RunDir(run_dir).file(name).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def read_summary(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    return read_json(run_dir, SUMMARY_FILE)


def read_config(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    return read_json(run_dir, CONFIG_FILE)


def pending_predictions(run_dir: str | os.PathLike[str]) -> list[str]:
    """Prediction files a finished run still owes (``summary.json``'s ``pending_predictions``).

    A cancelled run predicts only what fits in the cancel's grace period and lists the rest there;
    ``python -m core predict RUN_DIR`` (or :func:`core.jobs.submit_predictions`) makes them later.
    A summary written before that key existed (a run SIGKILLed while predicting, as cancelled runs were)
    owes the prediction files that are missing, when it has a saved checkpoint to make them with.
    ``[]`` for a run without a summary.
    """
    summary = read_summary(run_dir)
    if not isinstance(summary, dict):
        return []
    pending = summary.get("pending_predictions")
    if isinstance(pending, list):
        return [str(name) for name in pending]
    run = RunDir(run_dir)
    if summary.get("status") not in ("cancelled", "succeeded") or not run.checkpoint_head.is_file():
        return []
    expected = [PREDICTION_FILES["dev"]]
    if run.fold_ids.is_file():
        expected.append(PREDICTION_FILES["oof"])
    if summary.get("n_test"):
        expected.append(PREDICTION_FILES["test"])
    return [name for name in expected if not run.file(name).is_file()]


def log_tail(path: str | os.PathLike[str], *, lines: int = 40, max_bytes: int = 256 * 1024) -> str:
    """The last ``lines`` lines of a (possibly large, growing) log file."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode("utf-8", errors="replace").splitlines()[-lines:]) if lines > 0 else ""


def smooth(values: np.ndarray, *, weight: float) -> np.ndarray:
    """Exponential moving average with TensorBoard's debiasing (the first points are not pulled to 0).

    ``weight`` in [0, 1): 0 returns the values unchanged. NaNs are skipped and kept as NaN.
    """
    import numpy as np

    values = np.asarray(values, dtype=float)
    if weight <= 0 or len(values) == 0:
        return values.copy()
    out = np.full_like(values, np.nan)
    last, count = 0.0, 0
    for i, v in enumerate(values):
        if np.isnan(v):
            continue
        last = last * weight + (1 - weight) * v
        count += 1
        out[i] = last / (1 - weight**count)
    return out


def curves(runs: Mapping[str, str | os.PathLike[str]], *, x: str = "step") -> pd.DataFrame:
    """Long frame (run, metric, x, value) of every curve in :data:`CURVES` for the given runs.

    ``x`` is ``step``, ``epoch`` or ``wall_s``.
    """
    import pandas as pd

    parts = []
    for name, run_dir in runs.items():
        metrics = read_metrics(run_dir)
        if "kind" in metrics:
            # The "end" record repeats the score of the best checkpoint reloaded at the end: a point that
            # was never on the trajectory, drawn as a jump at the last step.
            metrics = metrics[metrics["kind"] != "end"]
        if metrics.empty or x not in metrics:
            continue
        for metric in CURVES:
            if metric not in metrics:
                continue
            points = metrics[[x, metric]].dropna()
            if points.empty:
                continue
            parts.append(
                pd.DataFrame(
                    {"run": name, "metric": metric, "x": points[x].to_numpy(), "value": points[metric].to_numpy()}
                )
            )
    if not parts:
        return pd.DataFrame(columns=["run", "metric", "x", "value"])
    return pd.concat(parts, ignore_index=True)


def config_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> pd.DataFrame:
    """The options whose values differ between two resolved configs (option, a, b)."""
    import pandas as pd

    keys = sorted(set(a) | set(b))
    # JSON text so lists, None and numbers display alike (and None does not turn into NaN).
    rows = [
        (k, json.dumps(a.get(k), ensure_ascii=False), json.dumps(b.get(k), ensure_ascii=False))
        for k in keys
        if a.get(k) != b.get(k)
    ]
    return pd.DataFrame(rows, columns=["option", "a", "b"])
