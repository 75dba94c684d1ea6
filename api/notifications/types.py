"""Low-balance, depleted and overrun notifications, and the webhooks that receive them."""

import datetime as dt
from decimal import Decimal

import strawberry

import models
from api.agreements.types import Agreement
from api.context import Info
from api.enums import NotificationKind
from api.scalars import to_id


@strawberry.type
class Notification:
    row: strawberry.Private[models.Notification]
    id: strawberry.ID
    kind: NotificationKind
    units_remaining: Decimal
    created_at: dt.datetime
    delivered_at: dt.datetime | None

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


@strawberry.type(description="A URL that receives every notification as a signed JSON POST.")
class Webhook:
    id: strawberry.ID
    url: str

    @classmethod
    def from_model(cls, row: models.Webhook) -> "Webhook":
        return cls(id=to_id(row.id), url=row.url)
