"""The actors: thin jobs named "domain.verb" over accounting/ (SPEC §3, §4, §5).

`blocktime worker` runs `python -m dramatiq workers.actors`: importing this module
configures the broker from the environment (REDIS_URL) before declaring them.

Each actor receives its outbox job's id and arguments, marks the job RUNNING under
this worker's name (committed at once: `jobs` shows who runs what, and the relays
re-send it if this worker dies), then opens one unit of work, claims the job in it
(a duplicate delivery finds the job DONE and does nothing), calls accounting and
commits. Failures that may heal (the database or an endpoint
is down, a race) are retried with exponential backoff; anything else (a
DomainError, a bug) fails the job at once: FAILED in the outbox, with its error.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dramatiq
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from accounting import allowances, batches, billing, expiring, expiry, jobs, notifications, outbox
from accounting.errors import Conflict
from models.db import get_engine, unit_of_work
from models.settings import Settings, get_settings
from workers import delivery
from workers.broker import current_settings, ensure_configured
from workers.heartbeat import worker_name

log = logging.getLogger(__name__)

broker = ensure_configured(get_settings())

ACCOUNTING_QUEUE = "accounting"
NOTIFICATIONS_QUEUE = "notifications"


class JobRejected(Exception):
    """A failure that retrying cannot heal; the job is FAILED at once."""


def is_transient(exc: BaseException) -> bool:
    """May a retry succeed? Lost connections, lock and statement timeouts,
    serialization failures and unique-key races (OperationalError, IntegrityError),
    a race the rules detected (Conflict), and an endpoint that is down."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(
        exc,
        OperationalError
        | InterfaceError
        | PoolTimeoutError
        | IntegrityError
        | Conflict
        | delivery.DeliveryUnavailable,
    )


def _engine() -> Engine:
    return get_engine(current_settings())


@contextmanager
def claimed(job_id: int, actor: str) -> Iterator[Session | None]:
    """One unit of work that starts by claiming the job; None if it is not to run."""
    try:
        with unit_of_work(_engine()) as session:
            started = outbox.start_job(session, job_id=job_id, actor=actor, worker=worker_name())
        if not started:
            log.info("Outbox job %s (%s) is already done or failed: duplicate ignored.", job_id, actor)
            yield None
            return
        with unit_of_work(_engine()) as session:
            if not outbox.claim_job(session, job_id=job_id, actor=actor):
                log.info("Outbox job %s (%s) was done meanwhile: duplicate ignored.", job_id, actor)
                yield None
                return
            yield session
    except Exception as exc:
        if is_transient(exc):
            raise
        raise JobRejected(f"{type(exc).__name__}: {exc}") from exc


_ACCOUNTING: dict[str, Any] = {
    "queue_name": ACCOUNTING_QUEUE,
    "max_retries": 5,
    "min_backoff": 2_000,
    "max_backoff": 300_000,
    "time_limit": 600_000,
    "throws": (JobRejected,),
}
_NOTIFICATIONS: dict[str, Any] = {
    "queue_name": NOTIFICATIONS_QUEUE,
    "max_retries": 5,
    "min_backoff": 1_000,
    "max_backoff": 60_000,
    "time_limit": 60_000,
    "throws": (JobRejected,),
}
# A channel is retried on its own for about a day: 0.5 s, 1 s, 2 s ... then hourly.
_DELIVERIES: dict[str, Any] = {
    **_NOTIFICATIONS,
    "max_retries": 30,
    "min_backoff": 500,
    "max_backoff": 3_600_000,
    "time_limit": 120_000,
}


@dramatiq.actor(actor_name=jobs.RUN_BILLING, **_ACCOUNTING)
def run_billing(job_id: int, through_date: str) -> None:
    with claimed(job_id, jobs.RUN_BILLING) as session:
        if session is None:
            return
        invoices = billing.run_billing(session, through_date=dt.date.fromisoformat(through_date))
    log.info("Billing run through %s: %d invoice(s).", through_date, len(invoices))


@dramatiq.actor(actor_name=jobs.POST_BATCH, **_ACCOUNTING)
def post_batch(job_id: int, batch_id: int) -> None:
    with claimed(job_id, jobs.POST_BATCH) as session:
        if session is None:
            return
        batch = batches.post_batch(session, batch_id=batch_id)
    log.info("Journal batch %s (%s): %s.", batch.identifier, batch_id, batch.status.value)


@dramatiq.actor(actor_name=jobs.EXPIRE_BLOCKS, **_ACCOUNTING)
def expire_blocks(job_id: int, as_of: str) -> None:
    with claimed(job_id, jobs.EXPIRE_BLOCKS) as session:
        if session is None:
            return
        movements = expiry.expire_blocks(session, as_of=dt.date.fromisoformat(as_of))
    log.info("Expiry as of %s: %d lot(s) expired.", as_of, len(movements))


