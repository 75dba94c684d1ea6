"""idempotencyKey on purchaseBlock and logTime: one effect however often, or concurrently, it is sent."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Engine

from tests.api import scenario
from tests.api.helpers import Client, row_counts

PURCHASE = "mutation($input: PurchaseBlockInput!) { purchaseBlock(input: $input) { id units } }"
LOG_TIME = "mutation($input: LogTimeInput!) { logTime(input: $input) { id hours } }"


@pytest.fixture
def world(db: Engine, admin: Client) -> scenario.Scenario:
    return scenario.build(db)


def purchase_input(world: scenario.Scenario, *, key: str, units: str = "5") -> dict[str, object]:
    return {
        "agreementId": world.acme.agreement_id,
        "units": units,
        "unitPrice": "140.00",
        "idempotencyKey": key,
    }


def log_input(world: scenario.Scenario, *, key: str, hours: str = "0.50") -> dict[str, object]:
    return {
        "companyId": world.acme.company_id,
        "agreementId": world.acme.agreement_id,
        "workTypeId": world.remote_id,
        "workRoleId": world.engineer_id,
        "date": "2026-01-06",
        "hours": hours,
        "idempotencyKey": key,
    }


class TestSameKeySameInput:
    async def test_a_repeated_purchase_returns_the_first_block(
        self, admin: Client, db: Engine, world: scenario.Scenario
    ) -> None:
        first = await admin.data(PURCHASE, input=purchase_input(world, key="po-1"))
        counts = row_counts(db)

        again = await admin.data(PURCHASE, input=purchase_input(world, key="po-1"))

        assert again == first
        assert row_counts(db) == counts

    async def test_a_repeated_time_entry_returns_the_first_entry(
        self, admin: Client, db: Engine, world: scenario.Scenario
    ) -> None:
        first = await admin.data(LOG_TIME, input=log_input(world, key="tech-42"))
        counts = row_counts(db)

        again = await admin.data(LOG_TIME, input=log_input(world, key="tech-42"))

        assert again == first
        assert row_counts(db) == counts

    async def test_equal_amounts_written_differently_are_the_same_input(
        self, admin: Client, world: scenario.Scenario
    ) -> None:
        first = await admin.data(PURCHASE, input=purchase_input(world, key="po-2", units="5"))

        assert await admin.data(PURCHASE, input=purchase_input(world, key="po-2", units="5.00")) == first


class TestSameKeyOtherInput:
    async def test_is_a_conflict_and_changes_nothing(
        self, admin: Client, db: Engine, world: scenario.Scenario
    ) -> None:
        await admin.data(PURCHASE, input=purchase_input(world, key="po-3", units="5"))
        counts = row_counts(db)

        code, message = await admin.error(PURCHASE, input=purchase_input(world, key="po-3", units="6"))

        assert code == "CONFLICT"
        assert "po-3" in message
        assert row_counts(db) == counts

    async def test_keys_are_per_operation(self, admin: Client, world: scenario.Scenario) -> None:
        await admin.data(PURCHASE, input=purchase_input(world, key="shared"))

        entry = await admin.data(LOG_TIME, input=log_input(world, key="shared"))

        assert entry["logTime"]["hours"] == "0.50"


class TestConcurrentRequestsWithOneKey:
    @pytest.mark.parametrize("operation", ["purchaseBlock", "logTime"])
    async def test_create_one_object(
        self, admin: Client, db: Engine, world: scenario.Scenario, operation: str
    ) -> None:
        counts = row_counts(db)
        if operation == "purchaseBlock":
            document, variables, table = PURCHASE, purchase_input(world, key="race"), "addition"
        else:
            document, variables, table = LOG_TIME, log_input(world, key="race"), "time_entry"

        results = await asyncio.gather(*(admin.data(document, input=variables) for _ in range(6)))

        assert len({result[operation]["id"] for result in results}) == 1
        assert row_counts(db)[table] == counts[table] + 1
        assert row_counts(db)["idempotency_key"] == counts["idempotency_key"] + 1
        assert row_counts(db)["audit_entry"] == counts["audit_entry"] + 1
