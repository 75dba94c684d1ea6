"""Closed periods and the posting date (SPEC §8).

Once the books are closed through a date, no journal entry is ever dated on or before
it: whatever arrives late for a closed period (time logged back-dated, a reversal, an
expiry found late) is invoiced and posted the day after the close, while the time
entry, the invoice line and the lot movement keep their own dates.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from accounting.errors import InvalidInput
from models import (
    JournalEntry,
    PeriodClose,
)

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
