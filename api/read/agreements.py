"""Agreement types, agreements and an agreement's statement."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting import statements
from accounting.access import AGREEMENTS, CATALOG, Principal, may_read, own_company, visible, visible_row
from accounting.errors import NotFound
from api.pagination import Page, paginate
from models import Agreement, AgreementType
from models.enums import AgreementStatus


def agreement_types(session: Session, principal: Principal) -> list[AgreementType]:
    may_read(principal, CATALOG)
    return list(session.scalars(select(AgreementType).order_by(AgreementType.name)))


def agreements(
    session: Session,
    principal: Principal,
    *,
    company_id: int | None = None,
    status: AgreementStatus | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[Agreement]:
    """A page of agreements, optionally of one company or status; a CUSTOMER's own only."""
    may_read(principal, AGREEMENTS)
    stmt = select(Agreement).where(*visible(principal, Agreement))
    if company_id is not None:
        stmt = stmt.where(Agreement.company_id == company_id)
    if status is not None:
        stmt = stmt.where(Agreement.status == status)
    return paginate(session, stmt, Agreement, first=first, after=after)


def agreement(session: Session, principal: Principal, agreement_id: int) -> Agreement:
    """Another customer's agreement is NOT_FOUND, exactly like a missing one."""
    may_read(principal, AGREEMENTS)
    return visible_row(session, principal, Agreement, agreement_id, kind="agreement")


def agreement_statement(
    session: Session, principal: Principal, agreement: Agreement, *, start: dt.date, end: dt.date
) -> statements.Statement:
    """An agreement's statement (SPEC §8): whoever reads the agreement, a CUSTOMER its own."""
    may_read(principal, AGREEMENTS)
    if own_company(principal) not in (None, agreement.company_id):
        raise NotFound("agreement", agreement.id)
    return statements.statement(session, agreement=agreement, start=start, end=end)
