"""Per-session folders for the Ensemble view's uploaded prediction files, and their sweep.

The Ensemble view saves uploaded prediction files in one private folder per session
(:func:`session_upload_dir`) and, on every run, deletes the folders of sessions the server no longer
holds and any untouched for a day (:func:`sweep_upload_folders`, deciding with the pure
:func:`stale_upload_folders`). This is file housekeeping on the server, with nothing to do with scoring,
so it lives apart from :mod:`core.analysis.ensemble`. Messages and recipes name an upload by its own file
name (:attr:`core.analysis.ensemble_members.MemberSet.shown_as`), never by the server path it was saved under.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Collection, Mapping
from pathlib import Path

#: A session upload folder untouched this long is deleted even when its session still seems alive.
UPLOAD_MAX_AGE_S = 24 * 3600
_SESSION_PREFIX = "s-"


def upload_root() -> Path:
    """The parent of the sessions' upload folders: one per server user in the system temp folder
    (the user id keeps two servers on one machine out of each other's uploads)."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"restudio-ensemble-uploads-{uid}"


def session_folder_name(session_id: str) -> str:
    """A session's upload folder name: a digest, so any session id makes one safe path component."""
    return _SESSION_PREFIX + hashlib.sha256(session_id.encode("utf-8")).hexdigest()[:32]


def session_upload_dir(session_id: str, *, root: Path | None = None) -> Path:
    """The session's upload folder (made, private to the server user).

    Raises
    ------
    OSError
        The parent is a link or belongs to another user (a shared ``/tmp`` where someone put it first):
        uploads are not written there.
    """
    root = upload_root() if root is None else root
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = root.lstat()
    if root.is_symlink() or not root.is_dir() or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
        raise OSError(f"the upload folder {root.name} is not a private folder of this server")
    folder = root / session_folder_name(session_id)
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def stale_upload_folders(
    folders: Mapping[str, float],
    active_sessions: Collection[str] | None,
    *,
    now: float,
    max_age_s: float = UPLOAD_MAX_AGE_S,
) -> list[str]:
    """Which session upload folders to delete (sorted names); decides only, deletes nothing.

    Parameters
    ----------
    folders : mapping of str to float
        Folder name (:func:`session_folder_name`) to the last time anything in it changed (epoch s).
    active_sessions : collection of str, or None
        Ids of the sessions the server still holds. A folder of any other session goes: Streamlit has no
        reliable hook for a session's end, so the folders are swept on the next run of any session.
        None when they cannot be known (no Streamlit runtime, as in AppTest): age alone decides.
    now, max_age_s : float
        A folder untouched for more than ``max_age_s`` goes whatever its session.
    """
    live = None if active_sessions is None else {session_folder_name(s) for s in active_sessions}
    return sorted(
        name
        for name, touched in folders.items()
        if (live is not None and name not in live) or now - touched > max_age_s
    )


def _last_touched(folder: Path) -> float:
    newest = folder.lstat().st_mtime
    for current, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            newest = max(newest, os.lstat(os.path.join(current, name)).st_mtime)
    return newest


def sweep_upload_folders(
    active_sessions: Collection[str] | None,
    *,
    root: Path | None = None,
    now: float | None = None,
    max_age_s: float = UPLOAD_MAX_AGE_S,
) -> list[Path]:
    """Delete the upload folders :func:`stale_upload_folders` picks under ``root``; returns them.

    Only folders named like :func:`session_folder_name` are looked at (never a link, never anything else
    in the folder). Two sessions sweeping at once is harmless: a folder already gone is skipped.
    """
    root = upload_root() if root is None else root
    if not root.is_dir() or root.is_symlink():
        return []
    folders: dict[str, float] = {}
    for entry in os.scandir(root):
        if entry.name.startswith(_SESSION_PREFIX) and entry.is_dir(follow_symlinks=False):
            try:
                folders[entry.name] = _last_touched(Path(entry.path))
            except OSError:  # removed meanwhile by another session's sweep
                continue
    when = time.time() if now is None else now
    gone = []
    for name in stale_upload_folders(folders, active_sessions, now=when, max_age_s=max_age_s):
        shutil.rmtree(root / name, ignore_errors=True)
        gone.append(root / name)
    return gone


__all__ = [
    "UPLOAD_MAX_AGE_S",
    "session_folder_name",
    "session_upload_dir",
    "stale_upload_folders",
    "sweep_upload_folders",
    "upload_root",
]
