"""Allowed business dates (SPEC §8): one validator for every date a caller may name.

Each check raises InvalidInput (BAD_USER_INPUT) naming the field and the allowed
range, before anything changes. `today` defaults to the business date of the one
clock; callers that already hold it pass it in.
"""

from __future__ import annotations

import datetime as dt

from accounting import clock
from accounting.errors import InvalidInput

# How far a time entry may lie in the past, and anything in the future (SPEC §8).
ENTRY_YEARS_BACK = 2
ENTRY_DAYS_AHEAD = 1
PLANNED_YEARS_AHEAD = 1
# The longest statement (SPEC §8).
STATEMENT_YEARS = 5


def years_from(day: dt.date, years: int) -> dt.date:
    """The same day `years` later (or earlier); 29 February becomes 28 February.
    Beyond the calendar's ends (year 1, year 9999) it stops at the end."""
    if not dt.MINYEAR <= day.year + years <= dt.MAXYEAR:
        return dt.date.max if years > 0 else dt.date.min
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def check_between(value: dt.date, field: str, *, earliest: dt.date | None, latest: dt.date | None) -> dt.date:
    """`value` within [earliest, latest] (either bound may be open), else BAD_USER_INPUT
    naming the field and the range."""
    if (earliest is not None and value < earliest) or (latest is not None and value > latest):
        if earliest is not None and latest is not None:
            allowed = f"between {earliest} and {latest}"
        elif latest is not None:
            allowed = f"on or before {latest}"
        else:
            allowed = f"on or after {earliest}"
        raise InvalidInput(f"{field} must be {allowed}, got {value}")
    return value


def check_entry_date(value: dt.date, *, field: str = "date", today: dt.date | None = None) -> dt.date:
    """A time entry's date: not before today - 2 years, not after today + 1 day."""
    day = today or clock.today()
    return check_between(
        value,
        field,
        earliest=years_from(day, -ENTRY_YEARS_BACK),
        latest=day + dt.timedelta(days=ENTRY_DAYS_AHEAD),
    )


def check_planned_date(value: dt.date, *, field: str, today: dt.date | None = None) -> dt.date:
    """A purchase's effectiveDate or an agreement's startDate: at most 1 year ahead."""
    day = today or clock.today()
    return check_between(value, field, earliest=None, latest=years_from(day, PLANNED_YEARS_AHEAD))


def check_not_after_today(value: dt.date, *, field: str, today: dt.date | None = None) -> dt.date:
    """runBilling(throughDate), expireBlocks(asOf), renewAllowances(asOf),
    postJournalBatch(throughDate): not after today."""
    return check_between(value, field, earliest=None, latest=today or clock.today())


def check_range(start: dt.date, end: dt.date, *, start_field: str = "from", end_field: str = "to") -> None:
    """A statement's range: start <= end, at most 5 years long."""
    if start > end:
        raise InvalidInput(f"{start_field} ({start}) must be on or before {end_field} ({end})")
    if end > years_from(start, STATEMENT_YEARS):
        raise InvalidInput(
            f"{end_field} must be between {start} and {years_from(start, STATEMENT_YEARS)} "
            f"(a range of at most {STATEMENT_YEARS} years), got {end}"
        )
