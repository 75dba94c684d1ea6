"""SPEC §4's worked example, driven entirely through GraphQL by the four roles."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine

from tests.api.helpers import Client, run_pending_jobs

DAY = dt.date(2026, 1, 5)

BALANCE = """
query Balance($id: ID!) {
  agreement(id: $id) {
    balance { unitsPurchased unitsApplied unitsRemaining deferredRevenue percentRemaining isLow }
  }
}
"""
LOG_TIME = """
mutation Log($input: LogTimeInput!) {
  logTime(input: $input) { id hours value unitsApplied hoursBillable coverage billableOption reversed }
}
"""
PURCHASE = """
mutation Buy($input: PurchaseBlockInput!) {
  purchaseBlock(input: $input) { id units unitPrice amount effectiveDate invoice { number kind total } }
}
"""


def day(offset: int) -> str:
    return (DAY + dt.timedelta(days=offset)).isoformat()


async def create(client: Client, input_type: str, input: dict[str, Any]) -> str:
    """Run a create* mutation (named after its input type) and return the new object's id."""
    name = {"CreateGLAccount": "createGlAccount"}.get(input_type, input_type[0].lower() + input_type[1:])
    data = await client.data(
        f"mutation($input: {input_type}Input!) {{ {name}(input: $input) {{ id }} }}", input=input
    )
    return data[name]["id"]  # type: ignore[no-any-return]


