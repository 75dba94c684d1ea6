"""Deliveries that say what really happened (SPEC §10), with the embedded worker, a real
webhook endpoint and a real SMTP server (aiosmtpd), STARTTLS included."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from accounting import changes, notifications
from models import AuditEntry, Notification, NotificationDelivery, OutboxJob, Webhook
from models.db import unit_of_work
from models.enums import DeliveryStatus, JobStatus
from models.settings import Settings
from tests.processes import free_port, run_blocktime
from tests.workers import scenarios
from tests.workers.conftest import InProcess, Mailbox, SmtpServer, WebhookServer, wait_until


@contextmanager
def worker(settings: Settings, engine: Engine) -> Iterator[InProcess]:
    """The embedded worker with these settings (SMTP, STARTTLS) on the test database."""
    from workers.runtime import background

    with background(settings, schedule=False):
        from workers.broker import current_broker

        yield InProcess(settings, engine, current_broker())


def deliveries(engine: Engine) -> list[NotificationDelivery]:
    with Session(engine) as session:
        return list(session.scalars(select(NotificationDelivery).order_by(NotificationDelivery.id)))


def the_notification(engine: Engine) -> Notification:
    with Session(engine) as session:
        (notification,) = session.scalars(select(Notification))
        return notification


def update(engine: Engine, shop: scenarios.Shop, **fields: object) -> None:
    with unit_of_work(engine) as session:
        changes.update_agreement(session, agreement_id=shop.agreement_id, **fields)  # type: ignore[arg-type]


class TestWebhookDeliveries:
    def test_a_refusing_webhook_ends_failed_with_its_error_and_is_sent_after_a_retry(
        self, in_process: InProcess, webhook: WebhookServer
    ) -> None:
        engine = in_process.engine
        webhook.statuses = [410]  # Gone: refused for good, not retried by itself
        shop = scenarios.prepaid_agreement(engine, webhook_url=webhook.url)

        scenarios.log_hours(engine, shop, "9")
        in_process.settle()

        (failed,) = deliveries(engine)
        assert (failed.status, failed.attempts, failed.delivered_at) == (DeliveryStatus.FAILED, 1, None)
        assert failed.target == webhook.url
        assert failed.last_error == f"DeliveryRejected: POST {webhook.url}: HTTP 410"
        assert the_notification(engine).delivered_at is None

        with unit_of_work(engine) as session:
            notifications.retry_delivery(session, delivery_id=failed.id)
        in_process.settle()

        (sent,) = deliveries(engine)
        assert (sent.status, sent.attempts, sent.last_error) == (DeliveryStatus.SENT, 2, None)
        assert sent.delivered_at is not None
        assert the_notification(engine).delivered_at is not None
        assert [r.status for r in webhook.received] == [410, 200]
        with Session(engine) as session:
            jobs = session.scalars(select(OutboxJob).where(OutboxJob.actor == "deliveries.send")).all()
            assert [(j.status, j.attempts) for j in jobs] == [(JobStatus.DONE, 2)]  # the dead letter, retried

    def test_the_cli_retries_a_failed_delivery_job_and_the_audit_trail_names_the_operator(
        self, in_process: InProcess, webhook: WebhookServer, settings: Settings, tmp_path: Path
    ) -> None:
        engine = in_process.engine
        webhook.statuses = [400]
        shop = scenarios.prepaid_agreement(engine, webhook_url=webhook.url)
        scenarios.log_hours(engine, shop, "9")
        in_process.settle()
        with Session(engine) as session:
            (dead,) = session.scalars(select(OutboxJob).where(OutboxJob.status == JobStatus.FAILED))

        listed = run_blocktime("jobs", "failed", cwd=tmp_path, DATABASE_URL=settings.database_url)
        retried = run_blocktime(
            "jobs", "retry", str(dead.id), cwd=tmp_path, DATABASE_URL=settings.database_url
        )
        again = run_blocktime("jobs", "retry", str(dead.id), cwd=tmp_path, DATABASE_URL=settings.database_url)

        assert listed.returncode == 0, listed.stderr
        assert f"{dead.id}\tdeliveries.send" in listed.stdout
        assert "HTTP 400" in listed.stdout
        assert retried.returncode == 0, retried.stderr
        assert f"Job {dead.id} (deliveries.send) is PENDING again" in retried.stdout
        wait_until(lambda: the_notification(engine).delivered_at, what="the retried delivery")
        (sent,) = deliveries(engine)
        assert sent.status is DeliveryStatus.SENT
        assert again.returncode == 1
        assert "only a FAILED job can be retried" in again.stderr
        with Session(engine) as session:
            (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "retryJob"))
            assert entry.actor_name.startswith("cli:")
            assert (entry.object_type, entry.object_id) == ("OutboxJob", str(dead.id))

    def test_a_deleted_webhook_gets_nothing_more(self, in_process: InProcess, webhook: WebhookServer) -> None:
        engine = in_process.engine
        other = WebhookServer()
        try:
            webhook.statuses = [503] * 50  # down: its delivery waits for a retry when the webhook is deleted
            shop = scenarios.prepaid_agreement(engine, webhook_url=webhook.url)
            with unit_of_work(engine) as session:
                notifications.register_webhook(session, url=other.url, secret=scenarios.SECRET)
            scenarios.log_hours(engine, shop, "9")
            wait_until(lambda: webhook.received and other.received, what="both webhooks to be tried")

            with unit_of_work(engine) as session:
                hook_id = session.scalars(select(Webhook.id).where(Webhook.url == webhook.url)).one()
                notifications.delete_webhook(session, webhook_id=hook_id)
            tried = len(webhook.received)
            scenarios.log_hours(engine, shop, "1")  # DEPLETED: a new notification
            wait_until(lambda: len(other.received) == 2, what="the second notification at the other webhook")
            in_process.settle()

            assert len(webhook.received) <= tried + 1  # at most a retry already under way
            by_target = [(d.target, d.status, d.last_error) for d in deliveries(engine)]
            assert (webhook.url, DeliveryStatus.FAILED, notifications.WEBHOOK_DELETED) in by_target
            assert [t for t in by_target if t[0] == other.url] == [(other.url, DeliveryStatus.SENT, None)] * 2
            assert len(by_target) == 3  # the deleted webhook has no delivery of the second notification
        finally:
            other.close()

    def test_with_nowhere_to_send_nothing_is_delivered(self, in_process: InProcess) -> None:
        engine = in_process.engine
        shop = scenarios.prepaid_agreement(engine)  # no webhook, and SMTP is not configured

        scenarios.log_hours(engine, shop, "9")
        in_process.settle()

        assert deliveries(engine) == []
        assert the_notification(engine).delivered_at is None


# --- e-mail ----------------------------------------------------------------------------


def text_and_html(message: Message) -> tuple[str, str]:
    parts = {part.get_content_type(): part for part in message.walk()}
    text = parts["text/plain"].get_payload(decode=True).decode()  # type: ignore[union-attr]
    html = parts["text/html"].get_payload(decode=True).decode()  # type: ignore[union-attr]
    return text, html


class TestEmail:
    def test_billing_and_notify_addresses_each_get_one_email_written_for_a_person(
        self, db: Engine, in_process_settings: Settings, smtp: SmtpServer
    ) -> None:
        settings = in_process_settings.model_copy(update={"smtp_host": smtp.host, "smtp_port": smtp.port})
        with worker(settings, db) as running:
            shop = scenarios.prepaid_agreement(db)
            update(
                db, shop, notify_emails=["am@msp.example", "Billing@ACME.example"], name="ACME <Support> & Co"
            )
            scenarios.log_hours(db, shop, "8.5")
            running.settle()

        assert sorted(recipients for recipients, _ in smtp.mailbox.messages) == [
            ["am@msp.example"],
            ["billing@acme.example"],  # the notify address that repeats it adds nothing
        ]
        assert sorted((d.target, d.status) for d in deliveries(db)) == [
            ("am@msp.example", DeliveryStatus.SENT),
            ("billing@acme.example", DeliveryStatus.SENT),
        ]
        assert the_notification(db).delivered_at is not None
        _, mail = smtp.mailbox.messages[0]
        text, html = text_and_html(mail)
        assert mail["Subject"] == "ACME <Support> & Co: prepaid time is running low (1.50 hours left)"
        assert (
            "The prepaid balance of the agreement ACME <Support> & Co of ACME Inc. has fallen to 1.50 hours"
            in text
        )
        assert "What to do: Buy more time (a new prepaid block)" in text
        assert "Alert level:      2.00 hours" in text
        assert "Company:          ACME Inc." in text
        assert "ACME &lt;Support&gt; &amp; Co" in html and "<Support>" not in html
        assert "<strong>What to do:</strong> Buy more time" in html
        for leak in ("{", "}", '"', "LOW_BALANCE", "agreement_id", "unitsRemaining"):
            assert leak not in text
        # No internal id either: without the amounts and the dates in words ("1 December 2026",
        # the day the test runs), no number is the agreement's id.
        words = re.sub(r"\b\d{1,2} [A-Z][a-z]+ \d{4}\b", "", text.replace("1.50", "").replace("2.00", ""))
        assert re.search(rf"\b{shop.agreement_id}\b", words) is None, words

    def test_a_refused_recipient_is_failed_with_the_servers_reply(
        self, db: Engine, in_process_settings: Settings
    ) -> None:
        class Refusing(Mailbox):
            async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]  # noqa: N802
                return "550 5.1.1 No such mailbox"

        mailbox = Refusing()
        port = free_port()
        controller = Controller(mailbox, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            settings = in_process_settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})
            with worker(settings, db) as running:
                shop = scenarios.prepaid_agreement(db)
                scenarios.log_hours(db, shop, "9")
                running.settle()
        finally:
            controller.stop()

        (failed,) = deliveries(db)
        assert failed.status is DeliveryStatus.FAILED
        assert "550" in (failed.last_error or "") and "No such mailbox" in (failed.last_error or "")
        assert the_notification(db).delivered_at is None


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@contextmanager
def tls_smtp_server(ca: trustme.CA, *, require_starttls: bool = True) -> Iterator[SmtpServer]:
    """aiosmtpd offering STARTTLS with a certificate for 127.0.0.1 signed by a test CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=require_starttls
    )
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, mailbox)
    finally:
        controller.stop()


