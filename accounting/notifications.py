"""Deciding low-balance, depleted and overrun notifications (SPEC §5). Sending is workers/'."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounting import clock, jobs, outbox
from accounting.agreements import alert_key, balance, low_balance_threshold, rearm_alerts
from accounting.errors import InvalidInput, NotFound
from accounting.expiring import check_expiring
from accounting.lots import lock_agreement
from accounting.validation import check_http_url, require_text
from models import (
    Agreement,
    AgreementType,
    Company,
    Notification,
    NotificationDelivery,
    TimeEntry,
    Webhook,
    utcnow,
)
from models.enums import (
    AgreementStatus,
    ApplicationUnits,
    Coverage,
    DeliveryChannel,
    DeliveryStatus,
    NotificationKind,
)


def watched(agreement: Agreement, today: dt.date) -> bool:
    """Only ACTIVE agreements whose endDate is null or not yet past are watched."""
    return agreement.status is AgreementStatus.ACTIVE and (
        agreement.end_date is None or agreement.end_date >= today
    )


# On the table's columns (cheaper than the ORM-enabled SELECT): notifications are always
# written at once, each in a savepoint, so nothing pending is missed.
_NOTIFICATIONS = cast(Table, Notification.__table__)
_RAISED = select(_NOTIFICATIONS.c.id).where(_NOTIFICATIONS.c.dedupe_key == bindparam("key"))


def _raise(
    session: Session,
    agreement: Agreement,
    kind: NotificationKind,
    key: str,
    remaining: Decimal,
    time_entry_id: int | None = None,
) -> Notification | None:
    """Insert once: the unique dedupe key makes a second evaluation harmless."""
    if session.scalar(_RAISED, {"key": key}) is not None:
        return None
    notification = Notification(
        agreement_id=agreement.id,
        kind=kind,
        units_remaining=remaining,
        dedupe_key=key,
        time_entry_id=time_entry_id,
    )
    try:
        with session.begin_nested():
            session.add(notification)
    except IntegrityError:
        return None
    jobs.enqueue(session, jobs.DELIVER_NOTIFICATION, notification_id=notification.id)
    return notification


def evaluate_balance(
    session: Session, *, agreement_id: int, time_entry_id: int | None = None, today: dt.date | None = None
) -> list[Notification]:
    """Compare the agreement with its threshold after a change of balance.

    LOW_BALANCE once when remaining falls to or below the threshold, DEPLETED once
    at 0, OVERRUN for time billed past the balance. A balance back above the
    threshold (a purchase) re-arms LOW_BALANCE and DEPLETED.
    """
    agreement = lock_agreement(session, agreement_id)
    if agreement is None:
        raise NotFound("agreement", agreement_id)
    raised: list[Notification] = []
    if not watched(agreement, today or clock.today()):
        return raised
    current = balance(session, agreement)
    if time_entry_id is not None:
        entry = session.get(TimeEntry, time_entry_id)
        if entry is not None and entry.coverage is Coverage.OVERRUN and entry.agreement_id == agreement.id:
            n = _raise(
                session,
                agreement,
                NotificationKind.OVERRUN,
                f"OVERRUN:{entry.id}",
                current.units_remaining,
                time_entry_id=entry.id,
            )
            raised += [n] if n else []
    if current.is_low:
        n = _raise(
            session,
            agreement,
            NotificationKind.LOW_BALANCE,
            alert_key(NotificationKind.LOW_BALANCE, agreement),
            current.units_remaining,
        )
        raised += [n] if n else []
        if current.units_remaining == 0:
            n = _raise(
                session,
                agreement,
                NotificationKind.DEPLETED,
                alert_key(NotificationKind.DEPLETED, agreement),
                current.units_remaining,
            )
            raised += [n] if n else []
    else:
        rearm_alerts(session, agreement, current)
    raised += check_expiring(session, today=today or clock.today(), agreement_ids=[agreement.id])
    session.flush()
    return raised


# --- delivery bookkeeping -------------------------------------------------------------


def register_webhook(session: Session, *, url: str, secret: str) -> Webhook:
    url = check_http_url(url, "url")
    secret = require_text(secret, "secret", max_length=200)
    if len(secret) < 8:
        raise InvalidInput("secret must be at least 8 characters")
    webhook = Webhook(url=url, secret=secret, active=True)
    session.add(webhook)
    session.flush()
    return webhook


def delete_webhook(session: Session, *, webhook_id: int) -> Webhook:
    """Stop deliveries to a webhook: its unsent deliveries are FAILED, nothing more is planned for it."""
    webhook = session.get(Webhook, webhook_id)
    if webhook is None or not webhook.active:
        raise NotFound("webhook", webhook_id)
    webhook.active = False
    session.execute(
        update(NotificationDelivery)
        .where(
            NotificationDelivery.channel == webhook_channel(webhook.id),
            NotificationDelivery.status == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.FAILED, last_error=WEBHOOK_DELETED)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return webhook


WEBHOOK_DELETED = "the webhook was deleted before this was sent"


def webhook_channel(webhook_id: int) -> str:
    return f"webhook:{webhook_id}"


def email_channel(address: str) -> str:
    return f"email:{address.lower()}"


@dataclass(frozen=True)
class PendingDelivery:
    delivery_id: int
    channel: str
    url: str | None
    secret: str | None
    email: str | None


def _targets(
    session: Session, agreement: Agreement, *, email_enabled: bool
) -> dict[str, tuple[DeliveryChannel, str]]:
    """Every active webhook; with SMTP, the billing e-mail and the agreement's notifyEmails."""
    targets = {
        webhook_channel(w.id): (DeliveryChannel.WEBHOOK, w.url)
        for w in session.scalars(select(Webhook).where(Webhook.active.is_(True)).order_by(Webhook.id))
    }
    if email_enabled:
        company = session.get_one(Company, agreement.company_id)
        for address in [company.billing_email, *agreement.notify_emails]:
            if address:
                targets.setdefault(email_channel(address), (DeliveryChannel.EMAIL, address))
    return targets


