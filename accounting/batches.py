"""Journal batches: everything unposted up to a date, posted atomically (SPEC §4)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from accounting import clock, jobs
from accounting.dates import check_not_after_today
from accounting.errors import InvalidInput, NotFound, UnbalancedEntry
from accounting.mappings import MappingResolver, required_account_type
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
    LotAccount,
    Ref,
    Unposted,
    draft_chunks,
    lot_ref,
    unposted,
)
from accounting.records import chunks, lock_counter, next_number
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
from models.enums import AccountType, BatchStatus, MappingKind

JournalLineAmounts = tuple[Decimal, Decimal]

_SOURCE_TABLES = {
    INVOICE: (Invoice, Invoice.batch_id),
    ADJUSTMENT: (Adjustment, Adjustment.batch_id),
    LOT_EXPIRY: (LotMovement, LotMovement.batch_id),
    REVERSAL: (TimeEntry, TimeEntry.reversal_batch_id),
}


def create_batch(session: Session, *, through_date: dt.date | None = None) -> JournalBatch:
    """A PENDING batch through `through_date` (default today) whose posting is enqueued in the
    same transaction; never an empty one, and throughDate may not be after today (SPEC §8).

    A PENDING batch through the same date or later already holds everything this
    one would: that batch is the answer. Otherwise, with nothing unposted through
    the date (beyond what a pending batch will take), the answer is that pending
    batch, or InvalidInput "nothing to post through <date>". Creators queue on one
    row lock, so concurrent calls give one batch.
    """
    through_date = check_not_after_today(through_date or clock.today(), field="throughDate")
    lock_counter(session, "journal_batch")
    pending = session.scalars(
        select(JournalBatch)
        .where(JournalBatch.status == BatchStatus.PENDING)
        .order_by(JournalBatch.through_date.desc(), JournalBatch.id.desc())
        .limit(1)
    ).first()
    if pending is not None and pending.through_date >= through_date:
        return pending
    after = pending.through_date if pending is not None else None
    if not has_entries_to_post(session, through_date=through_date, after=after):
        if pending is not None:
            return pending
        raise InvalidInput(f"nothing to post through {through_date.isoformat()}")
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


def has_entries_to_post(session: Session, *, through_date: dt.date, after: dt.date | None = None) -> bool:
    """Would a batch through `through_date` write an entry (leaving out what an earlier
    pending batch, through `after`, will take)? Read from the drafts posting builds,
    a chunk at a time, stopping at the first one with legs."""
    pending = unposted(session, through_date=through_date)
    later = (key for key in pending.keys if after is None or key[0] > after)
    return any(draft.legs for drafts, _context in draft_chunks(session, pending, later) for draft in drafts)


@dataclass(frozen=True)
class Misdirected:
    """A mapping that resolves, to an account of the wrong type (SPEC §10)."""

    problem: str


_SINGLES = {
    AR: MappingKind.ACCOUNTS_RECEIVABLE,
    SERVICE_REVENUE: MappingKind.SERVICE_REVENUE,
    BREAKAGE: MappingKind.BREAKAGE,
}


def _account_resolver(
    resolver: MappingResolver, context: Context
) -> Callable[[Ref], int | str | Misdirected]:
    def checked(
        account: int | str, expected: tuple[AccountType, str], mapping: str
    ) -> int | str | Misdirected:
        if isinstance(account, str):
            return account
        problem = resolver.wrong_type(account, expected[0], mapping, expected[1])
        return account if problem is None else Misdirected(problem)

    def resolve(ref: Ref) -> int | str | Misdirected:
        if not isinstance(ref, LotAccount):
            kind = _SINGLES[ref]
            return checked(
                resolver.single(kind), required_account_type(kind, None), f"the {kind.value} mapping"
            )
        lot = context.lots[ref.lot_id]
        if lot.deferred_account_id is not None:
            return lot.deferred_account_id  # fixed when it was first posted
        agreement_type = context.lot_type(lot.id)
        expected = required_account_type(MappingKind.AGREEMENT_TYPE, agreement_type)
        if not agreement_type.reverse_revenue_when_applied:
            return checked(
                resolver.agreement_type(agreement_type.id),
                expected,
                resolver.mapping_name(MappingKind.AGREEMENT_TYPE, agreement_type.id),
            )
        addition = context.additions.get(lot.addition_id) if lot.addition_id else None
        category = addition.category if addition else None
        subcategory = addition.subcategory if addition else None
        return checked(
            resolver.deferred(agreement_type.id, category, subcategory),
            expected,
            resolver.mapping_name(MappingKind.PRODUCT_CATEGORY, agreement_type.id, category, subcategory),
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
    # Older PENDING batches first, each taking its own items: a later batch (a later
    # throughDate) posted first would take them all and leave the older one empty.
    for older in session.scalars(
        select(JournalBatch)
        .where(JournalBatch.status == BatchStatus.PENDING, JournalBatch.id < batch.id)
        .order_by(JournalBatch.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all():
        _post(session, older)
    return _post(session, batch)


def _post(session: Session, batch: JournalBatch) -> JournalBatch:
    """Two passes over the same drafts, a chunk at a time: the first checks every draft
    balances and every mapping resolves, writing nothing; the second writes."""
    pending = unposted(session, through_date=batch.through_date)
    resolver = MappingResolver.load(session)
    check = _Check()
    for drafts, context in draft_chunks(session, pending):
        check.add(drafts, _account_resolver(resolver, context))
    if not check.legs:
        # Only a batch made before batches were checked at creation, or a FAILED one
        # retried after a later batch took its items: never POSTED empty.
        batch.status = BatchStatus.FAILED
        through = batch.through_date.isoformat()
        batch.error = f"nothing to post through {through}: another batch took the items"
        session.flush()
        return batch
    if check.problems():
        batch.status = BatchStatus.FAILED
        batch.error = ". ".join(check.problems())
        session.flush()
        return batch
    total_debit, total_credit = _write(session, batch, pending, resolver)
    if total_debit != total_credit:
        raise UnbalancedEntry(f"batch {batch.identifier} does not balance")
    batch.status = BatchStatus.POSTED
    batch.error = None
    batch.posted_at = utcnow()
    batch.total_debit = total_debit
    batch.total_credit = total_credit
    session.flush()
    return batch


@dataclass
class _Check:
    """The first pass: whether any draft has legs, and every missing or misdirected
    mapping, named once."""

    legs: bool = False
    missing: set[str] = field(default_factory=set)
    misdirected: set[str] = field(default_factory=set)

    def add(self, drafts: list[DraftEntry], resolve: Callable[[Ref], int | str | Misdirected]) -> None:
        for draft in drafts:
            if draft.total_debit != draft.total_credit:
                raise UnbalancedEntry(f"{draft.source_type} {draft.source_id} does not balance")
            self.legs = self.legs or bool(draft.legs)
            for leg in draft.legs:
                account = resolve(leg.ref)
                if isinstance(account, str):
                    self.missing.add(account)
                elif isinstance(account, Misdirected):
                    self.misdirected.add(account.problem)

    def problems(self) -> list[str]:
        problems = []
        if self.missing:
            problems.append("Missing GL mappings: " + "; ".join(sorted(self.missing)))
        if self.misdirected:
            problems.append(
                "GL mappings to the wrong type of account: " + "; ".join(sorted(self.misdirected))
            )
        return problems


# Lines through Core, one executemany per chunk: no ORM object, so no identity map that
# grows with the month (bench B3 writes 40,000 lines).
_INSERT_LINES = insert(cast(Table, JournalLine.__table__))
_INSERT_ENTRIES = insert(JournalEntry).returning(JournalEntry.id, sort_by_parameter_order=True)


def _write(
    session: Session, batch: JournalBatch, pending: Unposted, resolver: MappingResolver
) -> JournalLineAmounts:
    """The second pass: each chunk's entries (one INSERT ... RETURNING, ids in draft
    order), their lines, and its sources held by the batch. Returns the totals."""
    total_debit = total_credit = ZERO
    for drafts, context in draft_chunks(session, pending):
        resolve = _account_resolver(resolver, context)
        entries: list[dict[str, object]] = []
        legs: list[list[tuple[int, Decimal, Decimal]]] = []
        for draft in drafts:
            lines = [
                (account, leg.debit, leg.credit)
                for leg in draft.legs
                if isinstance(account := resolve(leg.ref), int)
            ]
            if not lines:
                continue
            entries.append(
                {
                    "batch_id": batch.id,
                    "date": draft.date,
                    "memo": draft.memo[:1000],
                    "source_type": draft.source_type,
                    "source_id": draft.source_id,
                }
            )
            legs.append(lines)
        if entries:
            entry_ids = session.scalars(_INSERT_ENTRIES, entries).all()
            rows = [
                {"entry_id": entry_id, "account_id": account, "debit": debit, "credit": credit}
                for entry_id, lines in zip(entry_ids, legs, strict=True)
                for account, debit, credit in lines
            ]
            session.execute(_INSERT_LINES, rows)
            total_debit += sum((debit for lines in legs for _a, debit, _c in lines), ZERO)
            total_credit += sum((credit for lines in legs for _a, _d, credit in lines), ZERO)
        _hold_sources(session, batch, drafts, context, resolve)
        session.flush()  # the lots' deferred accounts: nothing of the chunk stays held
    return total_debit, total_credit


def _hold_sources(
    session: Session,
    batch: JournalBatch,
    drafts: list[DraftEntry],
    context: Context,
    resolve: Callable[[Ref], int | str | Misdirected],
) -> None:
    """Mark every source as held by the batch, and fix each lot's deferred account."""
    for source_type, (model, column) in _SOURCE_TABLES.items():
        ids = [d.source_id for d in drafts if d.source_type == source_type]
        for chunk in chunks(ids):
            session.execute(
                update(model)
                .where(model.id.in_(chunk), column.is_(None))
                .values({column.key: batch.id})
                .execution_options(synchronize_session=False)
            )
    # A lot's deferred account is fixed the first time it is posted.
    for ref_lot in {leg.ref.lot_id for d in drafts for leg in d.legs if isinstance(leg.ref, LotAccount)}:
        lot = context.lots[ref_lot]
        if lot.deferred_account_id is None:
            account = resolve(lot_ref(ref_lot))
            if isinstance(account, int):  # always: every mapping resolved above
                lot.deferred_account_id = account
