"""Part "admin" through the API (SPEC §10): changing what was created, mapping account
types, tokens and webhooks that can be listed and revoked, who may see what."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from accounting import agreements
from models import Notification
from models.db import unit_of_work
from models.enums import Role
from testkit import factories
from tests.api.helpers import Client, create_token, row_counts, run_pending_jobs

D = Decimal
DAY = dt.date(2026, 11, 2)
TRAIL = "{ auditTrail { edges { node { actorName action objectType objectId details } } } }"
LOG_TIME = """
mutation Log($input: LogTimeInput!) { logTime(input: $input) { id coverage unitsApplied hoursBillable } }
"""
UPDATE_AGREEMENT = """
mutation U($id: ID!, $input: UpdateAgreementInput!) {
  updateAgreement(id: $id, input: $input) {
    id name endDate allowOverruns lowBalanceThreshold notifyEmails balance { unitsRemaining isLow }
  }
}
"""
UPDATE_TYPE = """
mutation U($id: ID!, $input: UpdateAgreementTypeInput!) {
  updateAgreementType(id: $id, input: $input) {
    id name allowOverruns expireAfterMonths lowBalanceThreshold lowBalancePercent
    excludedWorkTypes { name } excludedWorkRoles { name }
  }
}
"""
UPDATE_COMPANY = """
mutation U($id: ID!, $input: UpdateCompanyInput!) {
  updateCompany(id: $id, input: $input) { id name billingEmail }
}
"""


@dataclass(frozen=True)
class Shop:
    company_id: str
    agreement_id: str
    type_id: str
    engineer_id: str
    remote_id: str
    after_hours_id: str
    deferred_id: str
    revenue_id: str
    ar_id: str


def shop(engine: Engine, *, hours: str = "10", reverse_revenue: bool = True) -> Shop:
    """ACME's "Block Time" agreement (threshold 2 h, After Hours excluded), `hours` bought at 150.00."""
    with unit_of_work(engine) as session:
        books = factories.chart_of_accounts(session)
        rates = factories.rates(session)
        block = factories.block_time_type(
            session, rates=rates, exclude_after_hours=False, reverse_revenue=reverse_revenue
        )
        deal = factories.agreement(session, agreement_type=block)
        agreements.purchase_block(
            session, agreement_id=deal.id, units=D(hours), unit_price=D("150.00"), effective_date=DAY
        )
        made = Shop(
            str(deal.company_id),
            str(deal.id),
            str(block.id),
            str(rates.engineer.id),
            str(rates.remote.id),
            str(rates.after_hours.id),
            str(books.deferred.id),
            str(books.revenue.id),
            str(books.ar.id),
        )
    run_pending_jobs(engine)
    return made


async def log(client: Client, s: Shop, hours: str, *, work_type_id: str | None = None, day: dt.date = DAY):  # type: ignore[no-untyped-def]
    return (
        await client.data(
            LOG_TIME,
            input={
                "companyId": s.company_id,
                "agreementId": s.agreement_id,
                "workTypeId": work_type_id or s.remote_id,
                "workRoleId": s.engineer_id,
                "date": day.isoformat(),
                "hours": hours,
            },
        )
    )["logTime"]


async def trail(client: Client, action: str) -> list[dict[str, object]]:
    entries = [e["node"] for e in (await client.data(TRAIL))["auditTrail"]["edges"]]
    return [e for e in entries if e["action"] == action]


def notification_kinds(engine: Engine) -> list[tuple[str, Decimal]]:
    with unit_of_work(engine, writer=False) as session:
        return [
            (n.kind.value, n.units_remaining)
            for n in session.scalars(select(Notification).order_by(Notification.id))
        ]


