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
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting import clock, jobs
from accounting.agreements import (
    add_months,
    create_agreement,
    invoice_number,
    load_agreement_type,
    rearm_alerts,
)
from accounting.errors import InvalidInput
from accounting.lots import lock_agreement, take_from_lot
from accounting.money import ZERO, paid_value
from accounting.validation import check_amount, optional_text
from models import (
    Addition,
    Agreement,
    Allowance,
    AllowanceCycle,
    Invoice,
    InvoiceLine,
    Lot,
    OutboxJob,
)
from models.enums import AgreementStatus, Cycle, InvoiceKind, LotSource, MovementKind, RolloverPolicy

MONTHS_PER_CYCLE = {Cycle.MONTHLY: 1, Cycle.QUARTERLY: 3, Cycle.YEARLY: 12}
MAX_ROLLOVER_CYCLES = 120


def cycle_start(start_date: dt.date, cycle: Cycle, number: int) -> dt.date:
    """The start of cycle `number` (0 = startDate): startDate plus that many periods,
    the day clamped to the month's last (a start on Jan 31 renews on Feb 28/29, Mar 31).

    Computed from startDate each time, never from the previous (possibly clamped) start.
    """
    return add_months(start_date, number * MONTHS_PER_CYCLE[cycle])


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


def renews(agreement: Agreement, start: dt.date) -> bool:
    """Cycles stop at the agreement's endDate and at its cancellation."""
    if agreement.status is AgreementStatus.CANCELLED:
        return False
    return agreement.end_date is None or start <= agreement.end_date


def next_renewal(agreement: Agreement, allowance: Allowance) -> dt.date | None:
    """The start of the next cycle not yet renewed; None once the agreement has ended."""
    return allowance.next_renewal if renews(agreement, allowance.next_renewal) else None


def carry_over(allowance: Allowance, remaining: Decimal) -> Decimal:
    """How many of a cycle's unused units the next cycle carries (SPEC §9)."""
    if allowance.rollover is RolloverPolicy.ALL:
        return remaining
    if allowance.rollover is RolloverPolicy.CAPPED and allowance.rollover_cap is not None:
        return min(remaining, allowance.rollover_cap)
    return ZERO


def renew_allowances(session: Session, *, as_of: dt.date) -> list[AllowanceCycle]:
    """Renew every cycle that starts on or before as_of and has not been renewed,
    agreement by agreement, each one's cycles oldest first (SPEC §9)."""
    due = session.scalars(
        select(Allowance.agreement_id)
        .join(Agreement, Agreement.id == Allowance.agreement_id)
        .where(Allowance.next_renewal <= as_of, Agreement.status != AgreementStatus.CANCELLED)
        .order_by(Allowance.agreement_id)
    ).all()
    renewed: list[AllowanceCycle] = []
    for agreement_id in due:
        renewed += renew_agreement(session, agreement_id=agreement_id, as_of=as_of)
    return renewed


def renew_agreement(session: Session, *, agreement_id: int, as_of: dt.date) -> list[AllowanceCycle]:
    """Renew one agreement's due cycles under its row lock: a second run, a retry or a
    concurrent job finds them renewed (and the unique keys refuse a duplicate anyway)."""
    agreement = lock_agreement(session, agreement_id)
    if agreement is None:
        return []
    allowance = session.scalars(
        select(Allowance)
        .where(Allowance.agreement_id == agreement_id)
        .execution_options(populate_existing=True)
    ).first()
    if allowance is None:
        return []
    renewed: list[AllowanceCycle] = []
    while allowance.next_renewal <= as_of and renews(agreement, allowance.next_renewal):
        renewed.append(_renew_cycle(session, agreement, allowance))
    if renewed:
        rearm_alerts(session, agreement)
        jobs.enqueue(session, jobs.EVALUATE_BALANCE, agreement_id=agreement.id)
    return renewed


def _renew_cycle(session: Session, agreement: Agreement, allowance: Allowance) -> AllowanceCycle:
    number, start = allowance.next_cycle, allowance.next_renewal
    carried = expired = ZERO
    carried_lot_id: int | None = None
    if number > 0:
        carried, expired, carried_lot_id = _roll_over(session, agreement, allowance, number, start)
    _expire_due_lots(session, agreement.id, start)
    following = cycle_start(agreement.start_date, allowance.cycle, number + 1)
    addition, lot = _bill_cycle(session, agreement, allowance, start=start, expires_on=following)
    renewed = AllowanceCycle(
        agreement_id=agreement.id,
        number=number,
        start=start,
        addition_id=addition.id,
        lot_id=lot.id,
        carried_units=carried,
        expired_units=expired,
        carried_lot_id=carried_lot_id,
    )
    session.add(renewed)
    allowance.next_cycle = number + 1
    allowance.next_renewal = following
    session.flush()
    return renewed


