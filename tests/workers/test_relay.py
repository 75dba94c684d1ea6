"""The outbox relay against the real database and an in-process broker with no worker
consuming it, so the messages it sent can be read back."""

from __future__ import annotations

import json

import dramatiq
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from accounting import jobs
from models import OutboxJob
from models.db import after_commit_listeners, unit_of_work
from models.enums import JobStatus
from models.settings import Settings
from tests.workers import scenarios
from tests.workers.conftest import wait_until
from workers.relay import Relay


@pytest.fixture
def broker(db: Engine, in_process_settings: Settings) -> dramatiq.Broker:
    import workers.actors  # noqa: F401 - the actors the relay sends to
    from workers.broker import configure

    return configure(in_process_settings)


def queued(broker: dramatiq.Broker) -> list[tuple[str, dict[str, object]]]:
    """The messages waiting in the in-process broker: (actor, keyword arguments)."""
    messages = []
    for queue in broker.queues.values():  # type: ignore[attr-defined]
        messages += [json.loads(data) for data in list(queue.queue)]
    return sorted((m["actor_name"], m["kwargs"]) for m in messages)


def statuses(engine: Engine) -> list[tuple[str, JobStatus]]:
    with Session(engine) as session:
        return [(j.actor, j.status) for j in session.scalars(select(OutboxJob).order_by(OutboxJob.id))]


class TestRelay:
    def test_pending_jobs_are_sent_with_their_id_and_marked_sent(
        self, db: Engine, broker: dramatiq.Broker
    ) -> None:
        billing = scenarios.enqueue(db, jobs.RUN_BILLING, through_date="2026-11-30")
        posting = scenarios.enqueue(db, jobs.POST_BATCH, batch_id=7)

        assert Relay(db, broker).relay_pending() == 2

        assert queued(broker) == [
            (jobs.POST_BATCH, {"batch_id": 7, "job_id": posting}),
            (jobs.RUN_BILLING, {"job_id": billing, "through_date": "2026-11-30"}),
        ]
        assert statuses(db) == [(jobs.RUN_BILLING, JobStatus.SENT), (jobs.POST_BATCH, JobStatus.SENT)]
        assert Relay(db, broker).relay_pending() == 0

    def test_a_job_for_an_unknown_actor_fails_visibly(self, db: Engine, broker: dramatiq.Broker) -> None:
        with unit_of_work(db) as session:
            session.add(OutboxJob(actor="ledger.vanish", args="{}"))

        assert Relay(db, broker).relay_pending() == 0

        with Session(db) as session:
            (job,) = session.scalars(select(OutboxJob))
            assert (job.status, job.last_error) == (JobStatus.FAILED, "no actor named ledger.vanish")

    def test_only_sent_jobs_never_done_are_sent_again(self, db: Engine, broker: dramatiq.Broker) -> None:
        lost = scenarios.enqueue(db, jobs.POST_BATCH, batch_id=1)
        done = scenarios.enqueue(db, jobs.POST_BATCH, batch_id=2)
        relay = Relay(db, broker)
        relay.relay_pending()
        with unit_of_work(db) as session:
            session.get_one(OutboxJob, done).status = JobStatus.DONE
        broker.flush_all()

        assert relay.resend_unfinished(older_than=3600) == 0  # not yet overdue
        assert relay.resend_unfinished(older_than=0) == 1

        assert queued(broker) == [(jobs.POST_BATCH, {"batch_id": 1, "job_id": lost})]

    def test_a_commit_that_enqueues_nudges_the_running_relay(
        self, db: Engine, broker: dramatiq.Broker
    ) -> None:
        relay = Relay(db, broker, sweep_seconds=3600).start()
        try:
            wait_until(lambda: relay.passes == 1, what="the start-up sweep")
            scenarios.enqueue(db, jobs.EXPIRE_BLOCKS, as_of="2026-11-23")
            # Only the nudge can send it this soon: the next sweep is an hour away.
            wait_until(
                lambda: statuses(db) == [(jobs.EXPIRE_BLOCKS, JobStatus.SENT)],
                timeout=2,
                what="the nudged relay",
            )
        finally:
            relay.stop()
        assert relay.nudge not in after_commit_listeners