class TestUpdateAgreement:
    async def test_left_out_fields_are_unchanged_and_each_change_is_audited_with_old_and_new(
        self, admin: Client, db: Engine
    ) -> None:
        s = shop(db)

        updated = (
            await admin.data(
                UPDATE_AGREEMENT,
                id=s.agreement_id,
                input={"name": "ACME premium support", "notifyEmails": ["am@msp.example", "AM@msp.example"]},
            )
        )["updateAgreement"]

        assert updated["name"] == "ACME premium support"
        assert updated["notifyEmails"] == ["am@msp.example"]  # one per address, case ignored
        assert (updated["endDate"], updated["allowOverruns"], updated["lowBalanceThreshold"]) == (
            None,
            False,
            "2.00",
        )
        (entry,) = await trail(admin, "updateAgreement")
        assert (entry["objectType"], entry["objectId"]) == ("Agreement", s.agreement_id)
        assert json.loads(str(entry["details"]))["changes"] == {
            "name": {"old": "ACME block time", "new": "ACME premium support"},
            "notifyEmails": {"old": [], "new": ["am@msp.example"]},
        }

    async def test_null_clears_and_the_type_decides_again(self, admin: Client, db: Engine) -> None:
        s = shop(db)
        await admin.data(
            UPDATE_AGREEMENT,
            id=s.agreement_id,
            input={"endDate": "2026-12-31", "allowOverruns": True, "lowBalanceThreshold": "5.00"},
        )

        cleared = (
            await admin.data(
                UPDATE_AGREEMENT,
                id=s.agreement_id,
                input={
                    "endDate": None,
                    "allowOverruns": None,
                    "lowBalanceThreshold": None,
                    "notifyEmails": None,
                },
            )
        )["updateAgreement"]

        # The type's values: no end, no overruns, threshold 2 h.
        assert (cleared["endDate"], cleared["allowOverruns"], cleared["lowBalanceThreshold"]) == (
            None,
            False,
            "2.00",
        )
        entries = await trail(admin, "updateAgreement")
        assert json.loads(str(entries[0]["details"]))["changes"]["lowBalanceThreshold"] == {
            "old": "5.00",
            "new": None,
        }

    async def test_an_end_date_in_the_past_stops_coverage_from_then_on(
        self, admin: Client, db: Engine
    ) -> None:
        s = shop(db)
        before = await log(admin, s, "1", day=DAY)

        await admin.data(UPDATE_AGREEMENT, id=s.agreement_id, input={"endDate": "2026-11-10"})
        after = await log(admin, s, "1", day=dt.date(2026, 11, 11))
        still_inside = await log(admin, s, "1", day=dt.date(2026, 11, 10))

        assert (before["coverage"], before["unitsApplied"]) == ("COVERED", "1.00")
        assert (after["coverage"], after["unitsApplied"], after["hoursBillable"]) == (
            "OUTSIDE_AGREEMENT_DATES",
            "0.00",
            "1.00",
        )
        assert still_inside["coverage"] == "COVERED"

    async def test_an_expired_agreement_whose_end_date_is_moved_on_or_cleared_is_active_again(
        self, admin: Client, db: Engine
    ) -> None:
        # The customer renews its contract after the agreement ran out: the MSP's
        # administrator moves the endDate on (or clears it), and the agreement covers
        # time again from then on. An endDate that is still past leaves it EXPIRED.
        s = shop(db)
        status = "query($id: ID!) { agreement(id: $id) { status endDate } }"
        await admin.data(UPDATE_AGREEMENT, id=s.agreement_id, input={"endDate": "2026-11-10"})
        await admin.data('mutation { expireBlocks(asOf: "2026-11-20") }')
        run_pending_jobs(db)
        assert (await admin.data(status, id=s.agreement_id))["agreement"]["status"] == "EXPIRED"
        assert (await log(admin, s, "1", day=DAY))["coverage"] == "AGREEMENT_NOT_ACTIVE"

        await admin.data(UPDATE_AGREEMENT, id=s.agreement_id, input={"endDate": "2026-11-15"})
        still_past = (await admin.data(status, id=s.agreement_id))["agreement"]
        await admin.data(UPDATE_AGREEMENT, id=s.agreement_id, input={"endDate": None})
        renewed = (await admin.data(status, id=s.agreement_id))["agreement"]
        after = await log(admin, s, "1", day=DAY)
        bought = await admin.data(
            "mutation($input: PurchaseBlockInput!) { purchaseBlock(input: $input) { id } }",
            input={
                "agreementId": s.agreement_id,
                "units": "5",
                "unitPrice": "150.00",
                "effectiveDate": "2026-11-03",
            },
        )

        assert still_past == {"status": "EXPIRED", "endDate": "2026-11-15"}
        assert renewed == {"status": "ACTIVE", "endDate": None}
        assert (after["coverage"], after["unitsApplied"]) == ("COVERED", "1.00")
        assert bought["purchaseBlock"]["id"]
        entries = await trail(admin, "updateAgreement")
        assert json.loads(str(entries[0]["details"]))["changes"] == {
            "endDate": {"old": "2026-11-15", "new": None},
            "status": {"old": "EXPIRED", "new": "ACTIVE"},
        }

    async def test_a_new_threshold_re_evaluates_the_alerts(self, admin: Client, db: Engine) -> None:
        s = shop(db)
        await log(admin, s, "6")  # 4 h left, above the 2 h threshold
        run_pending_jobs(db)
        assert notification_kinds(db) == []

        await admin.data(UPDATE_AGREEMENT, id=s.agreement_id, input={"lowBalanceThreshold": "5.00"})
        run_pending_jobs(db)
        assert notification_kinds(db) == [("LOW_BALANCE", D("4.00"))]

        # Lowered below the balance: re-armed, so the next fall below it is announced again.
        await admin.data(UPDATE_AGREEMENT, id=s.agreement_id, input={"lowBalanceThreshold": "3.00"})
        await log(admin, s, "1.5")
        run_pending_jobs(db)
        assert notification_kinds(db) == [("LOW_BALANCE", D("4.00")), ("LOW_BALANCE", D("2.50"))]

    @pytest.mark.parametrize(
        ("field_input", "message"),
        [
            ({"name": None}, "name cannot be cleared"),
            ({"name": "  "}, "name must not be empty"),
            ({"endDate": "2025-12-31"}, "endDate 2025-12-31 is before startDate 2026-01-01"),
            ({"lowBalanceThreshold": "-1.00"}, "lowBalanceThreshold must not be negative"),
            ({"notifyEmails": ["not-an-address"]}, "notifyEmails 'not-an-address' is not an e-mail address"),
            ({"notifyEmails": [f"a{n}@msp.example" for n in range(21)]}, "notifyEmails may list at most 20"),
        ],
    )
    async def test_validated_like_creation_and_a_refusal_changes_nothing(
        self, admin: Client, db: Engine, field_input: dict[str, object], message: str
    ) -> None:
        s = shop(db)
        counts = row_counts(db)

        code, text = await admin.error(UPDATE_AGREEMENT, id=s.agreement_id, input=field_input)

        assert code == "BAD_USER_INPUT"
        assert message in text
        assert row_counts(db) == counts

    async def test_an_unknown_agreement_is_not_found_and_a_technician_is_forbidden(
        self, admin: Client, db: Engine
    ) -> None:
        s = shop(db)
        technician = admin.as_(create_token(db, Role.TECHNICIAN))

        assert (await admin.error(UPDATE_AGREEMENT, id="999999", input={"name": "x"}))[0] == "NOT_FOUND"
        assert (await technician.error(UPDATE_AGREEMENT, id=s.agreement_id, input={"name": "x"}))[0] == (
            "FORBIDDEN"
        )

    async def test_notify_emails_are_set_at_creation_and_hidden_from_customers(
        self, admin: Client, db: Engine
    ) -> None:
        s = shop(db)
        created = await admin.data(
            "mutation($input: CreateAgreementInput!) { createAgreement(input: $input) { id notifyEmails } }",
            input={
                "companyId": s.company_id,
                "agreementTypeId": s.type_id,
                "name": "Second",
                "startDate": "2026-11-01",
                "notifyEmails": ["sales@msp.example"],
            },
        )
        customer = admin.as_(create_token(db, Role.CUSTOMER, company_id=int(s.company_id)))

        assert created["createAgreement"]["notifyEmails"] == ["sales@msp.example"]
        query = "query($id: ID!) { agreement(id: $id) { name notifyEmails } }"
        code, _ = await customer.error(query, id=created["createAgreement"]["id"])
        assert code == "FORBIDDEN"
        body = await customer.execute("query($id: ID!) { agreement(id: $id) { name } }", id=s.agreement_id)
        assert body["data"]["agreement"]["name"] == "ACME block time"


