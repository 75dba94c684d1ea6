"""Time entries: coverage, FIFO draw-down, overruns and reversal (SPEC §2)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import ColumnDefault, ScalarSelect, Table, bindparam, exists, insert, select
from sqlalchemy.orm import Session, make_transient_to_detached

from accounting import clock, jobs
from accounting.agreements import load_agreement_type, overruns_allowed, rearm_alerts
from accounting.dates import check_entry_date
from accounting.errors import Conflict, InsufficientBalance, InvalidInput, NotFound
from accounting.lots import give_back, lock_agreement, open_lots, take_fifo
from accounting.money import ZERO, list_value, round_money
from accounting.validation import FREE_TEXT_LENGTH, check_amount, optional_text
from models import Agreement, AgreementType, Company, Lot, LotMovement, TimeEntry, WorkRole, WorkType
from models.agreement import agreement_type_excluded_work_role, agreement_type_excluded_work_type
from models.enums import AgreementStatus, ApplicationUnits, BillableOption, Coverage, MovementKind

MAX_HOURS = Decimal("10000")
_EXCLUDED_TYPES = agreement_type_excluded_work_type
_EXCLUDED_ROLES = agreement_type_excluded_work_role


def coverage_reason(
    agreement: Agreement,
    agreement_type: AgreementType,
    *,
    date: dt.date,
    work_type_id: int,
    work_role_id: int,
) -> Coverage:
    """COVERED if the agreement would cover this work on this date, else why not."""
    return _coverage(
        agreement,
        date=date,
        type_excluded=any(t.id == work_type_id for t in agreement_type.excluded_work_types),
        role_excluded=any(r.id == work_role_id for r in agreement_type.excluded_work_roles),
    )


def _coverage(agreement: Agreement, *, date: dt.date, type_excluded: bool, role_excluded: bool) -> Coverage:
    if agreement.status is not AgreementStatus.ACTIVE:
        return Coverage.AGREEMENT_NOT_ACTIVE
    if date < agreement.start_date or (agreement.end_date is not None and date > agreement.end_date):
        return Coverage.OUTSIDE_AGREEMENT_DATES
    if type_excluded:
        return Coverage.EXCLUDED_WORK_TYPE
    if role_excluded:
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


@dataclass(frozen=True)
class _Work:
    company_id: int
    work_type_id: int
    work_role_id: int
    date: dt.date

    def keys(self) -> dict[str, int]:
        return {
            "company_id": self.company_id,
            "work_type_id": self.work_type_id,
            "work_role_id": self.work_role_id,
        }


def _catalog() -> tuple[ScalarSelect[Any], ...]:
    """The company's id, the work type's multiplier and the role's hourly rate (None if missing)."""
    return (
        select(Company.id).where(Company.id == bindparam("company_id")).scalar_subquery(),
        select(WorkType.rate_multiplier).where(WorkType.id == bindparam("work_type_id")).scalar_subquery(),
        select(WorkRole.hourly_rate).where(WorkRole.id == bindparam("work_role_id")).scalar_subquery(),
    )


# Both statements are built once (with their cache keys): logTime is the hot write path.
_RATES = select(*_catalog())
# The agreement locked as lock_agreement locks it (its row only, not its type's), with its
# type, whether the type excludes the work type and role, and the rates.
_LOCK_NAMED = (
    select(
        Agreement,
        AgreementType,
        exists().where(
            _EXCLUDED_TYPES.c.agreement_type_id == Agreement.agreement_type_id,
            _EXCLUDED_TYPES.c.work_type_id == bindparam("work_type_id"),
        ),
        exists().where(
            _EXCLUDED_ROLES.c.agreement_type_id == Agreement.agreement_type_id,
            _EXCLUDED_ROLES.c.work_role_id == bindparam("work_role_id"),
        ),
        *_catalog(),
    )
    .join(AgreementType, AgreementType.id == Agreement.agreement_type_id)
    .where(Agreement.id == bindparam("agreement_id"))
    .with_for_update(of=Agreement)
    .execution_options(populate_existing=True)
)


def _lock_named_agreement(
    session: Session, agreement_id: int, work: _Work
) -> tuple[_Choice, tuple[Decimal, Decimal]]:
    """The agreement named by the entry, locked, with its type and the rates, in one
    statement (_LOCK_NAMED); returns the choice and (hourly rate, multiplier)."""
    row = session.execute(_LOCK_NAMED, {"agreement_id": agreement_id, **work.keys()}).first()
    if row is None:
        _rates(session, work)  # a missing company, work type or role is reported first
        raise NotFound("agreement", agreement_id)
    agreement, agreement_type, type_excluded, role_excluded, company, multiplier, rate = row
    rates = _checked(work, company, multiplier, rate)
    if agreement.company_id != work.company_id:
        raise InvalidInput(f"agreement {agreement_id} does not belong to company {work.company_id}")
    reason = _coverage(
        agreement, date=work.date, type_excluded=bool(type_excluded), role_excluded=bool(role_excluded)
    )
    return _Choice(agreement, agreement_type, reason), rates


