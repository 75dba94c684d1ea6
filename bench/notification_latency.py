"""Time from a threshold-crossing mutation to its webhook POST (issue 5's closing note).

    .venv/bin/python -m bench.notification_latency --rounds 100 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/blocktime_bench \\
        --redis-url redis://127.0.0.1:6379/6

The production shape: PostgreSQL, Redis and a real `blocktime worker` process. This
process plays `blocktime serve` with REDIS_URL: each round commits logTime's
accounting call (drawdown.log_time, 9 h of 10 h against a 2 h threshold) through
unit_of_work, whose after-commit nudge wakes the relay thread
(workers.runtime.background), and a local HTTP server takes the webhook. The hops:
relay -> notifications.evaluate -> notifications.deliver -> deliveries.send -> POST.

Each round uses its own agreement, so each crosses the threshold exactly once, and
waits a random 0.2-1.0 s first so the worker's consumers are idle, as they are
between real mutations. The database named by --database-url is emptied and
migrated: point it at a scratch database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from accounting import agreements, drawdown, notifications
from models.db import get_engine, unit_of_work
from models.settings import Settings
from tests import factories

D = Decimal
SECRET = "bench-secret-0123456789"  # noqa: S105 - a local test endpoint's secret
BLOCKTIME = Path(sys.executable).with_name("blocktime")


class Endpoint:
    """A webhook receiver that notes when each agreement's notification arrives."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.event = threading.Condition()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                at = time.perf_counter()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with endpoint.event:
                    endpoint.arrived.setdefault(json.loads(body)["agreement"]["id"], at)
                    endpoint.event.notify_all()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def wait_for(self, agreement_id: int, timeout: float = 30.0) -> float:
        with self.event:
            if not self.event.wait_for(lambda: str(agreement_id) in self.arrived, timeout):
                raise TimeoutError(f"no webhook for agreement {agreement_id} within {timeout} s")
            return self.arrived[str(agreement_id)]


def prepare_database(url: str) -> None:
    """Create the scratch database if missing, empty it and migrate it."""
    from migrations.runner import upgrade

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        if (
            conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).first()
            is None
        ):
            conn.exec_driver_sql(f'CREATE DATABASE "{target.database}"')
    admin.dispose()
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    upgrade(engine)
    engine.dispose()


def seed(settings: Settings, rounds: int, webhook_url: str) -> list[tuple[int, int, int, int]]:
    """One agreement per round with 10 h bought; returns (agreement, company, role, type)."""
    with unit_of_work(get_engine(settings)) as session:
        factories.chart_of_accounts(session)
        rates = factories.rates(session)
        block = factories.block_time_type(session, rates=rates)
        notifications.register_webhook(session, url=webhook_url, secret=SECRET)
        deals = []
        for n in range(rounds):
            deal = factories.agreement(session, agreement_type=block, identifier=f"C{n:04d}")
            agreements.purchase_block(
                session,
                agreement_id=deal.id,
                units=D("10"),
                unit_price=D("150.00"),
                effective_date=dt.date(2026, 1, 1),
            )
            deals.append((deal.id, deal.company_id, rates.engineer.id, rates.remote.id))
        return deals


def start_worker(
    settings: Settings, log: Path, processes: int | None, threads: int | None
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "dramatiq_"))}
    env.update(DATABASE_URL=settings.database_url, REDIS_URL=settings.redis_url or "")
    argv = [str(BLOCKTIME), "worker"]
    argv += ["--processes", str(processes)] if processes else []
    argv += ["--threads", str(threads)] if threads else []
    process = subprocess.Popen(  # noqa: S603 - our own CLI with fixed arguments
        argv, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while log.read_text(errors="replace").count("ready for action") < (processes or os.cpu_count() or 1):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)
    return process


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=3, help="rounds run first and not counted")
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/blocktime_bench"
    )
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--processes", type=int, default=None, help="worker processes (default: dramatiq's)")
    parser.add_argument("--threads", type=int, default=None, help="threads per worker process")
    args = parser.parse_args()

    import redis

    from workers.runtime import background

    settings = Settings(DATABASE_URL=args.database_url, REDIS_URL=args.redis_url, BLOCKTIME_ENV="test")
    prepare_database(args.database_url)
    client = redis.Redis.from_url(args.redis_url)
    for key in client.scan_iter("dramatiq:*"):  # stale messages from earlier runs
        client.delete(key)
    endpoint = Endpoint()
    deals = seed(settings, args.warmup + args.rounds, endpoint.url)
    log = Path(tempfile.mkdtemp(prefix="blocktime-bench-")) / "worker.log"
    worker = start_worker(settings, log, args.processes, args.threads)
    engine = get_engine(settings)
    from_start: list[float] = []
    from_commit: list[float] = []
    try:
        with background(settings):
            time.sleep(1.0)  # the start-up sweep: the purchases' evaluations
            for n, (agreement_id, company_id, role_id, type_id) in enumerate(deals):
                time.sleep(random.uniform(0.2, 1.0))
                started = time.perf_counter()
                with unit_of_work(engine) as session:
                    drawdown.log_time(
                        session,
                        company_id=company_id,
                        agreement_id=agreement_id,
                        work_type_id=type_id,
                        work_role_id=role_id,
                        date=dt.date(2026, 11, 2),
                        hours=D("9"),
                    )
                committed = time.perf_counter()
                arrived = endpoint.wait_for(agreement_id)
                if n >= args.warmup:
                    from_start.append((arrived - started) * 1000)
                    from_commit.append((arrived - committed) * 1000)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
        endpoint.httpd.shutdown()

    def line(name: str, values: list[float]) -> str:
        return (
            f"{name}: median {statistics.median(values):.0f} ms, p90 {percentile(values, 90):.0f} ms, "
            f"worst {max(values):.0f} ms, mean {statistics.mean(values):.0f} ms"
        )

    workers = f"{args.processes or 'default'} process(es) x {args.threads or 'default'} thread(s)"
    print(
        f"{len(from_start)} threshold crossings, PostgreSQL + Redis, `blocktime worker` {workers}, "
        f"{os.cpu_count()} CPUs"
    )
    print(line("mutation start -> webhook POST", from_start))
    print(line("commit -> webhook POST        ", from_commit))


if __name__ == "__main__":
    main()
