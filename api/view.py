"""The GraphQL endpoint: each operation runs in a worker thread, never on the event loop.

strawberry calls sync resolvers inline on the event loop, so one blocking
SQLAlchemy call would stall every request of the process. `execute_single` is
overridden (strawberry 0.341; tests/api/test_concurrency.py covers it) to
authenticate and execute the whole operation with `schema.execute_sync` in a
thread, bounded by a CapacityLimiter no larger than the connection pool.

An operation that meets a transient database failure before its commit is run
again, a few times with jitter (models.db.retrying); if the failure outlasts that,
the client gets SERVICE_UNAVAILABLE, with HTTP 503 and Retry-After when the request
never reached a resolver (the token check could not be made).
"""

from __future__ import annotations

import json
import logging
import uuid
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from accounting.errors import Unauthenticated
from api import pages
from api.auth import WWW_AUTHENTICATE, authenticate, bearer_token
from api.context import Context
from api.errors import RETRY_AFTER_SECONDS, UNAUTHENTICATED, internal_error, present, service_unavailable
from api.metrics import Metrics
from models.db import is_transient, retry_safe, retrying
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
            raise HTTPException(400, f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
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
        raise HTTPException(
            400, "the JSON body holds a string that is not valid Unicode (a lone surrogate)"
        ) from exc


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, schema: BaseSchema, *, settings: Settings, engine: Engine, metrics: Metrics) -> None:
        super().__init__(
            schema, graphql_ide="graphiql", allow_queries_via_get=False, subscription_protocols=()
        )
        self.settings = settings
        self.engine = engine
        self.metrics = metrics
        # One operation holds one pooled connection at a time: never queue more threads than connections.
        self.limiter = anyio.CapacityLimiter(max(1, settings.db_pool_size))

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        if not isinstance(request, Request) or not isinstance(response, Response):
            raise TypeError("the GraphQL endpoint serves HTTP only (no subscriptions)")
        return Context(
            request=request,
            response=response,
            settings=self.settings,
            engine=self.engine,
            metrics=self.metrics,
            request_id=request.scope.get("state", {}).get("request_id") or uuid.uuid4().hex,
            token=bearer_token(request),
        )

    def decode_json(self, data: str | bytes) -> object:
        """Malformed bodies are 400 here, before any authentication work (issue 11)."""
        try:
            value = json.loads(data)
        except RecursionError as exc:
            raise HTTPException(400, f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels") from exc
        except json.JSONDecodeError:
            raise
        except ValueError as exc:  # bytes that are not UTF-8
            raise HTTPException(400, "the body is not UTF-8 encoded JSON") from exc
        check_json(value)
        if not isinstance(value, dict | list):  # a list is a batch, which strawberry refuses with 400
            raise HTTPException(400, "the JSON body must be an object with a `query`")
        if isinstance(value, dict):
            operation_name = value.get("operationName")
            if not isinstance(operation_name, str | None):
                raise HTTPException(400, "The GraphQL operation's `operationName` must be a string or null.")
        return value

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        allowed = OperationType.from_http(request_adapter.method)
        if not self.allow_queries_via_get and request_adapter.method == "GET":
            allowed = allowed - {OperationType.QUERY}
        run = partial(self._execute, context, request_data, allowed)
        try:
            return await anyio.to_thread.run_sync(run, limiter=self.limiter)
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from exc
        except InvalidOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason(request_adapter.method)) from exc
        except MissingQueryError as exc:
            raise HTTPException(400, "No GraphQL query found in the request") from exc

    def _execute(
        self, context: Context, request_data: GraphQLRequestData, allowed: set[OperationType]
    ) -> ExecutionResult:
        """In the worker thread: the token first (before the document is even parsed), then the operation."""
        try:
            context.principal = authenticate(context.engine, context.token)
        except Unauthenticated as exc:
            context.response.status_code = 401
            context.response.headers.update(WWW_AUTHENTICATE)
            return ExecutionResult(
                data=None, errors=[GraphQLError(exc.message, extensions={"code": UNAUTHENTICATED})]
            )
        except Exception as exc:
            if is_transient(exc):
                log.warning("authentication unavailable [request %s]: %s", context.request_id, exc)
                context.response.status_code = 503
                context.response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
                return ExecutionResult(data=None, errors=[service_unavailable(context.request_id, exc)])
            log.exception("authentication failed [request %s]", context.request_id)
            return ExecutionResult(data=None, errors=[internal_error(context.request_id)])

        def attempt() -> ExecutionResult:
            context.fresh_attempt()
            return self.schema.execute_sync(
                request_data.query,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )

        def rolled_back_by_a_transient_failure(_state: object) -> bool:
            return context.transient is not None and retry_safe(context.transient)

        result: ExecutionResult = retrying(rolled_back_by_a_transient_failure)(attempt)
        if context.transient is not None:
            log.warning(
                "transient database failure outlasted the retries [request %s]: %s",
                context.request_id,
                str(context.transient).splitlines()[0],
            )
        # Here rather than in an extension: errors raised by extensions themselves (a syntax
        # error under ParserCache, say) bypass every extension hook.
        if result.errors:
            result.errors = [present(error, context.request_id) for error in result.errors]
        return result

    async def render_graphql_ide(self, request: Request) -> Response:
        """Strawberry's GraphiQL page with every asset served from here (api/pages.py)."""
        return pages.graphiql_page()

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        self.metrics.count_errors(_codes(response))
        return response


def _codes(response: dict[str, Any]) -> list[str]:
    return [(error.get("extensions") or {}).get("code", "UNKNOWN") for error in response.get("errors") or ()]
