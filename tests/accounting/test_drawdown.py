"""SPEC §2: coverage, FIFO draw-down, AMOUNT agreements, overruns and reversal."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounting import agreements, billing, catalog, drawdown
from accounting.errors import InsufficientBalance, InvalidInput
from models import Invoice, InvoiceLine, Lot, LotMovement, TimeEntry
from models.enums import (
    AgreementStatus,
    ApplicationUnits,
    BillableOption,
    Coverage,
    InvoiceKind,
)
from testkit import factories

D = Decimal
DAY = dt.date(2026, 3, 3)


@pytest.fixture
def world(session: Session):  # type: ignore[no-untyped-def]
    rates = factories.rates(session)
    return session, rates


def log(
    session: Session,
    rates: factories.Rates,
    agreement,
    hours: str,
    *,
    work_type=None,
    role=None,  # type: ignore[no-untyped-def]
    day: dt.date = DAY,
    option: BillableOption = BillableOption.BILLABLE,
    explicit: bool = True,
) -> TimeEntry:
    return drawdown.log_time(
        session,
        company_id=agreement.company_id,
        agreement_id=agreement.id if explicit else None,
        work_type_id=(work_type or rates.remote).id,
        work_role_id=(role or rates.engineer).id,
        date=day,
        hours=D(hours),
        billable_option=option,
    )


class TestCoverage:
    def test_each_reason_is_recorded(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        block = factories.block_time_type(session, rates=rates)
        junior = catalog.create_work_role(session, name="Junior", hourly_rate=D("80.00"))
        block.excluded_work_roles = [junior]
        acme = factories.agreement(session, agreement_type=block, start=DAY, end=DAY + dt.timedelta(days=30))
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("5"), unit_price=D("100.00"), effective_date=DAY
        )
        assert log(session, rates, acme, "1").coverage is Coverage.COVERED
        assert (
            log(session, rates, acme, "1", work_type=rates.after_hours).coverage
            is Coverage.EXCLUDED_WORK_TYPE
        )
        assert log(session, rates, acme, "1", role=junior).coverage is Coverage.EXCLUDED_WORK_ROLE
        assert (
            log(session, rates, acme, "1", day=DAY - dt.timedelta(days=1)).coverage
            is Coverage.OUTSIDE_AGREEMENT_DATES
        )
        assert log(session, rates, acme, "1", option=BillableOption.NO_CHARGE).coverage is Coverage.NO_CHARGE
        assert (
            log(session, rates, acme, "1", option=BillableOption.DO_NOT_BILL).coverage is Coverage.DO_NOT_BILL
        )
        acme.status = AgreementStatus.CANCELLED
        assert log(session, rates, acme, "1").coverage is Coverage.AGREEMENT_NOT_ACTIVE
        assert agreements.balance(session, acme).units_remaining == D("4.00")

    def test_without_agreement_the_oldest_covering_one_with_units_is_used(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        block = factories.block_time_type(session, rates=rates)
        old = factories.agreement(session, agreement_type=block, start=DAY - dt.timedelta(days=90))
        new = agreements.create_agreement(
            session,
            company_id=old.company_id,
            agreement_type_id=block.id,
            name="second",
            start_date=DAY - dt.timedelta(days=10),
        )
        agreements.purchase_block(
            session, agreement_id=new.id, units=D("2"), unit_price=D("100.00"), effective_date=DAY
        )
        entry = log(session, rates, old, "1", explicit=False)
        assert (entry.agreement_id, entry.coverage) == (new.id, Coverage.COVERED)
        agreements.purchase_block(
            session, agreement_id=old.id, units=D("2"), unit_price=D("100.00"), effective_date=DAY
        )
        assert log(session, rates, old, "1", explicit=False).agreement_id == old.id
        excluded = log(session, rates, old, "1", explicit=False, work_type=rates.after_hours)
        assert (excluded.agreement_id, excluded.coverage, excluded.amount_billable) == (
            None,
            Coverage.EXCLUDED_WORK_TYPE,
            D("225.00"),
        )

    def test_no_agreement_at_all_is_billed_standard(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        company = catalog.create_company(session, identifier="SOLO", name="Solo")
        entry = drawdown.log_time(
            session,
            company_id=company.id,
            work_type_id=rates.remote.id,
            work_role_id=rates.engineer.id,
            date=DAY,
            hours=D("0.75"),
        )
        assert (entry.coverage, entry.hours_billable, entry.amount_billable) == (
            Coverage.NO_AGREEMENT,
            D("0.75"),
            D("112.50"),
        )

    def test_time_for_another_companys_agreement_is_refused(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        other = catalog.create_company(session, identifier="OTHER", name="Other")
        with pytest.raises(InvalidInput, match="does not belong"):
            drawdown.log_time(
                session,
                company_id=other.id,
                agreement_id=acme.id,
                work_type_id=rates.remote.id,
                work_role_id=rates.engineer.id,
                date=DAY,
                hours=D("1"),
            )


class TestFifoDrawDown:
    def test_draws_oldest_lot_first_recording_each_draw(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        agreements.purchase_block(
            session,
            agreement_id=acme.id,
            units=D("2"),
            unit_price=D("150.00"),
            effective_date=DAY - dt.timedelta(days=2),
        )
        agreements.purchase_block(
            session,
            agreement_id=acme.id,
            units=D("2"),
            unit_price=D("120.00"),
            effective_date=DAY - dt.timedelta(days=1),
        )
        entry = log(session, rates, acme, "3")
        draws = session.execute(
            select(LotMovement.units, LotMovement.value, Lot.unit_price)
            .join(Lot, Lot.id == LotMovement.lot_id)
            .where(LotMovement.time_entry_id == entry.id)
            .order_by(LotMovement.id)
        ).all()
        assert draws == [(D("2.00"), D("300.00"), D("150.00")), (D("1.00"), D("120.00"), D("120.00"))]

    def test_the_entry_and_lots_in_the_session_are_what_was_written(self, world) -> None:  # type: ignore[no-untyped-def]
        """logTime writes the entry, the lots and the movements without the unit of work's
        flush (issue 15): what the session holds must be what the database holds, and
        nothing may be left to write."""
        session, rates = world
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        for units, price, days_before in (("2", "150.00", 2), ("2", "120.00", 1)):
            agreements.purchase_block(
                session,
                agreement_id=acme.id,
                units=D(units),
                unit_price=D(price),
                effective_date=DAY - dt.timedelta(days=days_before),
            )

        entry = log(session, rates, acme, "3")
        lots = session.scalars(select(Lot).where(Lot.agreement_id == acme.id).order_by(Lot.id)).all()
        held = [(lot.units_remaining, lot.units_applied) for lot in lots]
        columns = [c.key for c in TimeEntry.__table__.columns]
        held_entry = {key: getattr(entry, key) for key in columns}
        pending = (set(session.new), set(session.dirty))
        session.expire_all()
        stored = session.execute(
            select(Lot.units_remaining, Lot.units_applied).where(Lot.agreement_id == acme.id).order_by(Lot.id)
        ).all()
        stored_entry = {key: getattr(session.get(TimeEntry, entry.id), key) for key in columns}

        assert pending == (set(), set())
        assert held == [tuple(row) for row in stored] == [(D("0.00"), D("2.00")), (D("1.00"), D("1.00"))]
        assert held_entry == stored_entry
        assert (held_entry["units_applied"], held_entry["covered_value"], held_entry["billed"]) == (
            D("3.00"),
            D("450.00"),
            False,
        )

    def test_odd_prices_release_exactly_what_was_paid(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        acme = factories.agreement(
            session, agreement_type=factories.block_time_type(session, rates=rates, threshold=None)
        )
        addition = agreements.purchase_block(
            session,
            agreement_id=acme.id,
            units=D("1"),
            unit_price=D("0.99"),
            effective_date=DAY,
        )
        for _ in range(3):
            log(session, rates, acme, "0.33")
        log(session, rates, acme, "0.01")
        released = session.scalar(select(func.sum(LotMovement.value)))
        assert released == addition.amount == D("0.99")
        assert agreements.balance(session, acme).deferred_revenue == D("0.00")

    def test_expired_lots_are_not_drawn(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        block = factories.block_time_type(session, rates=rates, expire_after_months=1)
        acme = factories.agreement(session, agreement_type=block)
        agreements.purchase_block(
            session,
            agreement_id=acme.id,
            units=D("5"),
            unit_price=D("100.00"),
            effective_date=dt.date(2026, 1, 31),
        )
        with pytest.raises(InsufficientBalance):
            log(session, rates, acme, "1", day=dt.date(2026, 2, 28))
        assert log(session, rates, acme, "1", day=dt.date(2026, 2, 27)).units_applied == D("1.00")


class TestAmountAgreements:
    def test_discounted_credit_releases_the_price_paid(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        credit = factories.block_time_type(
            session, rates=rates, units=ApplicationUnits.AMOUNT, threshold=None
        )
        globex = factories.agreement(session, agreement_type=credit, identifier="GLOBEX")
        agreements.purchase_block(
            session, agreement_id=globex.id, units=D("2000.00"), unit_price=D("0.90"), effective_date=DAY
        )
        entry = log(session, rates, globex, "3.5")
        assert (entry.value, entry.units_applied) == (D("525.00"), D("525.00"))
        moved = session.scalars(select(LotMovement).where(LotMovement.time_entry_id == entry.id)).one()
        assert moved.value == D("472.50")
        b = agreements.balance(session, globex)
        assert (b.units_remaining, b.deferred_revenue) == (D("1475.00"), D("1327.50"))


class TestOverruns:
    def test_without_overruns_nothing_changes(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("1"), unit_price=D("100.00"), effective_date=DAY
        )
        session.commit()
        with pytest.raises(InsufficientBalance, match=r"1\.00 h left"):
            log(session, rates, acme, "1.5")
        session.rollback()
        assert session.scalar(select(func.count(TimeEntry.id))) == 0
        assert agreements.balance(session, acme).units_remaining == D("1.00")

    def test_with_overruns_the_rest_is_billed_standard(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        acme = factories.agreement(
            session, agreement_type=factories.block_time_type(session, rates=rates), allow_overruns=True
        )
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("1"), unit_price=D("100.00"), effective_date=DAY
        )
        entry = log(session, rates, acme, "2.5")
        assert (entry.coverage, entry.units_applied, entry.hours_billable, entry.amount_billable) == (
            Coverage.OVERRUN,
            D("1.00"),
            D("1.50"),
            D("225.00"),
        )
        invoices = billing.run_billing(session, through_date=DAY)
        assert [(i.kind, i.total) for i in invoices] == [
            (InvoiceKind.AGREEMENT_USAGE, D("0.00")),
            (InvoiceKind.STANDARD, D("225.00")),
        ]
        assert agreements.balance(session, acme).units_remaining == D("0.00")


class TestReversal:
    def test_units_return_to_the_very_lots_they_came_from(self, world) -> None:  # type: ignore[no-untyped-def]
        session, rates = world
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        first = agreements.purchase_block(
            session,
            agreement_id=acme.id,
            units=D("1"),
            unit_price=D("150.00"),
            effective_date=DAY - dt.timedelta(days=1),
        )
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("5"), unit_price=D("140.00"), effective_date=DAY
        )
        entry = log(session, rates, acme, "2")
        log(session, rates, acme, "1")
        drawdown.reverse_time_entry(session, time_entry_id=entry.id, today=DAY)
        lots = {lot.addition_id: lot.units_remaining for lot in session.scalars(select(Lot))}
        assert lots == {first.id: D("1.00"), first.id + 1: D("4.00")}
        assert billing.run_billing(session, through_date=DAY)[0].total == D("0.00")
        lines = session.scalars(select(InvoiceLine).where(InvoiceLine.time_entry_id == entry.id)).all()
        assert lines == []
        assert session.scalar(select(func.count(Invoice.id))) == 3
