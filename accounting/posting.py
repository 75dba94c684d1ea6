"""Journal entries built from invoices and events, before accounts are resolved (SPEC §4).

Entries are built with abstract account references (AR, service revenue, breakage,
a lot's deferred account). The batch resolves them through the mappings; the
reconciliation reads the same entries to measure what is not yet posted, so the
two can never disagree.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from accounting.money import ZERO
from accounting.periods import closed_through, posting_date
from accounting.records import IN_LIST_SIZE, chunks
from models import (
    Addition,
    Adjustment,
    Agreement,
    AgreementType,
    Company,
    Invoice,
    Lot,
    LotMovement,
    TimeEntry,
)
from models.enums import InvoiceKind, MovementKind

INVOICE = "INVOICE"
ADJUSTMENT = "ADJUSTMENT"
LOT_EXPIRY = "LOT_EXPIRY"
REVERSAL = "TIME_ENTRY_REVERSAL"
SOURCE_ORDER = {INVOICE: 0, ADJUSTMENT: 1, LOT_EXPIRY: 2, REVERSAL: 3}


@dataclass(frozen=True)
class Single:
    """One of the installation's single accounts, resolved through its mapping."""

    name: str


@dataclass(frozen=True)
class LotAccount:
    """A lot's deferred account: fixed when first posted, else resolved from its
    agreement type (and product category)."""

    lot_id: int
    name: ClassVar[str] = "LOT"


Ref = Single | LotAccount

AR = Single("AR")
SERVICE_REVENUE = Single("SERVICE_REVENUE")
BREAKAGE = Single("BREAKAGE")

# Value per lot id.
ByLot = dict[int, Decimal]


def lot_ref(lot_id: int) -> LotAccount:
    return LotAccount(lot_id)


@dataclass
class Leg:
    ref: Ref
    debit: Decimal = ZERO
    credit: Decimal = ZERO


@dataclass
class DraftEntry:
    source_type: str
    source_id: int
    date: dt.date
    memo: str
    legs: list[Leg] = field(default_factory=list)

    def debit(self, ref: Ref, amount: Decimal) -> None:
        if amount > 0:
            self.legs.append(Leg(ref, debit=amount))
        elif amount < 0:
            self.legs.append(Leg(ref, credit=-amount))

    def credit(self, ref: Ref, amount: Decimal) -> None:
        self.debit(ref, -amount)

    def release(self, by_lot: ByLot, to: Single) -> None:
        """Debit each lot its value, credit the total to one account."""
        for lot_id, value in sorted(by_lot.items()):
            self.debit(lot_ref(lot_id), value)
        self.credit(to, sum(by_lot.values(), ZERO))

    @property
    def total_debit(self) -> Decimal:
        return sum((leg.debit for leg in self.legs), ZERO)

    @property
    def total_credit(self) -> Decimal:
        return sum((leg.credit for leg in self.legs), ZERO)

    def sort_key(self) -> tuple[dt.date, int, int]:
        return (self.date, SOURCE_ORDER[self.source_type], self.source_id)


@dataclass
class Context:
    """Everything the drafts refer to, loaded in a fixed number of queries."""

    lots: dict[int, Lot]
    agreements: dict[int, Agreement]
    types: dict[int, AgreementType]
    additions: dict[int, Addition]

    def lot_type(self, lot_id: int) -> AgreementType:
        return self.types[self.agreements[self.lots[lot_id].agreement_id].agreement_type_id]

    def reverses_revenue(self, agreement_id: int | None) -> bool:
        if agreement_id is None:
            return False
        return self.types[self.agreements[agreement_id].agreement_type_id].reverse_revenue_when_applied


@dataclass
class Sources:
    """The invoices and events no batch holds yet."""

    invoices: Sequence[Invoice]
    adjustments: Sequence[Adjustment]
    expiries: Sequence[LotMovement]
    reversals: Sequence[TimeEntry]


