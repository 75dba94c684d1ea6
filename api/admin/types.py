"""API tokens as admins see them: never their secret."""

import datetime as dt

import strawberry

import models
from api.catalog.types import Company
from api.context import Info
from api.enums import Role
from api.fields import resolver
from api.scalars import to_id


@strawberry.type(description="An API token (ADMIN only); its secret was shown once and is not stored.")
class ApiToken:
    row: strawberry.Private[models.ApiToken]
    id: strawberry.ID
    name: str
    role: Role
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @classmethod
    def from_model(cls, row: models.ApiToken) -> "ApiToken":
        return cls(
            row=row,
            id=to_id(row.id),
            name=row.name,
            role=row.role,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )

    @resolver(description="A CUSTOMER token's company.")
    def company(self, info: Info) -> Company | None:
        if self.row.company_id is None:
            return None
        return Company.from_model(info.context.loaders.company.one(self.row.company_id))