def _roll_over(
    session: Session, agreement: Agreement, allowance: Allowance, number: int, start: dt.date
) -> tuple[Decimal, Decimal, int | None]:
    """At cycle `number`'s start, the previous cycle's allowance lot carries what the
    policy allows (kept in the lot, now expiring rolloverCycles cycles later) and
    expires the rest, dated the cycle start."""
    previous_lot_id = session.scalar(
        select(AllowanceCycle.lot_id).where(
            AllowanceCycle.agreement_id == agreement.id, AllowanceCycle.number == number - 1
        )
    )
    if previous_lot_id is None:
        return ZERO, ZERO, None
    lot = session.scalars(
        select(Lot).where(Lot.id == previous_lot_id).execution_options(populate_existing=True)
    ).one()
    # Only units still in the lot at its original end roll; a lot already expired has none.
    if lot.expires_on != start or lot.units_remaining <= 0:
        return ZERO, ZERO, None
    remaining = lot.units_remaining
    carried = carry_over(allowance, remaining)
    expired = remaining - carried
    if expired > 0:
        take_from_lot(session, lot, expired, kind=MovementKind.EXPIRY, date=start)
    if carried > 0:
        lot.expires_on = cycle_start(
            agreement.start_date, allowance.cycle, number + allowance.rollover_cycles
        )
    return carried, expired, lot.id if carried > 0 else None


def _expire_due_lots(session: Session, agreement_id: int, on: dt.date) -> None:
    """Lots of the agreement whose expiresOn has come by this cycle start (carried units
    at the end of their extra cycles, top-ups) expire as expireBlocks would expire them."""
    lots = session.scalars(
        select(Lot)
        .where(
            Lot.agreement_id == agreement_id,
            Lot.expires_on.is_not(None),
            Lot.expires_on <= on,
            Lot.units_remaining > 0,
        )
        .order_by(Lot.effective_date, Lot.id)
        .execution_options(populate_existing=True)
    ).all()
    for lot in lots:
        take_from_lot(session, lot, lot.units_remaining, kind=MovementKind.EXPIRY, date=lot.expires_on or on)


def _bill_cycle(
    session: Session, agreement: Agreement, allowance: Allowance, *, start: dt.date, expires_on: dt.date
) -> tuple[Addition, Lot]:
    """The cycle's units as a purchase: an addition, its lot and its PREPAID_PURCHASE invoice."""
    amount = paid_value(allowance.units, allowance.unit_price)
    invoice = Invoice(
        number=invoice_number(session),
        kind=InvoiceKind.PREPAID_PURCHASE,
        company_id=agreement.company_id,
        agreement_id=agreement.id,
        date=start,
        total=amount,
    )
    session.add(invoice)
    session.flush()
    session.add(
        InvoiceLine(
            invoice_id=invoice.id,
            position=1,
            description=f"{allowance.product} {start.isoformat()} to {expires_on.isoformat()}",
            quantity=allowance.units,
            unit_price=allowance.unit_price,
            amount=amount,
        )
    )
    addition = Addition(
        agreement_id=agreement.id,
        product=allowance.product,
        category=allowance.category,
        subcategory=allowance.subcategory,
        units=allowance.units,
        unit_price=allowance.unit_price,
        amount=amount,
        effective_date=start,
        expires_on=expires_on,
        invoice_id=invoice.id,
    )
    session.add(addition)
    session.flush()
    lot = Lot(
        agreement_id=agreement.id,
        source=LotSource.PURCHASE,
        addition_id=addition.id,
        units=allowance.units,
        unit_price=allowance.unit_price,
        units_remaining=allowance.units,
        effective_date=start,
        expires_on=expires_on,
    )
    session.add(lot)
    session.flush()
    return addition, lot


def allowance_lot_ends(session: Session, lot_ids: list[int]) -> dict[int, Allowance]:
    """Of these lots, those that are their agreement's current cycle's allowance lot,
    with the allowance: at their expiresOn the next cycle decides what carries."""
    if not lot_ids:
        return {}
    rows = session.execute(
        select(AllowanceCycle.lot_id, Allowance)
        .join(Allowance, Allowance.agreement_id == AllowanceCycle.agreement_id)
        .where(AllowanceCycle.lot_id.in_(lot_ids), AllowanceCycle.number == Allowance.next_cycle - 1)
    ).all()
    return dict(rows)


def allowances_of_agreements(session: Session, agreement_ids: Iterable[int]) -> dict[int, list[Allowance]]:
    """Each agreement's allowance (a list of at most one), for the API's batch loader."""
    grouped: dict[int, list[Allowance]] = {}
    ids = sorted(set(agreement_ids))
    for start in range(0, len(ids), 900):
        for row in session.scalars(
            select(Allowance).where(Allowance.agreement_id.in_(ids[start : start + 900]))
        ):
            grouped.setdefault(row.agreement_id, []).append(row)
    return grouped


def request_renewal(
    session: Session, *, as_of: dt.date | None = None, today: dt.date | None = None
) -> OutboxJob:
    """renewAllowances(asOf): checked here, done by the allowances.renew job."""
    day = today or clock.today()
    as_of = as_of or day
    if as_of > day:
        raise InvalidInput(f"asOf must not be after today ({day}), got {as_of}")
    return jobs.enqueue(session, jobs.RENEW_ALLOWANCES, as_of=as_of.isoformat())
