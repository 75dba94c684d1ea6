"""Operations run in worker threads: slow ones never stall the event loop or each other."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from api.app import create_app
from api.read import catalog as read
from models.enums import Role
from models.settings import Settings
from tests.api.helpers import Client, create_token

SLOW_SECONDS = 0.5


@pytest.fixture
def slow_companies(monkeypatch: pytest.MonkeyPatch) -> None:
    """The `companies` query takes SLOW_SECONDS of blocking work (a slow database, say)."""
    original: Callable[..., Any] = read.companies

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(SLOW_SECONDS)
        return original(*args, **kwargs)

    monkeypatch.setattr(read, "companies", slow)


@asynccontextmanager
async def admin_of(settings: Settings, db: Engine, update: dict[str, Any]) -> AsyncIterator[Client]:
    """An ADMIN client of an app built with these settings changed."""
    app = create_app(settings.model_copy(update=update))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        yield Client(http, create_token(db, Role.ADMIN))


async def timed(client: Client, requests: int) -> float:
    started = time.perf_counter()
    results = await asyncio.gather(*(client.data("{ companies { id } }") for _ in range(requests)))
    assert all(result == {"companies": []} for result in results)
    return time.perf_counter() - started


@pytest.mark.usefixtures("slow_companies")
class TestConcurrency:
    async def test_eight_slow_requests_take_about_as_long_as_one(
        self, settings: Settings, db: Engine
    ) -> None:
        # Blocking operations (a slow database) run side by side up to API_CONCURRENCY.
        async with admin_of(settings, db, {"api_concurrency": 8, "db_pool_size": 10}) as admin:
            one = await timed(admin, 1)
            eight = await timed(admin, 8)

        print(f"\n1 request: {one:.2f}s, 8 concurrent requests: {eight:.2f}s")  # noqa: T201
        assert one >= SLOW_SECONDS
        assert eight < one + SLOW_SECONDS  # serialised they would take 8 x

    async def test_the_event_loop_answers_while_operations_block(self, admin: Client) -> None:
        slow = asyncio.gather(*(admin.data("{ companies { id } }") for _ in range(4)))
        await asyncio.sleep(0.05)
        started = time.perf_counter()

        health = await admin.http.get("/healthz")

        assert health.status_code == 200
        assert time.perf_counter() - started < SLOW_SECONDS / 2
        await slow

    async def test_api_concurrency_bounds_the_operations_run_at_once(
        self, settings: Settings, db: Engine
    ) -> None:
        async with admin_of(settings, db, {"api_concurrency": 1, "db_pool_size": 10}) as client:
            three = await timed(client, 3)

        assert three >= 3 * SLOW_SECONDS  # one at a time

    def test_by_default_as_many_operations_as_cores_plus_one_never_more_than_the_pool(
        self, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("os.cpu_count", lambda: 2)
        unset = settings.model_copy(update={"api_concurrency": None, "db_pool_size": 10})
        assert unset.operations_at_once() == 3
        assert unset.model_copy(update={"db_pool_size": 2}).operations_at_once() == 2
        assert unset.model_copy(update={"api_concurrency": 8}).operations_at_once() == 8
        assert unset.model_copy(update={"api_concurrency": 20}).operations_at_once() == 10

    async def test_no_more_operations_run_at_once_than_the_pool_has_connections(
        self, settings: Settings, db: Engine
    ) -> None:
        async with admin_of(settings, db, {"db_pool_size": 2}) as client:
            four = await timed(client, 4)

        assert four >= 2 * SLOW_SECONDS  # two at a time
