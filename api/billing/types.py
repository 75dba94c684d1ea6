"""Invoices and their lines."""

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

import models
from accounting import access
from api.agreements.types import Agreement
from api.catalog.types import Company
from api.context import Info
from api.enums import InvoiceKind
from api.fields import resolver
from api.scalars import to_id

if TYPE_CHECKING:
    from api.ledger.types import JournalBatch


@strawberry.type
class InvoiceLine:
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal

    @classmethod
    def from_model(cls, row: models.InvoiceLine) -> "InvoiceLine":
        return cls(
            description=row.description, quantity=row.quantity, unit_price=row.unit_price, amount=row.amount
        )


@strawberry.type
class Invoice:
    row: strawberry.Private[models.Invoice]
    id: strawberry.ID
    number: str
    kind: InvoiceKind
    date: dt.date
    total: Decimal

    @classmethod
    def from_model(cls, row: models.Invoice) -> "Invoice":
        return cls(
            row=row, id=to_id(row.id), number=row.number, kind=row.kind, date=row.date, total=row.total
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
    def lines(self, info: Info) -> list[InvoiceLine]:
        return [InvoiceLine.from_model(r) for r in info.context.loaders.lines_of_invoice.load(self.row.id)]

    @resolver(description="The journal batch that posted the invoice (staff with ledger access only).")
    def batch(self, info: Info) -> Annotated["JournalBatch", strawberry.lazy("api.ledger.types")] | None:
        from api.ledger.types import JournalBatch

        access.may_read(info.context.viewer, access.LEDGER)
        if self.row.batch_id is None:
            return None
        batch = info.context.loaders.journal_batch.load(self.row.batch_id)
        return JournalBatch.from_model(batch) if batch is not None else None