class TestUpdateAgreementType:
    async def test_an_exclusion_applies_to_time_logged_after_it(self, admin: Client, db: Engine) -> None:
        s = shop(db)
        before = await log(admin, s, "1", work_type_id=s.after_hours_id)

        updated = (
            await admin.data(UPDATE_TYPE, id=s.type_id, input={"excludedWorkTypeIds": [s.after_hours_id]})
        )["updateAgreementType"]
        after = await log(admin, s, "1", work_type_id=s.after_hours_id)

        assert updated["excludedWorkTypes"] == [{"name": "After Hours"}]
        assert (before["coverage"], before["unitsApplied"]) == ("COVERED", "1.00")  # kept
        assert (after["coverage"], after["unitsApplied"], after["hoursBillable"]) == (
            "EXCLUDED_WORK_TYPE",
            "0.00",
            "1.00",
        )
        balance = await admin.data(
            "query($id: ID!) { agreement(id: $id) { balance { unitsRemaining } } }", id=s.agreement_id
        )
        assert balance["agreement"]["balance"]["unitsRemaining"] == "9.00"
        (entry,) = await trail(admin, "updateAgreementType")
        assert json.loads(str(entry["details"]))["changes"] == {
            "excludedWorkTypeIds": {"old": [], "new": [int(s.after_hours_id)]}
        }

    async def test_null_clears_exclusions_and_thresholds_and_is_refused_where_a_value_is_required(
        self, admin: Client, db: Engine
    ) -> None:
        s = shop(db)
        await admin.data(
            UPDATE_TYPE,
            id=s.type_id,
            input={
                "excludedWorkTypeIds": [s.after_hours_id],
                "lowBalancePercent": "20.00",
                "expireAfterMonths": 12,
            },
        )

        cleared = (
            await admin.data(
                UPDATE_TYPE,
                id=s.type_id,
                input={
                    "excludedWorkTypeIds": None,
                    "lowBalanceThreshold": None,
                    "lowBalancePercent": None,
                    "expireAfterMonths": None,
                },
            )
        )["updateAgreementType"]
        code, message = await admin.error(UPDATE_TYPE, id=s.type_id, input={"allowOverruns": None})

        assert cleared["excludedWorkTypes"] == []
        assert (
            cleared["lowBalanceThreshold"],
            cleared["lowBalancePercent"],
            cleared["expireAfterMonths"],
        ) == (
            None,
            None,
            None,
        )
        assert cleared["name"] == "Block Time"
        assert (code, message) == ("BAD_USER_INPUT", "allowOverruns cannot be cleared")

    async def test_a_new_expiry_applies_to_blocks_bought_after_it(self, admin: Client, db: Engine) -> None:
        s = shop(db)

        await admin.data(UPDATE_TYPE, id=s.type_id, input={"expireAfterMonths": 3})
        await admin.data(
            "mutation($input: PurchaseBlockInput!) { purchaseBlock(input: $input) { id } }",
            input={
                "agreementId": s.agreement_id,
                "units": "5",
                "unitPrice": "140.00",
                "effectiveDate": "2026-11-15",
            },
        )
        lots = await admin.data(
            "query($id: ID!) { agreement(id: $id) { lots { unitsRemaining expiresOn } } }", id=s.agreement_id
        )

        assert lots["agreement"]["lots"] == [
            {"unitsRemaining": "10.00", "expiresOn": None},  # bought before: as it was
            {"unitsRemaining": "5.00", "expiresOn": "2027-02-15"},
        ]

    @pytest.mark.parametrize(
        ("field_input", "code", "message"),
        [
            ({"expireAfterMonths": 0}, "BAD_USER_INPUT", "expireAfterMonths must be between 1 and 1200"),
            ({"lowBalancePercent": "100.01"}, "BAD_USER_INPUT", "lowBalancePercent must not exceed 100"),
            (
                {"excludedWorkTypeIds": ["abc"]},
                "NOT_FOUND",  # as every id that cannot be one of ours (issue 11)
                "excludedWorkTypeIds 'abc' not found",
            ),
            (
                {"excludedWorkRoleIds": ["999999"]},
                "NOT_FOUND",
                "work role 999999 not found",
            ),  # as at creation
            ({"name": None}, "BAD_USER_INPUT", "name cannot be cleared"),
        ],
    )
    async def test_hostile_input_is_refused_and_changes_nothing(
        self, admin: Client, db: Engine, field_input: dict[str, object], code: str, message: str
    ) -> None:
        s = shop(db)
        counts = row_counts(db)

        got = await admin.error(UPDATE_TYPE, id=s.type_id, input=field_input)

        assert got[0] == code
        assert message in got[1]
        assert row_counts(db) == counts

    async def test_a_type_threshold_re_evaluates_its_agreements(self, admin: Client, db: Engine) -> None:
        s = shop(db)
        await log(admin, s, "7")  # 3 h left
        run_pending_jobs(db)
        assert notification_kinds(db) == []

        await admin.data(UPDATE_TYPE, id=s.type_id, input={"lowBalancePercent": "30.00"})
        run_pending_jobs(db)

        assert notification_kinds(db) == [("LOW_BALANCE", D("3.00"))]

    async def test_a_name_taken_by_another_type_is_a_conflict(self, admin: Client, db: Engine) -> None:
        s = shop(db)
        with unit_of_work(db) as session:
            factories.block_time_type(session, rates=factories.Rates(*_rates(session)), name="Retainer")

        code, _ = await admin.error(UPDATE_TYPE, id=s.type_id, input={"name": "Retainer"})

        assert code == "CONFLICT"


