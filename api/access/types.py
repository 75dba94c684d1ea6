"""Who is calling, new tokens, and the audit trail."""

import datetime as dt

import strawberry

import models
from accounting.access import Principal
from api.catalog.types import Company
from api.context import Info
from api.enums import Role
from api.scalars import to_id


def _company(info: Info, company_id: int | None) -> Company | None:
    if company_id is None:
        return None
    company = info.context.loaders.company.load(company_id)
    return Company.from_model(company) if company is not None else None


@strawberry.type(description="The caller: the token's role, and a CUSTOMER token's company.")
class Viewer:
    principal: strawberry.Private[Principal]
    role: Role
    name: str

    @classmethod
    def from_principal(cls, principal: Principal) -> "Viewer":
        return cls(principal=principal, role=principal.role, name=principal.name)

    @strawberry.field
    def company(self, info: Info) -> Company | None:
        return _company(info, self.principal.company_id)


@strawberry.type(description="A new token: shown once, stored only as a hash.")
class ApiTokenSecret:
    row: strawberry.Private[models.ApiToken]
    token: str
    role: Role
    name: str

    @strawberry.field
    def company(self, info: Info) -> Company | None:
        return _company(info, self.row.company_id)


@strawberry.type(description="Who (token name and role) did what to which object, and when.")
class AuditEntry:
    id: strawberry.ID
    created_at: dt.datetime
    actor_name: str
    actor_role: str
    action: str
    object_type: str
    object_id: str | None
    details: str | None = strawberry.field(description="The mutation's input as JSON, secrets left out.")

    @classmethod
    def from_model(cls, row: models.AuditEntry) -> "AuditEntry":
        return cls(
            id=to_id(row.id),
            created_at=row.created_at,
            actor_name=row.actor_name,
            actor_role=row.actor_role,
            action=row.action,
            object_type=row.object_type,
            object_id=row.object_id,
            details=row.details,
        )
