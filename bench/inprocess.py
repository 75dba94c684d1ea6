"""B1's balance check in one process: CPU per request and Python calls per request.

The HTTP benchmarks need a quiet machine; this does not. It seeds B1's world (1,000
agreements over 100 companies, CUSTOMER tokens) into the scratch database, builds the
app (`api.app.create_app`, or with `--baseline` bench/baseline.py's, with `--floor`
bench/floor.py's) and sends it the
B1 request through ASGI, one at a time (the world is kept in `--world` and reused, so
two trees can be measured side by side on the same data), so the figure is the app's own work: no
uvicorn, no load generator, no other request contending for the GIL.

- CPU per request: process CPU time over `--requests` requests after 200 warm-up ones.
- `--logtime`: B2's `logTime` (bench/b2_ingest.py's document, spread over 1,000 agreements)
  instead of the balance check; it seeds B2's world afresh (the runs write).
- `--calls`: the same requests under cProfile, reporting Python function calls per
  request: deterministic, so two commits compare exactly even on a busy machine (the
  operation then runs in the event loop's thread, so the profiler sees all of it).
- `--evaluations`: the production shape's other half: the balance evaluation job that
  every covered entry enqueues, run by its actor's function (start, claim, evaluate,
  COMMIT; no broker) over B2's world, CPU per job.
- `--phases`: the CPU each phase of Blocktime's request takes (PHASES: the view, the
  token check, the GraphQL execution, the rules, the statements' connection and
  COMMIT), measured with the process's CPU clock around each named function, without a
  profiler's per-call cost (cProfile doubles the time of call-heavy code such as the
  ORM's, so its shares mislead). Phases nest: each figure includes those it calls. The
  operation runs in the event loop's thread, as with `--calls`.

To compare two commits, export each (`git archive REV | tar -x -C DIR`) and run this
file from the newer tree with the older one first on the path:

    PYTHONPATH=DIR python bench/inprocess.py --calls

Run both at the same time (two shells) for CPU figures that share the same noise.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import importlib
import json
import os
import pstats
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from decimal import Decimal
from typing import Any

QUERY = "query Balance($id: ID!) { agreement(id: $id) { balance { unitsRemaining deferredRevenue isLow } } }"
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/blocktime_bench"
WORLD = "/tmp/blocktime-bench-inprocess.json"  # noqa: S108 - a scratch file of bench tokens

Message = MutableMapping[str, Any]
App = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


def seed(database_url: str) -> list[tuple[str, int]]:
    from bench import harness
    from bench import seed as seeding
    from models.db import make_engine

    harness.prepare_database(database_url)
    harness.empty_database(database_url)
    engine = make_engine(database_url, pool_size=2)
    world = seeding.seed_agreements(engine, agreements_count=1000, companies=100, customer_tokens=True)
    engine.dispose()
    return [(world.customer_token(world.company_of[a]), a) for a in world.agreement_ids]


def seed_logtime(database_url: str) -> list[tuple[str, bytes]]:
    """B2's world (1,000 agreements with blocks no run can exhaust) and one logTime body per
    agreement, as bench/b2_ingest.py sends them: seeded afresh each time (the run writes)."""
    from bench import harness
    from bench import seed as seeding
    from bench.b2_ingest import HOURS, MUTATION
    from models.db import make_engine

    harness.prepare_database(database_url)
    harness.empty_database(database_url)
    engine = make_engine(database_url, pool_size=2)
    world = seeding.seed_agreements(engine, agreements_count=1000, units=Decimal("100000"))
    engine.dispose()
    token = world.tokens["TECHNICIAN"]
    work = {
        "workTypeId": str(world.remote_id),
        "workRoleId": str(world.role_id),
        "date": seeding.WORK_DAY.isoformat(),
        "hours": str(HOURS),
    }
    return [
        (
            token,
            json.dumps(
                {
                    "query": MUTATION,
                    "variables": {
                        "input": {"companyId": str(world.company_of[a]), "agreementId": str(a), **work}
                    },
                }
            ).encode(),
        )
        for a in world.agreement_ids
    ]


async def one(app: App, token: str, body: bytes) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    received = False
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    answer = b"".join(m.get("body", b"") for m in sent[1:])
    if sent[0]["status"] != 200 or b"errors" in answer:
        raise SystemExit(f"unexpected answer {sent[0]['status']}: {answer[:300]!r}")


async def measure(
    app: App, bodies: list[tuple[str, bytes]], requests: int, calls: bool, spent: Counter[str] | None = None
) -> None:
    pick = random.Random(1)
    for _ in range(200):
        await one(app, *pick.choice(bodies))
    if spent is not None:
        spent.clear()
    profile = cProfile.Profile() if calls else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    for _ in range(requests):
        await one(app, *pick.choice(bodies))
    if profile is not None:
        profile.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if profile is not None:
        per_request = pstats.Stats(profile).total_calls / requests  # type: ignore[attr-defined]
        print(f"{per_request:.0f} Python function calls per request (cProfile; CPU figures inflated by it)")
    print(
        f"{requests} requests: {1000 * cpu / requests:.3f} ms CPU, {1000 * wall / requests:.3f} ms wall each"
    )
    if spent is not None:
        for phase in PHASES:
            if phase in spent:
                print(f"{1e6 * spent[phase] / requests:8.0f} us CPU per request in {phase}")


# What --phases times, per request: "module:attribute" of each function, as its callers
# find it (a name imported with `from ... import` is timed in the importing module).
PHASES = (
    "api.security:SecurityHeaders.__call__",
    "api.view:GraphQLView.handle",
    "api.view:GraphQLView._from_body",
    "api.view:run_operation",
    "accounting.access:authenticate",
    "strawberry.schema.schema:Schema.execute_sync",
    "sqlalchemy.orm.session:Session._connection_for_bind",
    "sqlalchemy.orm.session:Session.commit",
    "api.read.agreements:visible_row",
    "accounting.agreements:balances",
    "accounting.drawdown:log_time",
    "accounting.drawdown:_lock_named_agreement",
    "accounting.drawdown:_draw",
    "accounting.drawdown:_record",
    "accounting.drawdown:take_fifo",
    "accounting.jobs:enqueue_many",
    "accounting.audit:record",
    "api.loaders:Loaders.prime",
)


def timed(phases: Sequence[str], spent: Counter[str]) -> None:
    """Wrap each phase's function so that the process CPU time spent in it adds up in `spent`."""
    for phase in phases:
        module_name, path = phase.split(":")
        *owners, name = path.split(".")
        owner: Any = importlib.import_module(module_name)
        for attribute in owners:
            owner = getattr(owner, attribute)
        function = getattr(owner, name)
        if asyncio.iscoroutinefunction(function):
            setattr(owner, name, _timed_async(function, phase, spent))
        else:
            setattr(owner, name, _timed(function, phase, spent))


