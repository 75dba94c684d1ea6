"""B1's and B2's baselines: the least a server can do to answer a portal's balance
check, and to record a technician's time entry.

A bare Starlette endpoint under the same uvicorn, with the same engine settings
(`models.db.make_engine`: pool, pre-ping, statement timeout) and the same thread
limiter as `blocktime serve`. It takes the same request body (the GraphQL document
is ignored; `variables.id` is read), authenticates the same bearer token and runs
the same three SQL statements Blocktime runs for
`agreement(id) { balance { unitsRemaining deferredRevenue isLow } }`, in the same
one transaction (the token read on the operation's connection), and answers the same
JSON. What it
leaves out is what the comparison measures: strawberry, graphql-core, the ORM.

A body whose variables hold an `input` is B2's `logTime`, done in raw SQL in one
transaction (`log_time` below): the token, the company, work type and work role
read together, the agreement locked (FOR UPDATE) with its type and exclusions, the
lots in effect on the entry's date FIFO (effective_date <= date < expires_on), the
entry inserted once with RETURNING, its lot movements, the lots updated, the outbox
row for the balance evaluation and the audit row written, the balance read back,
commit. No retry, no idempotency key, no GraphQL: the stack's own limit for the
same writes.

    uvicorn bench.baseline:create_app --factory
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Awaitable, Callable
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
# The statements Blocktime emits for the balance check, in its one transaction (captured
# with an engine event): the token, the agreement, then its type's thresholds and its lots
# as they stand at the end of the day (each with the sums of its movements dated after it).
PRINCIPAL_SQL = (
    "SELECT api_token.id, api_token.name, api_token.role, api_token.company_id, api_token.revoked_at \n"
    "FROM api_token \nWHERE api_token.token_hash = %(token_hash)s::VARCHAR"
)
AGREEMENT_SQL = (
    "SELECT agreement.company_id, agreement.agreement_type_id, agreement.name, agreement.status, "
    "agreement.start_date, agreement.end_date, agreement.allow_overruns, agreement.low_balance_threshold, "
    "agreement.alert_epoch, agreement.cancelled_on, agreement.notify_emails, agreement.id, "
    "agreement.created_at \nFROM agreement \nWHERE agreement.id = %(pk_1)s::BIGINT"
)
_LATER = ", ".join(
    f"coalesce(sum(CASE WHEN (lot_movement.kind = %(kind_{n})s) THEN lot_movement.units "
    f"ELSE %(param_{n})s::INTEGER END), %(coalesce_{n})s::INTEGER) AS {name}"
    for n, name in enumerate(("usage", "reversal", "expiry", "write_off", "refund"), start=1)
)
BALANCE_SQL = (
    "SELECT agreement.id AS of_agreement, agreement_type.low_balance_threshold, "
    "agreement_type.low_balance_percent, lot.agreement_id, lot.effective_date, lot.expires_on, lot.units, "
    "lot.unit_price, lot.units_remaining, lot.units_applied, lot.units_expired, lot.units_written_off, "
    "lot.units_refunded, anon_1.usage, anon_1.reversal, anon_1.expiry, anon_1.write_off, anon_1.refund \n"
    "FROM agreement JOIN agreement_type ON agreement_type.id = agreement.agreement_type_id "
    "LEFT OUTER JOIN lot ON lot.agreement_id = agreement.id LEFT OUTER JOIN "
    f"(SELECT lot_movement.lot_id AS lot_id, {_LATER} \nFROM lot_movement \n"
    "WHERE lot_movement.lot_id IN (SELECT lot.id \nFROM lot \nWHERE lot.agreement_id = "
    "%(agreement_id)s::BIGINT) AND lot_movement.date > %(day)s::DATE GROUP BY lot_movement.lot_id) "
    "AS anon_1 ON anon_1.lot_id = lot.id \nWHERE agreement.id = %(agreement_id)s::BIGINT "
    "ORDER BY lot.effective_date, lot.id"
)
SUMS = ("usage", "reversal", "expiry", "write_off", "refund")
LOTS_PARAMETERS = {
    key: value
    for n, kind in enumerate(("USAGE", "REVERSAL", "EXPIRY", "WRITE_OFF", "REFUND"), start=1)
    for key, value in ((f"kind_{n}", kind), (f"param_{n}", 0), (f"coalesce_{n}", 0))
}


def _money(hundredths: int | None) -> Decimal | None:
    return None if hundredths is None else (Decimal(hundredths) / 100).quantize(CENT)


class Refusal(Exception):
    """An error answer: the message, the contract's code and the HTTP status."""

    def __init__(self, message: str, code: str, status: int = 200) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


