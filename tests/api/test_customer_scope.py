"""A CUSTOMER token sees its own company only, at every root and along every nested path (SPEC §6)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine

from models.enums import Role
from tests.api import scenario
from tests.api.helpers import Client, create_token

# Every path from a root a customer may read back into the graph, as deep as the limits allow.
AGREEMENT_FIELDS = """
  id name status company { id identifier agreements { id name } }
  type { name excludedWorkTypes { name } }
  balance { unitsRemaining deferredRevenue }
  additions { id invoice { id number agreement { id } company { identifier } } agreement { id } }
  adjustments { id }
  lots { id unitsRemaining }
  timeEntries { id notes company { identifier } agreement { id }
    invoice { id number company { identifier } } }
  invoices { id number company { identifier } agreement { id name } lines { description } }
"""
EVERYTHING = f"""
{{
  me {{ role company {{ identifier agreements {{ {AGREEMENT_FIELDS} }} }} }}
  companies {{ id identifier agreements {{ id name }} }}
  agreements {{ totalCount edges {{ node {{ {AGREEMENT_FIELDS} }} }} }}
  timeEntries {{ totalCount edges {{ node {{ id notes company {{ identifier }}
    agreement {{ id company {{ identifier agreements {{ id }} }} timeEntries {{ id notes }} }} }} }} }}
  invoices {{ totalCount edges {{ node {{ id number company {{ identifier }}
    agreement {{ id invoices {{ id }} timeEntries {{ notes }} }} lines {{ description }} }} }} }}
  notifications {{ totalCount edges {{ node {{ kind agreement {{ id company {{ identifier }} }} }} }} }}
}}
"""


@pytest.fixture
def world(db: Engine) -> scenario.Scenario:
    return scenario.build(db)


@pytest.fixture
def acme(admin: Client, db: Engine, world: scenario.Scenario) -> Client:
    return admin.as_(
        create_token(db, Role.CUSTOMER, company_id=int(world.acme.company_id), name="acme-portal")
    )


class TestCustomerSeesOnlyItsCompany:
    async def test_every_root_and_nested_path_stays_inside_the_company(
        self, acme: Client, admin: Client, world: scenario.Scenario
    ) -> None:
        mine = await acme.data(EVERYTHING)
        text = json.dumps(mine)

        # GLOBEX's identifier is in its company, and its time entries' notes and invoice lines name it too.
        assert "GLOBEX" not in text
        assert mine["me"] == {"role": "CUSTOMER", "company": mine["me"]["company"]}
        assert mine["me"]["company"]["identifier"] == "ACME"
        assert [c["identifier"] for c in mine["companies"]] == ["ACME"]
        assert mine["agreements"]["totalCount"] == 1
        assert mine["timeEntries"]["totalCount"] == 1
        assert mine["invoices"]["totalCount"] == 2  # the purchase and the usage invoice
        assert mine["notifications"]["totalCount"] == 1
        # The same query as an admin does see both companies: the filter is the customer's scope.
        everything = json.dumps(await admin.data(EVERYTHING))
        assert "GLOBEX" in everything and "ACME" in everything

    @pytest.mark.parametrize(
        ("query", "kind"),
        [
            ("query($id: ID!) { company(id: $id) { id } }", "company"),
            ("query($id: ID!) { agreement(id: $id) { id } }", "agreement"),
        ],
    )
    async def test_another_companys_object_is_not_found(
        self, acme: Client, world: scenario.Scenario, query: str, kind: str
    ) -> None:
        other = world.globex.company_id if kind == "company" else world.globex.agreement_id
        missing = "987654"

        assert await acme.error(query, id=other) == ("NOT_FOUND", f"{kind} {other} not found")
        # ... exactly like one that does not exist, so its existence does not leak.
        assert await acme.error(query, id=missing) == ("NOT_FOUND", f"{kind} {missing} not found")

    @pytest.mark.parametrize(
        ("root", "argument"),
        [
            ("agreements", "companyId"),
            ("timeEntries", "companyId"),
            ("timeEntries", "agreementId"),
            ("invoices", "companyId"),
            ("invoices", "agreementId"),
            ("notifications", "agreementId"),
        ],
    )
    async def test_lists_filtered_by_another_company_are_empty(
        self, acme: Client, admin: Client, world: scenario.Scenario, root: str, argument: str
    ) -> None:
        value = world.globex.company_id if argument == "companyId" else world.globex.agreement_id
        query = f"query($v: ID) {{ {root}({argument}: $v) {{ totalCount edges {{ node {{ id }} }} }} }}"

        assert (await acme.data(query, v=value))[root] == {"totalCount": 0, "edges": []}
        assert (await admin.data(query, v=value))[root]["totalCount"] >= 1

    @pytest.mark.parametrize(
        "query",
        [
            "{ workTypes { id } }",
            "{ workRoles { id } }",
            "{ agreementTypes { id } }",
            "{ glAccounts { id } }",
            "{ glMappings { id } }",
            "{ journalBatches { totalCount } }",
            "query($b: ID!) { journalBatch(id: $b) { id } }",
            "{ trialBalance { debit } }",
            "{ deferredRevenueReconciliation { difference } }",
            "{ auditTrail { totalCount } }",
            "{ jobs { totalCount } }",
            "{ failedJobs { totalCount } }",
        ],
    )
    async def test_back_office_roots_are_forbidden(
        self, acme: Client, world: scenario.Scenario, query: str
    ) -> None:
        code, message = await acme.error(query, **({"b": world.batch_id} if "$b" in query else {}))

        assert code == "FORBIDDEN"
        assert message.startswith("CUSTOMER tokens may not read")

    async def test_the_ledger_behind_its_own_invoice_is_forbidden(self, acme: Client) -> None:
        body = await acme.execute("{ invoices { edges { node { number batch { id } } } } }")

        # Refused before execution, naming the field: nothing of the document is answered.
        assert body == {
            "data": None,
            "errors": [
                {
                    "message": "CUSTOMER tokens may not read Invoice.batch (JournalBatch)",
                    "locations": [{"line": 1, "column": 36}],
                    "extensions": {"code": "FORBIDDEN"},
                }
            ],
        }
