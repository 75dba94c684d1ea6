"""The read side: who may read what, a CUSTOMER's company scope, pages and batch loads (SPEC §6).

Every root list and lookup of the API goes through a function here, given the
caller's Principal. A CUSTOMER sees only its own company: lists are filtered and
another company's object is NOT_FOUND, never FORBIDDEN. The batch loaders fetch a
relation for many parents in one query, so a page of any size costs a fixed
number of statements.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from accounting import ledger, periods, rollforward, statements
from accounting.access import (
    ACCESS,
    AGREEMENTS,
    AUDIT,
    CATALOG,
    COMPANIES,
    INVOICES,
    JOBS,
    LEDGER,
    NOTIFICATIONS,
    READERS,
    TIME,
    Principal,
    may_use,
    require,
)
from accounting.errors import InvalidInput, NotFound
from models import (
    Addition,
    Adjustment,
    Agreement,
    AgreementType,
    ApiToken,
    AuditEntry,
    Company,
    GLAccount,
    GLMapping,
    Invoice,
    InvoiceLine,
    JournalBatch,
    JournalEntry,
    JournalLine,
    Lot,
    Model,
    Notification,
    NotificationDelivery,
    OutboxJob,
    TimeEntry,
    Webhook,
    WorkRole,
    WorkType,
    agreement_type_excluded_work_role,
    agreement_type_excluded_work_type,
)
from models.enums import AgreementStatus, BillableOption, InvoiceKind, JobStatus, Role

M = TypeVar("M", bound=Model)
K = TypeVar("K")

# --- who reads what: accounting.access's table (SPEC §6) ----------------------------------


def may_read(principal: Principal, what: str) -> None:
    """FORBIDDEN unless the principal's role reads `what` (accounting.access.READERS)."""
    require(principal, READERS[what], f"read {what}")


def _own_company(principal: Principal) -> int | None:
    """The company a CUSTOMER is bound to; None for staff (no restriction)."""
    if principal.role is Role.CUSTOMER:
        if principal.company_id is None:
            raise AssertionError("a CUSTOMER principal without a company")
        return principal.company_id
    return None


# --- pages ----------------------------------------------------------------------------

MAX_PAGE = 100
_CURSOR_PREFIX = "cursor:"


def encode_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{row_id}".encode()).decode()


_MAX_ROW_ID = 2**63 - 1  # the database's BIGINT


def decode_cursor(cursor: str) -> int:
    """A row id we issued: ASCII digits within the database's integer range, else BAD_USER_INPUT."""
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        digits = text.removeprefix(_CURSOR_PREFIX)
        if text.startswith(_CURSOR_PREFIX) and digits.isascii() and digits.isdigit() and len(digits) <= 19:
            row_id = int(digits)
            if row_id <= _MAX_ROW_ID:
                return row_id
    except (binascii.Error, UnicodeError, ValueError):
        pass
    raise InvalidInput(f"after {cursor[:60]!r} is not a cursor returned by this API")


def page_size(first: int | None) -> int:
    """`first` defaults to, and may not exceed, MAX_PAGE."""
    if first is None:
        return MAX_PAGE
    if not 0 <= first <= MAX_PAGE:
        raise InvalidInput(f"first must be between 0 and {MAX_PAGE}, got {first}")
    return first


@dataclass(frozen=True)
class Page(Generic[M]):
    items: list[M]
    has_next: bool
    total_count: int

    @property
    def end_cursor(self) -> str | None:
        return encode_cursor(self.items[-1].id) if self.items else None


def paginate(
    session: Session,
    stmt: Select[M],
    model: type[M],
    *,
    first: int | None,
    after: str | None,
    newest_first: bool = False,
) -> Page[M]:
    """A keyset page on the primary key: stable while rows are added."""
    size = page_size(first)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    if after is not None:
        after_id = decode_cursor(after)
        stmt = stmt.where(model.id < after_id if newest_first else model.id > after_id)
    stmt = stmt.order_by(model.id.desc() if newest_first else model.id).limit(size + 1)
    rows = list(session.scalars(stmt))
    return Page(items=rows[:size], has_next=len(rows) > size, total_count=total)


# --- root lists and lookups -----------------------------------------------------------


def companies(session: Session, principal: Principal) -> list[Company]:
    may_read(principal, COMPANIES)
    stmt = select(Company).order_by(Company.identifier)
    own = _own_company(principal)
    if own is not None:
        stmt = stmt.where(Company.id == own)
    return list(session.scalars(stmt))


