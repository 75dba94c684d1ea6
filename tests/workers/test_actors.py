"""The actors in the embedded mode: an in-process broker, worker threads and the relay.

Delivery is at least once, so each actor is run again with the very message it
already processed, and again through a second job with the same arguments: one
invoice, one posting, one notification, one delivery.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from accounting import jobs, notifications, outbox
from models import (
    AllowanceCycle,
    Invoice,
    InvoiceLine,
    JournalBatch,
    JournalEntry,
    LotMovement,
    Notification,
    NotificationDelivery,
    OutboxJob,
    Webhook,
    utcnow,
)
from models.db import unit_of_work
from models.enums import BatchStatus, DeliveryStatus, InvoiceKind, JobStatus, MovementKind
from models.settings import Settings
from tests.workers import scenarios
from tests.workers.conftest import InProcess, SmtpServer, WebhookServer

D = Decimal


def count(engine: Engine, column: object, *where: object) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count(column)).where(*where)) or 0)  # type: ignore[arg-type]


def jobs_of(engine: Engine, actor: str) -> list[OutboxJob]:
    with Session(engine) as session:
        return list(session.scalars(select(OutboxJob).where(OutboxJob.actor == actor).order_by(OutboxJob.id)))


class TestEachActorRunTwice:
    def test_billing_run_invoices_each_entry_once(self, in_process: InProcess) -> None:
        engine = in_process.engine
        shop = scenarios.prepaid_agreement(engine)
        covered = scenarios.log_hours(engine, shop, "3")
        excluded = scenarios.log_hours(engine, shop, "2", work_type_id=shop.after_hours_id)  # STANDARD
        job_id = scenarios.enqueue(engine, jobs.RUN_BILLING, through_date="2026-11-30")
        in_process.settle()

        in_process.deliver_again(job_id, times=2)
        scenarios.enqueue(engine, jobs.RUN_BILLING, through_date="2026-11-30")
        in_process.settle()

        assert count(engine, Invoice.id, Invoice.kind == InvoiceKind.AGREEMENT_USAGE) == 1
        assert count(engine, Invoice.id, Invoice.kind == InvoiceKind.STANDARD) == 1
        with Session(engine) as session:
            lines = session.scalars(
                select(InvoiceLine.time_entry_id).where(InvoiceLine.time_entry_id.is_not(None))
            )
            assert sorted(lines) == [covered, excluded]
        first, second = jobs_of(engine, jobs.RUN_BILLING)
        assert (first.status, first.attempts) == (JobStatus.DONE, 1)
        assert (second.status, second.attempts) == (JobStatus.DONE, 1)

    def test_batch_is_posted_once(self, in_process: InProcess) -> None:
        engine = in_process.engine
        scenarios.prepaid_agreement(engine, purchases=3)
        batch_id = scenarios.create_batch(engine)
        in_process.settle()
        (job,) = jobs_of(engine, jobs.POST_BATCH)

        in_process.deliver_again(job.id, times=2)
        scenarios.enqueue(engine, jobs.POST_BATCH, batch_id=batch_id)
        in_process.settle()

        with Session(engine) as session:
            batch = session.get_one(JournalBatch, batch_id)
            assert batch.status is BatchStatus.POSTED
            assert batch.total_debit == batch.total_credit == D("4500.00")
        assert count(engine, JournalEntry.id) == 3
        assert [j.status for j in jobs_of(engine, jobs.POST_BATCH)] == [JobStatus.DONE, JobStatus.DONE]

    def test_expiry_expires_once(self, in_process: InProcess) -> None:
        engine = in_process.engine
        scenarios.prepaid_agreement(engine, expire_after_months=1)  # bought 2026-01-01, expires 2026-02-01
        job_id = scenarios.enqueue(engine, jobs.EXPIRE_BLOCKS, as_of="2026-11-02")
        in_process.settle()

        in_process.deliver_again(job_id, times=2)
        scenarios.enqueue(engine, jobs.EXPIRE_BLOCKS, as_of="2026-11-02")
        in_process.settle()

        assert count(engine, LotMovement.id, LotMovement.kind == MovementKind.EXPIRY) == 1
        with Session(engine) as session:
            (movement,) = session.scalars(select(LotMovement).where(LotMovement.kind == MovementKind.EXPIRY))
            assert (movement.units, movement.date) == (D("10.00"), dt.date(2026, 2, 1))

    def test_evaluation_raises_one_notification(self, in_process: InProcess) -> None:
        engine = in_process.engine
        shop = scenarios.prepaid_agreement(engine)
        scenarios.log_hours(engine, shop, "9")
        in_process.settle()
        evaluation = jobs_of(engine, jobs.EVALUATE_BALANCE)[-1]

        in_process.deliver_again(evaluation.id, times=2)
        scenarios.enqueue(engine, jobs.EVALUATE_BALANCE, agreement_id=shop.agreement_id, time_entry_id=None)
        in_process.settle()

        with Session(engine) as session:
            (notification,) = session.scalars(select(Notification))
            assert (notification.kind.value, notification.units_remaining) == ("LOW_BALANCE", D("1.00"))
        assert len(jobs_of(engine, jobs.DELIVER_NOTIFICATION)) == 1

    def test_delivery_sends_each_channel_once(
        self, db: Engine, in_process_settings: Settings, webhook: WebhookServer, smtp: SmtpServer
    ) -> None:
        from workers.runtime import background

        settings = in_process_settings.model_copy(update={"smtp_host": smtp.host, "smtp_port": smtp.port})
        with background(settings, schedule=False):
            from workers.broker import current_broker

            in_process = InProcess(settings, db, current_broker())
            shop = scenarios.prepaid_agreement(db, webhook_url=webhook.url)
            scenarios.log_hours(db, shop, "9")
            in_process.settle()
            assert (len(webhook.received), len(smtp.mailbox.messages)) == (1, 1)

            for job in jobs_of(db, jobs.DELIVER_NOTIFICATION) + jobs_of(db, jobs.SEND_DELIVERY):
                in_process.deliver_again(job.id, times=2)
            (notification_id,) = {n.id for n in _notifications(db)}
            scenarios.enqueue(db, jobs.DELIVER_NOTIFICATION, notification_id=notification_id)
            in_process.settle()

        assert len(webhook.received) == 1
        assert len(smtp.mailbox.messages) == 1
        assert len(jobs_of(db, jobs.SEND_DELIVERY)) == 2  # the second deliver job found nothing to send
        with Session(db) as session:
            deliveries = session.scalars(
                select(NotificationDelivery).order_by(NotificationDelivery.channel)
            ).all()
            (hook_id,) = session.scalars(select(Webhook.id))
            assert [(d.channel, d.attempts) for d in deliveries] == [
                ("email:billing@acme.example", 1),
                (f"webhook:{hook_id}", 1),
            ]
            assert all(d.delivered_at is not None for d in deliveries)
            assert session.get_one(Notification, notification_id).delivered_at is not None


def _notifications(engine: Engine) -> list[Notification]:
    with Session(engine) as session:
        return list(session.scalars(select(Notification)))


class TestFailures:
    def test_a_domain_error_fails_the_job_at_once_and_visibly(self, in_process: InProcess) -> None:
        engine = in_process.engine
        job_id = scenarios.enqueue(engine, jobs.POST_BATCH, batch_id=999)

        assert in_process.settle() == {JobStatus.FAILED: 1}
        with Session(engine) as session:
            (dead,) = outbox.failed_jobs(session)
            assert (dead.id, dead.attempts) == (job_id, 1)
            assert dead.last_error == "NotFound: journal batch 999 not found"

        with unit_of_work(engine) as session:
            outbox.retry_job(session, job_id=job_id)
        in_process.settle()
        with Session(engine) as session:
            job = session.get_one(OutboxJob, job_id)
            assert (job.status, job.attempts) == (JobStatus.FAILED, 2)

    def test_retries_exhausted_fail_the_job_with_its_error(
        self, in_process: InProcess, webhook: WebhookServer
    ) -> None:
        webhook.statuses = [503] * 10
        engine = in_process.engine
        shop = scenarios.prepaid_agreement(engine, webhook_url=webhook.url)
        # The notification and its delivery row, with no job of the outbox's own: this
        # test sends the one job itself, with two retries 10 ms apart.
        with unit_of_work(engine) as session:
            delivery_id = planned_delivery_without_jobs(session, shop)
            job = jobs.enqueue(session, jobs.SEND_DELIVERY, delivery_id=delivery_id)
            job.status, job.sent_at = JobStatus.SENT, utcnow()
            job_id = job.id
        actor = in_process.broker.get_actor(jobs.SEND_DELIVERY)
        actor.send_with_options(
            kwargs={"job_id": job_id, "delivery_id": delivery_id},
            max_retries=2,
            min_backoff=10,
            max_backoff=20,
        )

        in_process.settle()

        assert [r.status for r in webhook.received] == [503, 503, 503]
        with Session(engine) as session:
            job = session.get_one(OutboxJob, job_id)
            assert (job.status, job.attempts) == (JobStatus.FAILED, 3)
            assert (job.last_error or "").endswith("HTTP 503")
            delivery = session.get_one(NotificationDelivery, delivery_id)
            assert (delivery.attempts, delivery.delivered_at) == (3, None)
            assert delivery.status is DeliveryStatus.FAILED  # its retries are used up (SPEC §10)
            assert delivery.last_error == job.last_error


def planned_delivery_without_jobs(session: Session, shop: scenarios.Shop) -> int:
    """Raise a notification and plan its webhook delivery, dropping the jobs they enqueue."""
    from accounting import drawdown

    drawdown.log_time(
        session,
        company_id=shop.company_id,
        agreement_id=shop.agreement_id,
        work_type_id=shop.remote_id,
        work_role_id=shop.engineer_id,
        date=scenarios.DAY,
        hours=D("9"),
    )
    (notification,) = notifications.evaluate_balance(session, agreement_id=shop.agreement_id)
    (channel,) = notifications.plan_deliveries(session, notification_id=notification.id, email_enabled=False)
    session.execute(update(OutboxJob).values(status=JobStatus.DONE))
    return channel.delivery_id


class TestAllowanceRenewal:
    def test_a_renewal_job_delivered_three_times_and_sent_twice_renews_each_cycle_once(
        self, in_process: InProcess
    ) -> None:
        engine = in_process.engine
        shop = scenarios.allowance_agreement(engine, start=dt.date(2026, 8, 31))
        job_id = scenarios.enqueue(engine, jobs.RENEW_ALLOWANCES, as_of="2026-11-30")
        in_process.settle()

        in_process.deliver_again(job_id, times=2)
        scenarios.enqueue(engine, jobs.RENEW_ALLOWANCES, as_of="2026-11-30")
        in_process.settle()

        with Session(engine) as session:
            starts = session.scalars(
                select(AllowanceCycle.start)
                .where(AllowanceCycle.agreement_id == shop.agreement_id)
                .order_by(AllowanceCycle.number)
            ).all()
            invoices = session.scalars(
                select(Invoice.date).where(Invoice.kind == InvoiceKind.PREPAID_PURCHASE).order_by(Invoice.id)
            ).all()
        expected = [dt.date(2026, 8, 31), dt.date(2026, 9, 30), dt.date(2026, 10, 31), dt.date(2026, 11, 30)]
        assert list(starts) == expected and list(invoices) == expected
        assert [j.status for j in jobs_of(engine, jobs.RENEW_ALLOWANCES)] == [JobStatus.DONE, JobStatus.DONE]
