"""Faults: the broker down, a failing webhook endpoint (more in test_recovery.py).

The first needs Redis and a real `blocktime worker` process; the webhook runs in
the embedded mode, with the real retry backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from accounting import jobs
from models import JournalBatch, NotificationDelivery, OutboxJob
from models.db import get_engine
from models.enums import BatchStatus, JobStatus
from models.settings import Settings
from tests.workers import scenarios
from tests.workers.conftest import (
    InProcess,
    TcpProxy,
    WebhookServer,
    WorkerProcess,
    job_counts,
    wait_settled,
    wait_until,
)

StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def api_relay(redis_settings: Settings) -> Iterator[Settings]:
    """This process as `blocktime serve` with REDIS_URL: only the relay runs here."""
    from workers.runtime import background

    with background(redis_settings):
        yield redis_settings


def batch_status(engine: Engine, batch_id: int) -> BatchStatus:
    with Session(engine) as session:
        return session.get_one(JournalBatch, batch_id).status


def all_jobs(engine: Engine) -> list[tuple[str, JobStatus, int]]:
    with Session(engine) as session:
        return [
            (j.actor, j.status, j.attempts) for j in session.scalars(select(OutboxJob).order_by(OutboxJob.id))
        ]


@pytest.mark.redis
@pytest.mark.slow
class TestRedisFaults:
    def test_jobs_wait_while_the_broker_is_down_and_run_once_when_it_is_back(
        self, redis_settings: Settings, start_worker: StartWorker, webhook: WebhookServer
    ) -> None:
        from workers.runtime import background

        proxy = TcpProxy(redis_settings.redis_url or "")  # refuses connections until proxy.up()
        through_proxy = redis_settings.model_copy(update={"redis_url": proxy.url})
        engine = get_engine(redis_settings)
        try:
            with background(through_proxy):
                started = time.monotonic()
                shop = scenarios.prepaid_agreement(engine, webhook_url=webhook.url)
                scenarios.log_hours(engine, shop, "9")
                batch_id = scenarios.create_batch(engine)
                assert time.monotonic() - started < 10  # the mutations never waited for the broker
                time.sleep(1.5)  # the relay tries, fails and backs off
                assert job_counts(engine) == {JobStatus.PENDING: 3}  # 2 evaluations, 1 posting

                start_worker(redis_settings)
                proxy.up()

                wait_until(
                    lambda: webhook.received, timeout=20, what="the webhook POST after the broker came back"
                )
                wait_settled(engine)
        finally:
            proxy.down()

        assert batch_status(engine, batch_id) is BatchStatus.POSTED
        assert len(webhook.received) == 1
        jobs_run = all_jobs(engine)
        assert {status for _, status, _ in jobs_run} == {JobStatus.DONE}
        assert all(attempts == 1 for _, _, attempts in jobs_run), jobs_run
        assert sorted(actor for actor, _, _ in jobs_run) == sorted(
            [
                jobs.EVALUATE_BALANCE,
                jobs.EVALUATE_BALANCE,
                jobs.POST_BATCH,
                jobs.DELIVER_NOTIFICATION,
                jobs.SEND_DELIVERY,
            ]
        )


class TestAFailingWebhook:
    def test_an_endpoint_answering_500_twice_receives_the_notification_once(
        self, in_process: InProcess, webhook: WebhookServer
    ) -> None:
        webhook.statuses = [500, 500]
        engine = in_process.engine
        shop = scenarios.prepaid_agreement(engine, webhook_url=webhook.url)
        scenarios.log_hours(engine, shop, "9")

        wait_until(webhook.delivered, timeout=15, what="the third attempt")
        in_process.settle()

        assert [r.status for r in webhook.received] == [500, 500, 200]
        bodies = {r.body for r in webhook.received}
        assert len(bodies) == 1  # the same notification each time, signed the same way
        (body,) = bodies
        expected = "sha256=" + hmac.new(scenarios.SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert all(
            hmac.compare_digest(r.headers["x-blocktime-signature"], expected) for r in webhook.received
        )
        assert len({r.headers["x-blocktime-delivery"] for r in webhook.received}) == 1
        with Session(engine) as session:
            (send,) = session.scalars(select(OutboxJob).where(OutboxJob.actor == jobs.SEND_DELIVERY))
            assert (send.status, send.attempts, send.last_error) == (JobStatus.DONE, 3, None)
            (delivery,) = session.scalars(select(NotificationDelivery))
            assert delivery.attempts == 3
            assert delivery.delivered_at is not None