def company(session: Session, principal: Principal, company_id: int) -> Company:
    """A CUSTOMER's lookup of another company is NOT_FOUND, exactly like a missing one."""
    may_read(principal, COMPANIES)
    own = _own_company(principal)
    row = session.get(Company, company_id)
    if row is None or (own is not None and row.id != own):
        raise NotFound("company", company_id)
    return row


def work_types(session: Session, principal: Principal) -> list[WorkType]:
    may_read(principal, CATALOG)
    return list(session.scalars(select(WorkType).order_by(WorkType.name)))


def work_roles(session: Session, principal: Principal) -> list[WorkRole]:
    may_read(principal, CATALOG)
    return list(session.scalars(select(WorkRole).order_by(WorkRole.name)))


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
    may_read(principal, AGREEMENTS)
    stmt = select(Agreement)
    own = _own_company(principal)
    if own is not None:
        stmt = stmt.where(Agreement.company_id == own)
    if company_id is not None:
        stmt = stmt.where(Agreement.company_id == company_id)
    if status is not None:
        stmt = stmt.where(Agreement.status == status)
    return paginate(session, stmt, Agreement, first=first, after=after)


def agreement(session: Session, principal: Principal, agreement_id: int) -> Agreement:
    may_read(principal, AGREEMENTS)
    own = _own_company(principal)
    row = session.get(Agreement, agreement_id)
    if row is None or (own is not None and row.company_id != own):
        raise NotFound("agreement", agreement_id)
    return row


def agreement_statement(
    session: Session, principal: Principal, agreement: Agreement, *, start: dt.date, end: dt.date
) -> statements.Statement:
    """An agreement's statement (SPEC §8): whoever reads the agreement, a CUSTOMER its own."""
    may_read(principal, AGREEMENTS)
    own = _own_company(principal)
    if own is not None and agreement.company_id != own:
        raise NotFound("agreement", agreement.id)
    return statements.statement(session, agreement=agreement, start=start, end=end)


