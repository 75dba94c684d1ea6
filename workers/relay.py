"""The outbox relay: PENDING jobs go to the broker and become SENT (SPEC §7).

Mutations write their jobs in their own transaction and never talk to the broker,
so they succeed while Redis is down. The relay sends what is waiting: at once when
`unit_of_work` nudges it after a commit that enqueued jobs, and on every sweep,
which also sends again the SENT jobs that were never DONE (Redis lost them, or
their worker died). A job sent twice runs once: workers claim jobs in the database.

Every few seconds the relay also watches for faults (SPEC §7):
- a worker that stopped beating (killed, its machine gone): the jobs it was RUNNING
  are sent again, and so are the SENT ones it may have fetched and not started;
- a broker that lost its data (Redis restarted without its AOF, or replaced): the
  relay keeps a marker key in Redis; when the marker is gone, every SENT job not
  DONE is sent again.

One relay thread runs in every process that produces jobs: `blocktime serve` and
each worker process. Relays on several processes share the work through
`FOR UPDATE SKIP LOCKED` (PostgreSQL) or SQLite's database write lock.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence

import dramatiq
from dramatiq.errors import ActorNotFound
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from accounting import outbox
from models import OutboxJob, utcnow
from models.db import after_commit_listeners, unit_of_work

log = logging.getLogger(__name__)

# A SENT job not DONE after this long is sent again. Longer than a failing job's
# retries usually take, since the duplicate then only finds the job DONE.
RESEND_AFTER_SECONDS = 900.0
# After a failed pass (broker or database down), wait 0.5 s, 1 s, 2 s ... up to 5 s.
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 5.0
# How often the relay looks for dead workers and for a broker that lost its data.
WATCH_SECONDS = 2.0
# A worker that has not beaten for this long is dead (it beats every HEARTBEAT_SECONDS).
HEARTBEAT_SECONDS = 2.0
DEAD_AFTER_SECONDS = 10.0
# A key the relays keep in Redis: gone means the broker lost what it held.
BROKER_MARKER_KEY = "blocktime:broker-marker"


class BrokerUnavailable(Exception):
    """The broker refused a message; the job stays in the outbox."""


def dispatch(broker: dramatiq.Broker, job: OutboxJob) -> None:
    """Send one job to its actor, with the job's id so the worker can claim it."""
    actor = broker.get_actor(job.actor)
    actor.send_with_options(kwargs={**outbox.job_arguments(job), "job_id": job.id})


