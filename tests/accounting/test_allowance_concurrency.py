"""SPEC §9: renewal jobs running at the same time renew each cycle once, on both databases."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from sqlalchemy import Engine, func, select

from accounting import allowances, catalog
from models import AllowanceCycle, Invoice, Lot
from models.db import unit_of_work
from models.enums import Cycle, InvoiceKind, RolloverPolicy
from testkit import factories
from tests.accounting.test_concurrency import any_engine  # noqa: F401 - the fixture, both databases

D = Decimal
AS_OF = dt.date(2026, 6, 30)


def _agreements(engine: Engine, count: int) -> list[int]:
    with unit_of_work(engine) as session:
        factories.chart_of_accounts(session)
        rates = factories.rates(session)
        block = factories.block_time_type(session, rates=rates)
        ids = []
        for n in range(count):
            company = catalog.create_company(session, identifier=f"C{n}", name=f"Customer {n}")
            deal = allowances.create_agreement_with_allowance(
                session,
                company_id=company.id,
                agreement_type_id=block.id,
                name=f"Customer {n} hours",
                start_date=dt.date(2026, 1, 31),
                allowance=allowances.AllowanceTerms(
                    cycle=Cycle.MONTHLY,
                    units=D("10"),
                    unit_price=D("100.00"),
                    rollover=RolloverPolicy.CAPPED,
                    rollover_cap=D("3"),
                ),
            )
            ids.append(deal.id)
    return ids


def _renew(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return len(allowances.renew_allowances(session, as_of=AS_OF))


class TestConcurrentRenewal:
    def test_eight_renewal_jobs_at_once_renew_each_cycle_once(self, any_engine: Engine) -> None:  # noqa: F811
        ids = _agreements(any_engine, 4)
        with ThreadPoolExecutor(max_workers=8) as pool:
            renewed = list(pool.map(lambda _: _renew(any_engine), range(8)))
        # Five cycles (Feb 28 to Jun 30) for each of the 4 agreements, whoever renewed them.
        assert sum(renewed) == 20
        with unit_of_work(any_engine, writer=False) as session:
            per_agreement = Counter(session.scalars(select(AllowanceCycle.agreement_id)))
            assert per_agreement == dict.fromkeys(ids, 6)
            invoices = session.scalar(
                select(func.count(Invoice.id)).where(Invoice.kind == InvoiceKind.PREPAID_PURCHASE)
            )
            assert invoices == 24
            assert session.scalar(select(func.count(Lot.id))) == 24
            numbers = session.scalars(select(Invoice.number).order_by(Invoice.number)).all()
            assert len(set(numbers)) == 24
