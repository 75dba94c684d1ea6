"""Transient database failures (SPEC §7): retried where safe, else SERVICE_UNAVAILABLE.

The database here is really unreachable (a PostgreSQL URL on a port where nothing
listens), or really deadlocked (two transactions on PostgreSQL).
"""

from __future__ import annotations

import threading

import httpx
import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError

from accounting import audit
from accounting.access import SYSTEM
from api.app import create_app
from api.errors import UNAVAILABLE_MESSAGE
from models.db import (
    RETRY_ATTEMPTS,
    TRANSACTION_ID,
    is_transient,
    make_engine,
    retried,
    retrying,
    unit_of_work,
)
from models.db import _commit_outcome as commit_outcome
from models.settings import Settings
from tests.conftest import backend_url
from tests.processes import free_port


@pytest.fixture
def unreachable(settings: Settings) -> Settings:
    nobody_listens = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone"
    return settings.model_copy(update={"database_url": nobody_listens, "redis_url": None})


class TestTheDatabaseUnreachable:
    async def test_a_request_that_cannot_check_its_token_gets_503_and_retry_after(
        self, unreachable: Settings
    ) -> None:
        app = create_app(unreachable)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            response = await http.post(
                "/graphql", json={"query": "{ me { role } }"}, headers={"Authorization": "Bearer bt_whatever"}
            )

        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert error["message"] == UNAVAILABLE_MESSAGE
        assert "gone" not in response.text and "127.0.0.1" not in response.text

    async def test_the_metrics_probe_says_so_too(self, unreachable: Settings) -> None:
        app = create_app(unreachable)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            response = await http.get("/metrics", headers={"Authorization": "Bearer bt_whatever"})

        assert (response.status_code, response.headers["Retry-After"]) == (503, "1")
        assert response.json()["code"] == "SERVICE_UNAVAILABLE"


BUMP = text("UPDATE counter SET value = value + 1 WHERE name = :n")


@pytest.mark.postgres
class TestADeadlock:
    def test_the_transaction_postgresql_aborts_is_run_again(self, db: Engine) -> None:
        if backend_url() is None:
            pytest.skip("deadlock detection is PostgreSQL's")
        engine = make_engine(db.url.render_as_string(hide_password=False), pool_size=2)
        with unit_of_work(engine) as session:
            session.execute(text("INSERT INTO counter (name, value) VALUES ('dl-a', 0), ('dl-b', 0)"))
        both_locked_one = threading.Barrier(2)
        attempts: list[str] = []
        failures: list[BaseException] = []

        def bump(first: str, second: str) -> None:
            def once() -> None:
                attempts.append(first)
                with unit_of_work(engine) as session:
                    session.execute(BUMP, {"n": first})
                    if len(attempts) <= 2:
                        both_locked_one.wait(5)
                    session.execute(BUMP, {"n": second})

            try:
                retrying()(once)
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        threads = [threading.Thread(target=bump, args=pair) for pair in (("dl-a", "dl-b"), ("dl-b", "dl-a"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        with engine.connect() as conn:
            values = dict(conn.execute(text("SELECT name, value FROM counter WHERE name LIKE 'dl-%'")).all())
        engine.dispose()

        assert failures == []
        assert len(attempts) == 3  # one of the two was chosen as the deadlock victim and ran again
        assert values == {"dl-a": 2, "dl-b": 2}  # each transaction counted once


def test_what_counts_as_transient() -> None:
    from sqlalchemy.exc import IntegrityError, OperationalError

    class Orig(Exception):
        def __init__(self, message: str, sqlstate: str | None) -> None:
            super().__init__(message)
            self.sqlstate = sqlstate

    def error(kind: type[Exception], message: str, sqlstate: str | None = None) -> BaseException:
        return kind("SELECT 1", {}, Orig(message, sqlstate))  # type: ignore[call-arg]

    assert is_transient(error(OperationalError, "could not serialize access", "40001"))
    assert is_transient(error(OperationalError, "deadlock detected", "40P01"))
    assert is_transient(error(OperationalError, "terminating connection (administrator command)", "57P01"))
    assert is_transient(error(OperationalError, "connection failed: Connection refused"))
    assert is_transient(error(OperationalError, "database is locked"))
    assert not is_transient(error(OperationalError, "disk I/O error"))
    assert not is_transient(error(OperationalError, "canceling statement due to statement timeout", "57014"))
    assert not is_transient(error(IntegrityError, "duplicate key", "23505"))
    assert not is_transient(ValueError("no"))


def _lost_connection() -> Exception:
    from sqlalchemy.exc import OperationalError

    return OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))


class TestRetried:
    """`retried` runs the first attempt bare and hands a failed one to tenacity: same limits."""

    def test_a_first_attempt_that_succeeds_runs_once(self) -> None:
        calls: list[int] = []

        assert retried(lambda: calls.append(1) or "done") == "done"
        assert calls == [1]

    def test_a_transient_failure_is_run_again_until_it_succeeds(self) -> None:
        calls: list[int] = []

        def attempt() -> str:
            calls.append(1)
            if len(calls) < 3:
                raise _lost_connection()
            return "done"

        assert retried(attempt) == "done"
        assert len(calls) == 3

    def test_it_stops_after_retry_attempts_in_all_and_raises_the_last_failure(self) -> None:
        calls: list[int] = []

        def attempt() -> str:
            calls.append(1)
            raise _lost_connection()

        with pytest.raises(OperationalError):
            retried(attempt)
        assert len(calls) == RETRY_ATTEMPTS

    def test_any_other_failure_is_raised_at_once(self) -> None:
        calls: list[int] = []

        def attempt() -> str:
            calls.append(1)
            raise ValueError("a bug, not the database")

        with pytest.raises(ValueError, match="a bug"):
            retried(attempt)
        assert calls == [1]

    def test_a_result_that_asks_again_is_run_again_and_the_last_one_returned(self) -> None:
        results = iter(["rolled back", "rolled back", "rolled back", "rolled back", "never reached"])
        seen: list[str] = []

        def attempt() -> str:
            seen.append(next(results))
            return seen[-1]

        assert retried(attempt, again=lambda: seen[-1] == "rolled back") == "rolled back"
        assert len(seen) == RETRY_ATTEMPTS


@pytest.mark.postgres
class TestTheCommitsOutcome:
    """A COMMIT whose connection breaks is looked up by the transaction's id (txid_status);
    an audited change learns the id from its audit row's INSERT, with no statement of its own."""

    def test_an_audited_change_knows_its_transaction_without_asking(self, db: Engine) -> None:
        if backend_url() is None:
            pytest.skip("transaction ids are PostgreSQL's")
        asked: list[str] = []

        def before(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
            if "txid_current_if_assigned" in statement:
                asked.append(statement)

        event.listen(db, "before_cursor_execute", before)
        try:
            with unit_of_work(db) as session:
                audit.record(session, SYSTEM, action="test", object_type="Nothing", object_id=1)
                known = session.info[TRANSACTION_ID]
                actual = session.execute(text("SELECT txid_current()")).scalar_one()
            with unit_of_work(db) as session:
                session.execute(text("UPDATE counter SET value = value + 1 WHERE name = 'none'"))
        finally:
            event.remove(db, "before_cursor_execute", before)

        assert known == actual
        assert len(asked) == 1  # only the unaudited change asked for its id
        assert commit_outcome(db, known) == "committed"
