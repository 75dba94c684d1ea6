"""Prometheus metrics, one registry per app (tests build many apps in one process)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "blocktime_http_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "blocktime_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["route", "method"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        self.graphql_operations = Counter(
            "blocktime_graphql_operations",
            "GraphQL operations executed, by type.",
            ["type"],
            registry=self.registry,
        )
        self.graphql_errors = Counter(
            "blocktime_graphql_errors",
            "GraphQL errors returned, by extensions.code.",
            ["code"],
            registry=self.registry,
        )
        self.jobs_enqueued = Counter(
            "blocktime_jobs_enqueued",
            "Outbox jobs committed by API operations, by actor.",
            ["actor"],
            registry=self.registry,
        )

    def count_errors(self, codes: Iterable[str]) -> None:
        for code in codes:
            self.graphql_errors.labels(code=code).inc()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class RequestObserver:
    """Gives each request an id (X-Request-ID) and records its count and latency."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, routes: Iterable[str], new_id: object) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = frozenset(routes)
        self.new_id = new_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self.new_id()  # type: ignore[operator]
        scope.setdefault("state", {})["request_id"] = request_id
        route = scope["path"] if scope["path"] in self.routes else "other"
        method = scope["method"]
        status = 500
        started = time.perf_counter()

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            self.metrics.requests.labels(route=route, method=method, status=str(status)).inc()
            self.metrics.latency.labels(route=route, method=method).observe(time.perf_counter() - started)
