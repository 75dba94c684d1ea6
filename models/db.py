"""Engine, sessions and the one unit of work per request or job.

Transient database failures (SPEC §7): a lost connection, a serialization failure,
a deadlock or a server restarting are `is_transient`; `retried()` runs a whole
unit of work again, a few times with jitter, when one ends that way before its
commit. A connection lost during COMMIT itself leaves the outcome open: on
PostgreSQL the unit of work then asks the server what became of its transaction
(`txid_status`) and either carries on (committed) or fails retry-safe (aborted);
only if even that cannot be told does a writer raise CommitOutcomeUnknown, which is
never retried.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

import tenacity
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from models.settings import Settings, get_settings

T = TypeVar("T")

log = logging.getLogger(__name__)

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
        # The server notices a client that vanished without closing (a power cut, a
        # partition) in about 25 s and rolls its transaction back, freeing the jobs it held.
        connect_args={
            "options": "-c statement_timeout=120000 -c tcp_keepalives_idle=10"
            " -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"
        },
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


# Where a statement that returned the transaction's id on the way (accounting.audit.record)
# leaves it in session.info, sparing the unit of work its own SELECT before COMMIT.
TRANSACTION_ID = "blocktime.transaction_id"


def _transaction_id(connection: Connection) -> int | None:
    """PostgreSQL's id of this transaction, if it wrote anything (else nothing to lose)."""
    value = connection.execute(text("SELECT txid_current_if_assigned()")).scalar()
    return None if value is None else int(value)


def _commit_outcome(engine: Engine, xid: int | None) -> str:
    """ "committed", "aborted" or "unknown": what became of a transaction whose COMMIT broke."""
    if engine.dialect.name != "postgresql":
        return "unknown"
    if xid is None:
        return "aborted"  # it wrote nothing: as good as rolled back
    for _ in range(10):
        try:
            with engine.connect() as conn:
                status = conn.execute(text("SELECT txid_status(:xid)"), {"xid": xid}).scalar()
        except DBAPIError:
            return "unknown"
        if status in ("committed", "aborted"):
            return str(status)
        time.sleep(0.1)  # "in progress": the server is still tearing the session down
    return "unknown"


class CommitOutcomeUnknown(Exception):
    """The connection was lost during COMMIT: the change may or may not have been made."""


# PostgreSQL SQLSTATEs a new transaction may not meet: serialization failure, deadlock,
# the server shutting down, crashed or starting, too many connections.
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03", "53300"})


_CONNECTION_FAILURES = ("connection", "could not connect", "server closed", "database is locked")


