"""SPEC §4's worked example, step by step, to the cent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounting import agreements, batches, billing, drawdown, ledger
from models import Invoice, InvoiceLine, JournalEntry, JournalLine, TimeEntry
from models.enums import BatchStatus, Coverage, InvoiceKind
from testkit import factories
from testkit.drafts import pending_drafts

D = Decimal
DAY = dt.date(2026, 1, 5)


def _drafted(session: Session, invoice: Invoice) -> list[tuple[str, Decimal, Decimal]]:
    """The posting an invoice will produce, as (account code, debit, credit)."""
    drafts = pending_drafts(session)
    codes = {"AR": "1100", "SERVICE_REVENUE": "4000", "BREAKAGE": "4200", "LOT": "2400"}
    (draft,) = [d for d in drafts if d.source_type == "INVOICE" and d.source_id == invoice.id]
    return [(codes[leg.ref.name], leg.debit, leg.credit) for leg in draft.legs]


class TestWorkedExample:
    def test_every_step_to_the_cent(self, session: Session) -> None:
        books = factories.chart_of_accounts(session)
        rates = factories.rates(session)
        block_type = factories.block_time_type(session, rates=rates)
        acme = factories.agreement(session, agreement_type=block_type)

        def state() -> tuple[Decimal, Decimal]:
            b = agreements.balance(session, acme)
            return b.units_remaining, b.deferred_revenue

        def log(hours: str, work_type: int, day: dt.date) -> Invoice | None:
            drawdown.log_time(
                session,
                company_id=acme.company_id,
                agreement_id=acme.id,
                work_type_id=work_type,
                work_role_id=rates.engineer.id,
                date=day,
                hours=D(hours),
            )
            invoices = billing.run_billing(session, through_date=day)
            assert len(invoices) == 1
            return invoices[0]

        # buy 10 h at 150.00
        first = agreements.purchase_block(
            session, agreement_id=acme.id, units=D("10"), unit_price=D("150.00"), effective_date=DAY
        )
        assert state() == (D("10.00"), D("1500.00"))
        purchase = session.get_one(Invoice, first.invoice_id)
        assert purchase.kind is InvoiceKind.PREPAID_PURCHASE and purchase.total == D("1500.00")
        assert _drafted(session, purchase) == [("1100", D("1500.00"), D("0")), ("2400", D("0"), D("1500.00"))]

        # 3 h Remote
        usage = log("3", rates.remote.id, DAY)
        assert state() == (D("7.00"), D("1050.00"))
        assert usage is not None and usage.kind is InvoiceKind.AGREEMENT_USAGE and usage.total == D("0.00")
        assert _drafted(session, usage) == [("2400", D("450.00"), D("0")), ("4000", D("0"), D("450.00"))]

        # buy 5 h at 140.00
        second = agreements.purchase_block(
            session,
            agreement_id=acme.id,
            units=D("5"),
            unit_price=D("140.00"),
            effective_date=DAY + dt.timedelta(days=1),
        )
        assert state() == (D("12.00"), D("1750.00"))
        assert _drafted(session, session.get_one(Invoice, second.invoice_id)) == [
            ("1100", D("700.00"), D("0")),
            ("2400", D("0"), D("700.00")),
        ]

        # 9 h Remote: 7 h x 150 + 2 h x 140, list value 1350.00 on the $0.00 invoice
        usage = log("9", rates.remote.id, DAY + dt.timedelta(days=2))
        assert state() == (D("3.00"), D("420.00"))
        assert usage is not None and usage.total == D("0.00")
        assert _drafted(session, usage) == [
            ("2400", D("1050.00"), D("0")),
            ("2400", D("280.00"), D("0")),
            ("4000", D("0"), D("1330.00")),
        ]
        lines = session.scalars(
            select(InvoiceLine).where(InvoiceLine.invoice_id == usage.id).order_by(InvoiceLine.position)
        ).all()
        assert [(line.quantity, line.amount) for line in lines] == [
            (D("9.00"), D("1350.00")),
            (D("1.00"), D("-1350.00")),
        ]
        assert lines[-1].description == billing.COVERED_LINE

        # 2 h After Hours: excluded, STANDARD at list value
        standard = log("2", rates.after_hours.id, DAY + dt.timedelta(days=3))
        assert state() == (D("3.00"), D("420.00"))
        assert (
            standard is not None and standard.kind is InvoiceKind.STANDARD and standard.total == D("450.00")
        )
        assert _drafted(session, standard) == [("1100", D("450.00"), D("0")), ("4000", D("0"), D("450.00"))]

        # 1.5 h Remote, LOW_BALANCE raised once
        assert factories.run_evaluations(session) == []
        usage = log("1.5", rates.remote.id, DAY + dt.timedelta(days=4))
        assert state() == (D("1.50"), D("210.00"))
        assert _drafted(session, usage) == [("2400", D("210.00"), D("0")), ("4000", D("0"), D("210.00"))]
        assert factories.run_evaluations(session) == ["LOW_BALANCE"]
        assert factories.run_evaluations(session) == []

        # One batch: the trial balance and the reconciliation
        batch = batches.create_batch(session, through_date=DAY + dt.timedelta(days=30))
        batch = batches.post_batch(session, batch_id=batch.id)
        assert batch.status is BatchStatus.POSTED, batch.error
        assert batch.total_debit == batch.total_credit == D("4640.00")
        trial = {row.account.code: (row.debit, row.credit) for row in ledger.trial_balance(session)}
        assert trial == {
            "1100": (D("2650.00"), D("0.00")),
            "2400": (D("0.00"), D("210.00")),
            "4000": (D("0.00"), D("2440.00")),
            "4200": (D("0.00"), D("0.00")),
        }
        rec = ledger.deferred_revenue_reconciliation(session)
        assert (rec.ledger_balance, rec.agreements_total, rec.unposted_activity, rec.difference) == (
            D("210.00"),
            D("210.00"),
            D("0.00"),
            D("0.00"),
        )
        assert session.scalar(select(JournalEntry.id).where(JournalEntry.batch_id != batch.id)) is None
        # One entry per invoice: two purchases, three usage, one STANDARD.
        assert session.scalar(select(func.count(JournalEntry.id))) == 6
        deferred_lines = session.scalar(
            select(func.count(JournalLine.id)).where(JournalLine.account_id == books.deferred.id)
        )
        assert deferred_lines == 6
        entries = session.scalars(select(TimeEntry).order_by(TimeEntry.id)).all()
        assert [e.coverage for e in entries] == [
            Coverage.COVERED,
            Coverage.COVERED,
            Coverage.EXCLUDED_WORK_TYPE,
            Coverage.COVERED,
        ]
