"""Test database: built once per run by Alembic, emptied before each test.

`make test` runs the suite twice: on SQLite (DATABASE_URL unset, in-process
worker), then on PostgreSQL + Redis (DATABASE_URL/REDIS_URL set). Tests that need
a server it cannot reach are skipped with the reason, or fail under CI=true.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.orm import Session

from accounting import access
from models import Base
from models.db import dispose_engines, make_engine, session_factory
from models.settings import Settings

PG_DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_DEFAULT_URL = "redis://127.0.0.1:6379/0"
ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def backend_url() -> str | None:
    url = os.environ.get("DATABASE_URL")
    return url if url and not url.startswith("sqlite") else None


def server_unreachable(reason: str) -> None:
    """Skip for a developer without the server; fail on CI, where it must be there."""
    if ON_CI:
        pytest.fail(f"{reason} (CI=true requires it)")
    pytest.skip(reason)


def postgres_url() -> str:
    """A reachable PostgreSQL URL for tests that need one whatever the backend run."""
    url = backend_url() or os.environ.get("BLOCKTIME_TEST_PG_URL", PG_DEFAULT_URL)
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means unreachable here
        server_unreachable(f"PostgreSQL at {url} is unreachable: {type(exc).__name__}")
    finally:
        engine.dispose()
    return url


def redis_url() -> str:
    url = os.environ.get("REDIS_URL") or REDIS_DEFAULT_URL
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        server_unreachable(f"Redis at {url} is unreachable: {type(exc).__name__}")
    return url


@contextmanager
def throwaway_postgres_database(server_url: str, prefix: str = "blocktime_tmp") -> Iterator[str]:
    """CREATE DATABASE <prefix>_<random>, yield its URL, DROP it afterwards."""
    from sqlalchemy.pool import NullPool

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@contextmanager
def postgres_engine(run_engine: Engine, prefix: str) -> Iterator[Engine]:
    """The run's PostgreSQL database, emptied; on the SQLite pass a throwaway migrated one.

    For what only PostgreSQL's row locks can show, whichever pass runs the test.
    """
    if run_engine.dialect.name == "postgresql":
        reset_database(run_engine)
        yield run_engine
        return
    with throwaway_postgres_database(postgres_url(), prefix) as url:
        other = make_engine(url)
        migrate(other)
        try:
            yield other
        finally:
            other.dispose()


def migrate(engine: Engine) -> None:
    from migrations.runner import upgrade

    upgrade(engine)


def reset_database(engine: Engine) -> None:
    """Empty every table, children first, so each test starts from nothing.

    DELETE, not TRUNCATE: on tables this small it takes milliseconds where
    PostgreSQL's TRUNCATE of every table takes half a second.
    """
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        for name in tables:
            conn.exec_driver_sql(f"DELETE FROM {name}")
    access.PRINCIPALS.forget()  # tokens deleted, not revoked: a running server must not keep them


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    url = backend_url()
    if url is None:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'blocktime.db'}"
    else:
        postgres_url()
    return Settings(DATABASE_URL=url, REDIS_URL=os.environ.get("REDIS_URL") or None, BLOCKTIME_ENV="test")


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    from models.db import get_engine

    eng = get_engine(settings)
    if eng.dialect.name == "postgresql":
        with eng.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    migrate(eng)
    yield eng
    dispose_engines()


@pytest.fixture
def db(engine: Engine) -> Engine:
    reset_database(engine)
    return engine


@pytest.fixture
def session(db: Engine) -> Iterator[Session]:
    s = session_factory(db)()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


# Figures a test measured (the fuzz run's case count, say), shown at the end of the run
# even when output is captured, as under `make test` and in CI's log.
FIGURES: list[str] = []


def report_figure(line: str) -> None:
    FIGURES.append(line)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("measured by the tests")
        for line in FIGURES:
            terminalreporter.write_line(line)


def pytest_report_header(config: pytest.Config) -> str:
    url = backend_url()
    database = f"postgresql {url}" if url else "sqlite (temporary file)"
    return f"blocktime backend: {database}; redis: {os.environ.get('REDIS_URL') or 'in-process broker'}"


ROOT = Path(__file__).resolve().parent.parent
