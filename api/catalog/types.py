"""Companies and the rate tables time is valued with."""

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

import models
from api.context import Info
from api.scalars import to_id

if TYPE_CHECKING:
    from api.agreements.types import Agreement


@strawberry.type(description="A customer of the MSP.")
class Company:
    row: strawberry.Private[models.Company]
    id: strawberry.ID
    identifier: str
    name: str
    billing_email: str | None

    @classmethod
    def from_model(cls, row: models.Company) -> "Company":
        return cls(
            row=row,
            id=to_id(row.id),
            identifier=row.identifier,
            name=row.name,
            billing_email=row.billing_email,
        )

    @strawberry.field
    def agreements(self, info: Info) -> list[Annotated["Agreement", strawberry.lazy("api.agreements.types")]]:
        from api.agreements.types import Agreement

        return [Agreement.from_model(r) for r in info.context.loaders.agreements_of_company.load(self.row.id)]


@strawberry.type(description="What kind of work, with a rate multiplier (Remote 1.0, After Hours 1.5).")
class WorkType:
    id: strawberry.ID
    name: str
    rate_multiplier: Decimal

    @classmethod
    def from_model(cls, row: models.WorkType) -> "WorkType":
        return cls(id=to_id(row.id), name=row.name, rate_multiplier=row.rate_multiplier)


@strawberry.type(description="Who did the work, with an hourly rate (Engineer $150).")
class WorkRole:
    id: strawberry.ID
    name: str
    hourly_rate: Decimal

    @classmethod
    def from_model(cls, row: models.WorkRole) -> "WorkRole":
        return cls(id=to_id(row.id), name=row.name, hourly_rate=row.hourly_rate)
