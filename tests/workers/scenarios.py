"""Scenarios committed through unit_of_work, as the API's mutations commit them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Engine

from accounting import agreements, allowances, batches, catalog, clock, drawdown, jobs, notifications
from models import JournalBatch, OutboxJob, TimeEntry
from models.db import unit_of_work
from models.enums import Cycle, RolloverPolicy
from testkit import factories

D = Decimal
DAY = dt.date(2026, 11, 2)
SECRET = "whsec-test-0123456789"


@dataclass(frozen=True)
class Shop:
    agreement_id: int
    company_id: int
    engineer_id: int
    remote_id: int
    after_hours_id: int


def prepaid_agreement(
    engine: Engine,
    *,
    hours: str = "10",
    webhook_url: str | None = None,
    expire_after_months: int | None = None,
    purchases: int = 1,
) -> Shop:
    """ACME's "Block Time" agreement (threshold 2 h), `hours` bought at 150.00 per purchase."""
    with unit_of_work(engine) as session:
        factories.chart_of_accounts(session)
        rates = factories.rates(session)
        block = factories.block_time_type(session, rates=rates, expire_after_months=expire_after_months)
        deal = factories.agreement(session, agreement_type=block)
        for n in range(purchases):
            agreements.purchase_block(
                session,
                agreement_id=deal.id,
                units=D(hours),
                unit_price=D("150.00"),
                effective_date=dt.date(2026, 1, 1) + dt.timedelta(days=n),
            )
        if webhook_url:
            notifications.register_webhook(session, url=webhook_url, secret=SECRET)
        return Shop(deal.id, deal.company_id, rates.engineer.id, rates.remote.id, rates.after_hours.id)


def log_hours(
    engine: Engine, shop: Shop, hours: str, *, work_type_id: int | None = None, day: dt.date = DAY
) -> int:
    """logTime: the entry, its draw-down and its notifications.evaluate job, in one commit."""
    with unit_of_work(engine) as session:
        entry: TimeEntry = drawdown.log_time(
            session,
            company_id=shop.company_id,
            agreement_id=shop.agreement_id,
            work_type_id=work_type_id or shop.remote_id,
            work_role_id=shop.engineer_id,
            date=day,
            hours=D(hours),
        )
        return entry.id


def enqueue(engine: Engine, actor: str, **arguments: object) -> int:
    with unit_of_work(engine) as session:
        job: OutboxJob = jobs.enqueue(session, actor, **arguments)
        return job.id


def create_batch(engine: Engine, *, through: dt.date | None = None) -> int:
    """postJournalBatch: a PENDING batch and its batches.post job, in one commit."""
    with unit_of_work(engine) as session:
        batch: JournalBatch = batches.create_batch(session, through_date=through or clock.today())
        return batch.id


def allowance_agreement(
    engine: Engine,
    *,
    start: dt.date = dt.date(2026, 9, 30),
    webhook_url: str | None = None,
    expiry_warning_days: int | None = None,
    identifier: str = "ACME",
) -> Shop:
    """ACME's monthly allowance of 10 h at 120.00 (rollover NONE) from `start`, created today."""
    with unit_of_work(engine) as session:
        factories.chart_of_accounts(session)
        rates = factories.rates(session)
        block = factories.block_time_type(session, rates=rates)
        block.expiry_warning_days = expiry_warning_days
        company = catalog.create_company(
            session, identifier=identifier, name=f"{identifier} Inc.", billing_email="billing@acme.example"
        )
        deal = allowances.create_agreement_with_allowance(
            session,
            company_id=company.id,
            agreement_type_id=block.id,
            name=f"{identifier} monthly hours",
            start_date=start,
            allowance=allowances.AllowanceTerms(
                cycle=Cycle.MONTHLY, units=D("10"), unit_price=D("120.00"), rollover=RolloverPolicy.NONE
            ),
        )
        if webhook_url:
            notifications.register_webhook(session, url=webhook_url, secret=SECRET)
        return Shop(deal.id, deal.company_id, rates.engineer.id, rates.remote.id, rates.after_hours.id)
