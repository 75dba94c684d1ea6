"""Recurring allowances: cycles, renewal and rollover (SPEC §9).

A cycle's units are a purchase like any other: an Addition with its lot, billed on a
PREPAID_PURCHASE invoice dated the cycle start, so mappings, postings, the
reconciliation and the rollforward treat them as they treat a block. What is
allowance-specific is recorded in `AllowanceCycle`, one row per renewed cycle, whose
unique (agreement, cycle number) and (agreement, cycle start) keys make a cycle
renew once however often, or however concurrently, the job runs.

Rollover keeps the carried units in the ending cycle's own lot (same paid price, same
deferred value, nothing posted) and moves that lot's expiresOn to the start of the
cycle after its last extra one; what does not carry is expired from it at the
cycle start like any expiry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from accounting import clock, jobs
from accounting.agreements import (
    alert_key,
    balances,
    create_agreement,
    invoice_numbers,
    load_agreement_type,
)
from accounting.cycles import carry_over, cycle_start, renews
from accounting.dates import check_not_after_today
from accounting.errors import InvalidInput
from accounting.expiring import check_expiring
from accounting.money import ZERO, paid_value, release
from accounting.records import chunks
from accounting.validation import check_amount, optional_text
from models import (
    Addition,
    Agreement,
    AgreementType,
    Allowance,
    AllowanceCycle,
    Invoice,
    InvoiceLine,
    Lot,
    LotMovement,
    Notification,
    OutboxJob,
)
from models.enums import (
    AgreementStatus,
    Cycle,
    InvoiceKind,
    LotSource,
    MovementKind,
    NotificationKind,
    RolloverPolicy,
)

MAX_ROLLOVER_CYCLES = 120


@dataclass(frozen=True)
class AllowanceTerms:
    """What createAgreement's `allowance` input asks for, unchecked."""

    cycle: Cycle
    units: Decimal
    unit_price: Decimal
    rollover: RolloverPolicy
    rollover_cap: Decimal | None = None
    rollover_cycles: int | None = None
    product: str | None = None
    category: str | None = None
    subcategory: str | None = None


def check_terms(terms: AllowanceTerms) -> None:
    check_amount(terms.units, "allowance.units")
    check_amount(terms.unit_price, "allowance.unitPrice")
    check_amount(paid_value(terms.units, terms.unit_price), "allowance.units x allowance.unitPrice")
    if terms.rollover is RolloverPolicy.CAPPED:
        if terms.rollover_cap is None:
            raise InvalidInput("allowance.rolloverCap is required with rollover CAPPED")
        check_amount(terms.rollover_cap, "allowance.rolloverCap")
    elif terms.rollover_cap is not None:
        raise InvalidInput(
            f"allowance.rolloverCap is only allowed with rollover CAPPED, not {terms.rollover.value}"
        )
    if terms.rollover_cycles is not None and not 1 <= terms.rollover_cycles <= MAX_ROLLOVER_CYCLES:
        raise InvalidInput(f"allowance.rolloverCycles must be between 1 and {MAX_ROLLOVER_CYCLES}")
    category = optional_text(terms.category, "allowance.category")
    if optional_text(terms.subcategory, "allowance.subcategory") is not None and category is None:
        raise InvalidInput("allowance.subcategory needs a category")


def create_agreement_with_allowance(
    session: Session,
    *,
    company_id: int,
    agreement_type_id: int,
    name: str,
    start_date: dt.date,
    end_date: dt.date | None = None,
    allow_overruns: bool | None = None,
    low_balance_threshold: Decimal | None = None,
    notify_emails: Sequence[str] = (),
    allowance: AllowanceTerms | None = None,
    today: dt.date | None = None,
) -> Agreement:
    """createAgreement; with an allowance, its first cycle renews at once when startDate
    is not in the future (SPEC §9). Later cycles are renew_allowances' business."""
    if allowance is not None:
        check_terms(allowance)
    agreement = create_agreement(
        session,
        company_id=company_id,
        agreement_type_id=agreement_type_id,
        name=name,
        start_date=start_date,
        end_date=end_date,
        allow_overruns=allow_overruns,
        low_balance_threshold=low_balance_threshold,
        notify_emails=notify_emails,
    )
    if allowance is None:
        return agreement
    agreement_type = load_agreement_type(session, agreement_type_id)
    session.add(
        Allowance(
            agreement_id=agreement.id,
            cycle=allowance.cycle,
            units=allowance.units,
            unit_price=allowance.unit_price,
            rollover=allowance.rollover,
            rollover_cap=allowance.rollover_cap,
            rollover_cycles=allowance.rollover_cycles or 1,
            product=optional_text(allowance.product, "allowance.product", max_length=200)
            or f"{agreement_type.name} allowance",
            category=optional_text(allowance.category, "allowance.category"),
            subcategory=optional_text(allowance.subcategory, "allowance.subcategory"),
            next_cycle=0,
            next_renewal=start_date,
        )
    )
    session.flush()
    if start_date <= (today or clock.today()):
        renew_agreement(session, agreement_id=agreement.id, as_of=start_date)
    return agreement


