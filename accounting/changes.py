"""Changing what was created: agreements, agreement types and companies (SPEC §10).

A field given as UNCHANGED is left as it is; None clears a field that may be empty
and is refused for one that may not. Each change is validated as at creation and
applies from then on: time already logged keeps its coverage and postings (they
were decided when it was logged), a new exclusion applies to time logged after it,
a new threshold re-evaluates the alerts, an endDate in the past stops coverage. The
caller audits the returned changes (old and new value of each field that changed).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Generic, Literal, TypeAlias, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from accounting import jobs
from accounting.agreements import rearm_alerts
from accounting.errors import Conflict, InvalidInput, NotFound
from accounting.lots import lock_agreement
from accounting.money import HUNDRED
from accounting.records import get
from accounting.validation import check_amount, check_email, check_emails, require_text
from models import Agreement, AgreementType, Company, WorkRole, WorkType
from models.enums import AgreementStatus


class Unchanged(enum.Enum):
    """A field left out of an update (strawberry's UNSET, translated by api/)."""

    UNCHANGED = "UNCHANGED"


UNCHANGED = Unchanged.UNCHANGED
T = TypeVar("T")
M = TypeVar("M")
Update: TypeAlias = T | Literal[Unchanged.UNCHANGED]


@dataclass
class Changed(Generic[M]):
    """The updated row and, per field that changed, its old and new value (for the audit trail)."""

    row: M
    changes: dict[str, dict[str, object]] = field(default_factory=dict)

    def note(self, name: str, old: object, new: object) -> bool:
        if old == new:
            return False
        self.changes[name] = {"old": _plain(old), "new": _plain(new)}
        return True


def _plain(value: object) -> object:
    """JSON-friendly: decimals and dates as strings, lists as lists."""
    if isinstance(value, Decimal | dt.date):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _required(value: T | None, name: str) -> T:
    if value is None:
        raise InvalidInput(f"{name} cannot be cleared")
    return value


# --- agreements -------------------------------------------------------------------------


def update_agreement(
    session: Session,
    *,
    agreement_id: int,
    name: Update[str | None] = UNCHANGED,
    end_date: Update[dt.date | None] = UNCHANGED,
    allow_overruns: Update[bool | None] = UNCHANGED,
    low_balance_threshold: Update[Decimal | None] = UNCHANGED,
    notify_emails: Update[Sequence[str] | None] = UNCHANGED,
) -> Changed[Agreement]:
    """Change an agreement from now on (SPEC §10).

    null clears endDate (no end), allowOverruns and lowBalanceThreshold (the type
    decides) and notifyEmails. A new threshold or endDate re-evaluates the alerts: at
    once for re-arming, by the evaluation job for raising.
    """
    agreement = lock_agreement(session, agreement_id)
    if agreement is None:
        raise NotFound("agreement", agreement_id)
    result = Changed(agreement)
    if name is not UNCHANGED:
        new_name = require_text(_required(name, "name"), "name")
        if result.note("name", agreement.name, new_name):
            agreement.name = new_name
    if end_date is not UNCHANGED:
        if end_date is not None and end_date < agreement.start_date:
            raise InvalidInput(f"endDate {end_date} is before startDate {agreement.start_date}")
        if result.note("endDate", agreement.end_date, end_date):
            agreement.end_date = end_date
    if allow_overruns is not UNCHANGED and result.note(
        "allowOverruns", agreement.allow_overruns, allow_overruns
    ):
        agreement.allow_overruns = allow_overruns
    if low_balance_threshold is not UNCHANGED:
        if low_balance_threshold is not None:
            check_amount(low_balance_threshold, "lowBalanceThreshold", allow_zero=True)
        if result.note("lowBalanceThreshold", agreement.low_balance_threshold, low_balance_threshold):
            agreement.low_balance_threshold = low_balance_threshold
    if notify_emails is not UNCHANGED:
        emails = check_emails(list(notify_emails or ()), "notifyEmails")
        if result.note("notifyEmails", list(agreement.notify_emails), emails):
            agreement.notify_emails = emails
    session.flush()
    if {"lowBalanceThreshold", "endDate"} & result.changes.keys():
        rearm_alerts(session, agreement)
        jobs.enqueue(session, jobs.EVALUATE_BALANCE, agreement_id=agreement.id)
    return result


# --- agreement types --------------------------------------------------------------------


def update_agreement_type(
    session: Session,
    *,
    agreement_type_id: int,
    name: Update[str | None] = UNCHANGED,
    allow_overruns: Update[bool | None] = UNCHANGED,
    expire_after_months: Update[int | None] = UNCHANGED,
    low_balance_threshold: Update[Decimal | None] = UNCHANGED,
    low_balance_percent: Update[Decimal | None] = UNCHANGED,
    excluded_work_type_ids: Update[Sequence[int] | None] = UNCHANGED,
    excluded_work_role_ids: Update[Sequence[int] | None] = UNCHANGED,
) -> Changed[AgreementType]:
    """Change a type from now on (SPEC §10).

    Exclusions apply to time logged after the change; expireAfterMonths to blocks
    bought after it (a block's expiry was fixed when it was bought); new thresholds
    re-evaluate the alerts of every ACTIVE agreement of the type. null clears
    expireAfterMonths, the thresholds and the exclusions.
    """
    agreement_type = session.scalars(
        select(AgreementType)
        .where(AgreementType.id == agreement_type_id)
        .options(
            selectinload(AgreementType.excluded_work_types), selectinload(AgreementType.excluded_work_roles)
        )
    ).first()
    if agreement_type is None:
        raise NotFound("agreement type", agreement_type_id)
    result = Changed(agreement_type)
    if name is not UNCHANGED:
        new_name = require_text(_required(name, "name"), "name")
        taken = session.scalar(
            select(AgreementType.id).where(
                AgreementType.name == new_name, AgreementType.id != agreement_type.id
            )
        )
        if taken is not None:
            raise Conflict(f"an agreement type named {new_name} exists")
        if result.note("name", agreement_type.name, new_name):
            agreement_type.name = new_name
    if allow_overruns is not UNCHANGED:
        overruns = _required(allow_overruns, "allowOverruns")
        if result.note("allowOverruns", agreement_type.allow_overruns, overruns):
            agreement_type.allow_overruns = overruns
    if expire_after_months is not UNCHANGED:
        if expire_after_months is not None and not 0 < expire_after_months <= 1200:
            raise InvalidInput("expireAfterMonths must be between 1 and 1200")
        if result.note("expireAfterMonths", agreement_type.expire_after_months, expire_after_months):
            agreement_type.expire_after_months = expire_after_months
    if low_balance_threshold is not UNCHANGED:
        if low_balance_threshold is not None:
            check_amount(low_balance_threshold, "lowBalanceThreshold", allow_zero=True)
        if result.note("lowBalanceThreshold", agreement_type.low_balance_threshold, low_balance_threshold):
            agreement_type.low_balance_threshold = low_balance_threshold
    if low_balance_percent is not UNCHANGED:
        if low_balance_percent is not None:
            check_amount(low_balance_percent, "lowBalancePercent", allow_zero=True, maximum=HUNDRED)
        if result.note("lowBalancePercent", agreement_type.low_balance_percent, low_balance_percent):
            agreement_type.low_balance_percent = low_balance_percent
    if excluded_work_type_ids is not UNCHANGED:
        work_types = [
            get(session, WorkType, i, kind="work type") for i in sorted(set(excluded_work_type_ids or ()))
        ]
        old_ids = [w.id for w in agreement_type.excluded_work_types]
        if result.note("excludedWorkTypeIds", old_ids, [w.id for w in work_types]):
            agreement_type.excluded_work_types = work_types
    if excluded_work_role_ids is not UNCHANGED:
        work_roles = [
            get(session, WorkRole, i, kind="work role") for i in sorted(set(excluded_work_role_ids or ()))
        ]
        old_ids = [r.id for r in agreement_type.excluded_work_roles]
        if result.note("excludedWorkRoleIds", old_ids, [r.id for r in work_roles]):
            agreement_type.excluded_work_roles = work_roles
    session.flush()
    if {"lowBalanceThreshold", "lowBalancePercent"} & result.changes.keys():
        # Each evaluation locks its agreement, re-arms or raises: one job per agreement.
        for agreement_id in session.scalars(
            select(Agreement.id).where(
                Agreement.agreement_type_id == agreement_type.id, Agreement.status == AgreementStatus.ACTIVE
            )
        ):
            jobs.enqueue(session, jobs.EVALUATE_BALANCE, agreement_id=agreement_id)
    return result


# --- companies --------------------------------------------------------------------------


def update_company(
    session: Session,
    *,
    company_id: int,
    name: Update[str | None] = UNCHANGED,
    billing_email: Update[str | None] = UNCHANGED,
) -> Changed[Company]:
    """Rename a company or change its billing e-mail (null: no e-mail); notifications
    raised from then on go to the new address (SPEC §10)."""
    company = session.get(Company, company_id)
    if company is None:
        raise NotFound("company", company_id)
    result = Changed(company)
    if name is not UNCHANGED:
        new_name = require_text(_required(name, "name"), "name")
        if result.note("name", company.name, new_name):
            company.name = new_name
    if billing_email is not UNCHANGED:
        email = None if billing_email is None else check_email(billing_email, "billingEmail")
        if result.note("billingEmail", company.billing_email, email):
            company.billing_email = email
    session.flush()
    return result