def _rates(session):  # type: ignore[no-untyped-def]
    from models import WorkRole, WorkType

    engineer = session.scalars(select(WorkRole)).first()
    remote, after_hours = session.scalars(select(WorkType).order_by(WorkType.id)).all()[:2]
    return engineer, remote, after_hours


class TestUpdateCompany:
    async def test_billing_email_is_validated_normalised_and_cleared_with_null(
        self, admin: Client, db: Engine
    ) -> None:
        s = shop(db)

        changed = (
            await admin.data(UPDATE_COMPANY, id=s.company_id, input={"billingEmail": "AP@Acme.Example"})
        )["updateCompany"]
        code, _ = await admin.error(
            UPDATE_COMPANY, id=s.company_id, input={"billingEmail": "acme at example"}
        )
        cleared = (await admin.data(UPDATE_COMPANY, id=s.company_id, input={"billingEmail": None}))[
            "updateCompany"
        ]

        assert changed == {"id": s.company_id, "name": "ACME Inc.", "billingEmail": "AP@acme.example"}
        assert code == "BAD_USER_INPUT"
        assert cleared["billingEmail"] is None
        entries = await trail(admin, "updateCompany")
        assert [json.loads(str(e["details"]))["changes"] for e in entries] == [
            {"billingEmail": {"old": "AP@acme.example", "new": None}},
            {"billingEmail": {"old": "billing@acme.example", "new": "AP@acme.example"}},
        ]


