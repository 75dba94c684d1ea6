"""SPEC §8: the business day, lots in effect on a date, choosing the agreement, allowed dates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting import agreements, batches, billing, clock, dates, drawdown, expiry, ledger
from accounting.errors import InsufficientBalance, InvalidInput
from models import Lot, LotMovement, OutboxJob, TimeEntry
from models.enums import Coverage, MovementKind
from models.settings import Settings
from testkit import factories

D = Decimal
DAY = dt.date(2026, 3, 3)


@pytest.fixture
def world(session: Session):  # type: ignore[no-untyped-def]
    rates = factories.rates(session)
    return session, rates


def log(
    session: Session, rates: factories.Rates, agreement, hours: str, day: dt.date, *, explicit: bool = True
) -> TimeEntry:  # type: ignore[no-untyped-def]
    return drawdown.log_time(
        session,
        company_id=agreement.company_id,
        agreement_id=agreement.id if explicit else None,
        work_type_id=rates.remote.id,
        work_role_id=rates.engineer.id,
        date=day,
        hours=D(hours),
    )


def drawn_from(session: Session, entry: TimeEntry) -> list[tuple[int, Decimal]]:
    return [
        (m.lot_id, m.units)
        for m in session.scalars(
            select(LotMovement)
            .where(LotMovement.time_entry_id == entry.id, LotMovement.kind == MovementKind.USAGE)
            .order_by(LotMovement.id)
        )
    ]


def lot_of(session: Session, addition_id: int) -> int:
    return session.scalars(select(Lot.id).where(Lot.addition_id == addition_id)).one()


class TestBusinessDay:
    def test_today_is_the_date_in_the_installations_time_zone(self) -> None:
        late_evening_utc = dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC)
        assert clock.business_day(late_evening_utc, ZoneInfo("UTC")) == dt.date(2026, 11, 30)
        assert clock.business_day(late_evening_utc, ZoneInfo("Europe/Berlin")) == dt.date(2026, 12, 1)
        assert clock.business_day(late_evening_utc, ZoneInfo("America/New_York")) == dt.date(2026, 11, 30)
        assert clock.today(ZoneInfo("UTC")) == dt.datetime.now(dt.UTC).date()

    def test_the_setting_defaults_to_utc_and_refuses_an_unknown_zone(self) -> None:
        assert Settings().timezone == "UTC"
        assert Settings(BLOCKTIME_TIMEZONE="Pacific/Auckland").timezone == "Pacific/Auckland"
        for bad in ("Mars/Olympus", "../../etc/passwd", ""):
            with pytest.raises(ValueError, match="BLOCKTIME_TIMEZONE must be an IANA time zone name"):
                Settings(BLOCKTIME_TIMEZONE=bad)

    def test_only_the_clock_reads_the_time(self) -> None:
        import re
        from pathlib import Path

        root = Path(__file__).resolve().parents[2]
        pattern = re.compile(r"date\.today\(\)|datetime\.(now|utcnow)\(")
        readers = [
            str(path.relative_to(root))
            for package in ("api", "workers", "accounting")
            for path in (root / package).rglob("*.py")
            if pattern.search(path.read_text())
        ]
        assert readers == ["accounting/clock.py"]


class TestLotsInEffect:
    def test_a_lot_covers_time_from_its_effective_date_not_the_day_before(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("5"), unit_price=D("100.00"), effective_date=DAY
        )

        with pytest.raises(InsufficientBalance, match=r"has 0\.00 h left"), session.begin_nested():
            log(session, rates, acme, "1", DAY - dt.timedelta(days=1))
        entry = log(session, rates, acme, "1", DAY)
        assert (entry.coverage, entry.units_applied) == (Coverage.COVERED, D("1.00"))

    def test_time_before_every_lot_is_billed_as_overrun_where_overruns_are_allowed(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        block = factories.block_time_type(session, rates=rates, allow_overruns=True)
        acme = factories.agreement(session, agreement_type=block)
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("5"), unit_price=D("100.00"), effective_date=DAY
        )
        entry = log(session, rates, acme, "2", DAY - dt.timedelta(days=30))
        assert (entry.coverage, entry.units_applied, entry.hours_billable, entry.amount_billable) == (
            Coverage.OVERRUN,
            D("0.00"),
            D("2.00"),
            D("300.00"),
        )
        assert agreements.balance(session, acme).units_remaining == D("5.00")

    def test_a_lot_covers_the_day_before_its_expires_on_not_the_day_itself(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        block = factories.block_time_type(session, rates=rates, expire_after_months=1)
        acme = factories.agreement(session, agreement_type=block)
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("5"), unit_price=D("100.00"), effective_date=DAY
        )
        expires_on = dt.date(2026, 4, 3)

        with pytest.raises(InsufficientBalance), session.begin_nested():
            log(session, rates, acme, "1", expires_on)
        assert log(session, rates, acme, "1", expires_on - dt.timedelta(days=1)).coverage is Coverage.COVERED

    def test_fifo_draws_only_among_the_lots_in_effect_on_the_entrys_date(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        block = factories.block_time_type(session, rates=rates, expire_after_months=2)
        acme = factories.agreement(session, agreement_type=block)
        early = agreements.purchase_block(
            session, agreement_id=acme.id, units=D("3"), unit_price=D("100.00"), effective_date=DAY
        )
        later = agreements.purchase_block(
            session,
            agreement_id=acme.id,
            units=D("3"),
            unit_price=D("90.00"),
            effective_date=DAY + dt.timedelta(days=40),
        )
        lot_early, lot_later = (lot_of(session, a.id) for a in (early, later))

        # Both in effect on day 45: FIFO takes the older first, then the newer.
        both = log(session, rates, acme, "4", DAY + dt.timedelta(days=45))
        assert drawn_from(session, both) == [(lot_early, D("3.00")), (lot_later, D("1.00"))]
        # On day 70 the early lot has expired (expiresOn 3 May): only the later one covers.
        late = log(session, rates, acme, "1", dt.date(2026, 5, 3))
        assert drawn_from(session, late) == [(lot_later, D("1.00"))]

    def test_a_back_dated_entry_after_a_later_one_draws_what_was_in_effect_on_its_date(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        first = agreements.purchase_block(
            session, agreement_id=acme.id, units=D("2"), unit_price=D("100.00"), effective_date=DAY
        )
        second = agreements.purchase_block(
            session,
            agreement_id=acme.id,
            units=D("5"),
            unit_price=D("80.00"),
            effective_date=DAY + dt.timedelta(days=10),
        )
        lot_first, lot_second = (lot_of(session, a.id) for a in (first, second))
        later = log(session, rates, acme, "1", DAY + dt.timedelta(days=20))
        assert drawn_from(session, later) == [(lot_first, D("1.00"))]
        # Back-dated before the second block took effect: only the first lot's last hour is there.
        with pytest.raises(InsufficientBalance, match=r"has 1\.00 h left"), session.begin_nested():
            log(session, rates, acme, "2", DAY + dt.timedelta(days=5))
        back = log(session, rates, acme, "1", DAY + dt.timedelta(days=5))
        assert drawn_from(session, back) == [(lot_first, D("1.00"))]
        assert log(session, rates, acme, "2", DAY + dt.timedelta(days=21)).units_applied == D("2.00")
        assert agreements.balance(session, acme, as_of=DAY + dt.timedelta(days=30)).units_remaining == D(
            "3.00"
        )
        assert lot_second

    def test_a_write_off_takes_only_units_in_effect_today(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        today = clock.today()
        agreements.purchase_block(
            session,
            agreement_id=acme.id,
            units=D("4"),
            unit_price=D("100.00"),
            effective_date=today + dt.timedelta(days=5),
        )
        with pytest.raises(InsufficientBalance, match=r"cannot write off 1 units: 0\.00 remain"):
            agreements.adjust_agreement(session, agreement_id=acme.id, units=D("-1"), reason="typo")


class TestChoosingTheAgreement:
    def _two(self, session: Session, rates: factories.Rates, *, allow_overruns: bool):  # type: ignore[no-untyped-def]
        block = factories.block_time_type(session, rates=rates, allow_overruns=allow_overruns)
        old = factories.agreement(session, agreement_type=block, start=DAY - dt.timedelta(days=90))
        new = agreements.create_agreement(
            session,
            company_id=old.company_id,
            agreement_type_id=block.id,
            name="second",
            start_date=DAY - dt.timedelta(days=10),
        )
        return old, new

    def test_the_oldest_covering_agreement_with_units_in_effect_on_the_date(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        old, new = self._two(session, rates, allow_overruns=False)
        # The old agreement's block takes effect later than the entry; the new one's covers it.
        agreements.purchase_block(
            session,
            agreement_id=old.id,
            units=D("2"),
            unit_price=D("100.00"),
            effective_date=DAY + dt.timedelta(days=1),
        )
        agreements.purchase_block(
            session, agreement_id=new.id, units=D("2"), unit_price=D("100.00"), effective_date=DAY
        )
        assert log(session, rates, old, "1", DAY, explicit=False).agreement_id == new.id
        assert (
            log(session, rates, old, "1", DAY + dt.timedelta(days=1), explicit=False).agreement_id == old.id
        )

    def test_with_no_units_anywhere_the_oldest_covering_agreements_overrun_rule_applies(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        old, _new = self._two(session, rates, allow_overruns=False)
        with (
            pytest.raises(InsufficientBalance, match=rf"agreement {old.id} has 0\.00 h left"),
            session.begin_nested(),
        ):
            log(session, rates, old, "1", DAY, explicit=False)
        assert session.scalars(select(TimeEntry)).all() == []

    def test_with_no_units_and_overruns_allowed_the_entry_is_an_overrun_on_the_oldest(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        old, _new = self._two(session, rates, allow_overruns=True)
        entry = log(session, rates, old, "1.5", DAY, explicit=False)
        assert (entry.agreement_id, entry.coverage, entry.amount_billable) == (
            old.id,
            Coverage.OVERRUN,
            D("225.00"),
        )

    def test_with_no_covering_agreement_it_is_billed_standard(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        old, _new = self._two(session, rates, allow_overruns=False)
        before_start = DAY - dt.timedelta(days=200)
        entry = log(session, rates, old, "1", before_start, explicit=False)
        assert (entry.agreement_id, entry.coverage, entry.amount_billable) == (
            None,
            Coverage.OUTSIDE_AGREEMENT_DATES,
            D("150.00"),
        )


class TestAllowedDates:
    def test_a_time_entrys_date_lies_within_two_years_back_and_one_day_ahead(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        acme = factories.agreement(
            session,
            agreement_type=factories.block_time_type(session, rates=rates, allow_overruns=True),
            start=dt.date(2020, 1, 1),
        )
        today = clock.today()
        earliest, latest = dates.years_from(today, -2), today + dt.timedelta(days=1)
        for bad in (
            earliest - dt.timedelta(days=1),
            latest + dt.timedelta(days=1),
            dt.date(1900, 1, 1),
            dt.date(9999, 12, 31),
        ):
            with pytest.raises(
                InvalidInput, match=f"date must be between {earliest} and {latest}, got {bad}"
            ):
                log(session, rates, acme, "1", bad)
        assert session.scalars(select(TimeEntry)).all() == []
        assert log(session, rates, acme, "1", earliest).date == earliest
        assert log(session, rates, acme, "1", latest).date == latest

    def test_effective_and_start_dates_at_most_a_year_ahead(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        block = factories.block_time_type(session, rates=rates)
        acme = factories.agreement(session, agreement_type=block)
        latest = dates.years_from(clock.today(), 1)
        with pytest.raises(InvalidInput, match=f"effectiveDate must be on or before {latest}"):
            agreements.purchase_block(
                session,
                agreement_id=acme.id,
                units=D("1"),
                unit_price=D("1.00"),
                effective_date=latest + dt.timedelta(days=1),
            )
        assert (
            agreements.purchase_block(
                session, agreement_id=acme.id, units=D("1"), unit_price=D("1.00"), effective_date=latest
            ).effective_date
            == latest
        )
        with pytest.raises(InvalidInput, match=f"startDate must be on or before {latest}"):
            agreements.create_agreement(
                session,
                company_id=acme.company_id,
                agreement_type_id=block.id,
                name="x",
                start_date=dt.date(9999, 12, 31),
            )

    def test_runs_may_not_name_a_day_after_today_and_nothing_is_enqueued(self, session: Session) -> None:
        tomorrow = clock.today() + dt.timedelta(days=1)
        for request, field in (
            (lambda: billing.request_billing_run(session, through_date=tomorrow), "throughDate"),
            (lambda: expiry.request_expiry(session, as_of=dt.date(2099, 1, 1)), "asOf"),
            (lambda: batches.create_batch(session, through_date=tomorrow), "throughDate"),
        ):
            with pytest.raises(InvalidInput, match=f"{field} must be on or before {clock.today()}"):
                request()
        assert session.scalars(select(OutboxJob)).all() == []
        job = expiry.request_expiry(session)
        assert job.args == f'{{"as_of": "{clock.today().isoformat()}"}}'

    def test_the_checks_name_the_field_and_the_range(self) -> None:
        today = dt.date(2026, 11, 30)
        with pytest.raises(InvalidInput, match=r"^asOf must be on or before 2026-11-30, got 2026-12-01$"):
            dates.check_not_after_today(dt.date(2026, 12, 1), field="asOf", today=today)
        assert dates.check_not_after_today(today, field="asOf", today=today) == today
        assert dates.years_from(dt.date(2028, 2, 29), 1) == dt.date(2029, 2, 28)
        assert dates.years_from(dt.date(9999, 1, 1), 5) == dt.date.max
        with pytest.raises(InvalidInput, match=r"from \(2026-02-01\) must be on or before to \(2026-01-31\)"):
            dates.check_range(dt.date(2026, 2, 1), dt.date(2026, 1, 31))
        with pytest.raises(InvalidInput, match="a range of at most 5 years"):
            dates.check_range(dt.date(2020, 1, 1), dt.date(2025, 1, 2))
        dates.check_range(dt.date(2020, 1, 1), dt.date(2025, 1, 1))


class TestReconciliationAsOfToday:
    def test_the_books_view_future_purchases_in_none_of_the_figures(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        factories.chart_of_accounts(session)
        today = clock.today()
        block = factories.block_time_type(session, rates=rates, expire_after_months=1)
        acme = factories.agreement(session, agreement_type=block, start=dates.years_from(today, -1))
        # In effect a month ago, expired today: the books hold it until the expiry is recorded.
        month_ago = today - dt.timedelta(days=40)
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("2"), unit_price=D("100.00"), effective_date=month_ago
        )
        # In effect today, and a block taking effect next week.
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("4"), unit_price=D("50.00"), effective_date=today
        )
        agreements.purchase_block(
            session,
            agreement_id=acme.id,
            units=D("10"),
            unit_price=D("90.00"),
            effective_date=today + dt.timedelta(days=7),
        )
        log(session, rates, acme, "1", today + dt.timedelta(days=1))  # tomorrow's time: not today's books

        rec = ledger.deferred_revenue_reconciliation(session)
        assert (rec.ledger_balance, rec.unposted_activity, rec.agreements_total, rec.difference) == (
            D("0.00"),
            D("400.00"),
            D("400.00"),
            D("0.00"),
        )
        assert agreements.balance(session, acme).units_remaining == D("4.00")  # the customer's view

        batch = batches.create_batch(session, through_date=today)
        batches.post_batch(session, batch_id=batch.id)
        rec = ledger.deferred_revenue_reconciliation(session)
        assert (rec.ledger_balance, rec.unposted_activity, rec.agreements_total) == (
            D("400.00"),
            D("0.00"),
            D("400.00"),
        )

        expiry.expire_blocks(session, as_of=today)
        rec = ledger.deferred_revenue_reconciliation(session)
        assert (rec.ledger_balance, rec.unposted_activity, rec.agreements_total, rec.difference) == (
            D("400.00"),
            D("-200.00"),
            D("200.00"),
            D("0.00"),
        )


class TestCancellation:
    def test_a_refund_leaves_out_expired_units_and_includes_units_not_yet_in_effect(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        today = clock.today()
        block = factories.block_time_type(session, rates=rates, expire_after_months=1)
        acme = factories.agreement(session, agreement_type=block, start=dates.years_from(today, -1))
        agreements.purchase_block(
            session,
            agreement_id=acme.id,
            units=D("3"),
            unit_price=D("100.00"),
            effective_date=today - dt.timedelta(days=45),
        )
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("2"), unit_price=D("120.00"), effective_date=today
        )
        agreements.purchase_block(
            session,
            agreement_id=acme.id,
            units=D("1"),
            unit_price=D("90.00"),
            effective_date=today + dt.timedelta(days=3),
        )
        agreements.cancel_agreement(session, agreement_id=acme.id, refund_unused=True)
        refunded = session.scalars(
            select(LotMovement.units).where(LotMovement.kind == MovementKind.REFUND).order_by(LotMovement.id)
        ).all()
        assert refunded == [D("2.00"), D("1.00")]  # the expired 3 h stay for the expiry job (breakage)