def _timed(function: Callable[..., Any], phase: str, spent: Counter[str]) -> Callable[..., Any]:
    @functools.wraps(function)
    def run(*arguments: Any, **keywords: Any) -> Any:
        start = time.process_time()
        try:
            return function(*arguments, **keywords)
        finally:
            spent[phase] += time.process_time() - start

    return run


def _timed_async(function: Callable[..., Any], phase: str, spent: Counter[str]) -> Callable[..., Any]:
    @functools.wraps(function)
    async def run(*arguments: Any, **keywords: Any) -> Any:
        start = time.process_time()
        try:
            return await function(*arguments, **keywords)
        finally:
            spent[phase] += time.process_time() - start

    return run


def evaluations(database_url: str, requests: int) -> None:
    """CPU per EVALUATE_BALANCE job, run by workers.actors' function as a worker runs it
    (its two units of work: the start, then the claim and the evaluation), after 200
    warm-up jobs, over B2's world."""
    from sqlalchemy import insert, select

    from accounting import jobs
    from models import Agreement, OutboxJob
    from models.db import unit_of_work
    from workers import actors

    seed_logtime(database_url)
    engine = actors._engine()
    with unit_of_work(engine) as session:
        agreement_ids = list(session.scalars(select(Agreement.id).order_by(Agreement.id)))
        pick = random.Random(1)
        picked = [pick.choice(agreement_ids) for _ in range(200 + requests)]
        job_ids = list(
            session.scalars(
                insert(OutboxJob).returning(OutboxJob.id, sort_by_parameter_order=True),
                [
                    {
                        "actor": jobs.EVALUATE_BALANCE,
                        "args": json.dumps({"agreement_id": a, "time_entry_id": None}, sort_keys=True),
                    }
                    for a in picked
                ],
            )
        )
    run = actors.evaluate_balance.fn
    for job_id, agreement_id in zip(job_ids[:200], picked, strict=False):
        run(job_id, agreement_id)
    cpu = time.process_time()
    for job_id, agreement_id in zip(job_ids[200:], picked[200:], strict=True):
        run(job_id, agreement_id)
    cpu = time.process_time() - cpu
    print(f"{requests} balance evaluation jobs: {1000 * cpu / requests:.3f} ms CPU each")


