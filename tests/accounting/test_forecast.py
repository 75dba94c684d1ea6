"""SPEC §11: at the pace of the last `days` days, how long the balance lasts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from accounting import agreements, drawdown
from accounting.errors import InvalidInput
from accounting.forecast import forecast
from models import Agreement
from testkit import factories

D = Decimal
TODAY = dt.date(2026, 6, 30)


def block(session: Session, *, units: str = "20", expire_after_months: int | None = None) -> Agreement:
    rates = factories.rates(session)
    kind = factories.block_time_type(session, rates=rates, expire_after_months=expire_after_months)
    agreement = factories.agreement(session, agreement_type=kind, start=dt.date(2026, 1, 1))
    agreements.purchase_block(
        session,
        agreement_id=agreement.id,
        units=D(units),
        unit_price=D("100.00"),
        effective_date=dt.date(2026, 1, 1),
        today=dt.date(2026, 1, 1),
    )
    session.info["rates"] = rates
    return agreement


def log(session: Session, agreement: Agreement, hours: str, day: dt.date) -> int:
    rates: factories.Rates = session.info["rates"]
    entry = factories.log_time(
        session,
        agreement=agreement,
        rates=rates,
        date=day,
        hours=hours,
    )
    return entry.id


class TestForecast:
    def test_pace_of_the_window_cover_and_run_out_day(self, session: Session) -> None:
        agreement = block(session)
        log(session, agreement, "4", TODAY - dt.timedelta(days=30))  # one day before the window
        log(session, agreement, "3", TODAY - dt.timedelta(days=29))  # its first day
        log(session, agreement, "2", TODAY)  # its last day

        result = forecast(session, agreement=agreement, days=30, today=TODAY)

        # 5 units in 30 days; 20 - 9 = 11 left: 11 / (5/30) = 66.00 days.
        assert result.usage_per_day == D("0.17")
        assert result.days_of_cover == D("66.00")
        assert result.runs_out_on == TODAY + dt.timedelta(days=66)

    def test_cover_comes_from_the_exact_pace_and_the_day_from_the_rounded_cover(
        self, session: Session
    ) -> None:
        agreement = block(session, units="10")
        log(session, agreement, "3", TODAY - dt.timedelta(days=3))

        result = forecast(session, agreement=agreement, days=7, today=TODAY)

        # 3/7 = 0.428.. per day; 7 left: 7 x 7 / 3 = 16.333.. days.
        assert result.usage_per_day == D("0.43")
        assert result.days_of_cover == D("16.33")
        assert result.runs_out_on == dt.date(2026, 7, 16)

    def test_reversals_in_the_window_are_netted(self, session: Session) -> None:
        agreement = block(session)
        kept = log(session, agreement, "6", TODAY - dt.timedelta(days=40))
        reversed_later = log(session, agreement, "3", TODAY - dt.timedelta(days=35))
        log(session, agreement, "3", TODAY - dt.timedelta(days=2))
        drawdown.reverse_time_entry(session, time_entry_id=reversed_later, today=TODAY - dt.timedelta(days=1))
        assert kept

        result = forecast(session, agreement=agreement, days=30, today=TODAY)

        # In the window: 3 drawn, 3 given back (the reversal is dated the day it was recorded).
        assert result.usage_per_day == D("0.00")
        assert result.days_of_cover is None
        assert result.runs_out_on is None

    def test_nothing_drawn_means_no_cover_and_no_day(self, session: Session) -> None:
        agreement = block(session)

        result = forecast(session, agreement=agreement, days=30, today=TODAY)

        assert (result.days, result.usage_per_day, result.days_of_cover, result.runs_out_on) == (
            30,
            D("0.00"),
            None,
            None,
        )

    def test_a_depleted_agreement_ran_out_today(self, session: Session) -> None:
        agreement = block(session, units="5")
        log(session, agreement, "5", TODAY - dt.timedelta(days=1))

        result = forecast(session, agreement=agreement, days=10, today=TODAY)

        assert (result.usage_per_day, result.days_of_cover, result.runs_out_on) == (
            D("0.50"),
            D("0.00"),
            TODAY,
        )

    def test_units_that_expire_before_the_run_out_day_leave_it_open(self, session: Session) -> None:
        # Bought 2026-01-01 with 12 months of life: the units expire on 2027-01-01.
        agreement = block(session, units="100", expire_after_months=12)
        log(session, agreement, "3", TODAY - dt.timedelta(days=1))

        slow = forecast(session, agreement=agreement, days=30, today=TODAY)
        # 97 / (3/30) = 970 days: far beyond the expiry, so no run-out day is promised.
        assert (slow.days_of_cover, slow.runs_out_on) == (D("970.00"), None)

        log(session, agreement, "90", TODAY)
        fast = forecast(session, agreement=agreement, days=30, today=TODAY)
        # 7 / (93/30) = 2.258 days: they run out before the expiry.
        assert (fast.days_of_cover, fast.runs_out_on) == (D("2.26"), TODAY + dt.timedelta(days=2))

    @pytest.mark.parametrize("days", [0, -1, 1827])
    def test_a_window_outside_one_day_to_five_years_is_refused(self, session: Session, days: int) -> None:
        agreement = block(session)

        with pytest.raises(InvalidInput, match="days must be between 1 and 1826"):
            forecast(session, agreement=agreement, days=days, today=TODAY)

    def test_the_database_sums_the_window_whatever_the_number_of_entries(self, session: Session) -> None:
        agreement = block(session, units="500")
        for n in range(40):
            log(session, agreement, "1", TODAY - dt.timedelta(days=n % 30))
        session.flush()
        statements: list[str] = []

        def count(*args: object) -> None:
            statements.append(str(args[2]))

        bind = session.get_bind()
        event.listen(bind, "before_cursor_execute", count)
        try:
            result = forecast(session, agreement=agreement, days=30, today=TODAY)
        finally:
            event.remove(bind, "before_cursor_execute", count)

        assert result.usage_per_day == D("1.33")
        # One sum over the window, the balance (type and lots), the earliest expiry.
        assert len(statements) <= 4, statements
        assert not any("FROM time_entry" in s for s in statements)
