"""Companies, work types and work roles."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting.access import CATALOG, COMPANIES, Principal, may_read, visible, visible_row
from models import Company, WorkRole, WorkType


def companies(session: Session, principal: Principal) -> list[Company]:
    """Every company by identifier; a CUSTOMER's own only."""
    may_read(principal, COMPANIES)
    stmt = select(Company).where(*visible(principal, Company)).order_by(Company.identifier)
    return list(session.scalars(stmt))


def company(session: Session, principal: Principal, company_id: int) -> Company:
    """A CUSTOMER's lookup of another company is NOT_FOUND, exactly like a missing one."""
    may_read(principal, COMPANIES)
    return visible_row(session, principal, Company, company_id, kind="company")


def work_types(session: Session, principal: Principal) -> list[WorkType]:
    may_read(principal, CATALOG)
    return list(session.scalars(select(WorkType).order_by(WorkType.name)))


def work_roles(session: Session, principal: Principal) -> list[WorkRole]:
    may_read(principal, CATALOG)
    return list(session.scalars(select(WorkRole).order_by(WorkRole.name)))
