"""The demo's data (`blocktime demo`, `make run`): what a first look should show."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting import ledger, statements
from accounting.demo import seed_demo
from models import Agreement

D = Decimal


def test_the_allowance_agreement_shows_carried_over_and_expired_hours_in_its_statement(
    session: Session,
) -> None:
    # Issue 13, point 7: a few months of history, so the statement has ROLLOVER and EXPIRY lines.
    today = dt.date(2026, 11, 30)
    assert seed_demo(session, today=today)
    deal = session.scalars(select(Agreement).where(Agreement.name == "Umbrella 10 h a month")).one()

    st = statements.statement(session, agreement=deal, start=deal.start_date, end=today)

    # Started 2026-08-30; 5, 12 and 3 h used; at most 4 h carried for one month.
    assert [
        (line.date, line.kind.value, line.units, line.carried_units)
        for line in st.lines
        if line.kind.value in ("ROLLOVER", "EXPIRY")
    ] == [
        (dt.date(2026, 9, 30), "EXPIRY", D("-1.00"), None),
        (dt.date(2026, 9, 30), "ROLLOVER", D("0.00"), D("4.00")),
        (dt.date(2026, 10, 30), "ROLLOVER", D("0.00"), D("2.00")),
        (dt.date(2026, 11, 30), "EXPIRY", D("-5.00"), None),
        (dt.date(2026, 11, 30), "ROLLOVER", D("0.00"), D("4.00")),
    ]
    assert (st.closing_units, st.closing_value) == (D("14.00"), D("1750.00"))
    assert ledger.deferred_revenue_reconciliation(session).difference == D("0.00")
