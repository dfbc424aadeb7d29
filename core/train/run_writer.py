"""What a run writes as it goes: ``metrics.jsonl``, ``train.log`` and its JSON files.

:class:`RunWriter` appends one JSON record per line to ``metrics.jsonl`` and one line per message to
``train.log``, flushing each at once, so the Train view and the job's log follow a live run (and a run
killed mid-way keeps everything up to then). :func:`write_json` writes ``config.json`` and
``summary.json`` atomically, and :func:`now` is the UTC time stamp they carry. It is separate so that the
trainer, its callbacks and :func:`core.train.predict.complete_predictions` write the run folder the same
way; the folder's layout is described in :mod:`core.train.training`, its file names in :class:`core.store.runs.RunDir`.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from core.common.atomic import atomic_write_text
from core.store.runs import RunDir

__all__ = ["RunWriter", "now", "write_json"]


class RunWriter:
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
        files = RunDir(run_dir)
        for path in (files.metrics, files.train_log):
            path.write_bytes(b"")
        self._metrics: IO[str] = open(files.metrics, "a", encoding="utf-8")  # noqa: SIM115
        self._log: IO[str] = open(files.train_log, "a", encoding="utf-8")  # noqa: SIM115

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


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    atomic_write_text(path, lambda fh: json.dump(data, fh, ensure_ascii=False, indent=2))


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
