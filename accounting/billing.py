"""The billing run: $0.00 usage invoices and STANDARD invoices (SPEC §3)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import groupby
from operator import attrgetter
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Row,
    Table,
    and_,
    case,
    false,
    insert,
    not_,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from accounting import clock, jobs
from accounting.agreements import invoice_numbers
from accounting.dates import check_not_after_today
from accounting.errors import Conflict
from accounting.money import ZERO, round_money
from accounting.periods import posting_date_of
from accounting.records import chunks, lock_counter
from models import Invoice, InvoiceLine, OutboxJob, TimeEntry, WorkRole, WorkType, utcnow
from models.enums import BillableOption, InvoiceKind

COVERED_LINE = "Covered by agreement"


# The columns a billing run reads: plain rows, not ORM objects, a slice of agreements
# (or companies) at a time. A month end holds a million entries; as entities, or even
# all at once as rows, they took the worker past 500 MB (bench B3).
_UNBILLED_COLUMNS = (
    TimeEntry.id,
    TimeEntry.company_id,
    TimeEntry.agreement_id,
    TimeEntry.work_type_id,
    TimeEntry.work_role_id,
    TimeEntry.date,
    TimeEntry.hours,
    TimeEntry.billable_option,
    TimeEntry.notes,
    TimeEntry.covered_value,
    TimeEntry.units_applied,
    TimeEntry.hours_billable,
    TimeEntry.amount_billable,
)
# A row of those columns.
Unbilled = Row[*tuple[Any, ...]]
# Agreements (or companies) are invoiced in slices of about this many entries, each slice
# read, invoiced and marked before the next is read, so the run's memory stays flat.
_ENTRIES_PER_SLICE = 5000
# Entries marked billed per UPDATE (its IN list), and lines per INSERT.
_IDS_PER_UPDATE = 5000
# Lines through Core: a single executemany. The ORM's bulk insert split them into one
# statement per invoice (the "Covered by agreement" line has no time entry).
_INSERT_LINES = insert(cast(Table, InvoiceLine.__table__))


def _usage_time() -> ColumnElement[bool]:
    """Time on an AGREEMENT_USAGE invoice: drawn from an agreement, or no charge on one."""
    return and_(
        TimeEntry.agreement_id.is_not(None),
        TimeEntry.billable_option != BillableOption.DO_NOT_BILL,
        or_(TimeEntry.units_applied > 0, TimeEntry.billable_option == BillableOption.NO_CHARGE),
    )


def _standard_time() -> ColumnElement[bool]:
    """Time on a STANDARD invoice: an amount the agreements did not cover."""
    return and_(TimeEntry.billable_option != BillableOption.DO_NOT_BILL, TimeEntry.amount_billable > 0)


@dataclass
class _Run:
    """What every slice of one billing run shares."""

    session: Session
    date: dt.date
    roles: dict[int, WorkRole]
    types: dict[int, WorkType]
    rates: dict[tuple[int, int], Decimal] = field(default_factory=dict)
    invoices: list[Invoice] = field(default_factory=list)

    def describe(self, entry: Unbilled) -> str:
        role, kind = self.roles[entry.work_role_id], self.types[entry.work_type_id]
        text = f"{entry.date.isoformat()} {role.name}, {kind.name}"
        if entry.billable_option is BillableOption.NO_CHARGE:
            text += " (no charge)"
        return f"{text}: {entry.notes}" if entry.notes else text

    def rate(self, entry: Unbilled) -> Decimal:
        key = (entry.work_role_id, entry.work_type_id)
        if key not in self.rates:
            multiplier = self.types[entry.work_type_id].rate_multiplier
            self.rates[key] = round_money(self.roles[entry.work_role_id].hourly_rate * multiplier)
        return self.rates[key]


def request_billing_run(session: Session, *, through_date: dt.date | None = None) -> OutboxJob:
    """Enqueue a billing run through `through_date` (default today), which may not be
    after today (SPEC §8): checked here, before anything is enqueued."""
    day = check_not_after_today(through_date or clock.today(), field="throughDate")
    return jobs.enqueue(session, jobs.RUN_BILLING, through_date=day.isoformat())


def run_billing(session: Session, *, through_date: dt.date) -> list[Invoice]:
    """Invoice all unbilled, unreversed time dated on or before through_date.

    Invoices are dated through_date, or the day after the close when through_date is
    inside a closed period (SPEC §8); each line keeps its entry's own date.
    One AGREEMENT_USAGE invoice per agreement (a line per entry at the list value
    covered, and a "Covered by agreement" line bringing it to 0.00), and one STANDARD
    invoice per company for what the agreements did not cover. Runs are serialised,
    so each entry is invoiced exactly once however often the job runs.

    Agreements, then companies, are invoiced a slice at a time (numbered in that
    order), all in the caller's one transaction. An entry on both kinds of invoice
    is marked billed by the second; time on neither (DO_NOT_BILL) is marked at the end.
    """
    lock_counter(session, "billing")
    # A run through a closed date bills the late time; its invoices go the day after the close.
    invoice_date = posting_date_of(session, through_date)
    pending = (TimeEntry.billed.is_(False), TimeEntry.reversed.is_(False), TimeEntry.date <= through_date)
    run = _Run(
        session,
        invoice_date,
        roles={r.id: r for r in session.scalars(select(WorkRole))},
        types={t.id: t for t in session.scalars(select(WorkType))},
    )
    usage = (*pending, _usage_time(), TimeEntry.usage_invoice_id.is_(None))
    for groups in _slices(session, TimeEntry.agreement_id, usage):
        _bill_usage(run, groups)
    standard = (*pending, _standard_time(), TimeEntry.standard_invoice_id.is_(None))
    for groups in _slices(session, TimeEntry.company_id, standard):
        _bill_standard(run, groups)
    # Time on no invoice at all (DO_NOT_BILL, or nothing to charge) is billed as it is.
    session.execute(
        update(TimeEntry)
        .where(*pending, or_(TimeEntry.billable_option == BillableOption.DO_NOT_BILL, not_(_usage_time())))
        .where(or_(TimeEntry.billable_option == BillableOption.DO_NOT_BILL, not_(_standard_time())))
        .values(billed=True)
        .execution_options(synchronize_session=False)
    )
    # The entries this session already holds may be stale now: reload them when next read.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, TimeEntry):
            session.expire(obj)
    return run.invoices


def _slices(
    session: Session, key: InstrumentedAttribute[Any], where: tuple[Any, ...]
) -> Iterator[list[list[Unbilled]]]:
    """The entries matching `where` in (key, date, id) order, grouped by key (agreement
    or company), a list of whole groups of about _ENTRIES_PER_SLICE entries at a time.

    One ordered read per pass, through a server-side cursor where the driver has one
    (PostgreSQL), so only a slice is in memory. A read per slice of keys left each
    slice's plan to the statistics: on a freshly loaded table the planner scanned every
    unbilled entry for each slice (B3 at 1M: 290 s).
    SQLite reads them all first: it must not write a table while a read of it is open.
    """
    stmt = select(*_UNBILLED_COLUMNS).where(*where).order_by(key, TimeEntry.date, TimeEntry.id)
    rows: Iterable[Unbilled]
    if session.get_bind().dialect.supports_server_side_cursors:
        rows = session.execute(stmt.execution_options(yield_per=_ENTRIES_PER_SLICE))
    else:
        rows = session.execute(stmt).all()
    groups: list[list[Unbilled]] = []
    size = 0
    for _, group in groupby(rows, key=attrgetter(key.key)):
        groups.append(list(group))
        size += len(groups[-1])
        if size >= _ENTRIES_PER_SLICE:
            yield groups
            groups, size = [], 0
    if groups:
        yield groups


def _bill_usage(run: _Run, groups: list[list[Unbilled]]) -> None:
    """One AGREEMENT_USAGE invoice per agreement (group of entries), totalling 0.00."""
    invoices = _new_invoices(
        run, InvoiceKind.AGREEMENT_USAGE, [(g[0].company_id, g[0].agreement_id, ZERO) for g in groups]
    )
    lines: list[dict[str, object]] = []
    for invoice, group in zip(invoices, groups, strict=True):
        covered = ZERO
        for position, entry in enumerate(group, start=1):
            amount = ZERO if entry.billable_option is BillableOption.NO_CHARGE else entry.covered_value
            covered += amount
            hours = entry.hours - entry.hours_billable
            lines.append(
                _line(invoice, position, run.describe(entry), hours, run.rate(entry), amount, entry.id)
            )
        lines.append(_line(invoice, len(group) + 1, COVERED_LINE, Decimal("1.00"), -covered, -covered, None))
    _write_lines(run.session, lines)
    # Billed now unless a STANDARD invoice still has to take its uncovered part.
    _mark(
        run.session,
        groups,
        TimeEntry.usage_invoice_id,
        case({inv.agreement_id: inv.id for inv in invoices}, value=TimeEntry.agreement_id),
        billed=case((TimeEntry.amount_billable > 0, false()), else_=true()),
    )


def _bill_standard(run: _Run, groups: list[list[Unbilled]]) -> None:
    """One STANDARD invoice per company (group of entries), for the amounts not covered."""
    totals = [sum((e.amount_billable for e in group), ZERO) for group in groups]
    invoices = _new_invoices(
        run,
        InvoiceKind.STANDARD,
        [(g[0].company_id, None, total) for g, total in zip(groups, totals, strict=True)],
    )
    lines = [
        _line(invoice, position, run.describe(e), e.hours_billable, run.rate(e), e.amount_billable, e.id)
        for invoice, group in zip(invoices, groups, strict=True)
        for position, e in enumerate(group, start=1)
    ]
    _write_lines(run.session, lines)
    _mark(
        run.session,
        groups,
        TimeEntry.standard_invoice_id,
        case({inv.company_id: inv.id for inv in invoices}, value=TimeEntry.company_id),
        billed=true(),
    )


def _new_invoices(
    run: _Run, kind: InvoiceKind, heads: list[tuple[int, int | None, Decimal]]
) -> list[Invoice]:
    """Insert one invoice per (company, agreement, total), numbered in that order."""
    if not heads:
        return []
    numbers = invoice_numbers(run.session, len(heads))
    invoices = run.session.scalars(
        insert(Invoice).returning(Invoice, sort_by_parameter_order=True),
        [
            {
                "number": number,
                "kind": kind,
                "company_id": company_id,
                "agreement_id": agreement_id,
                "date": run.date,
                "total": total,
            }
            for number, (company_id, agreement_id, total) in zip(numbers, heads, strict=True)
        ],
    ).all()
    run.invoices.extend(invoices)
    return list(invoices)


def _write_lines(session: Session, lines: list[dict[str, object]]) -> None:
    for chunk in chunks(lines, _IDS_PER_UPDATE):
        session.execute(_INSERT_LINES, chunk)


def _mark(
    session: Session,
    groups: list[list[Unbilled]],
    invoice_column: InstrumentedAttribute[Any],
    invoice_id: ColumnElement[Any],
    *,
    billed: ColumnElement[bool],
) -> None:
    """Point the entries at their invoice. Belt and braces under the billing lock: every
    entry read must still be unbilled and on no invoice of this kind."""
    for chunk in chunks((entry.id for group in groups for entry in group), _IDS_PER_UPDATE):
        result = session.execute(
            update(TimeEntry)
            .where(TimeEntry.id.in_(chunk), TimeEntry.billed.is_(False), invoice_column.is_(None))
            .values({invoice_column: invoice_id, TimeEntry.billed: billed})
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[Any], result).rowcount != len(chunk):
            raise Conflict("time entries were billed by another run at the same time")


def _line(
    invoice: Invoice,
    position: int,
    description: str,
    quantity: Decimal,
    unit_price: Decimal,
    amount: Decimal,
    time_entry_id: int | None,
) -> dict[str, object]:
    return {
        "invoice_id": invoice.id,
        "position": position,
        "description": description,
        "quantity": quantity,
        "unit_price": unit_price,
        "amount": amount,
        "time_entry_id": time_entry_id,
        "created_at": utcnow(),
    }


def scheduled_through_date(day: dt.date) -> dt.date:
    """The daily billing run on `day` bills through the day that just ended (SPEC §3):
    time logged today may still change before tonight."""
    return day - dt.timedelta(days=1)
