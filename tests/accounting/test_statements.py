"""SPEC §8: balances on a date and statements that add up."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from accounting import agreements, drawdown, expiry, statements
from accounting.errors import InvalidInput
from models import Agreement
from models.enums import StatementLineKind as Kind
from testkit import factories

D = Decimal
DAY = dt.date(2026, 3, 2)


def days(n: int) -> dt.date:
    return DAY + dt.timedelta(days=n)


@pytest.fixture
def world(session: Session):  # type: ignore[no-untyped-def]
    rates = factories.rates(session)
    return session, rates


def log(session: Session, rates: factories.Rates, agreement: Agreement, hours: str, day: dt.date):  # type: ignore[no-untyped-def]
    return factories.log_time(
        session,
        agreement=agreement,
        rates=rates,
        date=day,
        hours=hours,
    )


def assert_adds_up(session: Session, statement: statements.Statement) -> None:
    """opening + lines = closing in units and value; unitsAfter runs; both ends are balances."""
    opening = agreements.balance(session, statement.agreement, as_of=statement.start - dt.timedelta(days=1))
    closing = agreements.balance(session, statement.agreement, as_of=statement.end)
    assert (statement.opening_units, statement.opening_value) == (
        opening.units_remaining,
        opening.deferred_revenue,
    )
    assert (statement.closing_units, statement.closing_value) == (
        closing.units_remaining,
        closing.deferred_revenue,
    )
    running = statement.opening_units
    for line in statement.lines:
        assert statement.start <= line.date <= statement.end
        running += line.units
        assert line.units_after == running
    assert running == statement.closing_units
    assert statement.opening_value + sum((x.value for x in statement.lines), D(0)) == statement.closing_value
    assert [x.date for x in statement.lines] == sorted(x.date for x in statement.lines)


def rows(statement: statements.Statement) -> list[tuple[dt.date, Kind, Decimal, Decimal, Decimal]]:
    return [(x.date, x.kind, x.units, x.value, x.units_after) for x in statement.lines]


class TestBalanceOnADate:
    def test_lots_count_only_while_in_effect_whether_or_not_the_expiry_job_ran(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        block = factories.block_time_type(session, rates=rates, expire_after_months=1)
        acme = factories.agreement(session, agreement_type=block)
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("10"), unit_price=D("150.00"), effective_date=DAY
        )
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("4"), unit_price=D("100.00"), effective_date=days(20)
        )
        log(session, rates, acme, "3", days(1))

        before = agreements.balance(session, acme, as_of=days(-1))
        assert (before.units_remaining, before.units_scheduled, before.units_purchased) == (
            D("0.00"),
            D("14.00"),
            D("0.00"),
        )
        on_day = agreements.balance(session, acme, as_of=DAY)
        assert (on_day.units_remaining, on_day.deferred_revenue, on_day.units_scheduled) == (
            D("10.00"),
            D("1500.00"),
            D("4.00"),
        )
        assert (on_day.next_expires_on, on_day.units_expiring_next) == (dt.date(2026, 4, 2), D("10.00"))
        after_use = agreements.balance(session, acme, as_of=days(1))
        assert (after_use.units_remaining, after_use.units_applied) == (D("7.00"), D("3.00"))
        # 1 April, the last day of the first block; 2 April, its expiresOn: gone, job or not.
        last_day = agreements.balance(session, acme, as_of=dt.date(2026, 4, 1))
        assert (last_day.units_remaining, last_day.units_expired) == (D("11.00"), D("0.00"))
        expired = agreements.balance(session, acme, as_of=dt.date(2026, 4, 2))
        assert (expired.units_remaining, expired.units_expired, expired.deferred_revenue) == (
            D("4.00"),
            D("7.00"),
            D("400.00"),
        )
        assert (expired.next_expires_on, expired.units_expiring_next) == (dt.date(2026, 4, 22), D("4.00"))
        assert (
            expired.units_remaining == expired.units_purchased - expired.units_applied - expired.units_expired
        )

        expiry.expire_blocks(session, as_of=dt.date(2026, 4, 2))
        assert agreements.balance(session, acme, as_of=dt.date(2026, 4, 2)) == expired
        assert agreements.balance(session, acme, as_of=days(1)) == after_use

    def test_a_balance_costs_one_statement_whatever_the_history(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("500"), unit_price=D("10.00"), effective_date=DAY
        )
        for n in range(60):
            log(session, rates, acme, "1", days(n))
        session.flush()
        statements_run: list[str] = []

        def count(*args: object) -> None:
            statements_run.append(str(args[2]))

        connection = session.connection()
        event.listen(connection, "before_cursor_execute", count)
        try:
            today = agreements.balance(session, acme)
            past = agreements.balance(session, acme, as_of=days(30))
        finally:
            event.remove(connection, "before_cursor_execute", count)
        # One per balance: the type's thresholds and the lots, their later movements summed.
        assert len(statements_run) == 2
        assert all("GROUP BY" in statement.upper() for statement in statements_run)
        assert (today.units_remaining, past.units_remaining) == (D("440.00"), D("469.00"))


class TestStatement:
    def test_every_kind_of_line_in_date_order_adding_up(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        block = factories.block_time_type(session, rates=rates, expire_after_months=1, threshold=None)
        acme = factories.agreement(session, agreement_type=block)
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("10"), unit_price=D("150.00"), effective_date=DAY
        )
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("5"), unit_price=D("140.00"), effective_date=days(10)
        )
        used = log(session, rates, acme, "3", days(2))
        log(session, rates, acme, "8", days(12))  # 7 h from the first block, 1 h from the second
        drawdown.reverse_time_entry(session, time_entry_id=used.id, today=days(14))
        agreements.adjust_agreement(
            session, agreement_id=acme.id, units=D("1"), reason="goodwill", today=days(15)
        )
        agreements.adjust_agreement(
            session, agreement_id=acme.id, units=D("-0.5"), reason="duplicate", today=days(16)
        )
        agreements.cancel_agreement(session, agreement_id=acme.id, refund_unused=True, today=days(40))

        statement = statements.statement(session, agreement=acme, start=DAY, end=days(45))
        assert_adds_up(session, statement)
        assert rows(statement) == [
            (DAY, Kind.PURCHASE, D("10.00"), D("1500.00"), D("10.00")),
            (days(2), Kind.USAGE, D("-3.00"), D("-450.00"), D("7.00")),
            (days(10), Kind.PURCHASE, D("5.00"), D("700.00"), D("12.00")),
            (days(12), Kind.USAGE, D("-8.00"), D("-1190.00"), D("4.00")),
            (days(14), Kind.REVERSAL, D("3.00"), D("450.00"), D("7.00")),
            (days(15), Kind.ADJUSTMENT, D("1.00"), D("0.00"), D("8.00")),
            (days(16), Kind.ADJUSTMENT, D("-0.50"), D("-75.00"), D("7.50")),
            # The first block expires on 2 April with the 2.5 h it still held.
            (dt.date(2026, 4, 2), Kind.EXPIRY, D("-2.50"), D("-375.00"), D("5.00")),
            (days(40), Kind.REFUND, D("-4.00"), D("-560.00"), D("1.00")),
        ]
        assert statement.lines[1].time_entry is not None and statement.lines[1].time_entry.id == used.id
        assert statement.lines[0].addition is not None and statement.lines[0].addition.units == D("10.00")
        assert statement.lines[5].description == "Complimentary units: goodwill"
        assert statement.lines[8].description.startswith("Refunded on credit memo INV-")

    def test_a_day_s_movements_are_listed_in_the_order_they_were_recorded(self, world) -> None:  # type: ignore[no-untyped-def]
        """A technician logs 1 h to the wrong ticket, reverses it and logs it again, all on
        one day, from a 1 h block: the statement never shows less than nothing left (found
        by the hypothesis history test: usage was listed before every reversal of the day)."""
        session, rates = world
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("1"), unit_price=D("150.00"), effective_date=DAY
        )
        wrong = log(session, rates, acme, "1", days(1))
        drawdown.reverse_time_entry(session, time_entry_id=wrong.id, today=days(1))
        right = log(session, rates, acme, "1", days(1))
        agreements.adjust_agreement(
            session, agreement_id=acme.id, units=D("2"), reason="goodwill", today=days(1)
        )
        agreements.adjust_agreement(
            session, agreement_id=acme.id, units=D("-0.5"), reason="duplicate", today=days(1)
        )

        statement = statements.statement(session, agreement=acme, start=DAY, end=days(1))
        assert_adds_up(session, statement)
        assert rows(statement) == [
            (DAY, Kind.PURCHASE, D("1.00"), D("150.00"), D("1.00")),
            # Complimentary units arrive with the day's purchases, before its usage.
            (days(1), Kind.ADJUSTMENT, D("2.00"), D("0.00"), D("3.00")),
            (days(1), Kind.USAGE, D("-1.00"), D("-150.00"), D("2.00")),
            (days(1), Kind.REVERSAL, D("1.00"), D("150.00"), D("3.00")),
            (days(1), Kind.USAGE, D("-1.00"), D("-150.00"), D("2.00")),
            (days(1), Kind.ADJUSTMENT, D("-0.50"), D("0.00"), D("1.50")),
        ]
        assert [line.time_entry.id for line in statement.lines[2:5] if line.time_entry] == [
            wrong.id,
            wrong.id,
            right.id,
        ]

    @pytest.mark.xfail(
        strict=True,
        reason="known, left for a decision (closing note of 2026-12-01): time dated before a "
        "reversal recorded later draws the units the reversal gave back, so the balance on its "
        "date goes below zero; SPEC 8 dates reversals on the day recorded and draws from the "
        "lots' units left now",
    )
    def test_time_back_dated_before_a_reversal_never_leaves_less_than_nothing_on_its_date(
        self, world
    ) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("2"), unit_price=D("150.00"), effective_date=DAY
        )
        wrong = log(session, rates, acme, "2", days(2))
        drawdown.reverse_time_entry(session, time_entry_id=wrong.id, today=days(5))
        log(session, rates, acme, "2", days(2))  # the right ticket, dated the day the work was done

        assert agreements.balance(session, acme, as_of=days(2)).units_remaining >= 0
        statement = statements.statement(session, agreement=acme, start=DAY, end=days(5))
        assert min(line.units_after for line in statement.lines) >= 0

    def test_any_window_of_the_history_adds_up(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        block = factories.block_time_type(session, rates=rates, expire_after_months=1, allow_overruns=True)
        acme = factories.agreement(session, agreement_type=block)
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("1"), unit_price=D("0.99"), effective_date=DAY
        )
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("3"), unit_price=D("33.33"), effective_date=days(5)
        )
        log(session, rates, acme, "0.33", days(8))
        log(session, rates, acme, "0.33", days(3))  # back-dated after a later one
        log(session, rates, acme, "2.2", days(20))
        for start in range(-2, 40, 3):
            for length in (0, 1, 6, 30):
                assert_adds_up(
                    session,
                    statements.statement(
                        session, agreement=acme, start=days(start), end=days(start + length)
                    ),
                )

    def test_a_block_on_its_effective_date_and_on_its_expires_on(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        block = factories.block_time_type(session, rates=rates, expire_after_months=1)
        acme = factories.agreement(session, agreement_type=block)
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("2"), unit_price=D("100.00"), effective_date=DAY
        )
        on_effective = statements.statement(session, agreement=acme, start=DAY, end=DAY)
        assert (on_effective.opening_units, rows(on_effective)) == (
            D("0.00"),
            [(DAY, Kind.PURCHASE, D("2.00"), D("200.00"), D("2.00"))],
        )
        on_expiry = statements.statement(
            session, agreement=acme, start=dt.date(2026, 4, 2), end=dt.date(2026, 4, 2)
        )
        assert (on_expiry.opening_units, rows(on_expiry), on_expiry.closing_units) == (
            D("2.00"),
            [(dt.date(2026, 4, 2), Kind.EXPIRY, D("-2.00"), D("-200.00"), D("0.00"))],
            D("0.00"),
        )
        expiry.expire_blocks(session, as_of=dt.date(2026, 4, 30))
        assert rows(statements.statement(session, agreement=acme, start=DAY, end=dt.date(2026, 4, 30)))[
            -1
        ] == (
            dt.date(2026, 4, 2),
            Kind.EXPIRY,
            D("-2.00"),
            D("-200.00"),
            D("0.00"),
        )

    def test_a_refund_before_a_block_takes_effect_shows_on_its_effective_date(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("2"), unit_price=D("100.00"), effective_date=days(30)
        )
        agreements.cancel_agreement(session, agreement_id=acme.id, refund_unused=True, today=days(1))
        statement = statements.statement(session, agreement=acme, start=DAY, end=days(40))
        assert_adds_up(session, statement)
        assert [(x.date, x.kind, x.units) for x in statement.lines] == [
            (days(30), Kind.PURCHASE, D("2.00")),
            (days(30), Kind.REFUND, D("-2.00")),
        ]

    def test_a_range_is_at_most_five_years_and_from_not_after_to(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        with pytest.raises(InvalidInput, match=r"from \(2026-03-02\) must be on or before to \(2026-03-01\)"):
            statements.statement(session, agreement=acme, start=DAY, end=days(-1))
        with pytest.raises(InvalidInput, match="at most 5 years"):
            statements.statement(session, agreement=acme, start=DAY, end=dt.date(2031, 3, 3))
        assert statements.statement(session, agreement=acme, start=DAY, end=dt.date(2031, 3, 2)).lines == []
        with pytest.raises(InvalidInput, match="from must be after 0001-01-01"):
            statements.statement(session, agreement=acme, start=dt.date.min, end=dt.date.min)
        assert statements.statement(session, agreement=acme, start=dt.date.max, end=dt.date.max).lines == []
