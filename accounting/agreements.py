"""Agreement types, agreements, purchases, adjustments and cancellation (SPEC §1-§2)."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar, cast

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Connection,
    Row,
    Select,
    Table,
    bindparam,
    case,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session, selectinload

from accounting import clock, jobs, periods
from accounting.dates import check_planned_date
from accounting.errors import Conflict, InsufficientBalance, InvalidInput, NotFound
from accounting.lots import lock_agreement, open_lots, take_fifo
from accounting.money import HUNDRED, ZERO, from_hundredths, paid_value, percent
from accounting.records import get, next_numbers
from accounting.validation import check_amount, check_emails, optional_text, require_text
from models import (
    Addition,
    Adjustment,
    Agreement,
    AgreementType,
    Company,
    Invoice,
    InvoiceLine,
    Lot,
    LotMovement,
    Notification,
    WorkRole,
    WorkType,
)
from models.enums import (
    AgreementStatus,
    ApplicationUnits,
    InvoiceKind,
    LotSource,
    MovementKind,
    NotificationKind,
)


def invoice_number(session: Session) -> str:
    return invoice_numbers(session, 1)[0]


def invoice_numbers(session: Session, count: int) -> list[str]:
    return [f"INV-{n:06d}" for n in next_numbers(session, "invoice", count)]


def add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# --- agreement types and agreements -------------------------------------------------


def create_agreement_type(
    session: Session,
    *,
    name: str,
    application_units: ApplicationUnits,
    prepaid: bool,
    reverse_revenue_when_applied: bool,
    allow_overruns: bool = False,
    expire_after_months: int | None = None,
    low_balance_threshold: Decimal | None = None,
    low_balance_percent: Decimal | None = None,
    excluded_work_type_ids: Sequence[int] = (),
    excluded_work_role_ids: Sequence[int] = (),
    expiry_warning_days: int | None = None,
) -> AgreementType:
    name = require_text(name, "name")
    if expiry_warning_days is not None and not 0 <= expiry_warning_days <= 3660:
        raise InvalidInput("expiryWarningDays must be between 0 and 3660")
    if expire_after_months is not None and not 0 < expire_after_months <= 1200:
        raise InvalidInput("expireAfterMonths must be between 1 and 1200")
    if low_balance_threshold is not None:
        check_amount(low_balance_threshold, "lowBalanceThreshold", allow_zero=True)
    if low_balance_percent is not None:
        check_amount(low_balance_percent, "lowBalancePercent", allow_zero=True, maximum=HUNDRED)
    if session.scalar(select(AgreementType.id).where(AgreementType.name == name)) is not None:
        raise Conflict(f"an agreement type named {name} exists")
    agreement_type = AgreementType(
        name=name,
        application_units=application_units,
        prepaid=prepaid,
        reverse_revenue_when_applied=reverse_revenue_when_applied,
        allow_overruns=allow_overruns,
        expire_after_months=expire_after_months,
        low_balance_threshold=low_balance_threshold,
        low_balance_percent=low_balance_percent,
        expiry_warning_days=expiry_warning_days,
    )
    agreement_type.excluded_work_types = [
        get(session, WorkType, i, kind="work type") for i in set(excluded_work_type_ids)
    ]
    agreement_type.excluded_work_roles = [
        get(session, WorkRole, i, kind="work role") for i in set(excluded_work_role_ids)
    ]
    session.add(agreement_type)
    session.flush()
    return agreement_type


def load_agreement_type(session: Session, agreement_type_id: int) -> AgreementType:
    stmt = (
        select(AgreementType)
        .where(AgreementType.id == agreement_type_id)
        .options(
            selectinload(AgreementType.excluded_work_types), selectinload(AgreementType.excluded_work_roles)
        )
    )
    agreement_type = session.scalars(stmt).first()
    if agreement_type is None:
        raise NotFound("agreement type", agreement_type_id)
    return agreement_type


def create_agreement(
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
) -> Agreement:
    if session.get(Company, company_id) is None:
        raise NotFound("company", company_id)
    load_agreement_type(session, agreement_type_id)
    check_planned_date(start_date, field="startDate")
    if end_date is not None and end_date < start_date:
        raise InvalidInput(f"endDate {end_date} is before startDate {start_date}")
    if low_balance_threshold is not None:
        check_amount(low_balance_threshold, "lowBalanceThreshold", allow_zero=True)
    agreement = Agreement(
        company_id=company_id,
        agreement_type_id=agreement_type_id,
        name=require_text(name, "name"),
        status=AgreementStatus.ACTIVE,
        start_date=start_date,
        end_date=end_date,
        allow_overruns=allow_overruns,
        low_balance_threshold=low_balance_threshold,
        alert_epoch=0,
        notify_emails=check_emails(list(notify_emails), "notifyEmails"),
    )
    session.add(agreement)
    session.flush()
    return agreement


def overruns_allowed(agreement: Agreement, agreement_type: AgreementType) -> bool:
    return agreement.allow_overruns if agreement.allow_overruns is not None else agreement_type.allow_overruns


# --- purchases and adjustments ------------------------------------------------------


def purchase_block(
    session: Session,
    *,
    agreement_id: int,
    units: Decimal,
    unit_price: Decimal,
    product: str | None = None,
    category: str | None = None,
    subcategory: str | None = None,
    effective_date: dt.date | None = None,
    today: dt.date | None = None,
) -> Addition:
    """Buy a block: a lot at the price paid, billed at once on a PREPAID_PURCHASE invoice
    dated its effectiveDate (at most 1 year ahead, SPEC §8); the lot covers time from
    that date up to, not including, its expiresOn."""
    check_amount(units, "units")
    check_amount(unit_price, "unitPrice", allow_zero=True)
    category = optional_text(category, "category")
    subcategory = optional_text(subcategory, "subcategory")
    if subcategory is not None and category is None:
        raise InvalidInput("subcategory needs a category")
    agreement = _active_agreement(session, agreement_id)
    agreement_type = session.get_one(AgreementType, agreement.agreement_type_id)
    effective = effective_date or today or clock.today()
    check_planned_date(effective, field="effectiveDate", today=today)
    amount = paid_value(units, unit_price)
    check_amount(amount, "units x unitPrice", allow_zero=True)
    expires_on = _expiry(agreement_type, effective)
    product_name = optional_text(product, "product", max_length=200) or f"{agreement_type.name} block"
    line = InvoiceLine(
        position=1, description=product_name, quantity=units, unit_price=unit_price, amount=amount
    )
    invoice = _purchase_invoice(session, agreement, date=effective, line=line)
    addition = Addition(
        agreement_id=agreement.id,
        product=product_name,
        category=category,
        subcategory=subcategory,
        units=units,
        unit_price=unit_price,
        amount=amount,
        effective_date=effective,
        expires_on=expires_on,
        invoice_id=invoice.id,
    )
    session.add(addition)
    session.flush()
    session.add(
        Lot(
            agreement_id=agreement.id,
            source=LotSource.PURCHASE,
            addition_id=addition.id,
            units=units,
            unit_price=unit_price,
            units_remaining=units,
            effective_date=effective,
            expires_on=expires_on,
        )
    )
    session.flush()
    rearm_alerts(session, agreement)
    jobs.enqueue(session, jobs.EVALUATE_BALANCE, agreement_id=agreement.id)
    return addition


def _active_agreement(session: Session, agreement_id: int) -> Agreement:
    """The agreement, locked; blocks are bought on an ACTIVE one only."""
    agreement = lock_agreement(session, agreement_id)
    if agreement is None:
        raise NotFound("agreement", agreement_id)
    if agreement.status is not AgreementStatus.ACTIVE:
        raise InvalidInput(
            f"agreement {agreement_id} is {agreement.status.value}; "
            "blocks can only be bought on an ACTIVE agreement"
        )
    return agreement


def _expiry(agreement_type: AgreementType, start: dt.date) -> dt.date | None:
    """A block's expiresOn: expireAfterMonths after it takes effect, when the type says so."""
    if not agreement_type.expire_after_months:
        return None
    return add_months(start, agreement_type.expire_after_months)


