"""Hypothesis: random histories never put the books, the balances or the statements out of line.

Histories have blocks taking effect on random dates, time logged on any date (back-dated
after later entries, on the day a lot takes effect or expires), expiry run on a lot's
expiresOn; after every step every statement adds up (SPEC §8)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from accounting import (
    agreements,
    allowances,
    batches,
    billing,
    catalog,
    clock,
    closing,
    drawdown,
    expiry,
    ledger,
    mappings,
    periods,
    rollforward,
    statements,
)
from accounting.errors import Conflict, InsufficientBalance, InvalidInput
from models import (
    Addition,
    Agreement,
    AllowanceCycle,
    Invoice,
    JournalEntry,
    JournalLine,
    Lot,
    LotMovement,
    TimeEntry,
)
from models.db import session_factory
from models.enums import (
    AccountType,
    ApplicationUnits,
    BatchStatus,
    BillableOption,
    Cycle,
    LotSource,
    MappingKind,
    MovementKind,
    RolloverPolicy,
)
from testkit import factories
from tests.conftest import reset_database

D = Decimal
START = dt.date(2026, 1, 1)

hundredths = st.integers(min_value=1, max_value=2000).map(lambda n: D(n) / 100)
prices = st.integers(min_value=0, max_value=30000).map(lambda n: D(n) / 100)
days = st.integers(min_value=0, max_value=120)

operations = st.one_of(
    st.tuples(st.just("purchase"), st.integers(0, 3), hundredths, prices, days),
    st.tuples(
        st.just("adjust"), st.integers(0, 3), st.integers(-800, 800).filter(bool).map(lambda n: D(n) / 100)
    ),
    st.tuples(
        st.just("time"),
        st.integers(0, 3),
        hundredths,
        st.sampled_from(["remote", "after_hours"]),
        st.sampled_from(list(BillableOption)),
        days,
    ),
    st.tuples(st.just("reverse"), st.integers(0, 50), st.integers(0, 30)),
    st.tuples(st.just("expire"), days),
    # Time on the very day a lot takes effect or expires, and expiry run on a lot's expiresOn.
    st.tuples(
        st.just("edge"), st.integers(0, 3), st.integers(0, 20), st.sampled_from(["effective", "expires"])
    ),
    st.tuples(st.just("expire_on_day"), st.integers(0, 20)),
    st.tuples(st.just("statement"), st.integers(0, 3), st.integers(-5, 200), st.integers(0, 90)),
    st.tuples(st.just("bill"), days),
    st.tuples(st.just("batch"), days),
    st.tuples(st.just("renew"), days),
    # Close through START + 2d: after billing, expiring and posting through it, or as things stand.
    st.tuples(st.just("close"), days, st.booleans()),
)


def check_invariants(session: Session, deals: list) -> None:  # type: ignore[type-arg]
    for entry_id, debit, credit in session.execute(
        select(JournalLine.entry_id, func.sum(JournalLine.debit), func.sum(JournalLine.credit)).group_by(
            JournalLine.entry_id
        )
    ):
        assert debit == credit, f"journal entry {entry_id} does not balance"
    trial = ledger.trial_balance(session)
    assert sum(r.debit for r in trial) == sum(r.credit for r in trial)
    assert session.scalar(select(func.count(Lot.id)).where(Lot.units_remaining < 0)) == 0
    for deal in deals:
        b = agreements.balance(session, deal)
        today = clock.today()
        lots_remaining = session.scalar(
            select(func.coalesce(func.sum(Lot.units_remaining), 0)).where(
                Lot.agreement_id == deal.id,
                Lot.effective_date <= today,
                or_(Lot.expires_on.is_(None), Lot.expires_on > today),
            )
        )
        assert b.units_remaining == D(lots_remaining or 0)
        assert b.units_remaining == b.units_purchased - b.units_applied - b.units_expired
        assert b.units_remaining >= 0
    assert ledger.deferred_revenue_reconciliation(session).difference == 0
    # One lot and one invoice per allowance cycle, however often renewal ran.
    cycles = session.execute(select(AllowanceCycle.agreement_id, AllowanceCycle.start)).all()
    assert len(cycles) == len(set(cycles))
    assert session.scalar(
        select(func.count(Invoice.id))
        .join(Addition, Addition.invoice_id == Invoice.id)
        .join(Lot, Lot.addition_id == Addition.id)
        .where(Lot.source == LotSource.ALLOWANCE)
    ) == len(cycles)
    # The rollforward ties to the ledger over the whole history and at the close, and
    # nothing posted after a close is dated inside it.
    closed = periods.closed_through(session)
    for to in [START + dt.timedelta(days=400)] + ([closed] if closed else []):
        result = rollforward.deferred_revenue_rollforward(session, from_date=START, to_date=to)
        assert result.difference == 0, f"rollforward to {to} is {result.difference} out"
        assert sum((r.closing for r in result.rows), D(0)) == result.closing
    assert not periods.entries_inside_closed_period(session)
    # Covered time drew only lots in effect on its date (SPEC §8).
    outside = session.scalar(
        select(func.count(LotMovement.id))
        .join(Lot, Lot.id == LotMovement.lot_id)
        .where(
            LotMovement.kind == MovementKind.USAGE,
            or_(
                LotMovement.date < Lot.effective_date,
                and_(Lot.expires_on.is_not(None), LotMovement.date >= Lot.expires_on),
            ),
        )
    )
    assert outside == 0
    for deal in deals:
        check_statement(session, deal, START - dt.timedelta(days=3), clock.today())


def check_statement(session: Session, deal: Agreement, start: dt.date, end: dt.date) -> None:
    """opening + lines = closing in units and value, each line's unitsAfter, both ends balances."""
    found = statements.statement(session, agreement=deal, start=start, end=end)
    opening = agreements.balance(session, deal, as_of=start - dt.timedelta(days=1))
    closing = agreements.balance(session, deal, as_of=end)
    assert (found.opening_units, found.opening_value) == (opening.units_remaining, opening.deferred_revenue)
    assert (found.closing_units, found.closing_value) == (closing.units_remaining, closing.deferred_revenue)
    # Never less than nothing on any day, but for the one case known and left for a decision
    # (tests/accounting/test_statements.py, the xfail test on time back-dated before a reversal).
    never_below_zero = not drew_units_given_back_later(session, deal)
    units, value, last = found.opening_units, found.opening_value, start
    for line in found.lines:
        assert start <= last <= line.date <= end
        units, value, last = units + line.units, value + line.value, line.date
        assert line.units_after == units
        assert units >= 0 or not never_below_zero
    assert (units, value) == (found.closing_units, found.closing_value)
    for b in (opening, closing):
        assert b.units_remaining == b.units_purchased - b.units_applied - b.units_expired
        assert (b.units_remaining >= 0 or not never_below_zero) and b.units_scheduled >= 0


