"""Changing what was created: agreements, agreement types and companies (SPEC §10).

A field given as UNCHANGED is left as it is; None clears a field that may be empty
and is refused for one that may not. Each change is validated as at creation and
applies from then on: time already logged keeps its coverage and postings (they
were decided when it was logged), a new exclusion applies to time logged after it,
a new threshold re-evaluates the alerts, an endDate in the past stops coverage, and an
EXPIRED agreement whose endDate is moved on (or cleared) is ACTIVE again. The
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
from sqlalchemy.orm import Session

from accounting import clock, jobs
from accounting.agreements import load_agreement_type, rearm_alerts
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

    def set(self, name: str, attribute: str, new: object) -> None:
        """Give the row's attribute its new value, noting the change (for the audit)."""
        if self.note(name, getattr(self.row, attribute), new):
            setattr(self.row, attribute, new)


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


def _threshold(value: Decimal | None) -> Decimal | None:
    if value is not None:
        check_amount(value, "lowBalanceThreshold", allow_zero=True)
    return value


def _new_name(name: str | None) -> str:
    return require_text(_required(name, "name"), "name")


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
    once for re-arming, by the evaluation job for raising. EXPIRED only ever means
    "its endDate has passed" (expireBlocks): an endDate moved to today or later, or
    cleared, makes an EXPIRED agreement ACTIVE again (a renewed contract), audited as
    a change of status; a CANCELLED one stays cancelled.
    """
    agreement = lock_agreement(session, agreement_id)
    if agreement is None:
        raise NotFound("agreement", agreement_id)
    result = Changed(agreement)
    if name is not UNCHANGED:
        result.set("name", "name", _new_name(name))
    if end_date is not UNCHANGED:
        if end_date is not None and end_date < agreement.start_date:
            raise InvalidInput(f"endDate {end_date} is before startDate {agreement.start_date}")
        result.set("endDate", "end_date", end_date)
        if agreement.status is AgreementStatus.EXPIRED and (end_date is None or end_date >= clock.today()):
            result.set("status", "status", AgreementStatus.ACTIVE)
    if allow_overruns is not UNCHANGED:
        result.set("allowOverruns", "allow_overruns", allow_overruns)
    if low_balance_threshold is not UNCHANGED:
        result.set("lowBalanceThreshold", "low_balance_threshold", _threshold(low_balance_threshold))
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
    agreement_type = load_agreement_type(session, agreement_type_id)
    result = Changed(agreement_type)
    if name is not UNCHANGED:
        result.set("name", "name", _unique_type_name(session, _new_name(name), agreement_type.id))
    if allow_overruns is not UNCHANGED:
        result.set("allowOverruns", "allow_overruns", _required(allow_overruns, "allowOverruns"))
    if expire_after_months is not UNCHANGED:
        if expire_after_months is not None and not 0 < expire_after_months <= 1200:
            raise InvalidInput("expireAfterMonths must be between 1 and 1200")
        result.set("expireAfterMonths", "expire_after_months", expire_after_months)
    if low_balance_threshold is not UNCHANGED:
        result.set("lowBalanceThreshold", "low_balance_threshold", _threshold(low_balance_threshold))
    if low_balance_percent is not UNCHANGED:
        if low_balance_percent is not None:
            check_amount(low_balance_percent, "lowBalancePercent", allow_zero=True, maximum=HUNDRED)
        result.set("lowBalancePercent", "low_balance_percent", low_balance_percent)
    if excluded_work_type_ids is not UNCHANGED:
        _exclude(session, result, "excludedWorkTypeIds", WorkType, excluded_work_type_ids)
    if excluded_work_role_ids is not UNCHANGED:
        _exclude(session, result, "excludedWorkRoleIds", WorkRole, excluded_work_role_ids)
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


def _unique_type_name(session: Session, name: str, agreement_type_id: int) -> str:
    taken = session.scalar(
        select(AgreementType.id).where(AgreementType.name == name, AgreementType.id != agreement_type_id)
    )
    if taken is not None:
        raise Conflict(f"an agreement type named {name} exists")
    return name


# Which relation of AgreementType holds each kind of exclusion, and its name in errors.
_EXCLUSIONS: dict[type[WorkType | WorkRole], tuple[str, str]] = {
    WorkType: ("excluded_work_types", "work type"),
    WorkRole: ("excluded_work_roles", "work role"),
}


def _exclude(
    session: Session,
    result: Changed[AgreementType],
    name: str,
    model: type[WorkType | WorkRole],
    ids: Sequence[int] | None,
) -> None:
    """Replace the type's excluded work types (or roles); null clears them."""
    attribute, kind = _EXCLUSIONS[model]
    rows = [get(session, model, i, kind=kind) for i in sorted(set(ids or ()))]
    old_ids = [row.id for row in getattr(result.row, attribute)]
    if result.note(name, old_ids, [row.id for row in rows]):
        setattr(result.row, attribute, rows)


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
        result.set("name", "name", _new_name(name))
    if billing_email is not UNCHANGED:
        email = None if billing_email is None else check_email(billing_email, "billingEmail")
        result.set("billingEmail", "billing_email", email)
    session.flush()
    return result