def _purchase_invoice(session: Session, agreement: Agreement, *, date: dt.date, line: InvoiceLine) -> Invoice:
    """The PREPAID_PURCHASE invoice of a block, with its one line."""
    invoice = Invoice(
        number=invoice_number(session),
        kind=InvoiceKind.PREPAID_PURCHASE,
        company_id=agreement.company_id,
        agreement_id=agreement.id,
        date=date,
        total=line.amount,
    )
    session.add(invoice)
    session.flush()
    # Checked under the invoice counter's lock, which closePeriod takes too (SPEC §8).
    periods.refuse_closed(session, date=date, field="effectiveDate")
    line.invoice_id = invoice.id
    session.add(line)
    return invoice


def adjust_agreement(
    session: Session, *, agreement_id: int, units: Decimal, reason: str, today: dt.date | None = None
) -> Adjustment:
    """Positive: complimentary units in a lot at price 0. Negative: units written off
    FIFO, their paid value moved to breakage when the adjustment is posted."""
    check_amount(units, "units", allow_negative=True)
    reason = require_text(reason, "reason", max_length=2000, free_text=True)
    day = today or clock.today()
    periods.refuse_closed(session, date=day, field="date")
    agreement = lock_agreement(session, agreement_id)
    if agreement is None:
        raise NotFound("agreement", agreement_id)
    adjustment = Adjustment(agreement_id=agreement.id, units=units, reason=reason, date=day, value=ZERO)
    session.add(adjustment)
    session.flush()
    if units > 0:
        agreement_type = session.get_one(AgreementType, agreement.agreement_type_id)
        expires_on = _expiry(agreement_type, day)
        session.add(
            Lot(
                agreement_id=agreement.id,
                source=LotSource.ADJUSTMENT,
                adjustment_id=adjustment.id,
                units=units,
                unit_price=ZERO,
                units_remaining=units,
                effective_date=day,
                expires_on=expires_on,
            )
        )
        session.flush()
        rearm_alerts(session, agreement)
    else:
        # Only units the customer could use today can be written off (SPEC §8).
        lots = open_lots(session, agreement.id, on=day)
        available = sum((lot.units_remaining for lot in lots), ZERO)
        if available < -units:
            raise InsufficientBalance(f"cannot write off {-units} units: {available} remain")
        draws = take_fifo(
            session, lots, -units, kind=MovementKind.WRITE_OFF, date=day, adjustment_id=adjustment.id
        )
        adjustment.value = sum((d.value for d in draws), ZERO)
    session.flush()
    jobs.enqueue(session, jobs.EVALUATE_BALANCE, agreement_id=agreement.id)
    return adjustment


