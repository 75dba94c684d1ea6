"""Time logged by technicians and what it drew or billed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Date, Enum, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Model, Money
from models.enums import BillableOption, Coverage


class TimeEntry(Model):
    __tablename__ = "time_entry"
    __table_args__ = (
        CheckConstraint("hours > 0", name="hours_positive"),
        CheckConstraint("units_applied >= 0", name="applied_not_negative"),
        CheckConstraint("hours_billable >= 0", name="billable_not_negative"),
        CheckConstraint("amount_billable >= 0", name="amount_billable_not_negative"),
        # The billing run's question: what is unbilled up to a date?
        Index("ix_time_entry_unbilled", "billed", "reversed", "date"),
        Index("ix_time_entry_agreement_date", "agreement_id", "date"),
        Index("ix_time_entry_company_date", "company_id", "date"),
    )

    company_id: Mapped[int] = mapped_column(ForeignKey("company.id", ondelete="RESTRICT"))
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("agreement.id", ondelete="RESTRICT"))
    work_type_id: Mapped[int] = mapped_column(ForeignKey("work_type.id", ondelete="RESTRICT"))
    work_role_id: Mapped[int] = mapped_column(ForeignKey("work_role.id", ondelete="RESTRICT"))
    date: Mapped[dt.date] = mapped_column(Date)
    hours: Mapped[Decimal] = mapped_column(Money())
    billable_option: Mapped[BillableOption] = mapped_column(
        Enum(BillableOption, native_enum=False, length=32)
    )
    notes: Mapped[str | None] = mapped_column(Text)  # customer-facing
    internal_notes: Mapped[str | None] = mapped_column(Text)  # staff only (SPEC §6)
    coverage: Mapped[Coverage] = mapped_column(Enum(Coverage, native_enum=False, length=32))
    # List value: round(hours x role rate x type multiplier), and the part of it covered.
    value: Mapped[Decimal] = mapped_column(Money())
    covered_value: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    units_applied: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    hours_billable: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    amount_billable: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    billed: Mapped[bool] = mapped_column(Boolean, default=False)
    usage_invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("invoice.id", ondelete="RESTRICT"), index=True
    )
    standard_invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("invoice.id", ondelete="RESTRICT"), index=True
    )
    reversed: Mapped[bool] = mapped_column(Boolean, default=False)
    reversed_on: Mapped[dt.date | None] = mapped_column(Date)
    # A reversal is an event of its own, posted by the next batch.
    reversal_batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("journal_batch.id", ondelete="RESTRICT"), index=True
    )
