"""Journal entries built from invoices and events, before accounts are resolved (SPEC §4).

Entries are built with abstract account references (AR, service revenue, breakage,
a lot's deferred account). The batch resolves them through the mappings; the
reconciliation reads the same entries to measure what is not yet posted, so the
two can never disagree.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from accounting.money import ZERO
from accounting.periods import closed_through, posting_date
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

AR = ("AR",)
SERVICE_REVENUE = ("SERVICE_REVENUE",)
BREAKAGE = ("BREAKAGE",)

INVOICE = "INVOICE"
ADJUSTMENT = "ADJUSTMENT"
LOT_EXPIRY = "LOT_EXPIRY"
REVERSAL = "TIME_ENTRY_REVERSAL"
SOURCE_ORDER = {INVOICE: 0, ADJUSTMENT: 1, LOT_EXPIRY: 2, REVERSAL: 3}

Ref = tuple[str, ...] | tuple[str, int]


def lot_ref(lot_id: int) -> Ref:
    return ("LOT", lot_id)


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

    def reverses_revenue(self, agreement_id: int) -> bool:
        return self.types[self.agreements[agreement_id].agreement_type_id].reverse_revenue_when_applied


def _by_lot(movements: Iterable[LotMovement]) -> dict[int, Decimal]:
    totals: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for m in movements:
        totals[m.lot_id] += m.value
    return dict(sorted(totals.items()))


def pending_drafts(
    session: Session, *, through_date: dt.date | None = None
) -> tuple[list[DraftEntry], Context]:
    """Every invoice and event that no batch holds (dated on or before through_date),
    as balanced draft entries in date order.

    Each draft is dated its posting date (SPEC §8): inside a closed period, the day
    after the close. So a batch through a closed date takes nothing, and one through
    a later date takes the late items of the closed period too.
    """
    closed = closed_through(session)
    if through_date is not None and closed is not None and through_date <= closed:
        return [], Context(lots={}, agreements={}, types={}, additions={})

    def upto(column: Any) -> ColumnElement[bool]:
        return column <= through_date if through_date is not None else column.is_not(None)  # type: ignore[no-any-return]

    invoices = session.scalars(select(Invoice).where(Invoice.batch_id.is_(None), upto(Invoice.date))).all()
    adjustments = session.scalars(
        select(Adjustment).where(Adjustment.batch_id.is_(None), Adjustment.units < 0, upto(Adjustment.date))
    ).all()
    expiries = session.scalars(
        select(LotMovement).where(
            LotMovement.kind == MovementKind.EXPIRY, LotMovement.batch_id.is_(None), upto(LotMovement.date)
        )
    ).all()
    reversals = session.scalars(
        select(TimeEntry).where(
            TimeEntry.reversed.is_(True), TimeEntry.reversal_batch_id.is_(None), upto(TimeEntry.reversed_on)
        )
    ).all()

    usage_invoice_ids = [i.id for i in invoices if i.kind is InvoiceKind.AGREEMENT_USAGE]
    movements: list[LotMovement] = list(expiries)
    # A usage invoice's entry needs only the value released per lot and the list value
    # covered: summed in SQL, so posting a month holds a row per invoice and lot, not
    # every movement (bench B3: a million entries).
    usage_by_invoice: dict[int, dict[int, Decimal]] = defaultdict(dict)
    covered_by_invoice: dict[int, Decimal] = defaultdict(lambda: ZERO)
    usage_lot_ids: set[int] = set()
    for ids in _chunks(usage_invoice_ids):
        for invoice_id, lot_id, value in session.execute(
            select(TimeEntry.usage_invoice_id, LotMovement.lot_id, func.sum(LotMovement.value))
            .join(TimeEntry, TimeEntry.id == LotMovement.time_entry_id)
            .where(TimeEntry.usage_invoice_id.in_(ids), LotMovement.kind == MovementKind.USAGE)
            .group_by(TimeEntry.usage_invoice_id, LotMovement.lot_id)
        ):
            usage_by_invoice[invoice_id or 0][lot_id] = value
            usage_lot_ids.add(lot_id)
        for invoice_id, covered in session.execute(
            select(TimeEntry.usage_invoice_id, func.sum(TimeEntry.covered_value))
            .where(TimeEntry.usage_invoice_id.in_(ids))
            .group_by(TimeEntry.usage_invoice_id)
        ):
            covered_by_invoice[invoice_id or 0] += covered
    refunds: dict[int, list[LotMovement]] = defaultdict(list)
    for ids in _chunks([i.id for i in invoices if i.kind is InvoiceKind.CREDIT_MEMO]):
        for m in session.scalars(select(LotMovement).where(LotMovement.invoice_id.in_(ids))):
            refunds[m.invoice_id or 0].append(m)
            movements.append(m)
    write_offs: dict[int, list[LotMovement]] = defaultdict(list)
    for ids in _chunks([a.id for a in adjustments]):
        for m in session.scalars(select(LotMovement).where(LotMovement.adjustment_id.in_(ids))):
            write_offs[m.adjustment_id or 0].append(m)
            movements.append(m)
    reversal_moves: dict[int, list[LotMovement]] = defaultdict(list)
    for ids in _chunks([e.id for e in reversals]):
        for m in session.scalars(
            select(LotMovement).where(
                LotMovement.time_entry_id.in_(ids),
                LotMovement.kind.in_([MovementKind.USAGE, MovementKind.REVERSAL]),
            )
        ):
            reversal_moves[m.time_entry_id or 0].append(m)
            movements.append(m)
    additions: dict[int, Addition] = {}
    for ids in _chunks([i.id for i in invoices if i.kind is InvoiceKind.PREPAID_PURCHASE]):
        for a in session.scalars(select(Addition).where(Addition.invoice_id.in_(ids))):
            additions[a.invoice_id or 0] = a

    context = load_context(
        session,
        lot_ids={m.lot_id for m in movements} | usage_lot_ids,
        addition_ids={a.id for a in additions.values()},
        agreement_ids={i.agreement_id for i in invoices if i.agreement_id}
        | {e.agreement_id for e in reversals if e.agreement_id},
    )
    lots_by_addition = {lot.addition_id: lot for lot in context.lots.values() if lot.addition_id}
    companies = {
        c.id: c.identifier
        for c in session.scalars(
            select(Company).where(
                Company.id.in_({i.company_id for i in invoices} | {e.company_id for e in reversals})
            )
        )
    }

    drafts: list[DraftEntry] = []
    for invoice in invoices:
        memo = (
            f"{invoice.kind.value} invoice {invoice.number} {companies.get(invoice.company_id, '')}".strip()
        )
        draft = DraftEntry(INVOICE, invoice.id, posting_date(invoice.date, closed=closed), memo)
        if invoice.kind is InvoiceKind.PREPAID_PURCHASE:
            lot = lots_by_addition[additions[invoice.id].id]
            draft.debit(AR, invoice.total)
            draft.credit(lot_ref(lot.id), invoice.total)
        elif invoice.kind is InvoiceKind.AGREEMENT_USAGE:
            # A usage invoice always belongs to an agreement.
            if invoice.agreement_id is not None and context.reverses_revenue(invoice.agreement_id):
                released = dict(sorted(usage_by_invoice[invoice.id].items()))
                for lot_id, value in released.items():
                    draft.debit(lot_ref(lot_id), value)
                draft.credit(SERVICE_REVENUE, sum(released.values(), ZERO))
            else:
                # Revenue was recognised at purchase: list value in and out of service revenue.
                covered = covered_by_invoice[invoice.id]
                draft.credit(SERVICE_REVENUE, covered)
                draft.debit(SERVICE_REVENUE, covered)
        elif invoice.kind is InvoiceKind.STANDARD:
            draft.debit(AR, invoice.total)
            draft.credit(SERVICE_REVENUE, invoice.total)
        else:
            refunded = _by_lot(refunds[invoice.id])
            for lot_id, value in refunded.items():
                draft.debit(lot_ref(lot_id), value)
            draft.credit(AR, sum(refunded.values(), ZERO))
        drafts.append(draft)

    for adjustment in adjustments:
        draft = DraftEntry(
            ADJUSTMENT,
            adjustment.id,
            posting_date(adjustment.date, closed=closed),
            f"Write-off: {adjustment.reason}"[:500],
        )
        written = _by_lot(write_offs[adjustment.id])
        for lot_id, value in written.items():
            draft.debit(lot_ref(lot_id), value)
        draft.credit(BREAKAGE, sum(written.values(), ZERO))
        drafts.append(draft)

    for expiry in expiries:
        draft = DraftEntry(
            LOT_EXPIRY,
            expiry.id,
            posting_date(expiry.date, closed=closed),
            f"Expiry of {expiry.units} units of lot {expiry.lot_id}",
        )
        draft.debit(lot_ref(expiry.lot_id), expiry.value)
        draft.credit(BREAKAGE, expiry.value)
        drafts.append(draft)

    for entry in reversals:
        memo = f"Reversal of time entry {entry.id} {companies.get(entry.company_id, '')}".strip()
        draft = DraftEntry(
            REVERSAL, entry.id, posting_date(entry.reversed_on or entry.date, closed=closed), memo
        )
        moves = reversal_moves[entry.id]
        restored = _by_lot(m for m in moves if m.kind is MovementKind.REVERSAL)
        released = _by_lot(m for m in moves if m.kind is MovementKind.USAGE)
        reverses = entry.agreement_id is not None and context.reverses_revenue(entry.agreement_id)
        if reverses:
            # Invoiced: the usage entry released `released`; give back what the lots regained.
            # Not invoiced: the draw was never posted; post only what rounding changed.
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
        drafts.append(draft)

    drafts.sort(key=DraftEntry.sort_key)
    return drafts, context


def load_context(
    session: Session,
    *,
    lot_ids: Collection[int],
    addition_ids: Collection[int] = (),
    agreement_ids: Collection[int] = (),
) -> Context:
    lots: dict[int, Lot] = {}
    for ids in _chunks(sorted(lot_ids)):
        lots.update({lot.id: lot for lot in session.scalars(select(Lot).where(Lot.id.in_(ids)))})
    for ids in _chunks(sorted(addition_ids)):
        lots.update({lot.id: lot for lot in session.scalars(select(Lot).where(Lot.addition_id.in_(ids)))})
    agreement_ids = set(agreement_ids) | {lot.agreement_id for lot in lots.values()}
    agreements: dict[int, Agreement] = {}
    for ids in _chunks(sorted(agreement_ids)):
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
    for ids in _chunks(sorted(addition_ids)):
        additions.update({a.id: a for a in session.scalars(select(Addition).where(Addition.id.in_(ids)))})
    return Context(lots=lots, agreements=agreements, types=types, additions=additions)


def unbilled_draws(session: Session, *, through_date: dt.date | None = None) -> list[LotMovement]:
    """Usage drawn by time not yet on a usage invoice (and not reversed): not yet posted.
    With through_date, only the draws dated on or before it."""
    stmt = (
        select(LotMovement)
        .join(TimeEntry, TimeEntry.id == LotMovement.time_entry_id)
        .where(
            LotMovement.kind == MovementKind.USAGE,
            TimeEntry.usage_invoice_id.is_(None),
            TimeEntry.reversed.is_(False),
        )
    )
    if through_date is not None:
        stmt = stmt.where(LotMovement.date <= through_date)
    return list(session.scalars(stmt))


def _chunks(ids: list[int], size: int = 900) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
