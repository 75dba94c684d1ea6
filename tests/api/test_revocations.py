"""Tokens kept between requests, and every revocation heard at once (issue 15).

The cache's rules are checked directly; what a client sees (a kept token costs no statement,
a revocation made here, in another process, or while the listener was away refuses the
token from the next request on) through HTTP, on PostgreSQL, the one backend that can say
when a token is revoked elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event, text

from accounting import access
from accounting.access import Principal, PrincipalCache
from api.app import create_app
from models.enums import Role
from models.settings import Settings
from tests.api.helpers import Client, create_token
from tests.conftest import backend_url, report_figure
from tests.processes import run_blocktime

Watch = Callable[[Engine], list[str]]
ALICE = Principal(token_id=1, name="alice", role=Role.ADMIN)
BOB = Principal(token_id=2, name="bob", role=Role.CUSTOMER, company_id=7)


def listening_cache(**options: Any) -> PrincipalCache:
    cache = PrincipalCache(**options)
    cache.listening()
    return cache


class TestPrincipalCache:
    def test_keeps_nothing_while_no_listener_hears_revocations(self) -> None:
        cache = PrincipalCache()

        cache.keep("a", ALICE, cache.generation)

        assert (cache.get("a"), len(cache)) == (None, 0)

    def test_keeps_what_was_read_while_listening_until_the_token_is_forgotten(self) -> None:
        cache = listening_cache()
        cache.keep("a", ALICE, cache.generation)
        cache.keep("b", BOB, cache.generation)

        assert (cache.get("a"), cache.get("b")) == (ALICE, BOB)
        cache.forget(BOB.token_id)
        assert (cache.get("a"), cache.get("b")) == (ALICE, None)

    def test_a_lookup_begun_before_a_revocation_is_not_kept(self) -> None:
        cache = listening_cache()
        began = cache.generation  # the lookup reads the token row ...
        cache.forget(ALICE.token_id)  # ... while the revocation commits

        cache.keep("a", ALICE, began)

        assert cache.get("a") is None

    def test_forgets_everything_when_the_listener_goes_deaf(self) -> None:
        cache = listening_cache()
        cache.keep("a", ALICE, cache.generation)

        cache.deaf()
        cache.keep("b", BOB, cache.generation)

        assert (cache.get("a"), cache.get("b"), len(cache)) == (None, None, 0)

    def test_holds_at_most_its_capacity_the_oldest_going_first(self) -> None:
        cache = listening_cache(capacity=2)
        for token_hash, token_id in (("a", 1), ("b", 2), ("c", 3)):
            cache.keep(
                token_hash, Principal(token_id=token_id, name=token_hash, role=Role.ADMIN), cache.generation
            )

        assert [cache.get(h) is not None for h in ("a", "b", "c")] == [False, True, True]

    def test_an_entry_older_than_its_max_age_is_read_again(self) -> None:
        cache = listening_cache(max_age=-1.0)
        cache.keep("a", ALICE, cache.generation)

        assert cache.get("a") is None


@pytest.fixture
def token_lookups() -> Iterator[Callable[[Engine], list[str]]]:
    """watch(engine): the statements that read a token from then on (until the test ends)."""
    watched: list[tuple[Engine, Callable[..., None]]] = []

    def watch(engine: Engine) -> list[str]:
        seen: list[str] = []

        def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if "FROM api_token" in statement and "token_hash" in statement:
                seen.append(statement)

        event.listen(engine, "before_cursor_execute", before)
        watched.append((engine, before))
        return seen

    yield watch
    for engine, before in watched:
        event.remove(engine, "before_cursor_execute", before)


def eventually(condition: Callable[[], bool], *, within: float = 5.0) -> float:
    """Seconds until `condition` held (AssertionError if it did not within `within`)."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > within:
            raise AssertionError(f"not within {within} s")
        time.sleep(0.01)
    return time.monotonic() - start


@pytest.fixture
def postgres(db: Engine) -> Engine:
    if backend_url() is None:
        pytest.skip(
            "only PostgreSQL tells a server of a revocation made elsewhere (SQLite reads every token)"
        )
    return db


