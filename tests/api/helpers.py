"""Talking to the API as a client does, and running the jobs the API enqueues."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from accounting import access, allowances, batches, billing, clock, expiring, expiry, jobs, notifications
from models import Base, OutboxJob
from models.db import unit_of_work
from models.enums import JobStatus, Role


class GraphQLError(AssertionError):
    pass


class Client:
    """POSTs GraphQL documents with one bearer token."""

    def __init__(self, http: httpx.AsyncClient, token: str | None) -> None:
        self.http = http
        self.token = token

    def as_(self, token: str | None) -> Client:
        return Client(self.http, token)

    async def post(self, query: str, **variables: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )

    async def execute(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.post(query, **variables)
        assert response.status_code in (200, 401), response.text
        return response.json()  # type: ignore[no-any-return]

    async def data(self, query: str, **variables: Any) -> dict[str, Any]:
        """The data; fails the test on any error."""
        body = await self.execute(query, **variables)
        if body.get("errors"):
            raise GraphQLError(json.dumps(body["errors"], indent=1))
        return body["data"]  # type: ignore[no-any-return]

    async def error(self, query: str, **variables: Any) -> tuple[str, str]:
        """(code, message) of the one error the operation must return."""
        body = await self.execute(query, **variables)
        errors = body.get("errors") or []
        assert len(errors) == 1, body
        return errors[0]["extensions"]["code"], errors[0]["message"]


def create_token(
    engine: Engine, role: Role, *, company_id: int | None = None, name: str | None = None
) -> str:
    with unit_of_work(engine) as session:
        _, secret = access.create_token(
            session, role=role, name=name or f"{role.value.lower()}-token", company_id=company_id
        )
    return secret


def _dispatch(actor: str, arguments: dict[str, Any]) -> Callable[[Any], object] | None:
    if actor == jobs.RUN_BILLING:
        return lambda s: billing.run_billing(s, through_date=dt.date.fromisoformat(arguments["through_date"]))
    if actor == jobs.EXPIRE_BLOCKS:
        return lambda s: expiry.expire_blocks(s, as_of=dt.date.fromisoformat(arguments["as_of"]))
    if actor == jobs.RENEW_ALLOWANCES:
        day = dt.date.fromisoformat(arguments["as_of"])
        return lambda s: (
            allowances.renew_allowances(s, as_of=day),
            expiring.check_expiring(s, today=clock.today()),
        )
    if actor == jobs.POST_BATCH:
        return lambda s: batches.post_batch(s, batch_id=arguments["batch_id"])
    if actor == jobs.EVALUATE_BALANCE:
        return lambda s: notifications.evaluate_balance(s, **arguments)
    return None  # deliveries: the workers' tests cover them


def run_pending_jobs(engine: Engine) -> list[str]:
    """Emulate the worker: run PENDING outbox jobs (and the jobs they enqueue) inline.

    Returns the actors run, in order. The real worker path is tested in tests/workers/.
    """
    ran: list[str] = []
    while True:
        with unit_of_work(engine) as session:
            job = session.scalars(
                select(OutboxJob).where(OutboxJob.status == JobStatus.PENDING).order_by(OutboxJob.id).limit(1)
            ).first()
            if job is None:
                return ran
            work = _dispatch(job.actor, json.loads(job.args))
            if work is not None:
                work(session)
                ran.append(job.actor)
            job.status = JobStatus.DONE


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per table: a failed mutation must leave every count as it was."""
    with unit_of_work(engine, writer=False) as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }
