"""Companies, work roles and work types: what time is valued with (SPEC §1)."""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting.errors import Conflict, InvalidInput
from accounting.validation import check_amount, check_email, clean_text, require_text
from models import Company, WorkRole, WorkType

_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", re.ASCII)


def create_company(
    session: Session, *, identifier: str, name: str, billing_email: str | None = None
) -> Company:
    identifier = clean_text(identifier, "identifier", max_length=64)
    if not _IDENTIFIER.match(identifier):
        raise InvalidInput("identifier must be 1-64 letters, digits, '.', '_' or '-'")
    if billing_email is not None:
        billing_email = check_email(billing_email, "billingEmail")
    if session.scalar(select(Company.id).where(Company.identifier == identifier)) is not None:
        raise Conflict(f"a company with identifier {identifier} exists")
    company = Company(identifier=identifier, name=require_text(name, "name"), billing_email=billing_email)
    session.add(company)
    session.flush()
    return company


def create_work_role(session: Session, *, name: str, hourly_rate: Decimal) -> WorkRole:
    name = require_text(name, "name")
    check_amount(hourly_rate, "hourlyRate", allow_zero=True)
    if session.scalar(select(WorkRole.id).where(WorkRole.name == name)) is not None:
        raise Conflict(f"a work role named {name} exists")
    role = WorkRole(name=name, hourly_rate=hourly_rate)
    session.add(role)
    session.flush()
    return role


def create_work_type(session: Session, *, name: str, rate_multiplier: Decimal | None = None) -> WorkType:
    name = require_text(name, "name")
    multiplier = Decimal("1.00") if rate_multiplier is None else rate_multiplier
    check_amount(multiplier, "rateMultiplier", allow_zero=True, places=4, maximum=Decimal(100))
    if session.scalar(select(WorkType.id).where(WorkType.name == name)) is not None:
        raise Conflict(f"a work type named {name} exists")
    work_type = WorkType(name=name, rate_multiplier=multiplier)
    session.add(work_type)
    session.flush()
    return work_type