def cancel_agreement(
    session: Session, *, agreement_id: int, refund_unused: bool = False, today: dt.date | None = None
) -> Agreement:
    """Cancel; with refund_unused the paid value left is refunded on a CREDIT_MEMO."""
    day = today or clock.today()
    agreement = lock_agreement(session, agreement_id)
    if agreement is None:
        raise NotFound("agreement", agreement_id)
    if agreement.status is AgreementStatus.CANCELLED:
        raise Conflict(f"agreement {agreement_id} is already cancelled")
    agreement.status = AgreementStatus.CANCELLED
    agreement.cancelled_on = day
    if refund_unused:
        # Expired units are not refunded, even before the expiry job has recorded them;
        # units not yet in effect are (they were paid for).
        lots = [lot for lot in open_lots(session, agreement.id, unexpired_on=day) if lot.unit_price > 0]
        if lots:
            invoice = Invoice(
                number=invoice_number(session),
                kind=InvoiceKind.CREDIT_MEMO,
                company_id=agreement.company_id,
                agreement_id=agreement.id,
                date=periods.posting_date_of(session, day),
                total=ZERO,
            )
            session.add(invoice)
            session.flush()
            total = ZERO
            for position, lot in enumerate(lots, start=1):
                units = lot.units_remaining
                draw = take_fifo(
                    session, [lot], units, kind=MovementKind.REFUND, date=day, invoice_id=invoice.id
                )[0]
                total += draw.value
                session.add(
                    InvoiceLine(
                        invoice_id=invoice.id,
                        position=position,
                        description=f"Refund of {units} unused units at {lot.unit_price}",
                        quantity=units,
                        unit_price=lot.unit_price,
                        amount=-draw.value,
                    )
                )
            invoice.total = -total
    session.flush()
    return agreement


