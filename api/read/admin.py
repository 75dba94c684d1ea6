"""The audit trail, the outbox, tokens and webhooks (the back office's and admins')."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting.access import ACCESS, AUDIT, JOBS, Principal, may_read
from api.pagination import Page, paginate
from models import ApiToken, AuditEntry, OutboxJob, Webhook
from models.enums import JobStatus


def audit_trail(
    session: Session, principal: Principal, *, first: int | None = None, after: str | None = None
) -> Page[AuditEntry]:
    """Every mutation, newest first."""
    may_read(principal, AUDIT)
    return paginate(session, select(AuditEntry), AuditEntry, first=first, after=after, newest_first=True)


def jobs(
    session: Session,
    principal: Principal,
    *,
    status: JobStatus | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[OutboxJob]:
    """The outbox, newest first: FAILED jobs are the dead letters an admin must see."""
    may_read(principal, JOBS)
    stmt = select(OutboxJob)
    if status is not None:
        stmt = stmt.where(OutboxJob.status == status)
    return paginate(session, stmt, OutboxJob, first=first, after=after, newest_first=True)


def api_tokens(session: Session, principal: Principal) -> list[ApiToken]:
    """Every token, revoked ones included."""
    may_read(principal, ACCESS)
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def webhooks(session: Session, principal: Principal) -> list[Webhook]:
    """The registered webhooks; deleted ones are kept, inactive, for their deliveries' history."""
    may_read(principal, ACCESS)
    return list(session.scalars(select(Webhook).where(Webhook.active.is_(True)).order_by(Webhook.id)))
