"""Notifications."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting.access import NOTIFICATIONS, Principal, may_read, visible
from api.pagination import Page, paginate
from models import Notification


def notifications(
    session: Session,
    principal: Principal,
    *,
    agreement_id: int | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[Notification]:
    """A page of notifications, optionally of one agreement; a CUSTOMER's own agreements' only."""
    may_read(principal, NOTIFICATIONS)
    stmt = select(Notification).where(*visible(principal, Notification))
    if agreement_id is not None:
        stmt = stmt.where(Notification.agreement_id == agreement_id)
    return paginate(session, stmt, Notification, first=first, after=after)
