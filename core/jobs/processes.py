"""The operating-system side of local jobs: is a process alive, which processes are a job's.

Owns the registry of wrapper processes this process started (reaped so they never stay zombies, their
return codes kept for a lost job's message) and the pid-reuse-safe checks on a job's wrapper
(:func:`alive`) and its process group (:func:`group_members`, :func:`kill_members`), compared by
psutil ``create_time``. Separate from the backend because the views' resource use needs the same view of
a job's processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Sequence

import psutil

#: psutil's create_time is derived from boot time and clock ticks; allow for rounding.
_CTIME_TOLERANCE_S = 1.0

#: Wrappers this process started, kept so they are reaped (a finished child stays a zombie until
#: its parent waits for it) and so a lost job can report how its wrapper ended.
CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
RETURN_CODES: dict[int, int] = {}
CHILDREN_LOCK = threading.Lock()


def _reap() -> None:
    with CHILDREN_LOCK:
        for pid, proc in list(CHILDREN.items()):
            code = proc.poll()
            if code is not None:
                RETURN_CODES[pid] = code
                del CHILDREN[pid]


def alive(pid: int | None, start_time: float | None) -> psutil.Process | None:
    """The process with this pid if it is the one that started at ``start_time`` and not a zombie."""
    if pid is None or start_time is None:
        return None
    _reap()
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - start_time) > _CTIME_TOLERANCE_S:
            return None  # the pid was reused by another process
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.Error:
        return None
    return proc


def group_members(pgid: int | None, start_time: float | None) -> list[psutil.Process]:
    """Live processes of the job whose wrapper (the group leader) has pid ``pgid`` and started at
    ``start_time``, the wrapper included while it lives.

    Safe against pid reuse: Linux never hands out a pid that is still some group's id, so if a
    *different* process now holds the pid ``pgid``, the job's group is empty and that group is
    someone else's. Otherwise only processes no older than the job are taken.
    """
    if pgid is None or start_time is None:
        return []
    _reap()
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []  # fast path: the group is empty
    except PermissionError:
        pass
    try:
        if abs(psutil.Process(pgid).create_time() - start_time) > _CTIME_TOLERANCE_S:
            return []  # the pid was reused: not our group
    except psutil.NoSuchProcess:
        pass  # the wrapper is gone; its group may still have members
    except psutil.Error:
        return []
    members = []
    for proc in psutil.process_iter(["create_time", "status"]):
        try:
            if os.getpgid(proc.pid) != pgid:
                continue
        except OSError:
            continue
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if proc.info["create_time"] + _CTIME_TOLERANCE_S < start_time:
            continue
        members.append(proc)
    return members


def kill_members(members: Sequence[psutil.Process], sig: signal.Signals) -> None:
    for proc in members:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)
