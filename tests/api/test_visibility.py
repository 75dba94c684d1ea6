"""What a customer sees is decided in one place (SPEC §6, part "visibility", issue 11)."""

from __future__ import annotations

import json

import pytest
from graphql import build_schema, get_named_type
from sqlalchemy import Engine

from accounting import access
from accounting.errors import NotFound
from api.schema import sdl
from models import TimeEntry
from models.db import unit_of_work
from models.enums import Role
from tests.api import scenario
from tests.api.helpers import Client, create_token

LOG = (
    """mutation($input: LogTimeInput!) { logTime(input: $input) { id notes internalNotes billableOption } }"""
)


@pytest.fixture
def world(db: Engine) -> scenario.Scenario:
    return scenario.build(db)


@pytest.fixture
def acme(admin: Client, db: Engine, world: scenario.Scenario) -> Client:
    return admin.as_(
        create_token(db, Role.CUSTOMER, company_id=int(world.acme.company_id), name="acme-portal")
    )


@pytest.fixture
def technician(admin: Client, db: Engine) -> Client:
    return admin.as_(create_token(db, Role.TECHNICIAN, name="tech"))


async def log(client: Client, world: scenario.Scenario, **values: str) -> dict[str, str]:
    entry = {
        "companyId": world.acme.company_id,
        "agreementId": world.acme.agreement_id,
        "workTypeId": world.remote_id,
        "workRoleId": world.engineer_id,
        "date": "2026-01-07",
        "hours": "0.50",
        **values,
    }
    return (await client.data(LOG, input=entry))["logTime"]  # type: ignore[no-any-return]


class TestDoNotBillEntries:
    async def test_are_in_no_list_or_count_a_customer_reads(
        self, admin: Client, technician: Client, acme: Client, world: scenario.Scenario
    ) -> None:
        hidden = await log(technician, world, billableOption="DO_NOT_BILL", notes="Internal rework")
        shown = await log(technician, world, notes="Printer fixed")
        query = """{
          timeEntries { totalCount edges { node { id notes } } }
          agreements { edges { node { timeEntries { id notes } } } }
          me { company { agreements { timeEntries { id } } } }
          agreement: agreements { edges { node { company { agreements { timeEntries { id } } } } } }
        }"""

        mine = await acme.data(query)
        staff = await admin.data(query)

        assert "Internal rework" not in json.dumps(mine)
        assert hidden["id"] not in json.dumps(mine)
        assert shown["id"] in json.dumps(mine)
        assert mine["timeEntries"]["totalCount"] == 2  # the scenario's entry and the billable one
        assert staff["timeEntries"]["totalCount"] == 4  # ACME's first, the two just logged, GLOBEX's
        assert hidden["id"] in json.dumps(staff)

    def test_are_not_found_by_id_for_a_customer(self, db: Engine, world: scenario.Scenario) -> None:
        from accounting import drawdown
        from models.enums import BillableOption
        from tests.api.scenario import DAY

        customer = access.Principal(
            token_id=None, name="acme", role=Role.CUSTOMER, company_id=int(world.acme.company_id)
        )
        with unit_of_work(db) as session:
            entry = drawdown.log_time(
                session,
                company_id=int(world.acme.company_id),
                work_type_id=int(world.remote_id),
                work_role_id=int(world.engineer_id),
                date=DAY,
                hours=scenario.D("1"),
                billable_option=BillableOption.DO_NOT_BILL,
                notes="Internal rework",
            )
            assert (
                access.visible_row(session, access.SYSTEM, TimeEntry, entry.id, kind="time entry").id
                == entry.id
            )
            with pytest.raises(NotFound, match=f"time entry {entry.id} not found"):
                access.visible_row(session, customer, TimeEntry, entry.id, kind="time entry")
            with pytest.raises(NotFound, match="time entry 987654 not found"):
                access.visible_row(session, customer, TimeEntry, 987654, kind="time entry")
            visible = access.visible_row(
                session, customer, TimeEntry, int(world.acme.time_entry_id), kind="time entry"
            )
            assert visible.id == int(world.acme.time_entry_id)


