"""Bearer tokens (SPEC §6).

Every request but GET /healthz (and the GraphiQL page itself, so a browser can
load it) carries `Authorization: Bearer <token>`. A missing, malformed, unknown or
revoked token is refused before the operation is parsed, with HTTP 401, a
`WWW-Authenticate: Bearer` header and the GraphQL error
`{"message": ..., "extensions": {"code": "UNAUTHENTICATED"}}`. Every other
GraphQL outcome, errors included, is HTTP 200.
"""

from __future__ import annotations

from functools import partial

from sqlalchemy import Engine
from starlette.requests import HTTPConnection

from accounting import access
from accounting.access import Principal
from models.db import retried, unit_of_work

WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="blocktime"'}


def bearer_token(connection: HTTPConnection) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None when absent or another scheme."""
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(engine: Engine, token: str | None) -> Principal:
    """The token's principal; raises accounting.errors.Unauthenticated. Blocking: call it in a thread.

    A read: tried again on a transient database failure; one that outlasts the
    retries is raised (the caller answers 503).
    """
    return retried(partial(_authenticate_once, engine, token))


def _authenticate_once(engine: Engine, token: str | None) -> Principal:
    with unit_of_work(engine, writer=False) as session:
        return access.authenticate(session, token)
