"""The stack's floor for B1 and B2: the least a GraphQL server on strawberry and Starlette
can do for the same requests.

The baseline (bench/baseline.py) answers B1's and B2's documents without GraphQL. This
answers them WITH GraphQL, and with nothing else: strawberry's `Schema.execute_sync`
(its parser and validation caches on, as maintained extensions) in a worker thread
under the same thread limiter and engine as `blocktime serve`, and resolvers that call
the baseline's own raw-SQL functions (`balance_of`, `logged`). No ORM, no query limits,
no visibility check, no loaders, no metrics, no retry. So:

- baseline -> floor is what GraphQL on this stack costs at the least;
- floor -> Blocktime is what Blocktime's own layers cost (the ORM, the rules, the checks).

A goal of Blocktime / baseline above floor / baseline cannot be met on this stack by
any server; one below it can, by doing less in Blocktime's layers.

    uvicorn bench.floor:create_app --factory
"""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
import strawberry
from graphql import GraphQLError
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import Info

from bench.baseline import Refusal, app_serving, balance_of, logged


@strawberry.type
class Balance:
    units_remaining: Decimal
    deferred_revenue: Decimal | None = None
    is_low: bool | None = None


@strawberry.type
class Agreement:
    balance: Balance


@strawberry.type
class TimeEntry:
    id: strawberry.ID
    units_applied: Decimal
    agreement: Agreement


@strawberry.input
class LogTimeInput:
    company_id: strawberry.ID
    agreement_id: strawberry.ID
    work_type_id: strawberry.ID
    work_role_id: strawberry.ID
    date: str
    hours: str


def _refused(refusal: Refusal, info: Info) -> GraphQLError:
    if refusal.status != 200:
        info.context["status"] = refusal.status
    return GraphQLError(refusal.message, extensions={"code": refusal.code})


def _balance(data: dict[str, Any]) -> Balance:
    return Balance(
        units_remaining=Decimal(data["unitsRemaining"]),
        deferred_revenue=Decimal(data["deferredRevenue"]) if "deferredRevenue" in data else None,
        is_low=data.get("isLow"),
    )


@strawberry.type
class Query:
    @strawberry.field
    def agreement(self, info: Info, id: strawberry.ID) -> Agreement | None:
        if not str(id).isdigit():
            raise GraphQLError(f"agreement {str(id)[:40]!r} not found", extensions={"code": "NOT_FOUND"})
        try:
            data = balance_of(info.context["engine"], info.context["token"], int(id))
        except Refusal as refusal:
            raise _refused(refusal, info) from None
        return Agreement(balance=_balance(data["balance"]))


@strawberry.type
class Mutation:
    @strawberry.mutation
    def log_time(self, info: Info, input: LogTimeInput) -> TimeEntry:
        data = {
            "companyId": input.company_id,
            "agreementId": input.agreement_id,
            "workTypeId": input.work_type_id,
            "workRoleId": input.work_role_id,
            "date": input.date,
            "hours": input.hours,
        }
        try:
            entry = logged(info.context["engine"], info.context["token"], data)
        except Refusal as refusal:
            raise _refused(refusal, info) from None
        return TimeEntry(
            id=strawberry.ID(entry["id"]),
            units_applied=Decimal(entry["unitsApplied"]),
            agreement=Agreement(balance=_balance(entry["agreement"]["balance"])),
        )


SCHEMA = strawberry.Schema(query=Query, mutation=Mutation, extensions=[ParserCache, ValidationCache])


def _execute(engine: Engine, token: str | None, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    context: dict[str, Any] = {"engine": engine, "token": token, "status": 200}
    result = SCHEMA.execute_sync(
        body.get("query"),
        variable_values=body.get("variables"),
        context_value=context,
        operation_name=body.get("operationName"),
    )
    answer: dict[str, Any] = {"data": result.data}
    if result.errors:
        answer["errors"] = [error.formatted for error in result.errors]
    return answer, context["status"]


def create_app() -> Starlette:
    async def handle(
        engine: Engine, limiter: anyio.CapacityLimiter, bearer: str | None, body: dict[str, Any]
    ) -> Response:
        answer, status = await anyio.to_thread.run_sync(
            partial(_execute, engine, bearer, body), limiter=limiter
        )
        return JSONResponse(answer, status)

    return app_serving(handle)
