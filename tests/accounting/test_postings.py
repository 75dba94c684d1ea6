"""SPEC §4's postings table, in both revenue modes, mapping precedence and batches."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounting import agreements, batches, billing, clock, drawdown, expiry, ledger, mappings, posting
from accounting.errors import InvalidInput
from models import Adjustment, GLAccount, Invoice, JournalBatch, JournalEntry, JournalLine, Lot
from models.enums import AccountType, BatchStatus, InvoiceKind, MappingKind
from testkit import factories
from testkit.drafts import pending_drafts

D = Decimal
DAY = dt.date(2026, 2, 2)


def posted(session: Session, batch: JournalBatch) -> list[tuple[str, str, Decimal, Decimal]]:
    """(source type, account code, debit, credit) of every posted line of a batch, in order."""
    rows = session.execute(
        select(JournalEntry.source_type, GLAccount.code, JournalLine.debit, JournalLine.credit)
        .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
        .join(GLAccount, GLAccount.id == JournalLine.account_id)
        .where(JournalEntry.batch_id == batch.id)
        .order_by(JournalEntry.date, JournalEntry.id, JournalLine.id)
    )
    return [(s, c, d, cr) for s, c, d, cr in rows]


def post(session: Session, through: dt.date | None = None) -> JournalBatch:
    through = through or clock.today()
    batch = batches.create_batch(session, through_date=through)
    return batches.post_batch(session, batch_id=batch.id)


@pytest.fixture
def setup(session: Session):  # type: ignore[no-untyped-def]
    books = factories.chart_of_accounts(session)
    rates = factories.rates(session)
    return session, books, rates


class TestReverseRevenueWhenApplied:
    def test_purchase_credits_the_blocks_deferred_account(self, setup) -> None:  # type: ignore[no-untyped-def]
        session, _, rates = setup
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("4"), unit_price=D("125.50"), effective_date=DAY
        )
        assert posted(session, post(session)) == [
            ("INVOICE", "1100", D("502.00"), D("0.00")),
            ("INVOICE", "2400", D("0.00"), D("502.00")),
        ]

    def test_usage_releases_paid_value_of_each_lot_drawn(self, setup) -> None:  # type: ignore[no-untyped-def]
        session, _, rates = setup
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("1"), unit_price=D("100.00"), effective_date=DAY
        )
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("3"), unit_price=D("90.00"), effective_date=DAY
        )
        post(session)
        factories.log_time(
            session,
            agreement=acme,
            rates=rates,
            date=DAY,
            hours="2",
        )
        billing.run_billing(session, through_date=DAY)
        assert posted(session, post(session)) == [
            ("INVOICE", "2400", D("100.00"), D("0.00")),
            ("INVOICE", "2400", D("90.00"), D("0.00")),
            ("INVOICE", "4000", D("0.00"), D("190.00")),
        ]

    def test_standard_invoice_debits_receivables_at_list_value(self, setup) -> None:  # type: ignore[no-untyped-def]
        session, _, rates = setup
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        entry = factories.log_time(
            session,
            agreement=acme,
            rates=rates,
            date=DAY,
            hours="1.25",
            work_type=rates.after_hours,
        )
        assert entry.coverage.value == "EXCLUDED_WORK_TYPE" and entry.amount_billable == D("281.25")
        (invoice,) = billing.run_billing(session, through_date=DAY)
        assert invoice.kind is InvoiceKind.STANDARD and invoice.total == D("281.25")
        assert posted(session, post(session)) == [
            ("INVOICE", "1100", D("281.25"), D("0.00")),
            ("INVOICE", "4000", D("0.00"), D("281.25")),
        ]

    def test_expiry_and_write_off_move_paid_value_to_breakage(self, setup) -> None:  # type: ignore[no-untyped-def]
        session, _, rates = setup
        block = factories.block_time_type(session, rates=rates, expire_after_months=1)
        acme = factories.agreement(session, agreement_type=block)
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("3"), unit_price=D("33.33"), effective_date=DAY
        )
        post(session)
        adjustment = agreements.adjust_agreement(
            session, agreement_id=acme.id, units=D("-1"), reason="goodwill", today=DAY
        )
        assert adjustment.value == D("33.33")
        (expired,) = expiry.expire_blocks(session, as_of=dt.date(2026, 3, 2))
        assert (expired.units, expired.value, expired.date) == (D("2.00"), D("66.66"), dt.date(2026, 3, 2))
        assert posted(session, post(session)) == [
            ("ADJUSTMENT", "2400", D("33.33"), D("0.00")),
            ("ADJUSTMENT", "4200", D("0.00"), D("33.33")),
            ("LOT_EXPIRY", "2400", D("66.66"), D("0.00")),
            ("LOT_EXPIRY", "4200", D("0.00"), D("66.66")),
        ]
        assert expiry.expire_blocks(session, as_of=dt.date(2026, 3, 2)) == []
        b = agreements.balance(session, acme)
        assert (b.units_purchased, b.units_expired, b.units_remaining, b.deferred_revenue) == (
            D("2.00"),
            D("2.00"),
            D("0.00"),
            D("0.00"),
        )

    def test_refund_on_cancellation_credits_receivables(self, setup) -> None:  # type: ignore[no-untyped-def]
        session, _, rates = setup
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("10"), unit_price=D("150.00"), effective_date=DAY
        )
        factories.log_time(
            session,
            agreement=acme,
            rates=rates,
            date=DAY,
            hours="4",
        )
        billing.run_billing(session, through_date=DAY)
        agreements.cancel_agreement(session, agreement_id=acme.id, refund_unused=True, today=DAY)
        memo = session.scalars(select(Invoice).where(Invoice.kind == InvoiceKind.CREDIT_MEMO)).one()
        assert memo.total == D("-900.00")
        lines = posted(session, post(session))
        assert lines[-2:] == [
            ("INVOICE", "2400", D("900.00"), D("0.00")),
            ("INVOICE", "1100", D("0.00"), D("900.00")),
        ]
        trial = {r.account.code: (r.debit, r.credit) for r in ledger.trial_balance(session)}
        assert trial["2400"] == (D("0.00"), D("0.00"))
        assert trial["1100"] == (D("600.00"), D("0.00"))

    def test_reversal_of_invoiced_time_reverses_its_lines(self, setup) -> None:  # type: ignore[no-untyped-def]
        session, _, rates = setup
        acme = factories.agreement(
            session, agreement_type=factories.block_time_type(session, rates=rates, allow_overruns=True)
        )
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("1"), unit_price=D("120.00"), effective_date=DAY
        )
        entry = factories.log_time(
            session,
            agreement=acme,
            rates=rates,
            date=DAY,
            hours="3",
        )
        assert (entry.units_applied, entry.hours_billable, entry.amount_billable) == (
            D("1.00"),
            D("2.00"),
            D("300.00"),
        )
        billing.run_billing(session, through_date=DAY)
        post(session)
        drawdown.reverse_time_entry(session, time_entry_id=entry.id, today=DAY + dt.timedelta(days=1))
        assert posted(session, post(session)) == [
            ("TIME_ENTRY_REVERSAL", "2400", D("0.00"), D("120.00")),
            ("TIME_ENTRY_REVERSAL", "4000", D("120.00"), D("0.00")),
            ("TIME_ENTRY_REVERSAL", "4000", D("300.00"), D("0.00")),
            ("TIME_ENTRY_REVERSAL", "1100", D("0.00"), D("300.00")),
        ]
        assert agreements.balance(session, acme).units_remaining == D("1.00")
        trial = {r.account.code: (r.debit, r.credit) for r in ledger.trial_balance(session)}
        assert trial == {
            "1100": (D("120.00"), D("0.00")),
            "2400": (D("0.00"), D("120.00")),
            "4000": (D("0.00"), D("0.00")),
            "4200": (D("0.00"), D("0.00")),
        }


class TestRevenueAtPurchase:
    """reverseRevenueWhenApplied = false: revenue at purchase, usage nets to zero."""

    def test_purchase_credits_the_agreement_type_revenue_account(self, setup) -> None:  # type: ignore[no-untyped-def]
        session, books, rates = setup
        income = mappings.create_gl_account(
            session, code="4100", name="Block Revenue", type=AccountType.REVENUE
        )
        block = factories.block_time_type(session, rates=rates, reverse_revenue=False)
        mappings.set_gl_mapping(
            session, kind=MappingKind.AGREEMENT_TYPE, agreement_type_id=block.id, account_id=income.id
        )
        acme = factories.agreement(session, agreement_type=block)
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("2"), unit_price=D("150.00"), effective_date=DAY
        )
        factories.log_time(
            session,
            agreement=acme,
            rates=rates,
            date=DAY,
            hours="1.5",
        )
        billing.run_billing(session, through_date=DAY)
        assert posted(session, post(session)) == [
            ("INVOICE", "1100", D("300.00"), D("0.00")),
            ("INVOICE", "4100", D("0.00"), D("300.00")),
            ("INVOICE", "4000", D("0.00"), D("225.00")),
            ("INVOICE", "4000", D("225.00"), D("0.00")),
        ]
        trial = {r.account.code: (r.debit, r.credit) for r in ledger.trial_balance(session)}
        assert trial["4000"] == (D("0.00"), D("0.00"))
        assert trial["4100"] == (D("0.00"), D("300.00"))
        rec = ledger.deferred_revenue_reconciliation(session)
        assert rec.difference == D("0.00") and rec.agreements_total == D("0.00")
        assert books.deferred.id

    def test_every_other_event_in_revenue_at_purchase_mode(self, setup) -> None:  # type: ignore[no-untyped-def]
        session, _, rates = setup
        income = mappings.create_gl_account(
            session, code="4100", name="Block Revenue", type=AccountType.REVENUE
        )
        block = factories.block_time_type(
            session, rates=rates, reverse_revenue=False, allow_overruns=True, expire_after_months=1
        )
        mappings.set_gl_mapping(
            session, kind=MappingKind.AGREEMENT_TYPE, agreement_type_id=block.id, account_id=income.id
        )
        acme = factories.agreement(session, agreement_type=block)
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("4"), unit_price=D("100.00"), effective_date=DAY
        )
        entry = factories.log_time(
            session,
            agreement=acme,
            rates=rates,
            date=DAY,
            hours="1",
        )
        billing.run_billing(session, through_date=DAY)
        post(session, DAY)
        agreements.adjust_agreement(
            session, agreement_id=acme.id, units=D("-1"), reason="goodwill", today=DAY
        )
        drawdown.reverse_time_entry(session, time_entry_id=entry.id, today=DAY)
        expiry.expire_blocks(session, as_of=dt.date(2026, 3, 2))
        assert posted(session, post(session)) == [
            ("ADJUSTMENT", "4100", D("100.00"), D("0.00")),
            ("ADJUSTMENT", "4200", D("0.00"), D("100.00")),
            ("TIME_ENTRY_REVERSAL", "4000", D("150.00"), D("0.00")),
            ("TIME_ENTRY_REVERSAL", "4000", D("0.00"), D("150.00")),
            ("LOT_EXPIRY", "4100", D("300.00"), D("0.00")),
            ("LOT_EXPIRY", "4200", D("0.00"), D("300.00")),
        ]
        acme2 = factories.agreement(session, agreement_type=block, identifier="GLOBEX")
        agreements.purchase_block(
            session, agreement_id=acme2.id, units=D("2"), unit_price=D("100.00"), effective_date=DAY
        )
        agreements.cancel_agreement(session, agreement_id=acme2.id, refund_unused=True, today=DAY)
        assert posted(session, post(session))[-2:] == [
            ("INVOICE", "4100", D("200.00"), D("0.00")),
            ("INVOICE", "1100", D("0.00"), D("200.00")),
        ]
        assert ledger.deferred_revenue_reconciliation(session).difference == D("0.00")


class TestMappingPrecedence:
    def test_category_subcategory_then_category_then_type_then_default(self, setup) -> None:  # type: ignore[no-untyped-def]
        session, books, rates = setup
        accounts = {
            code: mappings.create_gl_account(
                session, code=code, name=f"Deferred {code}", type=AccountType.LIABILITY
            )
            for code in ("2410", "2420", "2430")
        }
        block = factories.block_time_type(session, rates=rates)
        other = factories.block_time_type(session, rates=rates, name="Other")
        mappings.set_gl_mapping(
            session,
            kind=MappingKind.PRODUCT_CATEGORY,
            category="Blocks",
            subcategory="Gold",
            account_id=accounts["2410"].id,
        )
        mappings.set_gl_mapping(
            session, kind=MappingKind.PRODUCT_CATEGORY, category="Blocks", account_id=accounts["2420"].id
        )
        mappings.set_gl_mapping(
            session,
            kind=MappingKind.AGREEMENT_TYPE,
            agreement_type_id=block.id,
            account_id=accounts["2430"].id,
        )
        acme = factories.agreement(session, agreement_type=block, identifier="ACME")
        globex = factories.agreement(session, agreement_type=other, identifier="GLOBEX")
        for category, subcategory in (("Blocks", "Gold"), ("Blocks", "Silver"), (None, None)):
            agreements.purchase_block(
                session,
                agreement_id=acme.id,
                units=D("1"),
                unit_price=D("10.00"),
                category=category,
                subcategory=subcategory,
                effective_date=DAY,
            )
        agreements.purchase_block(
            session, agreement_id=globex.id, units=D("1"), unit_price=D("10.00"), effective_date=DAY
        )
        credited = [code for _, code, _, credit in posted(session, post(session)) if credit > 0]
        assert credited == ["2410", "2420", "2430", books.deferred.code]

    def test_setting_a_mapping_twice_replaces_it(self, setup) -> None:  # type: ignore[no-untyped-def]
        session, books, _ = setup
        first = mappings.set_gl_mapping(session, kind=MappingKind.BREAKAGE, account_id=books.revenue.id)
        again = mappings.set_gl_mapping(session, kind=MappingKind.BREAKAGE, account_id=books.breakage.id)
        assert first.id == again.id and again.account_id == books.breakage.id


class TestBatches:
    def test_missing_mappings_fail_the_batch_naming_each_then_it_posts(self, session: Session) -> None:
        rates = factories.rates(session)
        ar = mappings.create_gl_account(session, code="1100", name="AR", type=AccountType.ASSET)
        mappings.set_gl_mapping(session, kind=MappingKind.ACCOUNTS_RECEIVABLE, account_id=ar.id)
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("5"), unit_price=D("100.00"), effective_date=DAY
        )
        factories.log_time(
            session,
            agreement=acme,
            rates=rates,
            date=DAY,
            hours="1",
        )
        billing.run_billing(session, through_date=DAY)

        failed = post(session)
        assert failed.status is BatchStatus.FAILED
        assert failed.error is not None
        assert "AGREEMENT_TYPE for agreement type 'Block Time'" in failed.error
        assert "SERVICE_REVENUE" in failed.error
        assert session.scalar(select(func.count(JournalEntry.id))) == 0
        assert session.scalar(select(func.count(Invoice.id)).where(Invoice.batch_id.is_not(None))) == 0

        deferred = mappings.create_gl_account(
            session, code="2400", name="Deferred", type=AccountType.LIABILITY
        )
        revenue = mappings.create_gl_account(session, code="4000", name="Revenue", type=AccountType.REVENUE)
        mappings.set_gl_mapping(session, kind=MappingKind.AGREEMENT_TYPE, account_id=deferred.id)
        mappings.set_gl_mapping(session, kind=MappingKind.SERVICE_REVENUE, account_id=revenue.id)
        retried = batches.post_batch(session, batch_id=failed.id)
        assert retried.status is BatchStatus.POSTED and retried.error is None
        assert (retried.total_debit, retried.total_credit) == (D("600.00"), D("600.00"))

    def test_posting_the_same_batch_twice_posts_once(self, setup) -> None:  # type: ignore[no-untyped-def]
        session, _, rates = setup
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("5"), unit_price=D("100.00"), effective_date=DAY
        )
        batch = post(session)
        again = batches.post_batch(session, batch_id=batch.id)
        assert again.status is BatchStatus.POSTED
        assert session.scalar(select(func.count(JournalEntry.id))) == 1
        # A later batch finds nothing left to take: it is refused, never made empty.
        through = DAY + dt.timedelta(days=200)  # still not after today
        with pytest.raises(InvalidInput, match=f"^nothing to post through {through.isoformat()}$"):
            batches.create_batch(session, through_date=through)
        assert session.scalar(select(func.count(JournalBatch.id))) == 1

    def test_asking_again_while_a_batch_is_pending_answers_with_that_batch(self, setup) -> None:  # type: ignore[no-untyped-def]
        session, _, rates = setup
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("5"), unit_price=D("100.00"), effective_date=DAY
        )
        first = batches.create_batch(session, through_date=DAY)
        # The same date, an earlier one, or a later one with nothing new in between.
        for through in (DAY, DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=30)):
            assert batches.create_batch(session, through_date=through).id == first.id
        assert session.scalar(select(func.count(JournalBatch.id))) == 1
        assert batches.post_batch(session, batch_id=first.id).status is BatchStatus.POSTED
        assert len(posted(session, first)) == 2

    def test_a_later_batch_posted_first_leaves_the_earlier_one_its_items(self, setup) -> None:  # type: ignore[no-untyped-def]
        session, _, rates = setup
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        for offset, price in ((0, "100.00"), (10, "90.00")):
            agreements.purchase_block(
                session,
                agreement_id=acme.id,
                units=D("1"),
                unit_price=D(price),
                effective_date=DAY + dt.timedelta(days=offset),
            )
        october = batches.create_batch(session, through_date=DAY)
        november = batches.create_batch(session, through_date=DAY + dt.timedelta(days=10))
        assert november.id != october.id

        batches.post_batch(session, batch_id=november.id)  # its job ran first

        assert [s.status for s in (october, november)] == [BatchStatus.POSTED, BatchStatus.POSTED]
        assert [c for _, c, _, _ in posted(session, october)] == ["1100", "2400"]
        assert [(d, cr) for _, _, d, cr in posted(session, october)] == [(D("100.00"), 0), (0, D("100.00"))]
        assert [(d, cr) for _, _, d, cr in posted(session, november)] == [(D("90.00"), 0), (0, D("90.00"))]
        # The earlier batch's own job then finds it POSTED and does nothing.
        assert batches.post_batch(session, batch_id=october.id).status is BatchStatus.POSTED

    def test_batch_takes_only_items_dated_through_its_date(self, setup) -> None:  # type: ignore[no-untyped-def]
        session, _, rates = setup
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("1"), unit_price=D("1.00"), effective_date=DAY
        )
        agreements.purchase_block(
            session,
            agreement_id=acme.id,
            units=D("1"),
            unit_price=D("2.00"),
            effective_date=DAY + dt.timedelta(days=5),
        )
        first = post(session, DAY)
        assert [line[2] for line in posted(session, first)] == [D("1.00"), D("0.00")]
        rec = ledger.deferred_revenue_reconciliation(session)
        assert (rec.unposted_activity, rec.difference) == (D("2.00"), D("0.00"))

    def test_every_posted_entry_balances_and_write_off_is_recorded(self, setup) -> None:  # type: ignore[no-untyped-def]
        session, _, rates = setup
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("3"), unit_price=D("0.33"), effective_date=DAY
        )
        agreements.adjust_agreement(
            session, agreement_id=acme.id, units=D("1.5"), reason="complimentary", today=DAY
        )
        agreements.adjust_agreement(
            session, agreement_id=acme.id, units=D("-4"), reason="write off", today=DAY
        )
        post(session)
        for entry_id, debit, credit in session.execute(
            select(JournalLine.entry_id, func.sum(JournalLine.debit), func.sum(JournalLine.credit)).group_by(
                JournalLine.entry_id
            )
        ):
            assert debit == credit, entry_id
        adjustment = session.scalars(select(Adjustment).where(Adjustment.units < 0)).one()
        assert adjustment.value == D("0.99")
        assert agreements.balance(session, acme).units_remaining == D("0.50")


class TestChunks:
    """A month end is posted a few drafts at a time (bench B3: 20,000 invoices); here a
    chunk is one or two drafts, so every rule must hold across chunk boundaries."""

    def month(self, session: Session, rates: factories.Rates) -> None:
        """Purchases on two agreements, usage billed later, a write-off and an expiry."""
        block_type = factories.block_time_type(session, rates=rates, expire_after_months=1)
        for identifier in ("ACME", "GLOBEX"):
            agreement = factories.agreement(session, agreement_type=block_type, identifier=identifier)
            for price in ("100.00", "90.00"):
                agreements.purchase_block(
                    session, agreement_id=agreement.id, units=D("3"), unit_price=D(price), effective_date=DAY
                )
            factories.log_time(session, agreement=agreement, rates=rates, date=DAY, hours="1")
            agreements.adjust_agreement(
                session, agreement_id=agreement.id, units=D("-1"), reason="write off", today=DAY
            )
        billing.run_billing(session, through_date=DAY + dt.timedelta(days=1))
        expiry.expire_blocks(session, as_of=dt.date(2026, 3, 2))

    def test_entries_match_the_drafts_in_order_whatever_the_chunk(
        self, setup, monkeypatch: pytest.MonkeyPatch
    ) -> None:  # type: ignore[no-untyped-def]
        session, _, rates = setup
        self.month(session, rates)
        drafts = pending_drafts(session)  # chunks of 900: one
        codes = {"AR": "1100", "SERVICE_REVENUE": "4000", "BREAKAGE": "4200", "LOT": "2400"}
        expected = [
            (
                d.source_type,
                d.source_id,
                d.date,
                [(codes[leg.ref.name], leg.debit, leg.credit) for leg in d.legs],
            )
            for d in drafts
            if d.legs
        ]
        assert {source_type for source_type, *_ in expected} == {"INVOICE", "ADJUSTMENT", "LOT_EXPIRY"}

        monkeypatch.setattr(posting, "DRAFTS_PER_CHUNK", 2)
        batch = post(session)

        assert batch.status is BatchStatus.POSTED
        entries = session.execute(
            select(JournalEntry.id, JournalEntry.source_type, JournalEntry.source_id, JournalEntry.date)
            .where(JournalEntry.batch_id == batch.id)
            .order_by(JournalEntry.id)
        ).all()
        lines = {
            entry_id: [(code, debit, credit) for _, code, debit, credit in rows]
            for entry_id, rows in _by_entry(session, batch).items()
        }
        assert [(s, i, d, lines[e]) for e, s, i, d in entries] == expected
        assert pending_drafts(session) == []
        assert ledger.deferred_revenue_reconciliation(session).difference == D("0.00")

    def test_a_mapping_missing_only_in_a_later_chunk_writes_nothing(
        self, session: Session, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        rates = factories.rates(session)
        ar = mappings.create_gl_account(session, code="1100", name="AR", type=AccountType.ASSET)
        deferred = mappings.create_gl_account(
            session, code="2400", name="Deferred", type=AccountType.LIABILITY
        )
        mappings.set_gl_mapping(session, kind=MappingKind.ACCOUNTS_RECEIVABLE, account_id=ar.id)
        mappings.set_gl_mapping(session, kind=MappingKind.AGREEMENT_TYPE, account_id=deferred.id)
        acme = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        agreements.purchase_block(
            session, agreement_id=acme.id, units=D("5"), unit_price=D("100.00"), effective_date=DAY
        )
        factories.log_time(session, agreement=acme, rates=rates, date=DAY, hours="1")
        # The usage invoice is dated after the purchase: its draft comes in the second chunk.
        billing.run_billing(session, through_date=DAY + dt.timedelta(days=1))
        monkeypatch.setattr(posting, "DRAFTS_PER_CHUNK", 1)

        failed = post(session)

        assert failed.status is BatchStatus.FAILED
        assert failed.error is not None and "SERVICE_REVENUE" in failed.error
        assert session.scalar(select(func.count(JournalEntry.id))) == 0
        assert session.scalar(select(func.count(Invoice.id)).where(Invoice.batch_id.is_not(None))) == 0
        assert session.scalar(select(func.count(Lot.id)).where(Lot.deferred_account_id.is_not(None))) == 0

    def test_has_entries_to_post_stops_at_the_first_draft_with_legs(
        self, setup, monkeypatch: pytest.MonkeyPatch
    ) -> None:  # type: ignore[no-untyped-def]
        session, _, rates = setup
        self.month(session, rates)
        built: list[int] = []
        load = posting._load_pending

        def counted(*args: Any) -> posting.Pending:
            built.append(1)
            return load(*args)

        monkeypatch.setattr(posting, "DRAFTS_PER_CHUNK", 1)
        monkeypatch.setattr(posting, "_load_pending", counted)
        assert batches.has_entries_to_post(session, through_date=clock.today())
        assert len(built) == 1
        # Nothing dated after the last item: no draft is built at all.
        assert not batches.has_entries_to_post(session, through_date=clock.today(), after=dt.date(2026, 3, 2))
        assert len(built) == 1


def _by_entry(session: Session, batch: JournalBatch) -> dict[int, list[tuple[int, str, Decimal, Decimal]]]:
    rows = session.execute(
        select(JournalLine.entry_id, GLAccount.code, JournalLine.debit, JournalLine.credit)
        .join(GLAccount, GLAccount.id == JournalLine.account_id)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalEntry.batch_id == batch.id)
        .order_by(JournalLine.id)
    )
    grouped: dict[int, list[tuple[int, str, Decimal, Decimal]]] = {}
    for entry_id, code, debit, credit in rows:
        grouped.setdefault(entry_id, []).append((entry_id, code, debit, credit))
    return grouped
