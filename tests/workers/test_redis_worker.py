"""The production shape: Redis, a real `blocktime worker` process, and this process as
`blocktime serve` (its mutations commit through unit_of_work, its relay sends their jobs).

Runs whenever Redis is reachable (CI: always), on the run's database. One worker
process serves the whole module; the fault tests (test_faults.py) start their own.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from accounting import changes, clock, jobs, notifications
from accounting.cycles import cycle_start
from models import AllowanceCycle, JournalBatch, JournalEntry, Notification, NotificationDelivery, Webhook
from models.db import get_engine, unit_of_work
from models.enums import BatchStatus, Cycle, DeliveryStatus
from models.settings import Settings
from tests.workers import scenarios
from tests.workers.conftest import (
    SmtpServer,
    WebhookServer,
    WorkerProcess,
    smtp_server,
    wait_settled,
    wait_until,
)

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture(scope="module")
def module_smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
def worker(
    redis_module_settings: Settings, module_smtp: SmtpServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """`blocktime worker --processes 1 --threads 2`, with SMTP configured."""
    settings = redis_module_settings.model_copy(
        update={"smtp_host": module_smtp.host, "smtp_port": module_smtp.port}
    )
    process = WorkerProcess(settings, Path(tmp_path_factory.mktemp("worker")) / "worker.log")
    yield process
    process.stop()


@pytest.fixture
def api(redis_settings: Settings, worker: WorkerProcess, module_smtp: SmtpServer) -> Iterator[Engine]:
    """This process as `blocktime serve` with REDIS_URL: only the relay runs here."""
    from workers.runtime import background

    module_smtp.mailbox.messages.clear()
    with background(redis_settings):
        yield get_engine(redis_settings)


def batch_status(engine: Engine, batch_id: int) -> BatchStatus:
    with Session(engine) as session:
        return session.get_one(JournalBatch, batch_id).status


class TestWithARedisWorker:
    def test_a_threshold_crossing_sends_one_signed_webhook_and_one_email(
        self, api: Engine, webhook: WebhookServer, module_smtp: SmtpServer
    ) -> None:
        shop = scenarios.prepaid_agreement(api, webhook_url=webhook.url)

        scenarios.log_hours(api, shop, "9")

        mailbox = module_smtp.mailbox
        wait_until(lambda: webhook.received and mailbox.messages, what="the webhook POST and the e-mail")
        wait_settled(api)
        time.sleep(0.3)  # room for a duplicate to show up, were there one
        (post,) = webhook.received
        expected = "sha256=" + hmac.new(scenarios.SECRET.encode(), post.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(post.headers["x-blocktime-signature"], expected)
        assert post.headers["content-type"] == "application/json"
        assert post.json["kind"] == "LOW_BALANCE"
        assert post.json["company"]["identifier"] == "ACME"
        assert post.json["unitsRemaining"] == "1.00"
        ((recipients, mail),) = mailbox.messages
        assert recipients == ["billing@acme.example"]
        assert "running low" in mail["Subject"]
        assert mail["X-Blocktime-Event"] == "LOW_BALANCE"
        with Session(api) as session:
            (notification,) = session.scalars(select(Notification))
            assert notification.delivered_at is not None
            deliveries = session.scalars(select(NotificationDelivery)).all()
            (hook_id,) = session.scalars(select(Webhook.id))
            assert sorted(d.channel for d in deliveries if d.delivered_at) == [
                "email:billing@acme.example",
                f"webhook:{hook_id}",
            ]

    def test_a_refusing_webhook_is_failed_until_retried_while_every_address_gets_its_email(
        self, api: Engine, webhook: WebhookServer, module_smtp: SmtpServer
    ) -> None:
        webhook.statuses = [410]
        shop = scenarios.prepaid_agreement(api, webhook_url=webhook.url)
        with unit_of_work(api) as session:
            changes.update_agreement(
                session, agreement_id=shop.agreement_id, notify_emails=["am@msp.example"]
            )

        scenarios.log_hours(api, shop, "9")

        def statuses() -> dict[str, DeliveryStatus]:
            with Session(api) as session:
                return {d.target: d.status for d in session.scalars(select(NotificationDelivery))}

        wait_until(
            lambda: (
                statuses().get(webhook.url) is DeliveryStatus.FAILED
                and len(module_smtp.mailbox.messages) == 2
            ),
            what="the webhook to fail and both e-mails to be sent",
        )
        assert sorted(r for r, _ in module_smtp.mailbox.messages) == [
            ["am@msp.example"],
            ["billing@acme.example"],
        ]
        with Session(api) as session:
            assert session.scalars(select(Notification.delivered_at)).one() is None
            failed = session.scalars(
                select(NotificationDelivery).where(NotificationDelivery.target == webhook.url)
            ).one()
            assert failed.last_error == f"DeliveryRejected: POST {webhook.url}: HTTP 410"

        with unit_of_work(api) as session:
            notifications.retry_delivery(session, delivery_id=failed.id)

        wait_until(
            lambda: statuses().get(webhook.url) is DeliveryStatus.SENT, what="the retried webhook delivery"
        )
        wait_settled(api)
        assert [r.status for r in webhook.received] == [410, 200]
        with Session(api) as session:
            assert session.scalars(select(Notification.delivered_at)).one() is not None

    def test_a_batch_posted_through_the_outbox_becomes_posted(self, api: Engine) -> None:
        scenarios.prepaid_agreement(api, purchases=2)

        batch_id = scenarios.create_batch(api)

        wait_until(lambda: batch_status(api, batch_id) is BatchStatus.POSTED, what="the batch to be POSTED")
        with Session(api) as session:
            assert session.scalar(select(func.count(JournalEntry.id))) == 2


class TestAllowancesWithARedisWorker:
    def test_a_renewal_run_renews_the_due_cycles_and_warns_once_of_expiring_hours(
        self, api: Engine, webhook: WebhookServer
    ) -> None:
        today = clock.today()
        start = cycle_start(today, Cycle.MONTHLY, -2)
        shop = scenarios.allowance_agreement(
            api, start=start, webhook_url=webhook.url, expiry_warning_days=31
        )

        scenarios.enqueue(api, jobs.RENEW_ALLOWANCES, as_of=today.isoformat())
        scenarios.enqueue(api, jobs.RENEW_ALLOWANCES, as_of=today.isoformat())

        wait_until(lambda: webhook.received, what="the EXPIRING webhook")
        wait_settled(api)
        time.sleep(0.3)  # room for a duplicate to show up, were there one
        # Only the current cycle's lot is still to expire (rollover NONE: all of its 10 h), and
        # the agreement, created behind its cycles, was not announced as depleted meanwhile.
        assert [r.json["kind"] for r in webhook.received] == ["EXPIRING"]
        (post,) = webhook.received
        ends = cycle_start(start, Cycle.MONTHLY, 3)
        assert (post.json["kind"], post.json["units"], post.json["unit"], post.json["expiresOn"]) == (
            "EXPIRING",
            "10.00",
            "HOURS",
            ends.isoformat(),
        )
        with Session(api) as session:
            starts = session.scalars(
                select(AllowanceCycle.start)
                .where(AllowanceCycle.agreement_id == shop.agreement_id)
                .order_by(AllowanceCycle.number)
            ).all()
        assert list(starts) == [cycle_start(start, Cycle.MONTHLY, n) for n in range(3)]