@dramatiq.actor(actor_name=jobs.RENEW_ALLOWANCES, **_ACCOUNTING)
def renew_allowances(job_id: int, as_of: str) -> None:
    day = dt.date.fromisoformat(as_of)
    with claimed(job_id, jobs.RENEW_ALLOWANCES) as session:
        if session is None:
            return
        cycles = allowances.renew_allowances(session, as_of=day)
        warned = expiring.check_expiring(session)
        counts = (len(cycles), len(warned))
    log.info("Allowances as of %s: %d cycle(s) renewed, %d EXPIRING raised.", as_of, *counts)


@dramatiq.actor(actor_name=jobs.EVALUATE_BALANCE, **_NOTIFICATIONS)
def evaluate_balance(job_id: int, agreement_id: int, time_entry_id: int | None = None) -> None:
    with claimed(job_id, jobs.EVALUATE_BALANCE) as session:
        if session is None:
            return
        raised = notifications.evaluate_balance(
            session, agreement_id=agreement_id, time_entry_id=time_entry_id
        )
        kinds = [n.kind.value for n in raised]
    if kinds:
        log.info("Agreement %s: raised %s.", agreement_id, ", ".join(kinds))


@dramatiq.actor(actor_name=jobs.DELIVER_NOTIFICATION, **_NOTIFICATIONS)
def deliver_notification(job_id: int, notification_id: int) -> None:
    """Fan out: one deliveries.send job per channel not yet delivered."""
    email_enabled = bool(current_settings().smtp_host)
    with claimed(job_id, jobs.DELIVER_NOTIFICATION) as session:
        if session is None:
            return
        for channel in notifications.plan_deliveries(
            session, notification_id=notification_id, email_enabled=email_enabled
        ):
            jobs.enqueue(session, jobs.SEND_DELIVERY, delivery_id=channel.delivery_id)


@dramatiq.actor(actor_name=jobs.SEND_DELIVERY, **_DELIVERIES)
def send_delivery(job_id: int, delivery_id: int) -> None:
    """Send one channel of one notification, at most once after it is delivered.

    The delivery row stays locked while sending, so a duplicate job waits and
    then finds it delivered. (On SQLite that lock is the database's write lock,
    held for at most WEBHOOK_TIMEOUT_SECONDS: the embedded mode's trade-off.)
    """
    settings = current_settings()
    try:
        with claimed(job_id, jobs.SEND_DELIVERY) as session:
            if session is None:
                return
            _send(session, settings, delivery_id)
    except BaseException as exc:
        _record_delivery_failure(delivery_id, exc)
        raise


def _send(session: Session, settings: Settings, delivery_id: int) -> None:
    claimed_delivery = notifications.claim_delivery(session, delivery_id=delivery_id)
    if claimed_delivery is None:
        log.info("Delivery %s was already sent, or given up.", delivery_id)
        return
    notification_id = claimed_delivery.notification_id
    channel = notifications.delivery_target(session, claimed_delivery)
    if isinstance(channel, str):
        log.warning("Delivery %s (%s) not sent: %s.", delivery_id, claimed_delivery.channel, channel)
        notifications.give_up_delivery(session, delivery_id=delivery_id, error=channel)
        return
    if channel.url is not None and channel.secret is not None:
        payload = notifications.notification_payload(session, notification_id=notification_id)
        body = notifications.encode_payload(payload)
        delivery.post_webhook(
            channel.url,
            body=body,
            signature=notifications.sign(body, channel.secret),
            event=str(payload["kind"]),
            delivery_id=delivery_id,
            timeout=settings.webhook_timeout_seconds,
        )
    elif channel.email is not None:
        facts = notifications.notification_facts(session, notification_id=notification_id)
        delivery.send_email(settings, to=channel.email, facts=facts)
    else:
        raise delivery.DeliveryRejected(f"delivery {delivery_id}: channel {channel.channel} has no address")
    notifications.mark_delivered(session, delivery_id=delivery_id)
    log.info("Notification %s delivered to %s.", notification_id, channel.channel)


def _record_delivery_failure(delivery_id: int, exc: BaseException) -> None:
    cause = exc.__cause__ if isinstance(exc, JobRejected) and exc.__cause__ is not None else exc
    try:
        with unit_of_work(_engine()) as session:
            outbox.record_delivery_failure(
                session, delivery_id=delivery_id, error=f"{type(cause).__name__}: {cause}"
            )
    except Exception:  # the database may be what failed; the job's own error still propagates
        log.exception("Could not record the failure of delivery %s.", delivery_id)


ACTORS = (
    run_billing,
    post_batch,
    expire_blocks,
    renew_allowances,
    evaluate_balance,
    deliver_notification,
    send_delivery,
)
