"""Low-balance notifications, webhooks and per-channel deliveries (SPEC §5)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Boolean, Date, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Model, Money, UTCDateTime
from models.enums import DeliveryChannel, DeliveryStatus, NotificationKind


class Notification(Model):
    __tablename__ = "notification"

    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[NotificationKind] = mapped_column(Enum(NotificationKind, native_enum=False, length=32))
    units_remaining: Mapped[Decimal] = mapped_column(Money())
    # e.g. LOW_BALANCE:<agreement>:<epoch> or OVERRUN:<time entry>: raised at most once.
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    time_entry_id: Mapped[int | None] = mapped_column(ForeignKey("time_entry.id", ondelete="RESTRICT"))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # EXPIRING (SPEC §9): the lot, the units that will expire and when.
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id", ondelete="RESTRICT"))
    units: Mapped[Decimal | None] = mapped_column(Money())
    expires_on: Mapped[dt.date | None] = mapped_column(Date)


class Webhook(Model):
    __tablename__ = "webhook"

    url: Mapped[str] = mapped_column(String(2000))
    # Needed in clear to sign each delivery (HMAC); never returned by the API.
    secret: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class NotificationDelivery(Model):
    """One channel of one notification: a webhook, or one e-mail address (SPEC §10)."""

    __tablename__ = "notification_delivery"
    __table_args__ = (
        UniqueConstraint("notification_id", "channel", name="uq_notification_delivery_channel"),
    )

    notification_id: Mapped[int] = mapped_column(ForeignKey("notification.id", ondelete="RESTRICT"))
    # "webhook:<id>" or "email:<address>": unique per notification, so each goes once.
    channel: Mapped[str] = mapped_column(String(400))
    kind: Mapped[DeliveryChannel] = mapped_column(Enum(DeliveryChannel, native_enum=False, length=16))
    # The webhook's URL or the e-mail address, as it was when the notification was planned.
    target: Mapped[str] = mapped_column(String(2000))
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, native_enum=False, length=16), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When it was SENT.
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
