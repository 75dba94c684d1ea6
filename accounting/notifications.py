"""Deciding low-balance, depleted and overrun notifications (SPEC §5). Sending is workers/'."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounting import clock, jobs
from accounting.agreements import alert_key, balance, rearm_alerts
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
from models.enums import AgreementStatus, Coverage, NotificationKind

EMAIL_CHANNEL = "email"


def watched(agreement: Agreement, today: dt.date) -> bool:
    """Only ACTIVE agreements whose endDate is null or not yet past are watched."""
    return agreement.status is AgreementStatus.ACTIVE and (
        agreement.end_date is None or agreement.end_date >= today
    )


def _raise(
    session: Session,
    agreement: Agreement,
    kind: NotificationKind,
    key: str,
    remaining: Decimal,
    time_entry_id: int | None = None,
) -> Notification | None:
    """Insert once: the unique dedupe key makes a second evaluation harmless."""
    if session.scalar(select(Notification.id).where(Notification.dedupe_key == key)) is not None:
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


@dataclass(frozen=True)
class PendingDelivery:
    delivery_id: int
    channel: str
    url: str | None
    secret: str | None
    email: str | None


def plan_deliveries(session: Session, *, notification_id: int, email_enabled: bool) -> list[PendingDelivery]:
    """One delivery row per channel (every active webhook, and the billing e-mail when
    SMTP is configured); returns those not yet delivered."""
    notification = session.get(Notification, notification_id)
    if notification is None:
        raise NotFound("notification", notification_id)
    agreement = session.get_one(Agreement, notification.agreement_id)
    company = session.get_one(Company, agreement.company_id)
    webhooks = {
        f"webhook:{w.id}": w for w in session.scalars(select(Webhook).where(Webhook.active.is_(True)))
    }
    channels = list(webhooks)
    if email_enabled and company.billing_email:
        channels.append(EMAIL_CHANNEL)
    existing = {
        d.channel: d
        for d in session.scalars(
            select(NotificationDelivery).where(NotificationDelivery.notification_id == notification_id)
        )
    }
    for channel in channels:
        if channel not in existing:
            try:
                with session.begin_nested():
                    delivery = NotificationDelivery(
                        notification_id=notification_id, channel=channel, attempts=0
                    )
                    session.add(delivery)
                existing[channel] = delivery
            except IntegrityError:
                pass
    session.flush()
    pending = []
    for channel, delivery in sorted(existing.items()):
        if delivery.delivered_at is not None:
            continue
        hook = webhooks.get(channel)
        pending.append(
            PendingDelivery(
                delivery_id=delivery.id,
                channel=channel,
                url=hook.url if hook else None,
                secret=hook.secret if hook else None,
                email=company.billing_email if channel == EMAIL_CHANNEL else None,
            )
        )
    if not pending and notification.delivered_at is None:
        notification.delivered_at = utcnow()
    return pending


def claim_delivery(session: Session, *, delivery_id: int) -> NotificationDelivery | None:
    """Lock one channel's delivery; None when it was already delivered (a duplicate job)."""
    delivery = session.scalars(
        select(NotificationDelivery)
        .where(NotificationDelivery.id == delivery_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if delivery is None or delivery.delivered_at is not None:
        return None
    delivery.attempts += 1
    return delivery


def mark_delivered(session: Session, *, delivery_id: int) -> None:
    delivery = session.get_one(NotificationDelivery, delivery_id)
    delivery.delivered_at = utcnow()
    delivery.last_error = None
    session.flush()
    undelivered = session.scalar(
        select(NotificationDelivery.id).where(
            NotificationDelivery.notification_id == delivery.notification_id,
            NotificationDelivery.delivered_at.is_(None),
        )
    )
    if undelivered is None:
        notification = session.get_one(Notification, delivery.notification_id)
        if notification.delivered_at is None:
            notification.delivered_at = utcnow()


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


def sign(body: bytes, secret: str) -> str:
    """The X-Blocktime-Signature header value: sha256=<hex HMAC-SHA256 of the body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode_payload(payload: dict[str, object]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
