"""Creating companies, work types and work roles."""

import dataclasses
from decimal import Decimal

import strawberry

from accounting import catalog
from api.catalog.types import Company, WorkRole, WorkType
from api.context import Info, wrap
from api.transaction import perform


@strawberry.input
class CreateCompanyInput:
    identifier: str
    name: str
    billing_email: str | None = None


@strawberry.input
class CreateWorkTypeInput:
    name: str
    rate_multiplier: Decimal | None = strawberry.field(default=None, description="Defaults to 1.00.")


@strawberry.input
class CreateWorkRoleInput:
    name: str
    hourly_rate: Decimal


@strawberry.type
class CatalogMutation:
    @strawberry.mutation
    def create_company(self, info: Info, input: CreateCompanyInput) -> Company:
        row = perform(
            info,
            "createCompany",
            details=dataclasses.asdict(input),
            change=lambda session: catalog.create_company(
                session, identifier=input.identifier, name=input.name, billing_email=input.billing_email
            ),
        )
        return wrap(info, Company, row)

    @strawberry.mutation
    def create_work_type(self, info: Info, input: CreateWorkTypeInput) -> WorkType:
        row = perform(
            info,
            "createWorkType",
            details=dataclasses.asdict(input),
            change=lambda session: catalog.create_work_type(
                session, name=input.name, rate_multiplier=input.rate_multiplier
            ),
        )
        return wrap(info, WorkType, row)

    @strawberry.mutation
    def create_work_role(self, info: Info, input: CreateWorkRoleInput) -> WorkRole:
        row = perform(
            info,
            "createWorkRole",
            details=dataclasses.asdict(input),
            change=lambda session: catalog.create_work_role(
                session, name=input.name, hourly_rate=input.hourly_rate
            ),
        )
        return wrap(info, WorkRole, row)
