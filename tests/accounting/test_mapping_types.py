"""SPEC §10: a batch checks the type of every account its mappings resolve to, and names
a mapping that points at the wrong kind of account, like a missing one."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounting import agreements, batches, ledger, mappings
from models import GLMapping, JournalEntry
from models.enums import BatchStatus, MappingKind
from testkit import factories

D = Decimal
DAY = dt.date(2026, 1, 5)


def test_a_category_mapping_made_before_the_check_to_a_revenue_account_fails_the_batch(
    session: Session,
) -> None:
    books = factories.chart_of_accounts(session)
    rates = factories.rates(session)
    block = factories.block_time_type(session, rates=rates)  # reverses revenue when applied
    deal = factories.agreement(session, agreement_type=block)
    # As a mapping set before set_gl_mapping checked account types would be.
    session.add(
        GLMapping(
            kind=MappingKind.PRODUCT_CATEGORY,
            category="Support",
            scope_key=mappings.scope_key(MappingKind.PRODUCT_CATEGORY, None, "Support", None),
            account_id=books.revenue.id,
        )
    )
    agreements.purchase_block(
        session,
        agreement_id=deal.id,
        units=D("10"),
        unit_price=D("150.00"),
        category="Support",
        effective_date=DAY,
    )

    failed = batches.post_batch(session, batch_id=batches.create_batch(session, through_date=DAY).id)

    assert failed.status is BatchStatus.FAILED
    assert failed.error == (
        "GL mappings to the wrong type of account: PRODUCT_CATEGORY for category 'Support' points at "
        "4000 Service Revenue, a REVENUE account; the deferred revenue of agreement type 'Block Time' "
        "(it reverses revenue when applied) needs a LIABILITY account"
    )
    assert session.scalar(select(func.count(JournalEntry.id))) == 0

    mappings.set_gl_mapping(
        session, kind=MappingKind.PRODUCT_CATEGORY, category="Support", account_id=books.deferred.id
    )
    posted = batches.post_batch(session, batch_id=batches.create_batch(session, through_date=DAY).id)

    assert posted.status is BatchStatus.POSTED
    assert posted.total_debit == D("1500.00")
    assert ledger.deferred_revenue_reconciliation(session).difference == D("0.00")


def test_a_missing_and_a_misdirected_mapping_are_both_named(session: Session) -> None:
    books = factories.chart_of_accounts(session, map_agreement_type_default=False)
    rates = factories.rates(session)
    block = factories.block_time_type(session, rates=rates)
    deal = factories.agreement(session, agreement_type=block)
    breakage = session.scalars(select(GLMapping).where(GLMapping.kind == MappingKind.BREAKAGE)).one()
    breakage.account_id = books.deferred.id  # as if set before the check
    agreements.purchase_block(
        session, agreement_id=deal.id, units=D("10"), unit_price=D("150.00"), effective_date=DAY
    )
    agreements.adjust_agreement(session, agreement_id=deal.id, units=D("-1"), reason="write-off", today=DAY)

    failed = batches.post_batch(session, batch_id=batches.create_batch(session, through_date=DAY).id)

    assert failed.status is BatchStatus.FAILED
    assert (failed.error or "").startswith(
        "Missing GL mappings: AGREEMENT_TYPE for agreement type 'Block Time' (or a default AGREEMENT_TYPE "
        "mapping). GL mappings to the wrong type of account: the BREAKAGE mapping points at 2400 Deferred "
        "Revenue, a LIABILITY account; breakage needs a REVENUE account"
    )