def plan_deliveries(session: Session, *, notification_id: int, email_enabled: bool) -> list[PendingDelivery]:
    """One delivery row per target (SPEC §10); returns those still PENDING.

    A notification with nowhere to go gets no deliveries and no deliveredAt.
    """
    notification = session.get(Notification, notification_id)
    if notification is None:
        raise NotFound("notification", notification_id)
    agreement = session.get_one(Agreement, notification.agreement_id)
    existing = {
        d.channel: d
        for d in session.scalars(
            select(NotificationDelivery).where(NotificationDelivery.notification_id == notification_id)
        )
    }
    for channel, (kind, target) in _targets(session, agreement, email_enabled=email_enabled).items():
        if channel not in existing:
            try:
                with session.begin_nested():
                    delivery = NotificationDelivery(
                        notification_id=notification_id,
                        channel=channel,
                        kind=kind,
                        target=target,
                        status=DeliveryStatus.PENDING,
                        attempts=0,
                    )
                    session.add(delivery)
                existing[channel] = delivery
            except IntegrityError:
                pass
    session.flush()
    pending: list[PendingDelivery] = []
    for _channel, delivery in sorted(existing.items()):
        if delivery.status is DeliveryStatus.PENDING:
            where = delivery_target(session, delivery)
            if isinstance(where, PendingDelivery):
                pending.append(where)
    return pending


def delivery_target(session: Session, delivery: NotificationDelivery) -> PendingDelivery | str:
    """Where one delivery goes now, or why it can no longer go anywhere."""
    if delivery.kind is DeliveryChannel.EMAIL:
        return PendingDelivery(delivery.id, delivery.channel, None, None, delivery.target)
    webhook_id = int(delivery.channel.removeprefix("webhook:"))
    webhook = session.get(Webhook, webhook_id)
    if webhook is None or not webhook.active:
        return WEBHOOK_DELETED
    return PendingDelivery(delivery.id, delivery.channel, webhook.url, webhook.secret, None)