def allowance_of(session: Session, agreement_id: int) -> Allowance | None:
    return session.scalars(select(Allowance).where(Allowance.agreement_id == agreement_id)).first()


# Agreements renewed per round trip: a few statements per chunk, whatever its size,
# and a bounded number of objects in the session at a time.
CHUNK = 500


def renew_allowances(session: Session, *, as_of: dt.date) -> list[RenewedCycle]:
    """Renew every cycle that starts on or before as_of and has not been renewed,
    each agreement's cycles oldest first (SPEC §9)."""
    due = session.scalars(
        select(Allowance.agreement_id)
        .join(Agreement, Agreement.id == Allowance.agreement_id)
        .where(Allowance.next_renewal <= as_of, Agreement.status != AgreementStatus.CANCELLED)
        .order_by(Allowance.agreement_id)
    ).all()
    renewed: list[RenewedCycle] = []
    for chunk in chunks(due, CHUNK):
        renewed += _renew_chunk(session, chunk, as_of)
    return renewed


def renew_agreement(session: Session, *, agreement_id: int, as_of: dt.date) -> list[RenewedCycle]:
    """Renew one agreement's cycles due by as_of."""
    return _renew_chunk(session, [agreement_id], as_of)


@dataclass(frozen=True)
class RenewedCycle:
    """A cycle renewed by this run, and what the previous cycle carried into it or lost."""

    agreement_id: int
    number: int
    start: dt.date
    lot_id: int
    carried_units: Decimal
    expired_units: Decimal


@dataclass
class _Renewal:
    """One agreement's next cycle while a chunk is being written."""

    agreement: Agreement
    allowance: Allowance
    number: int
    start: dt.date
    following: dt.date
    carried: Decimal = ZERO
    expired: Decimal = ZERO
    carried_lot_id: int | None = None