def _error(message: str, code: str, status: int = 200) -> JSONResponse:
    return JSONResponse(
        {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}, status
    )


def _answer(field: str, work: Callable[[], dict[str, Any]]) -> JSONResponse:
    try:
        return JSONResponse({"data": {field: work()}})
    except Refusal as refusal:
        return _error(refusal.message, refusal.code, refusal.status)


def balance_check(engine: Engine, token: str | None, agreement_id: int) -> JSONResponse:
    return _answer("agreement", partial(balance_of, engine, token, agreement_id))


def balance_of(engine: Engine, token: str | None, agreement_id: int) -> dict[str, Any]:
    """`agreement(id) { balance { unitsRemaining deferredRevenue isLow } }`'s data, or Refusal."""
    if not token:
        raise Refusal("an Authorization: Bearer <token> header is required", "UNAUTHENTICATED", 401)
    day = dt.datetime.now(dt.UTC).date()  # Blocktime's business day (BLOCKTIME_TIMEZONE unset: UTC)
    with engine.begin() as conn:
        row = (
            conn.exec_driver_sql(PRINCIPAL_SQL, {"token_hash": hashlib.sha256(token.encode()).hexdigest()})
            .mappings()
            .first()
        )
        if row is None or row["revoked_at"] is not None:
            raise Refusal("the token is not valid", "UNAUTHENTICATED", 401)
        company_id = row["company_id"] if row["role"] == "CUSTOMER" else None
        agreement = conn.exec_driver_sql(AGREEMENT_SQL, {"pk_1": agreement_id}).mappings().first()
        if agreement is None or (company_id is not None and agreement["company_id"] != company_id):
            raise Refusal(f"agreement {agreement_id} not found", "NOT_FOUND")
        rows = (
            conn.exec_driver_sql(BALANCE_SQL, {**LOTS_PARAMETERS, "agreement_id": agreement_id, "day": day})
            .mappings()
            .all()
        )
    kind = rows[0]  # the type's thresholds are on every row
    lots = [row for row in rows if row["agreement_id"] is not None]
    bought = removed = remaining = deferred = Decimal(0)
    for lot in lots:
        if lot["effective_date"] > day:
            continue  # not in effect yet: scheduled, not in the balance
        later = {
            k: _money(lot[k]) or Decimal(0) for k in ("usage", "reversal", "expiry", "write_off", "refund")
        }
        bought += _money(lot["units"]) or Decimal(0)
        removed += (_money(lot["units_written_off"]) or 0) - later["write_off"]
        removed += (_money(lot["units_refunded"]) or 0) - later["refund"]
        if lot["expires_on"] is not None and lot["expires_on"] <= day:
            continue
        units_remaining = (_money(lot["units_remaining"]) or Decimal(0)) + later["usage"] - later["reversal"]
        units_remaining += later["expiry"] + later["write_off"] + later["refund"]
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
    return {"balance": balance}


# --- B2: logTime in raw SQL ------------------------------------------------------------