SET_MAPPING = """
mutation($input: SetGLMappingInput!) { setGlMapping(input: $input) { id kind account { code } } }
"""


class TestMappingAccountTypes:
    @pytest.mark.parametrize(
        ("kind", "account", "expected"),
        [
            ("ACCOUNTS_RECEIVABLE", "revenue", "needs an ASSET account"),
            ("SERVICE_REVENUE", "deferred", "needs a REVENUE account"),
            ("BREAKAGE", "ar", "needs a REVENUE account"),
            ("AGREEMENT_TYPE", "revenue", "needs a LIABILITY account"),  # the default mapping
            ("PRODUCT_CATEGORY", "revenue", "needs a LIABILITY account"),
        ],
    )
    async def test_a_mapping_to_the_wrong_type_of_account_is_refused(
        self, admin: Client, db: Engine, kind: str, account: str, expected: str
    ) -> None:
        s = shop(db)
        accounts = {"ar": s.ar_id, "deferred": s.deferred_id, "revenue": s.revenue_id}
        extra = {"category": "Hardware"} if kind == "PRODUCT_CATEGORY" else {}
        counts = row_counts(db)

        code, message = await admin.error(
            SET_MAPPING, input={"kind": kind, "accountId": accounts[account], **extra}
        )

        assert code == "BAD_USER_INPUT"
        assert expected in message
        assert row_counts(db) == counts

    async def test_a_type_mapping_follows_the_types_revenue_treatment(
        self, admin: Client, db: Engine
    ) -> None:
        s = shop(db)  # the type reverses revenue when applied: its mapping must be a liability
        with unit_of_work(db) as session:
            rates = factories.Rates(*_rates(session))
            upfront = factories.block_time_type(session, rates=rates, name="Upfront", reverse_revenue=False)
            upfront_id = str(upfront.id)

        reversing, _ = await admin.error(
            SET_MAPPING,
            input={"kind": "AGREEMENT_TYPE", "agreementTypeId": s.type_id, "accountId": s.revenue_id},
        )
        not_reversing, message = await admin.error(
            SET_MAPPING,
            input={"kind": "AGREEMENT_TYPE", "agreementTypeId": upfront_id, "accountId": s.deferred_id},
        )
        fine = await admin.data(
            SET_MAPPING,
            input={"kind": "AGREEMENT_TYPE", "agreementTypeId": upfront_id, "accountId": s.revenue_id},
        )

        assert (reversing, not_reversing) == ("BAD_USER_INPUT", "BAD_USER_INPUT")
        assert "2400 Deferred Revenue is a LIABILITY account" in message
        assert fine["setGlMapping"]["account"]["code"] == "4000"

    async def test_a_batch_refuses_a_non_reversing_purchase_through_the_default_liability_mapping(
        self, admin: Client, db: Engine
    ) -> None:
        # The case: the type does not reverse revenue, and only the default
        # AGREEMENT_TYPE mapping (to the Deferred Revenue liability) exists.
        shop(db, reverse_revenue=False)

        batch = (await admin.data('mutation { postJournalBatch(throughDate: "2026-11-30") { id } }'))[
            "postJournalBatch"
        ]
        run_pending_jobs(db)
        result = await admin.data(
            "query($id: ID!) { journalBatch(id: $id) { status error entries { id } } }", id=batch["id"]
        )
        books = await admin.data("{ deferredRevenueReconciliation { difference unpostedActivity } }")

        assert result["journalBatch"]["status"] == "FAILED"
        assert result["journalBatch"]["entries"] == []
        assert result["journalBatch"]["error"] == (
            "GL mappings to the wrong type of account: the default AGREEMENT_TYPE mapping "
            "(used for agreement type 'Block Time') points at 2400 Deferred Revenue, a LIABILITY account; "
            "the revenue of agreement type 'Block Time' (it does not reverse revenue when applied) "
            "needs a REVENUE account"
        )
        assert books["deferredRevenueReconciliation"]["difference"] == "0.00"

    async def test_a_deleted_mapping_is_named_by_the_next_batch_and_audited(
        self, admin: Client, db: Engine
    ) -> None:
        shop(db)
        mappings = (await admin.data("{ glMappings { id kind agreementType { id } } }"))["glMappings"]
        (default,) = [m["id"] for m in mappings if m["kind"] == "AGREEMENT_TYPE"]

        assert (await admin.data("mutation($id: ID!) { deleteGlMapping(id: $id) }", id=default)) == {
            "deleteGlMapping": True
        }
        batch = (await admin.data('mutation { postJournalBatch(throughDate: "2026-11-30") { id } }'))[
            "postJournalBatch"
        ]
        run_pending_jobs(db)
        result = await admin.data(
            "query($id: ID!) { journalBatch(id: $id) { status error } }", id=batch["id"]
        )
        again = await admin.error("mutation($id: ID!) { deleteGlMapping(id: $id) }", id=default)

        assert result["journalBatch"]["status"] == "FAILED"
        assert (
            "Missing GL mappings: AGREEMENT_TYPE for agreement type 'Block Time'"
            in result["journalBatch"]["error"]
        )
        assert again[0] == "NOT_FOUND"
        (entry,) = await trail(admin, "deleteGlMapping")
        assert json.loads(str(entry["details"]))["kind"] == "AGREEMENT_TYPE"


