"""Read run folders (written by :mod:`core.train.training`): metrics, summary, config, logs.

The Train view, the jobs' progress and ETA, and the ensemble view all read runs
through here, so a change in the run-folder layout has one place to go.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas and numpy load lazily: the job wrapper and jobs' progress() import this module
    import numpy as np
    import pandas as pd

METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.json"
#: Curves the Train view draws, with their titles.
CURVES: dict[str, str] = {
    "loss": "Training loss",
    "lr": "Learning rate",
    "eval_micro_f1": "Dev micro-F1 (no_relation excluded)",
    "eval_auprc": "Dev AUPRC",
}


def read_metric_records(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of ``metrics.jsonl`` in order (``[]`` when there is none yet).

    The trainer appends while we read, so the piece after the last newline may be a
    line being written: it is left for the next read. A torn line elsewhere (a killed
    writer) is skipped, and the rest kept.
    """
    try:
        data = (Path(run_dir) / METRICS_FILE).read_bytes()
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
        return json.loads((Path(run_dir) / name).read_text(encoding="utf-8"))
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
    run = Path(run_dir)
    if summary.get("status") not in ("cancelled", "succeeded") or not (run / "checkpoint" / "re_head.json").is_file():
        return []
    expected = ["dev_predictions.csv"]
    if (run / "fold_ids.json").is_file():
        expected.append("oof_predictions.csv")
    if summary.get("n_test"):
        expected.append("test_predictions.csv")
    return [name for name in expected if not (run / name).is_file()]


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
