"""B1 balance check: CUSTOMER tokens ask for an agreement's balance, 32 clients for 20 s.

1,000 agreements over 100 companies, one CUSTOMER token per company; each request
is one (token, own agreement) pair at random. The same load generator then hits
bench/baseline.py, which authenticates the same tokens and runs the same SQL.
"""

from __future__ import annotations

from bench import harness, seed
from bench.harness import Row, Run
from models.db import make_engine

QUERY = "query Balance($id: ID!) { agreement(id: $id) { balance { unitsRemaining deferredRevenue isLow } } }"
CLIENTS = 32


def run(ctx: Run) -> list[Row]:
    target = ctx.target
    count = ctx.size(1000, 20)
    harness.empty_database(target.database_url)
    harness.flush_redis(target.redis_url)
    engine = make_engine(target.database_url, pool_size=2)
    world = seed.seed_agreements(
        engine, agreements_count=count, companies=max(1, count // 10), customer_tokens=True
    )
    engine.dispose()
    ctx.say(f"seeded {count} agreements")

    def requests(port: int) -> list[bytes]:
        return [
            harness.graphql_request(port, world.customer_token(world.company_of[a]), QUERY, {"id": str(a)})
            for a in world.agreement_ids
        ]

    results = {}
    rss = {}
    cpu: dict[str, float] = {}
    for name, start in (
        ("Blocktime", lambda: harness.serve(target, ctx.log("b1-serve"), workers=ctx.serve_workers)),
        ("baseline", lambda: harness.baseline(target, ctx.log("b1-baseline"), workers=ctx.serve_workers)),
    ):
        with start() as server:
            cpu_before, shares_before = harness.cpu_seconds(server.pid), harness.per_process_cpu(server.pid)
            results[name] = harness.load(
                server.port,
                requests(server.port),
                connections=ctx.size(CLIENTS, 4),
                duration=ctx.duration,
                warmup=ctx.warmup,
                processes=ctx.client_processes,
            )
            rss[name] = server.peak_rss_mb()
            cpu[name] = (
                (harness.cpu_seconds(server.pid) - cpu_before) / max(1, results[name].completed) * 1000
            )
            shares = [
                round(b - a, 1)
                for a, b in zip(shares_before, harness.per_process_cpu(server.pid), strict=False)
            ]
            ctx.say(f"{name}: CPU s per process of the server during the run: {shares}")
        r = results[name]
        ctx.say(
            f"{name}: {r.requests_per_second:.0f} req/s, p50 {r.latency.p50:.1f} ms, "
            f"p99 {r.latency.p99:.1f} ms, {r.errors} errors {r.error_samples[:1]}"
        )
    ours, base = results["Blocktime"], results["baseline"]
    ratio = ours.requests_per_second / base.requests_per_second if base.requests_per_second else 0.0
    return [
        Row("B1 balance", "requests/s", f"{ours.requests_per_second:.0f}", f"{base.requests_per_second:.0f}"),
        Row("B1 balance", "p50 latency", f"{ours.latency.p50:.1f} ms", f"{base.latency.p50:.1f} ms"),
        Row(
            "B1 balance",
            "p99 latency",
            f"{ours.latency.p99:.1f} ms",
            f"{base.latency.p99:.1f} ms",
            "<= 25 ms",
            ours.latency.p99 <= 25,
        ),
        Row(
            "B1 balance", "throughput ratio Blocktime / baseline", f"{ratio:.2f}", "", ">= 0.7", ratio >= 0.7
        ),
        Row(
            "B1 balance",
            "errors",
            str(ours.errors),
            str(base.errors),
            "0",
            ours.errors == base.errors == 0,
            check=True,
        ),
        Row(
            "B1 balance", "server CPU per request", f"{cpu['Blocktime']:.1f} ms", f"{cpu['baseline']:.1f} ms"
        ),
        Row("B1 balance", "API peak RSS (serve)", str(rss["Blocktime"]), str(rss["baseline"])),
    ]
