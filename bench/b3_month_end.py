"""B3 month end: 100,000 time entries over 1,000 agreements, a billing run, one batch.

Both jobs are enqueued through the API (runBilling, postJournalBatch) and run by a
real `blocktime worker` (one dramatiq process, started afresh for each job, so its
peak RSS is that job's); each is timed from the mutation to the job's end as the
database records it (the outbox job DONE, the batch POSTED). Baseline: one bulk
INSERT of as many rows into a plain table, through the same driver.
"""

from __future__ import annotations

import contextlib
import time
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import BigInteger, Column, Date, Integer, MetaData, Table, Text, func, insert, select

from bench import harness, seed
from bench.harness import Row, Run
from models import JournalBatch, JournalEntry, JournalLine, OutboxJob, TimeEntry
from models.db import make_engine, unit_of_work
from models.enums import BatchStatus, JobStatus

POLL_SECONDS = 0.05


def graphql(url: str, token: str, query: str, **variables: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"{query[:40]}...: HTTP {response.status_code} {body}")
    return body["data"]  # type: ignore[no-any-return]


def wait_for(check: Any, what: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not finish within {timeout} s")
        time.sleep(POLL_SECONDS)


def bulk_insert_baseline(url: str, rows: int) -> float:
    """Seconds to INSERT `rows` invoice-line-shaped rows into a plain table in one transaction."""
    metadata = MetaData()
    plain = Table(
        "bench_plain_rows",
        metadata,
        Column("id", BigInteger, primary_key=True),
        Column("invoice_id", BigInteger),
        Column("position", Integer),
        Column("description", Text),
        Column("quantity", BigInteger),
        Column("amount", BigInteger),
        Column("time_entry_id", BigInteger),
        Column("date", Date),
    )
    engine = make_engine(url, pool_size=1)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    data = [
        {
            "invoice_id": n // 100,
            "position": n % 100,
            "description": f"{seed.WORK_DAY.isoformat()} Engineer, Remote",
            "quantity": 100,
            "amount": 15000,
            "time_entry_id": n,
            "date": seed.WORK_DAY,
        }
        for n in range(rows)
    ]
    with harness.timed() as elapsed, engine.begin() as conn:
        conn.execute(insert(plain), data)
    metadata.drop_all(engine)
    engine.dispose()
    return elapsed[0]


def run(ctx: Run) -> list[Row]:
    target = ctx.target
    agreements_count, per_agreement = ctx.size(1000, 20), ctx.size(100, 10)
    harness.empty_database(target.database_url)
    harness.flush_redis(target.redis_url)
    engine = make_engine(target.database_url, pool_size=2)
    world = seed.seed_agreements(engine, agreements_count=agreements_count, units=Decimal("1000"))
    with harness.timed() as seeding:
        entries = seed.bulk_time_entries(engine, world, per_agreement=per_agreement)
    ctx.say(
        f"seeded {agreements_count} agreements, {entries} time entries ({seeding[0]:.0f} s, not measured)"
    )
    baseline_seconds = bulk_insert_baseline(target.database_url, entries)
    admin = world.tokens["ADMIN"]
    through = seed.WORK_DAY.isoformat()

    # One worker process per job, started afresh, so each peak RSS is that job's own
    # (the smoke run, which asserts no memory figure, shares one to start faster).
    with contextlib.ExitStack() as stack:
        shared = (
            stack.enter_context(harness.Worker(target, ctx.log("b3-worker"), processes=1, threads=2))
            if ctx.smoke
            else None
        )
        server = stack.enter_context(harness.serve(target, ctx.log("b3-serve")))

        def job_worker(job: str) -> contextlib.AbstractContextManager[harness.Worker]:
            if shared is not None:
                return contextlib.nullcontext(shared)
            return harness.Worker(target, ctx.log(f"b3-worker-{job}"), processes=1, threads=2)

        with job_worker("billing") as worker:
            worker.ready()
            began = time.perf_counter()
            graphql(server.url, admin, "mutation($d: Date) { runBilling(throughDate: $d) }", d=through)

            def billed() -> bool:
                with unit_of_work(engine, writer=False) as session:
                    status = session.scalar(
                        select(OutboxJob.status)
                        .where(OutboxJob.actor == "billing.run")
                        .order_by(OutboxJob.id.desc())
                    )
                if status is JobStatus.FAILED:
                    raise RuntimeError(f"the billing run failed; see {worker.log}")
                return status is JobStatus.DONE

            wait_for(billed, "the billing run")
            billing_seconds = time.perf_counter() - began
            billing_rss = worker.peak_rss_mb()
        ctx.say(f"billing run: {billing_seconds:.1f} s, worker peak {billing_rss}")

        with job_worker("posting") as worker:
            worker.ready()
            began = time.perf_counter()
            post_batch = "mutation($d: Date) { postJournalBatch(throughDate: $d) { id } }"
            batch = graphql(server.url, admin, post_batch, d=through)["postJournalBatch"]
            batch_id = int(batch["id"])

            def posted() -> bool:
                with unit_of_work(engine, writer=False) as session:
                    status = session.scalar(select(JournalBatch.status).where(JournalBatch.id == batch_id))
                if status is BatchStatus.FAILED:
                    raise RuntimeError(f"batch {batch_id} FAILED; see {worker.log}")
                return status is BatchStatus.POSTED

            wait_for(posted, "the batch posting")
            posting_seconds = time.perf_counter() - began
            posting_rss = worker.peak_rss_mb()
        ctx.say(f"batch posting: {posting_seconds:.1f} s, worker peak {posting_rss}")
        serve_rss = server.peak_rss_mb()

    with unit_of_work(engine, writer=False) as session:
        lines = session.scalar(
            select(func.count(JournalLine.id))
            .join(JournalEntry, JournalLine.entry_id == JournalEntry.id)
            .where(JournalEntry.batch_id == batch_id)
        )
        unbilled = session.scalar(select(func.count(TimeEntry.id)).where(TimeEntry.billed.is_(False)))
    books = seed.check_books(engine)
    engine.dispose()
    total = billing_seconds + posting_seconds
    largest = max(billing_rss.largest_mb, posting_rss.largest_mb)
    return [
        Row(
            "B3 month end",
            f"billing run ({entries} entries)",
            f"{billing_seconds:.1f} s ({entries / billing_seconds:.0f} entries/s)",
            f"{baseline_seconds:.2f} s bulk INSERT of {entries} rows",
        ),
        Row("B3 month end", "batch posting", f"{posting_seconds:.1f} s ({lines} journal lines)"),
        Row("B3 month end", "journal lines per second", f"{lines / posting_seconds:.0f}"),
        Row("B3 month end", "billing + posting", f"{total:.1f} s", goal="< 60 s", met=total < 60),
        Row("B3 month end", "worker peak RSS, billing", str(billing_rss)),
        Row("B3 month end", "worker peak RSS, posting", str(posting_rss)),
        Row(
            "B3 month end",
            "worker peak RSS (largest process)",
            f"{largest:.0f} MB",
            goal="< 500 MB",
            met=largest < 500,
        ),
        Row("B3 month end", "API peak RSS (serve)", str(serve_rss)),
        Row(
            "B3 month end",
            "after: unbilled entries; trial balance; reconciliation difference; unposted",
            f"{unbilled}; {'balanced' if books.balanced else 'UNBALANCED'}; "
            f"{books.reconciliation_difference}; {books.unposted_activity}",
            goal="0; balanced; 0.00; 0.00",
            met=unbilled == 0 and books.ok and books.unposted_activity == 0,
            check=True,
        ),
    ]