PRINCIPAL_BY_HASH_SQL = "SELECT name, role, revoked_at FROM api_token WHERE token_hash = %(h)s"
CATALOG_SQL = (
    "SELECT (SELECT 1 FROM company WHERE id = %(company)s) AS company, "
    "(SELECT rate_multiplier FROM work_type WHERE id = %(type)s) AS multiplier, "
    "(SELECT hourly_rate FROM work_role WHERE id = %(role)s) AS rate"
)
LOCK_SQL = (
    "SELECT a.company_id, a.status, a.start_date, a.end_date, a.allow_overruns, "
    "t.application_units, t.allow_overruns AS type_overruns, "
    "EXISTS (SELECT 1 FROM agreement_type_excluded_work_type x "
    "WHERE x.agreement_type_id = t.id AND x.work_type_id = %(type)s) AS excluded_type, "
    "EXISTS (SELECT 1 FROM agreement_type_excluded_work_role x "
    "WHERE x.agreement_type_id = t.id AND x.work_role_id = %(role)s) AS excluded_role "
    "FROM agreement a JOIN agreement_type t ON t.id = a.agreement_type_id "
    "WHERE a.id = %(agreement)s FOR UPDATE OF a"
)
OPEN_LOTS_SQL = (
    "SELECT id, units_remaining, unit_price FROM lot WHERE agreement_id = %(agreement)s "
    "AND units_remaining > 0 AND effective_date <= %(date)s "
    "AND (expires_on IS NULL OR expires_on > %(date)s) "
    "ORDER BY effective_date, id"
)
INSERT_ENTRY_SQL = (
    "INSERT INTO time_entry (company_id, agreement_id, work_type_id, work_role_id, date, hours, "
    "billable_option, notes, internal_notes, coverage, value, covered_value, units_applied, hours_billable, "
    "amount_billable, billed, reversed, created_at) VALUES (%(company)s, %(agreement)s, %(type)s, %(role)s, "
    "%(date)s, %(hours)s, 'BILLABLE', NULL, NULL, %(coverage)s, %(value)s, %(covered)s, %(applied)s, "
    "%(hours_billable)s, %(amount_billable)s, false, false, now()) RETURNING id"
)
INSERT_MOVEMENT_SQL = (
    "INSERT INTO lot_movement (lot_id, kind, units, value, date, time_entry_id, created_at) "
    "VALUES (%(lot)s, 'USAGE', %(units)s, %(value)s, %(date)s, %(entry)s, now())"
)
UPDATE_LOT_SQL = (
    "UPDATE lot SET units_remaining = %(remaining)s, units_applied = units_applied + %(units)s "
    "WHERE id = %(lot)s"
)
OUTBOX_SQL = (
    "INSERT INTO outbox_job (actor, args, status, attempts, created_at) "
    "VALUES ('notifications.evaluate', %(args)s, 'PENDING', 0, now())"
)
AUDIT_SQL = (
    "INSERT INTO audit_entry (actor_name, actor_role, action, object_type, object_id, details, created_at) "
    "VALUES (%(name)s, %(role)s, 'logTime', 'TimeEntry', %(entry)s, %(details)s, now())"
)
REMAINING_SQL = (
    "SELECT coalesce(sum(units_remaining), 0) FROM lot WHERE agreement_id = %(agreement)s "
    "AND effective_date <= current_date AND (expires_on IS NULL OR expires_on > current_date)"
)
STAFF = {"ADMIN", "ACCOUNTANT", "TECHNICIAN"}


def _cents(value: Decimal) -> int:
    return int((value * 100).to_integral_value())