def balance_checks(database_url: str, args: argparse.Namespace) -> list[tuple[str, bytes]]:
    """B1's requests over the world kept in --world (seeded when asked or missing)."""
    if args.seed or not os.path.exists(args.world):
        with open(args.world, "w") as file:
            json.dump(seed(database_url), file)
    with open(args.world) as file:
        pairs: list[tuple[str, int]] = json.load(file)
    return [(token, json.dumps({"query": QUERY, "variables": {"id": str(a)}}).encode()) for token, a in pairs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--calls", action="store_true", help="count Python calls per request (cProfile)")
    parser.add_argument("--baseline", action="store_true", help="bench/baseline.py's app instead")
    parser.add_argument(
        "--floor", action="store_true", help="bench/floor.py's app (strawberry, raw SQL) instead"
    )
    parser.add_argument("--seed", action="store_true", help="seed again even if --world exists")
    parser.add_argument("--world", default=WORLD, help="the seeded tokens and agreements (kept for reruns)")
    parser.add_argument("--logtime", action="store_true", help="B2's logTime instead (seeds its own world)")
    parser.add_argument(
        "--evaluations", action="store_true", help="the balance evaluation job instead (B2's world)"
    )
    parser.add_argument("--phases", action="store_true", help="CPU per phase of Blocktime's request (PHASES)")
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ["DATABASE_URL"] = database_url  # before anything reads the settings
    for name in [n for n in os.environ if n.startswith("BLOCKTIME_") or n == "REDIS_URL"]:
        del os.environ[name]  # no relay, no embedded worker: the request path only
    if args.evaluations:
        evaluations(database_url, args.requests)
        return
    bodies = seed_logtime(database_url) if args.logtime else balance_checks(database_url, args)
    if args.calls or args.phases:
        import anyio.to_thread

        async def inline(function: Callable[..., Any], *arguments: Any, **_options: Any) -> Any:
            return function(*arguments)

        anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    if args.baseline:
        from bench.baseline import create_app as create_baseline

        app: App = create_baseline()
    elif args.floor:
        from bench.floor import create_app as create_floor

        app = create_floor()
    else:
        from api.app import create_app

        app = create_app()
    spent: Counter[str] | None = None
    if args.phases:
        spent = Counter()
        timed(PHASES, spent)
    asyncio.run(served(app, bodies, args.requests, args.calls, spent))


async def served(
    app: App, bodies: list[tuple[str, bytes]], requests: int, calls: bool, spent: Counter[str] | None = None
) -> None:
    """measure() inside the app's lifespan, as `blocktime serve` runs it (Blocktime's keeps
    tokens it has seen while it hears revocations: api/revocations.py)."""
    lifespan = getattr(getattr(app, "router", None), "lifespan_context", None)
    if lifespan is None:
        await measure(app, bodies, requests, calls, spent)
        return
    async with lifespan(app):
        await asyncio.sleep(0.5)  # the revocation listener connects
        await measure(app, bodies, requests, calls, spent)


if __name__ == "__main__":
    main()
