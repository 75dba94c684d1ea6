"""Recurring allowances and the cycles they have renewed (SPEC §9)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, Enum, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Model, Money
from models.enums import Cycle, RolloverPolicy


class Allowance(Model):
    """An agreement's terms of renewal: `units` at `unit_price` every cycle."""

    __tablename__ = "allowance"
    __table_args__ = (
        CheckConstraint("units > 0", name="units_positive"),
        CheckConstraint("unit_price > 0", name="price_positive"),
        CheckConstraint("rollover_cycles >= 1", name="rollover_cycles_positive"),
        CheckConstraint("next_cycle >= 0", name="next_cycle_not_negative"),
        CheckConstraint(
            "(rollover = 'CAPPED' AND rollover_cap > 0) OR (rollover <> 'CAPPED' AND rollover_cap IS NULL)",
            name="cap_with_capped",
        ),
        # The renewal run looks for the agreements whose next cycle is due.
        Index("ix_allowance_next_renewal", "next_renewal"),
    )

    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id", ondelete="RESTRICT"), unique=True)
    cycle: Mapped[Cycle] = mapped_column(Enum(Cycle, native_enum=False, length=32))
    units: Mapped[Decimal] = mapped_column(Money())
    unit_price: Mapped[Decimal] = mapped_column(Money())
    rollover: Mapped[RolloverPolicy] = mapped_column(Enum(RolloverPolicy, native_enum=False, length=32))
    rollover_cap: Mapped[Decimal | None] = mapped_column(Money())
    rollover_cycles: Mapped[int] = mapped_column(Integer, default=1)
    product: Mapped[str] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(100))
    subcategory: Mapped[str | None] = mapped_column(String(100))
    # The number and start of the first cycle not renewed yet (cycle 0 starts on startDate).
    next_cycle: Mapped[int] = mapped_column(Integer, default=0)
    next_renewal: Mapped[dt.date] = mapped_column(Date)


class AllowanceCycle(Model):
    """One renewed cycle: its lot and invoice, and what the previous cycle carried or lost.

    The unique keys make a cycle renew once, however often or concurrently the job runs.
    """

    __tablename__ = "allowance_cycle"
    __table_args__ = (
        UniqueConstraint("agreement_id", "number", name="uq_allowance_cycle_agreement_number"),
        UniqueConstraint("agreement_id", "start", name="uq_allowance_cycle_agreement_start"),
        CheckConstraint("number >= 0", name="number_not_negative"),
        CheckConstraint("carried_units >= 0", name="carried_not_negative"),
        CheckConstraint("expired_units >= 0", name="expired_not_negative"),
    )

    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id", ondelete="RESTRICT"))
    number: Mapped[int] = mapped_column(Integer)
    start: Mapped[dt.date] = mapped_column(Date)
    addition_id: Mapped[int] = mapped_column(ForeignKey("addition.id", ondelete="RESTRICT"), unique=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lot.id", ondelete="RESTRICT"), unique=True)
    # At this cycle's start, from the previous cycle's allowance lot: units carried over
    # (kept in that lot, which now expires later) and units expired.
    carried_units: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    expired_units: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    carried_lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id", ondelete="RESTRICT"))
