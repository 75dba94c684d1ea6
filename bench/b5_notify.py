"""B5 notification latency: from a threshold-crossing logTime over HTTP to the webhook POST.

The production shape, end to end: `blocktime serve` (with REDIS_URL) commits the
mutation and its outbox job, its relay sends the job to Redis, a `blocktime worker`
evaluates the balance, raises LOW_BALANCE, fans out and POSTs the signed webhook to
a local receiver, which checks X-Blocktime-Signature. Each round logs 9 h against
its own agreement (10 h bought, threshold 2 h), so each crosses the threshold once,
after a random 0.2-0.6 s pause so the worker is idle as it is between real mutations.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from bench import harness, seed
from bench.harness import Latency, Row, Run
from models.db import make_engine

SECRET = "bench-webhook-secret-0123456789"  # noqa: S105 - a local receiver's secret
LOG_TIME = "mutation LogTime($input: LogTimeInput!) { logTime(input: $input) { id } }"
REGISTER = "mutation Register($input: RegisterWebhookInput!) { registerWebhook(input: $input) { id } }"


class Receiver:
    """A webhook endpoint noting when each agreement's first notification arrives."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.bad_signatures = 0
        self.condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                at = time.perf_counter()
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                good = hmac.compare_digest(expected, self.headers.get("X-Blocktime-Signature", ""))
                self.send_response(200 if good else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with receiver.condition:
                    if good:
                        receiver.arrived.setdefault(json.loads(body)["agreement"]["id"], at)
                    else:
                        receiver.bad_signatures += 1
                    receiver.condition.notify_all()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def wait_for(self, agreement_id: int, timeout: float = 30.0) -> float:
        with self.condition:
            if not self.condition.wait_for(lambda: str(agreement_id) in self.arrived, timeout):
                raise TimeoutError(f"no webhook for agreement {agreement_id} within {timeout} s")
            return self.arrived[str(agreement_id)]


def run(ctx: Run) -> list[Row]:
    target = ctx.target
    rounds, warmup = ctx.size(200, 2), ctx.size(5, 1)
    harness.empty_database(target.database_url)
    harness.flush_redis(target.redis_url)
    engine = make_engine(target.database_url, pool_size=2)
    world = seed.seed_agreements(engine, agreements_count=rounds + warmup, units=Decimal("10"))
    engine.dispose()
    receiver = Receiver()
    latencies: list[float] = []
    try:
        with (
            harness.stack(target, "b5", processes=ctx.size(2, 1), threads=4) as (server, _worker),
            httpx.Client(base_url=server.url, timeout=30) as client,
        ):

            def post(token: str, query: str, **variables: Any) -> None:
                response = client.post(
                    "/graphql",
                    json={"query": query, "variables": variables},
                    headers={"Authorization": f"Bearer {token}"},
                )
                if response.status_code != 200 or response.json().get("errors"):
                    raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")

            post(world.tokens["ADMIN"], REGISTER, input={"url": receiver.url, "secret": SECRET})
            for n, agreement_id in enumerate(world.agreement_ids):
                time.sleep(random.uniform(0.2, 0.6) if not ctx.smoke else 0.1)
                began = time.perf_counter()
                post(
                    world.tokens["TECHNICIAN"],
                    LOG_TIME,
                    input={
                        "companyId": str(world.company_of[agreement_id]),
                        "agreementId": str(agreement_id),
                        "workTypeId": str(world.remote_id),
                        "workRoleId": str(world.role_id),
                        "date": seed.WORK_DAY.isoformat(),
                        "hours": "9",
                    },
                )
                arrived = receiver.wait_for(agreement_id)
                if n >= warmup:
                    latencies.append((arrived - began) * 1000)
    finally:
        receiver.httpd.shutdown()
    latency = Latency(latencies)
    ctx.say(
        f"{len(latencies)} rounds: median {latency.p50:.0f} ms, "
        f"p99 {latency.p99:.0f} ms, worst {latency.worst:.0f} ms"
    )
    return [
        Row(
            "B5 notification", f"logTime -> webhook POST, median of {len(latencies)}", f"{latency.p50:.0f} ms"
        ),
        Row(
            "B5 notification",
            f"logTime -> webhook POST, p99 of {len(latencies)}",
            f"{latency.p99:.0f} ms",
            goal="< 1000 ms",
            met=latency.p99 < 1000,
        ),
        Row(
            "B5 notification",
            f"logTime -> webhook POST, worst of {len(latencies)}",
            f"{latency.worst:.0f} ms",
        ),
        Row(
            "B5 notification",
            "webhooks received / with a bad signature",
            f"{len(receiver.arrived)} / {receiver.bad_signatures}",
            goal=f"{rounds + warmup} / 0",
            met=len(receiver.arrived) == rounds + warmup and receiver.bad_signatures == 0,
            check=True,
        ),
    ]
