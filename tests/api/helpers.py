"""Talking to the API as a client does, and running the jobs the API enqueues."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from accounting import access, jobs
from models import Base, OutboxJob
from models.db import unit_of_work
from models.enums import JobStatus, Role
from models.settings import Settings


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


# Deliveries reach webhooks and mail servers: the workers' tests cover them.
_NOT_RUN = {jobs.DELIVER_NOTIFICATION, jobs.SEND_DELIVERY}


def _actors_on(engine: Engine) -> dict[str, Any]:
    """The real actors (workers.actors), by name, running against this test database."""
    from workers import actors, broker

    url = engine.url.render_as_string(hide_password=False)
    try:
        current = broker.current_settings().database_url
    except RuntimeError:
        current = None
    if current != url:
        broker.configure(Settings(DATABASE_URL=url, REDIS_URL=None, BLOCKTIME_ENV="test"))
    return {actor.actor_name: actor for actor in actors.ACTORS}


def run_pending_jobs(engine: Engine) -> list[str]:
    """Emulate the worker: run PENDING outbox jobs (and the jobs they enqueue) inline,
    each through its real actor's function, in order.

    Returns the actors run, in order. The real worker path is tested in tests/workers/.
    """
    actors = _actors_on(engine)
    ran: list[str] = []
    while True:
        with unit_of_work(engine) as session:
            job = session.scalars(
                select(OutboxJob).where(OutboxJob.status == JobStatus.PENDING).order_by(OutboxJob.id).limit(1)
            ).first()
            if job is None:
                return ran
            if job.actor in _NOT_RUN:
                job.status = JobStatus.DONE
                continue
            job_id, actor, arguments = job.id, job.actor, json.loads(job.args)
        actors[actor].fn(job_id, **arguments)
        ran.append(actor)


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per table: a failed mutation must leave every count as it was."""
    with unit_of_work(engine, writer=False) as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }
