"""Every benchmark at a tiny size: it runs end to end and its outcomes are right.

Figures are never asserted (the machine is shared; `make bench` measures). What is
asserted: each benchmark produced its rows, no request failed, balances and books
agree, the listing's statement count is constant, every webhook arrived signed.
Needs PostgreSQL and Redis: a throwaway database, and Redis database
BLOCKTIME_BENCH_REDIS_DB (default 6) on the test Redis server, never the suite's own,
since the bench's workers consume the same queue names.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import make_url

from bench import harness, run
from tests.conftest import postgres_url, redis_url, throwaway_postgres_database

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def test_every_benchmark_runs_at_smoke_size_with_right_outcomes(tmp_path) -> None:
    server = make_url(postgres_url()).set(database="postgres").render_as_string(hide_password=False)
    redis_db = int(os.environ.get("BLOCKTIME_BENCH_REDIS_DB", "6"))
    bench_redis = redis_url().rsplit("/", 1)[0] + f"/{redis_db}"
    with throwaway_postgres_database(server, prefix="blocktime_bench_smoke") as database_url:
        target = harness.Target(database_url=database_url, redis_url=bench_redis, logs=tmp_path)
        harness.prepare_database(database_url)
        ctx = harness.Run(target=target, duration=0.3, smoke=True)
        rows = run.run_benchmarks(ctx, list(run.BENCHMARKS))

    assert {r.bench.split()[0] for r in rows} == set(run.BENCHMARKS), rows
    failed = [r for r in rows if r.check and not r.met]
    assert not failed, "\n".join(f"{r.bench}: {r.measure} = {r.value}" for r in failed)
    assert len([r for r in rows if r.check]) >= 8