def _rates(session: Session, work: _Work) -> tuple[Decimal, Decimal]:
    """The role's hourly rate and the work type's multiplier, checking that the company,
    type and role exist, in one statement."""
    return _checked(work, *session.execute(_RATES, work.keys()).one())


def _checked(work: _Work, company: int | None, multiplier: Any, hourly_rate: Any) -> tuple[Decimal, Decimal]:
    if company is None:
        raise NotFound("company", work.company_id)
    if multiplier is None:
        raise NotFound("work type", work.work_type_id)
    if hourly_rate is None:
        raise NotFound("work role", work.work_role_id)
    return hourly_rate, multiplier


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
    work = _Work(company_id, work_type_id, work_role_id, date)
    if agreement_id is not None:
        choice, (hourly_rate, multiplier) = _lock_named_agreement(session, agreement_id, work)
    else:
        hourly_rate, multiplier = _rates(session, work)
        choice = (
            _Choice(None, None, Coverage.NO_AGREEMENT)
            if billable_option is BillableOption.DO_NOT_BILL
            else _choose_agreement(
                session,
                company_id=company_id,
                date=date,
                work_type_id=work_type_id,
                work_role_id=work_role_id,
            )
        )
    agreement, agreement_type = choice.agreement, choice.agreement_type
    entry = TimeEntry(
        company_id=company_id,
        agreement_id=agreement.id if agreement is not None else None,
        hours=hours,
        billable_option=billable_option,
        notes=notes,
        internal_notes=internal_notes,
        value=list_value(hours, hourly_rate, multiplier),
        covered_value=ZERO,
        units_applied=ZERO,
        hours_billable=ZERO,
        amount_billable=ZERO,
        coverage=choice.reason,
        billed=False,
        reversed=False,
        work_type_id=work_type_id,
        work_role_id=work_role_id,
        date=date,
    )
    lots: list[Lot] = []
    if billable_option is BillableOption.DO_NOT_BILL:
        entry.coverage = Coverage.DO_NOT_BILL
    elif billable_option is BillableOption.NO_CHARGE:
        entry.coverage = Coverage.NO_CHARGE
    elif choice.reason is not Coverage.COVERED or agreement is None or agreement_type is None:
        entry.hours_billable, entry.amount_billable = hours, entry.value
    else:
        lots = _draw(session, entry, agreement, agreement_type, rate=hourly_rate * multiplier)
    return _record(session, entry, lots, agreement)


def _record(session: Session, draft: TimeEntry, lots: list[Lot], agreement: Agreement | None) -> TimeEntry:
    """Write the entry (complete before its one INSERT ... RETURNING, without the unit of
    work's flush: logTime is the hot write path, issue 15), then its draws from the lots
    and the balance evaluation's outbox row. Returns the entry as written."""
    entry = draft
    entry.id, entry.created_at = session.execute(_INSERT_ENTRY, _columns(entry)).one()
    make_transient_to_detached(entry)  # now as if loaded: nothing left to write, nothing expired
    session.add(entry)
    if entry.units_applied > 0:
        take_fifo(
            session,
            lots,
            entry.units_applied,
            kind=MovementKind.USAGE,
            date=entry.date,
            time_entry_id=entry.id,
        )
    if agreement is not None and entry.coverage in (Coverage.COVERED, Coverage.OVERRUN):
        overrun_entry = entry.id if entry.coverage is Coverage.OVERRUN else None
        arguments = {"agreement_id": agreement.id, "time_entry_id": overrun_entry}
        jobs.enqueue_many(session, jobs.EVALUATE_BALANCE, [arguments])
    return entry


_ENTRIES = cast(Table, TimeEntry.__table__)
_INSERT_ENTRY = insert(_ENTRIES).returning(_ENTRIES.c.id, _ENTRIES.c.created_at)


def _entry_starts() -> dict[str, Any]:
    """Every column but the two _INSERT_ENTRY returns, with what a column log_time leaves
    unset starts as: its default, else None (a default computed at insert time would have
    to be returned too)."""
    starts: dict[str, Any] = {}
    for column in _ENTRIES.columns:
        if column.key in ("id", "created_at"):
            continue
        default = column.default
        if default is not None and not (isinstance(default, ColumnDefault) and default.is_scalar):
            raise AssertionError(f"time_entry.{column.key}: return its computed default from _INSERT_ENTRY")
        starts[column.key] = default.arg if default is not None else None
    return starts


_ENTRY_STARTS = _entry_starts()


def _columns(draft: TimeEntry) -> dict[str, Any]:
    """Every column of the draft but its id and creation time. One log_time left unset is
    set on the draft too, so that reading it later does not select the entry again."""
    values = {}
    for key, start in _ENTRY_STARTS.items():
        if key not in draft.__dict__:
            setattr(draft, key, start)
        values[key] = draft.__dict__[key]
    return values


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