@dataclass
class Moved:
    """What each source moved on the lots, summed per lot in SQL (a row per source
    and lot, never a row per time entry: bench B3 posts a million of them)."""

    usage: dict[int, ByLot]  # usage invoice: value released
    covered: dict[int, Decimal]  # usage invoice: list value covered
    refunded: dict[int, ByLot]  # credit memo
    written_off: dict[int, ByLot]  # adjustment
    restored: dict[int, ByLot]  # reversed time entry: value the lots regained
    released: dict[int, ByLot]  # reversed time entry: value its draw had released

    def lot_ids(self) -> set[int]:
        sums = (self.usage, self.refunded, self.written_off, self.restored, self.released)
        return {lot_id for by_source in sums for by_lot in by_source.values() for lot_id in by_lot}


@dataclass
class Pending:
    """The loader's answer: the sources, what they moved, and the names the memos show."""

    closed: dt.date | None
    sources: Sources
    moved: Moved
    addition_of_invoice: dict[int, Addition]
    companies: dict[int, str]
    context: Context
    lot_of_addition: dict[int, Lot] = field(init=False)

    def __post_init__(self) -> None:
        lots = self.context.lots.values()
        self.lot_of_addition = {lot.addition_id: lot for lot in lots if lot.addition_id}

    def dated(self, day: dt.date) -> dt.date:
        return posting_date(day, closed=self.closed)


# Which drafts, in order, then the drafts a chunk at a time: a month end holds one key per
# source (bench B3: 20,000 invoices), never every source as an ORM object at once.

DraftKey = tuple[dt.date, int, int]  # DraftEntry.sort_key(): posting date, source order, id
# Drafts built per chunk: each chunk's ids fit one `IN (...)` list per kind of source.
DRAFTS_PER_CHUNK = IN_LIST_SIZE
SOURCE_TYPES = sorted(SOURCE_ORDER, key=SOURCE_ORDER.__getitem__)


@dataclass
class Unposted:
    """The keys of the drafts through a date, in the order they are posted."""

    closed: dt.date | None
    keys: list[DraftKey]


def unposted(session: Session, *, through_date: dt.date | None) -> Unposted:
    """The keys of every source no batch holds, dated on or before `through_date`; none
    when that date is inside a closed period (nothing can be posted there)."""
    closed = closed_through(session)
    if through_date is not None and closed is not None and through_date <= closed:
        return Unposted(closed, [])

    def upto(column: Any) -> ColumnElement[bool]:
        return column <= through_date if through_date is not None else column.is_not(None)  # type: ignore[no-any-return]

    queries = {
        INVOICE: select(Invoice.id, Invoice.date, Invoice.date).where(_free(INVOICE), upto(Invoice.date)),
        ADJUSTMENT: select(Adjustment.id, Adjustment.date, Adjustment.date).where(
            _free(ADJUSTMENT), upto(Adjustment.date)
        ),
        LOT_EXPIRY: select(LotMovement.id, LotMovement.date, LotMovement.date).where(
            _free(LOT_EXPIRY), upto(LotMovement.date)
        ),
        REVERSAL: select(TimeEntry.id, TimeEntry.reversed_on, TimeEntry.date).where(
            _free(REVERSAL), upto(TimeEntry.reversed_on)
        ),
    }
    keys: list[DraftKey] = []
    for source_type, stmt in queries.items():
        order = SOURCE_ORDER[source_type]
        for source_id, day, fallback in session.execute(stmt):
            keys.append((posting_date(day or fallback, closed=closed), order, source_id))
    keys.sort()
    return Unposted(closed, keys)


def _free(source_type: str) -> ColumnElement[bool]:
    """The condition that a source is unposted (no batch holds it) and posts at all."""
    conditions: dict[str, ColumnElement[bool]] = {
        INVOICE: Invoice.batch_id.is_(None),
        ADJUSTMENT: Adjustment.batch_id.is_(None) & (Adjustment.units < 0),
        LOT_EXPIRY: (LotMovement.kind == MovementKind.EXPIRY) & LotMovement.batch_id.is_(None),
        REVERSAL: TimeEntry.reversed.is_(True) & TimeEntry.reversal_batch_id.is_(None),
    }
    return conditions[source_type]