def claim_delivery(session: Session, *, delivery_id: int) -> NotificationDelivery | None:
    """Lock one channel's delivery; None unless it is PENDING (a duplicate job, or one given up)."""
    delivery = session.scalars(
        select(NotificationDelivery)
        .where(NotificationDelivery.id == delivery_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if delivery is None or delivery.status is not DeliveryStatus.PENDING:
        return None
    delivery.attempts += 1
    return delivery


def give_up_delivery(session: Session, *, delivery_id: int, error: str) -> None:
    """FAILED for good (no target any more); an operator may retry it once that is fixed."""
    delivery = session.get_one(NotificationDelivery, delivery_id)
    delivery.status = DeliveryStatus.FAILED
    delivery.last_error = error
    session.flush()


def mark_delivered(session: Session, *, delivery_id: int) -> None:
    """SENT; the notification is delivered when every one of its deliveries is.

    Deliveries sent side by side each see the other unsent unless they take turns, so the
    notification row is locked first. FOR NO KEY UPDATE, not FOR UPDATE: updating a
    delivery row makes PostgreSQL's foreign-key check take FOR KEY SHARE on the
    notification, which FOR UPDATE would wait for while the other side waits for ours
    (a deadlock, and the e-mail already sent would go again on the retry).
    """
    delivery = session.get_one(NotificationDelivery, delivery_id)
    session.scalars(
        select(Notification.id)
        .where(Notification.id == delivery.notification_id)
        .with_for_update(key_share=True)
    ).first()
    delivery.status = DeliveryStatus.SENT
    delivery.delivered_at = utcnow()
    delivery.last_error = None
    session.flush()
    unsent = session.scalar(
        select(NotificationDelivery.id).where(
            NotificationDelivery.notification_id == delivery.notification_id,
            NotificationDelivery.status != DeliveryStatus.SENT,
        )
    )
    if unsent is None:
        notification = session.get_one(Notification, delivery.notification_id)
        if notification.delivered_at is None:
            notification.delivered_at = utcnow()


def retry_delivery(session: Session, *, delivery_id: int) -> NotificationDelivery:
    """Send a FAILED delivery again: its dead-lettered job is retried, or a new one enqueued."""
    delivery = session.scalars(
        select(NotificationDelivery)
        .where(NotificationDelivery.id == delivery_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if delivery is None:
        raise NotFound("notification delivery", delivery_id)
    if delivery.status is not DeliveryStatus.FAILED:
        raise InvalidInput(
            f"notification delivery {delivery_id} is {delivery.status.value}; "
            "only a FAILED one can be retried"
        )
    target = delivery_target(session, delivery)
    if isinstance(target, str):
        raise InvalidInput(f"notification delivery {delivery_id} cannot be retried: {target}")
    dead = outbox.failed_job_of_delivery(session, delivery_id=delivery_id)
    if dead is not None:
        outbox.retry_job(session, job_id=dead.id)  # which makes the delivery PENDING in the database
    else:
        jobs.enqueue(session, jobs.SEND_DELIVERY, delivery_id=delivery_id)
    delivery.status = DeliveryStatus.PENDING
    session.flush()
    return delivery


def notification_payload(session: Session, *, notification_id: int) -> dict[str, object]:
    """The JSON body sent to webhooks (and summarised in e-mails)."""
    notification = session.get_one(Notification, notification_id)
    agreement = session.get_one(Agreement, notification.agreement_id)
    company = session.get_one(Company, agreement.company_id)
    payload: dict[str, object] = {
        "id": str(notification.id),
        "kind": notification.kind.value,
        "agreement": {"id": str(agreement.id), "name": agreement.name},
        "company": {"id": str(company.id), "identifier": company.identifier, "name": company.name},
        "unitsRemaining": str(notification.units_remaining),
        "createdAt": notification.created_at.isoformat(),
    }
    if notification.kind is NotificationKind.EXPIRING:
        # What will expire, in which unit, and when (SPEC §9).
        agreement_type = session.get_one(AgreementType, agreement.agreement_type_id)
        payload["units"] = str(notification.units)
        payload["unit"] = agreement_type.application_units.value
        payload["expiresOn"] = notification.expires_on.isoformat() if notification.expires_on else None
    return payload


@dataclass(frozen=True)
class NotificationFacts:
    """What a person is told about a notification (SPEC §10): names and figures, no ids."""

    kind: str
    company: str
    agreement: str
    application_units: ApplicationUnits
    units_remaining: Decimal
    low_balance_threshold: Decimal | None
    low_balance_percent: Decimal | None
    raised_on: dt.date
    # OVERRUN: the time that went past the balance.
    work_date: dt.date | None = None
    work_hours: Decimal | None = None
    hours_billed: Decimal | None = None
    # The webhook payload's other fields, so that a kind added later can be worded
    # from what it carries (its payload keys, in snake_case).
    extra: dict[str, object] = field(default_factory=dict)


def notification_facts(session: Session, *, notification_id: int) -> NotificationFacts:
    notification = session.get_one(Notification, notification_id)
    agreement = session.get_one(Agreement, notification.agreement_id)
    agreement_type = session.get_one(AgreementType, agreement.agreement_type_id)
    company = session.get_one(Company, agreement.company_id)
    entry = session.get(TimeEntry, notification.time_entry_id) if notification.time_entry_id else None
    payload = notification_payload(session, notification_id=notification_id)
    known = {"id", "kind", "agreement", "company", "unitsRemaining", "createdAt"}
    extra = {_snake(k): v for k, v in payload.items() if k not in known and not isinstance(v, dict | list)}
    return NotificationFacts(
        kind=notification.kind.value,
        company=company.name,
        agreement=agreement.name,
        application_units=agreement_type.application_units,
        units_remaining=notification.units_remaining,
        low_balance_threshold=low_balance_threshold(agreement, agreement_type),
        low_balance_percent=agreement_type.low_balance_percent,
        raised_on=notification.created_at.date(),
        work_date=entry.date if entry else None,
        work_hours=entry.hours if entry else None,
        hours_billed=entry.hours_billable if entry else None,
        extra=extra,
    )


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def sign(body: bytes, secret: str) -> str:
    """The X-Blocktime-Signature header value: sha256=<hex HMAC-SHA256 of the body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode_payload(payload: dict[str, object]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