class TestTokens:
    async def test_tokens_are_listed_without_secrets_and_revoked_from_the_next_request_on(
        self, admin: Client, db: Engine
    ) -> None:
        s = shop(db)
        leaked = create_token(db, Role.CUSTOMER, company_id=int(s.company_id), name="acme-portal")
        customer = admin.as_(leaked)
        assert (await customer.data("{ me { name } }"))["me"]["name"] == "acme-portal"

        listed = (
            await admin.data("{ apiTokens { id name role company { identifier } createdAt revokedAt } }")
        )["apiTokens"]
        (portal,) = [t for t in listed if t["name"] == "acme-portal"]
        revoked = (
            await admin.data(
                "mutation($id: ID!) { revokeApiToken(id: $id) { id revokedAt } }", id=portal["id"]
            )
        )["revokeApiToken"]

        assert [t["name"] for t in listed] == ["alice-admin", "acme-portal"]
        assert (portal["role"], portal["company"], portal["revokedAt"]) == (
            "CUSTOMER",
            {"identifier": "ACME"},
            None,
        )
        assert leaked not in json.dumps(listed)
        assert revoked["revokedAt"] is not None
        response = await customer.post("{ me { name } }")
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert len(await trail(admin, "revokeApiToken")) == 1

    async def test_only_admins_list_or_revoke_tokens_and_webhooks(self, admin: Client, db: Engine) -> None:
        accountant = admin.as_(create_token(db, Role.ACCOUNTANT))

        for query in ("{ apiTokens { id } }", "{ webhooks { id } }"):
            assert (await accountant.error(query))[0] == "FORBIDDEN"
        for mutation in ("revokeApiToken(id: 1) { id }", "deleteWebhook(id: 1)", "retryJob(id: 1) { id }"):
            assert (await accountant.error(f"mutation {{ {mutation} }}"))[0] == "FORBIDDEN"


