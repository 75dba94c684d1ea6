"""SPEC §8 through HTTP: balances on a date, statements, allowed dates (part "time")."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine

from accounting import clock, dates
from models.enums import Role
from tests.api import scenario
from tests.api.helpers import Client, create_token, row_counts

BALANCE = """
query Balance($id: ID!, $asOf: Date) {
  agreement(id: $id) {
    balance(asOf: $asOf) {
      asOf unitsRemaining deferredRevenue unitsScheduled nextExpiresOn unitsExpiringNext
    }
  }
}
"""
STATEMENT = """
query Statement($id: ID!, $from: Date!, $to: Date!) {
  agreement(id: $id) {
    statement(from: $from, to: $to) {
      from to openingUnits openingValue closingUnits closingValue
      lines { date kind description units value unitsAfter carriedUnits
              timeEntry { id notes } addition { id units } }
    }
  }
}
"""
LOG_TIME = """
mutation Log($input: LogTimeInput!) { logTime(input: $input) { id } }
"""


@pytest.fixture
def world(db: Engine) -> scenario.Scenario:
    return scenario.build(db)


@pytest.fixture
def acme(admin: Client, db: Engine, world: scenario.Scenario) -> Client:
    return admin.as_(create_token(db, Role.CUSTOMER, company_id=int(world.acme.company_id)))


class TestBalanceOnADate:
    async def test_today_by_default_and_any_date_asked(self, acme: Client, world: scenario.Scenario) -> None:
        today = await acme.data(BALANCE, id=world.acme.agreement_id)
        assert today["agreement"]["balance"] == {
            "asOf": clock.today().isoformat(),
            "unitsRemaining": "1.00",
            "deferredRevenue": "150.00",
            "unitsScheduled": "0.00",
            "nextExpiresOn": None,
            "unitsExpiringNext": "0.00",
        }
        before = await acme.data(BALANCE, id=world.acme.agreement_id, asOf="2026-01-04")
        assert before["agreement"]["balance"]["unitsRemaining"] == "0.00"
        assert before["agreement"]["balance"]["unitsScheduled"] == "10.00"


class TestStatement:
    async def test_a_customer_reads_its_own_statement_adding_up(
        self, acme: Client, world: scenario.Scenario
    ) -> None:
        data = await acme.data(
            STATEMENT, id=world.acme.agreement_id, **{"from": "2026-01-01", "to": "2026-01-31"}
        )
        statement = data["agreement"]["statement"]
        assert (statement["from"], statement["to"]) == ("2026-01-01", "2026-01-31")
        assert (statement["openingUnits"], statement["openingValue"]) == ("0.00", "0.00")
        assert [
            (x["date"], x["kind"], x["units"], x["value"], x["unitsAfter"]) for x in statement["lines"]
        ] == [
            ("2026-01-05", "PURCHASE", "10.00", "1500.00", "10.00"),
            ("2026-01-05", "USAGE", "-9.00", "-1350.00", "1.00"),
        ]
        assert statement["lines"][0]["addition"]["units"] == "10.00"
        assert statement["lines"][1]["timeEntry"] == {
            "id": world.acme.time_entry_id,
            "notes": "ACME server upgrade",
        }
        assert (statement["closingUnits"], statement["closingValue"]) == ("1.00", "150.00")

    async def test_another_companys_statement_is_not_found(
        self, acme: Client, world: scenario.Scenario
    ) -> None:
        code, _ = await acme.error(
            STATEMENT, id=world.globex.agreement_id, **{"from": "2026-01-01", "to": "2026-01-31"}
        )
        assert code == "NOT_FOUND"

    async def test_a_range_backwards_or_longer_than_five_years_is_bad_input(
        self, admin: Client, world: scenario.Scenario
    ) -> None:
        code, message = await admin.error(
            STATEMENT, id=world.acme.agreement_id, **{"from": "2026-02-01", "to": "2026-01-01"}
        )
        assert (code, message) == ("BAD_USER_INPUT", "from (2026-02-01) must be on or before to (2026-01-01)")
        code, message = await admin.error(
            STATEMENT, id=world.acme.agreement_id, **{"from": "2020-01-01", "to": "2026-01-01"}
        )
        assert code == "BAD_USER_INPUT" and "at most 5 years" in message


class TestAllowedDates:
    async def test_out_of_range_dates_are_bad_input_naming_the_field_and_change_nothing(
        self, admin: Client, db: Engine, world: scenario.Scenario
    ) -> None:
        today = clock.today()
        before = row_counts(db)
        entry = {
            "companyId": world.acme.company_id,
            "workTypeId": world.remote_id,
            "workRoleId": world.engineer_id,
            "hours": "1",
        }
        earliest, latest = dates.years_from(today, -2), today + dt.timedelta(days=1)
        for day in ("1900-01-01", "9999-12-31", (latest + dt.timedelta(days=1)).isoformat()):
            code, message = await admin.error(LOG_TIME, input={**entry, "date": day})
            assert (code, message) == (
                "BAD_USER_INPUT",
                f"date must be between {earliest} and {latest}, got {day}",
            )
        tomorrow = (today + dt.timedelta(days=1)).isoformat()
        for mutation, field in (
            ('mutation { runBilling(throughDate: "%s") }', "throughDate"),
            ('mutation { expireBlocks(asOf: "%s") }', "asOf"),
            ('mutation { postJournalBatch(throughDate: "%s") { id } }', "throughDate"),
        ):
            code, message = await admin.error(mutation % tomorrow)
            assert (code, message) == (
                "BAD_USER_INPUT",
                f"{field} must be on or before {today}, got {tomorrow}",
            )
        code, message = await admin.error('mutation { expireBlocks(asOf: "2099-01-01") }')
        assert message == f"asOf must be on or before {today}, got 2099-01-01"
        purchase = "mutation($input: PurchaseBlockInput!) { purchaseBlock(input: $input) { id } }"
        far = dates.years_from(today, 1) + dt.timedelta(days=1)
        code, message = await admin.error(
            purchase,
            input={
                "agreementId": world.acme.agreement_id,
                "units": "1",
                "unitPrice": "1.00",
                "effectiveDate": far.isoformat(),
            },
        )
        assert (code, message) == (
            "BAD_USER_INPUT",
            f"effectiveDate must be on or before {dates.years_from(today, 1)}, got {far}",
        )
        assert row_counts(db) == before
