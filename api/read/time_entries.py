"""Time entries."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting.access import TIME, Principal, may_read, visible
from api.pagination import Page, paginate
from models import TimeEntry


def time_entries(
    session: Session,
    principal: Principal,
    *,
    company_id: int | None = None,
    agreement_id: int | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[TimeEntry]:
    """A page of time entries; a CUSTOMER's own company's, without DO_NOT_BILL ones (accounting.access)."""
    may_read(principal, TIME)
    stmt = select(TimeEntry).where(*visible(principal, TimeEntry))
    if company_id is not None:
        stmt = stmt.where(TimeEntry.company_id == company_id)
    if agreement_id is not None:
        stmt = stmt.where(TimeEntry.agreement_id == agreement_id)
    return paginate(session, stmt, TimeEntry, first=first, after=after)
