"""FIFO prepaid lots: drawing, returning and expiring units (SPEC §2).

Every movement records the units and the paid value it carries, computed as the
difference of the lot's rounded deferred value before and after, so a lot's
movements add up to exactly what was paid for it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import cast

from sqlalchemy import BindParameter, Select, Table, Update, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from accounting.money import ZERO, paid_value, release
from models import Agreement, Lot, LotMovement
from models.enums import MovementKind


def lock_agreement(session: Session, agreement_id: int) -> Agreement | None:
    """Serialise every change of one agreement's balance (row lock on PostgreSQL;
    SQLite writers already hold the database lock from BEGIN IMMEDIATE)."""
    return session.scalars(_LOCK, {"agreement_id": agreement_id}).first()


# Statements on a hot path are built once, with bound parameters: building a SELECT and
# its cache key per call cost more than running it (issue 15).
_LOCK = (
    select(Agreement)
    .where(Agreement.id == bindparam("agreement_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


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
    stmt = _OPEN_LOTS[(on is not None, unexpired_on is not None)]
    return list(session.scalars(stmt, {"agreement_id": agreement_id, "on": on, "unexpired_on": unexpired_on}))


def _open_lots(on: bool, unexpired_on: bool) -> Select[Lot]:
    stmt = select(Lot).where(Lot.agreement_id == bindparam("agreement_id"), Lot.units_remaining > 0)
    if on:
        day: BindParameter[dt.date] = bindparam("on")
        stmt = stmt.where(Lot.effective_date <= day, or_(Lot.expires_on.is_(None), Lot.expires_on > day))
    if unexpired_on:
        stmt = stmt.where(or_(Lot.expires_on.is_(None), Lot.expires_on > bindparam("unexpired_on")))
    return stmt.order_by(Lot.effective_date, Lot.id).execution_options(populate_existing=True)


_OPEN_LOTS = {
    (on, unexpired): _open_lots(on, unexpired) for on in (False, True) for unexpired in (False, True)
}


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
    """Take `units` from `lots` in order; the caller has checked there are enough.

    The lots' new figures and the movements are written at once, one statement each (not
    through the unit of work's flush: logTime is the hot write path, issue 15); the lots in
    the session then hold the new figures as loaded, not as changes still to write.
    """
    draws: list[Draw] = []
    settled: list[dict[str, Decimal]] = []
    needed = units
    for lot in lots:
        if needed <= 0:
            break
        take = min(lot.units_remaining, needed)
        if take <= 0:
            continue
        value, figures = _settle(lot, take, kind)
        settled.append(figures)
        draws.append(Draw(lot=lot, units=take, value=value))
        needed -= take
    if needed > 0:
        raise AssertionError("take_fifo called with more units than the lots hold")
    if not draws:
        return draws
    session.execute(
        _update_lots(tuple(settled[0])),
        [{"lot_id": draw.lot.id, **figures} for draw, figures in zip(draws, settled, strict=True)],
    )
    session.execute(
        _INSERT_MOVEMENTS,
        [
            {
                "lot_id": draw.lot.id,
                "kind": kind,
                "units": draw.units,
                "value": draw.value,
                "date": date,
                "time_entry_id": time_entry_id,
                "adjustment_id": adjustment_id,
                "invoice_id": invoice_id,
            }
            for draw in draws
        ],
    )
    for draw, figures in zip(draws, settled, strict=True):
        for name, figure in figures.items():
            set_committed_value(draw.lot, name, figure)
    return draws


_MOVEMENTS = cast(Table, LotMovement.__table__)
_INSERT_MOVEMENTS = insert(_MOVEMENTS)
# Where a kind of movement that takes units from a lot counts them.
_TAKEN_INTO = {
    MovementKind.USAGE: "units_applied",
    MovementKind.EXPIRY: "units_expired",
    MovementKind.WRITE_OFF: "units_written_off",
    MovementKind.REFUND: "units_refunded",
}


def _settle(lot: Lot, units: Decimal, kind: MovementKind) -> tuple[Decimal, dict[str, Decimal]]:
    """The paid value `units` taken from the lot carry (round(before) - round(after), so a
    lot's movements add up to what was paid for it) and the lot's figures after."""
    into = _TAKEN_INTO.get(kind)
    if into is None:
        raise ValueError(f"{kind} does not take units from a lot")
    before = lot.units_remaining
    after = before - units
    return release(before, after, lot.unit_price), {
        "units_remaining": after,
        into: getattr(lot, into) + units,
    }


@cache
def _update_lots(names: tuple[str, ...]) -> Update:
    lots = cast(Table, Lot.__table__)
    return update(lots).where(lots.c.id == bindparam("lot_id")).values({n: bindparam(n) for n in names})


def take_from_lot(
    session: Session,
    lot: Lot,
    units: Decimal,
    *,
    kind: MovementKind,
    date: dt.date,
) -> Draw:
    """Take `units` from one lot through the unit of work (the lot's changes and the
    movement are written by the next flush)."""
    value, figures = _settle(lot, units, kind)
    for name, figure in figures.items():
        setattr(lot, name, figure)
    session.add(LotMovement(lot_id=lot.id, kind=kind, units=units, value=value, date=date))
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
