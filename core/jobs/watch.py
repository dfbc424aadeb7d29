"""The background reconcile: a daemon thread that keeps the job table in line with reality.

Owns :class:`Watcher` (every few seconds: reconcile the local backend and each configured Ray cluster
with unfinished jobs) and :func:`ensure_watcher` (one per workspace per process). Separate because it is
the only long-lived thread of the job system and is started by the app, not by a request.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from core.jobs.local import LocalBackend
from core.jobs.ray_backend import RayBackend, ray_address_allowed
from core.jobs.store import QUEUED, RUNNING, Job, as_store

log = logging.getLogger(__name__)


class Watcher:
    """A daemon thread that reconciles every ``interval_s`` seconds, so finished and killed jobs are
    recorded and queued ones started even when no page is open. ``start``/``stop`` are idempotent.

    Reconciles a :class:`LocalBackend` (made with ``local_options``) and a :class:`RayBackend` for
    each cluster address that has unfinished jobs and is one of the server's configured clusters (a job
    at an address the operator has removed is left alone, never polled).
    """

    def __init__(self, root: Any = None, *, interval_s: float = 2.0, **local_options: Any) -> None:
        self.store = as_store(root)
        self.interval_s = interval_s
        self.local = LocalBackend(self.store, **local_options)
        self._ray: dict[str, RayBackend] = {}
        self._refused: set[str] = set()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._guard = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Watcher:
        with self._guard:
            if not self.running:
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._run, name="restudio-job-watcher", daemon=True)
                self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        with self._guard:
            self._stop.set()
            if self._thread is not None:
                self._thread.join(timeout)
            self._thread = None

    def tick(self) -> list[Job]:
        """One reconcile of every backend; errors are logged, never raised (the thread must live on)."""
        changed: list[Job] = []
        try:
            changed.extend(self.local.reconcile())
        except Exception:
            log.exception("reconciling local jobs failed")
        addresses = {j.ray_address for j in self.store.list_jobs(status=(QUEUED, RUNNING), backend="ray")}
        for address in sorted(a for a in addresses if a):
            try:
                if not ray_address_allowed(address):
                    if address not in self._refused:
                        self._refused.add(address)
                        log.warning("not polling Ray jobs at %s: not one of the configured clusters", address)
                    self._ray.pop(address, None)
                    continue
                ray_backend = self._ray.get(address) or self._ray.setdefault(address, RayBackend(address, self.store))
                changed.extend(ray_backend.reconcile())
            except Exception:
                log.exception("reconciling Ray jobs at %s failed", address)
        return changed

    def _run(self) -> None:
        stop = self._stop
        while not stop.is_set():
            self.tick()
            stop.wait(self.interval_s)


_WATCHERS: dict[Path, Watcher] = {}
_WATCHERS_GUARD = threading.Lock()


def ensure_watcher(root: Any = None, **options: Any) -> Watcher:
    """The process's one running :class:`Watcher` for a workspace (started on first call)."""
    store = as_store(root)
    with _WATCHERS_GUARD:
        watcher = _WATCHERS.get(store.db_path)
        if watcher is None:
            watcher = _WATCHERS[store.db_path] = Watcher(store, **options)
        return watcher.start()
