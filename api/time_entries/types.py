"""Time logged against a company, and what the engine did with it."""

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

import models
from accounting import access
from api.agreements.types import Agreement
from api.catalog.types import Company, WorkRole, WorkType
from api.context import Info
from api.enums import BillableOption, Coverage
from api.fields import resolver
from api.scalars import to_id

if TYPE_CHECKING:
    from api.billing.types import Invoice


@strawberry.type(description="Hours of a work role and work type on a date, optionally against an agreement.")
class TimeEntry:
    row: strawberry.Private[models.TimeEntry]
    id: strawberry.ID
    date: dt.date
    hours: Decimal
    billable_option: BillableOption
    notes: str | None = strawberry.field(description="Shown to the customer.")
    units_applied: Decimal = strawberry.field(
        description="Units drawn from the agreement's balance (hours, or money for AMOUNT agreements)."
    )
    hours_billable: Decimal = strawberry.field(
        description="Hours billed on a STANDARD invoice because the agreement did not cover them."
    )
    value: Decimal = strawberry.field(
        description="List value: hours x work role rate x work type multiplier."
    )
    reversed: bool
    coverage: Coverage = strawberry.field(
        description=(
            "Why the entry was, or was not, drawn from an agreement: the answer to 'why was this billed?'."
        )
    )
    amount_billable: Decimal = strawberry.field(
        description="Money billed on a STANDARD invoice (list value not covered)."
    )
    reversed_on: dt.date | None

    @classmethod
    def from_model(cls, row: models.TimeEntry) -> "TimeEntry":
        return cls(
            row=row,
            id=to_id(row.id),
            date=row.date,
            hours=row.hours,
            billable_option=row.billable_option,
            notes=row.notes,
            units_applied=row.units_applied,
            hours_billable=row.hours_billable,
            value=row.value,
            reversed=row.reversed,
            coverage=row.coverage,
            amount_billable=row.amount_billable,
            reversed_on=row.reversed_on,
        )

    @resolver(description="Staff only: null for CUSTOMER tokens.")
    def internal_notes(self, info: Info) -> str | None:
        return (
            self.row.internal_notes
            if access.shows(info.context.viewer, "TimeEntry", "internalNotes")
            else None
        )

    @strawberry.field
    def company(self, info: Info) -> Company:
        return Company.from_model(info.context.loaders.company.one(self.row.company_id))

    @strawberry.field
    def agreement(self, info: Info) -> Agreement | None:
        if self.row.agreement_id is None:
            return None
        agreement = info.context.loaders.agreement.load(self.row.agreement_id)
        return Agreement.from_model(agreement) if agreement is not None else None

    @strawberry.field
    def work_type(self, info: Info) -> WorkType:
        return WorkType.from_model(info.context.loaders.work_type.one(self.row.work_type_id))

    @strawberry.field
    def work_role(self, info: Info) -> WorkRole:
        return WorkRole.from_model(info.context.loaders.work_role.one(self.row.work_role_id))

    @resolver(description="The invoice the entry was billed on: its usage invoice, else its STANDARD one.")
    def invoice(self, info: Info) -> Annotated["Invoice", strawberry.lazy("api.billing.types")] | None:
        return _invoice(info, self.row.usage_invoice_id or self.row.standard_invoice_id)

    @resolver(description="The AGREEMENT_USAGE ($0.00) invoice listing the covered part.")
    def usage_invoice(self, info: Info) -> Annotated["Invoice", strawberry.lazy("api.billing.types")] | None:
        return _invoice(info, self.row.usage_invoice_id)

    @resolver(description="The STANDARD invoice billing the part not covered (overrun, excluded work).")
    def standard_invoice(
        self, info: Info
    ) -> Annotated["Invoice", strawberry.lazy("api.billing.types")] | None:
        return _invoice(info, self.row.standard_invoice_id)


def _invoice(info: Info, invoice_id: int | None) -> "Invoice | None":
    from api.billing.types import Invoice

    access.may_read(info.context.viewer, access.INVOICES)
    if invoice_id is None:
        return None
    invoice = info.context.loaders.invoice.load(invoice_id)
    return Invoice.from_model(invoice) if invoice is not None else None
