"""Each worker process beats in the database while it runs (SPEC §7).

A job a worker takes is RUNNING under the worker's name; the relays take a worker
that has not beaten for `relay.DEAD_AFTER_SECONDS` for dead and send its jobs again.
The name is `<host>:<pid>:<random>`, new at every start, so a restarted process is
a new worker and the old one's jobs are still recovered.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading

import dramatiq
from dramatiq.middleware import Middleware

from accounting import outbox
from models.db import get_engine, unit_of_work
from models.settings import Settings
from workers.relay import HEARTBEAT_SECONDS

log = logging.getLogger(__name__)

_name: str | None = None


def worker_name() -> str:
    """This process's worker name (made on first use; a forked child makes its own)."""
    global _name
    if _name is None or _name.split(":")[1:2] != [str(os.getpid())]:
        _name = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
    return _name


class Heartbeat(Middleware):
    """Beats every HEARTBEAT_SECONDS from boot to shutdown; forgets the worker on a clean stop."""

    def __init__(self, settings: Settings, *, interval: float = HEARTBEAT_SECONDS) -> None:
        self.settings = settings
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # Before the consumers start, so the first job's worker is already alive.
        self._beat(first=True)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="worker-heartbeat", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        try:
            with unit_of_work(get_engine(self.settings)) as session:
                outbox.forget_worker(session, worker=worker_name())
        except Exception:  # the relays will find it dead instead
            log.warning("Could not remove the heartbeat of worker %s.", worker_name(), exc_info=True)

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self.interval):
            ok = self._beat(first=not failing)
            if ok and failing:
                log.warning("Worker %s beats again.", worker_name())
            failing = not ok

    def _beat(self, *, first: bool) -> bool:
        try:
            with unit_of_work(get_engine(self.settings)) as session:
                outbox.beat(session, worker=worker_name())
        except Exception as exc:  # noqa: BLE001 - the database may be down; beat again later
            if first:
                log.warning("Worker %s could not beat (%s: %s).", worker_name(), type(exc).__name__, exc)
            return False
        return True