# --- balances -------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    """An agreement's balance on one date (SPEC §2, §8)."""

    units_purchased: Decimal
    units_applied: Decimal
    units_expired: Decimal
    units_remaining: Decimal
    deferred_revenue: Decimal
    percent_remaining: Decimal | None
    is_low: bool
    as_of: dt.date | None = None
    # Bought, not yet in effect on as_of: not usable yet, not in units_remaining.
    units_scheduled: Decimal = ZERO
    # The earliest expiresOn after as_of of a lot in effect with units left, and its units.
    next_expires_on: dt.date | None = None
    units_expiring_next: Decimal = ZERO


# A lot as the ORM loads it, or a row of the columns a balance reads (balances()).
L = TypeVar("L", Lot, "Row[Any]")


@dataclass(frozen=True)
class LotOnDate(Generic[L]):
    """One lot as it stood at the end of a day: what its movements dated on or before
    that day left of it (SPEC §8). Later movements are added back, so reading a past
    date costs the movements after it, never the lot's whole history."""

    lot: L
    day: dt.date
    remaining: Decimal
    applied: Decimal
    expired_recorded: Decimal
    removed: Decimal  # written off or refunded

    @property
    def scheduled(self) -> bool:
        return bool(self.lot.effective_date > self.day)

    @property
    def expired(self) -> bool:
        return bool(self.lot.expires_on is not None and self.lot.expires_on <= self.day)

    @property
    def in_effect(self) -> bool:
        return not self.scheduled and not self.expired


_SUMS = ("usage", "reversal", "expiry", "write_off", "refund")


def _sum_units(kind: MovementKind) -> Any:
    # Money columns hold integer hundredths: sum them in the database, exactly.
    return func.coalesce(
        func.sum(case((LotMovement.kind == kind, type_coerce(LotMovement.units, BigInteger)), else_=0)), 0
    )


def _later_sums(lots: ColumnElement[bool]) -> Any:
    """Per lot that `lots` selects, the sums per kind of its movements dated after the bound "day"."""
    return (
        select(
            LotMovement.lot_id.label("lot_id"),
            _sum_units(MovementKind.USAGE).label("usage"),
            _sum_units(MovementKind.REVERSAL).label("reversal"),
            _sum_units(MovementKind.EXPIRY).label("expiry"),
            _sum_units(MovementKind.WRITE_OFF).label("write_off"),
            _sum_units(MovementKind.REFUND).label("refund"),
        )
        .where(LotMovement.lot_id.in_(select(Lot.id).where(lots)), LotMovement.date > bindparam("day"))
        .group_by(LotMovement.lot_id)
        .subquery()
    )


def _lots_on_statement(lots: ColumnElement[bool]) -> Select[Any]:
    """The lots that `lots` selects, each followed by the sums per kind of its movements
    dated after the bound "day"."""
    later = _later_sums(lots)
    return (
        select(Lot, *(later.c[k] for k in _SUMS))
        .outerjoin(later, later.c.lot_id == Lot.id)
        .where(lots)
        .order_by(Lot.effective_date, Lot.id)
    )


# Built once: a balance check is the hottest read, and building this statement cost more
# than running it.
_LOTS_OF_AGREEMENTS_ON = _lots_on_statement(Lot.agreement_id.in_(bindparam("agreement_ids", expanding=True)))


def lots_on(session: Session, agreement_ids: Sequence[int], day: dt.date) -> dict[int, list[LotOnDate[Lot]]]:
    """Every lot of the agreements as it stood at the end of `day`, FIFO order, in ONE
    statement: each lot joined with the sums, per kind, of its movements dated after
    `day` (index lot_id, date), which are added back to its current counters."""
    found: dict[int, list[LotOnDate[Lot]]] = {i: [] for i in agreement_ids}
    rows = session.execute(_LOTS_OF_AGREEMENTS_ON, {"agreement_ids": list(agreement_ids), "day": day})
    for on in _on_date(((lot, sums) for lot, *sums in rows), day):
        found[on.lot.agreement_id].append(on)
    return found


def lots_selected_on(session: Session, lots: ColumnElement[bool], day: dt.date) -> list[LotOnDate[Lot]]:
    """The lots that the condition `lots` selects, as they stood at the end of `day` (see lots_on)."""
    rows = session.execute(_lots_on_statement(lots), {"day": day})
    return _on_date(((lot, sums) for lot, *sums in rows), day)


