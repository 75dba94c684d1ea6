"""B6 allowance renewal: 10,000 monthly allowance agreements renewed in one run.

Seeding (not measured): 10,000 companies and allowance agreements (10 h a month at
120.00, rollover CAPPED at 4) written in bulk, and their first cycle renewed by the
accounting rule in-process, so every agreement has a lot to roll over. Measured: the
renewAllowances mutation for the next cycle start, through the API, run by a real
`blocktime worker` (one dramatiq process, started for this job, so its peak RSS is
the job's), timed from the mutation to the outbox job DONE. Each agreement then has
its second cycle: a rollover (4 carried, 6 expired), a lot and a PREPAID_PURCHASE
invoice. Baseline: one bulk INSERT of as many rows as the run writes, through the
same driver.
"""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

from sqlalchemy import Engine, func, insert, select

from accounting import access, allowances, catalog
from bench import harness
from bench.b3_month_end import bulk_insert_baseline, graphql, wait_for
from bench.harness import Row, Run
from bench.seed import check_books
from models import Agreement, Allowance, AllowanceCycle, Company, Invoice, OutboxJob
from models.db import make_engine, unit_of_work
from models.enums import AgreementStatus, Cycle, InvoiceKind, JobStatus, Role, RolloverPolicy
from testkit import factories

D = Decimal
FIRST = dt.date(2026, 1, 31)
SECOND = dt.date(2026, 2, 28)  # a clamped start: January 31 plus one month
ROWS_PER_RENEWAL = 7  # invoice, line, addition, lot, cycle, expiry movement, and the lot's update


def seed_allowances(engine: Engine, count: int) -> str:
    """`count` allowance agreements with their first cycle renewed; returns an ADMIN token."""
    with unit_of_work(engine) as session:
        factories.chart_of_accounts(session)
        rates = factories.rates(session)
        block = factories.block_time_type(session, rates=rates, threshold=None)
        catalog.create_company(session, identifier="C00000", name="Customer 0", billing_email=None)
        session.execute(
            insert(Company),
            [
                {"identifier": f"C{n:05d}", "name": f"Customer {n}", "billing_email": None}
                for n in range(1, count)
            ],
        )
        company_ids = session.scalars(select(Company.id).order_by(Company.id)).all()
        agreement_ids = session.scalars(
            insert(Agreement).returning(Agreement.id, sort_by_parameter_order=True),
            [
                {
                    "company_id": company_id,
                    "agreement_type_id": block.id,
                    "name": f"Agreement {n}",
                    "status": AgreementStatus.ACTIVE,
                    "start_date": FIRST,
                    "alert_epoch": 0,
                }
                for n, company_id in enumerate(company_ids)
            ],
        ).all()
        session.execute(
            insert(Allowance),
            [
                {
                    "agreement_id": agreement_id,
                    "cycle": Cycle.MONTHLY,
                    "units": D("10"),
                    "unit_price": D("120.00"),
                    "rollover": RolloverPolicy.CAPPED,
                    "rollover_cap": D("4"),
                    "rollover_cycles": 1,
                    "product": "Managed support hours",
                    "next_cycle": 0,
                    "next_renewal": FIRST,
                }
                for agreement_id in agreement_ids
            ],
        )
        token = access.create_token(session, role=Role.ADMIN, name="bench ADMIN")[1]
    with unit_of_work(engine) as session:
        allowances.renew_allowances(session, as_of=FIRST)
    return token


def run(ctx: Run) -> list[Row]:
    target = ctx.target
    count = ctx.size(10_000, 20)
    harness.empty_database(target.database_url)
    harness.flush_redis(target.redis_url)
    engine = make_engine(target.database_url, pool_size=2)
    with harness.timed() as seeding:
        admin = seed_allowances(engine, count)
    ctx.say(f"seeded {count} allowance agreements with their first cycle ({seeding[0]:.0f} s, not measured)")
    rows_written = count * ROWS_PER_RENEWAL
    baseline_seconds = bulk_insert_baseline(target.database_url, rows_written)

    with (
        harness.Worker(target, ctx.log("b6-worker"), processes=1, threads=2) as worker,
        harness.serve(target, ctx.log("b6-serve")) as server,
    ):
        worker.ready()
        began = time.perf_counter()
        graphql(server.url, admin, "mutation($d: Date) { renewAllowances(asOf: $d) }", d=SECOND.isoformat())

        def renewed() -> bool:
            with unit_of_work(engine, writer=False) as session:
                status = session.scalar(
                    select(OutboxJob.status)
                    .where(OutboxJob.actor == "allowances.renew")
                    .order_by(OutboxJob.id.desc())
                )
            if status is JobStatus.FAILED:
                raise RuntimeError(f"the renewal run failed; see {worker.log}")
            return status is JobStatus.DONE

        wait_for(renewed, "the renewal run")
        seconds = time.perf_counter() - began
        rss = worker.peak_rss_mb()
        serve_rss = server.peak_rss_mb()
    ctx.say(f"renewal run: {seconds:.1f} s, worker peak {rss}")

    with unit_of_work(engine, writer=False) as session:
        second_cycles = session.scalar(
            select(func.count(AllowanceCycle.id)).where(
                AllowanceCycle.number == 1,
                AllowanceCycle.start == SECOND,
                AllowanceCycle.carried_units == D("4"),
                AllowanceCycle.expired_units == D("6"),
            )
        )
        invoices = session.scalar(
            select(func.count(Invoice.id)).where(
                Invoice.kind == InvoiceKind.PREPAID_PURCHASE, Invoice.date == SECOND
            )
        )
        pending = session.scalar(select(func.count(Allowance.id)).where(Allowance.next_renewal <= SECOND))
    books = check_books(engine)
    engine.dispose()
    return [
        Row(
            "B6 allowances",
            f"renewal run ({count} agreements, rollover + new cycle each)",
            f"{seconds:.1f} s ({count / seconds:.0f} agreements/s)",
            f"{baseline_seconds:.2f} s bulk INSERT of {rows_written} rows",
            goal="< 60 s",
            met=seconds < 60,
        ),
        Row(
            "B6 allowances",
            "worker peak RSS",
            str(rss),
            goal="< 500 MB",
            met=rss.largest_mb < 500,
        ),
        Row("B6 allowances", "API peak RSS (serve)", str(serve_rss)),
        Row(
            "B6 allowances",
            "after: second cycles (4 carried, 6 expired); their invoices; not renewed; books",
            f"{second_cycles}; {invoices}; {pending}; "
            f"{'balanced' if books.balanced else 'UNBALANCED'}, difference {books.reconciliation_difference}",
            goal=f"{count}; {count}; 0; balanced, difference 0.00",
            met=second_cycles == count and invoices == count and pending == 0 and books.ok,
            check=True,
        ),
    ]
