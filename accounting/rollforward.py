"""The deferred revenue rollforward: the auditor's view of the liability (SPEC §8).

opening + purchases - released - breakage - refunded = closing, per agreement and in
total, from the books' recorded events: a lot's paid value on its effectiveDate; usage
on the time entry's date; reversals, write-offs and refunds on the day they were
recorded; expiries on the lot's expiresOn once the expiry job has recorded them.
Tied to the ledger: ledgerClosing (posted deferred revenue, entries dated on or before
`to`) + unposted (the activity dated on or before `to` that the ledger does not hold
by then) - closing = difference, 0.00 when the books agree.

Everything is summed by the database, in hundredths, a fixed number of queries
whatever the history's size. Only agreements whose type reverses revenue when applied
carry the liability; the others are not in it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Row, and_, case, func, literal, select, type_coerce
from sqlalchemy.orm import Session

from accounting.dates import check_range
from accounting.money import CENT, ZERO
from accounting.posting import ADJUSTMENT, INVOICE, LOT_EXPIRY, REVERSAL
from models import (
    Addition,
    Agreement,
    AgreementType,
    JournalEntry,
    JournalLine,
    Lot,
    LotMovement,
    TimeEntry,
)
from models.enums import MovementKind


@dataclass(frozen=True)
class RollforwardRow:
    agreement_id: int
    opening: Decimal
    purchases: Decimal
    released: Decimal
    breakage: Decimal
    refunded: Decimal

    @property
    def closing(self) -> Decimal:
        return self.opening + self.purchases - self.released - self.breakage - self.refunded


@dataclass(frozen=True)
class Rollforward:
    from_date: dt.date
    to_date: dt.date
    opening: Decimal
    purchases: Decimal
    released: Decimal
    breakage: Decimal
    refunded: Decimal
    closing: Decimal
    ledger_closing: Decimal
    unposted: Decimal
    rows: list[RollforwardRow]

    @property
    def difference(self) -> Decimal:
        return self.ledger_closing + self.unposted - self.closing


def _hundredths(column: Any) -> Any:
    return type_coerce(column, BigInteger)


def _sum(condition: Any, amount: Any) -> Any:
    return func.coalesce(func.sum(case((condition, amount), else_=0)), 0)


def _money(value: Any) -> Decimal:
    return (Decimal(int(value or 0)) / 100).quantize(CENT)


def _reversing() -> Any:
    return (
        select(Lot)
        .join(Agreement, Agreement.id == Lot.agreement_id)
        .join(AgreementType, AgreementType.id == Agreement.agreement_type_id)
        .where(AgreementType.reverse_revenue_when_applied.is_(True))
    )


def deferred_revenue_rollforward(session: Session, *, from_date: dt.date, to_date: dt.date) -> Rollforward:
    """The rollforward between two dates, both included (SPEC §8); at most 5 years."""
    check_range(from_date, to_date)
    totals = _totals(_lot_sums(session, from_date, to_date), _movement_sums(session, from_date, to_date))
    ledger_closing = _ledger_closing(session, to_date)

    rows: list[RollforwardRow] = []
    unposted = 0
    for agreement_id in sorted(totals):
        opening, purchases, released, breakage, refunded, dated, held, count = totals[agreement_id]
        unposted += dated - held
        if opening == 0 and dated == 0 and count == 0:
            continue
        rows.append(
            RollforwardRow(
                agreement_id=agreement_id,
                opening=_money(opening),
                purchases=_money(purchases),
                released=_money(released),
                breakage=_money(breakage),
                refunded=_money(refunded),
            )
        )
    return Rollforward(
        from_date=from_date,
        to_date=to_date,
        opening=sum((r.opening for r in rows), ZERO),
        purchases=sum((r.purchases for r in rows), ZERO),
        released=sum((r.released for r in rows), ZERO),
        breakage=sum((r.breakage for r in rows), ZERO),
        refunded=sum((r.refunded for r in rows), ZERO),
        closing=sum((r.closing for r in rows), ZERO),
        ledger_closing=ledger_closing,
        unposted=_money(unposted),
        rows=rows,
    )


def _lot_sums(session: Session, from_date: dt.date, to_date: dt.date) -> Sequence[Row[*tuple[Any, ...]]]:
    # Lots: their paid value on their effectiveDate, held by the purchase invoice's entry.
    paid = case(
        (Addition.id.is_not(None), _hundredths(Addition.amount)),
        else_=(_hundredths(Lot.units) * _hundredths(Lot.unit_price) + 50) // 100,
    )
    return session.execute(
        _reversing()
        .with_only_columns(
            Lot.agreement_id,
            _sum(Lot.effective_date < from_date, paid),
            _sum(and_(Lot.effective_date >= from_date, Lot.effective_date <= to_date), paid),
            _sum(Lot.effective_date <= to_date, paid),
            _sum(JournalEntry.date <= to_date, paid),
            func.sum(
                case((and_(Lot.effective_date >= from_date, Lot.effective_date <= to_date), 1), else_=0)
            ),
        )
        .outerjoin(Addition, Addition.id == Lot.addition_id)
        .outerjoin(
            JournalEntry,
            and_(JournalEntry.source_type == INVOICE, JournalEntry.source_id == Addition.invoice_id),
        )
        .group_by(Lot.agreement_id)
    ).all()


def _movement_sums(session: Session, from_date: dt.date, to_date: dt.date) -> Sequence[Row[*tuple[Any, ...]]]:
    # Movements, each held by the journal entry that posted it (if any): usage by its
    # usage invoice (or, never invoiced but reversed, by the reversal), a reversal by the
    # reversal, an expiry by itself, a write-off by its adjustment, a refund by its memo.
    kind = LotMovement.kind
    invoiced = and_(kind == MovementKind.USAGE, TimeEntry.usage_invoice_id.is_not(None))
    holder_type = case(
        (invoiced, literal(INVOICE)),
        (kind.in_([MovementKind.USAGE, MovementKind.REVERSAL]), literal(REVERSAL)),
        (kind == MovementKind.EXPIRY, literal(LOT_EXPIRY)),
        (kind == MovementKind.WRITE_OFF, literal(ADJUSTMENT)),
        else_=literal(INVOICE),
    )
    holder_id = case(
        (invoiced, TimeEntry.usage_invoice_id),
        (kind.in_([MovementKind.USAGE, MovementKind.REVERSAL]), LotMovement.time_entry_id),
        (kind == MovementKind.EXPIRY, LotMovement.id),
        (kind == MovementKind.WRITE_OFF, LotMovement.adjustment_id),
        else_=LotMovement.invoice_id,
    )
    value = _hundredths(LotMovement.value)
    signed = case((kind == MovementKind.REVERSAL, value), else_=-value)
    dated_in = and_(LotMovement.date >= from_date, LotMovement.date <= to_date)
    return session.execute(
        _reversing()
        .with_only_columns(
            Lot.agreement_id,
            _sum(LotMovement.date < from_date, signed),
            _sum(and_(dated_in, kind == MovementKind.USAGE), value),
            _sum(and_(dated_in, kind == MovementKind.REVERSAL), value),
            _sum(and_(dated_in, kind.in_([MovementKind.EXPIRY, MovementKind.WRITE_OFF])), value),
            _sum(and_(dated_in, kind == MovementKind.REFUND), value),
            _sum(LotMovement.date <= to_date, signed),
            _sum(JournalEntry.date <= to_date, signed),
            func.sum(case((dated_in, 1), else_=0)),
        )
        .join(LotMovement, LotMovement.lot_id == Lot.id)
        .outerjoin(TimeEntry, TimeEntry.id == LotMovement.time_entry_id)
        .outerjoin(
            JournalEntry, and_(JournalEntry.source_type == holder_type, JournalEntry.source_id == holder_id)
        )
        .group_by(Lot.agreement_id)
    ).all()


def _ledger_closing(session: Session, to_date: dt.date) -> Decimal:
    """The deferred accounts' balance in the ledger on to_date."""
    deferred_accounts = (
        _reversing()
        .with_only_columns(Lot.deferred_account_id)
        .where(Lot.deferred_account_id.is_not(None))
        .distinct()
    )
    return _money(
        session.scalar(
            select(
                _sum(
                    JournalEntry.date <= to_date,
                    _hundredths(JournalLine.credit) - _hundredths(JournalLine.debit),
                )
            )
            .select_from(JournalLine)
            .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
            .where(JournalLine.account_id.in_(deferred_accounts))
        )
    )


def _totals(
    lot_rows: Sequence[Row[*tuple[Any, ...]]], movement_rows: Sequence[Row[*tuple[Any, ...]]]
) -> dict[int, list[int]]:
    """Per agreement, in hundredths: opening, purchases, released, breakage, refunded,
    dated, held (by a posted entry), and how many lots and movements fall in the range."""
    totals: dict[int, list[int]] = {}
    for agreement_id, opening, purchases, dated, held, count in lot_rows:
        row = totals.setdefault(agreement_id, [0] * 8)
        row[0] += int(opening)
        row[1] += int(purchases)
        row[5] += int(dated)
        row[6] += int(held)
        row[7] += int(count or 0)
    for agreement_id, opening, usage, reversal, breakage, refunded, dated, held, count in movement_rows:
        row = totals.setdefault(agreement_id, [0] * 8)
        row[0] += int(opening)
        row[2] += int(usage) - int(reversal)
        row[3] += int(breakage)
        row[4] += int(refunded)
        row[5] += int(dated)
        row[6] += int(held)
        row[7] += int(count or 0)
    return totals