class TestWorkedExample:
    async def test_every_step_to_the_cent_through_graphql(self, admin: Client, db: Engine) -> None:
        # The admin issues the other tokens.
        async def token(role: str, company_id: str | None = None) -> Client:
            data = await admin.data(
                "mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token role } }",
                input={"role": role, "name": f"{role.lower()} of the example", "companyId": company_id},
            )
            return admin.as_(data["createApiToken"]["token"])

        accountant = await token("ACCOUNTANT")
        technician = await token("TECHNICIAN")

        # Books, rates and the agreement, by the accountant.
        accounts = {}
        for code, name, kind in [
            ("1100", "Accounts Receivable", "ASSET"),
            ("2400", "Deferred Revenue", "LIABILITY"),
            ("4000", "Service Revenue", "REVENUE"),
            ("4200", "Breakage", "REVENUE"),
        ]:
            accounts[code] = await create(
                accountant, "CreateGLAccount", {"code": code, "name": name, "type": kind}
            )
        for kind, code in [
            ("ACCOUNTS_RECEIVABLE", "1100"),
            ("SERVICE_REVENUE", "4000"),
            ("BREAKAGE", "4200"),
            ("AGREEMENT_TYPE", "2400"),
        ]:
            await accountant.data(
                "mutation($input: SetGLMappingInput!) "
                "{ setGlMapping(input: $input) { id account { code } } }",
                input={"kind": kind, "accountId": accounts[code]},
            )
        engineer = await create(accountant, "CreateWorkRole", {"name": "Engineer", "hourlyRate": "150.00"})
        remote = await create(accountant, "CreateWorkType", {"name": "Remote", "rateMultiplier": "1.00"})
        after_hours = await create(
            accountant, "CreateWorkType", {"name": "After Hours", "rateMultiplier": "1.50"}
        )
        block_time = await create(
            accountant,
            "CreateAgreementType",
            {
                "name": "Block Time",
                "applicationUnits": "HOURS",
                "prepaid": True,
                "reverseRevenueWhenApplied": True,
                "lowBalanceThreshold": "2.00",
                "excludedWorkTypeIds": [after_hours],
            },
        )
        acme = await create(
            accountant,
            "CreateCompany",
            {"identifier": "ACME", "name": "Acme Inc.", "billingEmail": "billing@acme.example"},
        )
        agreement = await create(
            accountant,
            "CreateAgreement",
            {
                "companyId": acme,
                "agreementTypeId": block_time,
                "name": "ACME block time",
                "startDate": "2026-01-01",
            },
        )
        customer = await token("CUSTOMER", acme)

        async def state() -> tuple[str, str]:
            balance = (await customer.data(BALANCE, id=agreement))["agreement"]["balance"]
            return balance["unitsRemaining"], balance["deferredRevenue"]

        async def log(hours: str, work_type: str, offset: int) -> dict[str, Any]:
            entry = (
                await technician.data(
                    LOG_TIME,
                    input={
                        "companyId": acme,
                        "agreementId": agreement,
                        "workTypeId": work_type,
                        "workRoleId": engineer,
                        "date": day(offset),
                        "hours": hours,
                    },
                )
            )["logTime"]
            assert (
                await accountant.data("mutation($d: Date) { runBilling(throughDate: $d) }", d=day(offset))
            ) == {"runBilling": True}
            run_pending_jobs(db)
            return entry  # type: ignore[no-any-return]

        # buy 10 h at 150.00
        first = (
            await accountant.data(
                PURCHASE,
                input={
                    "agreementId": agreement,
                    "units": "10",
                    "unitPrice": "150.00",
                    "effectiveDate": day(0),
                },
            )
        )["purchaseBlock"]
        assert first["amount"] == "1500.00"
        assert first["invoice"] == {
            "number": first["invoice"]["number"],
            "kind": "PREPAID_PURCHASE",
            "total": "1500.00",
        }
        run_pending_jobs(db)
        assert await state() == ("10.00", "1500.00")

        # 3 h Remote
        entry = await log("3", remote, 0)
        assert (entry["value"], entry["unitsApplied"], entry["coverage"]) == ("450.00", "3.00", "COVERED")
        assert await state() == ("7.00", "1050.00")

        # buy 5 h at 140.00
        await accountant.data(
            PURCHASE,
            input={"agreementId": agreement, "units": "5", "unitPrice": "140.00", "effectiveDate": day(1)},
        )
        assert await state() == ("12.00", "1750.00")

        # 9 h Remote: 7 h x 150 + 2 h x 140; list value 1350.00 on the $0.00 invoice
        entry = await log("9", remote, 2)
        assert entry["value"] == "1350.00"
        assert await state() == ("3.00", "420.00")

        # 2 h After Hours: excluded, billed on a STANDARD invoice
        entry = await log("2", after_hours, 3)
        assert (entry["coverage"], entry["unitsApplied"], entry["hoursBillable"]) == (
            "EXCLUDED_WORK_TYPE",
            "0.00",
            "2.00",
        )
        assert await state() == ("3.00", "420.00")

        # 1.5 h Remote: LOW_BALANCE raised once
        await log("1.5", remote, 4)
        assert await state() == ("1.50", "210.00")

        invoices = (
            await customer.data("""
          { invoices { totalCount edges { node { kind total date lines { description quantity amount } } } } }
        """)
        )["invoices"]
        kinds = [(e["node"]["kind"], e["node"]["total"]) for e in invoices["edges"]]
        assert kinds == [
            ("PREPAID_PURCHASE", "1500.00"),
            ("AGREEMENT_USAGE", "0.00"),
            ("PREPAID_PURCHASE", "700.00"),
            ("AGREEMENT_USAGE", "0.00"),
            ("STANDARD", "450.00"),
            ("AGREEMENT_USAGE", "0.00"),
        ]
        nine_hours = invoices["edges"][3]["node"]["lines"]
        assert [(line["quantity"], line["amount"]) for line in nine_hours] == [
            ("9.00", "1350.00"),
            ("1.00", "-1350.00"),
        ]
        assert nine_hours[-1]["description"] == "Covered by agreement"

        notifications = await customer.data("{ notifications { edges { node { kind unitsRemaining } } } }")
        assert [e["node"] for e in notifications["notifications"]["edges"]] == [
            {"kind": "LOW_BALANCE", "unitsRemaining": "1.50"}
        ]

        # One batch, posted by the worker
        batch = (
            await accountant.data(
                "mutation($d: Date) { postJournalBatch(throughDate: $d) { id status } }", d=day(30)
            )
        )["postJournalBatch"]
        assert batch["status"] == "PENDING"
        assert "batches.post" in run_pending_jobs(db)
        posted = (
            await accountant.data(
                """
          query($id: ID!) { journalBatch(id: $id) { status error totalDebit totalCredit
            entries { sourceType lines { account { code } debit credit } } csv: export(format: CSV) } }
        """,
                id=batch["id"],
            )
        )["journalBatch"]
        assert (posted["status"], posted["error"]) == ("POSTED", None)
        assert posted["totalDebit"] == posted["totalCredit"] == "4640.00"
        assert len(posted["entries"]) == 6
        assert "2400" in posted["csv"]

        books = await accountant.data("""
          { trialBalance { account { code balance } debit credit }
            deferredRevenueReconciliation { ledgerBalance agreementsTotal unpostedActivity difference } }
        """)
        assert {row["account"]["code"]: (row["debit"], row["credit"]) for row in books["trialBalance"]} == {
            "1100": ("2650.00", "0.00"),
            "2400": ("0.00", "210.00"),
            "4000": ("0.00", "2440.00"),
            "4200": ("0.00", "0.00"),
        }
        assert {row["account"]["code"]: row["account"]["balance"] for row in books["trialBalance"]}[
            "2400"
        ] == ("-210.00")
        assert books["deferredRevenueReconciliation"] == {
            "ledgerBalance": "210.00",
            "agreementsTotal": "210.00",
            "unpostedActivity": "0.00",
            "difference": "0.00",
        }

        # What is left of which block, and who did it all.
        lots = (
            await customer.data(
                "query($id: ID!) { agreement(id: $id) { lots { units unitPrice unitsRemaining "
                "deferredValue } } }",
                id=agreement,
            )
        )["agreement"]["lots"]
        assert lots == [
            {"units": "10.00", "unitPrice": "150.00", "unitsRemaining": "0.00", "deferredValue": "0.00"},
            {"units": "5.00", "unitPrice": "140.00", "unitsRemaining": "1.50", "deferredValue": "210.00"},
        ]
        trail = (
            await accountant.data(
                "{ auditTrail(first: 100) { totalCount edges { node { actorName actorRole action } } } }"
            )
        )["auditTrail"]
        actions = [(e["node"]["actorRole"], e["node"]["action"]) for e in trail["edges"]]
        assert ("TECHNICIAN", "logTime") in actions
        assert ("ADMIN", "createApiToken") in actions
        assert actions[0] == ("ACCOUNTANT", "postJournalBatch")
