"""The fault suite (marker `faults`, SPEC §7): each fault of issue 17 with real processes.

- a worker process group SIGKILLed in the middle of a billing run and a posting:
  both jobs run again on another worker within 30 s, nothing doubled;
- the broker restarted without its data (a Redis of this test's own, on a free
  port): the jobs it held are sent again within 60 s of it coming back, run once;
- ten concurrent postJournalBatch calls: one batch, never an empty one;
- every database connection killed five times under load (pg_terminate_backend):
  no INTERNAL_SERVER_ERROR, no PendingRollbackError, nothing lost or doubled.

PostgreSQL + Redis only (the PG pass of `make test`); each test prints what it measured.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from accounting import batches, clock, jobs
from models import Invoice, JournalBatch, JournalEntry, OutboxJob, TimeEntry
from models.db import get_engine, unit_of_work
from models.enums import BatchStatus, JobStatus, Role
from models.settings import Settings
from tests.api.helpers import create_token
from tests.conftest import backend_url, report_figure
from tests.processes import free_port, serving
from tests.workers import scenarios
from tests.workers.conftest import WebhookServer, WorkerProcess, wait_settled, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.redis, pytest.mark.slow]

StartWorker = Callable[..., WorkerProcess]

WORKER_CRASH_BUDGET_SECONDS = 30.0
BROKER_LOSS_BUDGET_SECONDS = 60.0


@pytest.fixture(autouse=True)
def _postgres_only(settings: Settings) -> None:
    if backend_url() is None:
        pytest.skip("the fault suite runs in the PostgreSQL + Redis pass")


def report(line: str) -> None:
    report_figure(f"fault suite: {line}")  # in the run's summary, CI's log included


def measured(what: str, seconds: float) -> None:
    report(f"{what}: {seconds:.1f} s")


def jobs_of(engine: Engine, actor: str) -> list[OutboxJob]:
    with Session(engine) as session:
        return list(session.scalars(select(OutboxJob).where(OutboxJob.actor == actor).order_by(OutboxJob.id)))


def count(engine: Engine, column: Any, *where: Any) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count(column)).where(*where)) or 0)


@pytest.fixture
def relay_here(redis_settings: Settings) -> Iterator[Settings]:
    """This process as `blocktime serve` with REDIS_URL: its outbox relay runs here."""
    from workers.runtime import background

    with background(redis_settings):
        yield redis_settings


class TestAWorkerKilledMidJob:
    def test_its_billing_run_and_posting_run_again_within_30_s_and_once(
        self, relay_here: Settings, start_worker: StartWorker, start_holding_worker: StartWorker
    ) -> None:
        engine = get_engine(relay_here)
        doomed = start_holding_worker(relay_here, jobs.POST_BATCH, jobs.RUN_BILLING)
        shop = scenarios.prepaid_agreement(engine, purchases=3)
        scenarios.log_hours(engine, shop, "2")  # covered: an AGREEMENT_USAGE invoice to bill
        scenarios.log_hours(engine, shop, "1", work_type_id=shop.after_hours_id)  # excluded: STANDARD
        wait_settled(engine)

        batch_id = scenarios.create_batch(engine)
        billing_id = scenarios.enqueue(engine, jobs.RUN_BILLING, through_date=scenarios.DAY.isoformat())
        doomed.wait_for_log(f"Job {billing_id} ({jobs.RUN_BILLING}) did its work")
        (posting,) = jobs_of(engine, jobs.POST_BATCH)
        doomed.wait_for_log(f"Job {posting.id} ({jobs.POST_BATCH}) did its work")

        # What an operator sees meanwhile: both RUNNING, on the doomed worker, since when.
        for actor in (jobs.RUN_BILLING, jobs.POST_BATCH):
            (job,) = jobs_of(engine, actor)
            assert job.status is JobStatus.RUNNING
            assert job.worker is not None
            assert job.started_at is not None
        workers = {job.worker for job in jobs_of(engine, jobs.RUN_BILLING) + jobs_of(engine, jobs.POST_BATCH)}
        assert len(workers) == 1

        start_worker(relay_here)  # the rest of the fleet, already up
        doomed.kill()
        killed_at = time.monotonic()

        def recovered() -> bool:
            states = [
                job.status for job in jobs_of(engine, jobs.RUN_BILLING) + jobs_of(engine, jobs.POST_BATCH)
            ]
            return states == [JobStatus.DONE, JobStatus.DONE]

        wait_until(recovered, timeout=WORKER_CRASH_BUDGET_SECONDS + 15, what="both jobs DONE on the survivor")
        elapsed = time.monotonic() - killed_at
        measured("worker crash (SIGKILL) to both jobs done on another worker", elapsed)
        assert elapsed < WORKER_CRASH_BUDGET_SECONDS

        with Session(engine) as session:
            batch = session.get_one(JournalBatch, batch_id)
            assert batch.status is BatchStatus.POSTED
            entries = session.scalar(select(func.count(JournalEntry.id)))
            # 3 purchases, and the invoices of this billing run if it committed first.
            assert entries == session.scalar(
                select(func.count(Invoice.id)).where(Invoice.batch_id == batch_id)
            )
            usage = session.scalars(select(Invoice.kind).where(Invoice.date <= scenarios.DAY)).all()
        # Billed once: one invoice per kind of time, however many times the job ran.
        assert Counter(kind.value for kind in usage) == Counter(
            {"PREPAID_PURCHASE": 3, "AGREEMENT_USAGE": 1, "STANDARD": 1}
        )
        for actor in (jobs.RUN_BILLING, jobs.POST_BATCH):
            (job,) = jobs_of(engine, actor)
            assert (job.status, job.attempts, job.last_error) == (JobStatus.DONE, 2, None)
            assert job.worker is not None and job.worker not in workers  # the survivor ran it
        wait_settled(engine)


# --- a Redis of the test's own --------------------------------------------------------


class OwnRedis:
    """redis-server on a free port, without persistence: a restart loses everything."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> float:
        """Start it; returns the monotonic time at which it answers."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_until(answers, timeout=10, what="redis-server to answer")
        client.close()
        return time.monotonic()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def keys(self) -> int:
        client = redis.Redis.from_url(self.url)
        try:
            return int(client.dbsize())
        finally:
            client.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.kill()


class TestTheBrokerLosesItsData:
    def test_the_jobs_it_held_are_sent_again_within_60_s_of_its_return_and_run_once(
        self,
        redis_settings: Settings,
        own_redis: OwnRedis,
        start_worker: StartWorker,
        webhook: WebhookServer,
    ) -> None:
        from workers.runtime import background

        settings = redis_settings.model_copy(update={"redis_url": own_redis.url})
        engine = get_engine(settings)
        with background(settings):
            shop = scenarios.prepaid_agreement(engine, webhook_url=webhook.url)
            scenarios.log_hours(engine, shop, "9")  # LOW_BALANCE: a webhook
            batch_id = scenarios.create_batch(engine)
            wait_until(
                lambda: (
                    {job.status for job in jobs_of(engine, jobs.EVALUATE_BALANCE)} == {JobStatus.SENT}
                    and jobs_of(engine, jobs.POST_BATCH)[0].status is JobStatus.SENT
                ),
                what="the jobs SENT to the broker",
            )
            assert own_redis.keys() > 0  # the messages wait in Redis: no worker runs yet

            own_redis.kill()
            back_at = own_redis.start()
            assert own_redis.keys() <= 1  # restarted empty (at most the relay's new marker)

            boot_started = time.monotonic()
            worker = start_worker(settings)
            booted = time.monotonic() - boot_started
            wait_until(
                webhook.delivered, timeout=BROKER_LOSS_BUDGET_SECONDS, what="the webhook after the loss"
            )
            wait_until(
                lambda: jobs_of(engine, jobs.POST_BATCH)[0].status is JobStatus.DONE,
                timeout=BROKER_LOSS_BUDGET_SECONDS,
                what="the posting",
            )
            elapsed = time.monotonic() - back_at
            measured("broker back (empty) to every lost job done", elapsed)
            measured("  of which the worker's own start", booted)
            assert elapsed < BROKER_LOSS_BUDGET_SECONDS
            wait_settled(engine)

            # The worker keeps running through a second loss: it reconnects, and new work flows.
            own_redis.kill()
            back_at = own_redis.start()
            entry = scenarios.log_hours(engine, shop, "0.5")
            wait_settled(engine, timeout=BROKER_LOSS_BUDGET_SECONDS)
            measured("broker back (empty, worker running) to new work done", time.monotonic() - back_at)
            worker.wait_for_log("Worker process is ready for action")

        with Session(engine) as session:
            assert session.get_one(JournalBatch, batch_id).status is BatchStatus.POSTED
            assert session.scalar(select(func.count(JournalEntry.id))) == 1  # the purchase, posted once
            assert session.get_one(TimeEntry, entry).id == entry
        assert len(webhook.delivered()) == 1  # LOW_BALANCE once (the 0.5 h raises nothing new)
        for job in jobs_of(engine, jobs.EVALUATE_BALANCE) + jobs_of(engine, jobs.POST_BATCH):
            assert (job.status, job.attempts) == (JobStatus.DONE, 1), (job.actor, job.id)


# --- a served API: concurrent batches, and connections killed under load -------------------


@dataclass
class Served:
    base: str
    headers: dict[str, str]
    log: Path


@pytest.fixture
def served(redis_settings: Settings, tmp_path: Path) -> Iterator[Served]:
    """`blocktime serve` on PostgreSQL + Redis (no worker: these tests need none)."""
    engine = get_engine(redis_settings)
    token = create_token(engine, Role.ADMIN, name="fault suite")
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "dramatiq_"))},
        "DATABASE_URL": redis_settings.database_url,
        "REDIS_URL": redis_settings.redis_url or "",
        "BLOCKTIME_ENV": "test",
        "OUTBOX_SWEEP_SECONDS": "1",
        "DB_POOL_SIZE": "8",
    }
    with serving(environment, tmp_path) as base:
        logs = sorted(tmp_path.glob("serve-*.log"))
        yield Served(base, {"Authorization": f"Bearer {token}"}, logs[-1])


def post(client: httpx.Client, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
    return client.post("/graphql", json={"query": query, "variables": variables or {}})


POST_BATCH = "mutation { postJournalBatch { id status } }"  # through today


class TestConcurrentBatches:
    def test_ten_at_once_give_one_batch_and_no_empty_one(
        self, served: Served, redis_settings: Settings
    ) -> None:
        engine = get_engine(redis_settings)
        scenarios.prepaid_agreement(engine, purchases=4)

        with httpx.Client(base_url=served.base, headers=served.headers, timeout=30) as client:
            with ThreadPoolExecutor(10) as pool:
                answers = list(pool.map(lambda _: post(client, POST_BATCH).json(), range(10)))
            ids = {a["data"]["postJournalBatch"]["id"] for a in answers if a.get("data")}
            refused = [a["errors"][0] for a in answers if a.get("errors")]
            assert len(ids) == 1, answers
            assert all(
                (e["extensions"]["code"], e["message"])
                == ("BAD_USER_INPUT", f"nothing to post through {clock.today().isoformat()}")
                for e in refused
            ), refused
            (batch_id,) = {int(i) for i in ids}
            with unit_of_work(engine) as session:  # what its batches.post job does
                batches.post_batch(session, batch_id=batch_id)
            again = post(client, POST_BATCH).json()

        assert again["errors"][0]["message"] == f"nothing to post through {clock.today().isoformat()}"
        with Session(engine) as session:
            (batch,) = session.scalars(select(JournalBatch))
            assert batch.status is BatchStatus.POSTED
            assert (
                session.scalar(select(func.count(JournalEntry.id)).where(JournalEntry.batch_id == batch.id))
                == 4
            )


LOG_TIME = """
mutation($c: ID!, $a: ID!, $t: ID!, $r: ID!) {
  logTime(input: {companyId: $c, agreementId: $a, workTypeId: $t, workRoleId: $r,
                  date: "2026-11-02", hours: "0.01"}) { id }
}"""
READ = "{ agreements { totalCount edges { node { balance { unitsRemaining } lots { id } } } } }"


class TestConnectionsKilledUnderLoad:
    def test_no_request_fails_unexpectedly_and_nothing_is_lost_or_doubled(
        self, served: Served, redis_settings: Settings
    ) -> None:
        engine = get_engine(redis_settings)
        shop = scenarios.prepaid_agreement(engine, hours="1000")
        variables = {
            "c": str(shop.company_id),
            "a": str(shop.agreement_id),
            "t": str(shop.remote_id),
            "r": str(shop.engineer_id),
        }
        stop = threading.Event()
        outcomes: Counter[str] = Counter()
        messages: Counter[str] = Counter()
        logged: list[int] = []
        lock = threading.Lock()

        def load(n: int) -> None:
            with httpx.Client(base_url=served.base, headers=served.headers, timeout=30) as client:
                i = 0
                while not stop.is_set():
                    i += 1
                    is_write = (n + i) % 2 == 0
                    response = post(client, LOG_TIME, variables) if is_write else post(client, READ)
                    body = response.json()
                    codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or ()]
                    kind = "write" if is_write else "read"
                    with lock:
                        if codes:
                            outcomes[f"{kind} {response.status_code} {codes[0]}"] += 1
                            messages[body["errors"][0]["message"]] += 1
                        else:
                            outcomes[f"{kind} {response.status_code} ok"] += 1
                            if is_write:
                                logged.append(int(body["data"]["logTime"]["id"]))

        kills: list[int] = []
        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(load, n) for n in range(6)]
            time.sleep(1.0)
            for _ in range(5):
                with engine.connect() as conn:
                    killed = conn.execute(
                        text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                        )
                    ).scalar_one()
                kills.append(int(killed))
                time.sleep(1.5)
            stop.set()
            for future in futures:
                future.result()

        total = sum(outcomes.values())
        failed = {k: v for k, v in outcomes.items() if not k.endswith(" ok")}
        report(f"connections killed {kills}; {total} requests; failed: {failed or 'none'} {dict(messages)}")
        assert sum(kills) >= 5
        assert not any("INTERNAL_SERVER_ERROR" in k or " 500 " in k for k in outcomes), outcomes
        retryable = {
            f"{kind} {status} SERVICE_UNAVAILABLE" for kind in ("read", "write") for status in (200, 503)
        }
        assert set(failed) <= retryable, outcomes

        # Nothing lost, nothing doubled: the entries are exactly the answered ones.
        with Session(engine) as session:
            stored = set(session.scalars(select(TimeEntry.id)))
        assert set(logged) <= stored
        assert len(stored - set(logged)) <= failed.get(
            "write 200 SERVICE_UNAVAILABLE", 0
        )  # outcome unknown only
        log = served.log.read_text()
        assert "PendingRollbackError" not in log
        assert "unexpected error" not in log
        assert "Traceback" not in log