class TestWebhooks:
    async def test_listed_without_secret_and_deleted(self, admin: Client, db: Engine) -> None:
        register = 'registerWebhook(input: {url: "https://erp.example/h", secret: "TOPSECRET1"}) { id }'
        hook = (await admin.data(f"mutation {{ {register} }}"))["registerWebhook"]

        listed = await admin.execute("{ webhooks { id url } }")
        deleted = await admin.data("mutation($id: ID!) { deleteWebhook(id: $id) }", id=hook["id"])
        after = await admin.data("{ webhooks { id url } }")
        again = await admin.error("mutation($id: ID!) { deleteWebhook(id: $id) }", id=hook["id"])

        assert listed == {"data": {"webhooks": [{"id": hook["id"], "url": "https://erp.example/h"}]}}
        assert "TOPSECRET1" not in json.dumps(listed)
        assert deleted == {"deleteWebhook": True}
        assert after == {"webhooks": []}
        assert again[0] == "NOT_FOUND"


DELIVERIES = """
{ notifications { edges { node {
  kind deliveredAt deliveries { id channel target status attempts lastError sentAt }
} } } }
"""


def failed_webhook_delivery(engine: Engine, s: Shop) -> int:
    """A LOW_BALANCE notification whose one webhook delivery gave up (its send job FAILED)."""
    from accounting import jobs, notifications, outbox

    with unit_of_work(engine) as session:
        notifications.register_webhook(session, url="https://erp.example/hook", secret="s3cret-hook")
        (notification,) = session.scalars(select(Notification))  # raised when the shop was built
        (channel,) = notifications.plan_deliveries(
            session, notification_id=notification.id, email_enabled=False
        )
        job = jobs.enqueue(session, jobs.SEND_DELIVERY, delivery_id=channel.delivery_id)
        session.flush()
        outbox.record_delivery_failure(session, delivery_id=channel.delivery_id, error="HTTP 410")
        outbox.record_failure(session, job_id=job.id, error="DeliveryRejected: HTTP 410", final=True)
        return channel.delivery_id


