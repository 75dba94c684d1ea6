"""A page of agreements with their relations costs a fixed number of SQL statements, whatever its size."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from accounting import agreements, billing, catalog, drawdown
from models import Agreement, AgreementType, Company, WorkRole, WorkType
from models.db import unit_of_work
from testkit import factories
from tests.api.helpers import Client

DAY = dt.date(2026, 1, 5)
PAGE = """
{
  agreements(first: 100) {
    totalCount
    edges { node {
      id name status applicationUnits allowOverruns lowBalanceThreshold
      company { identifier name }
      type { name excludedWorkTypes { name } excludedWorkRoles { name } }
      balance { unitsRemaining deferredRevenue percentRemaining isLow }
      lots { unitsRemaining deferredValue }
      additions { units invoice { number } }
      timeEntries { hours coverage workType { name } workRole { name } invoice { number } agreement { id } }
      invoices { number kind total lines { description amount } company { identifier } }
    } }
  }
}
"""


def add_agreements(engine: Engine, count: int, *, start: int) -> None:
    """`count` more agreements, each with a block, covered time and both invoices, over 10 companies."""
    with unit_of_work(engine) as session:
        if start == 0:
            factories.chart_of_accounts(session)
            rates = factories.rates(session)
            factories.block_time_type(session, rates=rates)
        agreement_type = session.scalars(select(AgreementType)).one()
        role = session.scalars(select(WorkRole).where(WorkRole.name == "Engineer")).one()
        work_type = session.scalars(select(WorkType).where(WorkType.name == "Remote")).one()
        for number in range(start, start + count):
            identifier = f"C{number % 10}"
            company = session.scalars(select(Company).where(Company.identifier == identifier)).first()
            if company is None:
                company = catalog.create_company(
                    session, identifier=identifier, name=f"Customer {identifier}"
                )
            agreement = agreements.create_agreement(
                session,
                company_id=company.id,
                agreement_type_id=agreement_type.id,
                name=f"Agreement {number}",
                start_date=DAY,
            )
            agreements.purchase_block(
                session,
                agreement_id=agreement.id,
                units=Decimal("10"),
                unit_price=Decimal("150.00"),
                effective_date=DAY,
            )
            drawdown.log_time(
                session,
                company_id=company.id,
                agreement_id=agreement.id,
                work_type_id=work_type.id,
                work_role_id=role.id,
                date=DAY,
                hours=Decimal("1.5"),
            )
        billing.run_billing(session, through_date=DAY)


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def statements_for_page(client: Client, engine: Engine, expected: int) -> list[str]:
    with counting(engine) as statements:
        data = await client.data(PAGE)
    assert data["agreements"]["totalCount"] == expected
    assert len(data["agreements"]["edges"]) == expected
    node = data["agreements"]["edges"][-1]["node"]
    assert node["balance"]["unitsRemaining"] == "8.50"
    assert [i["kind"] for i in node["invoices"]] == ["PREPAID_PURCHASE", "AGREEMENT_USAGE"]
    return statements


class TestNoNPlusOne:
    async def test_ten_and_a_hundred_agreements_cost_the_same_statements(
        self, admin: Client, db: Engine
    ) -> None:
        add_agreements(db, 10, start=0)
        ten = await statements_for_page(admin, db, 10)

        add_agreements(db, 90, start=10)
        hundred = await statements_for_page(admin, db, 100)

        print(f"\nSQL statements: {len(ten)} for 10 agreements, {len(hundred)} for 100")  # noqa: T201
        assert len(hundred) == len(ten)
        assert len(ten) < 30


BALANCE_CHECK = "query($id: ID!) { agreement(id: $id) { balance { unitsRemaining deferredRevenue isLow } } }"
BALANCE_ON = (
    "query($id: ID!, $asOf: Date) { agreement(id: $id) {"
    " balance(asOf: $asOf) { unitsRemaining deferredRevenue isLow unitsScheduled } } }"
)


class TestBalanceCheckCost:
    async def test_a_balance_today_or_on_a_date_costs_what_the_balance_check_cost_before(
        self, admin: Client, db: Engine
    ) -> None:
        """B1's query: token, agreement, then its type's thresholds and its lots in one
        statement that also sums the movements after the date (4 statements before SPEC §8
        and issue 15: the type was read on its own)."""
        add_agreements(db, 1, start=0)
        with unit_of_work(db) as session:
            agreement_id = session.scalars(select(Agreement.id)).one()
            for day in range(30):  # a longer history: the statement count does not grow with it
                drawdown.log_time(
                    session,
                    company_id=session.get_one(Agreement, agreement_id).company_id,
                    agreement_id=agreement_id,
                    work_type_id=session.scalars(select(WorkType.id).where(WorkType.name == "Remote")).one(),
                    work_role_id=session.scalars(
                        select(WorkRole.id).where(WorkRole.name == "Engineer")
                    ).one(),
                    date=DAY + dt.timedelta(days=day),
                    hours=Decimal("0.1"),
                )
        with counting(db) as today:
            data = await admin.data(BALANCE_CHECK, id=str(agreement_id))
        assert data["agreement"]["balance"]["unitsRemaining"] == "5.50"
        with counting(db) as on_a_date:
            data = await admin.data(BALANCE_ON, id=str(agreement_id), asOf=DAY.isoformat())
        assert data["agreement"]["balance"]["unitsRemaining"] == "8.40"
        assert data["agreement"]["balance"]["unitsScheduled"] == "0.00"
        queries = [[s for s in run if s != "BEGIN"] for run in (today, on_a_date)]  # SQLite's own BEGIN
        assert [len(q) for q in queries] == [3, 3]


LOG_TIME = """
mutation($input: LogTimeInput!) {
  logTime(input: $input) { unitsApplied agreement { id name balance { unitsRemaining } } }
}
"""


def one_agreements_work(engine: Engine, *, hours: str) -> dict[str, str]:
    """logTime's input: remote engineering on DAY against the one agreement add_agreements made."""
    add_agreements(engine, 1, start=0)
    with unit_of_work(engine) as session:
        agreement = session.scalars(select(Agreement)).one()
        return {
            "companyId": str(agreement.company_id),
            "agreementId": str(agreement.id),
            "workTypeId": str(session.scalars(select(WorkType.id).where(WorkType.name == "Remote")).one()),
            "workRoleId": str(session.scalars(select(WorkRole.id).where(WorkRole.name == "Engineer")).one()),
            "date": DAY.isoformat(),
            "hours": hours,
        }


class TestLogTimeCost:
    @pytest.mark.parametrize("idempotency_key", [None, "entry-1"])
    async def test_the_answer_reads_the_agreement_the_mutation_locked_without_selecting_it_again(
        self, admin: Client, db: Engine, idempotency_key: str | None
    ) -> None:
        """B2's mutation (issue 15): the agreement is read once, locked, and its answer uses
        that row; the balance in the answer is read after the draw."""
        work = {**one_agreements_work(db, hours="2.25"), "idempotencyKey": idempotency_key}
        with counting(db) as statements:
            data = await admin.data(LOG_TIME, input=work)
        assert data["logTime"] == {
            "unitsApplied": "2.25",
            "agreement": {
                "id": work["agreementId"],
                "name": "Agreement 0",
                "balance": {"unitsRemaining": "6.25"},
            },
        }
        reads_of_the_agreement = [s for s in statements if s.startswith("SELECT") and "agreement.name" in s]
        assert len(reads_of_the_agreement) == 1, reads_of_the_agreement
        assert "FOR UPDATE" in reads_of_the_agreement[0] or db.dialect.name == "sqlite"
