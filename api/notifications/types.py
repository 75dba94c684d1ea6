"""Low-balance, depleted and overrun notifications, and the webhooks that receive them."""

import datetime as dt
from decimal import Decimal

import strawberry

import models
from api.agreements.types import Agreement
from api.context import Info
from api.enums import DeliveryChannel, DeliveryStatus, NotificationKind
from api.fields import resolver
from api.scalars import to_id


@strawberry.type(description="One webhook or e-mail address a notification went to (staff only).")
class NotificationDelivery:
    id: strawberry.ID = strawberry.field(description="For retryDelivery.")
    channel: DeliveryChannel
    target: str = strawberry.field(description="The webhook URL or the e-mail address.")
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    sent_at: dt.datetime | None

    @classmethod
    def from_model(cls, row: models.NotificationDelivery) -> "NotificationDelivery":
        return cls(
            id=to_id(row.id),
            channel=row.kind,
            target=row.target,
            status=row.status,
            attempts=row.attempts,
            last_error=row.last_error,
            sent_at=row.delivered_at,
        )


@strawberry.type
class Notification:
    row: strawberry.Private[models.Notification]
    id: strawberry.ID
    kind: NotificationKind
    units_remaining: Decimal
    created_at: dt.datetime
    delivered_at: dt.datetime | None = strawberry.field(
        description=(
            "When the last of its deliveries was sent; null while one is pending or failed, "
            "and when there was nowhere to send it."
        )
    )

    @classmethod
    def from_model(cls, row: models.Notification) -> "Notification":
        return cls(
            row=row,
            id=to_id(row.id),
            kind=row.kind,
            units_remaining=row.units_remaining,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
        )

    @strawberry.field
    def agreement(self, info: Info) -> Agreement:
        return Agreement.from_model(info.context.loaders.agreement.one(self.row.agreement_id))

    @resolver(description="Staff only: one per webhook and e-mail address it went to.")
    def deliveries(self, info: Info) -> list[NotificationDelivery]:
        rows = info.context.loaders.deliveries_of_notification.load(self.row.id)
        return [NotificationDelivery.from_model(r) for r in rows]


@strawberry.type(description="A URL that receives every notification as a signed JSON POST.")
class Webhook:
    id: strawberry.ID
    url: str

    @classmethod
    def from_model(cls, row: models.Webhook) -> "Webhook":
        return cls(id=to_id(row.id), url=row.url)
