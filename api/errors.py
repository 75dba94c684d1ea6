"""Errors as the contract shows them: expected ones keep their message and get a code,
unexpected ones are masked ("Unexpected error.", INTERNAL_SERVER_ERROR) and logged
with the request id that the client also receives.

Expected: GraphQL syntax and validation errors, query limits, bad variables and
scalars (BAD_USER_INPUT); `accounting.errors.DomainError` subclasses with their own
code; a unique index hit by concurrent writers (CONFLICT); a transient database
failure that outlasted its retries (SERVICE_UNAVAILABLE: the client may retry).
Everything else is a bug.
"""

from __future__ import annotations

import logging

from graphql import GraphQLError
from sqlalchemy.exc import IntegrityError, PendingRollbackError
from strawberry.types import ExecutionContext

from accounting.errors import DomainError
from models.db import CommitOutcomeUnknown, is_transient

log = logging.getLogger("blocktime.api")

BAD_USER_INPUT = "BAD_USER_INPUT"
CONFLICT = "CONFLICT"
UNAUTHENTICATED = "UNAUTHENTICATED"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
EXPECTED_CODES = frozenset(
    {
        UNAUTHENTICATED,
        "FORBIDDEN",
        "NOT_FOUND",
        BAD_USER_INPUT,
        "INSUFFICIENT_BALANCE",
        CONFLICT,
        "MAPPING_MISSING",
        SERVICE_UNAVAILABLE,
    }
)
MASKED_MESSAGE = "Unexpected error."
CONFLICT_MESSAGE = "The change conflicts with one made at the same time; retry the request."
UNAVAILABLE_MESSAGE = "The database is unavailable for a moment; nothing was changed. Retry the request."
OUTCOME_UNKNOWN_MESSAGE = (
    "The connection to the database was lost while committing: the change may have been made."
    " Check before retrying, or retry with the same idempotencyKey."
)
# Seconds a client should wait before retrying a SERVICE_UNAVAILABLE answer.
RETRY_AFTER_SECONDS = 1


def _is_unique_violation(exc: IntegrityError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)  # psycopg
    return sqlstate == "23505" or "UNIQUE constraint failed" in str(exc.orig)


def classify(error: GraphQLError) -> tuple[str, str] | None:
    """(code, message) for an expected error; None for one to mask."""
    original = error.original_error
    if original is None and (error.extensions or {}).get("code") == INTERNAL_SERVER_ERROR:
        return None  # already masked (a failed commit)
    if original is None or isinstance(original, GraphQLError):
        source = original if isinstance(original, GraphQLError) else error
        code = (source.extensions or {}).get("code")
        return (code if code in EXPECTED_CODES else BAD_USER_INPUT), error.message
    if isinstance(original, DomainError):
        return (original.code, error.message) if original.code in EXPECTED_CODES else None
    if isinstance(original, IntegrityError) and _is_unique_violation(original):
        return CONFLICT, CONFLICT_MESSAGE
    if is_transient(original):
        return SERVICE_UNAVAILABLE, _unavailable_message(original)
    if error.path is None and error.nodes:
        # Raised while coercing a variable or literal of the document (a malformed Date, say):
        # the client's input. An extension's own failure has neither path nor nodes: masked.
        return BAD_USER_INPUT, error.message
    return None


def is_unexpected(error: GraphQLError) -> bool:
    return classify(error) is None


def _unavailable_message(cause: BaseException) -> str:
    return OUTCOME_UNKNOWN_MESSAGE if isinstance(cause, CommitOutcomeUnknown) else UNAVAILABLE_MESSAGE


def service_unavailable(request_id: str, cause: BaseException) -> GraphQLError:
    """What a client sees of a transient failure that outlasted its retries."""
    return GraphQLError(
        _unavailable_message(cause),
        extensions={"code": SERVICE_UNAVAILABLE, "requestId": request_id, "retryAfter": RETRY_AFTER_SECONDS},
    )


def transient_cause(errors: list[GraphQLError]) -> BaseException | None:
    """The transient database failure among an operation's errors, if any."""
    return next(
        (e.original_error for e in errors if e.original_error is not None and is_transient(e.original_error)),
        None,
    )


def internal_error(request_id: str, error: GraphQLError | None = None) -> GraphQLError:
    return GraphQLError(
        MASKED_MESSAGE,
        nodes=error.nodes if error else None,
        source=error.source if error else None,
        positions=error.positions if error else None,
        path=error.path if error else None,
        extensions={"code": INTERNAL_SERVER_ERROR, "requestId": request_id},
    )


def present(error: GraphQLError, request_id: str) -> GraphQLError:
    """The error as the client sees it."""
    classified = classify(error)
    if classified is None:
        return internal_error(request_id, error)
    code, message = classified
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={**(error.extensions or {}), "code": code},
    )


def log_errors(errors: list[GraphQLError], execution_context: ExecutionContext | None) -> None:
    """Unexpected errors at ERROR with their traceback and request id; the rest at DEBUG."""
    request_id = getattr(getattr(execution_context, "context", None), "request_id", "-")
    transient = transient_cause(errors)
    for error in errors:
        if transient is not None and (
            error.original_error is transient or isinstance(error.original_error, PendingRollbackError)
        ):
            # The operation is tried again (api.transaction); the other fields' errors follow from it.
            log.debug("transient failure [request %s]: %s", request_id, error.message)
        elif is_unexpected(error):
            log.error(
                "unexpected error [request %s] at %s: %s",
                request_id,
                ".".join(str(p) for p in error.path or ()),
                error.message,
                exc_info=error.original_error,
            )
        else:
            log.debug("client error [request %s]: %s", request_id, error.message)