def drew_units_given_back_later(session: Session, deal: Agreement) -> bool:
    """Whether time dated d drew from a lot after a reversal dated after d had given units back to it."""
    usage, reversal = aliased(LotMovement), aliased(LotMovement)
    return bool(
        session.scalar(
            select(func.count(usage.id))
            .join(reversal, reversal.lot_id == usage.lot_id)
            .join(Lot, Lot.id == usage.lot_id)
            .where(
                Lot.agreement_id == deal.id,
                usage.kind == MovementKind.USAGE,
                reversal.kind == MovementKind.REVERSAL,
                reversal.id < usage.id,
                reversal.date > usage.date,
            )
        )
    )


def replay(engine: Engine, ops: list) -> None:  # type: ignore[type-arg]
    reset_database(engine)
    session = session_factory(engine)()
    try:
        _replay(session, ops)
    finally:
        session.rollback()
        session.close()


def _replay(session: Session, ops: list) -> None:  # type: ignore[type-arg]
    factories.chart_of_accounts(session)
    rates = factories.rates(session)
    hours_type = factories.block_time_type(session, rates=rates, allow_overruns=True, expire_after_months=2)
    amount_type = factories.block_time_type(
        session,
        rates=rates,
        name="Credit",
        units=ApplicationUnits.AMOUNT,
        expire_after_months=3,
        threshold=D("100"),
    )
    at_purchase = factories.block_time_type(
        session,
        rates=rates,
        name="Revenue at purchase",
        reverse_revenue=False,
        allow_overruns=True,
        expire_after_months=1,
    )
    # Revenue at purchase credits a revenue account, never the deferred liability.
    income = mappings.create_gl_account(session, code="4100", name="Block Revenue", type=AccountType.REVENUE)
    mappings.set_gl_mapping(
        session, kind=MappingKind.AGREEMENT_TYPE, agreement_type_id=at_purchase.id, account_id=income.id
    )
    deals = [
        factories.agreement(session, agreement_type=hours_type, identifier="ACME", start=START),
        factories.agreement(session, agreement_type=amount_type, identifier="GLOBEX", start=START),
        factories.agreement(session, agreement_type=at_purchase, identifier="INITECH", start=START),
    ]
    deals[1].allow_overruns = False
    # A monthly allowance (SPEC §9) at an odd price: 8 h, up to 3 carried for 2 cycles.
    umbrella = catalog.create_company(session, identifier="UMBRELLA", name="Umbrella")
    deals.append(
        allowances.create_agreement_with_allowance(
            session,
            company_id=umbrella.id,
            agreement_type_id=hours_type.id,
            name="Umbrella monthly hours",
            start_date=START,
            today=START,
            allowance=allowances.AllowanceTerms(
                cycle=Cycle.MONTHLY,
                units=D("8"),
                unit_price=D("37.77"),
                rollover=RolloverPolicy.CAPPED,
                rollover_cap=D("3"),
                rollover_cycles=2,
            ),
        )
    )
    session.flush()
    for op in ops:
        kind = op[0]
        if kind == "purchase":
            _, which, units, price, day = op
            # AMOUNT credit sells at 0.50-1.00 per unit of value; HOURS blocks at any price.
            unit_price = D(int(price * 100) % 51 + 50) / 100 if which == 1 else price
            try:
                with session.begin_nested():
                    agreements.purchase_block(
                        session,
                        agreement_id=deals[which].id,
                        units=units * (100 if which == 1 else 1),
                        unit_price=unit_price,
                        effective_date=START + dt.timedelta(days=day),
                    )
            except InvalidInput:
                assert START + dt.timedelta(days=day) <= (periods.closed_through(session) or START)
        elif kind == "adjust":
            _, which, units = op
            try:
                with session.begin_nested():
                    agreements.adjust_agreement(
                        session,
                        agreement_id=deals[which].id,
                        units=units,
                        reason="property test",
                        today=START + dt.timedelta(days=30),
                    )
            except InsufficientBalance:
                pass
            except InvalidInput:  # inside a closed period
                assert START + dt.timedelta(days=30) <= (periods.closed_through(session) or START)
        elif kind == "time":
            _, which, hours, work, option, day = op
            try:
                with session.begin_nested():
                    factories.log_time(
                        session,
                        agreement=deals[which],
                        rates=rates,
                        work_type=getattr(rates, work),
                        date=START + dt.timedelta(days=day),
                        hours=hours,
                        billable_option=option,
                    )
            except InsufficientBalance:
                assert which == 1
        elif kind == "reverse":
            entries = session.scalars(
                select(TimeEntry).where(TimeEntry.reversed.is_(False)).order_by(TimeEntry.id)
            ).all()
            if entries:
                entry = entries[op[1] % len(entries)]
                drawdown.reverse_time_entry(
                    session, time_entry_id=entry.id, today=entry.date + dt.timedelta(days=op[2])
                )
        elif kind == "expire":
            expiry.expire_blocks(session, as_of=START + dt.timedelta(days=op[1] * 2))
        elif kind == "renew":
            allowances.renew_allowances(session, as_of=START + dt.timedelta(days=op[1] * 2))
        elif kind == "edge":
            _, which, index, edge = op
            lots = session.scalars(
                select(Lot).where(Lot.agreement_id == deals[which].id).order_by(Lot.id)
            ).all()
            if lots:
                lot = lots[index % len(lots)]
                day = lot.effective_date if edge == "effective" else lot.expires_on
                if day is not None and day <= clock.today():
                    try:
                        with session.begin_nested():
                            factories.log_time(
                                session, agreement=deals[which], rates=rates, date=day, hours="0.5"
                            )
                    except InsufficientBalance:
                        assert which == 1
        elif kind == "expire_on_day":
            dated = session.scalars(
                select(Lot.expires_on).where(Lot.expires_on.is_not(None)).order_by(Lot.id)
            ).all()
            if dated:
                expiry.expire_blocks(session, as_of=dated[op[1] % len(dated)])
        elif kind == "statement":
            _, which, first, length = op
            start = START + dt.timedelta(days=first)
            check_statement(session, deals[which], start, start + dt.timedelta(days=length))
        elif kind == "bill":
            billing.run_billing(session, through_date=START + dt.timedelta(days=op[1]))
        elif kind == "batch":
            post_everything_through(session, START + dt.timedelta(days=op[1] * 2))
        elif kind == "close":
            _, day, settle = op
            through = START + dt.timedelta(days=day * 2)
            closed = periods.closed_through(session)
            if settle:
                billing.run_billing(session, through_date=through)
                expiry.expire_blocks(session, as_of=through)
                post_everything_through(session, through)
            try:
                with session.begin_nested():
                    closing.close_period(session, through=through, today=START + dt.timedelta(days=300))
            except InvalidInput:
                assert closed is not None and through < closed
            except Conflict:
                # Refused only with something left, never after settling everything through it.
                assert not settle
                assert closing.unposted_through(session, through=through)
            else:
                assert periods.closed_through(session) == through
        check_invariants(session, deals)

    # Bill and post everything: the books and the lots agree with nothing left over.
    billing.run_billing(session, through_date=clock.today())
    post_everything_through(session, clock.today())
    check_invariants(session, deals)
    rec = ledger.deferred_revenue_reconciliation(session)
    assert (rec.difference, rec.unposted_activity) == (0, 0)
    assert rec.ledger_balance == rec.agreements_total


def post_everything_through(session: Session, day: dt.date) -> None:
    """A batch through `day` and its posting; never an empty batch, nor a refused one with work to do."""
    if not batches.has_entries_to_post(session, through_date=day):
        with pytest.raises(InvalidInput, match=f"^nothing to post through {day.isoformat()}$"):
            batches.create_batch(session, through_date=day)
        return
    batch = batches.create_batch(session, through_date=day)
    posted = batches.post_batch(session, batch_id=batch.id)
    assert (posted.status, posted.error) == (BatchStatus.POSTED, None)
    assert session.scalar(select(func.count(JournalEntry.id)).where(JournalEntry.batch_id == batch.id))


class TestInvariants:
    @settings(
        max_examples=120,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(ops=st.lists(operations, min_size=1, max_size=25))
    def test_random_histories_keep_the_books_balanced(self, engine: Engine, ops: list) -> None:  # type: ignore[type-arg]
        replay(engine, ops)