def is_transient(exc: BaseException) -> bool:
    """A database failure that may heal: lost connection, serialization failure, deadlock,
    a server restarting, no connection free in the pool, SQLite's lock timeout."""
    if isinstance(exc, CommitOutcomeUnknown | PoolTimeoutError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in _TRANSIENT_SQLSTATES or sqlstate.startswith("08")  # 08: connection exception
    # No SQLSTATE: the driver's own connection failures (refused, closed), SQLite's lock timeout.
    message = str(exc.orig).lower()
    return isinstance(exc, OperationalError | InterfaceError) and any(
        sign in message for sign in _CONNECTION_FAILURES
    )


def retry_safe(exc: BaseException) -> bool:
    """Transient, and no change can have been committed: another attempt is safe."""
    return is_transient(exc) and not isinstance(exc, CommitOutcomeUnknown)


# A whole unit of work is tried at most this often, within this many seconds.
RETRY_ATTEMPTS = 4
RETRY_BUDGET_SECONDS = 5.0


def retrying(
    should_retry: Callable[[tenacity.RetryCallState], bool] | None = None,
    *,
    attempts: int = RETRY_ATTEMPTS,
    budget: float = RETRY_BUDGET_SECONDS,
    done: int = 0,
) -> tenacity.Retrying:
    """Attempts of one unit of work: full jitter from 50 ms, at most RETRY_ATTEMPTS in
    RETRY_BUDGET_SECONDS; retried on a retry-safe exception (or when `should_retry` says so).
    `done` attempts already made (by `retried`) count against both limits and the jitter."""
    retry: tenacity.retry_base = tenacity.retry_if_exception(retry_safe)
    if should_retry is not None:
        retry = retry | _RetryIf(should_retry)
    return tenacity.Retrying(
        retry=retry,
        stop=tenacity.stop_after_attempt(attempts - done) | tenacity.stop_after_delay(budget),
        wait=tenacity.wait_random_exponential(multiplier=0.05 * 2**done, max=1.0),
        before_sleep=partial(_log_retry, done=done),
        reraise=True,
        retry_error_callback=None if should_retry is None else _last_result,
    )


def retried(attempt: Callable[[], T], *, again: Callable[[], bool] | None = None) -> T:
    """`attempt()`, run again as `retrying` says after a retry-safe failure or when `again()`
    says so of its result; the same attempts, budget and jitter.

    The first attempt, nearly every request's only one, runs without tenacity's per-call
    bookkeeping (5% of a balance check's Python calls, issue 15); only a failed one hands
    the rest over to tenacity, after the jitter tenacity itself would have waited.
    """
    started = time.monotonic()
    try:
        result = attempt()
    except Exception as exc:
        if not retry_safe(exc) or time.monotonic() - started >= RETRY_BUDGET_SECONDS:
            raise
        cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    else:
        if again is None or not again() or time.monotonic() - started >= RETRY_BUDGET_SECONDS:
            return result
        cause = "a transient database error"
    pause = random.uniform(0, 0.05)  # noqa: S311 - jitter, not a secret: wait_random_exponential's first wait
    log.warning("Transient database failure (%s); attempt 2 of %d in %.2f s.", cause, RETRY_ATTEMPTS, pause)
    time.sleep(pause)
    remaining = RETRY_BUDGET_SECONDS - (time.monotonic() - started)
    should_retry = None if again is None else (lambda _state: again())
    rest: T = retrying(should_retry, budget=remaining, done=1)(attempt)
    return rest


class _RetryIf(tenacity.retry_base):
    def __init__(self, predicate: Callable[[tenacity.RetryCallState], bool]) -> None:
        self.predicate = predicate

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        outcome = retry_state.outcome
        return outcome is not None and not outcome.failed and self.predicate(retry_state)


def _last_result(retry_state: tenacity.RetryCallState) -> Any:
    if retry_state.outcome is None:
        raise RuntimeError("tenacity stopped before any attempt")
    return retry_state.outcome.result()


def _log_retry(retry_state: tenacity.RetryCallState, *, done: int = 0) -> None:
    outcome = retry_state.outcome
    cause = outcome.exception() if outcome is not None and outcome.failed else "a transient database error"
    log.warning(
        "Transient database failure (%s); attempt %d of %d in %.2f s.",
        str(cause).splitlines()[0] if cause else cause,
        done + retry_state.attempt_number + 1,
        RETRY_ATTEMPTS,
        retry_state.upcoming_sleep,
    )


@contextmanager
def unit_of_work(engine: Engine | None = None, *, writer: bool = True) -> Iterator[Session]:
    """Commit on success, roll back on any exception, then release enqueued jobs.

    The only place in the code base that commits. Pending changes are flushed
    before COMMIT, so that only a failure of COMMIT itself leaves the outcome open;
    PostgreSQL is then asked (txid_status), and only if it cannot tell does a
    writer raise CommitOutcomeUnknown.
    """
    engine = engine or get_engine()
    session = session_factory(engine, writer=writer)()
    try:
        try:
            yield session
            session.flush()
            xid = session.info.get(TRANSACTION_ID)
            if xid is None and writer and engine.dialect.name == "postgresql" and session.in_transaction():
                xid = _transaction_id(session.connection())
        except BaseException:
            session.rollback()
            raise
        try:
            session.commit()
        except DBAPIError as exc:
            # The server's own error (57P01 terminating, 40001 ...) means COMMIT was refused;
            # a connection that just broke (no SQLSTATE) may have committed first.
            if writer and exc.connection_invalidated and getattr(exc.orig, "sqlstate", None) is None:
                session.close()  # detaches what was loaded without expiring it: it may be the result
                outcome = _commit_outcome(engine, xid)
                if outcome == "committed":
                    log.warning("The connection broke during COMMIT; the server says it committed.")
                elif outcome != "aborted":
                    raise CommitOutcomeUnknown(str(exc).splitlines()[0]) from exc
                else:
                    raise
            else:
                session.rollback()
                raise
        except BaseException:
            session.rollback()
            raise
    finally:
        enqueued = session.info.pop("jobs_enqueued", False)
        session.close()
    if enqueued:
        for listener in list(after_commit_listeners):
            listener()
