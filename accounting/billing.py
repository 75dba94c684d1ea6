"""The billing run: $0.00 usage invoices and STANDARD invoices (SPEC §3)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.orm import Session

from accounting import clock, jobs
from accounting.agreements import invoice_numbers
from accounting.dates import check_not_after_today
from accounting.errors import Conflict
from accounting.money import ZERO, round_money
from accounting.periods import posting_date_of
from accounting.records import lock_counter
from models import Invoice, InvoiceLine, OutboxJob, TimeEntry, WorkRole, WorkType, utcnow
from models.enums import BillableOption, InvoiceKind

COVERED_LINE = "Covered by agreement"


# The columns a billing run reads: plain rows, not ORM objects. A month end holds
# 100,000 entries; as entities they took the worker past 600 MB (bench B3).
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
# Invoice lines are written in slices of this many, so the run's memory stays flat.
_LINES_PER_INSERT = 5000


def _describe(entry: Unbilled, roles: dict[int, WorkRole], types: dict[int, WorkType]) -> str:
    text = f"{entry.date.isoformat()} {roles[entry.work_role_id].name}, {types[entry.work_type_id].name}"
    if entry.billable_option is BillableOption.NO_CHARGE:
        text += " (no charge)"
    return f"{text}: {entry.notes}" if entry.notes else text


def _rate(entry: Unbilled, roles: dict[int, WorkRole], types: dict[int, WorkType]) -> Decimal:
    return round_money(roles[entry.work_role_id].hourly_rate * types[entry.work_type_id].rate_multiplier)


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
    """
    lock_counter(session, "billing")
    # A run through a closed date bills the late time; its invoices go the day after the close.
    invoice_date = posting_date_of(session, through_date)
    entries = session.execute(
        select(*_UNBILLED_COLUMNS)
        .where(
            TimeEntry.billed.is_(False),
            TimeEntry.reversed.is_(False),
            TimeEntry.date <= through_date,
        )
        .order_by(TimeEntry.date, TimeEntry.id)
    ).all()
    if not entries:
        return []
    roles = {r.id: r for r in session.scalars(select(WorkRole))}
    types = {t.id: t for t in session.scalars(select(WorkType))}

    usage: dict[int, list[Unbilled]] = defaultdict(list)
    standard: dict[int, list[Unbilled]] = defaultdict(list)
    for entry in entries:
        if entry.billable_option is BillableOption.DO_NOT_BILL:
            continue
        if entry.agreement_id is not None and (
            entry.units_applied > 0 or entry.billable_option is BillableOption.NO_CHARGE
        ):
            usage[entry.agreement_id].append(entry)
        if entry.amount_billable > 0:
            standard[entry.company_id].append(entry)

    invoices: list[Invoice] = []
    numbers = iter(invoice_numbers(session, len(usage) + len(standard)))
    lines: list[dict[str, object]] = []
    usage_invoice: dict[int, int] = {}
    standard_invoice: dict[int, int] = {}

    def write_lines(*, at_least: int) -> None:
        if len(lines) >= at_least:
            session.execute(insert(InvoiceLine), lines)
            lines.clear()

    for agreement_id in sorted(usage):
        group = usage[agreement_id]
        invoice = _new_invoice(
            session,
            next(numbers),
            InvoiceKind.AGREEMENT_USAGE,
            group[0].company_id,
            agreement_id,
            invoice_date,
        )
        covered = ZERO
        for position, entry in enumerate(group, start=1):
            hours = entry.hours - entry.hours_billable
            amount = ZERO if entry.billable_option is BillableOption.NO_CHARGE else entry.covered_value
            covered += amount
            lines.append(
                _line(
                    invoice,
                    position,
                    _describe(entry, roles, types),
                    hours,
                    _rate(entry, roles, types),
                    amount,
                    entry.id,
                )
            )
            usage_invoice[entry.id] = invoice.id
        lines.append(_line(invoice, len(group) + 1, COVERED_LINE, Decimal("1.00"), -covered, -covered, None))
        invoice.total = ZERO
        invoices.append(invoice)
        write_lines(at_least=_LINES_PER_INSERT)

    for company_id in sorted(standard):
        group = standard[company_id]
        invoice = _new_invoice(session, next(numbers), InvoiceKind.STANDARD, company_id, None, invoice_date)
        total = ZERO
        for position, entry in enumerate(group, start=1):
            total += entry.amount_billable
            lines.append(
                _line(
                    invoice,
                    position,
                    _describe(entry, roles, types),
                    entry.hours_billable,
                    _rate(entry, roles, types),
                    entry.amount_billable,
                    entry.id,
                )
            )
            standard_invoice[entry.id] = invoice.id
        invoice.total = total
        invoices.append(invoice)
        write_lines(at_least=_LINES_PER_INSERT)

    session.flush()
    write_lines(at_least=1)
    # Belt and braces under the billing lock: every entry must still be unbilled.
    ids = [e.id for e in entries]
    del entries, usage, standard
    for chunk_start in range(0, len(ids), 1000):
        chunk = ids[chunk_start : chunk_start + 1000]
        unbilled = session.scalar(
            select(func.count(TimeEntry.id)).where(TimeEntry.id.in_(chunk), TimeEntry.billed.is_(False))
        )
        if unbilled != len(chunk):
            raise Conflict("time entries were billed by another run at the same time")
        session.execute(
            update(TimeEntry),
            [
                {
                    "id": i,
                    "billed": True,
                    "usage_invoice_id": usage_invoice.get(i),
                    "standard_invoice_id": standard_invoice.get(i),
                }
                for i in chunk
            ],
        )
    # The entries this session already holds are stale now: reload them when next read.
    billed = set(ids)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, TimeEntry) and obj.id in billed:
            session.expire(obj)
    return invoices


def _new_invoice(
    session: Session, number: str, kind: InvoiceKind, company_id: int, agreement_id: int | None, date: dt.date
) -> Invoice:
    invoice = Invoice(
        number=number,
        kind=kind,
        company_id=company_id,
        agreement_id=agreement_id,
        date=date,
        total=ZERO,
    )
    session.add(invoice)
    session.flush()
    return invoice


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
