"""The Starlette application: /graphql (GraphiQL on GET), /portal, /healthz, /readyz, /metrics.

`create_app(settings, background=...)` is the factory. `background(settings)` is a
context manager entered for the app's lifetime: the composition root (api/cli.py)
passes the workers' in-process runtime through it, because api/ never imports
workers/. Without an argument, the `BLOCKTIME_BACKGROUND` environment variable may
name one as "module:attribute"; `uvicorn --factory api.app:create_app` then works
unchanged.
"""

from __future__ import annotations

import importlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, ExitStack, asynccontextmanager
from typing import Any

import anyio.to_thread
from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from accounting import access
from accounting.errors import Forbidden, Unauthenticated
from api import pages, revocations
from api.auth import WWW_AUTHENTICATE, authenticate, bearer_token
from api.cors import cors_middleware
from api.errors import RETRY_AFTER_SECONDS, SERVICE_UNAVAILABLE
from api.metrics import Metrics, RequestObserver
from api.schema import schema
from api.security import SecurityHeaders
from api.view import GraphQLView
from models.db import get_engine, is_transient
from models.settings import Settings, get_settings

log = logging.getLogger("blocktime.api")

Background = Callable[[Settings], AbstractContextManager[Any]]
BACKGROUND_ENV = "BLOCKTIME_BACKGROUND"
ROUTES = ("/graphql", "/portal", "/healthz", "/readyz", "/metrics")
OPERATOR_PROBES = "metrics and readiness"


def create_app(settings: Settings | None = None, *, background: Background | None = None) -> Starlette:
    settings = settings or get_settings()
    engine = get_engine(settings)
    metrics = Metrics()
    background = background or _background_from_environment()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        with ExitStack() as stack:
            stack.enter_context(revocations.listening(engine))
            if background is not None:
                stack.enter_context(background(settings))
            yield

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        return await _ready(request, settings, engine)

    async def metrics_endpoint(request: Request) -> Response:
        refused = await _refuse_unless_operator(request, engine)
        if refused is not None:
            return refused
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    view = GraphQLView(schema, settings=settings, engine=engine, metrics=metrics)
    app = Starlette(
        routes=[
            Route("/graphql", view),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/portal", pages.portal, methods=["GET"]),
            Route(pages.GRAPHIQL_SCRIPT_URL, pages.graphiql_script, methods=["GET"]),
            Route(pages.GRAPHIQL_STYLE_URL, pages.graphiql_style, methods=["GET"]),
            Mount(pages.ASSETS_URL, pages.Assets(directory=pages.ASSETS), name="assets"),
        ],
        middleware=[
            Middleware(SecurityHeaders),
            *cors_middleware(settings.allowed_origins),
            Middleware(RequestObserver, metrics=metrics, routes=ROUTES, new_id=lambda: uuid.uuid4().hex),
        ],
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.metrics = metrics
    return app


def _background_from_environment() -> Background | None:
    target = os.environ.get(BACKGROUND_ENV)
    if not target:
        return None
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]


async def _refuse_unless_operator(request: Request, engine: Engine) -> Response | None:
    """/metrics and /readyz are for operators (SPEC §6): an ADMIN token, as the permission table says."""
    try:
        principal = await anyio.to_thread.run_sync(authenticate, engine, bearer_token(request))
        access.may_use(principal, OPERATOR_PROBES)
    except Unauthenticated as exc:
        return JSONResponse(
            {"error": exc.message, "code": "UNAUTHENTICATED"}, status_code=401, headers=WWW_AUTHENTICATE
        )
    except Forbidden as exc:
        return JSONResponse({"error": exc.message, "code": "FORBIDDEN"}, status_code=403)
    except Exception as exc:
        if not is_transient(exc):
            raise
        log.warning("token check unavailable: %s", str(exc).splitlines()[0])
        return JSONResponse(
            {"error": "The database is unavailable for a moment; retry.", "code": SERVICE_UNAVAILABLE},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return None


def _ping_database(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _ping_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


async def _ready(request: Request, settings: Settings, engine: Engine) -> Response:
    """200 when the database (and the broker, with REDIS_URL) answer; 503 naming what does not."""
    checks: dict[str, str] = {}
    try:
        await anyio.to_thread.run_sync(_ping_database, engine)
        checks["database"] = "ok"
    except Exception:
        log.warning("readiness: database unreachable", exc_info=True)
        checks["database"] = "unreachable"
    else:
        refused = await _refuse_unless_operator(request, engine)
        if refused is not None:
            return refused
    if settings.redis_url:
        try:
            await anyio.to_thread.run_sync(_ping_redis, settings.redis_url)
            checks["broker"] = "ok"
        except Exception:
            log.warning("readiness: broker unreachable", exc_info=True)
            checks["broker"] = "unreachable"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
    )
