"""A run's prediction files and their scores, written by the trainer or completed later.

A run writes ``dev_predictions.csv``, then ``oof_predictions.csv`` (the held-out fold, with ``folds``),
then ``test_predictions.csv``, in the submission format with the schema's baseline label order
(:func:`submission_labels`), each followed by ``summary.json`` with the file and its scores.
:func:`predict_parts` does this within the time a cancelled run has left; the files that do not fit stay
in ``pending_predictions``, and :func:`complete_predictions` (``python -m core predict RUN_DIR``, or a
``predict`` job) makes them later from the saved checkpoint, on the rows the run used. It is separate
from the training loop because both the trainer and a later predict job write these files, under one
lock (:func:`predictions_lock`) on the run's predictions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.common.errors import RestudioError
from core.common.schema import NO_RELATION, SCHEMAS
from core.store.runs import PREDICTION_FILES, RunDir
from core.train.config import resolve
from core.train.dataset import TrainingData, load_data
from core.train.run_writer import now, write_json

__all__ = [
    "PREDICTION_FILES",
    "PredictionError",
    "PredictionPart",
    "complete_predictions",
    "describe_files",
    "predict_parts",
    "predictions_lock",
    "submission_labels",
]


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


@dataclass
class PredictionPart:
    """One prediction file to write: its rows, the summary key its scores go under (None: no gold labels
    to score against) and, when the caller already has it, the rows' encoding."""

    file: str
    frame: pd.DataFrame
    score_key: str | None
    encoded: Any = None


def describe_files(files: Sequence[str]) -> str:
    """``dev_predictions.csv`` -> "dev predictions"; several joined with "and"."""
    names = [name.removesuffix(".csv").replace("_", " ") for name in files]
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def predict_parts(
    run: Path,
    summary: dict[str, Any],
    parts: Sequence[PredictionPart],
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
        _write_predictions(RunDir(run).file(part.file), part.frame["id"].astype(str).tolist(), probs, data)
        if part.score_key is not None:
            summary[part.score_key] = _scores(part.frame, probs, data.labels)
        summary["predictions"] = [*summary.get("predictions", []), part.file]
        summary["pending_predictions"] = [f for f in summary.get("pending_predictions", []) if f != part.file]
        write_json(RunDir(run).summary, summary)
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
def predictions_lock(run: Path, *, wait: bool) -> Iterator[bool]:
    """An advisory lock on the run's predictions (``RUN_DIR/.predictions.lock``): the trainer's own
    prediction phase and :func:`complete_predictions` must not both rewrite ``summary.json``.

    Yields whether the lock is held. With ``wait=False`` a lock held elsewhere is not waited for: the
    trainer goes on (it owns its run), :func:`complete_predictions` refuses.
    """
    import fcntl

    with open(RunDir(run).predictions_lock, "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class PredictionError(RestudioError, ValueError):
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
    files = RunDir(run)
    summary = _read_json_file(files.summary)
    if summary is None:
        raise PredictionError(f"{run}: no summary.json (not a run folder, or the run has not finished).")
    if not pending_predictions(run):
        return []
    with predictions_lock(run, wait=False) as held:
        if not held:
            raise PredictionError(f"{run}: another process is making this run's predictions right now.")
        summary = _read_json_file(files.summary) or summary  # as the last holder left it
        # Also a run from before pending_predictions existed, killed while predicting: its missing files.
        pending = pending_predictions(run)
        summary["pending_predictions"] = list(pending)
        summary.setdefault("predictions", [])
        unknown = sorted(set(pending) - set(PREDICTION_FILES.values()))
        if unknown:
            raise PredictionError(f"{run}: unknown pending prediction file(s) {unknown}.")
        if not pending:
            return []
        if not files.checkpoint_head.exists():
            raise PredictionError(f"{run}: no saved checkpoint to predict with.")
        config = _read_json_file(files.config)
        if config is None:
            raise PredictionError(f"{run}: no config.json.")
        cfg = resolve(config)

        log_file = open(files.train_log, "a", encoding="utf-8")  # noqa: SIM115

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
                    parts.append(PredictionPart(name, data.dev, "dev"))
                elif name == PREDICTION_FILES["oof"]:
                    parts.append(PredictionPart(name, _holdout_rows(run, data.train), "holdout"))
                elif data.test is not None:
                    has_gold = bool(data.test["label"].notna().all())
                    parts.append(PredictionPart(name, data.test, "test" if has_gold else None))
            log(f"making the predictions left for later: {', '.join(pending)}")
            written = predict_parts(
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
            summary["predictions_completed_at"] = now()
            write_json(files.summary, summary)
            dev = summary.get("dev")
            done = f"wrote {', '.join(written)}" if written else "nothing written"
            log(done + (f"; dev micro-F1 {dev['micro_f1']:.2f}, AUPRC {dev['auprc']:.2f}" if dev else ""))
        finally:
            log_file.close()
    return written


def _holdout_rows(run: Path, train_rows: pd.DataFrame) -> pd.DataFrame:
    folds = _read_json_file(RunDir(run).fold_ids)
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
