"""Keyword-only factories that build scenarios through the real accounting rules."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting import agreements, catalog, drawdown, jobs, mappings, notifications
from models import Agreement, AgreementType, GLAccount, OutboxJob, TimeEntry, WorkRole, WorkType
from models.enums import AccountType, ApplicationUnits, JobStatus, MappingKind

D = Decimal


@dataclass
class Books:
    ar: GLAccount
    deferred: GLAccount
    revenue: GLAccount
    breakage: GLAccount


def chart_of_accounts(session: Session, *, map_agreement_type_default: bool = True) -> Books:
    """Accounts 1100 AR, 2400 Deferred Revenue, 4000 Service Revenue, 4200 Breakage (SPEC §4)."""
    books = Books(
        ar=mappings.create_gl_account(
            session, code="1100", name="Accounts Receivable", type=AccountType.ASSET
        ),
        deferred=mappings.create_gl_account(
            session, code="2400", name="Deferred Revenue", type=AccountType.LIABILITY
        ),
        revenue=mappings.create_gl_account(
            session, code="4000", name="Service Revenue", type=AccountType.REVENUE
        ),
        breakage=mappings.create_gl_account(session, code="4200", name="Breakage", type=AccountType.REVENUE),
    )
    mappings.set_gl_mapping(session, kind=MappingKind.ACCOUNTS_RECEIVABLE, account_id=books.ar.id)
    mappings.set_gl_mapping(session, kind=MappingKind.SERVICE_REVENUE, account_id=books.revenue.id)
    mappings.set_gl_mapping(session, kind=MappingKind.BREAKAGE, account_id=books.breakage.id)
    if map_agreement_type_default:
        mappings.set_gl_mapping(session, kind=MappingKind.AGREEMENT_TYPE, account_id=books.deferred.id)
    return books


@dataclass
class Rates:
    engineer: WorkRole
    remote: WorkType
    after_hours: WorkType


def rates(session: Session) -> Rates:
    return Rates(
        engineer=catalog.create_work_role(session, name="Engineer", hourly_rate=D("150.00")),
        remote=catalog.create_work_type(session, name="Remote", rate_multiplier=D("1.0")),
        after_hours=catalog.create_work_type(session, name="After Hours", rate_multiplier=D("1.5")),
    )


def block_time_type(
    session: Session,
    *,
    rates: Rates,
    name: str = "Block Time",
    units: ApplicationUnits = ApplicationUnits.HOURS,
    reverse_revenue: bool = True,
    allow_overruns: bool = False,
    threshold: Decimal | None = Decimal("2"),
    expire_after_months: int | None = None,
    exclude_after_hours: bool = True,
) -> AgreementType:
    return agreements.create_agreement_type(
        session,
        name=name,
        application_units=units,
        prepaid=True,
        reverse_revenue_when_applied=reverse_revenue,
        allow_overruns=allow_overruns,
        expire_after_months=expire_after_months,
        low_balance_threshold=threshold,
        excluded_work_type_ids=[rates.after_hours.id] if exclude_after_hours else [],
    )


def agreement(
    session: Session,
    *,
    agreement_type: AgreementType,
    identifier: str = "ACME",
    start: dt.date = dt.date(2026, 1, 1),
    end: dt.date | None = None,
    billing_email: str | None = "billing@acme.example",
    allow_overruns: bool | None = None,
) -> Agreement:
    company = catalog.create_company(
        session, identifier=identifier, name=f"{identifier} Inc.", billing_email=billing_email
    )
    return agreements.create_agreement(
        session,
        company_id=company.id,
        agreement_type_id=agreement_type.id,
        name=f"{identifier} block time",
        start_date=start,
        end_date=end,
        allow_overruns=allow_overruns,
    )


def run_evaluations(session: Session) -> list[str]:
    """Run the pending notifications.evaluate jobs inline; returns the kinds raised."""
    raised: list[str] = []
    pending = session.scalars(
        select(OutboxJob)
        .where(OutboxJob.actor == jobs.EVALUATE_BALANCE, OutboxJob.status == JobStatus.PENDING)
        .order_by(OutboxJob.id)
    ).all()
    for job in pending:
        args = json.loads(job.args)
        for n in notifications.evaluate_balance(session, today=dt.date(2026, 1, 1), **args):
            raised.append(n.kind.value)
        job.status = JobStatus.DONE
    session.flush()
    return raised


def log_time(
    session: Session,
    *,
    agreement: Agreement,
    rates: Rates,
    date: dt.date,
    hours: str | Decimal,
    work_type: WorkType | None = None,
    role: WorkRole | None = None,
    **options: Any,
) -> TimeEntry:
    """Time logged on an agreement through the real rule (`drawdown.log_time`): remote
    work by the engineer unless said otherwise; `options` are the rule's own keywords
    (billable_option, notes, ...)."""
    return drawdown.log_time(
        session,
        company_id=agreement.company_id,
        agreement_id=agreement.id,
        work_type_id=(work_type or rates.remote).id,
        work_role_id=(role or rates.engineer).id,
        date=date,
        hours=Decimal(hours),
        **options,
    )
