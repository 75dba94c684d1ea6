"""How long an agreement's balance lasts at its recent pace (SPEC §11, contract part "portal").

The usage is summed by the database over the window (one aggregate over the lot
movements dated in it), never by loading the entries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounting import clock
from accounting.agreements import balance
from accounting.errors import InvalidInput
from accounting.money import ZERO, round_money, whole_days
from models import Agreement, Lot, LotMovement
from models.enums import MovementKind

# A window longer than the longest statement range (5 years) says nothing about "the pace now".
MAX_FORECAST_DAYS = 1826


@dataclass(frozen=True)
class Forecast:
    days: int
    usage_per_day: Decimal
    days_of_cover: Decimal | None
    runs_out_on: dt.date | None


def units_drawn(session: Session, *, agreement_id: int, since: dt.date, through: dt.date) -> Decimal:
    """Covered units drawn from the agreement's lots, dated since..through both included, net of reversals."""
    rows = session.execute(
        select(LotMovement.kind, func.sum(LotMovement.units))
        .join(Lot, Lot.id == LotMovement.lot_id)
        .where(
            Lot.agreement_id == agreement_id,
            LotMovement.kind.in_([MovementKind.USAGE, MovementKind.REVERSAL]),
            LotMovement.date >= since,
            LotMovement.date <= through,
        )
        .group_by(LotMovement.kind)
    )
    totals: dict[MovementKind, Decimal] = {kind: units or ZERO for kind, units in rows}
    return totals.get(MovementKind.USAGE, ZERO) - totals.get(MovementKind.REVERSAL, ZERO)


def forecast(
    session: Session, *, agreement: Agreement, days: int = 30, today: dt.date | None = None
) -> Forecast:
    """At the pace of the last `days` days (today included), how long the units last (SPEC §11).

    usagePerDay = net units drawn in the window / days; daysOfCover = unitsRemaining /
    that pace, both rounded to hundredths at the end (the cover is computed from the exact
    pace, not from the rounded one). When reversals outweigh the draws the pace is 0.00:
    the balance is not going down. unitsRemaining and the next expiry are today's balance
    (SPEC §8: lots in effect today; scheduled units do not count yet). runsOutOn is today
    + daysOfCover rounded down, and null when nothing was drawn or when units still left
    expire before that day, so the date would promise more than the customer will have.
    """
    if not 1 <= days <= MAX_FORECAST_DAYS:
        raise InvalidInput(f"days must be between 1 and {MAX_FORECAST_DAYS}, got {days}")
    today = today or clock.today()
    since = today - dt.timedelta(days=days - 1)
    drawn = max(units_drawn(session, agreement_id=agreement.id, since=since, through=today), ZERO)
    usage_per_day = round_money(drawn / days)
    if drawn == 0:
        return Forecast(days=days, usage_per_day=usage_per_day, days_of_cover=None, runs_out_on=None)
    today_balance = balance(session, agreement, as_of=today)
    cover = round_money(max(today_balance.units_remaining, ZERO) * days / drawn)
    runs_out_on = today + dt.timedelta(days=whole_days(cover))
    expiry = today_balance.next_expires_on
    runs_out = None if expiry is not None and expiry < runs_out_on else runs_out_on
    return Forecast(days=days, usage_per_day=usage_per_day, days_of_cover=cover, runs_out_on=runs_out)