class TestDeliveriesThroughTheApi:
    async def test_staff_see_each_delivery_and_an_admin_retries_a_failed_one(
        self, admin: Client, db: Engine
    ) -> None:
        s = shop(db, hours="1")  # 1 h bought, threshold 2 h: low at once
        delivery_id = failed_webhook_delivery(db, s)
        accountant = admin.as_(create_token(db, Role.ACCOUNTANT))
        customer = admin.as_(create_token(db, Role.CUSTOMER, company_id=int(s.company_id)))

        (node,) = [e["node"] for e in (await accountant.data(DELIVERIES))["notifications"]["edges"]]
        code, _ = await customer.error(DELIVERIES)
        refused, _ = await accountant.error(
            "mutation($id: ID!) { retryDelivery(id: $id) { status } }", id=str(delivery_id)
        )
        retried = await admin.data(
            "mutation($id: ID!) { retryDelivery(id: $id) { id status attempts lastError } }",
            id=str(delivery_id),
        )
        twice, message = await admin.error(
            "mutation($id: ID!) { retryDelivery(id: $id) { status } }", id=str(delivery_id)
        )

        assert node == {
            "kind": "LOW_BALANCE",
            "deliveredAt": None,
            "deliveries": [
                {
                    "id": str(delivery_id),
                    "channel": "WEBHOOK",
                    "target": "https://erp.example/hook",
                    "status": "FAILED",
                    "attempts": 1,
                    "lastError": "HTTP 410",
                    "sentAt": None,
                }
            ],
        }
        assert code == "FORBIDDEN"
        assert refused == "FORBIDDEN"
        assert retried["retryDelivery"] == {
            "id": str(delivery_id),
            "status": "PENDING",
            "attempts": 1,
            "lastError": "HTTP 410",
        }
        assert (twice, message) == (
            "BAD_USER_INPUT",
            f"notification delivery {delivery_id} is PENDING; only a FAILED one can be retried",
        )
        failed = (await admin.data("{ failedJobs { edges { node { id } } } }"))["failedJobs"]["edges"]
        assert failed == []  # its dead-lettered job is back in the outbox
        (entry,) = await trail(admin, "retryDelivery")
        assert (entry["objectType"], entry["objectId"]) == ("NotificationDelivery", str(delivery_id))

    async def test_an_admin_retries_a_failed_job(self, admin: Client, db: Engine) -> None:
        with unit_of_work(db) as session:
            from accounting import jobs, outbox

            job = jobs.enqueue(session, jobs.POST_BATCH, batch_id=999)
            outbox.record_failure(
                session, job_id=job.id, error="NotFound: journal batch 999 not found", final=True
            )
            job_id = str(job.id)

        retried = await admin.data(
            "mutation($id: ID!) { retryJob(id: $id) { id status lastError } }", id=job_id
        )
        code, _ = await admin.error("mutation($id: ID!) { retryJob(id: $id) { id } }", id=job_id)

        assert retried["retryJob"] == {
            "id": job_id,
            "status": "PENDING",
            "lastError": "NotFound: journal batch 999 not found",
        }
        assert code == "BAD_USER_INPUT"
        assert [e["objectId"] for e in await trail(admin, "retryJob")] == [job_id]
