"""EXPIRING: a warning before prepaid units expire, once per lot (SPEC §9)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from decimal import Decimal
from typing import Any

from sqlalchemy import BindParameter, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounting import clock, jobs
from accounting.cycles import allowance_lot_ends, carry_over, renews
from accounting.money import ZERO
from accounting.records import chunks
from models import Agreement, AgreementType, Allowance, Lot, Notification
from models.enums import AgreementStatus, NotificationKind


def expiring_key(lot_id: int) -> str:
    return f"{NotificationKind.EXPIRING.value}:{lot_id}"


def check_expiring(
    session: Session, *, today: dt.date | None = None, agreement_ids: Collection[int] | None = None
) -> list[Notification]:
    """Raise EXPIRING once for each lot with units left that expires within its type's
    expiryWarningDays of today, on ACTIVE agreements (all, or those named).

    A current allowance lot warns only of the units its rollover will not carry: units
    that roll over are not about to expire (they warn before their own, final expiry,
    unless the lot has warned already: once per lot).
    """
    today = today or clock.today()
    candidates = _candidates(session, today=today, agreement_ids=agreement_ids)
    if not candidates:
        return []
    warned: set[str] = set()
    for keys in chunks(expiring_key(lot.id) for lot, _ in candidates):
        warned.update(
            session.scalars(select(Notification.dedupe_key).where(Notification.dedupe_key.in_(keys)))
        )
    ending = allowance_lot_ends(session, [lot.id for lot, _ in candidates])
    raised: list[Notification] = []
    for lot, agreement in candidates:
        key = expiring_key(lot.id)
        if key in warned or lot.expires_on is None:
            continue
        units = _units_expiring(lot, agreement, ending.get(lot.id))
        if units <= ZERO:
            continue
        notification = Notification(
            agreement_id=agreement.id,
            kind=NotificationKind.EXPIRING,
            units_remaining=lot.units_remaining,
            dedupe_key=key,
            lot_id=lot.id,
            units=units,
            expires_on=lot.expires_on,
        )
        try:
            with session.begin_nested():
                session.add(notification)
        except IntegrityError:
            continue  # a concurrent check raised it first
        jobs.enqueue(session, jobs.DELIVER_NOTIFICATION, notification_id=notification.id)
        raised.append(notification)
    return raised


def _candidates(
    session: Session, *, today: dt.date, agreement_ids: Collection[int] | None
) -> list[tuple[Lot, Agreement]]:
    """Lots with units left, in effect today, expiring within their type's warning days."""
    horizon = session.scalar(_HORIZON)
    if horizon is None:
        return []
    if agreement_ids is not None and not agreement_ids:
        return []
    parameters: dict[str, Any] = {"today": today, "horizon_end": today + dt.timedelta(days=horizon)}
    if agreement_ids is None:
        stmt = _CANDIDATES
    elif len(agreement_ids) == 1:  # a balance evaluation's: no IN list to render per execution
        stmt, parameters["agreement_id"] = _CANDIDATES_OF_ONE, next(iter(agreement_ids))
    else:
        stmt, parameters["agreement_ids"] = _CANDIDATES_OF, sorted(agreement_ids)
    return [
        (lot, agreement)
        for lot, agreement, days in session.execute(stmt, parameters)
        if lot.expires_on is not None and lot.expires_on <= today + dt.timedelta(days=days or 0)
    ]


# Built once, with bound parameters: every balance evaluation runs them (issue 15).
_HORIZON = (
    select(AgreementType.expiry_warning_days)
    .order_by(AgreementType.expiry_warning_days.desc().nulls_last())
    .limit(1)
)
_TODAY: BindParameter[dt.date] = bindparam("today")
_CANDIDATES = (
    select(Lot, Agreement, AgreementType.expiry_warning_days)
    .join(Agreement, Agreement.id == Lot.agreement_id)
    .join(AgreementType, AgreementType.id == Agreement.agreement_type_id)
    .where(
        AgreementType.expiry_warning_days.is_not(None),
        Agreement.status == AgreementStatus.ACTIVE,
        Lot.units_remaining > 0,
        Lot.expires_on.is_not(None),
        Lot.expires_on > _TODAY,
        Lot.expires_on <= bindparam("horizon_end"),
        Lot.effective_date <= _TODAY,
    )
    .order_by(Lot.agreement_id, Lot.id)
)
_CANDIDATES_OF = _CANDIDATES.where(Lot.agreement_id.in_(bindparam("agreement_ids", expanding=True)))
_CANDIDATES_OF_ONE = _CANDIDATES.where(Lot.agreement_id == bindparam("agreement_id"))


def _units_expiring(lot: Lot, agreement: Agreement, allowance: Allowance | None) -> Decimal:
    """The lot's units left, less what a current allowance's rollover will carry."""
    units = lot.units_remaining
    if (
        allowance is not None
        and lot.expires_on == allowance.next_renewal
        and renews(agreement, lot.expires_on)
    ):
        units -= carry_over(allowance, units)
    return units
