"""Allowance cycles: when they start, when they stop, and what rolls over (SPEC §9).

Rules without writes, shared by the renewal (accounting.allowances) and the EXPIRING
check (accounting.expiring).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting.agreements import add_months
from accounting.money import ZERO
from models import Agreement, Allowance, AllowanceCycle
from models.enums import AgreementStatus, Cycle, RolloverPolicy

MONTHS_PER_CYCLE = {Cycle.MONTHLY: 1, Cycle.QUARTERLY: 3, Cycle.YEARLY: 12}


def cycle_start(start_date: dt.date, cycle: Cycle, number: int) -> dt.date:
    """The start of cycle `number` (0 = startDate): startDate plus that many periods,
    the day clamped to the month's last (a start on Jan 31 renews on Feb 28/29, Mar 31).

    Computed from startDate each time, never from the previous (possibly clamped) start.
    """
    return add_months(start_date, number * MONTHS_PER_CYCLE[cycle])


def renews(agreement: Agreement, start: dt.date) -> bool:
    """Cycles stop at the agreement's endDate and at its cancellation."""
    if agreement.status is AgreementStatus.CANCELLED:
        return False
    return agreement.end_date is None or start <= agreement.end_date


def next_renewal(agreement: Agreement, allowance: Allowance) -> dt.date | None:
    """The start of the next cycle not yet renewed; None once the agreement has ended."""
    return allowance.next_renewal if renews(agreement, allowance.next_renewal) else None


def carry_over(allowance: Allowance, remaining: Decimal) -> Decimal:
    """How many of a cycle's unused units the next cycle carries (SPEC §9)."""
    if allowance.rollover is RolloverPolicy.ALL:
        return remaining
    if allowance.rollover is RolloverPolicy.CAPPED and allowance.rollover_cap is not None:
        return min(remaining, allowance.rollover_cap)
    return ZERO


def allowance_lot_ends(session: Session, lot_ids: list[int]) -> dict[int, Allowance]:
    """Of these lots, those that are their agreement's current cycle's allowance lot,
    with the allowance: at their expiresOn the next cycle decides what carries."""
    if not lot_ids:
        return {}
    rows = session.execute(
        select(AllowanceCycle.lot_id, Allowance)
        .join(Allowance, Allowance.agreement_id == AllowanceCycle.agreement_id)
        .where(AllowanceCycle.lot_id.in_(lot_ids), AllowanceCycle.number == Allowance.next_cycle - 1)
    ).all()
    return dict(rows)
