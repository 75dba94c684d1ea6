"""Invoices."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting.access import INVOICES, Principal, may_read, visible
from api.pagination import Page, paginate
from models import Invoice
from models.enums import InvoiceKind


def invoices(
    session: Session,
    principal: Principal,
    *,
    company_id: int | None = None,
    agreement_id: int | None = None,
    kind: InvoiceKind | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[Invoice]:
    """A page of invoices, optionally of one company, agreement or kind; a CUSTOMER's own only."""
    may_read(principal, INVOICES)
    stmt = select(Invoice).where(*visible(principal, Invoice))
    if company_id is not None:
        stmt = stmt.where(Invoice.company_id == company_id)
    if agreement_id is not None:
        stmt = stmt.where(Invoice.agreement_id == agreement_id)
    if kind is not None:
        stmt = stmt.where(Invoice.kind == kind)
    return paginate(session, stmt, Invoice, first=first, after=after)