def draft_chunks(
    session: Session, pending: Unposted, keys: Iterable[DraftKey] | None = None
) -> Iterator[tuple[list[DraftEntry], Context]]:
    """The drafts of `keys` (default: all of `pending`), in their order, a chunk at a
    time with the context their accounts resolve in. Each chunk's sources are loaded,
    summed and built when it is asked for, and dropped after: memory stays flat."""
    for chunk in chunks(pending.keys if keys is None else keys, DRAFTS_PER_CHUNK):
        ids: dict[str, list[int]] = {source_type: [] for source_type in SOURCE_TYPES}
        for _day, order, source_id in chunk:
            ids[SOURCE_TYPES[order]].append(source_id)
        loaded = _load_pending(session, pending.closed, _load_sources(session, ids))
        built: dict[tuple[str, int], DraftEntry] = {}
        for invoice in loaded.sources.invoices:
            built[INVOICE, invoice.id] = invoice_draft(invoice, loaded)
        for adjustment in loaded.sources.adjustments:
            built[ADJUSTMENT, adjustment.id] = adjustment_draft(adjustment, loaded)
        for expiry in loaded.sources.expiries:
            built[LOT_EXPIRY, expiry.id] = expiry_draft(expiry, loaded)
        for entry in loaded.sources.reversals:
            built[REVERSAL, entry.id] = reversal_draft(entry, loaded)
        # A source another transaction posted since its key was read is left out.
        drafts = [
            built[key]
            for _day, order, source_id in chunk
            if (key := (SOURCE_TYPES[order], source_id)) in built
        ]
        yield drafts, loaded.context


# The loader.


def _load_pending(session: Session, closed: dt.date | None, sources: Sources) -> Pending:
    """What one chunk's drafts are built from: its sources, their sums and context."""
    moved = _load_moved(session, sources)
    addition_of_invoice: dict[int, Addition] = {}
    purchases = [i.id for i in sources.invoices if i.kind is InvoiceKind.PREPAID_PURCHASE]
    for ids in chunks(purchases):
        for addition in session.scalars(select(Addition).where(Addition.invoice_id.in_(ids))):
            addition_of_invoice[addition.invoice_id or 0] = addition
    context = load_context(
        session,
        lot_ids={m.lot_id for m in sources.expiries} | moved.lot_ids(),
        addition_ids={a.id for a in addition_of_invoice.values()},
        agreement_ids={i.agreement_id for i in sources.invoices if i.agreement_id}
        | {e.agreement_id for e in sources.reversals if e.agreement_id},
    )
    company_ids = {i.company_id for i in sources.invoices} | {e.company_id for e in sources.reversals}
    companies: dict[int, str] = {}
    for ids in chunks(sorted(company_ids)):
        for company_id, identifier in session.execute(
            select(Company.id, Company.identifier).where(Company.id.in_(ids))
        ):
            companies[company_id] = identifier
    return Pending(closed, sources, moved, addition_of_invoice, companies, context)


def _load_sources(session: Session, ids: dict[str, list[int]]) -> Sources:
    """The unposted sources among these ids (at most one chunk of each kind)."""

    def load(model: Any, source_type: str) -> Sequence[Any]:
        if not ids[source_type]:
            return []
        return session.scalars(select(model).where(model.id.in_(ids[source_type]), _free(source_type))).all()

    return Sources(
        invoices=load(Invoice, INVOICE),
        adjustments=load(Adjustment, ADJUSTMENT),
        expiries=load(LotMovement, LOT_EXPIRY),
        reversals=load(TimeEntry, REVERSAL),
    )


def _load_moved(session: Session, sources: Sources) -> Moved:
    usage_ids = [i.id for i in sources.invoices if i.kind is InvoiceKind.AGREEMENT_USAGE]
    memo_ids = [i.id for i in sources.invoices if i.kind is InvoiceKind.CREDIT_MEMO]
    reversed_ids = [e.id for e in sources.reversals]
    covered: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for ids in chunks(usage_ids):
        for invoice_id, value in session.execute(
            select(TimeEntry.usage_invoice_id, func.sum(TimeEntry.covered_value))
            .where(TimeEntry.usage_invoice_id.in_(ids))
            .group_by(TimeEntry.usage_invoice_id)
        ):
            covered[invoice_id or 0] += value
    usage = LotMovement.kind == MovementKind.USAGE
    return Moved(
        usage=_sums_by_lot(session, TimeEntry.usage_invoice_id, usage_ids, usage),
        covered=covered,
        refunded=_sums_by_lot(session, LotMovement.invoice_id, memo_ids),
        written_off=_sums_by_lot(session, LotMovement.adjustment_id, [a.id for a in sources.adjustments]),
        restored=_sums_by_lot(
            session, LotMovement.time_entry_id, reversed_ids, LotMovement.kind == MovementKind.REVERSAL
        ),
        released=_sums_by_lot(session, LotMovement.time_entry_id, reversed_ids, usage),
    )


