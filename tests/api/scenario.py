"""Two customers with everything a portal can reach, built through the accounting rules."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Engine

from accounting import agreements, batches, billing, notifications
from models.db import unit_of_work
from testkit import factories
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
    # Part "admin": a token to revoke, a mapping to delete, a failed job and a failed delivery to retry.
    spare_token_id: str = ""
    spare_mapping_id: str = ""
    failed_job_id: str = ""
    failed_delivery_id: str = ""


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
            entry = factories.log_time(
                session,
                agreement=agreement,
                rates=rates,
                date=DAY,
                hours="9",
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
    return _with_admin_objects(engine, ids)


def _with_admin_objects(engine: Engine, ids: Scenario) -> Scenario:
    """What part "admin" operates on: a spare token and mapping, dead letters to retry."""
    import dataclasses

    from sqlalchemy import select

    from accounting import access, jobs, mappings, outbox
    from models import Notification
    from models.enums import MappingKind, Role

    with unit_of_work(engine) as session:
        token, _ = access.create_token(session, role=Role.TECHNICIAN, name="old integration")
        mapping = mappings.set_gl_mapping(
            session, kind=MappingKind.PRODUCT_CATEGORY, category="Spare", account_id=int(ids.account_id)
        )
        dead = jobs.enqueue(session, jobs.POST_BATCH, batch_id=999_999)
        outbox.record_failure(
            session, job_id=dead.id, error="NotFound: journal batch 999999 not found", final=True
        )
        notification = session.scalars(select(Notification).order_by(Notification.id)).first()
        assert notification is not None
        (channel,) = notifications.plan_deliveries(
            session, notification_id=notification.id, email_enabled=False
        )
        send = jobs.enqueue(session, jobs.SEND_DELIVERY, delivery_id=channel.delivery_id)
        outbox.record_failure(session, job_id=send.id, error="DeliveryRejected: HTTP 410", final=True)
        return dataclasses.replace(
            ids,
            spare_token_id=str(token.id),
            spare_mapping_id=str(mapping.id),
            failed_job_id=str(dead.id),
            failed_delivery_id=str(channel.delivery_id),
        )
