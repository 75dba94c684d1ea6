"""Expiry of prepaid units and of agreements past their end date (SPEC §2)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting import clock, jobs
from accounting.allowances import renew_allowances
from accounting.dates import check_not_after_today
from accounting.expiring import check_expiring
from accounting.lots import lock_agreement, take_from_lot
from models import Agreement, Lot, LotMovement, OutboxJob
from models.enums import AgreementStatus, MovementKind


def request_expiry(session: Session, *, as_of: dt.date | None = None) -> OutboxJob:
    """Enqueue the expiry of lots whose expiresOn is on or before `as_of` (default
    today), which may not be after today (SPEC §8): checked before anything is enqueued."""
    day = check_not_after_today(as_of or clock.today(), field="asOf")
    return jobs.enqueue(session, jobs.EXPIRE_BLOCKS, as_of=day.isoformat())


def expire_blocks(session: Session, *, as_of: dt.date) -> list[LotMovement]:
    """Expire the remaining units of every lot whose expiresOn is on or before as_of.

    Each expiry is dated the lot's expiresOn and moves its paid value to breakage
    when posted. Agreements whose endDate has passed become EXPIRED. Running it
    again finds nothing left to expire.

    Allowance cycles due by as_of are renewed first: an allowance lot's end is its
    rollover's to decide, not a plain expiry's (SPEC §9). Lots that will expire
    within their type's warning days raise EXPIRING.
    """
    renew_allowances(session, as_of=as_of)
    agreement_ids = sorted(
        set(
            session.scalars(
                select(Lot.agreement_id).where(
                    Lot.expires_on.is_not(None), Lot.expires_on <= as_of, Lot.units_remaining > 0
                )
            )
        )
    )
    expired: list[LotMovement] = []
    for agreement_id in agreement_ids:
        lock_agreement(session, agreement_id)
        lots = session.scalars(
            select(Lot)
            .where(
                Lot.agreement_id == agreement_id,
                Lot.expires_on.is_not(None),
                Lot.expires_on <= as_of,
                Lot.units_remaining > 0,
            )
            .order_by(Lot.effective_date, Lot.id)
            .execution_options(populate_existing=True)
        ).all()
        for lot in lots:
            expires_on = lot.expires_on or as_of  # the query selected dated lots only
            take_from_lot(session, lot, lot.units_remaining, kind=MovementKind.EXPIRY, date=expires_on)
        session.flush()
        jobs.enqueue(session, jobs.EVALUATE_BALANCE, agreement_id=agreement_id)
    for agreement in session.scalars(
        select(Agreement).where(
            Agreement.status == AgreementStatus.ACTIVE,
            Agreement.end_date.is_not(None),
            Agreement.end_date < as_of,
        )
    ):
        agreement.status = AgreementStatus.EXPIRED
    session.flush()
    check_expiring(session, today=clock.today())
    if agreement_ids:
        expired = list(
            session.scalars(
                select(LotMovement)
                .join(Lot, Lot.id == LotMovement.lot_id)
                .where(
                    LotMovement.kind == MovementKind.EXPIRY,
                    Lot.agreement_id.in_(agreement_ids),
                    LotMovement.batch_id.is_(None),
                )
            )
        )
    return expired
