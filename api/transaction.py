"""One unit of work per request, and the shape of every mutation.

The token check and the whole operation share one session, one connection and one
transaction (`run_operation`). Queries run in a reader session, mutations in a
writer session (on SQLite a writer takes the database lock up front). A mutation operation is all or
nothing: it commits when it ends without an error; with any error (the contract's
mutation fields are non-null, so one failure nulls the whole `data` anyway) it
rolls back and answers `data: null` with the errors, so what the client sees is
what happened. An operation that met a transient database failure rolls back and
leaves the failure in `context.transient`: api.view runs it again. Every
mutation records who did what to which object in the audit trail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from graphql import GraphQLError
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from accounting import access, audit, idempotency, jobs
from accounting.access import require
from api.context import Context, Info
from api.errors import internal_error, service_unavailable, transient_cause
from api.loaders import PRIMABLE
from models import Model
from models.db import is_transient, unit_of_work
from models.enums import Role

log = logging.getLogger("blocktime.api")

M = TypeVar("M", bound=Model)


class _RollBack(Exception):
    """Raised inside the unit of work to roll back a mutation that returned errors."""

    def __init__(self, errors: list[GraphQLError]) -> None:
        super().__init__("a mutation returned errors")
        self.errors = errors


class _Transient(Exception):
    """Raised inside the unit of work to roll back an operation that met a transient failure."""


# Raised by strawberry before execution for requests that are not a GraphQL operation:
# api.view answers them with HTTP 400.
NOT_AN_OPERATION = (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)


def run_operation(
    context: Context, *, writer: bool, execute: Callable[[], ExecutionResult]
) -> ExecutionResult:
    """One attempt at a request: the token check and the whole operation in ONE unit of work.

    One pooled connection, one BEGIN and one COMMIT per request (issue 15): the token
    is read on the operation's own session, before `execute` parses the document.
    Raises accounting.errors.Unauthenticated, and any failure of the token check
    itself (api.view answers 401, or 503 when it is transient and outlasted the
    retries). Otherwise returns the result: rolled back with `data: null` when a
    mutation returned errors; SERVICE_UNAVAILABLE with `context.transient` set when a
    transient failure rolled it back (api.view runs it again).
    """
    context.fresh_attempt()
    try:
        with unit_of_work(context.engine, writer=writer) as session:
            context.current_session = session
            context.principal = access.authenticate(session, context.token)
            result = execute()
            context.jobs_enqueued[:] = jobs.enqueued(session)  # counted once committed
            context.current_session = None
            cause = transient_cause(result.errors) if result.errors else None
            if cause is not None:
                raise _Transient from cause
            if writer and result.errors:
                raise _RollBack(result.errors)
    except _RollBack as rollback:
        context.jobs_enqueued.clear()
        return ExecutionResult(data=None, errors=rollback.errors)
    except NOT_AN_OPERATION:
        raise
    except Exception as exc:
        context.current_session = None
        context.jobs_enqueued.clear()
        if context.principal is None:
            raise  # the token was not checked: api.view answers
        cause = exc.__cause__ if isinstance(exc, _Transient) else exc
        if cause is not None and is_transient(cause):
            context.transient = cause
            return ExecutionResult(data=None, errors=[service_unavailable(context.request_id, cause)])
        log.exception("unit of work failed [request %s]", context.request_id)
        return ExecutionResult(data=None, errors=[internal_error(context.request_id)])
    for actor in context.jobs_enqueued:
        context.metrics.jobs_enqueued.labels(actor=actor).inc()
    return result


class UnitOfWork(SchemaExtension):
    """Counts each operation executed and, for a mutation, the outbox jobs its commit releases.

    The unit of work itself (a reader session for queries, a writer for mutations) is
    opened by `run_operation` around the token check and the whole operation.
    """

    def on_execute(self) -> Iterator[None]:
        context: Context = self.execution_context.context
        operation_type = self.execution_context.operation_type
        context.metrics.graphql_operations.labels(type=operation_type.value).inc()
        if operation_type is OperationType.MUTATION and not context.writer:
            raise RuntimeError("a mutation reached execution in a reader unit of work")
        yield


_HELD = "blocktime.held"


@event.listens_for(Session, "loaded_as_persistent")
def _hold_loaded(session: Session, instance: object) -> None:
    held = session.info.get(_HELD)
    if held is not None and type(instance) in PRIMABLE:  # a bulk change keeps no lots or entries
        held.append(instance)


@contextmanager
def _holding(session: Session) -> Iterator[list[Any]]:
    """The rows the block loads, kept alive: the session's identity map holds rows weakly,
    so a row the change locked and let go (logTime's agreement) would be selected again
    to answer. Handed to Loaders.prime once the change is done."""
    held: list[Any] = []
    session.info[_HELD] = held
    try:
        yield held
    finally:
        session.info.pop(_HELD, None)


def authorise(info: Info, action: str, roles: frozenset[Role] | None = None) -> None:
    """FORBIDDEN unless accounting.access.OPERATIONS lets the caller's role use `action`.

    `roles` is heeded only for an operation the table does not list yet (a branch that
    predates the table); tests/api/test_visibility.py fails until it is listed.
    """
    principal = info.context.viewer
    if roles is not None and action not in access.OPERATIONS:
        require(principal, roles, f"use {action}")
    else:
        access.may_use(principal, action)


def perform(
    info: Info,
    action: str,
    *,
    change: Callable[[Session], M],
    roles: frozenset[Role] | None = None,
    details: Mapping[str, Any] | Callable[[M], Mapping[str, Any]] | None = None,
) -> M:
    """Run one mutation and audit it; FORBIDDEN unless the table allows. Resolvers call nothing else.

    `details` may be read from the result, where the rule resolved a default (the
    date a run was enqueued through): the API never works out "today" itself.
    """
    context = info.context
    principal = context.viewer
    authorise(info, action, roles)
    context.loaders.clear()  # what was read before may be about to change
    with _holding(context.session) as held:
        row = change(context.session)
    context.loaders.prime(held)
    if callable(details):
        details = details(row)
    audit.record(
        context.session,
        principal,
        action=action,
        object_type=type(row).__name__,
        object_id=row.id,
        details=dict(details) if details else None,
    )
    return row


def perform_once(
    info: Info,
    action: str,
    *,
    key: str | None,
    payload: Mapping[str, Any],
    model: type[M],
    change: Callable[[Session], M],
    roles: frozenset[Role] | None = None,
) -> M:
    """A mutation with an idempotency key: the same key and input return the first result.

    Two concurrent requests with one key both pass the lookup; the second then fails
    on the key's unique index, rolls back to its savepoint and, retried, finds the
    first request's result. A replay changes nothing, so it is not audited again.
    """
    context = info.context
    principal = context.viewer
    authorise(info, action, roles)
    context.loaders.clear()
    session = context.session
    if key is None:
        # Nothing to replay and no key to race for: no savepoint, and the row at hand is
        # the result (bench B2's statement trace: SAVEPOINT, RELEASE and a re-SELECT saved).
        return perform(info, action, roles=roles, change=change, details={**payload, "idempotencyKey": None})
    created_row: list[M] = []
    loaded: list[Any] = []

    def create() -> int:
        with _holding(session) as held:
            created_row[:] = [change(session)]
        loaded[:] = held
        return created_row[0].id

    for attempt in range(2):
        enqueued_before = len(jobs.enqueued(session))
        try:
            with session.begin_nested():
                result_id, created = idempotency.once(
                    session,
                    operation=action,
                    key=key,
                    payload=dict(payload),
                    create=create,
                )
                if created:
                    audit.record(
                        session,
                        principal,
                        action=action,
                        object_type=model.__name__,
                        object_id=result_id,
                        details={**payload, "idempotencyKey": key},
                    )
            break
        except IntegrityError:
            jobs.forget_enqueued_since(session, enqueued_before)
            if attempt == 1:
                raise
            log.info("idempotency key %r taken concurrently; reading the first result", key)
    if created and created_row:
        context.loaders.prime(loaded)
        return created_row[0]
    return session.get_one(model, result_id)