class TestInternalNotes:
    async def test_are_staff_only_and_notes_are_the_customers(
        self, admin: Client, technician: Client, acme: Client, world: scenario.Scenario
    ) -> None:
        logged = await log(
            technician, world, notes="Reset the VPN", internalNotes="user had the password on a post-it"
        )
        query = "{ timeEntries { edges { node { id notes internalNotes } } } }"

        assert logged["internalNotes"] == "user had the password on a post-it"
        mine = {e["node"]["id"]: e["node"] for e in (await acme.data(query))["timeEntries"]["edges"]}
        staff = {e["node"]["id"]: e["node"] for e in (await admin.data(query))["timeEntries"]["edges"]}

        assert mine[logged["id"]] == {"id": logged["id"], "notes": "Reset the VPN", "internalNotes": None}
        assert staff[logged["id"]]["internalNotes"] == "user had the password on a post-it"
        assert "post-it" not in json.dumps(
            await acme.data("{ agreements { edges { node { timeEntries { internalNotes } } } } }")
        )


class TestTheMSPsAccountingIsForbidden:
    @pytest.mark.parametrize(
        ("query", "refusal"),
        [
            ("{ agreements { edges { node { type { prepaid } } } } }", "AgreementType.prepaid"),
            (
                "{ agreements { edges { node { type { reverseRevenueWhenApplied } } } } }",
                "AgreementType.reverseRevenueWhenApplied",
            ),
            ("{ timeEntries { edges { node { workRole { hourlyRate } } } } }", "WorkRole.hourlyRate"),
            (
                "{ agreements { edges { node { type { excludedWorkTypes { rateMultiplier } } } } } }",
                "WorkType.rateMultiplier",
            ),
            ("{ invoices { edges { node { batch { id } } } } }", "Invoice.batch (JournalBatch)"),
            (
                "fragment F on Invoice { batch { entries { lines { account { code } } } } } "
                "{ agreements { edges { node { invoices { ...F } } } } }",
                "Invoice.batch (JournalBatch)",
            ),
            ("{ glAccounts { code } }", "glAccounts"),
        ],
    )
    async def test_at_any_depth_with_nothing_answered(
        self, acme: Client, admin: Client, query: str, refusal: str
    ) -> None:
        body = await acme.execute(query)

        assert body["data"] is None
        assert [(e["extensions"]["code"], e["message"]) for e in body["errors"]] == [
            ("FORBIDDEN", f"CUSTOMER tokens may not read {refusal}")
        ]
        assert "errors" not in await admin.execute(query)

    async def test_what_describes_its_own_agreement_stays_readable(self, acme: Client) -> None:
        data = await acme.data(
            "{ agreements { edges { node { type { name applicationUnits excludedWorkTypes { name } } "
            "timeEntries { workType { name } workRole { name } value } } } } }"
        )

        node = data["agreements"]["edges"][0]["node"]
        assert node["type"]["applicationUnits"] == "HOURS"
        assert node["timeEntries"][0]["workRole"] == {"name": "Engineer"}


class TestThePermissionTable:
    def test_every_root_operation_has_an_entry(self) -> None:
        built = build_schema(sdl())
        roots = set(built.query_type.fields) | set(built.mutation_type.fields)  # type: ignore[union-attr]

        assert roots - set(access.OPERATIONS) == set()

    def test_every_field_and_type_it_names_that_exists_is_spelled_right(self) -> None:
        built = build_schema(sdl())
        for key in access.FIELDS:
            type_name, field_name = key.split(".")
            if type_name in built.type_map:
                assert field_name in built.type_map[type_name].fields or key in (  # type: ignore[union-attr]
                    "Agreement.notifyEmails",
                    "Notification.deliveries",
                ), key

    def test_no_type_a_customer_reaches_leads_to_the_ledger_unrefused(self) -> None:
        """Every field returning a ledger type is refused to a customer by the table."""
        built = build_schema(sdl())
        for type_name, graphql_type in built.type_map.items():
            fields = getattr(graphql_type, "fields", None)
            if type_name.startswith("__") or not fields or type_name == "Mutation":
                continue
            for field_name, field in fields.items():
                returns = get_named_type(field.type).name
                if access.type_readers(
                    returns
                ) != access.EVERYONE and Role.CUSTOMER not in access.type_readers(returns):
                    assert access.refusal(Role.CUSTOMER, type_name, field_name, returns) is not None
