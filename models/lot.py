"""Prepaid lots and every movement of units in or out of them (SPEC §2)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, Enum, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Model, Money
from models.enums import LotSource, MovementKind


class Lot(Model):
    """Units bought (or given) at one unit price, drawn first-in first-out."""

    __tablename__ = "lot"
    __table_args__ = (
        CheckConstraint("units >= 0", name="units_not_negative"),
        CheckConstraint("units_remaining >= 0", name="remaining_not_negative"),
        CheckConstraint("units_remaining <= units", name="remaining_within_units"),
        CheckConstraint("unit_price >= 0", name="price_not_negative"),
        Index("ix_lot_agreement_fifo", "agreement_id", "effective_date", "id"),
    )

    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id", ondelete="RESTRICT"))
    source: Mapped[LotSource] = mapped_column(Enum(LotSource, native_enum=False, length=32))
    addition_id: Mapped[int | None] = mapped_column(
        ForeignKey("addition.id", ondelete="RESTRICT"), unique=True
    )
    adjustment_id: Mapped[int | None] = mapped_column(
        ForeignKey("adjustment.id", ondelete="RESTRICT"), unique=True
    )
    units: Mapped[Decimal] = mapped_column(Money())
    unit_price: Mapped[Decimal] = mapped_column(Money())
    units_remaining: Mapped[Decimal] = mapped_column(Money())
    units_applied: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    units_expired: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    units_written_off: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    units_refunded: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    effective_date: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    # Where the purchase credited the paid value; fixed when the lot is first posted.
    deferred_account_id: Mapped[int | None] = mapped_column(ForeignKey("gl_account.id", ondelete="RESTRICT"))


class LotMovement(Model):
    """Units leaving a lot (or returning by reversal) and the paid value they carry."""

    __tablename__ = "lot_movement"
    __table_args__ = (
        CheckConstraint("units > 0", name="units_positive"),
        CheckConstraint("value >= 0", name="value_not_negative"),
        # One draw, and one reversal, per (time entry, lot).
        UniqueConstraint("time_entry_id", "lot_id", "kind", name="uq_lot_movement_entry_lot_kind"),
        # A lot's movements after a date (balance as of a day, statements) by range scan.
        Index("ix_lot_movement_lot_date", "lot_id", "date"),
    )

    lot_id: Mapped[int] = mapped_column(ForeignKey("lot.id", ondelete="RESTRICT"))
    kind: Mapped[MovementKind] = mapped_column(Enum(MovementKind, native_enum=False, length=32))
    units: Mapped[Decimal] = mapped_column(Money())
    # The change of the lot's deferred value: round(before) - round(after), as a magnitude.
    value: Mapped[Decimal] = mapped_column(Money())
    date: Mapped[dt.date] = mapped_column(Date)
    time_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("time_entry.id", ondelete="RESTRICT"), index=True
    )
    adjustment_id: Mapped[int | None] = mapped_column(
        ForeignKey("adjustment.id", ondelete="RESTRICT"), index=True
    )
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id", ondelete="RESTRICT"), index=True)
    # Expiries are events of their own, posted by a batch.
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("journal_batch.id", ondelete="RESTRICT"), index=True
    )