@pytest.fixture
async def served(settings: Settings, postgres: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running (as `blocktime serve` runs it): the listener is up."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        eventually(lambda: access.PRINCIPALS.listeners == 1)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            yield http


async def used_and_kept(served: httpx.AsyncClient, engine: Engine, name: str) -> Client:
    """A new TECHNICIAN token's client, used once: the serving process now keeps the token."""
    client = Client(served, create_token(engine, Role.TECHNICIAN, name=name))
    assert (await client.data("{ me { name } }"))["me"]["name"] == name
    assert len(access.PRINCIPALS) == 1
    return client


class TestTokensKept:
    async def test_a_token_is_read_once_then_kept(
        self, served: httpx.AsyncClient, postgres: Engine, token_lookups: Watch
    ) -> None:
        me = Client(served, create_token(postgres, Role.TECHNICIAN, name="tess"))
        seen = token_lookups(postgres)

        names = [(await me.data("{ me { name } }"))["me"]["name"] for _ in range(3)]

        assert names == ["tess"] * 3
        assert len(seen) == 1

    async def test_without_the_lifespan_every_request_reads_its_token(
        self, admin: Client, postgres: Engine, token_lookups: Watch
    ) -> None:
        seen = token_lookups(postgres)

        for _ in range(2):
            await admin.data("{ me { name } }")

        assert len(seen) == 2

    async def test_revoked_through_the_api_refused_on_the_very_next_request(
        self, served: httpx.AsyncClient, postgres: Engine
    ) -> None:
        admin = Client(served, create_token(postgres, Role.ADMIN, name="alice"))
        leaked = admin.as_(create_token(postgres, Role.TECHNICIAN, name="leaked"))
        assert (await leaked.data("{ me { name } }"))["me"]["name"] == "leaked"
        (token,) = [
            t for t in (await admin.data("{ apiTokens { id name } }"))["apiTokens"] if t["name"] == "leaked"
        ]

        await admin.data("mutation($id: ID!) { revokeApiToken(id: $id) { id } }", id=token["id"])
        response = await leaked.post("{ me { name } }")

        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert (await admin.data("{ me { name } }"))["me"]["name"] == "alice"  # the others are kept

    async def test_revoked_by_another_process_heard_at_once(
        self, served: httpx.AsyncClient, postgres: Engine, settings: Settings, tmp_path: Path
    ) -> None:
        leaked = await used_and_kept(served, postgres, "leaked")
        with postgres.connect() as conn:
            token_id = conn.execute(text("SELECT id FROM api_token WHERE name = 'leaked'")).scalar_one()
        assert access.PRINCIPALS.holds(token_id)

        result = run_blocktime(
            "token", "revoke", str(token_id), cwd=tmp_path, DATABASE_URL=settings.database_url
        )
        assert result.returncode == 0, result.stderr
        heard = eventually(lambda: not access.PRINCIPALS.holds(token_id), within=1.0)

        assert (await leaked.post("{ me { name } }")).status_code == 401
        report_figure(f"token revoked by another process: heard {1000 * heard:.1f} ms after the CLI exited")

    @pytest.mark.parametrize(
        "change",
        [
            "UPDATE api_token SET revoked_at = now() WHERE name = 'leaked'",
            "DELETE FROM api_token WHERE name = 'leaked'",
            "TRUNCATE api_token CASCADE",
        ],
    )
    async def test_changed_by_an_operators_sql_heard_at_once(
        self, served: httpx.AsyncClient, postgres: Engine, change: str
    ) -> None:
        leaked = await used_and_kept(served, postgres, "leaked")

        with postgres.begin() as conn:
            conn.execute(text(change))
        eventually(lambda: len(access.PRINCIPALS) == 0, within=1.0)

        assert (await leaked.post("{ me { name } }")).status_code == 401

    async def test_a_lost_listener_keeps_nothing_until_it_listens_again(
        self, served: httpx.AsyncClient, postgres: Engine, token_lookups: Watch
    ) -> None:
        me = await used_and_kept(served, postgres, "tess")

        with postgres.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query = :listen AND pid <> pg_backend_pid()"
                ),
                {"listen": f"LISTEN {access.REVOCATIONS_CHANNEL}"},
            ).all()
        assert killed == [(True,)]
        eventually(lambda: access.PRINCIPALS.listeners == 0 or len(access.PRINCIPALS) == 0)
        assert len(access.PRINCIPALS) == 0

        eventually(lambda: access.PRINCIPALS.listeners == 1)
        seen = token_lookups(postgres)
        await me.data("{ me { name } }")
        await me.data("{ me { name } }")
        assert len(seen) == 1  # read again once, then kept again
