"""Hearing of token revocations at once, so that a serving process may keep tokens it has seen.

`accounting.access.PRINCIPALS` keeps the principals of valid tokens only while a listener
here is connected: on PostgreSQL a thread LISTENs on `access.REVOCATIONS_CHANNEL` over a
connection of its own, and forgets a token the moment the NOTIFY of a change to its row
arrives (a trigger sends it at the COMMIT that revokes or deletes it, whoever does so,
to every listening process: migration 0018). When the connection
is lost the cache forgets everything and keeps nothing until the thread listens again
(retrying every `RETRY_SECONDS`). SQLite has no such channel: there every request reads its
token, because a `blocktime token revoke` in another process could not be heard.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine

from accounting import access

log = logging.getLogger("blocktime.api")

RETRY_SECONDS = 1.0
# How often the thread looks up from waiting to see whether it should stop.
POLL_SECONDS = 0.5
# TCP keepalives: a connection that died without a word is noticed within about 15 s.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 5}


@contextmanager
def listening(engine: Engine) -> Iterator[None]:
    """For the context's lifetime, keep the process's `access.PRINCIPALS` honest about
    revocations; nothing at all on a database other than PostgreSQL."""
    if engine.dialect.name != "postgresql":
        yield
        return
    listener = _Listener(engine, access.PRINCIPALS)
    listener.start()
    try:
        yield
    finally:
        listener.stop()


class _Listener:
    def __init__(self, engine: Engine, cache: access.PrincipalCache) -> None:
        self._engine = engine
        self._cache = cache
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="blocktime-revocations", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=POLL_SECONDS * 4)

    def _connect(self) -> Any:
        arguments, options = self._engine.dialect.create_connect_args(self._engine.url)
        connection = self._engine.dialect.loaded_dbapi.connect(*arguments, **{**KEEPALIVES, **options})
        connection.autocommit = True
        return connection

    def _run(self) -> None:
        warned = False
        while not self._stopping.is_set():
            try:
                with self._connect() as connection:
                    connection.execute(f"LISTEN {access.REVOCATIONS_CHANNEL}")
                    self._cache.listening()
                    warned = False
                    try:
                        self._hear(connection)
                    finally:
                        self._cache.deaf()
            except Exception as exc:  # noqa: BLE001 - any failure: keep nothing, try again
                if not warned:
                    log.warning("not hearing token revocations (tokens are read per request): %s", exc)
                    warned = True
                self._stopping.wait(RETRY_SECONDS)

    def _hear(self, connection: Any) -> None:
        while not self._stopping.is_set():
            for notice in connection.notifies(timeout=POLL_SECONDS):
                self._cache.forget(int(notice.payload) if notice.payload.isdigit() else None)
