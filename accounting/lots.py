"""FIFO prepaid lots: drawing, returning and expiring units (SPEC §2).

Every movement records the units and the paid value it carries, computed as the
difference of the lot's rounded deferred value before and after, so a lot's
movements add up to exactly what was paid for it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from accounting.money import ZERO, paid_value, release
from models import Agreement, Lot, LotMovement
from models.enums import MovementKind


def lock_agreement(session: Session, agreement_id: int) -> Agreement | None:
    """Serialise every change of one agreement's balance (row lock on PostgreSQL;
    SQLite writers already hold the database lock from BEGIN IMMEDIATE)."""
    stmt = (
        select(Agreement)
        .where(Agreement.id == agreement_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).first()


def open_lots(
    session: Session,
    agreement_id: int,
    *,
    on: dt.date | None = None,
    unexpired_on: dt.date | None = None,
) -> list[Lot]:
    """Lots with units left, first in first out (effectiveDate, then id).

    With `on`, only the lots in effect on that date: effectiveDate <= on < expiresOn
    (SPEC §8) - the lots that may cover time dated `on`. With `unexpired_on`, every
    lot whose expiresOn is after that date, in effect yet or not.
    """
    stmt = select(Lot).where(Lot.agreement_id == agreement_id, Lot.units_remaining > 0)
    if on is not None:
        stmt = stmt.where(Lot.effective_date <= on, or_(Lot.expires_on.is_(None), Lot.expires_on > on))
    if unexpired_on is not None:
        stmt = stmt.where(or_(Lot.expires_on.is_(None), Lot.expires_on > unexpired_on))
    stmt = stmt.order_by(Lot.effective_date, Lot.id).execution_options(populate_existing=True)
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class Draw:
    lot: Lot
    units: Decimal
    value: Decimal


def take_fifo(
    session: Session,
    lots: list[Lot],
    units: Decimal,
    *,
    kind: MovementKind,
    date: dt.date,
    time_entry_id: int | None = None,
    adjustment_id: int | None = None,
    invoice_id: int | None = None,
) -> list[Draw]:
    """Take `units` from `lots` in order; the caller has checked there are enough."""
    draws: list[Draw] = []
    needed = units
    for lot in lots:
        if needed <= 0:
            break
        take = min(lot.units_remaining, needed)
        if take <= 0:
            continue
        draws.append(
            take_from_lot(
                session,
                lot,
                take,
                kind=kind,
                date=date,
                time_entry_id=time_entry_id,
                adjustment_id=adjustment_id,
                invoice_id=invoice_id,
            )
        )
        needed -= take
    if needed > 0:
        raise AssertionError("take_fifo called with more units than the lots hold")
    return draws


def take_from_lot(
    session: Session,
    lot: Lot,
    units: Decimal,
    *,
    kind: MovementKind,
    date: dt.date,
    time_entry_id: int | None = None,
    adjustment_id: int | None = None,
    invoice_id: int | None = None,
) -> Draw:
    before = lot.units_remaining
    after = before - units
    value = release(before, after, lot.unit_price)
    lot.units_remaining = after
    if kind is MovementKind.USAGE:
        lot.units_applied += units
    elif kind is MovementKind.EXPIRY:
        lot.units_expired += units
    elif kind is MovementKind.WRITE_OFF:
        lot.units_written_off += units
    elif kind is MovementKind.REFUND:
        lot.units_refunded += units
    else:
        raise ValueError(f"{kind} does not take units from a lot")
    session.add(
        LotMovement(
            lot_id=lot.id,
            kind=kind,
            units=units,
            value=value,
            date=date,
            time_entry_id=time_entry_id,
            adjustment_id=adjustment_id,
            invoice_id=invoice_id,
        )
    )
    return Draw(lot=lot, units=units, value=value)


def give_back(session: Session, movement: LotMovement, *, date: dt.date) -> Draw:
    """Return a usage draw's units to the very lot it came from."""
    lot = session.scalars(
        select(Lot).where(Lot.id == movement.lot_id).execution_options(populate_existing=True)
    ).one()
    before = lot.units_remaining
    after = before + movement.units
    value = paid_value(after, lot.unit_price) - paid_value(before, lot.unit_price)
    lot.units_remaining = after
    lot.units_applied -= movement.units
    session.add(
        LotMovement(
            lot_id=lot.id,
            kind=MovementKind.REVERSAL,
            units=movement.units,
            value=value,
            date=date,
            time_entry_id=movement.time_entry_id,
        )
    )
    return Draw(lot=lot, units=movement.units, value=value)


def lot_deferred_value(lot: Lot) -> Decimal:
    return paid_value(lot.units_remaining, lot.unit_price) if lot.units_remaining > 0 else ZERO