def time_entries(
    session: Session,
    principal: Principal,
    *,
    company_id: int | None = None,
    agreement_id: int | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[TimeEntry]:
    may_read(principal, TIME)
    stmt = select(TimeEntry).where(*_visible_time(principal))
    if company_id is not None:
        stmt = stmt.where(TimeEntry.company_id == company_id)
    if agreement_id is not None:
        stmt = stmt.where(TimeEntry.agreement_id == agreement_id)
    return paginate(session, stmt, TimeEntry, first=first, after=after)


def _visible_time(principal: Principal) -> tuple[Any, ...]:
    """A CUSTOMER sees its own company's entries but no DO_NOT_BILL one (SPEC §6), in no list or count."""
    own = _own_company(principal)
    if own is None:
        return ()
    return (TimeEntry.company_id == own, TimeEntry.billable_option != BillableOption.DO_NOT_BILL)


def time_entry(session: Session, principal: Principal, time_entry_id: int) -> TimeEntry:
    """A time entry the principal may see; a hidden one is NOT_FOUND, exactly like a missing one."""
    may_read(principal, TIME)
    row = session.scalars(
        select(TimeEntry).where(TimeEntry.id == time_entry_id, *_visible_time(principal))
    ).first()
    if row is None:
        raise NotFound("time entry", time_entry_id)
    return row


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
    may_read(principal, INVOICES)
    stmt = select(Invoice)
    own = _own_company(principal)
    if own is not None:
        stmt = stmt.where(Invoice.company_id == own)
    if company_id is not None:
        stmt = stmt.where(Invoice.company_id == company_id)
    if agreement_id is not None:
        stmt = stmt.where(Invoice.agreement_id == agreement_id)
    if kind is not None:
        stmt = stmt.where(Invoice.kind == kind)
    return paginate(session, stmt, Invoice, first=first, after=after)


def notifications(
    session: Session,
    principal: Principal,
    *,
    agreement_id: int | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[Notification]:
    may_read(principal, NOTIFICATIONS)
    stmt = select(Notification)
    own = _own_company(principal)
    if own is not None:
        stmt = stmt.join(Agreement, Agreement.id == Notification.agreement_id).where(
            Agreement.company_id == own
        )
    if agreement_id is not None:
        stmt = stmt.where(Notification.agreement_id == agreement_id)
    return paginate(session, stmt, Notification, first=first, after=after)


def gl_accounts(session: Session, principal: Principal) -> list[GLAccount]:
    may_read(principal, LEDGER)
    return list(session.scalars(select(GLAccount).order_by(GLAccount.code)))


def gl_mappings(session: Session, principal: Principal) -> list[GLMapping]:
    may_read(principal, LEDGER)
    return list(session.scalars(select(GLMapping).order_by(GLMapping.kind, GLMapping.scope_key)))


def journal_batches(
    session: Session, principal: Principal, *, first: int | None = None, after: str | None = None
) -> Page[JournalBatch]:
    may_read(principal, LEDGER)
    return paginate(session, select(JournalBatch), JournalBatch, first=first, after=after, newest_first=True)


def journal_batch(session: Session, principal: Principal, batch_id: int) -> JournalBatch:
    may_read(principal, LEDGER)
    row = session.get(JournalBatch, batch_id)
    if row is None:
        raise NotFound("journal batch", batch_id)
    return row


def trial_balance(
    session: Session, principal: Principal, *, as_of: dt.date | None = None
) -> list[ledger.AccountTotals]:
    may_read(principal, LEDGER)
    return ledger.trial_balance(session, as_of=as_of)


def deferred_revenue_rollforward(
    session: Session, principal: Principal, *, from_date: dt.date, to_date: dt.date
) -> rollforward.Rollforward:
    may_read(principal, LEDGER)
    return rollforward.deferred_revenue_rollforward(session, from_date=from_date, to_date=to_date)


def closed_through(session: Session, principal: Principal) -> dt.date | None:
    """Staff read it (a technician logging back-dated time may ask); customers do not."""
    may_use(principal, "closedThrough")
    return periods.closed_through(session)


def deferred_revenue_reconciliation(session: Session, principal: Principal) -> ledger.Reconciliation:
    may_read(principal, LEDGER)
    return ledger.deferred_revenue_reconciliation(session)


def export_allowed(principal: Principal) -> None:
    may_read(principal, LEDGER)


def audit_trail(
    session: Session, principal: Principal, *, first: int | None = None, after: str | None = None
) -> Page[AuditEntry]:
    may_read(principal, AUDIT)
    return paginate(session, select(AuditEntry), AuditEntry, first=first, after=after, newest_first=True)


def jobs(
    session: Session,
    principal: Principal,
    *,
    status: JobStatus | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[OutboxJob]:
    """The outbox, newest first: FAILED jobs are the dead letters an admin must see."""
    may_read(principal, JOBS)
    stmt = select(OutboxJob)
    if status is not None:
        stmt = stmt.where(OutboxJob.status == status)
    return paginate(session, stmt, OutboxJob, first=first, after=after, newest_first=True)


def api_tokens(session: Session, principal: Principal) -> list[ApiToken]:
    may_read(principal, ACCESS)
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def webhooks(session: Session, principal: Principal) -> list[Webhook]:
    """The registered webhooks; deleted ones are kept, inactive, for their deliveries' history."""
    may_read(principal, ACCESS)
    return list(session.scalars(select(Webhook).where(Webhook.active.is_(True)).order_by(Webhook.id)))


# --- batch loaders: one query per relation for any number of parents ------------------

_CHUNK = 900  # below SQLite's bound-parameter limit


def _chunks(keys: Iterable[K]) -> Iterable[list[K]]:
    ordered = sorted(set(keys))  # type: ignore[type-var]
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def by_ids(session: Session, model: type[M], ids: Iterable[int]) -> dict[int, M]:
    found: dict[int, M] = {}
    for chunk in _chunks(ids):
        found.update({row.id: row for row in session.scalars(select(model).where(model.id.in_(chunk)))})
    return found


def _grouped(
    session: Session, model: type[M], column: Any, keys: Iterable[int], *extra: Any
) -> dict[int, list[M]]:
    """Rows of `model` whose `column` is one of `keys`, grouped by it, in id order."""
    grouped: dict[int, list[M]] = defaultdict(list)
    for chunk in _chunks(keys):
        stmt = select(model).where(column.in_(chunk), *extra).order_by(model.id)
        for row in session.scalars(stmt):
            grouped[getattr(row, column.key)].append(row)
    return grouped


def _own_filter(principal: Principal, column: Any) -> tuple[Any, ...]:
    own = _own_company(principal)
    return () if own is None else (column == own,)


def agreements_of_companies(
    session: Session, principal: Principal, company_ids: Iterable[int]
) -> dict[int, list[Agreement]]:
    may_read(principal, AGREEMENTS)
    return _grouped(
        session, Agreement, Agreement.company_id, company_ids, *_own_filter(principal, Agreement.company_id)
    )


def time_entries_of_agreements(
    session: Session, principal: Principal, agreement_ids: Iterable[int]
) -> dict[int, list[TimeEntry]]:
    may_read(principal, TIME)
    return _grouped(session, TimeEntry, TimeEntry.agreement_id, agreement_ids, *_visible_time(principal))


def invoices_of_agreements(
    session: Session, principal: Principal, agreement_ids: Iterable[int]
) -> dict[int, list[Invoice]]:
    may_read(principal, INVOICES)
    return _grouped(
        session, Invoice, Invoice.agreement_id, agreement_ids, *_own_filter(principal, Invoice.company_id)
    )


def invoices_by_ids(session: Session, principal: Principal, ids: Iterable[int]) -> dict[int, Invoice]:
    may_read(principal, INVOICES)
    own = _own_company(principal)
    return {
        i: row for i, row in by_ids(session, Invoice, ids).items() if own is None or row.company_id == own
    }


def deliveries_of_notifications(
    session: Session, principal: Principal, notification_ids: Iterable[int]
) -> dict[int, list[NotificationDelivery]]:
    may_read(principal, NOTIFICATIONS)  # and staff only: Notification.deliveries in accounting.access.FIELDS
    return _grouped(session, NotificationDelivery, NotificationDelivery.notification_id, notification_ids)


def additions_of_agreements(session: Session, agreement_ids: Iterable[int]) -> dict[int, list[Addition]]:
    return _grouped(session, Addition, Addition.agreement_id, agreement_ids)


def adjustments_of_agreements(session: Session, agreement_ids: Iterable[int]) -> dict[int, list[Adjustment]]:
    return _grouped(session, Adjustment, Adjustment.agreement_id, agreement_ids)


def lots_of_agreements(session: Session, agreement_ids: Iterable[int]) -> dict[int, list[Lot]]:
    """Each agreement's lots in FIFO order (oldest first)."""
    grouped: dict[int, list[Lot]] = defaultdict(list)
    for chunk in _chunks(agreement_ids):
        stmt = select(Lot).where(Lot.agreement_id.in_(chunk)).order_by(Lot.effective_date, Lot.id)
        for lot in session.scalars(stmt):
            grouped[lot.agreement_id].append(lot)
    return grouped


def lines_of_invoices(session: Session, invoice_ids: Iterable[int]) -> dict[int, list[InvoiceLine]]:
    grouped: dict[int, list[InvoiceLine]] = defaultdict(list)
    for chunk in _chunks(invoice_ids):
        stmt = select(InvoiceLine).where(InvoiceLine.invoice_id.in_(chunk)).order_by(InvoiceLine.position)
        for line in session.scalars(stmt):
            grouped[line.invoice_id].append(line)
    return grouped


def journal_batches_by_ids(
    session: Session, principal: Principal, ids: Iterable[int]
) -> dict[int, JournalBatch]:
    may_read(principal, LEDGER)
    return by_ids(session, JournalBatch, ids)


def entries_of_batches(session: Session, batch_ids: Iterable[int]) -> dict[int, list[JournalEntry]]:
    grouped: dict[int, list[JournalEntry]] = defaultdict(list)
    for chunk in _chunks(batch_ids):
        stmt = (
            select(JournalEntry)
            .where(JournalEntry.batch_id.in_(chunk))
            .order_by(JournalEntry.date, JournalEntry.id)
        )
        for entry in session.scalars(stmt):
            grouped[entry.batch_id].append(entry)
    return grouped


def lines_of_entries(session: Session, entry_ids: Iterable[int]) -> dict[int, list[JournalLine]]:
    return _grouped(session, JournalLine, JournalLine.entry_id, entry_ids)


def _excluded(
    session: Session, table: Any, column: str, model: type[M], type_ids: Iterable[int]
) -> dict[int, list[M]]:
    grouped: dict[int, list[M]] = defaultdict(list)
    for chunk in _chunks(type_ids):
        stmt = (
            select(table.c.agreement_type_id, model)
            .join(model, model.id == table.c[column])
            .where(table.c.agreement_type_id.in_(chunk))
            .order_by(model.id)
        )
        for type_id, row in session.execute(stmt):
            grouped[type_id].append(row)
    return grouped


def excluded_work_types(session: Session, type_ids: Iterable[int]) -> dict[int, list[WorkType]]:
    return _excluded(session, agreement_type_excluded_work_type, "work_type_id", WorkType, type_ids)


def excluded_work_roles(session: Session, type_ids: Iterable[int]) -> dict[int, list[WorkRole]]:
    return _excluded(session, agreement_type_excluded_work_role, "work_role_id", WorkRole, type_ids)


def account_balances(session: Session, principal: Principal, account_ids: Sequence[int]) -> dict[int, Any]:
    may_read(principal, LEDGER)
    return ledger.account_balances(session, list(account_ids))
