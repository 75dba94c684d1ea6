"""SPEC §3: the billing run, invoice numbering and exactly-once invoicing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from accounting import agreements, billing, drawdown
from accounting.errors import InsufficientBalance
from models import Invoice, InvoiceLine, TimeEntry
from models.db import unit_of_work
from models.enums import BillableOption, InvoiceKind
from testkit import factories

D = Decimal
DAY = dt.date(2026, 6, 1)


def _setup(engine: Engine) -> tuple[int, int, int, int]:
    with unit_of_work(engine) as session:
        rates = factories.rates(session)
        deal = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        agreements.purchase_block(
            session, agreement_id=deal.id, units=D("5"), unit_price=D("100.00"), effective_date=DAY
        )
        return deal.id, deal.company_id, rates.remote.id, rates.engineer.id


class TestBillingRun:
    def test_numbers_are_gap_free_even_after_a_failed_transaction(self, db: Engine) -> None:
        agreement_id, company_id, remote, engineer = _setup(db)
        try:
            with unit_of_work(db) as session:
                agreements.purchase_block(
                    session,
                    agreement_id=agreement_id,
                    units=D("1"),
                    unit_price=D("1.00"),
                    effective_date=DAY,
                )
                drawdown.log_time(
                    session,
                    company_id=company_id,
                    agreement_id=agreement_id,
                    work_type_id=remote,
                    work_role_id=engineer,
                    date=DAY,
                    hours=D("100"),
                )
        except InsufficientBalance:
            pass
        with unit_of_work(db) as session:
            for hours in ("1", "2"):
                drawdown.log_time(
                    session,
                    company_id=company_id,
                    agreement_id=agreement_id,
                    work_type_id=remote,
                    work_role_id=engineer,
                    date=DAY,
                    hours=D(hours),
                )
            drawdown.log_time(
                session,
                company_id=company_id,
                agreement_id=agreement_id,
                work_type_id=remote,
                work_role_id=engineer,
                date=DAY,
                hours=D("1"),
                billable_option=BillableOption.NO_CHARGE,
            )
            drawdown.log_time(
                session,
                company_id=company_id,
                agreement_id=agreement_id,
                work_type_id=remote,
                work_role_id=engineer,
                date=DAY,
                hours=D("3"),
                billable_option=BillableOption.DO_NOT_BILL,
            )
            billing.run_billing(session, through_date=DAY)
            assert billing.run_billing(session, through_date=DAY) == []
        with unit_of_work(db, writer=False) as session:
            numbers = list(session.scalars(select(Invoice.number).order_by(Invoice.id)))
            assert numbers == ["INV-000001", "INV-000002"]
            usage = session.scalars(select(Invoice).where(Invoice.kind == InvoiceKind.AGREEMENT_USAGE)).one()
            lines = session.scalars(
                select(InvoiceLine).where(InvoiceLine.invoice_id == usage.id).order_by(InvoiceLine.position)
            ).all()
            assert [(line.quantity, line.amount) for line in lines] == [
                (D("1.00"), D("150.00")),
                (D("2.00"), D("300.00")),
                (D("1.00"), D("0.00")),
                (D("1.00"), D("-450.00")),
            ]
            assert "(no charge)" in lines[2].description
            assert usage.total == D("0.00") and usage.date == DAY
            unbilled = session.scalars(select(TimeEntry).where(TimeEntry.usage_invoice_id.is_(None))).all()
            assert [e.billable_option for e in unbilled] == [BillableOption.DO_NOT_BILL]

    def test_time_after_the_through_date_waits_for_a_later_run(self, db: Engine) -> None:
        agreement_id, company_id, remote, engineer = _setup(db)
        with unit_of_work(db) as session:
            for day in (DAY, DAY + dt.timedelta(days=1)):
                drawdown.log_time(
                    session,
                    company_id=company_id,
                    agreement_id=agreement_id,
                    work_type_id=remote,
                    work_role_id=engineer,
                    date=day,
                    hours=D("1"),
                )
            (first,) = billing.run_billing(session, through_date=DAY)
            (second,) = billing.run_billing(session, through_date=DAY + dt.timedelta(days=1))
            assert (first.date, second.date) == (DAY, DAY + dt.timedelta(days=1))
            billed = session.scalars(select(TimeEntry.usage_invoice_id).order_by(TimeEntry.id)).all()
            assert billed == [first.id, second.id]


class TestSlices:
    def test_a_run_in_many_slices_invoices_each_entry_once_numbered_in_order(
        self, db: Engine, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Slices of 2 entries and updates of 2 ids: agreements and companies spread over
        slices, an overrun entry on both a usage and a standard invoice."""
        monkeypatch.setattr(billing, "_ENTRIES_PER_SLICE", 2)
        monkeypatch.setattr(billing, "_IDS_PER_UPDATE", 2)
        with unit_of_work(db) as session:
            rates = factories.rates(session)
            kind = factories.block_time_type(session, rates=rates, allow_overruns=True)
            deals = [factories.agreement(session, agreement_type=kind, identifier=f"C{n}") for n in range(3)]
            for deal in deals:
                agreements.purchase_block(
                    session, agreement_id=deal.id, units=D("2"), unit_price=D("100.00"), effective_date=DAY
                )
                for hours, work_type, option in (
                    ("1", rates.remote, BillableOption.BILLABLE),
                    ("2", rates.remote, BillableOption.BILLABLE),  # 1 h covered, 1 h overrun
                    ("1", rates.remote, BillableOption.DO_NOT_BILL),
                    ("1", rates.after_hours, BillableOption.BILLABLE),  # excluded: standard only
                ):
                    drawdown.log_time(
                        session,
                        company_id=deal.company_id,
                        agreement_id=deal.id,
                        work_type_id=work_type.id,
                        work_role_id=rates.engineer.id,
                        date=DAY,
                        hours=D(hours),
                        billable_option=option,
                    )
            invoices = billing.run_billing(session, through_date=DAY)
            assert billing.run_billing(session, through_date=DAY) == []
            usage = [i for i in invoices if i.kind is InvoiceKind.AGREEMENT_USAGE]
            standard = [i for i in invoices if i.kind is InvoiceKind.STANDARD]
            assert [i.agreement_id for i in usage] == sorted(d.id for d in deals)
            assert [i.company_id for i in standard] == sorted(d.company_id for d in deals)
            # Purchases took INV-000001..3; the run numbers usage invoices, then standard ones.
            assert [i.number for i in invoices] == [f"INV-{n:06d}" for n in range(4, 10)]
            assert [i.total for i in standard] == [D("375.00")] * 3  # 1 h at 150.00 + 1 h at 225.00
            entries = session.scalars(select(TimeEntry).order_by(TimeEntry.id)).all()
            assert all(e.billed for e in entries)
            by_invoice = {i.id: i for i in invoices}
            for entry in entries:
                on_usage = by_invoice[entry.usage_invoice_id] if entry.usage_invoice_id else None
                on_standard = by_invoice[entry.standard_invoice_id] if entry.standard_invoice_id else None
                if entry.billable_option is BillableOption.DO_NOT_BILL:
                    assert on_usage is None and on_standard is None
                    continue
                if entry.units_applied > 0:
                    assert on_usage is not None and on_usage.agreement_id == entry.agreement_id
                if entry.amount_billable > 0:
                    assert on_standard is not None and on_standard.company_id == entry.company_id
            assert sum(1 for e in entries if e.usage_invoice_id and e.standard_invoice_id) == 3
            for invoice in invoices:
                lines = session.scalars(
                    select(InvoiceLine)
                    .where(InvoiceLine.invoice_id == invoice.id)
                    .order_by(InvoiceLine.position)
                ).all()
                assert sum((line.amount for line in lines), D("0")) == invoice.total
                assert len(lines) == (3 if invoice.kind is InvoiceKind.AGREEMENT_USAGE else 2)
