"""Closed periods and the posting date (SPEC §8).

Once the books are closed through a date, no journal entry is ever dated on or before
it: whatever arrives late for a closed period (time logged back-dated, a reversal, an
expiry found late) is invoiced and posted the day after the close, while the time
entry, the invoice line and the lot movement keep their own dates.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from accounting import clock
from accounting.errors import Conflict, InvalidInput
from accounting.records import lock_counter
from models import (
    Adjustment,
    Invoice,
    JournalBatch,
    JournalEntry,
    Lot,
    LotMovement,
    PeriodClose,
    TimeEntry,
)
from models.enums import BatchStatus, BillableOption, MovementKind

ONE_DAY = dt.timedelta(days=1)


def closed_through(session: Session) -> dt.date | None:
    """The last day of the closed periods; None while none is closed."""
    return session.scalar(select(func.max(PeriodClose.through)))


def posting_date(date: dt.date, *, closed: dt.date | None) -> dt.date:
    """The date the books carry something dated `date`: its own date, or the day after
    the close when it falls inside a closed period. The one place this is decided."""
    if closed is not None and date <= closed:
        return closed + ONE_DAY
    return date


def posting_date_of(session: Session, date: dt.date) -> dt.date:
    return posting_date(date, closed=closed_through(session))


def refuse_closed(session: Session, *, date: dt.date, field: str) -> None:
    """A purchase or adjustment may not take effect inside a closed period."""
    closed = closed_through(session)
    if closed is not None and date <= closed:
        raise InvalidInput(
            f"{field} {date.isoformat()} is inside a closed period: the books are closed through "
            f"{closed.isoformat()}, so {field} must be on or after {(closed + ONE_DAY).isoformat()}"
        )


def _count(session: Session, model: type, *conditions: object) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)  # type: ignore[arg-type]


def _many(count: int, singular: str, plural_noun: str) -> str:
    """The count and its noun, the last word made plural unless there is one:
    1 unposted invoice, 2 unposted invoices."""
    words = singular.rsplit(" ", 1)
    noun = plural_noun if count != 1 else words[-1]
    return " ".join([str(count), *words[:-1], noun])


def unposted_through(session: Session, *, through: dt.date) -> list[str]:
    """What dated on or before `through` is not yet in a posted batch, in words; empty when nothing."""
    left: list[str] = []
    unbilled = _count(
        session,
        TimeEntry,
        TimeEntry.billed.is_(False),
        TimeEntry.reversed.is_(False),
        TimeEntry.date <= through,
        TimeEntry.billable_option != BillableOption.DO_NOT_BILL,
        or_(TimeEntry.units_applied > 0, TimeEntry.amount_billable > 0),
    )
    if unbilled:
        left.append(f"{_many(unbilled, 'unbilled covered or billable time entry', 'entries')} (run billing)")
    invoices = session.scalars(
        select(Invoice.number)
        .where(Invoice.batch_id.is_(None), Invoice.date <= through)
        .order_by(Invoice.date, Invoice.id)
        .limit(6)
    ).all()
    if invoices:
        total = _count(session, Invoice, Invoice.batch_id.is_(None), Invoice.date <= through)
        shown = ", ".join(invoices[:5]) + (", ..." if total > 5 else "")
        left.append(f"{_many(total, 'unposted invoice', 'invoices')} ({shown})")
    due = _count(
        session, Lot, Lot.expires_on.is_not(None), Lot.expires_on <= through, Lot.units_remaining > 0
    )
    if due:
        left.append(f"{_many(due, 'lot', 'lots')} with expiries due but not recorded (run expireBlocks)")
    expiries = _count(
        session,
        LotMovement,
        LotMovement.kind == MovementKind.EXPIRY,
        LotMovement.batch_id.is_(None),
        LotMovement.date <= through,
    )
    if expiries:
        left.append(_many(expiries, "unposted expiry", "expiries"))
    adjustments = _count(
        session, Adjustment, Adjustment.batch_id.is_(None), Adjustment.units < 0, Adjustment.date <= through
    )
    if adjustments:
        left.append(_many(adjustments, "unposted adjustment", "adjustments"))
    reversals = _count(
        session,
        TimeEntry,
        TimeEntry.reversed.is_(True),
        TimeEntry.reversal_batch_id.is_(None),
        TimeEntry.reversed_on <= through,
    )
    if reversals:
        left.append(_many(reversals, "unposted reversal", "reversals"))
    pending = session.scalars(
        select(JournalBatch.identifier)
        .where(JournalBatch.status == BatchStatus.PENDING)
        .order_by(JournalBatch.id)
    ).all()
    if pending:
        left.append(f"{_many(len(pending), 'PENDING journal batch', 'batches')} ({', '.join(pending[:5])})")
    return left


def close_period(session: Session, *, through: dt.date, today: dt.date | None = None) -> PeriodClose:
    """Close the books through a date (SPEC §8).

    `through` must be before today and not before the current close. CONFLICT, naming
    what is left, while anything dated on or before it is unposted. Closing again
    through the current date changes nothing.
    """
    day = today or clock.today()
    if through >= day:
        raise InvalidInput(f"through must be before today ({day.isoformat()}), got {through.isoformat()}")
    # Billing, posting and invoice numbering wait for the close (and it for them), so
    # nothing is invoiced or posted into the period while it is checked.
    for name in ("billing", "posting", "invoice"):
        lock_counter(session, name)
    current = session.scalars(select(PeriodClose).order_by(PeriodClose.through.desc()).limit(1)).first()
    if current is not None and through < current.through:
        raise InvalidInput(
            f"through must not be before the current close ({current.through.isoformat()}), "
            f"got {through.isoformat()}"
        )
    if current is not None and through == current.through:
        return current
    left = unposted_through(session, through=through)
    if left:
        raise Conflict(f"cannot close through {through.isoformat()}: " + "; ".join(left))
    close = PeriodClose(through=through, last_entry_id=session.scalar(select(func.max(JournalEntry.id))))
    session.add(close)
    session.flush()
    return close


def entries_inside_closed_period(session: Session) -> bool:
    """True if a journal entry written after a close is dated inside it (never, by construction)."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    PeriodClose.through >= JournalEntry.date,
                    JournalEntry.id > func.coalesce(PeriodClose.last_entry_id, 0),
                )
            )
        )
    )
