"""B1 balance check: CUSTOMER tokens ask for an agreement's balance, 32 clients for 20 s.

Then the same at a fixed 100 requests/s (open loop: the latency a client sees at a
realistic load), and with twice the uvicorn workers (connections spread evenly over
the worker processes by the load generator), each next to the baseline.

1,000 agreements over 100 companies, one CUSTOMER token per company; each request
is one (token, own agreement) pair at random. The same load generator then hits
bench/baseline.py, which authenticates the same tokens and runs the same SQL.
"""

from __future__ import annotations

from collections.abc import Callable

from bench import harness, seed
from bench.harness import Row, Run
from models.db import make_engine

QUERY = "query Balance($id: ID!) { agreement(id: $id) { balance { unitsRemaining deferredRevenue isLow } } }"
CLIENTS = 32
OPEN_LOOP_RATE = 100  # requests/s: a realistic portal load, well under either server's capacity


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

    def measure(name: str, start: Callable[[], harness.HTTPProcess], *, workers: int, open_rate: float = 0.0):
        """One server: a closed loop of CLIENTS (or, with open_rate, a fixed arrival rate)."""
        with start() as server:
            cpu_before, shares_before = harness.cpu_seconds(server.pid), harness.per_process_cpu(server.pid)
            if open_rate:
                result = harness.open_loop(
                    server.port,
                    requests(server.port),
                    rate=open_rate,
                    duration=ctx.duration,
                    warmup=ctx.warmup,
                )
            else:
                result = harness.load(
                    server.port,
                    requests(server.port),
                    connections=ctx.size(CLIENTS, 4),
                    duration=ctx.duration,
                    warmup=ctx.warmup,
                    processes=ctx.client_processes,
                    server=(server.pid, workers),
                )
            rss = server.peak_rss_mb()
            cpu = (harness.cpu_seconds(server.pid) - cpu_before) / max(1, result.completed) * 1000
            shares = [
                round(b - a, 1)
                for a, b in zip(shares_before, harness.per_process_cpu(server.pid), strict=False)
            ]
        ctx.say(
            f"{name}: {result.requests_per_second:.0f} req/s, p50 {result.latency.p50:.1f} ms, "
            f"p99 {result.latency.p99:.1f} ms, {result.errors} errors {result.error_samples[:1]}; "
            f"CPU s per process of the server: {shares}"
        )
        return result, rss, cpu, shares

    def blocktime(workers: int) -> Callable[[], harness.HTTPProcess]:
        return lambda: harness.serve(target, ctx.log(f"b1-serve-{workers}w"), workers=workers)

    def raw(workers: int) -> Callable[[], harness.HTTPProcess]:
        return lambda: harness.baseline(target, ctx.log(f"b1-baseline-{workers}w"), workers=workers)

    w = ctx.serve_workers
    ours, ours_rss, ours_cpu, _ = measure("Blocktime", blocktime(w), workers=w)
    base, base_rss, base_cpu, _ = measure("baseline", raw(w), workers=w)
    least, _, least_cpu, _ = measure(
        "stack floor",
        lambda: harness.floor(target, ctx.log(f"b1-floor-{w}w"), workers=w),
        workers=w,
    )
    rate = ctx.size(OPEN_LOOP_RATE, 20)
    ours_open = measure(f"Blocktime open loop {rate}/s", blocktime(w), workers=w, open_rate=rate)[0]
    base_open = measure(f"baseline open loop {rate}/s", raw(w), workers=w, open_rate=rate)[0]
    scaled = max(2, w * 2)
    ours_n, _, ours_n_cpu, ours_n_shares = measure(
        f"Blocktime {scaled} workers", blocktime(scaled), workers=scaled
    )
    base_n, _, _, base_n_shares = measure(f"baseline {scaled} workers", raw(scaled), workers=scaled)

    ratio = ours.requests_per_second / base.requests_per_second if base.requests_per_second else 0.0
    floor_ratio = least.requests_per_second / base.requests_per_second if base.requests_per_second else 0.0
    ratio_n = ours_n.requests_per_second / base_n.requests_per_second if base_n.requests_per_second else 0.0
    errors = ours.errors + ours_open.errors + ours_n.errors + least.errors
    base_errors = base.errors + base_open.errors + base_n.errors
    return [
        Row("B1 balance", "requests/s", f"{ours.requests_per_second:.0f}", f"{base.requests_per_second:.0f}"),
        Row("B1 balance", "p50 / p99 latency, closed loop", _p(ours), _p(base)),
        Row(
            "B1 balance", "throughput ratio Blocktime / baseline", f"{ratio:.2f}", "", ">= 0.7", ratio >= 0.7
        ),
        Row(
            "B1 balance",
            "stack floor (bench/floor.py: strawberry, the baseline's SQL): requests/s; ratio to baseline",
            f"{least.requests_per_second:.0f}; {floor_ratio:.2f}",
        ),
        Row("B1 balance", "stack floor: server CPU per request", f"{least_cpu:.1f} ms"),
        Row(
            "B1 balance",
            "server CPU per request",
            f"{ours_cpu:.1f} ms",
            f"{base_cpu:.1f} ms",
            "<= 4.5 ms",
            ours_cpu <= 4.5,
        ),
        Row(
            "B1 balance",
            f"open loop {rate:g} requests/s: p50 latency",
            f"{ours_open.latency.p50:.1f} ms",
            f"{base_open.latency.p50:.1f} ms",
        ),
        Row(
            "B1 balance",
            f"open loop {rate:g} requests/s: p99 latency",
            f"{ours_open.latency.p99:.1f} ms",
            f"{base_open.latency.p99:.1f} ms",
            "<= 25 ms",
            ours_open.latency.p99 <= 25,
        ),
        Row(
            "B1 balance",
            f"open loop {rate:g} requests/s: answered in the window",
            f"{ours_open.requests_per_second:.0f}/s",
            f"{base_open.requests_per_second:.0f}/s",
        ),
        Row(
            "B1 balance",
            f"requests/s, serve --workers {scaled} (next to {w})",
            _scaling(ours_n, ours),
            _scaling(base_n, base),
        ),
        Row(
            "B1 balance",
            f"serve --workers {scaled}: CPU s per process (parent first), p50 / p99",
            f"{ours_n_shares}; {_p(ours_n)}",
            f"{base_n_shares}; {_p(base_n)}",
        ),
        Row("B1 balance", f"throughput ratio Blocktime / baseline, {scaled} workers", f"{ratio_n:.2f}"),
        Row("B1 balance", f"server CPU per request, {scaled} workers", f"{ours_n_cpu:.1f} ms"),
        Row(
            "B1 balance",
            "errors (all runs)",
            str(errors),
            str(base_errors),
            "0",
            errors == base_errors == 0,
            check=True,
        ),
        Row("B1 balance", "API peak RSS (serve)", str(ours_rss), str(base_rss)),
    ]


def _p(result: harness.LoadResult) -> str:
    return f"{result.latency.p50:.1f} / {result.latency.p99:.1f} ms"


def _scaling(more: harness.LoadResult, one: harness.LoadResult) -> str:
    factor = more.requests_per_second / max(1.0, one.requests_per_second)
    return f"{more.requests_per_second:.0f} (x{factor:.2f})"
