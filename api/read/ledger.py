"""The chart of accounts, mappings, journal batches and what the books say (the back office's)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting import ledger, periods, rollforward
from accounting.access import LEDGER, Principal, may_read, may_use, visible_row
from api.pagination import Page, paginate
from models import GLAccount, GLMapping, JournalBatch


def gl_accounts(session: Session, principal: Principal) -> list[GLAccount]:
    may_read(principal, LEDGER)
    return list(session.scalars(select(GLAccount).order_by(GLAccount.code)))


def gl_mappings(session: Session, principal: Principal) -> list[GLMapping]:
    may_read(principal, LEDGER)
    return list(session.scalars(select(GLMapping).order_by(GLMapping.kind, GLMapping.scope_key)))


def journal_batches(
    session: Session, principal: Principal, *, first: int | None = None, after: str | None = None
) -> Page[JournalBatch]:
    """Newest first."""
    may_read(principal, LEDGER)
    return paginate(session, select(JournalBatch), JournalBatch, first=first, after=after, newest_first=True)


def journal_batch(session: Session, principal: Principal, batch_id: int) -> JournalBatch:
    may_read(principal, LEDGER)
    return visible_row(session, principal, JournalBatch, batch_id, kind="journal batch")


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


def account_balances(
    session: Session, principal: Principal, account_ids: Sequence[int]
) -> dict[int, Decimal]:
    """Posted debits minus posted credits of each account (api.loaders' `account_balance`)."""
    may_read(principal, LEDGER)
    return ledger.account_balances(session, list(account_ids))
