"""SQLite connections shared by the workspace store and the job store.

Both stores live in one SQLite file each, read and written by several processes at once (Streamlit
sessions, the job watcher, training wrappers, the CLI). WAL mode lets readers run while one process
writes; the busy timeout makes a writer wait for the lock instead of failing; ``BEGIN IMMEDIATE`` takes
the write lock before the first read, so a read-check-write (a row's version check, a queued job's
claim) cannot interleave with another process's.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator

__all__ = ["connect", "transaction"]

#: How long (seconds) a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_S = 30


@contextlib.contextmanager
def connect(db_path: str | os.PathLike[str]) -> Iterator[sqlite3.Connection]:
    """An autocommit connection in WAL mode with foreign keys on and rows readable by column name."""
    con = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        con.execute("PRAGMA foreign_keys=ON")
        con.row_factory = sqlite3.Row
        yield con
    finally:
        con.close()


@contextlib.contextmanager
def transaction(db_path: str | os.PathLike[str]) -> Iterator[sqlite3.Connection]:
    """A ``BEGIN IMMEDIATE`` transaction: committed when the block ends, rolled back if it raises."""
    with connect(db_path) as con:
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
