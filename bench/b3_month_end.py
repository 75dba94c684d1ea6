"""B3 month end: time entries over agreements (100 each), a billing run, one batch.

At each size of `--b3-entries` (default 100,000 over 1,000 agreements, then 1,000,000
over 10,000: the goal is under 5 minutes and a worker under 500 MB, the same at both).

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

    def data(first: int, last: int) -> list[dict[str, object]]:
        return [
            {
                "invoice_id": n // 100,
                "position": n % 100,
                "description": f"{seed.WORK_DAY.isoformat()} Engineer, Remote",
                "quantity": 100,
                "amount": 15000,
                "time_entry_id": n,
                "date": seed.WORK_DAY,
            }
            for n in range(first, last)
        ]

    with harness.timed() as elapsed, engine.begin() as conn:
        for first in range(0, rows, 100_000):  # in slices: a million dicts at once is a GB
            conn.execute(insert(plain), data(first, min(rows, first + 100_000)))
    metadata.drop_all(engine)
    engine.dispose()
    return elapsed[0]


def run(ctx: Run) -> list[Row]:
    """Each size of ctx.b3_entries (100 entries per agreement), then whether memory stayed flat."""
    rows: list[Row] = []
    peaks: dict[int, float] = {}
    sizes = [200] if ctx.smoke else ctx.b3_entries
    for entries in sizes:
        size_rows, peaks[entries] = run_size(ctx, entries)
        rows += size_rows
    if len(peaks) > 1:
        small, large = min(peaks), max(peaks)
        growth = peaks[large] / peaks[small] if peaks[small] else 0.0
        rows.append(
            Row(
                "B3 month end",
                f"worker peak RSS at {large:,} entries / at {small:,}",
                f"{growth:.2f} ({peaks[large]:.0f} / {peaks[small]:.0f} MB)",
                goal="flat (<= 1.25)",
                met=growth <= 1.25,
            )
        )
    return rows


def run_size(ctx: Run, entries_wanted: int) -> tuple[list[Row], float]:
    target = ctx.target
    per_agreement = ctx.size(100, 10)
    agreements_count = max(1, entries_wanted // per_agreement)
    label = f"{agreements_count * per_agreement:,} entries"
    harness.empty_database(target.database_url)
    harness.flush_redis(target.redis_url)
    engine = make_engine(target.database_url, pool_size=2)
    world = seed.seed_agreements(engine, agreements_count=agreements_count, units=Decimal("1000"))
    with harness.timed() as seeding:
        entries = seed.bulk_time_entries(engine, world, per_agreement=per_agreement)
        # Planner statistics, as autovacuum keeps them on a database whose month filled up
        # entry by entry. Straight after the bulk load the planner took time_entry for a
        # small table and scanned every unbilled entry for each slice of a billing run.
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
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
    limit = 300 if entries >= 1_000_000 else 60
    return [
        Row(
            "B3 month end",
            f"billing run ({entries} entries)",
            f"{billing_seconds:.1f} s ({entries / billing_seconds:.0f} entries/s)",
            f"{baseline_seconds:.2f} s bulk INSERT of {entries} rows",
        ),
        Row("B3 month end", f"batch posting ({label})", f"{posting_seconds:.1f} s ({lines} journal lines)"),
        Row(
            "B3 month end",
            f"billing + posting ({label})",
            f"{total:.1f} s",
            goal=f"< {limit} s",
            met=total < limit,
        ),
        Row("B3 month end", f"worker peak RSS, billing ({label})", str(billing_rss)),
        Row("B3 month end", f"worker peak RSS, posting ({label})", str(posting_rss)),
        Row(
            "B3 month end",
            f"worker peak RSS, largest process ({label})",
            f"{largest:.0f} MB",
            goal="< 500 MB",
            met=largest < 500,
        ),
        Row("B3 month end", f"API peak RSS, serve ({label})", str(serve_rss)),
        Row(
            "B3 month end",
            f"after ({label}): unbilled entries; trial balance; reconciliation difference; unposted",
            f"{unbilled}; {'balanced' if books.balanced else 'UNBALANCED'}; "
            f"{books.reconciliation_difference}; {books.unposted_activity}",
            goal="0; balanced; 0.00; 0.00",
            met=unbilled == 0 and books.ok and books.unposted_activity == 0,
            check=True,
        ),
    ], largest