class Relay:
    """Moves outbox jobs to `broker`; `start()` runs it in a thread."""

    def __init__(
        self,
        engine: Engine,
        broker: dramatiq.Broker,
        *,
        sweep_seconds: float = 30.0,
        resend_after: float = RESEND_AFTER_SECONDS,
        resend_at_start_after: float | None = None,
        batch_size: int = 100,
        watch_seconds: float = WATCH_SECONDS,
        dead_after: float = DEAD_AFTER_SECONDS,
    ) -> None:
        self.engine = engine
        self.broker = broker
        self.sweep_seconds = sweep_seconds
        self.resend_after = resend_after
        # An in-process broker starts empty: everything SENT before a restart is lost.
        self.resend_at_start_after = resend_after if resend_at_start_after is None else resend_at_start_after
        self.batch_size = batch_size
        self.watch_seconds = watch_seconds
        self.dead_after = dt.timedelta(seconds=dead_after)
        self._broker_marker: str | None = None
        self._pass_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._backoff = 0.0
        self._retry_at = 0.0
        # Completed passes of the thread (the first is the start-up sweep).
        self.passes = 0

    # --- one pass, callable from any thread ------------------------------------------

    def relay_pending(self) -> int:
        """Send every PENDING job; returns how many. Raises BrokerUnavailable."""
        return self._drain(lambda session: outbox.pending_jobs(session, limit=self.batch_size))

    def resend_unfinished(
        self, older_than: float | None = None, *, sent_before: dt.datetime | None = None
    ) -> int:
        """Send again the SENT jobs not DONE for `older_than` seconds (or since
        `sent_before`); returns how many."""
        if sent_before is None:
            age = self.resend_after if older_than is None else older_than
            sent_before = utcnow() - dt.timedelta(seconds=age)
        cutoff = sent_before
        total = self._drain(
            lambda session: outbox.unfinished_jobs(session, sent_before=cutoff, limit=self.batch_size)
        )
        if total:
            log.warning("Sent %d unfinished outbox job(s) again (sent before %s).", total, cutoff)
        return total

    def _drain(self, select_jobs: Callable[[Session], Sequence[OutboxJob]]) -> int:
        total = 0
        while True:
            with self._pass_lock, unit_of_work(self.engine) as session:
                jobs = select_jobs(session)
                sent, error = self._send(session, jobs)
            total += sent
            if error is not None:
                raise error
            if len(jobs) < self.batch_size:
                return total

    def sweep(self, *, sent_before: dt.datetime | None = None) -> int:
        """Relay the PENDING jobs, and send again those SENT long ago and not DONE."""
        return self.relay_pending() + self.resend_unfinished(sent_before=sent_before)

    def recover_orphans(self) -> int:
        """Send again the jobs of workers that stopped beating; returns how many.

        Their RUNNING jobs first; then, if a worker was found dead, every SENT job
        not DONE: the dead worker may have fetched some and not started them, and
        the broker would give those back only after its own timeout (a minute or
        more). A job that is sent twice runs once.
        """
        started = utcnow()
        # A reader first: on SQLite a writer takes the database lock, every few seconds.
        with unit_of_work(self.engine, writer=False) as session:
            if not outbox.anyone_dead(session, dead_after=self.dead_after):
                return 0
        with self._pass_lock, unit_of_work(self.engine) as session:
            dead = outbox.dead_workers(session, dead_after=self.dead_after)
            orphans = outbox.orphaned_jobs(session, dead_after=self.dead_after, limit=self.batch_size)
            orphan_ids = [job.id for job in orphans]
            sent, error = self._send(session, orphans)
        for name, last_beat in dead:
            log.warning("Worker %s stopped beating at %s UTC: taken for dead.", name, f"{last_beat:%H:%M:%S}")
        if orphan_ids:
            log.warning("Sent again %d job(s) whose worker died: %s.", sent, orphan_ids)
        if error is not None:
            raise error
        if dead:
            sent += self.resend_unfinished(sent_before=started)
        return sent

    def check_broker(self) -> int:
        """Send again every SENT job not DONE if the broker lost its data; returns how many.

        Redis only (an in-process broker starts empty and is swept at start). The
        marker is set after the re-send, so a relay that dies half-way leaves it for
        the next one.
        """
        client = getattr(self.broker, "client", None)
        if client is None:
            return 0
        marker = client.get(BROKER_MARKER_KEY)
        if marker is not None:
            self._broker_marker = marker.decode() if isinstance(marker, bytes) else str(marker)
            return 0
        started = utcnow()
        sent = self.resend_unfinished(sent_before=started)
        new_marker = f"{started.isoformat()} {uuid.uuid4().hex}"
        client.set(BROKER_MARKER_KEY, new_marker, nx=True)
        if self._broker_marker is not None:
            log.warning(
                "The broker lost its data (restarted empty, or replaced): sent %d job(s) again.", sent
            )
        self._broker_marker = new_marker
        return sent

    def watch(self) -> int:
        """The fault checks: dead workers, and a broker that lost its data."""
        return self.recover_orphans() + self.check_broker()

    def _send(self, session: Session, jobs: Sequence[OutboxJob]) -> tuple[int, BrokerUnavailable | None]:
        sent: list[OutboxJob] = []
        error: BrokerUnavailable | None = None
        for job in jobs:
            try:
                dispatch(self.broker, job)
            except ActorNotFound:
                outbox.record_failure(session, job_id=job.id, error=f"no actor named {job.actor}", final=True)
                log.error("Outbox job %d FAILED: no actor named %r.", job.id, job.actor)
                continue
            except Exception as exc:  # noqa: BLE001 - whatever the broker raised, the job waits
                error = BrokerUnavailable(f"{type(exc).__name__}: {exc}")
                break
            sent.append(job)
        # Committed even when the broker failed half-way: those jobs did reach it.
        outbox.mark_sent(session, sent)
        return len(sent), error

    # --- the thread ------------------------------------------------------------------

    def nudge(self) -> None:
        """Called after a commit that enqueued jobs: relay them now."""
        self._wake.set()

    def start(self) -> Relay:
        if self._thread is not None:
            raise RuntimeError("the relay is already running")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()
        after_commit_listeners.append(self.nudge)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self.nudge in after_commit_listeners:
            after_commit_listeners.remove(self.nudge)
        if self._thread is None:
            return
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        next_sweep = next_watch = time.monotonic()
        # The first sweep: what was SENT before this start (an in-process broker lost it).
        start_cutoff: dt.datetime | None = utcnow() - dt.timedelta(seconds=self.resend_at_start_after)
        while True:
            # While failing, the retry does whatever is due by then.
            deadline = self._retry_at if self._backoff else min(next_sweep, next_watch)
            self._wake.wait(max(0.0, deadline - time.monotonic()))
            if self._stopping.is_set():
                return
            self._wake.clear()
            now = time.monotonic()
            if self._backoff and now < self._retry_at:
                continue  # the broker or database is down: nudges wait for the retry
            try:
                if now >= next_sweep:
                    next_sweep = now + self.sweep_seconds
                    self.sweep(sent_before=start_cutoff)
                    start_cutoff = None
                else:
                    self.relay_pending()
                if now >= next_watch:
                    next_watch = now + self.watch_seconds
                    self.watch()
            except Exception as exc:  # noqa: BLE001 - the relay thread must outlive any outage
                self._failed(exc)
            else:
                if self._backoff:
                    log.warning("Outbox relay recovered: jobs flow to the broker again.")
                self._backoff = 0.0
                self.passes += 1

    def _failed(self, exc: Exception) -> None:
        first = not self._backoff
        doubled = self._backoff * 2 if self._backoff else FIRST_BACKOFF_SECONDS
        self._backoff = min(MAX_BACKOFF_SECONDS, self.sweep_seconds, doubled)
        self._retry_at = time.monotonic() + self._backoff
        if first:
            log.warning("Outbox relay failed (%s); jobs wait in the outbox, retrying with backoff.", exc)
        else:
            log.debug("Outbox relay still failing (%s); next try in %.1f s.", exc, self._backoff)
