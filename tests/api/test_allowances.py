"""SPEC §9 through GraphQL: an allowance agreement, its renewals and its refusals."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine

from tests.api.helpers import Client, row_counts, run_pending_jobs
from tests.api.test_worked_example import create

AGREEMENT = """
query($id: ID!) {
  agreement(id: $id) {
    allowance { cycle units unitPrice rollover rolloverCap rolloverCycles nextRenewal }
    lots { effectiveDate expiresOn unitsRemaining unitPrice }
    invoices { kind date total }
    statement(from: "2026-08-31", to: "2026-10-31") {
      openingUnits
      lines { date kind units value unitsAfter carriedUnits }
      closingUnits
      closingValue
    }
  }
}
"""
CREATE = """
mutation($input: CreateAgreementInput!) {
  createAgreement(input: $input) { id allowance { nextRenewal rolloverCycles } }
}
"""


async def setup(admin: Client, *, warning_days: int | None = None) -> tuple[str, str]:
    company = await create(admin, "CreateCompany", {"identifier": "ACME", "name": "ACME Inc."})
    agreement_type = await create(
        admin,
        "CreateAgreementType",
        {
            "name": "Monthly hours",
            "applicationUnits": "HOURS",
            "prepaid": True,
            "reverseRevenueWhenApplied": True,
            "expiryWarningDays": warning_days,
        },
    )
    return company, agreement_type


def allowance_input(**changes: Any) -> dict[str, Any]:
    return {
        "cycle": "MONTHLY",
        "units": "10",
        "unitPrice": "120.00",
        "rollover": "CAPPED",
        "rolloverCap": "4",
        **changes,
    }


class TestAllowanceAgreements:
    async def test_created_back_dated_it_renews_its_first_cycle_and_catches_up_on_request(
        self, admin: Client, db: Engine
    ) -> None:
        company, agreement_type = await setup(admin)
        created = await admin.data(
            CREATE,
            input={
                "companyId": company,
                "agreementTypeId": agreement_type,
                "name": "ACME 10 h a month",
                "startDate": "2026-08-31",
                "allowance": allowance_input(),
            },
        )
        agreement_id = created["createAgreement"]["id"]
        assert created["createAgreement"]["allowance"] == {"nextRenewal": "2026-09-30", "rolloverCycles": 1}

        assert await admin.data('mutation { renewAllowances(asOf: "2026-10-31") }') == {
            "renewAllowances": True
        }
        run_pending_jobs(db)
        data = (await admin.data(AGREEMENT, id=agreement_id))["agreement"]
        assert data["allowance"] == {
            "cycle": "MONTHLY",
            "units": "10.00",
            "unitPrice": "120.00",
            "rollover": "CAPPED",
            "rolloverCap": "4.00",
            "rolloverCycles": 1,
            "nextRenewal": "2026-11-30",
        }
        assert data["invoices"] == [
            {"kind": "PREPAID_PURCHASE", "date": d, "total": "1200.00"}
            for d in ("2026-08-31", "2026-09-30", "2026-10-31")
        ]
        line = ("date", "kind", "units", "value", "unitsAfter", "carriedUnits")
        assert [tuple(x[k] for k in line) for x in data["statement"]["lines"]] == [
            ("2026-08-31", "ALLOWANCE", "10.00", "1200.00", "10.00", None),
            ("2026-09-30", "EXPIRY", "-6.00", "-720.00", "4.00", None),
            ("2026-09-30", "ROLLOVER", "0.00", "0.00", "4.00", "4.00"),
            ("2026-09-30", "ALLOWANCE", "10.00", "1200.00", "14.00", None),
            ("2026-10-31", "EXPIRY", "-4.00", "-480.00", "10.00", None),
            ("2026-10-31", "EXPIRY", "-6.00", "-720.00", "4.00", None),
            ("2026-10-31", "ROLLOVER", "0.00", "0.00", "4.00", "4.00"),
            ("2026-10-31", "ALLOWANCE", "10.00", "1200.00", "14.00", None),
        ]
        assert (data["statement"]["closingUnits"], data["statement"]["closingValue"]) == ("14.00", "1680.00")
        assert data["lots"] == [
            {
                "effectiveDate": "2026-08-31",
                "expiresOn": "2026-10-31",
                "unitsRemaining": "0.00",
                "unitPrice": "120.00",
            },
            {
                "effectiveDate": "2026-09-30",
                "expiresOn": "2026-11-30",
                "unitsRemaining": "4.00",
                "unitPrice": "120.00",
            },
            {
                "effectiveDate": "2026-10-31",
                "expiresOn": "2026-11-30",
                "unitsRemaining": "10.00",
                "unitPrice": "120.00",
            },
        ]

    async def test_bad_terms_and_a_future_as_of_are_bad_user_input_and_change_nothing(
        self, admin: Client, db: Engine
    ) -> None:
        company, agreement_type = await setup(admin)
        before = row_counts(db)
        base = {
            "companyId": company,
            "agreementTypeId": agreement_type,
            "name": "x",
            "startDate": "2026-01-01",
        }
        for bad, message in [
            (allowance_input(units="0"), "allowance.units must not be zero"),
            (allowance_input(unitPrice="-1"), "allowance.unitPrice must not be negative"),
            (allowance_input(rolloverCap=None), "allowance.rolloverCap is required"),
            (allowance_input(rollover="NONE"), "only allowed with rollover CAPPED"),
            (allowance_input(rolloverCycles=0), "rolloverCycles must be between 1 and 120"),
        ]:
            code, text = await admin.error(CREATE, input={**base, "allowance": bad})
            assert code == "BAD_USER_INPUT" and message in text, text
        tomorrow = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()
        code, text = await admin.error("mutation($d: Date) { renewAllowances(asOf: $d) }", d=tomorrow)
        assert code == "BAD_USER_INPUT" and "asOf must be on or before" in text
        assert row_counts(db) == before

    async def test_a_technician_may_not_renew_and_a_plain_agreement_has_no_allowance(
        self, admin: Client, db: Engine
    ) -> None:
        company, agreement_type = await setup(admin)
        created = await admin.data(
            CREATE,
            input={
                "companyId": company,
                "agreementTypeId": agreement_type,
                "name": "x",
                "startDate": "2026-01-01",
            },
        )
        assert created["createAgreement"]["allowance"] is None
        token = await admin.data(
            'mutation { createApiToken(input: {role: TECHNICIAN, name: "tech"}) { token } }'
        )
        code, _ = await admin.as_(token["createApiToken"]["token"]).error("mutation { renewAllowances }")
        assert code == "FORBIDDEN"