def _renew_chunk(session: Session, agreement_ids: list[int], as_of: dt.date) -> list[RenewedCycle]:
    """Renew the due cycles of these agreements under their row locks, one cycle of
    each per round, in a fixed number of statements per round: the rows a round adds
    are written in bulk, not as ORM objects one by one.

    Each agreement's state is read after its lock, so a second run, a retry or a
    concurrent job finds its cycles renewed; the unique keys refuse a duplicate anyway.
    """
    ids = sorted(set(agreement_ids))
    agreements = {
        a.id: a
        for a in session.scalars(
            select(Agreement)
            .where(Agreement.id.in_(ids))
            .order_by(Agreement.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    terms = {
        a.agreement_id: a
        for a in session.scalars(
            select(Allowance).where(Allowance.agreement_id.in_(ids)).execution_options(populate_existing=True)
        )
    }

    def due(agreement_id: int) -> bool:
        allowance, agreement = terms.get(agreement_id), agreements.get(agreement_id)
        return (
            allowance is not None
            and agreement is not None
            and allowance.next_renewal <= as_of
            and renews(agreement, allowance.next_renewal)
        )

    todo = [i for i in ids if due(i)]
    renewed: list[RenewedCycle] = []
    while todo:
        open_lots: dict[int, list[Lot]] = {i: [] for i in todo}
        for lot in session.scalars(
            select(Lot)
            .where(Lot.agreement_id.in_(todo), Lot.units_remaining > 0)
            .order_by(Lot.effective_date, Lot.id)
            .execution_options(populate_existing=True)
        ):
            open_lots[lot.agreement_id].append(lot)
        # Each agreement's current cycle's allowance lot: the one this start rolls over.
        current_lot: dict[int, int] = dict(
            session.execute(
                select(AllowanceCycle.agreement_id, AllowanceCycle.lot_id)
                .join(Allowance, Allowance.agreement_id == AllowanceCycle.agreement_id)
                .where(
                    AllowanceCycle.agreement_id.in_(todo), AllowanceCycle.number == Allowance.next_cycle - 1
                )
            ).all()
        )
        expiries: list[dict[str, object]] = []
        renewals = [
            _roll_over_and_expire(agreements[i], terms[i], open_lots[i], current_lot.get(i), expiries)
            for i in todo
        ]
        if expiries:
            session.execute(insert(LotMovement), expiries)
        lot_ids = _bill_cycles(session, renewals)
        for r, lot_id in zip(renewals, lot_ids, strict=True):
            renewed.append(RenewedCycle(r.agreement.id, r.number, r.start, lot_id, r.carried, r.expired))
            r.allowance.next_cycle = r.number + 1
            r.allowance.next_renewal = r.following
        session.flush()
        todo = [r.agreement.id for r in renewals if due(r.agreement.id)]
    _after_renewal(session, [agreements[i] for i in sorted({c.agreement_id for c in renewed})], terms)
    return renewed


def _roll_over_and_expire(
    agreement: Agreement,
    allowance: Allowance,
    lots: list[Lot],
    current_lot_id: int | None,
    expiries: list[dict[str, object]],
) -> _Renewal:
    """At a cycle start: the ending cycle's allowance lot carries what the policy allows
    (kept in the lot, which now expires rolloverCycles cycles later) and expires the
    rest, dated the cycle start; then every lot whose expiresOn has come (carried units
    at the end of their extra cycles, top-ups) expires as expireBlocks would expire it."""
    number, start = allowance.next_cycle, allowance.next_renewal
    renewal = _Renewal(
        agreement=agreement,
        allowance=allowance,
        number=number,
        start=start,
        following=cycle_start(agreement.start_date, allowance.cycle, number + 1),
    )
    ending = next((lot for lot in lots if lot.id == current_lot_id), None)
    # Only units still in the lot at its original end roll; a lot already expired has none.
    if ending is not None and ending.expires_on == start and ending.units_remaining > 0:
        remaining = ending.units_remaining
        renewal.carried = carry_over(allowance, remaining)
        renewal.expired = remaining - renewal.carried
        if renewal.expired > 0:
            expiries.append(_expire(ending, renewal.expired, start))
        if renewal.carried > 0:
            ending.expires_on = cycle_start(
                agreement.start_date, allowance.cycle, number + allowance.rollover_cycles
            )
            renewal.carried_lot_id = ending.id
    for lot in lots:
        if lot.expires_on is not None and lot.expires_on <= start and lot.units_remaining > 0:
            expiries.append(_expire(lot, lot.units_remaining, lot.expires_on))
    return renewal


def _expire(lot: Lot, units: Decimal, date: dt.date) -> dict[str, object]:
    """What lots.take_from_lot does for an EXPIRY, with the movement returned as a row to
    insert in bulk: the value is round(before) - round(after), so a lot's movements add
    up to what was paid for it."""
    before = lot.units_remaining
    value = release(before, before - units, lot.unit_price)
    lot.units_remaining = before - units
    lot.units_expired += units
    return {"lot_id": lot.id, "kind": MovementKind.EXPIRY, "units": units, "value": value, "date": date}


def _bill_cycles(session: Session, renewals: list[_Renewal]) -> list[int]:
    """Each cycle's units as a purchase: a PREPAID_PURCHASE invoice dated the cycle start,
    its line, an addition and its lot (effectiveDate = start, expiresOn = next start),
    and the cycle's row. Returns the lots' ids."""
    amounts = [paid_value(r.allowance.units, r.allowance.unit_price) for r in renewals]
    invoice_ids = _invoice_cycles(session, renewals, amounts)
    addition_ids = _inserted(
        session,
        Addition,
        [
            {
                "agreement_id": r.agreement.id,
                "product": r.allowance.product,
                "category": r.allowance.category,
                "subcategory": r.allowance.subcategory,
                "units": r.allowance.units,
                "unit_price": r.allowance.unit_price,
                "amount": amount,
                "effective_date": r.start,
                "expires_on": r.following,
                "invoice_id": invoice_id,
            }
            for r, invoice_id, amount in zip(renewals, invoice_ids, amounts, strict=True)
        ],
    )
    lot_ids = _inserted(
        session,
        Lot,
        [
            {
                "agreement_id": r.agreement.id,
                "source": LotSource.ALLOWANCE,
                "addition_id": addition_id,
                "units": r.allowance.units,
                "unit_price": r.allowance.unit_price,
                "units_remaining": r.allowance.units,
                "effective_date": r.start,
                "expires_on": r.following,
            }
            for r, addition_id in zip(renewals, addition_ids, strict=True)
        ],
    )
    session.execute(
        insert(AllowanceCycle),
        [
            {
                "agreement_id": r.agreement.id,
                "number": r.number,
                "start": r.start,
                "addition_id": addition_id,
                "lot_id": lot_id,
                "carried_units": r.carried,
                "expired_units": r.expired,
                "carried_lot_id": r.carried_lot_id,
            }
            for r, addition_id, lot_id in zip(renewals, addition_ids, lot_ids, strict=True)
        ],
    )
    return lot_ids


def _inserted(
    session: Session, model: type[Invoice | Addition | Lot], rows: list[dict[str, object]]
) -> list[int]:
    """Insert the rows in bulk; their ids, in order."""
    stmt = insert(model).returning(model.id, sort_by_parameter_order=True)
    return list(session.scalars(stmt, rows).all())


def _invoice_cycles(session: Session, renewals: list[_Renewal], amounts: list[Decimal]) -> list[int]:
    """Each cycle's PREPAID_PURCHASE invoice and its one line; the invoices' ids."""
    invoice_ids = _inserted(
        session,
        Invoice,
        [
            {
                "number": number,
                "kind": InvoiceKind.PREPAID_PURCHASE,
                "company_id": r.agreement.company_id,
                "agreement_id": r.agreement.id,
                "date": r.start,
                "total": amount,
            }
            for r, number, amount in zip(
                renewals, invoice_numbers(session, len(renewals)), amounts, strict=True
            )
        ],
    )
    session.execute(
        insert(InvoiceLine),
        [
            {
                "invoice_id": invoice_id,
                "position": 1,
                "description": f"{r.allowance.product} {r.start.isoformat()} to {r.following.isoformat()}",
                "quantity": r.allowance.units,
                "unit_price": r.allowance.unit_price,
                "amount": amount,
            }
            for r, invoice_id, amount in zip(renewals, invoice_ids, amounts, strict=True)
        ],
    )
    return invoice_ids


def _after_renewal(session: Session, renewed: list[Agreement], terms: dict[int, Allowance]) -> None:
    """A new cycle re-arms the low-balance alerts, as a purchase does (SPEC §5, §9): an
    agreement alerted in this crossing that is back above its threshold starts a new
    one. Agreements with a threshold get the notifications job's evaluation (a cycle's
    expiry may outweigh its new units) once they are up to date: one created back-dated
    has nothing in effect today until it has caught up, which is no low balance to
    announce. The change is checked for EXPIRING."""
    if not renewed:
        return
    today = clock.today()
    keys = {
        alert_key(kind, a): a
        for a in renewed
        for kind in (NotificationKind.LOW_BALANCE, NotificationKind.DEPLETED)
    }
    alerted: dict[int, Agreement] = {}
    for chunk in chunks(keys):
        for key in session.scalars(select(Notification.dedupe_key).where(Notification.dedupe_key.in_(chunk))):
            alerted[keys[key].id] = keys[key]
    if alerted:
        current = balances(session, list(alerted.values()))
        for agreement in alerted.values():
            if not current[agreement.id].is_low:
                agreement.alert_epoch += 1
    types = {
        t.id: t
        for t in session.scalars(
            select(AgreementType).where(AgreementType.id.in_({a.agreement_type_id for a in renewed}))
        )
    }
    jobs.enqueue_many(
        session,
        jobs.EVALUATE_BALANCE,
        [
            {"agreement_id": a.id}
            for a in renewed
            if not (terms[a.id].next_renewal <= today and renews(a, terms[a.id].next_renewal))
            and (
                a.low_balance_threshold is not None
                or types[a.agreement_type_id].low_balance_threshold is not None
                or types[a.agreement_type_id].low_balance_percent is not None
            )
        ],
    )
    session.flush()
    # As of today: a back-dated renewal does not warn of lots that have already ended.
    check_expiring(session, today=today, agreement_ids=[a.id for a in renewed])


def request_renewal(
    session: Session, *, as_of: dt.date | None = None, today: dt.date | None = None
) -> OutboxJob:
    """renewAllowances(asOf): asOf may not be after today (SPEC §8); the allowances.renew
    job does the work."""
    day = check_not_after_today(as_of or today or clock.today(), field="asOf", today=today)
    return jobs.enqueue(session, jobs.RENEW_ALLOWANCES, as_of=day.isoformat())
