"""SPEC §9: recurring allowances — cycles, renewal, rollover, invoices and postings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounting import (
    agreements,
    allowances,
    batches,
    billing,
    catalog,
    clock,
    expiry,
    ledger,
    notifications,
    statements,
)
from accounting.allowances import AllowanceTerms
from accounting.cycles import cycle_start, next_renewal
from accounting.errors import InvalidInput
from accounting.expiring import check_expiring
from models import (
    Agreement,
    AgreementType,
    AllowanceCycle,
    GLAccount,
    Invoice,
    JournalEntry,
    JournalLine,
    Lot,
    LotMovement,
    Notification,
    OutboxJob,
)
from models.enums import Cycle, InvoiceKind, MovementKind, NotificationKind, RolloverPolicy
from testkit import factories

D = Decimal
TODAY = dt.date(2026, 11, 30)
JAN = dt.date(2026, 1, 1)


def terms(
    rollover: RolloverPolicy = RolloverPolicy.CAPPED,
    *,
    cap: str | None = "5",
    cycles: int | None = None,
    cycle: Cycle = Cycle.MONTHLY,
    units: str = "10",
    price: str = "100.00",
) -> AllowanceTerms:
    return AllowanceTerms(
        cycle=cycle,
        units=D(units),
        unit_price=D(price),
        rollover=rollover,
        rollover_cap=D(cap) if cap is not None and rollover is RolloverPolicy.CAPPED else None,
        rollover_cycles=cycles,
    )


def setup(
    session: Session,
    allowance: AllowanceTerms,
    *,
    start: dt.date = JAN,
    end: dt.date | None = None,
    today: dt.date = TODAY,
) -> tuple[factories.Rates, Agreement]:
    factories.chart_of_accounts(session)
    rates = factories.rates(session)
    block = factories.block_time_type(session, rates=rates)
    company = catalog.create_company(session, identifier="ACME", name="ACME Inc.")
    agreement = allowances.create_agreement_with_allowance(
        session,
        company_id=company.id,
        agreement_type_id=block.id,
        name="ACME monthly hours",
        start_date=start,
        end_date=end,
        allowance=allowance,
        today=today,
    )
    return rates, agreement


def work(session: Session, rates: factories.Rates, agreement: Agreement, day: dt.date, hours: str) -> None:
    factories.log_time(
        session,
        agreement=agreement,
        rates=rates,
        date=day,
        hours=hours,
    )


def renew(session: Session, day: dt.date) -> list[AllowanceCycle]:
    return allowances.renew_allowances(session, as_of=day)


def purchase_invoices(session: Session, agreement: Agreement) -> list[tuple[dt.date, Decimal]]:
    return [
        (i.date, i.total)
        for i in session.scalars(
            select(Invoice)
            .where(Invoice.agreement_id == agreement.id, Invoice.kind == InvoiceKind.PREPAID_PURCHASE)
            .order_by(Invoice.id)
        )
    ]


def lots(session: Session, agreement: Agreement) -> list[tuple[dt.date, dt.date | None, Decimal]]:
    return [
        (lot.effective_date, lot.expires_on, lot.units_remaining)
        for lot in session.scalars(
            select(Lot)
            .where(Lot.agreement_id == agreement.id)
            .order_by(Lot.id)
            .execution_options(populate_existing=True)
        )
    ]


def expiries(session: Session, agreement: Agreement) -> list[tuple[dt.date, Decimal, Decimal]]:
    return [
        (m.date, m.units, m.value)
        for m in session.scalars(
            select(LotMovement)
            .join(Lot, Lot.id == LotMovement.lot_id)
            .where(Lot.agreement_id == agreement.id, LotMovement.kind == MovementKind.EXPIRY)
            .order_by(LotMovement.id)
        )
    ]


def remaining(session: Session, agreement: Agreement, on: dt.date) -> tuple[Decimal, Decimal]:
    b = agreements.balance(session, agreement, as_of=on)
    return b.units_remaining, b.deferred_revenue


def postings_on(session: Session, day: dt.date) -> list[tuple[str, str, Decimal, Decimal]]:
    """(source type, account code, debit, credit) of every journal line dated `day`."""
    return sorted(
        (source, code, debit, credit)
        for source, code, debit, credit in session.execute(
            select(JournalEntry.source_type, GLAccount.code, JournalLine.debit, JournalLine.credit)
            .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
            .join(GLAccount, GLAccount.id == JournalLine.account_id)
            .where(JournalEntry.date == day)
        )
    )


def post_everything(session: Session, through: dt.date) -> dict[str, tuple[Decimal, Decimal]]:
    billing.run_billing(session, through_date=through)
    batch = batches.create_batch(session, through_date=through)
    batches.post_batch(session, batch_id=batch.id)
    return {row.account.code: (row.debit, row.credit) for row in ledger.trial_balance(session)}


class TestCycleStarts:
    def test_a_start_on_the_31st_renews_on_the_last_day_of_shorter_months(self) -> None:
        start = dt.date(2026, 1, 31)
        assert [cycle_start(start, Cycle.MONTHLY, n) for n in range(5)] == [
            dt.date(2026, 1, 31),
            dt.date(2026, 2, 28),
            dt.date(2026, 3, 31),
            dt.date(2026, 4, 30),
            dt.date(2026, 5, 31),
        ]
        assert cycle_start(dt.date(2027, 12, 31), Cycle.MONTHLY, 2) == dt.date(2028, 2, 29)

    def test_each_start_is_counted_from_the_start_date_not_from_the_clamped_one(self) -> None:
        start = dt.date(2026, 11, 30)
        assert [cycle_start(start, Cycle.QUARTERLY, n) for n in range(4)] == [
            dt.date(2026, 11, 30),
            dt.date(2027, 2, 28),
            dt.date(2027, 5, 30),
            dt.date(2027, 8, 30),
        ]

    def test_yearly_from_a_leap_day(self) -> None:
        start = dt.date(2028, 2, 29)
        assert [cycle_start(start, Cycle.YEARLY, n) for n in (0, 1, 4)] == [
            dt.date(2028, 2, 29),
            dt.date(2029, 2, 28),
            dt.date(2032, 2, 29),
        ]


class TestValidation:
    @pytest.mark.parametrize(
        ("allowance", "message"),
        [
            (terms(units="0"), "allowance.units must not be zero"),
            (terms(units="-1"), "allowance.units must not be negative"),
            (terms(price="0"), "allowance.unitPrice must not be zero"),
            (terms(units="1.234"), "allowance.units may have at most 2 decimal places"),
            (terms(RolloverPolicy.CAPPED, cap=None), "allowance.rolloverCap is required"),
            (terms(RolloverPolicy.CAPPED, cap="0"), "allowance.rolloverCap must not be zero"),
            (
                AllowanceTerms(Cycle.MONTHLY, D("10"), D("1"), RolloverPolicy.ALL, rollover_cap=D("2")),
                "allowance.rolloverCap is only allowed with rollover CAPPED",
            ),
            (terms(RolloverPolicy.ALL, cycles=0), "allowance.rolloverCycles must be between 1 and 120"),
        ],
    )
    def test_bad_terms_are_refused_and_change_nothing(
        self, session: Session, allowance: AllowanceTerms, message: str
    ) -> None:
        with pytest.raises(InvalidInput, match=message):
            setup(session, allowance)
        assert session.scalar(select(func.count(Agreement.id))) == 0


class TestCappedRollover:
    def test_three_cycles_with_exact_balances_invoices_expiries_and_postings(self, session: Session) -> None:
        rates, deal = setup(session, terms(RolloverPolicy.CAPPED, cap="5"))
        # Created back-dated: the first cycle at once, dated its start.
        assert purchase_invoices(session, deal) == [(JAN, D("1000.00"))]
        assert next_renewal(deal, allowances.allowance_of(session, deal.id)) == dt.date(2026, 2, 1)

        work(session, rates, deal, dt.date(2026, 1, 10), "2")
        assert [c.start for c in renew(session, dt.date(2026, 2, 1))] == [dt.date(2026, 2, 1)]
        # 8 left: 5 carry (the January lot now ends with February), 3 expire on Feb 1.
        assert lots(session, deal) == [
            (JAN, dt.date(2026, 3, 1), D("5.00")),
            (dt.date(2026, 2, 1), dt.date(2026, 3, 1), D("10.00")),
        ]
        assert expiries(session, deal) == [(dt.date(2026, 2, 1), D("3.00"), D("300.00"))]
        assert remaining(session, deal, dt.date(2026, 2, 1)) == (D("15.00"), D("1500.00"))

        # Carried hours are drawn before the new cycle's.
        work(session, rates, deal, dt.date(2026, 2, 10), "7")
        assert lots(session, deal)[0][2] == D("0.00") and lots(session, deal)[1][2] == D("8.00")

        renew(session, dt.date(2026, 3, 1))
        renew(session, dt.date(2026, 3, 1))  # again: nothing twice
        assert expiries(session, deal) == [
            (dt.date(2026, 2, 1), D("3.00"), D("300.00")),
            (dt.date(2026, 3, 1), D("3.00"), D("300.00")),
        ]
        assert remaining(session, deal, dt.date(2026, 3, 1)) == (D("15.00"), D("1500.00"))

        # April: the 5 carried from February's lot never roll again; March's 10 carry 5.
        renew(session, dt.date(2026, 4, 1))
        assert expiries(session, deal)[2:] == [
            (dt.date(2026, 4, 1), D("5.00"), D("500.00")),
            (dt.date(2026, 4, 1), D("5.00"), D("500.00")),
        ]
        assert lots(session, deal)[2:] == [
            (dt.date(2026, 3, 1), dt.date(2026, 5, 1), D("5.00")),
            (dt.date(2026, 4, 1), dt.date(2026, 5, 1), D("10.00")),
        ]
        assert remaining(session, deal, dt.date(2026, 4, 1)) == (D("15.00"), D("1500.00"))
        cycles = session.scalars(select(AllowanceCycle).order_by(AllowanceCycle.number)).all()
        assert [(c.start, c.carried_units, c.expired_units) for c in cycles] == [
            (JAN, D("0.00"), D("0.00")),
            (dt.date(2026, 2, 1), D("5.00"), D("3.00")),
            (dt.date(2026, 3, 1), D("5.00"), D("3.00")),
            (dt.date(2026, 4, 1), D("5.00"), D("5.00")),
        ]
        assert purchase_invoices(session, deal) == [(dt.date(2026, m, 1), D("1000.00")) for m in (1, 2, 3, 4)]

        trial = post_everything(session, dt.date(2026, 4, 1))
        # 4000 bought; 900 used; 300 + 300 + 500 + 500 broken; 1500 left.
        assert trial["1100"] == (D("4000.00"), D("0.00"))
        assert trial["2400"] == (D("0.00"), D("1500.00"))
        assert trial["4000"] == (D("0.00"), D("900.00"))
        assert trial["4200"] == (D("0.00"), D("1600.00"))
        # A cycle start posts its purchase and the breakage of what did not carry, dated the start;
        # the carry itself posts nothing.
        assert postings_on(session, dt.date(2026, 2, 1)) == [
            ("INVOICE", "1100", D("1000.00"), D("0.00")),
            ("INVOICE", "2400", D("0.00"), D("1000.00")),
            ("LOT_EXPIRY", "2400", D("300.00"), D("0.00")),
            ("LOT_EXPIRY", "4200", D("0.00"), D("300.00")),
        ]
        assert ledger.deferred_revenue_reconciliation(session).difference == D("0.00")


class TestNoneAndAll:
    def test_none_expires_everything_left_at_each_cycle_start(self, session: Session) -> None:
        rates, deal = setup(session, terms(RolloverPolicy.NONE, price="90.00"))
        work(session, rates, deal, dt.date(2026, 1, 5), "4")
        renew(session, dt.date(2026, 3, 1))
        assert expiries(session, deal) == [
            (dt.date(2026, 2, 1), D("6.00"), D("540.00")),
            (dt.date(2026, 3, 1), D("10.00"), D("900.00")),
        ]
        assert remaining(session, deal, dt.date(2026, 3, 1)) == (D("10.00"), D("900.00"))
        assert purchase_invoices(session, deal) == [(dt.date(2026, m, 1), D("900.00")) for m in (1, 2, 3)]
        trial = post_everything(session, dt.date(2026, 3, 1))
        assert trial["2400"] == (D("0.00"), D("900.00"))
        assert trial["4200"] == (D("0.00"), D("1440.00"))
        assert ledger.deferred_revenue_reconciliation(session).difference == D("0.00")

    def test_all_carries_everything_for_rollover_cycles_more_cycles_then_expires_it(
        self, session: Session
    ) -> None:
        rates, deal = setup(session, terms(RolloverPolicy.ALL, cycles=2, price="33.33"))
        work(session, rates, deal, dt.date(2026, 1, 5), "2.5")
        renew(session, dt.date(2026, 2, 1))
        # 7.5 carried at their paid price: nothing posted, the deferred value unchanged.
        assert expiries(session, deal) == []
        assert lots(session, deal)[0] == (JAN, dt.date(2026, 4, 1), D("7.50"))
        assert remaining(session, deal, dt.date(2026, 2, 1)) == (D("17.50"), D("583.28"))
        renew(session, dt.date(2026, 3, 1))
        assert expiries(session, deal) == []
        assert remaining(session, deal, dt.date(2026, 3, 1)) == (D("27.50"), D("916.58"))
        # April 1: January's carried 7.5 reach their end; February's and March's carry on.
        renew(session, dt.date(2026, 4, 1))
        assert expiries(session, deal) == [(dt.date(2026, 4, 1), D("7.50"), D("249.98"))]
        assert remaining(session, deal, dt.date(2026, 4, 1)) == (D("30.00"), D("999.90"))
        assert purchase_invoices(session, deal) == [(dt.date(2026, m, 1), D("333.30")) for m in (1, 2, 3, 4)]
        trial = post_everything(session, dt.date(2026, 4, 1))
        # The carried units reached their end on April 1: breakage, dated then (with April's
        # purchase, and the usage invoice of the billing run through April 1).
        assert postings_on(session, dt.date(2026, 4, 1)) == [
            ("INVOICE", "1100", D("333.30"), D("0.00")),
            ("INVOICE", "2400", D("0.00"), D("333.30")),
            ("INVOICE", "2400", D("83.32"), D("0.00")),
            ("INVOICE", "4000", D("0.00"), D("83.32")),
            ("LOT_EXPIRY", "2400", D("249.98"), D("0.00")),
            ("LOT_EXPIRY", "4200", D("0.00"), D("249.98")),
        ]
        # 4 x 333.30 bought, 2.5 h used (83.32 = 333.30 - round(7.5 x 33.33)), 249.98 broken.
        assert trial["2400"] == (D("0.00"), D("999.90"))
        assert trial["4200"] == (D("0.00"), D("249.98"))
        assert ledger.deferred_revenue_reconciliation(session).difference == D("0.00")


class TestWhenRenewalsStop:
    def test_renewals_stop_at_the_end_date(self, session: Session) -> None:
        _, deal = setup(session, terms(RolloverPolicy.NONE), end=dt.date(2026, 3, 15))
        renew(session, dt.date(2026, 6, 1))
        assert [d for d, _ in purchase_invoices(session, deal)] == [
            JAN,
            dt.date(2026, 2, 1),
            dt.date(2026, 3, 1),
        ]
        assert next_renewal(deal, allowances.allowance_of(session, deal.id)) is None
        # The last cycle's lot simply expires at its expiresOn, like a block.
        expiry.expire_blocks(session, as_of=dt.date(2026, 6, 1))
        assert expiries(session, deal)[-1] == (dt.date(2026, 4, 1), D("10.00"), D("1000.00"))

    def test_renewals_stop_at_cancellation(self, session: Session) -> None:
        _, deal = setup(session, terms(RolloverPolicy.NONE))
        renew(session, dt.date(2026, 2, 1))
        agreements.cancel_agreement(session, agreement_id=deal.id, today=dt.date(2026, 2, 10))
        assert renew(session, dt.date(2026, 6, 1)) == []
        assert len(purchase_invoices(session, deal)) == 2
        assert next_renewal(deal, allowances.allowance_of(session, deal.id)) is None

    def test_a_future_start_renews_nothing_at_creation(self, session: Session) -> None:
        _, deal = setup(session, terms(), start=dt.date(2027, 1, 1), today=TODAY)
        assert purchase_invoices(session, deal) == []
        assert renew(session, TODAY) == []
        assert next_renewal(deal, allowances.allowance_of(session, deal.id)) == dt.date(2027, 1, 1)


class TestCatchUp:
    def test_a_back_dated_agreement_catches_up_in_one_run_oldest_first(self, session: Session) -> None:
        _, deal = setup(session, terms(RolloverPolicy.CAPPED, cap="4"), start=dt.date(2026, 1, 31))
        renewed = renew(session, dt.date(2026, 5, 31))
        assert [c.start for c in renewed] == [
            dt.date(2026, 2, 28),
            dt.date(2026, 3, 31),
            dt.date(2026, 4, 30),
            dt.date(2026, 5, 31),
        ]
        assert [c.number for c in renewed] == [1, 2, 3, 4]
        # Nothing used: each start carries 4 of the ending lot and loses 6, and the
        # carried 4 of the cycle before expire.
        assert [(c.carried_units, c.expired_units) for c in renewed] == [(D("4.00"), D("6.00"))] * 4
        assert remaining(session, deal, dt.date(2026, 5, 31)) == (D("14.00"), D("1400.00"))
        assert [d for d, _ in purchase_invoices(session, deal)] == [dt.date(2026, 1, 31)] + [
            c.start for c in renewed
        ]

    def test_expire_blocks_renews_first_so_a_rollover_is_not_lost_to_a_plain_expiry(
        self, session: Session
    ) -> None:
        _, deal = setup(session, terms(RolloverPolicy.ALL))
        expiry.expire_blocks(session, as_of=dt.date(2026, 2, 1))
        assert expiries(session, deal) == []
        assert remaining(session, deal, dt.date(2026, 2, 1)) == (D("20.00"), D("2000.00"))


class TestOncePerCycle:
    def test_the_database_refuses_a_second_row_for_a_cycle(self, session: Session) -> None:
        _, deal = setup(session, terms())
        first = session.scalars(select(AllowanceCycle)).one()
        with pytest.raises(IntegrityError), session.begin_nested():
            session.add(
                AllowanceCycle(
                    agreement_id=deal.id,
                    number=first.number,
                    start=first.start,
                    addition_id=first.addition_id,
                    lot_id=first.lot_id,
                )
            )

    def test_a_renewal_re_arms_the_low_balance_alerts(self, session: Session) -> None:
        # Alerts compare today's balance (the real date): a 1 h top-up is all there is
        # until the cycle starting today is renewed.
        today = clock.today()
        _, deal = setup(session, terms(RolloverPolicy.NONE), start=today, today=today - dt.timedelta(days=1))
        agreements.purchase_block(
            session, agreement_id=deal.id, units=D("1"), unit_price=D("100.00"), effective_date=today
        )
        assert factories.run_evaluations(session) == ["LOW_BALANCE"]
        epoch = deal.alert_epoch
        renew(session, today)  # the cycle's 10 h lift the balance above the threshold
        assert deal.alert_epoch == epoch + 1
        assert pending_evaluations(session) == 1
        assert factories.run_evaluations(session) == []

    def test_a_cycle_that_leaves_the_balance_low_is_evaluated_but_is_the_same_crossing(
        self, session: Session
    ) -> None:
        today = clock.today()
        _, deal = setup(session, terms(RolloverPolicy.NONE, units="2"), start=today, today=today)
        assert factories.run_evaluations(session) == ["LOW_BALANCE"]
        epoch = deal.alert_epoch
        renew(session, cycle_start(today, Cycle.MONTHLY, 1))
        # Never above the 2 h threshold: not re-armed, evaluated, nothing raised twice.
        assert deal.alert_epoch == epoch
        assert pending_evaluations(session) == 1
        assert factories.run_evaluations(session) == []


def pending_evaluations(session: Session) -> int:
    return (
        session.scalar(
            select(func.count(OutboxJob.id)).where(
                OutboxJob.actor == "notifications.evaluate", OutboxJob.status == "PENDING"
            )
        )
        or 0
    )


class TestExpiring:
    def warned_setup(
        self, session: Session, rollover: RolloverPolicy, cap: str | None = None
    ) -> tuple[factories.Rates, Agreement]:
        rates, deal = setup(session, terms(rollover, cap=cap))
        session.get_one(AgreementType, deal.agreement_type_id).expiry_warning_days = 7
        session.flush()
        return rates, deal

    def expiring(self, session: Session) -> list[tuple[int | None, Decimal | None, dt.date | None]]:
        return [
            (n.lot_id, n.units, n.expires_on)
            for n in session.scalars(
                select(Notification)
                .where(Notification.kind == NotificationKind.EXPIRING)
                .order_by(Notification.id)
            )
        ]

    def test_once_per_lot_within_the_warning_days_with_units_unit_and_date_in_the_payload(
        self, session: Session
    ) -> None:
        rates, deal = self.warned_setup(session, RolloverPolicy.NONE)
        lot_id = session.scalars(select(Lot.id).where(Lot.agreement_id == deal.id)).one()
        assert check_expiring(session, today=dt.date(2026, 1, 24)) == []  # 8 days before
        raised = check_expiring(session, today=dt.date(2026, 1, 25))
        assert [(n.lot_id, n.units, n.expires_on) for n in raised] == [
            (lot_id, D("10.00"), dt.date(2026, 2, 1))
        ]
        # Again, and after a change of balance (the evaluation checks too): nothing twice.
        assert check_expiring(session, today=dt.date(2026, 1, 26)) == []
        work(session, rates, deal, dt.date(2026, 1, 26), "1")
        factories.run_evaluations(session)
        expiry.expire_blocks(session, as_of=dt.date(2026, 1, 27))
        assert self.expiring(session) == [(lot_id, D("10.00"), dt.date(2026, 2, 1))]
        payload = notifications.notification_payload(session, notification_id=raised[0].id)
        assert (payload["kind"], payload["units"], payload["unit"], payload["expiresOn"]) == (
            "EXPIRING",
            "10.00",
            "HOURS",
            "2026-02-01",
        )

    def test_units_that_will_roll_over_are_not_announced_as_expiring(self, session: Session) -> None:
        _, deal = self.warned_setup(session, RolloverPolicy.CAPPED, cap="4")
        lot_id = session.scalars(select(Lot.id).where(Lot.agreement_id == deal.id)).one()
        check_expiring(session, today=dt.date(2026, 1, 30))
        assert self.expiring(session) == [(lot_id, D("6.00"), dt.date(2026, 2, 1))]

    def test_the_daily_check_finds_lots_of_every_agreement_but_not_of_a_type_without_warning_days(
        self, session: Session
    ) -> None:
        _, deal = setup(session, terms(RolloverPolicy.ALL))
        assert check_expiring(session, today=dt.date(2026, 1, 31)) == []
        session.get_one(AgreementType, deal.agreement_type_id).expiry_warning_days = 3
        # ALL carries everything: January's lot warns only before its final end (March 1).
        renew(session, dt.date(2026, 2, 1))
        assert check_expiring(session, today=dt.date(2026, 2, 25)) == []
        raised = check_expiring(session, today=dt.date(2026, 2, 26))
        # January's 10 carried units really expire on March 1; February's 10 would carry.
        assert [(n.units, n.expires_on) for n in raised] == [(D("10.00"), dt.date(2026, 3, 1))]


def statement_lines(
    session: Session, deal: Agreement, start: dt.date, end: dt.date
) -> list[tuple[dt.date, str, Decimal, Decimal, Decimal, Decimal | None]]:
    st = statements.statement(session, agreement=deal, start=start, end=end)
    lines = [(x.date, x.kind.value, x.units, x.value, x.units_after, x.carried_units) for x in st.lines]
    assert st.opening_units + sum(x.units for x in st.lines) == st.closing_units
    assert st.opening_value + sum(x.value for x in st.lines) == st.closing_value
    b = agreements.balance(session, deal, as_of=end)
    assert (st.closing_units, st.closing_value) == (b.units_remaining, b.deferred_revenue)
    return lines


class TestStatements:
    def test_capped_allowance_lines_on_each_cycle_start(self, session: Session) -> None:
        rates, deal = setup(session, terms(RolloverPolicy.CAPPED, cap="5"))
        work(session, rates, deal, dt.date(2026, 1, 10), "2")
        renew(session, dt.date(2026, 2, 1))
        work(session, rates, deal, dt.date(2026, 2, 10), "7")
        renew(session, dt.date(2026, 4, 1))
        feb, mar, apr = dt.date(2026, 2, 1), dt.date(2026, 3, 1), dt.date(2026, 4, 1)
        assert statement_lines(session, deal, JAN, apr) == [
            (JAN, "ALLOWANCE", D("10.00"), D("1000.00"), D("10.00"), None),
            (dt.date(2026, 1, 10), "USAGE", D("-2.00"), D("-200.00"), D("8.00"), None),
            (feb, "EXPIRY", D("-3.00"), D("-300.00"), D("5.00"), None),
            (feb, "ROLLOVER", D("0.00"), D("0.00"), D("5.00"), D("5.00")),
            (feb, "ALLOWANCE", D("10.00"), D("1000.00"), D("15.00"), None),
            (dt.date(2026, 2, 10), "USAGE", D("-7.00"), D("-700.00"), D("8.00"), None),
            (mar, "EXPIRY", D("-3.00"), D("-300.00"), D("5.00"), None),
            (mar, "ROLLOVER", D("0.00"), D("0.00"), D("5.00"), D("5.00")),
            (mar, "ALLOWANCE", D("10.00"), D("1000.00"), D("15.00"), None),
            # February's carried 5 reach their end; March's lot carries 5 and loses 5.
            (apr, "EXPIRY", D("-5.00"), D("-500.00"), D("10.00"), None),
            (apr, "EXPIRY", D("-5.00"), D("-500.00"), D("5.00"), None),
            (apr, "ROLLOVER", D("0.00"), D("0.00"), D("5.00"), D("5.00")),
            (apr, "ALLOWANCE", D("10.00"), D("1000.00"), D("15.00"), None),
        ]
        # A range starting mid-history opens with what was carried.
        assert statement_lines(session, deal, dt.date(2026, 2, 15), mar)[0] == (
            mar,
            "EXPIRY",
            D("-3.00"),
            D("-300.00"),
            D("5.00"),
            None,
        )

    def test_none_lists_the_expiry_and_no_rollover(self, session: Session) -> None:
        rates, deal = setup(session, terms(RolloverPolicy.NONE, price="90.00"))
        work(session, rates, deal, dt.date(2026, 1, 5), "4")
        renew(session, dt.date(2026, 2, 1))
        assert statement_lines(session, deal, JAN, dt.date(2026, 2, 1)) == [
            (JAN, "ALLOWANCE", D("10.00"), D("900.00"), D("10.00"), None),
            (dt.date(2026, 1, 5), "USAGE", D("-4.00"), D("-360.00"), D("6.00"), None),
            (dt.date(2026, 2, 1), "EXPIRY", D("-6.00"), D("-540.00"), D("0.00"), None),
            (dt.date(2026, 2, 1), "ALLOWANCE", D("10.00"), D("900.00"), D("10.00"), None),
        ]

    def test_all_carries_with_no_expiry_line_until_the_carried_units_end(self, session: Session) -> None:
        _, deal = setup(session, terms(RolloverPolicy.ALL, price="33.33"))
        renew(session, dt.date(2026, 3, 1))
        feb, mar = dt.date(2026, 2, 1), dt.date(2026, 3, 1)
        assert statement_lines(session, deal, JAN, mar) == [
            (JAN, "ALLOWANCE", D("10.00"), D("333.30"), D("10.00"), None),
            (feb, "ROLLOVER", D("0.00"), D("0.00"), D("10.00"), D("10.00")),
            (feb, "ALLOWANCE", D("10.00"), D("333.30"), D("20.00"), None),
            (mar, "EXPIRY", D("-10.00"), D("-333.30"), D("10.00"), None),
            (mar, "ROLLOVER", D("0.00"), D("0.00"), D("10.00"), D("10.00")),
            (mar, "ALLOWANCE", D("10.00"), D("333.30"), D("20.00"), None),
        ]