class TestStartTls:
    def test_smtp_starttls_sends_over_tls_verified_against_the_configured_ca(
        self, db: Engine, in_process_settings: Settings, certificate_authority: trustme.CA, tmp_path: Path
    ) -> None:
        ca_file = tmp_path / "ca.pem"
        certificate_authority.cert_pem.write_to_path(str(ca_file))
        with tls_smtp_server(certificate_authority) as server:
            settings = in_process_settings.model_copy(
                update={
                    "smtp_host": server.host,
                    "smtp_port": server.port,
                    "smtp_starttls": True,
                    "smtp_ca_file": str(ca_file),
                }
            )
            with worker(settings, db) as running:
                shop = scenarios.prepaid_agreement(db)
                scenarios.log_hours(db, shop, "9")
                running.settle()

        ((recipients, mail),) = server.mailbox.messages
        assert recipients == ["billing@acme.example"]
        assert "1.00 hour left" in mail["Subject"]
        assert [d.status for d in deliveries(db)] == [DeliveryStatus.SENT]

    @pytest.mark.parametrize(
        ("starttls", "with_ca", "error"),
        [
            (False, False, "530"),  # the server requires STARTTLS: no plain-text fallback
            (True, False, "certificate refused"),  # an unknown CA is not trusted
        ],
    )
    def test_a_misconfigured_tls_ends_failed_with_the_reason(
        self,
        db: Engine,
        in_process_settings: Settings,
        certificate_authority: trustme.CA,
        tmp_path: Path,
        starttls: bool,
        with_ca: bool,
        error: str,
    ) -> None:
        with tls_smtp_server(certificate_authority) as server:
            settings = in_process_settings.model_copy(
                update={"smtp_host": server.host, "smtp_port": server.port, "smtp_starttls": starttls}
            )
            with worker(settings, db) as running:
                shop = scenarios.prepaid_agreement(db)
                scenarios.log_hours(db, shop, "9")
                running.settle()

        assert server.mailbox.messages == []
        (failed,) = deliveries(db)
        assert failed.status is DeliveryStatus.FAILED
        assert error in (failed.last_error or "")

    def test_starttls_against_a_server_that_does_not_offer_it_is_refused(
        self, db: Engine, in_process_settings: Settings, smtp: SmtpServer
    ) -> None:
        settings = in_process_settings.model_copy(
            update={"smtp_host": smtp.host, "smtp_port": smtp.port, "smtp_starttls": True}
        )
        with worker(settings, db) as running:
            shop = scenarios.prepaid_agreement(db)
            scenarios.log_hours(db, shop, "9")
            running.settle()

        assert smtp.mailbox.messages == []
        (failed,) = deliveries(db)
        assert failed.status is DeliveryStatus.FAILED
        assert "STARTTLS extension not supported by server" in (failed.last_error or "")
