"""B2 time-entry ingestion: 16 TECHNICIAN clients call logTime for 20 s.

Once spread over 1,000 agreements, once all on one agreement (every request waits
for the previous one's row lock). The production shape: `blocktime serve` relays
each entry's balance evaluation to Redis and a `blocktime worker` runs it.
Afterwards every agreement's units applied must equal the hours of the entries the
clients saw succeed, the lots must agree with their movements and the deferred
revenue must reconcile.
"""

from __future__ import annotations

from decimal import Decimal

from bench import harness, seed
from bench.harness import LoadResult, Row, Run
from models.db import make_engine

MUTATION = (
    "mutation LogTime($input: LogTimeInput!) { logTime(input: $input) "
    "{ id unitsApplied agreement { balance { unitsRemaining } } } }"
)
CLIENTS = 16
HOURS = Decimal("0.25")


def run(ctx: Run) -> list[Row]:
    target = ctx.target
    count = ctx.size(1000, 20)
    harness.empty_database(target.database_url)
    harness.flush_redis(target.redis_url)
    engine = make_engine(target.database_url, pool_size=2)
    # Enough units that neither run can exhaust a block (the single agreement takes every entry).
    world = seed.seed_agreements(engine, agreements_count=count, units=Decimal("100000"))
    ctx.say(f"seeded {count} agreements")
    token = world.tokens["TECHNICIAN"]
    rows: list[Row] = []
    expected: dict[int, Decimal] = {}

    def requests(port: int, agreement_ids: list[int]) -> list[bytes]:
        return [
            harness.graphql_request(
                port,
                token,
                MUTATION,
                {
                    "input": {
                        "companyId": str(world.company_of[a]),
                        "agreementId": str(a),
                        "workTypeId": str(world.remote_id),
                        "workRoleId": str(world.role_id),
                        "date": seed.WORK_DAY.isoformat(),
                        "hours": str(HOURS),
                    }
                },
            )
            for a in agreement_ids
        ]

    with harness.stack(target, "b2", processes=1, threads=4, serve_workers=ctx.serve_workers) as (
        server,
        worker,
    ):
        for label, agreement_ids in (
            ("spread over agreements", world.agreement_ids),
            ("one agreement", world.agreement_ids[:1]),
        ):
            result: LoadResult = harness.load(
                server.port,
                requests(server.port, agreement_ids),
                connections=ctx.size(CLIENTS, 4),
                duration=ctx.duration,
                warmup=ctx.warmup,
                processes=ctx.client_processes,
            )
            for index, successes in result.successes.items():
                agreement_id = agreement_ids[index]
                expected[agreement_id] = expected.get(agreement_id, Decimal(0)) + HOURS * successes
            ctx.say(
                f"{label}: {result.requests_per_second:.0f} req/s, p50 {result.latency.p50:.1f} ms, "
                f"p99 {result.latency.p99:.1f} ms, {result.errors} errors {result.error_samples[:1]}"
            )
            goal = 150 if label == "one agreement" else 400
            rows += [
                Row(
                    "B2 logTime",
                    f"requests/s, {label}",
                    f"{result.requests_per_second:.0f}",
                    goal=f">= {goal}",
                    met=result.requests_per_second >= goal,
                ),
                Row(
                    "B2 logTime",
                    f"p50 / p99, {label}",
                    f"{result.latency.p50:.1f} / {result.latency.p99:.1f} ms",
                ),
                Row(
                    "B2 logTime",
                    f"errors, {label}",
                    str(result.errors),
                    goal="0",
                    met=result.errors == 0,
                    check=True,
                ),
            ]
        serve_rss, worker_rss = server.peak_rss_mb(), worker.peak_rss_mb()

    applied = seed.applied_by_agreement(engine)
    wrong = [a for a in world.agreement_ids if applied.get(a, Decimal(0)) != expected.get(a, Decimal(0))]
    books = seed.check_books(engine)
    engine.dispose()
    ctx.say(f"balances wrong: {len(wrong)}; books {books}")
    rows += [
        Row(
            "B2 logTime",
            "agreements whose balance differs from the successful entries",
            f"{len(wrong)} of {len(world.agreement_ids)}",
            goal="0",
            met=not wrong,
            check=True,
        ),
        Row(
            "B2 logTime",
            "books: trial balance, reconciliation difference, lots vs movements",
            f"{'balanced' if books.balanced else 'UNBALANCED'}, {books.reconciliation_difference}, "
            f"{'agree' if books.lots_agree else 'DISAGREE'}",
            goal="balanced, 0.00, agree",
            met=books.ok,
            check=True,
        ),
        Row("B2 logTime", "peak RSS serve / worker", f"{serve_rss} / {worker_rss}"),
    ]
    return rows
