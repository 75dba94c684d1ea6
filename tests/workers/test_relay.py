"""The outbox relay against the real database and an in-process broker with no worker
consuming it, so the messages it sent can be read back."""

from __future__ import annotations

import datetime as dt
import json

import dramatiq
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from accounting import jobs, outbox
from models import OutboxJob, WorkerHeartbeat, utcnow
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


class TestDeadWorkers:
    """A RUNNING job whose worker stopped beating is sent again; a live worker's is not."""

    def running(self, engine: Engine, job_id: int, *, worker: str, started_seconds_ago: float) -> None:
        with unit_of_work(engine) as session:
            job = session.get_one(OutboxJob, job_id)
            job.status, job.sent_at = JobStatus.RUNNING, utcnow() - dt.timedelta(seconds=60)
            job.worker, job.started_at = worker, utcnow() - dt.timedelta(seconds=started_seconds_ago)

    def beat(self, engine: Engine, worker: str, *, seconds_ago: float) -> None:
        with unit_of_work(engine) as session:
            outbox.beat(session, worker=worker)
            session.execute(
                update(WorkerHeartbeat)
                .where(WorkerHeartbeat.name == worker)
                .values(beat_at=utcnow() - dt.timedelta(seconds=seconds_ago))
            )

    def test_the_jobs_of_a_silent_worker_are_sent_again_once(
        self, db: Engine, broker: dramatiq.Broker
    ) -> None:
        orphan = scenarios.enqueue(db, jobs.RUN_BILLING, through_date="2026-11-30")
        alive = scenarios.enqueue(db, jobs.POST_BATCH, batch_id=7)
        waiting = scenarios.enqueue(db, jobs.EXPIRE_BLOCKS, as_of="2026-11-30")
        Relay(db, broker).relay_pending()
        broker.flush_all()  # type: ignore[attr-defined]
        self.running(db, orphan, worker="host:101:dead", started_seconds_ago=30)
        self.running(db, alive, worker="host:102:live", started_seconds_ago=30)
        self.beat(db, "host:101:dead", seconds_ago=15)
        self.beat(db, "host:102:live", seconds_ago=1)

        # The orphan, and the SENT job the dead worker may have fetched without starting it.
        assert Relay(db, broker).recover_orphans() == 2

        assert queued(broker) == [
            (jobs.RUN_BILLING, {"job_id": orphan, "through_date": "2026-11-30"}),
            (jobs.EXPIRE_BLOCKS, {"as_of": "2026-11-30", "job_id": waiting}),
        ]
        with Session(db) as session:
            job = session.get_one(OutboxJob, orphan)
            assert (job.status, job.attempts, job.worker) == (JobStatus.SENT, 1, "host:101:dead")
            assert job.last_error is not None and "worker host:101:dead stopped beating" in job.last_error
            assert session.get_one(OutboxJob, alive).status is JobStatus.RUNNING
            assert list(session.scalars(select(WorkerHeartbeat.name))) == ["host:102:live"]
        broker.flush_all()  # type: ignore[attr-defined]
        assert Relay(db, broker).recover_orphans() == 0  # the dead worker is handled once

    def test_a_job_just_started_by_an_unknown_worker_gets_its_grace(
        self, db: Engine, broker: dramatiq.Broker
    ) -> None:
        job_id = scenarios.enqueue(db, jobs.RUN_BILLING, through_date="2026-11-30")
        self.running(db, job_id, worker="host:103:booting", started_seconds_ago=2)

        assert Relay(db, broker).recover_orphans() == 0
        assert statuses(db) == [(jobs.RUN_BILLING, JobStatus.RUNNING)]
