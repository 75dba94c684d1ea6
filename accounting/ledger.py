"""What the books say: account balances, trial balance, deferred revenue reconciliation (SPEC §4)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, func, select, type_coerce
from sqlalchemy.orm import Session

from accounting import clock
from accounting.agreements import lots_selected_on
from accounting.money import CENT, ZERO, paid_value
from accounting.posting import LotAccount, draft_chunks, unbilled_draw_value
from accounting.posting import unposted as unposted_sources
from models import Agreement, AgreementType, GLAccount, JournalEntry, JournalLine, Lot


@dataclass(frozen=True)
class AccountTotals:
    account: GLAccount
    debit: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        """Posted debits minus posted credits."""
        return self.debit - self.credit


def _sum_hundredths(column: Any) -> Any:
    # Sum the stored integer hundredths in the database; converted exactly below.
    return func.coalesce(func.sum(type_coerce(column, BigInteger)), 0)


def _from_hundredths(value: Any) -> Decimal:
    return (Decimal(int(value)) / 100).quantize(CENT)


def account_totals(
    session: Session, account_ids: Sequence[int] | None = None, *, as_of: dt.date | None = None
) -> dict[int, tuple[Decimal, Decimal]]:
    """Posted debit and credit per account, summed by the database in hundredths;
    with as_of, only entries dated on or before it."""
    stmt = select(
        JournalLine.account_id, _sum_hundredths(JournalLine.debit), _sum_hundredths(JournalLine.credit)
    ).group_by(JournalLine.account_id)
    if account_ids is not None:
        stmt = stmt.where(JournalLine.account_id.in_(account_ids))
    if as_of is not None:
        stmt = stmt.join(JournalEntry, JournalEntry.id == JournalLine.entry_id).where(
            JournalEntry.date <= as_of
        )
    return {
        account_id: (_from_hundredths(debit), _from_hundredths(credit))
        for account_id, debit, credit in session.execute(stmt)
    }


def account_balances(session: Session, account_ids: Sequence[int]) -> dict[int, Decimal]:
    totals = account_totals(session, account_ids)
    return {i: totals[i][0] - totals[i][1] if i in totals else ZERO for i in account_ids}


def trial_balance(session: Session, *, as_of: dt.date | None = None) -> list[AccountTotals]:
    """Each account's net posted balance on its side; debits total credits. With as_of,
    the books as they stood on that date: entries dated on or before it (SPEC §8)."""
    totals = account_totals(session, as_of=as_of)
    rows = []
    for account in session.scalars(select(GLAccount).order_by(GLAccount.code)):
        debit, credit = totals.get(account.id, (ZERO, ZERO))
        net = debit - credit
        rows.append(AccountTotals(account, max(net, ZERO), max(-net, ZERO)))
    return rows


@dataclass(frozen=True)
class Reconciliation:
    ledger_balance: Decimal
    agreements_total: Decimal
    unposted_activity: Decimal

    @property
    def difference(self) -> Decimal:
        return self.ledger_balance + self.unposted_activity - self.agreements_total


def deferred_revenue_reconciliation(session: Session, *, today: dt.date | None = None) -> Reconciliation:
    """Ledger vs. lots as of today, the books' view (SPEC §4, §8): posted deferred balance
    + unposted activity dated on or before today - the lots' deferred value.

    The lots' side counts lots in effect today (effectiveDate <= today) less the
    movements recorded on or before today; a lot past its expiresOn counts until the
    expiry job has recorded its expiry, as in the ledger. A purchase dated in the
    future is in none of the three figures until its day comes. Only agreements whose
    type reverses revenue when applied carry a liability; the others recognised
    revenue at purchase.
    """
    day = today or clock.today()
    reversing_types = select(AgreementType.id).where(AgreementType.reverse_revenue_when_applied.is_(True))
    reversing = Lot.agreement_id.in_(
        select(Agreement.id).where(Agreement.agreement_type_id.in_(reversing_types))
    ) & (Lot.effective_date <= day)
    reversing_lots = lots_selected_on(session, reversing, day)
    agreements_total = sum((paid_value(on.remaining, on.lot.unit_price) for on in reversing_lots), ZERO)
    deferred_accounts = sorted(
        {on.lot.deferred_account_id for on in reversing_lots if on.lot.deferred_account_id}
    )
    balances = account_balances(session, deferred_accounts)
    ledger = -sum(balances.values(), ZERO)

    unposted = -unbilled_draw_value(session, through_date=day)
    for drafts, context in draft_chunks(session, unposted_sources(session, through_date=day)):
        for draft in drafts:
            for leg in draft.legs:
                if (
                    isinstance(leg.ref, LotAccount)
                    and context.lot_type(leg.ref.lot_id).reverse_revenue_when_applied
                ):
                    unposted += leg.credit - leg.debit
    return Reconciliation(
        ledger_balance=ledger, agreements_total=agreements_total, unposted_activity=unposted
    )
