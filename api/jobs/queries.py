"""The outbox as admins see it: what is pending, done, and failed (the dead letters)."""

import strawberry

from api.context import Info, wrap_all
from api.enums import JobStatus
from api.fields import resolver
from api.jobs.types import Job
from api.pagination import Connection, connection
from api.read import admin as read
from models.enums import JobStatus as JobStatusValue


@strawberry.type
class JobQuery:
    @resolver(description="Outbox jobs, newest first, optionally of one status (ADMIN).")
    def jobs(
        self, info: Info, status: JobStatus | None = None, first: int | None = None, after: str | None = None
    ) -> Connection[Job]:
        page = read.jobs(info.context.session, info.context.viewer, status=status, first=first, after=after)
        return connection(page, lambda rows: wrap_all(info, Job, rows))

    @resolver(description="Jobs that gave up after their retries: the dead letters (ADMIN).")
    def failed_jobs(self, info: Info, first: int | None = None, after: str | None = None) -> Connection[Job]:
        page = read.jobs(
            info.context.session, info.context.viewer, status=JobStatusValue.FAILED, first=first, after=after
        )
        return connection(page, lambda rows: wrap_all(info, Job, rows))
