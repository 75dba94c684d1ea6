"""Closing the books through a date (SPEC §8): refused, naming what is left, while
anything dated on or before it would still write a journal entry.

What "would write an entry" means is posting's to say: the drafts it builds. An
invoice, adjustment, expiry or reversal worth nothing (a usage invoice of a block
sold at 0.00, say) writes no entry and is never batched on its own (a batch is never
empty), so it cannot hold a close back; the next batch that posts takes it along.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from accounting import clock
from accounting.errors import Conflict, InvalidInput
from accounting.posting import ADJUSTMENT, INVOICE, LOT_EXPIRY, REVERSAL, draft_chunks, unposted
from accounting.records import lock_counter
from models import Invoice, JournalBatch, JournalEntry, Lot, PeriodClose, TimeEntry
from models.enums import BatchStatus, BillableOption

_NOUNS = {
    ADJUSTMENT: ("unposted adjustment", "adjustments"),
    LOT_EXPIRY: ("unposted expiry", "expiries"),
    REVERSAL: ("unposted reversal", "reversals"),
}


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
    due = _count(
        session, Lot, Lot.expires_on.is_not(None), Lot.expires_on <= through, Lot.units_remaining > 0
    )
    if due:
        left.append(f"{_many(due, 'lot', 'lots')} with expiries due but not recorded (run expireBlocks)")
    left += _unposted_entries(session, through=through)
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


def _unposted_entries(session: Session, *, through: dt.date) -> list[str]:
    """The drafts dated on or before `through` that would write an entry, in words
    (counted a chunk at a time, as posting builds them)."""
    waiting: dict[str, int] = {}
    first_invoices: list[int] = []
    for drafts, _context in draft_chunks(session, unposted(session, through_date=through)):
        for draft in drafts:
            if draft.legs and draft.date <= through:
                waiting[draft.source_type] = waiting.get(draft.source_type, 0) + 1
                if draft.source_type == INVOICE and len(first_invoices) < 5:
                    first_invoices.append(draft.source_id)
    left: list[str] = []
    invoices = waiting.pop(INVOICE, 0)
    if invoices:
        numbers = session.scalars(
            select(Invoice.number).where(Invoice.id.in_(first_invoices)).order_by(Invoice.date, Invoice.id)
        ).all()
        shown = ", ".join(numbers) + (", ..." if invoices > 5 else "")
        left.append(f"{_many(invoices, 'unposted invoice', 'invoices')} ({shown})")
    for source_type, (singular, plural) in _NOUNS.items():
        if waiting.get(source_type):
            left.append(_many(waiting[source_type], singular, plural))
    return left
