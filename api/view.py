"""The GraphQL endpoint: each operation runs in a worker thread, never on the event loop.

strawberry's ASGI view calls sync resolvers inline on the event loop, so one
blocking SQLAlchemy call would stall every request of the process. This small
Starlette endpoint of our own instead authenticates and executes the whole operation
with `schema.execute_sync` in a thread, bounded by a CapacityLimiter no larger than
the connection pool (tests/api/test_concurrency.py). It uses strawberry's public
surface only (`execute_sync`, schema extensions, `strawberry.http.process_result`),
so the library can be upgraded within its compatible range.

An operation that meets a transient database failure before its commit is run
again, a few times with jitter (models.db.retrying); if the failure outlasts that,
the client gets SERVICE_UNAVAILABLE, with HTTP 503 and Retry-After when the request
never reached a resolver (the token check could not be made).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
from graphql import GraphQLError, get_operation_ast
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.http import process_result
from strawberry.schema import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from accounting.errors import Unauthenticated
from api import pages
from api.auth import WWW_AUTHENTICATE, bearer_token
from api.context import Context
from api.errors import RETRY_AFTER_SECONDS, UNAUTHENTICATED, internal_error, present, service_unavailable
from api.limits import parse_document
from api.metrics import Metrics
from api.transaction import NOT_AN_OPERATION, run_operation
from models.db import is_transient, retried, retry_safe
from models.settings import Settings

log = logging.getLogger("blocktime.api")

# Our deepest input is a mutation's `input` object with a list of objects in it: the body
# {"variables": {"input": {"lines": [{...}]}}} is 5 deep. Anything far deeper is refused
# before it reaches graphql-core, whose coercion recurses once per level.
MAX_JSON_DEPTH = 32


def check_json(value: object) -> None:
    """400 unless the decoded body nests at most MAX_JSON_DEPTH deep and every string is valid Unicode.

    Iterative, so no body can exhaust the stack. JSON may escape lone UTF-16 surrogates
    ("\\ud800"), which decode to strings that cannot be encoded again: malformed text.
    """
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            raise BadRequest(400, f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            for key, member in item.items():
                _check_text(key)
                stack.append((member, depth + 1))
        else:
            stack.extend((member, depth + 1) for member in item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequest(
            400, "the JSON body holds a string that is not valid Unicode (a lone surrogate)"
        ) from exc


def operation_type(query: str, operation_name: str | None) -> OperationType | None:
    """The type of the operation the request runs, from the same cached parse execution uses
    (api.limits.parse_document): whether it is a mutation decides its unit of work, which is
    opened before the token check (on SQLite a writer locks up front). None when the document
    does not parse or names no single operation: strawberry then refuses it before anything
    executes."""
    try:
        operation = get_operation_ast(parse_document(query), operation_name)
    except GraphQLError:
        return None
    return None if operation is None else OperationType(operation.operation.value)


class BadRequest(Exception):
    """Answered as plain text with its status, before any operation runs (as strawberry's views do)."""

    def __init__(self, status_code: int, reason: str) -> None:
        super().__init__(reason)
        self.status_code = status_code
        self.reason = reason


class GraphQLView:
    """The ASGI endpoint at /graphql: GraphiQL on GET, operations POSTed as JSON.

    Only strawberry's documented surface is used: `schema.execute_sync`, schema
    extensions and `strawberry.http.process_result`; HTTP is Starlette's. Batches,
    uploads, subscriptions and queries over GET are not served.
    """

    def __init__(self, schema: BaseSchema, *, settings: Settings, engine: Engine, metrics: Metrics) -> None:
        self.schema = schema
        self.settings = settings
        self.engine = engine
        self.metrics = metrics
        # One operation holds one pooled connection at a time, and threads beyond the cores
        # only contend for the GIL: API_CONCURRENCY, by default cores + 1, at most the pool.
        self.limiter = anyio.CapacityLimiter(settings.operations_at_once())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise TypeError("the GraphQL endpoint serves HTTP only (no subscriptions)")
        request = Request(scope, receive)
        try:
            response = await self.handle(request)
        except BadRequest as exc:
            response = PlainTextResponse(exc.reason, status_code=exc.status_code)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        if request.method not in ("GET", "POST"):
            raise BadRequest(405, "GraphQL only supports GET and POST requests.")
        if request.method == "GET":
            if request.query_params.get("query") is None and _accepts_html(request):
                return pages.graphiql_page()
            # Not served over GET (a link must not run anything): refused after the token check.
            request_data, allowed = _from_query_params(request), frozenset[OperationType]()
        else:
            request_data, allowed = await self._from_body(request), _OVER_POST
        context = self.context(request)
        run = partial(self._execute, context, request_data, allowed)
        try:
            result = await anyio.to_thread.run_sync(run, limiter=self.limiter)
        except CannotGetOperationTypeError as exc:
            raise BadRequest(400, exc.as_http_error_reason()) from exc
        except InvalidOperationTypeError as exc:
            raise BadRequest(400, exc.as_http_error_reason(request.method)) from exc
        except MissingQueryError as exc:
            raise BadRequest(400, "No GraphQL query found in the request") from exc
        body = process_result(result)
        self.metrics.count_errors(_codes(body.get("errors")))
        sub_response = context.response
        response = Response(
            json.dumps(body, separators=(",", ":")),
            status_code=sub_response.status_code or 200,
            media_type="application/json",
        )
        response.headers.update(sub_response.headers)
        return response

    def context(self, request: Request) -> Context:
        sub_response = Response()  # collects the status and headers an operation sets
        sub_response.status_code = 0
        del sub_response.headers["content-length"]
        return Context(
            request=request,
            response=sub_response,
            settings=self.settings,
            engine=self.engine,
            metrics=self.metrics,
            request_id=request.scope.get("state", {}).get("request_id") or uuid.uuid4().hex,
            token=bearer_token(request),
        )

    async def _from_body(self, request: Request) -> RequestData:
        content_type = request.headers.get("content-type", "")
        if "application/json" not in content_type.split(";")[0].strip().lower():
            raise BadRequest(400, "Unsupported content type")
        value = decode_json(await request.body())
        if isinstance(value, list):
            raise BadRequest(400, "Batching is not enabled")
        return RequestData.from_json(value)

    def _execute(
        self, context: Context, request_data: RequestData, allowed: frozenset[OperationType]
    ) -> ExecutionResult:
        """In the worker thread: the token first, on the operation's own transaction and before
        strawberry parses the document (api.transaction.run_operation), then the operation."""
        query = request_data.query
        context.writer = (
            OperationType.MUTATION in allowed
            and query is not None
            and operation_type(query, request_data.operation_name) is OperationType.MUTATION
        )

        def execute() -> ExecutionResult:
            return self.schema.execute_sync(
                query,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )

        def attempt() -> ExecutionResult:
            return run_operation(context, writer=context.writer, execute=execute)

        def rolled_back_by_a_transient_failure() -> bool:
            return context.transient is not None and retry_safe(context.transient)

        try:
            result = retried(attempt, again=rolled_back_by_a_transient_failure)
        except Unauthenticated as exc:
            context.response.status_code = 401
            context.response.headers.update(WWW_AUTHENTICATE)
            return ExecutionResult(
                data=None, errors=[GraphQLError(exc.message, extensions={"code": UNAUTHENTICATED})]
            )
        except NOT_AN_OPERATION:
            raise
        except Exception as exc:  # the token check itself failed (run_operation answers the rest)
            if is_transient(exc):
                log.warning("authentication unavailable [request %s]: %s", context.request_id, exc)
                context.response.status_code = 503
                context.response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
                return ExecutionResult(data=None, errors=[service_unavailable(context.request_id, exc)])
            log.exception("authentication failed [request %s]", context.request_id)
            return ExecutionResult(data=None, errors=[internal_error(context.request_id)])
        if context.transient is not None:
            log.warning(
                "transient database failure outlasted the retries [request %s]: %s",
                context.request_id,
                str(context.transient).splitlines()[0],
            )
        # Here rather than in an extension: errors raised by extensions themselves (a syntax
        # error raised while parsing, say) bypass every extension hook.
        if result.errors:
            result.errors = [present(error, context.request_id) for error in result.errors]
        return result


def _codes(errors: list[object] | None) -> list[str]:
    return [
        str((error.get("extensions") or {}).get("code", "UNKNOWN")) if isinstance(error, dict) else "UNKNOWN"
        for error in errors or ()
    ]


_OVER_POST = frozenset({OperationType.QUERY, OperationType.MUTATION})


@dataclass(frozen=True)
class RequestData:
    """One operation as the client sent it (the GraphQL-over-HTTP fields)."""

    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> RequestData:
        query, variables, extensions = value.get("query"), value.get("variables"), value.get("extensions")
        if not isinstance(query, str | None):
            raise BadRequest(400, "The GraphQL operation's `query` must be a string or null, if provided.")
        if not isinstance(variables, dict | None):
            raise BadRequest(
                400, "The GraphQL operation's `variables` must be an object or null, if provided."
            )
        if not isinstance(extensions, dict | None):
            raise BadRequest(
                400, "The GraphQL operation's `extensions` must be an object or null, if provided."
            )
        return cls(query, variables, value.get("operationName"), extensions)


def decode_json(data: bytes) -> dict[str, Any] | list[Any]:
    """The body as a JSON object (or a list: a batch); malformed bodies are 400 here,
    before any authentication work (issue 11)."""
    try:
        value = json.loads(data)
    except RecursionError as exc:
        raise BadRequest(400, f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels") from exc
    except json.JSONDecodeError as exc:
        raise BadRequest(400, "Unable to parse request body as JSON") from exc
    except ValueError as exc:  # bytes that are not UTF-8
        raise BadRequest(400, "the body is not UTF-8 encoded JSON") from exc
    check_json(value)
    if isinstance(value, list):
        return value
    if not isinstance(value, dict):
        raise BadRequest(400, "the JSON body must be an object with a `query`")
    operation_name = value.get("operationName")
    if not isinstance(operation_name, str | None):
        raise BadRequest(400, "The GraphQL operation's `operationName` must be a string or null.")
    return value


def _from_query_params(request: Request) -> RequestData:
    params = request.query_params
    return RequestData(params.get("query"), None, params.get("operationName"), None)


def _accepts_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept or "*/*" in accept
