"""The daily billing run and expiry: once per day, however many schedulers tick."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from accounting import jobs
from models import Invoice, OutboxJob, ScheduledRun
from models.enums import InvoiceKind, JobStatus
from models.settings import Settings
from tests.processes import BLOCKTIME
from tests.workers import scenarios
from tests.workers.conftest import wait_settled, wait_until
from tests.workers.test_concurrency import at_once
from workers.scheduler import enqueue_daily, parse_schedule, run_due

AT = parse_schedule("02:00")
DAY = dt.date(2026, 11, 23)
TODAY = dt.datetime.now(dt.UTC).date()


def scheduled(engine: Engine) -> list[tuple[str, dict[str, str]]]:
    with Session(engine) as session:
        rows = session.scalars(select(OutboxJob).order_by(OutboxJob.id))
        return [(job.actor, json.loads(job.args)) for job in rows]


class TestSchedule:
    def test_two_schedulers_ticking_together_enqueue_the_day_once(self, db: Engine) -> None:
        at_once(lambda: enqueue_daily(db, day=DAY), lambda: enqueue_daily(db, day=DAY))
        assert enqueue_daily(db, day=DAY) == []  # and a restart later that day

        assert scheduled(db) == [
            (jobs.RUN_BILLING, {"through_date": "2026-11-22"}),
            (jobs.EXPIRE_BLOCKS, {"as_of": "2026-11-23"}),
            (jobs.RENEW_ALLOWANCES, {"as_of": "2026-11-23"}),
        ]
        with Session(db) as session:
            assert sorted(session.scalars(select(ScheduledRun.key))) == [
                "allowances:2026-11-23",
                "billing:2026-11-23",
                "expiry:2026-11-23",
            ]

    def test_nothing_is_due_before_the_hour_and_each_day_is_due_once(self, db: Engine) -> None:
        before = dt.datetime(2026, 11, 23, 1, 59, tzinfo=dt.UTC)
        on_time = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)

        assert run_due(db, at=AT, now=before) == []
        assert run_due(db, at=AT, now=on_time) == [
            "billing:2026-11-23",
            "expiry:2026-11-23",
            "allowances:2026-11-23",
        ]
        assert run_due(db, at=AT, now=on_time + dt.timedelta(hours=5)) == []
        assert run_due(db, at=AT, now=on_time + dt.timedelta(days=1)) == [
            "billing:2026-11-24",
            "expiry:2026-11-24",
            "allowances:2026-11-24",
        ]

    def test_a_schedule_that_is_not_hh_mm_is_refused(self) -> None:
        with pytest.raises(ValueError, match="BILLING_SCHEDULE must be HH:MM"):
            parse_schedule("2am")


class TestEmbeddedSchedule:
    def test_serve_catches_up_todays_billing_run_at_start(
        self, db: Engine, in_process_settings: Settings
    ) -> None:
        from workers.runtime import background

        shop = scenarios.prepaid_agreement(db)
        scenarios.log_hours(db, shop, "3", day=TODAY - dt.timedelta(days=2))
        settings = in_process_settings.model_copy(update={"billing_schedule": "00:00"})

        with background(settings):
            wait_until(lambda: len(scheduled(db)) >= 4, what="the scheduled jobs")
            wait_settled(db)
        with background(settings):  # a restart the same day
            wait_settled(db)

        yesterday = TODAY - dt.timedelta(days=1)
        with Session(db) as session:
            (usage,) = session.scalars(select(Invoice).where(Invoice.kind == InvoiceKind.AGREEMENT_USAGE))
            assert usage.date == yesterday
        assert [actor for actor, _ in scheduled(db)].count(jobs.RUN_BILLING) == 1


class TestSchedulerProcess:
    def test_blocktime_scheduler_enqueues_once_and_stops_on_sigterm(
        self, db: Engine, settings: Settings, tmp_path: Path
    ) -> None:
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        # Without Redis the jobs wait in the outbox for `blocktime serve` to relay them.
        env.update(DATABASE_URL=settings.database_url, BILLING_SCHEDULE="00:00", BLOCKTIME_ENV="test")
        logs = [tmp_path / f"scheduler-{n}.log" for n in range(2)]
        processes = [
            subprocess.Popen(
                [str(BLOCKTIME), "scheduler"], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
            )
            for log in logs
        ]
        try:
            wait_until(
                lambda: all("Scheduler: billing run" in log.read_text() for log in logs),
                timeout=30,
                what="both schedulers to start",
            )
            wait_until(lambda: len(scheduled(db)) == 3, what="the day's jobs")
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            codes = [process.wait(15) for process in processes]

        assert codes == [0, 0]
        assert sorted(actor for actor, _ in scheduled(db)) == sorted(
            [jobs.RUN_BILLING, jobs.EXPIRE_BLOCKS, jobs.RENEW_ALLOWANCES]
        )
        with Session(db) as session:
            assert set(session.scalars(select(OutboxJob.status))) == {JobStatus.PENDING}


class TestBusinessTimeZone:
    def test_the_day_and_the_hour_are_the_installations(self, db: Engine) -> None:
        from zoneinfo import ZoneInfo

        auckland = ZoneInfo("Pacific/Auckland")  # UTC+13 in November
        # 13:30 UTC on 23 November is 02:30 on 24 November in Auckland: that day's jobs are due.
        assert run_due(db, at=AT, now=dt.datetime(2026, 11, 23, 12, 59, tzinfo=dt.UTC), zone=auckland) == []
        assert run_due(db, at=AT, now=dt.datetime(2026, 11, 23, 13, 30, tzinfo=dt.UTC), zone=auckland) == [
            "billing:2026-11-24",
            "expiry:2026-11-24",
            "allowances:2026-11-24",
        ]
        assert scheduled(db) == [
            (jobs.RUN_BILLING, {"through_date": "2026-11-23"}),
            (jobs.EXPIRE_BLOCKS, {"as_of": "2026-11-24"}),
            (jobs.RENEW_ALLOWANCES, {"as_of": "2026-11-24"}),
        ]
