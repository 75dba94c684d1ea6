"""Invoices and their lines (SPEC §3)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Model, Money
from models.enums import InvoiceKind


class Invoice(Model):
    __tablename__ = "invoice"
    __table_args__ = (
        # The batch's question: which invoices are not yet posted, up to a date?
        Index("ix_invoice_unbatched", "batch_id", "date"),
        Index("ix_invoice_company_date", "company_id", "date"),
        Index("ix_invoice_agreement", "agreement_id"),
    )

    number: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[InvoiceKind] = mapped_column(Enum(InvoiceKind, native_enum=False, length=32))
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id", ondelete="RESTRICT"))
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("agreement.id", ondelete="RESTRICT"))
    date: Mapped[dt.date] = mapped_column(Date)
    total: Mapped[Decimal] = mapped_column(Money())
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("journal_batch.id", ondelete="RESTRICT"))


class InvoiceLine(Model):
    __tablename__ = "invoice_line"
    __table_args__ = (UniqueConstraint("invoice_id", "position", name="uq_invoice_line_position"),)

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="RESTRICT"))
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    quantity: Mapped[Decimal] = mapped_column(Money())
    unit_price: Mapped[Decimal] = mapped_column(Money())
    amount: Mapped[Decimal] = mapped_column(Money())
    time_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("time_entry.id", ondelete="RESTRICT"), index=True
    )
