"""Journal batches: everything unposted up to a date, posted atomically (SPEC §4)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from accounting import jobs
from accounting.dates import check_not_after_today
from accounting.errors import NotFound, UnbalancedEntry
from accounting.mappings import MappingResolver
from accounting.money import ZERO
from accounting.posting import (
    ADJUSTMENT,
    AR,
    BREAKAGE,
    INVOICE,
    LOT_EXPIRY,
    REVERSAL,
    SERVICE_REVENUE,
    Context,
    DraftEntry,
    Ref,
    pending_drafts,
)
from accounting.records import lock_counter, next_number
from models import (
    Adjustment,
    Invoice,
    JournalBatch,
    JournalEntry,
    JournalLine,
    LotMovement,
    TimeEntry,
    utcnow,
)
from models.enums import BatchStatus, MappingKind

JournalLineAmounts = tuple[Decimal, Decimal]

_SOURCE_TABLES = {
    INVOICE: (Invoice, Invoice.batch_id),
    ADJUSTMENT: (Adjustment, Adjustment.batch_id),
    LOT_EXPIRY: (LotMovement, LotMovement.batch_id),
    REVERSAL: (TimeEntry, TimeEntry.reversal_batch_id),
}


def create_batch(session: Session, *, through_date: dt.date) -> JournalBatch:
    """A PENDING batch whose posting is enqueued in the same transaction; throughDate
    may not be after today (SPEC §8)."""
    check_not_after_today(through_date, field="throughDate")
    batch = JournalBatch(
        identifier=f"JB-{next_number(session, 'journal_batch'):06d}",
        status=BatchStatus.PENDING,
        through_date=through_date,
        total_debit=ZERO,
        total_credit=ZERO,
    )
    session.add(batch)
    session.flush()
    jobs.enqueue(session, jobs.POST_BATCH, batch_id=batch.id)
    return batch


def _account_resolver(resolver: MappingResolver, context: Context) -> Callable[[Ref], int | str]:
    singles = {
        AR: MappingKind.ACCOUNTS_RECEIVABLE,
        SERVICE_REVENUE: MappingKind.SERVICE_REVENUE,
        BREAKAGE: MappingKind.BREAKAGE,
    }

    def resolve(ref: Ref) -> int | str:
        if ref in singles:
            return resolver.single(singles[ref])
        lot = context.lots[int(ref[1])]
        if lot.deferred_account_id is not None:
            return lot.deferred_account_id
        agreement_type = context.lot_type(lot.id)
        if not agreement_type.reverse_revenue_when_applied:
            return resolver.agreement_type(agreement_type.id)
        addition = context.additions.get(lot.addition_id) if lot.addition_id else None
        return resolver.deferred(
            agreement_type.id,
            addition.category if addition else None,
            addition.subcategory if addition else None,
        )

    return resolve


def post_batch(session: Session, *, batch_id: int) -> JournalBatch:
    """Post every unheld item dated on or before the batch's throughDate, or nothing.

    Each entry is checked to balance and every mapping to resolve before anything
    is written. A missing mapping FAILS the batch, naming every one, and leaves the
    items free. Posting a POSTED batch again does nothing.
    """
    batch = session.scalars(
        select(JournalBatch)
        .where(JournalBatch.id == batch_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if batch is None:
        raise NotFound("journal batch", batch_id)
    if batch.status is BatchStatus.POSTED:
        return batch
    # One posting at a time: two batches must never take the same items.
    lock_counter(session, "posting")
    drafts, context = pending_drafts(session, through_date=batch.through_date)
    resolve = _account_resolver(MappingResolver.load(session), context)

    missing: set[str] = set()
    resolved: list[tuple[DraftEntry, list[tuple[int, JournalLineAmounts]]]] = []
    for draft in drafts:
        if draft.total_debit != draft.total_credit:
            raise UnbalancedEntry(f"{draft.source_type} {draft.source_id} does not balance")
        lines: list[tuple[int, JournalLineAmounts]] = []
        for leg in draft.legs:
            account = resolve(leg.ref)
            if isinstance(account, str):
                missing.add(account)
            else:
                lines.append((account, (leg.debit, leg.credit)))
        resolved.append((draft, lines))
    if missing:
        batch.status = BatchStatus.FAILED
        batch.error = "Missing GL mappings: " + "; ".join(sorted(missing))
        session.flush()
        return batch

    # Entries first, in one flush (batched INSERTs, ids in order), then their lines in
    # another: a flush per entry made a month end's posting 4,000 round trips (bench B3).
    written: list[tuple[JournalEntry, list[tuple[int, JournalLineAmounts]]]] = []
    for draft, lines in resolved:
        if not lines:
            continue
        entry = JournalEntry(
            batch_id=batch.id,
            date=draft.date,
            memo=draft.memo[:1000],
            source_type=draft.source_type,
            source_id=draft.source_id,
        )
        session.add(entry)
        written.append((entry, lines))
    session.flush()
    total_debit = total_credit = ZERO
    for entry, lines in written:
        for account_id, (debit, credit) in lines:
            session.add(JournalLine(entry_id=entry.id, account_id=account_id, debit=debit, credit=credit))
            total_debit += debit
            total_credit += credit
    if total_debit != total_credit:
        raise UnbalancedEntry(f"batch {batch.identifier} does not balance")

    for source_type, (model, column) in _SOURCE_TABLES.items():
        ids = [d.source_id for d in drafts if d.source_type == source_type]
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            session.execute(
                update(model)
                .where(model.id.in_(chunk), column.is_(None))
                .values({column.key: batch.id})
                .execution_options(synchronize_session=False)
            )
    # A lot's deferred account is fixed the first time it is posted.
    for ref_lot in {int(leg.ref[1]) for d in drafts for leg in d.legs if leg.ref[0] == "LOT"}:
        lot = context.lots[ref_lot]
        if lot.deferred_account_id is None:
            account = resolve(("LOT", ref_lot))
            if isinstance(account, int):  # always: every mapping resolved above
                lot.deferred_account_id = account
    batch.status = BatchStatus.POSTED
    batch.error = None
    batch.posted_at = utcnow()
    batch.total_debit = total_debit
    batch.total_credit = total_credit
    session.flush()
    return batch