def _sums_by_lot(
    session: Session,
    source: InstrumentedAttribute[int | None],
    ids: Iterable[int],
    *criteria: ColumnElement[bool],
) -> dict[int, ByLot]:
    """The value of the lot movements of each source id, per lot; `source` is a column
    of lot_movements, or time_entries.usage_invoice_id (through each movement's entry)."""
    sums: dict[int, ByLot] = defaultdict(dict)
    for chunk in chunks(ids):
        stmt = (
            select(source, LotMovement.lot_id, func.sum(LotMovement.value))
            .select_from(LotMovement)
            .where(source.in_(chunk), *criteria)
            .group_by(source, LotMovement.lot_id)
        )
        if source.class_ is TimeEntry:
            stmt = stmt.join(TimeEntry, TimeEntry.id == LotMovement.time_entry_id)
        for source_id, lot_id, value in session.execute(stmt):
            sums[source_id or 0][lot_id] = value
    return sums


# One function per posting rule (SPEC §4).


def invoice_draft(invoice: Invoice, pending: Pending) -> DraftEntry:
    company = pending.companies.get(invoice.company_id, "")
    memo = f"{invoice.kind.value} invoice {invoice.number} {company}".strip()
    draft = DraftEntry(INVOICE, invoice.id, pending.dated(invoice.date), memo)
    _INVOICE_RULES[invoice.kind](draft, invoice, pending)
    return draft


def _prepaid_purchase(draft: DraftEntry, invoice: Invoice, pending: Pending) -> None:
    """A block bought: receivable against the new lot's deferred account."""
    lot = pending.lot_of_addition[pending.addition_of_invoice[invoice.id].id]
    draft.debit(AR, invoice.total)
    draft.credit(lot_ref(lot.id), invoice.total)


def _agreement_usage(draft: DraftEntry, invoice: Invoice, pending: Pending) -> None:
    """Time covered by an agreement: the value each lot released becomes service revenue;
    where revenue was recognised at purchase, the list value goes in and out of it."""
    if pending.context.reverses_revenue(invoice.agreement_id):
        draft.release(pending.moved.usage[invoice.id], to=SERVICE_REVENUE)
    else:
        covered = pending.moved.covered[invoice.id]
        draft.credit(SERVICE_REVENUE, covered)
        draft.debit(SERVICE_REVENUE, covered)


def _standard(draft: DraftEntry, invoice: Invoice, pending: Pending) -> None:
    """Time no agreement covered: billed as service revenue."""
    draft.debit(AR, invoice.total)
    draft.credit(SERVICE_REVENUE, invoice.total)


def _credit_memo(draft: DraftEntry, invoice: Invoice, pending: Pending) -> None:
    """Unused prepaid value refunded: out of each lot, against the receivable."""
    draft.release(pending.moved.refunded[invoice.id], to=AR)


_INVOICE_RULES: dict[InvoiceKind, Callable[[DraftEntry, Invoice, Pending], None]] = {
    InvoiceKind.PREPAID_PURCHASE: _prepaid_purchase,
    InvoiceKind.AGREEMENT_USAGE: _agreement_usage,
    InvoiceKind.STANDARD: _standard,
    InvoiceKind.CREDIT_MEMO: _credit_memo,
}


def adjustment_draft(adjustment: Adjustment, pending: Pending) -> DraftEntry:
    """A write-off: the value of the units written off, from each lot to breakage."""
    memo = f"Write-off: {adjustment.reason}"[:500]
    draft = DraftEntry(ADJUSTMENT, adjustment.id, pending.dated(adjustment.date), memo)
    draft.release(pending.moved.written_off[adjustment.id], to=BREAKAGE)
    return draft


