"""Engine, sessions and the one unit of work per request or job."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from models.settings import Settings, get_settings

# Called after every successful commit that enqueued jobs (the outbox relay's nudge).
after_commit_listeners: list[Callable[[], None]] = []

_lock = threading.Lock()
_engines: dict[str, Engine] = {}


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"options": "-c statement_timeout=120000"},
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite's legacy mode: we emit BEGIN ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # SQLite has no row locks and ignores FOR UPDATE: writers take the database
        # write lock up front so draw-downs serialise; readers get a snapshot.
        if conn.get_execution_options().get("sqlite_writer", False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def get_engine(settings: Settings | None = None) -> Engine:
    settings = settings or get_settings()
    with _lock:
        engine = _engines.get(settings.database_url)
        if engine is None:
            engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
            _engines[settings.database_url] = engine
        return engine


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


# One factory per (engine, writer), built once: sessionmaker makes a Session subclass, and
# a new class per unit of work set up SQLAlchemy's event dispatch again for each one
# (about a tenth of a balance check's time in bench B1's profile).
_factories: weakref.WeakKeyDictionary[Engine, dict[bool, sessionmaker[Session]]] = weakref.WeakKeyDictionary()


def session_factory(engine: Engine, *, writer: bool = True) -> sessionmaker[Session]:
    with _lock:
        per_engine = _factories.setdefault(engine, {})
        factory = per_engine.get(writer)
        if factory is None:
            bind = engine.execution_options(sqlite_writer=True) if writer else engine
            factory = per_engine[writer] = sessionmaker(bind=bind, expire_on_commit=False, autoflush=True)
        return factory


@contextmanager
def unit_of_work(engine: Engine | None = None, *, writer: bool = True) -> Iterator[Session]:
    """Commit on success, roll back on any exception, then release enqueued jobs.

    The only place in the code base that commits.
    """
    session = session_factory(engine or get_engine(), writer=writer)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        enqueued = session.info.pop("jobs_enqueued", False)
        session.close()
    if enqueued:
        for listener in list(after_commit_listeners):
            listener()