def _round(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def log_time(engine: Engine, token: str | None, data: dict[str, Any]) -> JSONResponse:
    return _answer("logTime", partial(logged, engine, token, data))


def logged(engine: Engine, token: str | None, data: dict[str, Any]) -> dict[str, Any]:
    """B2's baseline: what `logTime` writes for an entry on an agreement, in raw SQL; its
    answer's data, or Refusal."""
    if not token:
        raise Refusal("an Authorization: Bearer <token> header is required", "UNAUTHENTICATED", 401)
    try:
        company_id, agreement_id = int(data["companyId"]), int(data["agreementId"])
        work_type_id, work_role_id = int(data["workTypeId"]), int(data["workRoleId"])
        date = dt.date.fromisoformat(data["date"])
        hours = Decimal(data["hours"])
    except (KeyError, TypeError, ValueError, ArithmeticError):
        raise Refusal("the input is not valid", "BAD_USER_INPUT") from None
    keys = {"company": company_id, "agreement": agreement_id, "type": work_type_id, "role": work_role_id}
    with engine.begin() as conn:
        principal = conn.exec_driver_sql(
            PRINCIPAL_BY_HASH_SQL, {"h": hashlib.sha256(token.encode()).hexdigest()}
        ).first()
        if principal is None or principal.revoked_at is not None:
            raise Refusal("the token is not valid", "UNAUTHENTICATED", 401)
        if principal.role not in STAFF:
            raise Refusal("not allowed", "FORBIDDEN")
        found = conn.exec_driver_sql(CATALOG_SQL, keys).one()
        if found.company is None or found.multiplier is None or found.rate is None:
            raise Refusal("not found", "NOT_FOUND")
        rate = Decimal(found.rate) / 100 * Decimal(found.multiplier) / 100
        value = _round(hours * rate)
        agreement = conn.exec_driver_sql(LOCK_SQL, keys).first()
        if agreement is None or agreement.company_id != company_id:
            raise Refusal(f"agreement {agreement_id} not found", "NOT_FOUND")
        covered = (
            agreement.status == "ACTIVE"
            and agreement.start_date <= date
            and (agreement.end_date is None or date <= agreement.end_date)
            and not agreement.excluded_type
            and not agreement.excluded_role
        )
        if not covered:
            raise Refusal("the baseline covers covered time only", "BAD_USER_INPUT")
        by_amount = agreement.application_units == "AMOUNT"
        needed = value if by_amount else hours
        lots = conn.exec_driver_sql(OPEN_LOTS_SQL, {"agreement": agreement_id, "date": date}).all()
        draws: list[tuple[int, Decimal, Decimal, Decimal]] = []  # lot, units, value, remaining after
        left = needed
        for lot in lots:
            if left <= 0:
                break
            before, price = Decimal(lot.units_remaining) / 100, Decimal(lot.unit_price) / 100
            take = min(before, left)
            after = before - take
            draws.append((lot.id, take, _round(before * price) - _round(after * price), after))
            left -= take
        drawn = needed - left
        overruns = agreement.allow_overruns
        if left > 0 and not (agreement.type_overruns if overruns is None else overruns):
            raise Refusal(f"agreement {agreement_id} has too little left", "INSUFFICIENT_BALANCE")
        if by_amount:
            covered_value, amount_billable = drawn, value - drawn
            hours_billable = _round(hours * amount_billable / value) if value > 0 else hours - drawn
        else:
            covered_value = _round(drawn * rate) if drawn < hours else value
            amount_billable, hours_billable = value - covered_value, hours - drawn
        entry_id = conn.exec_driver_sql(
            INSERT_ENTRY_SQL,
            {
                **keys,
                "date": date,
                "hours": _cents(hours),
                "coverage": "OVERRUN" if left > 0 else "COVERED",
                "value": _cents(value),
                "covered": _cents(covered_value),
                "applied": _cents(drawn),
                "hours_billable": _cents(hours_billable),
                "amount_billable": _cents(amount_billable),
            },
        ).scalar_one()
        if draws:
            conn.exec_driver_sql(
                INSERT_MOVEMENT_SQL,
                [
                    {
                        "lot": lot,
                        "units": _cents(units),
                        "value": _cents(val),
                        "date": date,
                        "entry": entry_id,
                    }
                    for lot, units, val, _after in draws
                ],
            )
            conn.exec_driver_sql(
                UPDATE_LOT_SQL,
                [
                    {"lot": lot, "units": _cents(units), "remaining": _cents(after)}
                    for lot, units, _val, after in draws
                ],
            )
        args = {"agreement_id": agreement_id, "time_entry_id": entry_id if left > 0 else None}
        conn.exec_driver_sql(OUTBOX_SQL, {"args": json.dumps(args, sort_keys=True)})
        conn.exec_driver_sql(
            AUDIT_SQL,
            {
                "name": principal.name,
                "role": principal.role,
                "entry": str(entry_id),
                "details": json.dumps(data, sort_keys=True),
            },
        )
        remaining = (
            Decimal(conn.exec_driver_sql(REMAINING_SQL, {"agreement": agreement_id}).scalar_one()) / 100
        )
    result = {
        "id": str(entry_id),
        "unitsApplied": str(drawn.quantize(CENT)),
        "agreement": {"balance": {"unitsRemaining": str(remaining.quantize(CENT))}},
    }
    return result


# What a server of B1 and B2 does with one request: the engine and thread limiter it was
# built with, the bearer token (None without one) and the JSON body.
Handler = Callable[[Engine, anyio.CapacityLimiter, str | None, dict[str, Any]], Awaitable[Response]]


def app_serving(handle: Handler) -> Starlette:
    """A bare Starlette app with `blocktime serve`'s engine settings and thread limiter:
    POST /graphql hands `handle` the token and the body; GET /healthz (bench/floor.py too)."""
    settings = get_settings()
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    limiter = anyio.CapacityLimiter(settings.operations_at_once())  # as the GraphQL view

    async def endpoint(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.strip().partition(" ")
        bearer = token.strip() if scheme.lower() == "bearer" else None
        body: dict[str, Any] = json.loads(await request.body())
        return await handle(engine, limiter, bearer, body)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[Route("/graphql", endpoint, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])]
    )


def create_app() -> Starlette:
    async def handle(
        engine: Engine, limiter: anyio.CapacityLimiter, bearer: str | None, body: dict[str, Any]
    ) -> Response:
        data = (body.get("variables") or {}).get("input")
        if isinstance(data, dict):
            write = partial(log_time, engine, bearer, data)
            return await anyio.to_thread.run_sync(write, limiter=limiter)
        raw_id = str((body.get("variables") or {}).get("id", ""))
        if not raw_id.isdigit():
            return _error(f"agreement {raw_id[:40]!r} not found", "NOT_FOUND")
        check = partial(balance_check, engine, bearer, int(raw_id))
        return await anyio.to_thread.run_sync(check, limiter=limiter)

    return app_serving(handle)
