"""B4 N+1: SQL statements and time of the agreements listing at 10, 100 and 1,000 agreements.

The listing asks for a page of 100 agreements with company, type, balance and time
entries (each agreement has 10, so "the last 10" is all of them: the contract's
Agreement.timeEntries takes no arguments). It runs in-process through the ASGI app
with an engine event counting statements: a constant count means no N+1.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
from sqlalchemy import event

from api.app import create_app
from bench import harness, seed
from bench.harness import Row, Run
from models.db import dispose_engines, get_engine
from models.settings import Settings

QUERY = """
query Listing {
  agreements(first: 100) {
    totalCount
    edges { node {
      id name status
      company { id identifier name }
      type { id name applicationUnits }
      balance { unitsRemaining deferredRevenue percentRemaining isLow }
      timeEntries { id date hours unitsApplied workType { name } workRole { name } }
    } }
  }
}
"""
ENTRIES_PER_AGREEMENT = 10


async def _measure(app: object, token: str, repeats: int) -> tuple[list[float], int]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        times: list[float] = []
        rows = 0
        for _ in range(repeats + 1):  # the first warms the caches and is not timed
            began = time.perf_counter()
            response = await client.post(
                "/graphql", json={"query": QUERY}, headers={"Authorization": f"Bearer {token}"}
            )
            times.append((time.perf_counter() - began) * 1000)
            body = response.json()
            if response.status_code != 200 or body.get("errors"):
                raise RuntimeError(f"listing failed: {body}")
            edges = body["data"]["agreements"]["edges"]
            rows = len(edges)
            if any(len(e["node"]["timeEntries"]) != ENTRIES_PER_AGREEMENT for e in edges):
                raise RuntimeError("an agreement came back without its time entries")
        return times[1:], rows


def run(ctx: Run) -> list[Row]:
    target = ctx.target
    repeats = ctx.size(10, 2)
    rows: list[Row] = []
    counts: list[int] = []
    for size in (10, 100, 1000) if not ctx.smoke else (10, 30):
        harness.empty_database(target.database_url)
        settings = Settings(DATABASE_URL=target.database_url, REDIS_URL=None, BLOCKTIME_ENV="test")
        engine = get_engine(settings)
        world = seed.seed_agreements(engine, agreements_count=size, companies=max(1, size // 10))
        seed.bulk_time_entries(engine, world, per_agreement=ENTRIES_PER_AGREEMENT)
        statements: list[str] = []

        def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
            statements.append(statement)  # noqa: B023 - removed before the next size

        app = create_app(settings)
        event.listen(engine, "before_cursor_execute", count)
        try:
            times, returned = asyncio.run(_measure(app, world.tokens["ADMIN"], repeats))
        finally:
            event.remove(engine, "before_cursor_execute", count)
            dispose_engines()
        per_request = len(statements) // (repeats + 1)
        counts.append(per_request)
        median = statistics.median(times)
        ctx.say(f"{size} agreements: {returned} listed, {per_request} statements, median {median:.1f} ms")
        rows.append(
            Row(
                "B4 listing",
                f"{size} agreements in the database ({returned} listed)",
                f"{per_request} statements, {median:.1f} ms",
            )
        )
    constant = len(set(counts)) == 1
    rows.append(
        Row(
            "B4 listing",
            "statement count",
            "constant" if constant else "grows: " + " / ".join(map(str, counts)),
            goal="constant",
            met=constant,
            check=True,
        )
    )
    return rows
