"""Dramatiq middleware that ties the broker to the outbox (added by workers.broker)."""

from __future__ import annotations

import logging
import os
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware

from accounting import outbox
from models.db import get_engine, unit_of_work
from models.settings import Settings
from workers.relay import Relay

log = logging.getLogger(__name__)

# How long an idle consumer may sleep between polls of Redis. Dramatiq's default
# (1 s) would add up to a second to each hop of a notification (mutation, evaluate,
# deliver, send); 100 ms costs about ten cheap Redis calls a second per idle queue.
POLL_MILLISECONDS = 100


class JobFailures(Middleware):
    """Records each failed attempt in the job's outbox row; a final one makes it FAILED.

    Added before Retries, so its after hook runs after Retries has decided whether
    the message is retried (`message.failed` is then False) or has failed for good.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        job_id = message.kwargs.get("job_id")
        if exception is None or job_id is None:
            return
        final = bool(message.failed)
        cause = exception.__cause__ if exception.__cause__ is not None else exception
        error = f"{type(cause).__name__}: {cause}"
        try:
            with unit_of_work(get_engine(self.settings)) as session:
                outbox.record_failure(session, job_id=job_id, error=error, final=final)
        except Exception:  # the database may be what failed; the log keeps the error
            log.exception("Could not record the failure of outbox job %s.", job_id)
        if final:
            log.error("Outbox job %s (%s) FAILED: %s", job_id, message.actor_name, error)
        else:
            log.warning(
                "Outbox job %s (%s) failed and will be retried: %s", job_id, message.actor_name, error
            )


class PollInterval(Middleware):
    """Caps the idle consumers' poll interval, unless dramatiq_worker_timeout is set."""

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if "dramatiq_worker_timeout" not in os.environ:
            worker.worker_timeout = POLL_MILLISECONDS


class RelayWhileWorking(Middleware):
    """Every worker relays the jobs its actors enqueue (a notification's deliveries)
    the moment they commit, and sweeps the outbox."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.relay: Relay | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        in_process = isinstance(broker, StubBroker)
        self.relay = Relay(
            get_engine(self.settings),
            broker,
            sweep_seconds=self.settings.outbox_sweep_seconds,
            # An in-process broker lost whatever was SENT before this start.
            resend_at_start_after=0.0 if in_process else None,
        ).start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self.relay is not None:
            self.relay.stop()
            self.relay = None
