"""Two customers with everything a portal can reach, built through the accounting rules."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Engine

from accounting import agreements, batches, billing, drawdown, notifications
from models.db import unit_of_work
from tests import factories
from tests.api.helpers import run_pending_jobs

D = Decimal
DAY = dt.date(2026, 1, 5)


@dataclass(frozen=True)
class Customer:
    identifier: str
    company_id: str
    agreement_id: str
    time_entry_id: str
    invoice_id: str


@dataclass(frozen=True)
class Scenario:
    acme: Customer
    globex: Customer
    engineer_id: str
    remote_id: str
    after_hours_id: str
    agreement_type_id: str
    account_id: str
    batch_id: str
    webhook_id: str


def build(engine: Engine) -> Scenario:
    """ACME and GLOBEX, each with a block, covered time, invoices, a notification; one posted batch."""
    with unit_of_work(engine) as session:
        books = factories.chart_of_accounts(session)
        rates = factories.rates(session)
        block_type = factories.block_time_type(session, rates=rates)
        customers = []
        for identifier in ("ACME", "GLOBEX"):
            agreement = factories.agreement(session, agreement_type=block_type, identifier=identifier)
            addition = agreements.purchase_block(
                session, agreement_id=agreement.id, units=D("10"), unit_price=D("150.00"), effective_date=DAY
            )
            entry = drawdown.log_time(
                session,
                company_id=agreement.company_id,
                agreement_id=agreement.id,
                work_type_id=rates.remote.id,
                work_role_id=rates.engineer.id,
                date=DAY,
                hours=D("9"),
                notes=f"{identifier} server upgrade",
            )
            customers.append(
                Customer(
                    identifier,
                    str(agreement.company_id),
                    str(agreement.id),
                    str(entry.id),
                    str(addition.invoice_id),
                )
            )
        billing.run_billing(session, through_date=DAY)
        webhook = notifications.register_webhook(
            session, url="https://hooks.example/blocktime", secret="s3cret-hook"
        )
        batch = batches.create_batch(session, through_date=DAY)
        ids = Scenario(
            acme=customers[0],
            globex=customers[1],
            engineer_id=str(rates.engineer.id),
            remote_id=str(rates.remote.id),
            after_hours_id=str(rates.after_hours.id),
            agreement_type_id=str(block_type.id),
            account_id=str(books.deferred.id),
            batch_id=str(batch.id),
            webhook_id=str(webhook.id),
        )
    run_pending_jobs(engine)  # evaluates balances (LOW_BALANCE for both) and posts the batch
    return ids
