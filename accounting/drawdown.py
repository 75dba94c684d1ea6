"""Time entries: coverage, FIFO draw-down, overruns and reversal (SPEC §2)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting import clock, jobs
from accounting.agreements import load_agreement_type, overruns_allowed, rearm_alerts
from accounting.dates import check_entry_date
from accounting.errors import Conflict, InsufficientBalance, InvalidInput, NotFound
from accounting.lots import give_back, lock_agreement, open_lots, take_fifo
from accounting.money import ZERO, list_value, round_money
from accounting.validation import FREE_TEXT_LENGTH, check_amount, optional_text
from models import Agreement, AgreementType, Company, Lot, LotMovement, TimeEntry, WorkRole, WorkType
from models.enums import AgreementStatus, ApplicationUnits, BillableOption, Coverage, MovementKind

MAX_HOURS = Decimal("10000")


def coverage_reason(
    agreement: Agreement,
    agreement_type: AgreementType,
    *,
    date: dt.date,
    work_type_id: int,
    work_role_id: int,
) -> Coverage:
    """COVERED if the agreement would cover this work on this date, else why not."""
    if agreement.status is not AgreementStatus.ACTIVE:
        return Coverage.AGREEMENT_NOT_ACTIVE
    if date < agreement.start_date or (agreement.end_date is not None and date > agreement.end_date):
        return Coverage.OUTSIDE_AGREEMENT_DATES
    if any(t.id == work_type_id for t in agreement_type.excluded_work_types):
        return Coverage.EXCLUDED_WORK_TYPE
    if any(r.id == work_role_id for r in agreement_type.excluded_work_roles):
        return Coverage.EXCLUDED_WORK_ROLE
    return Coverage.COVERED


@dataclass(frozen=True)
class _Choice:
    agreement: Agreement | None
    agreement_type: AgreementType | None
    reason: Coverage


def _choose_agreement(
    session: Session, *, company_id: int, date: dt.date, work_type_id: int, work_role_id: int
) -> _Choice:
    """The agreement an entry without agreementId goes to (SPEC §8).

    The oldest ACTIVE agreement of the company that covers the entry (dates,
    exclusions) and has units in effect on its date; if none has, the oldest
    covering one, whose overrun rule then applies (billed as overrun, or refused).
    With no covering agreement the reason given is the oldest active agreement's
    (an excluded work type, outside its dates, ...), or NO_AGREEMENT.
    """
    candidates = session.scalars(
        select(Agreement)
        .where(Agreement.company_id == company_id, Agreement.status == AgreementStatus.ACTIVE)
        .order_by(Agreement.start_date, Agreement.id)
    ).all()
    first_reason: Coverage | None = None
    first_covering: _Choice | None = None
    for candidate in candidates:
        agreement_type = load_agreement_type(session, candidate.agreement_type_id)
        reason = coverage_reason(
            candidate, agreement_type, date=date, work_type_id=work_type_id, work_role_id=work_role_id
        )
        if reason is Coverage.COVERED:
            locked = lock_agreement(session, candidate.id) or candidate
            choice = _Choice(locked, agreement_type, Coverage.COVERED)
            if any(open_lots(session, candidate.id, on=date)):
                return choice
            first_covering = first_covering or choice
        first_reason = first_reason or reason
    return first_covering or _Choice(None, None, first_reason or Coverage.NO_AGREEMENT)


def log_time(
    session: Session,
    *,
    company_id: int,
    work_type_id: int,
    work_role_id: int,
    date: dt.date,
    hours: Decimal,
    agreement_id: int | None = None,
    billable_option: BillableOption = BillableOption.BILLABLE,
    notes: str | None = None,
    internal_notes: str | None = None,
) -> TimeEntry:
    """Record time and draw covered time from the agreement's lots in effect on its
    date, oldest first (SPEC §2, §8); the date must lie in today - 2 years .. today + 1 day.

    Covered time draws hours (HOURS) or its list value (AMOUNT). Past the balance,
    with overruns allowed the rest is billed at list value (and an OVERRUN raised);
    without, INSUFFICIENT_BALANCE and nothing changes.
    """
    check_amount(hours, "hours", maximum=MAX_HOURS)
    check_entry_date(date, field="date")
    notes = optional_text(notes, "notes", max_length=FREE_TEXT_LENGTH, free_text=True)
    internal_notes = optional_text(
        internal_notes, "internalNotes", max_length=FREE_TEXT_LENGTH, free_text=True
    )
    # The company, the work type's multiplier and the role's rate in one statement.
    found_company, multiplier, hourly_rate = session.execute(
        select(
            select(Company.id).where(Company.id == company_id).scalar_subquery(),
            select(WorkType.rate_multiplier).where(WorkType.id == work_type_id).scalar_subquery(),
            select(WorkRole.hourly_rate).where(WorkRole.id == work_role_id).scalar_subquery(),
        )
    ).one()
    if found_company is None:
        raise NotFound("company", company_id)
    if multiplier is None:
        raise NotFound("work type", work_type_id)
    if hourly_rate is None:
        raise NotFound("work role", work_role_id)
    value = list_value(hours, hourly_rate, multiplier)

    agreement: Agreement | None = None
    agreement_type: AgreementType | None = None
    if agreement_id is not None:
        agreement = lock_agreement(session, agreement_id)
        if agreement is None:
            raise NotFound("agreement", agreement_id)
        if agreement.company_id != company_id:
            raise InvalidInput(f"agreement {agreement_id} does not belong to company {company_id}")
        agreement_type = load_agreement_type(session, agreement.agreement_type_id)
        reason = coverage_reason(
            agreement, agreement_type, date=date, work_type_id=work_type_id, work_role_id=work_role_id
        )
    elif billable_option is BillableOption.DO_NOT_BILL:
        reason = Coverage.NO_AGREEMENT
    else:
        choice = _choose_agreement(
            session, company_id=company_id, date=date, work_type_id=work_type_id, work_role_id=work_role_id
        )
        agreement, agreement_type, reason = choice.agreement, choice.agreement_type, choice.reason

    entry = TimeEntry(
        company_id=company_id,
        agreement_id=agreement.id if agreement is not None else None,
        work_type_id=work_type_id,
        work_role_id=work_role_id,
        date=date,
        hours=hours,
        billable_option=billable_option,
        notes=notes,
        internal_notes=internal_notes,
        value=value,
        covered_value=ZERO,
        units_applied=ZERO,
        hours_billable=ZERO,
        amount_billable=ZERO,
        coverage=reason,
        billed=False,
        reversed=False,
    )
    lots: list[Lot] = []
    if billable_option is BillableOption.DO_NOT_BILL:
        entry.coverage = Coverage.DO_NOT_BILL
    elif billable_option is BillableOption.NO_CHARGE:
        entry.coverage = Coverage.NO_CHARGE
    elif reason is not Coverage.COVERED or agreement is None or agreement_type is None:
        entry.hours_billable, entry.amount_billable = hours, value
    else:
        lots = _draw(session, entry, agreement, agreement_type, rate=hourly_rate * multiplier)

    # The entry is complete before its one INSERT (... RETURNING id); its draws follow.
    session.add(entry)
    session.flush()
    if entry.units_applied > 0:
        take_fifo(
            session,
            lots,
            entry.units_applied,
            kind=MovementKind.USAGE,
            date=entry.date,
            time_entry_id=entry.id,
        )
        session.flush()
    if agreement is not None and entry.coverage in (Coverage.COVERED, Coverage.OVERRUN):
        overrun_entry = entry.id if entry.coverage is Coverage.OVERRUN else None
        jobs.enqueue(session, jobs.EVALUATE_BALANCE, agreement_id=agreement.id, time_entry_id=overrun_entry)
    return entry


def _draw(
    session: Session, entry: TimeEntry, agreement: Agreement, agreement_type: AgreementType, *, rate: Decimal
) -> list[Lot]:
    """Settle the entry's coverage against the lots in effect; returns them for take_fifo,
    which the caller runs once the entry has its id (entry.units_applied units)."""
    by_amount = agreement_type.application_units is ApplicationUnits.AMOUNT
    needed = entry.value if by_amount else entry.hours
    lots = open_lots(session, agreement.id, on=entry.date)
    available = sum((lot.units_remaining for lot in lots), ZERO)
    drawn = min(needed, available)
    if drawn < needed and not overruns_allowed(agreement, agreement_type):
        unit = "" if by_amount else " h"
        raise InsufficientBalance(
            f"agreement {agreement.id} has {available}{unit} left; this entry needs {needed}{unit} "
            "and the agreement does not allow overruns"
        )
    entry.units_applied = drawn
    if by_amount:
        entry.covered_value = drawn
        entry.amount_billable = entry.value - drawn
        entry.hours_billable = (
            round_money(entry.hours * entry.amount_billable / entry.value)
            if entry.value > 0
            else entry.hours - drawn
        )
    else:
        entry.covered_value = round_money(drawn * rate) if drawn < entry.hours else entry.value
        entry.amount_billable = entry.value - entry.covered_value
        entry.hours_billable = entry.hours - drawn
    if drawn < needed:
        entry.coverage = Coverage.OVERRUN
    return lots


def reverse_time_entry(session: Session, *, time_entry_id: int, today: dt.date | None = None) -> TimeEntry:
    """Give the units back to the very lots they came from; the reversal is an event
    posted by the next batch. Nothing posted is edited."""
    entry = session.get(TimeEntry, time_entry_id)
    if entry is None:
        raise NotFound("time entry", time_entry_id)
    agreement = lock_agreement(session, entry.agreement_id) if entry.agreement_id is not None else None
    session.refresh(entry, with_for_update=True)
    if entry.reversed:
        raise Conflict(f"time entry {time_entry_id} is already reversed")
    day = today or clock.today()
    usage = session.scalars(
        select(LotMovement)
        .where(LotMovement.time_entry_id == entry.id, LotMovement.kind == MovementKind.USAGE)
        .order_by(LotMovement.id)
    ).all()
    for movement in usage:
        give_back(session, movement, date=day)
    entry.reversed = True
    entry.reversed_on = day
    session.flush()
    if agreement is not None and usage:
        rearm_alerts(session, agreement)
        jobs.enqueue(session, jobs.EVALUATE_BALANCE, agreement_id=agreement.id)
    return entry
