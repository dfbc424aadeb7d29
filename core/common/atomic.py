"""Atomic file writes: a temp file in the target's folder, then ``os.replace``.

Readers (another session, a training job, the browser's download) never see half a file,
and a crash leaves the old file in place.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
READABLE = 0o644


def atomic_write_text(
    path: str | os.PathLike[str], write: Callable[[IO[str]], None], *, read_only: bool = False
) -> None:
    """Stream text (UTF-8, newlines untranslated) into ``path`` through ``write(fh)``."""
    _atomic(Path(path), lambda fd: _with_text(fd, write), read_only)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, read_only: bool = False) -> None:
    """Write ``data`` to ``path``; ``read_only`` makes the result 0444 (imported raw data)."""

    def write(fd: int) -> None:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    _atomic(Path(path), write, read_only)


def _with_text(fd: int, write: Callable[[IO[str]], None]) -> None:
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        write(fh)


def _atomic(path: Path, write: Callable[[int], None], read_only: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        write(fd)
        # mkstemp makes 0600 files; data here is meant to be read by the team (or kept read-only).
        os.chmod(tmp, READ_ONLY if read_only else READABLE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
