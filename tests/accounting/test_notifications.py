"""SPEC §5: LOW_BALANCE once per crossing, re-armed by a purchase that lifts the balance
above the threshold, whatever order the evaluation jobs run in."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting import agreements, drawdown
from models import Agreement, Notification, TimeEntry
from testkit import factories

D = Decimal
DAY = dt.date(2026, 1, 5)


def setup(session: Session) -> tuple[factories.Rates, Agreement]:
    rates = factories.rates(session)
    block = factories.block_time_type(session, rates=rates, threshold=D("2"))
    agreement = factories.agreement(session, agreement_type=block)
    return rates, agreement


def buy(session: Session, agreement: Agreement, units: str) -> None:
    agreements.purchase_block(
        session, agreement_id=agreement.id, units=D(units), unit_price=D("140.00"), effective_date=DAY
    )


def work(session: Session, rates: factories.Rates, agreement: Agreement, hours: str) -> TimeEntry:
    return factories.log_time(
        session,
        agreement=agreement,
        rates=rates,
        date=DAY,
        hours=hours,
    )


def low_balance_alerts(session: Session) -> list[Decimal]:
    return list(
        session.scalars(
            select(Notification.units_remaining)
            .where(Notification.kind == "LOW_BALANCE")
            .order_by(Notification.id)
        )
    )


class TestLowBalance:
    def test_a_crossing_right_after_a_purchase_is_announced_even_before_its_evaluation_ran(
        self, session: Session
    ) -> None:
        rates, agreement = setup(session)
        buy(session, agreement, "10")
        work(session, rates, agreement, "8.5")
        assert factories.run_evaluations(session) == ["LOW_BALANCE"]

        # The purchase lifts 1.50 h to 11.50 h and 10 h of work drops it to 1.50 h again,
        # both before either evaluation job runs (a busy worker).
        buy(session, agreement, "10")
        work(session, rates, agreement, "10")

        assert factories.run_evaluations(session) == ["LOW_BALANCE"]
        assert low_balance_alerts(session) == [D("1.50"), D("1.50")]

    def test_units_given_back_re_arm_the_alert_as_a_purchase_does(self, session: Session) -> None:
        rates, agreement = setup(session)
        buy(session, agreement, "10")
        work(session, rates, agreement, "1")
        mistake = work(session, rates, agreement, "7.5")
        assert factories.run_evaluations(session) == ["LOW_BALANCE"]

        # The reversal gives 7.50 h back (1.50 h -> 9.00 h); 8 h more drop it to 1.00 h,
        # both before either evaluation job runs.
        drawdown.reverse_time_entry(session, time_entry_id=mistake.id, today=DAY)
        work(session, rates, agreement, "8")

        assert factories.run_evaluations(session) == ["LOW_BALANCE"]
        assert low_balance_alerts(session) == [D("1.50"), D("1.00")]

    def test_a_purchase_that_leaves_the_balance_low_raises_nothing_new(self, session: Session) -> None:
        rates, agreement = setup(session)
        buy(session, agreement, "10")
        work(session, rates, agreement, "9")
        assert factories.run_evaluations(session) == ["LOW_BALANCE"]

        buy(session, agreement, "0.5")  # 1.00 h -> 1.50 h: still at or below the threshold

        assert factories.run_evaluations(session) == []
        assert low_balance_alerts(session) == [D("1.00")]
