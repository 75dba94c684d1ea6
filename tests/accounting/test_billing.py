"""SPEC §3: the billing run, invoice numbering and exactly-once invoicing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

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