def expiry_draft(expiry: LotMovement, pending: Pending) -> DraftEntry:
    """An expired block: its remaining value from the lot to breakage."""
    memo = f"Expiry of {expiry.units} units of lot {expiry.lot_id}"
    draft = DraftEntry(LOT_EXPIRY, expiry.id, pending.dated(expiry.date), memo)
    draft.debit(lot_ref(expiry.lot_id), expiry.value)
    draft.credit(BREAKAGE, expiry.value)
    return draft


def reversal_draft(entry: TimeEntry, pending: Pending) -> DraftEntry:
    """A reversed time entry: undo what its usage and standard invoices posted."""
    company = pending.companies.get(entry.company_id, "")
    memo = f"Reversal of time entry {entry.id} {company}".strip()
    draft = DraftEntry(REVERSAL, entry.id, pending.dated(entry.reversed_on or entry.date), memo)
    if pending.context.reverses_revenue(entry.agreement_id):
        # Invoiced: the usage entry released `released`; give back what the lots regained.
        # Not invoiced: the draw was never posted; post only what rounding changed.
        restored = pending.moved.restored.get(entry.id, {})
        released = pending.moved.released.get(entry.id, {})
        invoiced = entry.usage_invoice_id is not None
        for lot_id in sorted(set(restored) | set(released)):
            change = restored.get(lot_id, ZERO) - (ZERO if invoiced else released.get(lot_id, ZERO))
            draft.credit(lot_ref(lot_id), change)
            draft.debit(SERVICE_REVENUE, change)
    elif entry.usage_invoice_id is not None:
        draft.debit(SERVICE_REVENUE, entry.covered_value)
        draft.credit(SERVICE_REVENUE, entry.covered_value)
    if entry.standard_invoice_id is not None:
        draft.debit(SERVICE_REVENUE, entry.amount_billable)
        draft.credit(AR, entry.amount_billable)
    return draft


def load_context(
    session: Session,
    *,
    lot_ids: Collection[int],
    addition_ids: Collection[int] = (),
    agreement_ids: Collection[int] = (),
) -> Context:
    lots: dict[int, Lot] = {}
    for ids in chunks(sorted(lot_ids)):
        lots.update({lot.id: lot for lot in session.scalars(select(Lot).where(Lot.id.in_(ids)))})
    for ids in chunks(sorted(addition_ids)):
        lots.update({lot.id: lot for lot in session.scalars(select(Lot).where(Lot.addition_id.in_(ids)))})
    agreement_ids = set(agreement_ids) | {lot.agreement_id for lot in lots.values()}
    agreements: dict[int, Agreement] = {}
    for ids in chunks(sorted(agreement_ids)):
        agreements.update({a.id: a for a in session.scalars(select(Agreement).where(Agreement.id.in_(ids)))})
    types = {
        t.id: t
        for t in session.scalars(
            select(AgreementType).where(
                AgreementType.id.in_({a.agreement_type_id for a in agreements.values()})
            )
        )
    }
    addition_ids = set(addition_ids) | {lot.addition_id for lot in lots.values() if lot.addition_id}
    additions: dict[int, Addition] = {}
    for ids in chunks(sorted(addition_ids)):
        additions.update({a.id: a for a in session.scalars(select(Addition).where(Addition.id.in_(ids)))})
    return Context(lots=lots, agreements=agreements, types=types, additions=additions)


def unbilled_draw_value(session: Session, *, through_date: dt.date | None = None) -> Decimal:
    """The value drawn from revenue-reversing lots by time not yet on a usage invoice (and
    not reversed): released on the lots, not yet posted. Summed in SQL: before a month's
    billing there is a draw per time entry. With through_date, the draws dated on or before it."""
    stmt = (
        select(func.coalesce(func.sum(LotMovement.value), 0))
        .join(TimeEntry, TimeEntry.id == LotMovement.time_entry_id)
        .join(Lot, Lot.id == LotMovement.lot_id)
        .join(Agreement, Agreement.id == Lot.agreement_id)
        .join(AgreementType, AgreementType.id == Agreement.agreement_type_id)
        .where(
            LotMovement.kind == MovementKind.USAGE,
            TimeEntry.usage_invoice_id.is_(None),
            TimeEntry.reversed.is_(False),
            AgreementType.reverse_revenue_when_applied.is_(True),
        )
    )
    if through_date is not None:
        stmt = stmt.where(LotMovement.date <= through_date)
    return Decimal(session.scalar(stmt) or 0)
