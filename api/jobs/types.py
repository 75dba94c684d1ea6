"""Outbox jobs, so that failed ones (dead letters) are visible to admins."""

import datetime as dt

import strawberry

import models
from api.enums import JobStatus
from api.scalars import to_id


@strawberry.type(description="Follow-up work written to the outbox with the change that caused it.")
class Job:
    id: strawberry.ID
    actor: str
    args: str = strawberry.field(description="The job's keyword arguments as JSON.")
    status: JobStatus
    attempts: int
    last_error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    worker: str | None = strawberry.field(
        description="The worker process that runs the job (RUNNING), or ran it last."
    )
    started_at: dt.datetime | None = strawberry.field(description="When that worker started it.")
    done_at: dt.datetime | None

    @classmethod
    def from_model(cls, row: models.OutboxJob) -> "Job":
        return cls(
            id=to_id(row.id),
            actor=row.actor,
            args=row.args,
            status=row.status,
            attempts=row.attempts,
            last_error=row.last_error,
            created_at=row.created_at,
            sent_at=row.sent_at,
            worker=row.worker,
            started_at=row.started_at,
            done_at=row.done_at,
        )
