"""B1's baseline: the least a server can do to answer a portal's balance check.

A bare Starlette endpoint under the same uvicorn, with the same engine settings
(`models.db.make_engine`: pool, pre-ping, statement timeout) and the same thread
limiter as `blocktime serve`. It takes the same request body (the GraphQL document
is ignored; `variables.id` is read), authenticates the same bearer token and runs
the same four SQL statements Blocktime runs for
`agreement(id) { balance { unitsRemaining deferredRevenue isLow } }`, in the same
two transactions (token, then operation), and answers the same JSON. What it
leaves out is what the comparison measures: strawberry, graphql-core, the ORM.

    uvicorn bench.baseline:create_app --factory
"""

from __future__ import annotations

import hashlib
import json
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from models.db import make_engine
from models.settings import get_settings

CENT = Decimal("0.01")
# The statements Blocktime's ORM emits for the balance check (captured with an engine event).
PRINCIPAL_SQL = (
    "SELECT api_token.name, api_token.role, api_token.company_id, api_token.token_hash, "
    "api_token.revoked_at, api_token.id, api_token.created_at \nFROM api_token \n"
    "WHERE api_token.token_hash = %(token_hash_1)s::VARCHAR"
)
AGREEMENT_SQL = (
    "SELECT agreement.company_id, agreement.agreement_type_id, agreement.name, agreement.status, "
    "agreement.start_date, agreement.end_date, agreement.allow_overruns, agreement.low_balance_threshold, "
    "agreement.alert_epoch, agreement.cancelled_on, agreement.id, agreement.created_at \nFROM agreement \n"
    "WHERE agreement.id = %(pk_1)s::BIGINT"
)
TYPE_SQL = (
    "SELECT agreement_type.name, agreement_type.application_units, agreement_type.prepaid, "
    "agreement_type.reverse_revenue_when_applied, agreement_type.allow_overruns, "
    "agreement_type.expire_after_months, agreement_type.low_balance_threshold, "
    "agreement_type.low_balance_percent, agreement_type.id, agreement_type.created_at \n"
    "FROM agreement_type \nWHERE agreement_type.id IN (%(id_1_1)s::BIGINT)"
)
LOTS_SQL = (
    "SELECT lot.agreement_id, lot.source, lot.addition_id, lot.adjustment_id, lot.units, lot.unit_price, "
    "lot.units_remaining, lot.units_applied, lot.units_expired, lot.units_written_off, lot.units_refunded, "
    "lot.effective_date, lot.expires_on, lot.deferred_account_id, lot.id, lot.created_at \nFROM lot \n"
    "WHERE lot.agreement_id IN (%(agreement_id_1_1)s::BIGINT) ORDER BY lot.id"
)


def _money(hundredths: int | None) -> Decimal | None:
    return None if hundredths is None else (Decimal(hundredths) / 100).quantize(CENT)


def _error(message: str, code: str, status: int = 200) -> JSONResponse:
    return JSONResponse(
        {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}, status
    )


def balance_check(engine: Engine, token: str | None, agreement_id: int) -> JSONResponse:
    if not token:
        return _error("an Authorization: Bearer <token> header is required", "UNAUTHENTICATED", 401)
    with engine.begin() as conn:
        row = (
            conn.exec_driver_sql(PRINCIPAL_SQL, {"token_hash_1": hashlib.sha256(token.encode()).hexdigest()})
            .mappings()
            .first()
        )
    if row is None or row["revoked_at"] is not None:
        return _error("the token is not valid", "UNAUTHENTICATED", 401)
    company_id = row["company_id"] if row["role"] == "CUSTOMER" else None
    with engine.begin() as conn:
        agreement = conn.exec_driver_sql(AGREEMENT_SQL, {"pk_1": agreement_id}).mappings().first()
        if agreement is None or (company_id is not None and agreement["company_id"] != company_id):
            return _error(f"agreement {agreement_id} not found", "NOT_FOUND")
        kind = conn.exec_driver_sql(TYPE_SQL, {"id_1_1": agreement["agreement_type_id"]}).mappings().one()
        lots = conn.exec_driver_sql(LOTS_SQL, {"agreement_id_1_1": agreement_id}).mappings().all()
    bought = removed = remaining = deferred = Decimal(0)
    for lot in lots:
        units_remaining = _money(lot["units_remaining"]) or Decimal(0)
        bought += _money(lot["units"]) or Decimal(0)
        removed += (_money(lot["units_written_off"]) or 0) + (_money(lot["units_refunded"]) or 0)
        remaining += units_remaining
        deferred += (units_remaining * (_money(lot["unit_price"]) or 0)).quantize(CENT, ROUND_HALF_UP)
    purchased = bought - removed
    threshold = _money(agreement["low_balance_threshold"])
    threshold = threshold if threshold is not None else _money(kind["low_balance_threshold"])
    percent = _money(kind["low_balance_percent"])
    is_low = purchased > 0 and (
        (threshold is not None and remaining <= threshold)
        or (percent is not None and remaining * 100 <= purchased * percent)
    )
    balance = {
        "unitsRemaining": str(remaining.quantize(CENT)),
        "deferredRevenue": str(deferred.quantize(CENT)),
        "isLow": is_low,
    }
    return JSONResponse({"data": {"agreement": {"balance": balance}}})


def create_app() -> Starlette:
    settings = get_settings()
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    limiter = anyio.CapacityLimiter(max(1, settings.db_pool_size))

    async def endpoint(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.strip().partition(" ")
        body: dict[str, Any] = json.loads(await request.body())
        raw_id = str((body.get("variables") or {}).get("id", ""))
        if not raw_id.isdigit():
            return _error(f"agreement {raw_id[:40]!r} not found", "NOT_FOUND")
        check = partial(
            balance_check, engine, token.strip() if scheme.lower() == "bearer" else None, int(raw_id)
        )
        return await anyio.to_thread.run_sync(check, limiter=limiter)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[Route("/graphql", endpoint, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])]
    )