def _balance_rows_statement(*, one: bool = False) -> Select[*tuple[Any, ...]]:
    """Per agreement, its type's thresholds and each of its lots (the columns a balance
    reads, with the sums of its movements dated after the bound "day"); one row with no
    lot for an agreement without lots. FIFO order.

    With `one`, of the agreement bound as "agreement_id": an IN list is rendered into the
    SQL text at every execution, which cost a balance check a fifth of this statement's CPU.
    """
    if one:
        the_one: BindParameter[int] = bindparam("agreement_id")
        of_lots, of_agreements = Lot.agreement_id == the_one, Agreement.id == the_one
    else:
        ids: BindParameter[list[int]] = bindparam("agreement_ids", expanding=True)
        of_lots, of_agreements = Lot.agreement_id.in_(ids), Agreement.id.in_(ids)
    later = _later_sums(of_lots)
    return (
        select(
            Agreement.id.label("of_agreement"),
            AgreementType.low_balance_threshold,
            AgreementType.low_balance_percent,
            Lot.agreement_id,
            Lot.effective_date,
            Lot.expires_on,
            Lot.units,
            Lot.unit_price,
            Lot.units_remaining,
            Lot.units_applied,
            Lot.units_expired,
            Lot.units_written_off,
            Lot.units_refunded,
            *(later.c[k] for k in _SUMS),
        )
        .select_from(Agreement)
        .join(AgreementType, AgreementType.id == Agreement.agreement_type_id)
        .outerjoin(Lot, Lot.agreement_id == Agreement.id)
        .outerjoin(later, later.c.lot_id == Lot.id)
        .where(of_agreements)
        .order_by(Lot.effective_date, Lot.id)
    )


# The balance check's one statement (bench B1), built once and run on the session's
# connection as plain rows: no entity, identity map or ORM compilation per request.
_BALANCE_ROWS = _balance_rows_statement()
_BALANCE_ROWS_OF_ONE = _balance_rows_statement(one=True)


def _connection(session: Session) -> Connection:
    """The session's connection, with its pending changes flushed first as session.execute would."""
    if session.autoflush:
        session.flush()
    return session.connection()


def _on_date(rows: Iterable[tuple[L, Sequence[Any]]], day: dt.date) -> list[LotOnDate[L]]:
    found: list[LotOnDate[L]] = []
    for lot, sums in rows:
        usage, reversal, expiry, write_off, refund = (from_hundredths(v) if v else ZERO for v in sums)
        found.append(
            LotOnDate(
                lot=lot,
                day=day,
                remaining=lot.units_remaining + usage - reversal + expiry + write_off + refund,
                applied=lot.units_applied - usage + reversal,
                expired_recorded=lot.units_expired - expiry,
                removed=lot.units_written_off - write_off + lot.units_refunded - refund,
            )
        )
    return found


class Thresholds(Protocol):
    """An agreement type's low-balance settings: an `AgreementType`, or a row of them."""

    @property
    def low_balance_threshold(self) -> Decimal | None: ...
    @property
    def low_balance_percent(self) -> Decimal | None: ...


def low_balance_threshold(agreement: Agreement, agreement_type: Thresholds) -> Decimal | None:
    if agreement.low_balance_threshold is not None:
        return agreement.low_balance_threshold
    return agreement_type.low_balance_threshold


def is_low(
    agreement: Agreement, agreement_type: Thresholds, *, remaining: Decimal, purchased: Decimal
) -> bool:
    """At or below the threshold (units) or the type's percent of what was purchased."""
    if purchased <= 0:
        return False
    threshold = low_balance_threshold(agreement, agreement_type)
    if threshold is not None and remaining <= threshold:
        return True
    pct = agreement_type.low_balance_percent
    return pct is not None and remaining * HUNDRED <= purchased * pct


