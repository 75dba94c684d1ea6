"""Two workers on the same work at the same moment, on SQLite and on PostgreSQL.

Two threads start the same actor together (a barrier); each opens its own
transaction, as two worker threads or processes would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from accounting import jobs
from models import Invoice, InvoiceLine, JournalBatch, JournalEntry, OutboxJob, TimeEntry
from models.db import get_engine
from models.enums import BatchStatus, InvoiceKind, JobStatus
from models.settings import Settings
from tests.conftest import migrate, postgres_url, reset_database, throwaway_postgres_database
from tests.workers import scenarios


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(
    request: pytest.FixtureRequest, settings: Settings, engine: Engine, tmp_path: Path
) -> Iterator[Settings]:
    """The run's database, or a fresh one of the other kind; the actors are pointed at it."""
    from workers.broker import configure

    if request.param == engine.dialect.name:
        reset_database(engine)
        chosen = settings.model_copy(update={"redis_url": None})
        configure(chosen)
        yield chosen
        return
    if request.param == "sqlite":
        chosen = settings.model_copy(
            update={"redis_url": None, "database_url": f"sqlite:///{tmp_path / 'race.db'}"}
        )
        migrate(get_engine(chosen))
        configure(chosen)
        yield chosen
        return
    with throwaway_postgres_database(postgres_url(), "blocktime_workers_race") as url:
        chosen = settings.model_copy(update={"redis_url": None, "database_url": url})
        migrate(get_engine(chosen))
        configure(chosen)
        yield chosen
        get_engine(chosen).dispose()


def at_once(*calls: Callable[[], None]) -> None:
    """Run the calls in threads released together; re-raise the first failure."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], None]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if errors:
        raise errors[0]


def job_rows(engine: Engine, actor: str) -> list[tuple[JobStatus, int]]:
    with Session(engine) as session:
        return [
            (j.status, j.attempts)
            for j in session.scalars(select(OutboxJob).where(OutboxJob.actor == actor).order_by(OutboxJob.id))
        ]


class TestTwoBillingRunsAtOnce:
    def test_every_time_entry_is_invoiced_exactly_once(self, backend: Settings) -> None:
        from workers.actors import run_billing

        engine = get_engine(backend)
        shop = scenarios.prepaid_agreement(engine, hours="100")
        entries = [scenarios.log_hours(engine, shop, "1") for _ in range(20)]
        entries += [
            scenarios.log_hours(engine, shop, "1", work_type_id=shop.after_hours_id) for _ in range(5)
        ]
        first = scenarios.enqueue(engine, jobs.RUN_BILLING, through_date="2026-11-30")
        second = scenarios.enqueue(engine, jobs.RUN_BILLING, through_date="2026-11-30")

        at_once(lambda: run_billing.fn(first, "2026-11-30"), lambda: run_billing.fn(second, "2026-11-30"))

        with Session(engine) as session:
            lines = session.execute(
                select(InvoiceLine.time_entry_id, func.count())
                .where(InvoiceLine.time_entry_id.is_not(None))
                .group_by(InvoiceLine.time_entry_id)
            ).all()
            assert sorted(lines) == [(entry, 1) for entry in sorted(entries)]
            kinds = session.scalars(
                select(Invoice.kind).where(Invoice.kind != InvoiceKind.PREPAID_PURCHASE)
            ).all()
            assert sorted(kinds) == [InvoiceKind.AGREEMENT_USAGE, InvoiceKind.STANDARD]
            assert session.scalar(select(func.count()).where(TimeEntry.billed.is_(False))) == 0
        assert job_rows(engine, jobs.RUN_BILLING) == [(JobStatus.DONE, 1), (JobStatus.DONE, 1)]


class TestTwoPostingsOfOneBatchAtOnce:
    @pytest.mark.parametrize("duplicate", ["same message twice", "two jobs"])
    def test_the_batch_is_posted_once(self, backend: Settings, duplicate: str) -> None:
        from workers.actors import post_batch

        engine = get_engine(backend)
        scenarios.prepaid_agreement(engine, purchases=30)
        batch_id = scenarios.create_batch(engine)
        with Session(engine) as session:
            (first,) = session.scalars(select(OutboxJob.id).where(OutboxJob.actor == jobs.POST_BATCH))
        second = (
            first
            if duplicate == "same message twice"
            else scenarios.enqueue(engine, jobs.POST_BATCH, batch_id=batch_id)
        )

        at_once(lambda: post_batch.fn(first, batch_id), lambda: post_batch.fn(second, batch_id))

        with Session(engine) as session:
            batch = session.get_one(JournalBatch, batch_id)
            assert batch.status is BatchStatus.POSTED
            assert session.scalar(select(func.count(JournalEntry.id))) == 30
            assert (
                session.scalar(select(func.count(JournalEntry.id)).where(JournalEntry.batch_id != batch_id))
                == 0
            )
            assert session.scalar(select(func.count(Invoice.id)).where(Invoice.batch_id.is_(None))) == 0
        expected = [(JobStatus.DONE, 1)] * (1 if duplicate == "same message twice" else 2)
        assert job_rows(engine, jobs.POST_BATCH) == expected
