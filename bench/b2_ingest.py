"""B2 time-entry ingestion: 16 TECHNICIAN clients call logTime for 20 s.

Once spread over 1,000 agreements, once all on one agreement (every request waits
for the previous one's row lock). The production shape: `blocktime serve` relays
each entry's balance evaluation to Redis and a `blocktime worker` runs it.
Then the same two loads against Blocktime's API alone (`api.app:create_app` under
uvicorn as the baseline runs: no relay, no worker beside it) and against
bench/baseline.py's raw-SQL logTime under the same uvicorn settings (its outbox rows
stay PENDING too), and against bench/floor.py (strawberry executing the baseline's
SQL: what GraphQL on this stack costs at the least).
Afterwards every agreement's units applied must equal the hours of the entries the
clients saw succeed (Blocktime's and the baseline's), the lots must agree with their
movements and the deferred revenue must reconcile.
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

    runs = (("spread over agreements", world.agreement_ids), ("one agreement", world.agreement_ids[:1]))
    rates: dict[tuple[str, str], LoadResult] = {}

    def drive(name: str, server: harness.HTTPProcess) -> float:
        """Both runs against one server; its CPU seconds per request over them."""
        port, cpu_before = server.port, harness.cpu_seconds(server.pid)
        for label, agreement_ids in runs:
            result: LoadResult = harness.load(
                port,
                requests(port, agreement_ids),
                connections=ctx.size(CLIENTS, 4),
                duration=ctx.duration,
                warmup=ctx.warmup,
                processes=ctx.client_processes,
            )
            rates[name, label] = result
            for index, successes in result.successes.items():
                agreement_id = agreement_ids[index]
                expected[agreement_id] = expected.get(agreement_id, Decimal(0)) + HOURS * successes
            ctx.say(
                f"{name}, {label}: {result.requests_per_second:.0f} req/s, p50 {result.latency.p50:.1f} ms, "
                f"p99 {result.latency.p99:.1f} ms, {result.errors} errors {result.error_samples[:1]}"
            )
        completed = sum(rates[name, label].completed for label, _ in runs)
        return (harness.cpu_seconds(server.pid) - cpu_before) / max(1, completed)

    def to_baseline(name: str, label: str) -> float:
        """`name`'s throughput over the baseline's, in the run `label`."""
        base = rates["baseline", label].requests_per_second
        return rates[name, label].requests_per_second / base if base else 0.0

    with harness.stack(target, "b2", processes=1, threads=4, serve_workers=ctx.serve_workers) as (
        server,
        worker,
    ):
        cpu = drive("Blocktime", server)
        serve_rss, worker_rss = server.peak_rss_mb(), worker.peak_rss_mb()
    # The API alone, as the baseline runs (no relay, no worker on the same two cores): which
    # part of the gap is the API's own work and which the jobs' running beside it.
    with harness.api_alone(target, ctx.log("b2-api-alone"), workers=ctx.serve_workers) as alone:
        alone_cpu = drive("Blocktime API alone", alone)
    with harness.floor(target, ctx.log("b2-floor"), workers=ctx.serve_workers) as least:
        floor_cpu = drive("stack floor", least)
    with harness.baseline(target, ctx.log("b2-baseline"), workers=ctx.serve_workers) as raw:
        base_cpu = drive("baseline", raw)
        base_rss = raw.peak_rss_mb()

    for label, _ in runs:
        ours, base = rates["Blocktime", label], rates["baseline", label]
        api, least_rate = rates["Blocktime API alone", label], rates["stack floor", label]
        ratio = to_baseline("Blocktime", label)
        alone_ratio, floor_ratio = (
            to_baseline("Blocktime API alone", label),
            to_baseline("stack floor", label),
        )
        rows += [
            Row(
                "B2 logTime",
                f"requests/s, {label}",
                f"{ours.requests_per_second:.0f}",
                f"{base.requests_per_second:.0f}",
            ),
            Row(
                "B2 logTime",
                f"throughput ratio Blocktime / baseline, {label}",
                f"{ratio:.2f}",
                goal=">= 0.5",
                met=ratio >= 0.5,
            ),
            Row(
                "B2 logTime",
                f"API alone (no relay, no worker beside it): requests/s and ratio to baseline, {label}",
                f"{api.requests_per_second:.0f}; {alone_ratio:.2f}",
            ),
            Row(
                "B2 logTime",
                f"stack floor (bench/floor.py): requests/s and ratio to baseline, {label}",
                f"{least_rate.requests_per_second:.0f}; {floor_ratio:.2f}",
            ),
            Row(
                "B2 logTime",
                f"p50 / p99, {label}",
                f"{ours.latency.p50:.1f} / {ours.latency.p99:.1f} ms",
                f"{base.latency.p50:.1f} / {base.latency.p99:.1f} ms",
            ),
            Row(
                "B2 logTime",
                f"errors, {label}",
                str(ours.errors),
                str(base.errors),
                goal="0",
                met=ours.errors == base.errors == 0,
                check=True,
            ),
        ]
    rows.append(
        Row(
            "B2 logTime",
            "server CPU per request (both runs)",
            f"{cpu * 1000:.1f} ms",
            f"{base_cpu * 1000:.1f} ms",
        )
    )
    rows.append(
        Row("B2 logTime", "server CPU per request, API alone (both runs)", f"{alone_cpu * 1000:.1f} ms")
    )
    rows.append(
        Row("B2 logTime", "server CPU per request, stack floor (both runs)", f"{floor_cpu * 1000:.1f} ms")
    )

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
        Row("B2 logTime", "peak RSS serve / worker", f"{serve_rss} / {worker_rss}", str(base_rss)),
    ]
    return rows
