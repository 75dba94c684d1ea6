"""An app per test on the suite's database (emptied before each test), and its clients."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette

from api.app import create_app
from models.enums import Role
from models.settings import Settings
from tests.api.helpers import Client, create_token


@pytest.fixture
def app(settings: Settings, db: Engine) -> Starlette:
    return create_app(settings)


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://blocktime.test"
    ) as client:
        yield client


@pytest.fixture
def admin(http: httpx.AsyncClient, db: Engine) -> Client:
    return Client(http, create_token(db, Role.ADMIN, name="alice-admin"))


@pytest.fixture
def anonymous(http: httpx.AsyncClient) -> Client:
    return Client(http, None)
