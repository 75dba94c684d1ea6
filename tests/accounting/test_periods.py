"""Closing a period (SPEC §8): refused while anything is left, and late activity after it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting import agreements, batches, billing, closing, drawdown, expiry, ledger, periods
from accounting.errors import Conflict, InvalidInput
from models import Invoice, InvoiceLine, JournalBatch, JournalEntry, TimeEntry
from models.enums import BatchStatus, InvoiceKind, MovementKind
from testkit import factories

D = Decimal
JUL_1 = dt.date(2026, 7, 1)
JUL_31 = dt.date(2026, 7, 31)
AUG_1 = dt.date(2026, 8, 1)
AUG_15 = dt.date(2026, 8, 15)


def day(n: int) -> dt.date:
    """Day n of July 2026 (32 = August 1st)."""
    return JUL_1 + dt.timedelta(days=n - 1)


def post(session: Session, through: dt.date) -> JournalBatch:
    batch = batches.create_batch(session, through_date=through)
    return batches.post_batch(session, batch_id=batch.id)


class Shop:
    """ACME with a 10 h block at 150.00 (in effect from July 1st) and a chart of accounts."""

    def __init__(self, session: Session, *, expire_after_months: int | None = None) -> None:
        self.session = session
        factories.chart_of_accounts(session)
        self.rates = factories.rates(session)
        kind = factories.block_time_type(
            session, rates=self.rates, expire_after_months=expire_after_months, allow_overruns=True
        )
        self.deal = factories.agreement(session, agreement_type=kind, start=dt.date(2026, 1, 1))
        self.block = agreements.purchase_block(
            session, agreement_id=self.deal.id, units=D("10"), unit_price=D("150.00"), effective_date=JUL_1
        )

    def log(self, date: dt.date, hours: str) -> TimeEntry:
        return factories.log_time(self.session, agreement=self.deal, rates=self.rates, date=date, hours=hours)

    def settle(self, through: dt.date) -> None:
        """Bill, expire and post everything through a date."""
        billing.run_billing(self.session, through_date=through)
        expiry.expire_blocks(self.session, as_of=through)
        # A batch is never empty (SPEC §7, issue 17): with nothing left there is none to post.
        if batches.has_entries_to_post(self.session, through_date=through):
            assert post(self.session, through).status is BatchStatus.POSTED

    def close(self, through: dt.date = JUL_31, today: dt.date = AUG_15) -> dt.date:
        return closing.close_period(self.session, through=through, today=today).through


def entry_dates(session: Session, source_type: str) -> list[dt.date]:
    return list(
        session.scalars(
            select(JournalEntry.date).where(JournalEntry.source_type == source_type).order_by(JournalEntry.id)
        )
    )


class TestClosePeriod:
    def test_closes_when_everything_through_the_date_is_posted(self, session: Session) -> None:
        shop = Shop(session)
        shop.log(day(5), "2")
        shop.settle(JUL_31)
        assert periods.closed_through(session) is None

        assert shop.close() == JUL_31

        assert periods.closed_through(session) == JUL_31
        # Closing again through the same date changes nothing; a later date moves it on.
        assert shop.close() == JUL_31
        shop.settle(AUG_1)
        assert shop.close(AUG_1) == AUG_1
        assert periods.closed_through(session) == AUG_1

    def test_through_must_be_before_today(self, session: Session) -> None:
        Shop(session)
        with pytest.raises(InvalidInput, match="through must be before today"):
            closing.close_period(session, through=AUG_15, today=AUG_15)

    def test_through_must_not_be_before_the_current_close(self, session: Session) -> None:
        shop = Shop(session)
        shop.settle(JUL_31)
        shop.close()
        with pytest.raises(InvalidInput, match="not be before the current close \\(2026-07-31\\)"):
            shop.close(day(20))
        assert periods.closed_through(session) == JUL_31

    def test_the_close_ignores_what_is_dated_after_it(self, session: Session) -> None:
        shop = Shop(session)
        shop.settle(JUL_31)
        shop.log(AUG_1, "1")  # unbilled, but after the period

        assert shop.close() == JUL_31


class TestCloseRefusedForEachLeftover:
    """One test per kind of leftover: CONFLICT naming it, and nothing closed."""

    def refused(self, shop: Shop, words: str) -> None:
        with pytest.raises(Conflict, match=words):
            shop.close()
        assert periods.closed_through(shop.session) is None

    def test_unbilled_covered_time(self, session: Session) -> None:
        shop = Shop(session)
        shop.settle(JUL_31)
        shop.log(day(20), "1")
        self.refused(shop, "1 unbilled covered or billable time entry")

    def test_unbilled_billable_time(self, session: Session) -> None:
        shop = Shop(session)
        shop.settle(JUL_31)
        factories.log_time(
            session,
            agreement=shop.deal,
            rates=shop.rates,
            work_type=shop.rates.after_hours,  # excluded: billed on a STANDARD invoice
            date=day(20),
            hours="1",
        )
        self.refused(shop, "1 unbilled covered or billable time entry")

    def test_unposted_invoice(self, session: Session) -> None:
        shop = Shop(session)  # the purchase invoice, dated July 1st, is not posted
        self.refused(shop, "1 unposted invoice \\(INV-000001\\)")

    def test_unposted_refund(self, session: Session) -> None:
        shop = Shop(session)
        shop.settle(JUL_31)
        agreements.cancel_agreement(session, agreement_id=shop.deal.id, refund_unused=True, today=day(31))
        memo = session.scalars(select(Invoice).where(Invoice.kind == InvoiceKind.CREDIT_MEMO)).one()
        self.refused(shop, f"1 unposted invoice \\({memo.number}\\)")

    def test_expiry_due_but_not_recorded(self, session: Session) -> None:
        shop = Shop(session, expire_after_months=1)  # expires on August 1st
        billing.run_billing(session, through_date=JUL_31)
        post(session, JUL_31)
        # Closing through August 1st: the expiry is due that day and not recorded.
        with pytest.raises(Conflict, match="1 lot with expiries due but not recorded"):
            shop.close(AUG_1)

    def test_expiry_recorded_but_not_posted(self, session: Session) -> None:
        shop = Shop(session, expire_after_months=1)
        post(session, JUL_31)
        expiry.expire_blocks(session, as_of=AUG_1)
        with pytest.raises(Conflict, match="1 unposted expiry"):
            shop.close(AUG_1)

    def test_unposted_write_off(self, session: Session) -> None:
        shop = Shop(session)
        shop.settle(JUL_31)
        agreements.adjust_agreement(
            session, agreement_id=shop.deal.id, units=D("-1"), reason="x", today=day(25)
        )
        self.refused(shop, "1 unposted adjustment")

    def test_unposted_reversal(self, session: Session) -> None:
        shop = Shop(session)
        entry = shop.log(day(5), "2")
        shop.settle(day(10))
        drawdown.reverse_time_entry(session, time_entry_id=entry.id, today=day(20))
        self.refused(shop, "1 unposted reversal")

    def test_pending_batch(self, session: Session) -> None:
        shop = Shop(session)
        shop.log(day(5), "1")
        billing.run_billing(session, through_date=JUL_31)
        pending = batches.create_batch(session, through_date=JUL_31)
        self.refused(shop, f"1 PENDING journal batch \\({pending.identifier}\\)")

    def test_what_is_worth_nothing_does_not_hold_the_close_back(self, session: Session) -> None:
        # A complimentary block (0.00 an hour): its purchase and the usage invoice of the
        # time it covers write no journal entry, so no batch ever takes them on their own.
        factories.chart_of_accounts(session)
        rates = factories.rates(session)
        deal = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        agreements.purchase_block(
            session, agreement_id=deal.id, units=D("5"), unit_price=D("0.00"), effective_date=JUL_1
        )
        factories.log_time(session, agreement=deal, rates=rates, date=day(5), hours="2")
        billing.run_billing(session, through_date=JUL_31)
        assert not batches.has_entries_to_post(session, through_date=JUL_31)

        assert closing.close_period(session, through=JUL_31, today=AUG_15).through == JUL_31

        # The next batch that posts takes them along, dated after the close.
        agreements.purchase_block(
            session, agreement_id=deal.id, units=D("1"), unit_price=D("150.00"), effective_date=AUG_1
        )
        assert post(session, AUG_1).status is BatchStatus.POSTED
        assert session.scalars(select(Invoice.number).where(Invoice.batch_id.is_(None))).all() == []
        assert entry_dates(session, "INVOICE") == [AUG_1]

    def test_every_leftover_is_named_at_once(self, session: Session) -> None:
        shop = Shop(session)
        shop.log(day(5), "1")
        with pytest.raises(Conflict) as refused:
            shop.close()
        assert "1 unbilled covered or billable time entry" in refused.value.message
        assert "1 unposted invoice" in refused.value.message


class TestLateActivityAfterAClose:
    def test_back_dated_time_is_invoiced_and_posted_the_day_after_the_close(self, session: Session) -> None:
        shop = Shop(session)
        shop.settle(JUL_31)
        shop.close()

        late = shop.log(day(20), "2")  # logged after the close, for July 20th
        [invoice] = billing.run_billing(session, through_date=JUL_31)  # a closed date
        post(session, AUG_1)

        assert invoice.date == AUG_1
        line = session.scalars(select(InvoiceLine).where(InvoiceLine.time_entry_id == late.id)).one()
        assert line.description.startswith("2026-07-20 ")
        session.refresh(late)
        assert (late.date, late.billed) == (day(20), True)
        assert entry_dates(session, "INVOICE")[-1] == AUG_1

    def test_a_later_run_dates_its_invoices_on_its_own_through_date(self, session: Session) -> None:
        shop = Shop(session)
        shop.settle(JUL_31)
        shop.close()
        shop.log(day(20), "2")

        [invoice] = billing.run_billing(session, through_date=AUG_15)

        assert invoice.date == AUG_15

    def test_a_batch_through_a_closed_date_posts_nothing(self, session: Session) -> None:
        shop = Shop(session)
        shop.settle(JUL_31)
        shop.close()
        shop.log(day(20), "2")
        billing.run_billing(session, through_date=JUL_31)

        # Late time bills into the day after the close: a batch through the closed date has
        # nothing to post (and is refused rather than made empty); the next day's has it all.
        with pytest.raises(InvalidInput, match=r"^nothing to post through 2026-07-31$"):
            batches.create_batch(session, through_date=JUL_31)
        assert post(session, AUG_1).total_debit == D("300.00")

    def test_reversal_of_an_invoiced_entry_keeps_its_service_date(self, session: Session) -> None:
        shop = Shop(session)
        entry = shop.log(day(5), "2")
        shop.settle(JUL_31)
        shop.close(JUL_31, today=AUG_1)

        drawdown.reverse_time_entry(session, time_entry_id=entry.id, today=AUG_1)
        post(session, AUG_1)

        assert entry_dates(session, "TIME_ENTRY_REVERSAL") == [AUG_1]
        session.refresh(entry)
        assert entry.date == day(5)
        line = session.scalars(select(InvoiceLine).where(InvoiceLine.time_entry_id == entry.id)).one()
        assert line.description.startswith("2026-07-05 ")

    def test_an_expiry_found_late_is_posted_the_day_after_the_close(self, session: Session) -> None:
        shop = Shop(session, expire_after_months=1)
        agreements.purchase_block(
            session, agreement_id=shop.deal.id, units=D("5"), unit_price=D("140.00"), effective_date=AUG_1
        )
        entry = shop.log(day(10), "10")  # uses the July block up: nothing left to expire
        shop.settle(AUG_1)
        shop.close(AUG_1, today=AUG_15)

        # The reversal gives the hours back to the July block, past its expiresOn.
        drawdown.reverse_time_entry(session, time_entry_id=entry.id, today=AUG_15)
        [found] = expiry.expire_blocks(session, as_of=AUG_15)
        post(session, AUG_15)

        assert (found.kind, found.units, found.date) == (MovementKind.EXPIRY, D("10.00"), AUG_1)
        assert entry_dates(session, "LOT_EXPIRY") == [dt.date(2026, 8, 2)]

    def test_no_journal_entry_is_ever_dated_inside_the_closed_period(self, session: Session) -> None:
        shop = Shop(session, expire_after_months=1)
        shop.settle(JUL_31)
        closed = closing.close_period(session, through=JUL_31, today=AUG_15)
        shop.log(day(3), "1")
        billing.run_billing(session, through_date=day(3))
        expiry.expire_blocks(session, as_of=AUG_1)
        post(session, AUG_15)

        assert not periods.entries_inside_closed_period(session)
        later = session.scalars(
            select(JournalEntry.date).where(JournalEntry.id > (closed.last_entry_id or 0))
        )
        assert sorted(later) == [AUG_1, AUG_1]  # the late usage invoice and the expiry


class TestNothingTakesEffectInsideAClosedPeriod:
    def test_a_purchase_effective_inside_the_closed_period_is_refused(self, session: Session) -> None:
        shop = Shop(session)
        shop.settle(JUL_31)
        shop.close()
        with pytest.raises(InvalidInput, match="effectiveDate 2026-07-31 is inside a closed period"):
            agreements.purchase_block(
                session, agreement_id=shop.deal.id, units=D("1"), unit_price=D("1"), effective_date=JUL_31
            )
        # The day after the close is open.
        agreements.purchase_block(
            session, agreement_id=shop.deal.id, units=D("1"), unit_price=D("1"), effective_date=AUG_1
        )

    def test_an_adjustment_inside_the_closed_period_is_refused(self, session: Session) -> None:
        shop = Shop(session)
        shop.settle(JUL_31)
        shop.close()
        with pytest.raises(InvalidInput, match="date 2026-07-31 is inside a closed period"):
            agreements.adjust_agreement(
                session, agreement_id=shop.deal.id, units=D("1"), reason="x", today=JUL_31
            )


class TestTrialBalanceAsOf:
    def test_the_books_as_they_stood_on_a_date(self, session: Session) -> None:
        shop = Shop(session)
        shop.log(day(5), "2")
        shop.settle(day(10))
        shop.log(day(12), "1")
        shop.settle(day(20))

        def rows(as_of: dt.date | None) -> list[tuple[str, Decimal, Decimal]]:
            return [(r.account.code, r.debit, r.credit) for r in ledger.trial_balance(session, as_of=as_of)]

        assert rows(day(9)) == [
            ("1100", D("1500.00"), D("0.00")),
            ("2400", D("0.00"), D("1500.00")),
            ("4000", D("0.00"), D("0.00")),
            ("4200", D("0.00"), D("0.00")),
        ]
        assert rows(day(10)) == [
            ("1100", D("1500.00"), D("0.00")),
            ("2400", D("0.00"), D("1200.00")),
            ("4000", D("0.00"), D("300.00")),
            ("4200", D("0.00"), D("0.00")),
        ]
        assert (
            rows(None)
            == rows(day(20))
            == [
                ("1100", D("1500.00"), D("0.00")),
                ("2400", D("0.00"), D("1050.00")),
                ("4000", D("0.00"), D("450.00")),
                ("4200", D("0.00"), D("0.00")),
            ]
        )
