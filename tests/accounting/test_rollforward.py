"""The deferred revenue rollforward (SPEC §8), to the cent, tied to the ledger."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from accounting import agreements, batches, billing, closing, drawdown, expiry, mappings, rollforward
from accounting.errors import InvalidInput
from models.enums import AccountType, ApplicationUnits, MappingKind
from testkit import factories

D = Decimal
JUL_1, JUL_31 = dt.date(2026, 7, 1), dt.date(2026, 7, 31)
AUG_1, AUG_31 = dt.date(2026, 8, 1), dt.date(2026, 8, 31)


def day(n: int) -> dt.date:
    return JUL_1 + dt.timedelta(days=n - 1)


def numbers(result: rollforward.Rollforward) -> dict[str, Decimal]:
    return {
        "opening": result.opening,
        "purchases": result.purchases,
        "released": result.released,
        "breakage": result.breakage,
        "refunded": result.refunded,
        "closing": result.closing,
        "ledger_closing": result.ledger_closing,
        "unposted": result.unposted,
        "difference": result.difference,
    }


def row(result: rollforward.Rollforward, agreement_id: int) -> tuple[Decimal, ...]:
    [r] = [r for r in result.rows if r.agreement_id == agreement_id]
    return (r.opening, r.purchases, r.released, r.breakage, r.refunded, r.closing)


@pytest.fixture
def history(session: Session):  # type: ignore[no-untyped-def]
    """July and August of two customers.

    ACME, hours expiring after a month: 10 h at 150.00 on July 1st; 3 h and 2 h of time,
    billed; the 2 h reversed; 1 h written off; the 6 h left expire on August 1st.
    GLOBEX, a discounted AMOUNT block: 2,000.00 of credit for 1,800.00; 600.00 of time
    (releasing 540.00); cancelled on August 10th with the 1,260.00 left refunded.
    A batch posts July on July 31st; August is not posted.
    """
    factories.chart_of_accounts(session)
    rates = factories.rates(session)
    hours = factories.block_time_type(session, rates=rates, expire_after_months=1)
    credit = factories.block_time_type(
        session, rates=rates, name="Credit", units=ApplicationUnits.AMOUNT, threshold=None
    )
    acme = factories.agreement(session, agreement_type=hours, identifier="ACME")
    globex = factories.agreement(session, agreement_type=credit, identifier="GLOBEX")
    # Revenue at purchase never touches the liability: not in the rollforward.
    at_purchase = factories.block_time_type(session, rates=rates, name="At purchase", reverse_revenue=False)
    income = mappings.create_gl_account(session, code="4100", name="Block Revenue", type=AccountType.REVENUE)
    mappings.set_gl_mapping(
        session, kind=MappingKind.AGREEMENT_TYPE, agreement_type_id=at_purchase.id, account_id=income.id
    )
    initech = factories.agreement(session, agreement_type=at_purchase, identifier="INITECH")
    agreements.purchase_block(
        session, agreement_id=initech.id, units=D("3"), unit_price=D("99"), effective_date=day(2)
    )

    def log(deal, date: dt.date, hours: str):  # type: ignore[no-untyped-def]
        return factories.log_time(
            session,
            agreement=deal,
            rates=rates,
            date=date,
            hours=hours,
        )

    agreements.purchase_block(
        session, agreement_id=acme.id, units=D("10"), unit_price=D("150.00"), effective_date=JUL_1
    )
    agreements.purchase_block(
        session, agreement_id=globex.id, units=D("2000.00"), unit_price=D("0.90"), effective_date=JUL_1
    )
    log(acme, day(5), "3")
    reversed_entry = log(acme, day(10), "2")
    log(globex, day(8), "4")
    billing.run_billing(session, through_date=day(15))
    drawdown.reverse_time_entry(session, time_entry_id=reversed_entry.id, today=day(20))
    agreements.adjust_agreement(
        session, agreement_id=acme.id, units=D("-1"), reason="goodwill", today=day(25)
    )
    batch = batches.create_batch(session, through_date=JUL_31)
    batches.post_batch(session, batch_id=batch.id)
    expiry.expire_blocks(session, as_of=AUG_1)
    agreements.cancel_agreement(
        session, agreement_id=globex.id, refund_unused=True, today=dt.date(2026, 8, 10)
    )
    return session, acme, globex


class TestRollforward:
    def test_july_posted(self, history) -> None:  # type: ignore[no-untyped-def]
        session, acme, globex = history
        july = rollforward.deferred_revenue_rollforward(session, from_date=JUL_1, to_date=JUL_31)

        assert numbers(july) == {
            "opening": D("0.00"),
            "purchases": D("3300.00"),  # 1,500.00 + the discounted 1,800.00
            "released": D("990.00"),  # 450.00 + 300.00 - 300.00 reversed + 540.00
            "breakage": D("150.00"),  # 1 h written off
            "refunded": D("0.00"),
            "closing": D("2160.00"),
            "ledger_closing": D("2160.00"),
            "unposted": D("0.00"),
            "difference": D("0.00"),
        }
        assert row(july, acme.id) == (D("0"), D("1500.00"), D("450.00"), D("150.00"), D("0"), D("900.00"))
        assert row(july, globex.id) == (D("0"), D("1800.00"), D("540.00"), D("0"), D("0"), D("1260.00"))
        assert len(july.rows) == 2

    def test_august_unposted(self, history) -> None:  # type: ignore[no-untyped-def]
        session, acme, globex = history
        august = rollforward.deferred_revenue_rollforward(session, from_date=AUG_1, to_date=AUG_31)

        assert numbers(august) == {
            "opening": D("2160.00"),
            "purchases": D("0.00"),
            "released": D("0.00"),
            "breakage": D("900.00"),  # the 6 h left expired on August 1st
            "refunded": D("1260.00"),  # 1,400.00 of credit at 0.90
            "closing": D("0.00"),
            "ledger_closing": D("2160.00"),  # nothing of August is posted
            "unposted": D("-2160.00"),
            "difference": D("0.00"),
        }
        assert row(august, acme.id) == (D("900.00"), D("0"), D("0"), D("900.00"), D("0"), D("0.00"))
        assert row(august, globex.id) == (D("1260.00"), D("0"), D("0"), D("0"), D("1260.00"), D("0.00"))

    def test_after_posting_august_the_ledger_holds_it_all(self, history) -> None:  # type: ignore[no-untyped-def]
        session, _, _ = history
        batch = batches.create_batch(session, through_date=AUG_31)
        batches.post_batch(session, batch_id=batch.id)
        closing.close_period(session, through=AUG_31, today=dt.date(2026, 9, 1))

        both = rollforward.deferred_revenue_rollforward(session, from_date=JUL_1, to_date=AUG_31)

        assert numbers(both) == {
            "opening": D("0.00"),
            "purchases": D("3300.00"),
            "released": D("990.00"),
            "breakage": D("1050.00"),
            "refunded": D("1260.00"),
            "closing": D("0.00"),
            "ledger_closing": D("0.00"),
            "unposted": D("0.00"),
            "difference": D("0.00"),
        }

    def test_a_mid_month_cut_between_usage_and_its_invoice(self, history) -> None:  # type: ignore[no-untyped-def]
        # On July 9th the usage of July 5th and 8th is drawn but invoiced only on the 15th.
        session, _, _ = history
        cut = rollforward.deferred_revenue_rollforward(session, from_date=JUL_1, to_date=day(9))

        assert (cut.closing, cut.ledger_closing, cut.unposted, cut.difference) == (
            D("2310.00"),  # 3,300.00 - 450.00 (ACME, July 5th) - 540.00 (GLOBEX, July 8th)
            D("3300.00"),  # the purchases; the usage invoice is dated July 15th
            D("-990.00"),
            D("0.00"),
        )

    def test_the_range_is_checked(self, session: Session) -> None:
        with pytest.raises(InvalidInput, match="must be on or before to"):
            rollforward.deferred_revenue_rollforward(session, from_date=AUG_1, to_date=JUL_1)
        with pytest.raises(InvalidInput, match="a range of at most 5 years"):
            rollforward.deferred_revenue_rollforward(session, from_date=JUL_1, to_date=dt.date(2031, 7, 2))
        rollforward.deferred_revenue_rollforward(session, from_date=JUL_1, to_date=dt.date(2031, 7, 1))


class TestRollforwardCost:
    def test_a_fixed_number_of_statements_whatever_the_history(self, session: Session) -> None:
        """Summed by the database: three statements for one agreement or for twenty."""
        factories.chart_of_accounts(session)
        rates = factories.rates(session)
        kind = factories.block_time_type(session, rates=rates)

        def add(identifiers: range) -> None:
            for n in identifiers:
                deal = factories.agreement(session, agreement_type=kind, identifier=f"C{n}")
                agreements.purchase_block(
                    session, agreement_id=deal.id, units=D("5"), unit_price=D("120.00"), effective_date=JUL_1
                )
                factories.log_time(
                    session,
                    agreement=deal,
                    rates=rates,
                    date=day(3),
                    hours="1.5",
                )
            billing.run_billing(session, through_date=day(5))
            batches.post_batch(session, batch_id=batches.create_batch(session, through_date=day(5)).id)
            session.flush()

        def statements() -> tuple[int, rollforward.Rollforward]:
            seen: list[str] = []
            connection = session.connection()
            listen = lambda *args: seen.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
            event.listen(connection, "before_cursor_execute", listen)
            try:
                result = rollforward.deferred_revenue_rollforward(session, from_date=JUL_1, to_date=JUL_31)
            finally:
                event.remove(connection, "before_cursor_execute", listen)
            return len(seen), result

        add(range(1))
        few, small = statements()
        add(range(1, 20))
        many, large = statements()

        assert few == many == 3
        assert (small.closing, large.closing) == (D("420.00"), D("8400.00"))
        assert (len(large.rows), large.difference) == (20, D("0.00"))