def balance_from_lots(
    agreement: Agreement, agreement_type: Thresholds, lots: Iterable[LotOnDate[Any]], *, as_of: dt.date
) -> Balance:
    """The balance on `as_of` from its lots on that date (SPEC §8): lots in effect count;
    a lot past its expiresOn counts as expired whether or not the expiry was recorded;
    a lot not yet in effect is only in units_scheduled."""
    bought = applied = expired = removed = remaining = deferred = scheduled = ZERO
    expiring: dict[dt.date, Decimal] = {}
    for on in lots:
        if on.scheduled:
            scheduled += on.remaining
            continue
        bought += on.lot.units
        applied += on.applied
        removed += on.removed
        if on.expired:
            expired += on.expired_recorded + on.remaining
            continue
        expired += on.expired_recorded
        remaining += on.remaining
        deferred += paid_value(on.remaining, on.lot.unit_price)
        if on.lot.expires_on is not None and on.remaining > 0:
            expiring[on.lot.expires_on] = expiring.get(on.lot.expires_on, ZERO) + on.remaining
    # Written-off and refunded units leave "purchased", so remaining = purchased - applied - expired.
    purchased = bought - removed
    next_expires_on = min(expiring) if expiring else None
    return Balance(
        units_purchased=purchased,
        units_applied=applied,
        units_expired=expired,
        units_remaining=remaining,
        deferred_revenue=deferred,
        percent_remaining=percent(remaining, purchased),
        is_low=is_low(agreement, agreement_type, remaining=remaining, purchased=purchased),
        as_of=as_of,
        units_scheduled=scheduled,
        next_expires_on=next_expires_on,
        units_expiring_next=expiring[next_expires_on] if next_expires_on is not None else ZERO,
    )


def balances(
    session: Session, agreements: Sequence[Agreement], *, as_of: dt.date | None = None
) -> dict[int, Balance]:
    """Balances of many agreements on `as_of` (default today) in one query, whatever
    their number and however long their history (SPEC §8)."""
    if not agreements:
        return {}
    day = as_of or clock.today()
    of: dict[str, Any]
    if len(agreements) == 1:
        stmt, of = _BALANCE_ROWS_OF_ONE, {"agreement_id": agreements[0].id}
    else:
        stmt, of = _BALANCE_ROWS, {"agreement_ids": [a.id for a in agreements]}
    rows = _connection(session).execute(stmt, {**of, "day": day})
    thresholds: dict[int, Row[Any]] = {}
    lots: dict[int, list[LotOnDate[Any]]] = {a.id: [] for a in agreements}
    lot_rows = []
    for row in rows:
        thresholds[row.of_agreement] = row
        if row.agreement_id is not None:
            lot_rows.append(row)
    for on in _on_date(((row, row[-len(_SUMS) :]) for row in lot_rows), day):
        lots[on.lot.agreement_id].append(on)
    return {a.id: balance_from_lots(a, thresholds[a.id], lots[a.id], as_of=day) for a in agreements}


def balance(session: Session, agreement: Agreement, *, as_of: dt.date | None = None) -> Balance:
    """One agreement's balance on `as_of`, by default today (SPEC §8)."""
    return balances(session, [agreement], as_of=as_of)[agreement.id]


def alert_key(kind: NotificationKind, agreement: Agreement) -> str:
    """The dedupe key of a LOW_BALANCE or DEPLETED alert: one per crossing (alert epoch)."""
    return f"{kind.value}:{agreement.id}:{agreement.alert_epoch}"


# Two keys bound one by one: an expanding IN list is rendered into the SQL at every execution.
# On the table's columns: the ORM-enabled SELECT cost a third more; notifications are
# always written at once (a savepoint each), so nothing pending is missed.
_NOTIFICATIONS = cast(Table, Notification.__table__)
_ALERTED = select(_NOTIFICATIONS.c.id).where(
    or_(
        _NOTIFICATIONS.c.dedupe_key == bindparam("low_key"),
        _NOTIFICATIONS.c.dedupe_key == bindparam("depleted_key"),
    )
)


def rearm_alerts(session: Session, agreement: Agreement, current: Balance | None = None) -> None:
    """Back above the threshold after this crossing's alerts: the next fall is a new crossing (SPEC §5).

    Every change that raises the balance (a purchase, complimentary units, a reversal)
    calls it in its own transaction: left to the evaluation job, time logged before
    that job ran would drop the balance again unseen. The evaluation calls it too.
    """
    if (current or balance(session, agreement)).is_low:
        return
    keys = {
        "low_key": alert_key(NotificationKind.LOW_BALANCE, agreement),
        "depleted_key": alert_key(NotificationKind.DEPLETED, agreement),
    }
    if session.scalar(_ALERTED, keys) is not None:
        agreement.alert_epoch += 1
