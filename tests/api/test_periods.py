"""Closed periods, trialBalance(asOf) and the rollforward through GraphQL (SPEC §8)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from accounting import agreements, clock
from models import AuditEntry
from models.db import unit_of_work
from models.enums import Role
from testkit import factories
from tests.api.helpers import Client, create_token, row_counts, run_pending_jobs

D = Decimal
TODAY = clock.today()


def ago(days: int) -> dt.date:
    return TODAY - dt.timedelta(days=days)


@dataclass(frozen=True)
class Shop:
    company_id: str
    agreement_id: str
    engineer_id: str
    remote_id: str


@pytest.fixture
def shop(db: Engine) -> Shop:
    """ACME: 10 h at 150.00 in effect from 30 days ago, 2 h of time 20 days ago."""
    with unit_of_work(db) as session:
        factories.chart_of_accounts(session)
        rates = factories.rates(session)
        deal = factories.agreement(
            session, agreement_type=factories.block_time_type(session, rates=rates), start=ago(60)
        )
        agreements.purchase_block(
            session, agreement_id=deal.id, units=D("10"), unit_price=D("150.00"), effective_date=ago(30)
        )
        factories.log_time(
            session,
            agreement=deal,
            rates=rates,
            date=ago(20),
            hours="2",
        )
        return Shop(str(deal.company_id), str(deal.id), str(rates.engineer.id), str(rates.remote.id))


CLOSE = "mutation($through: Date!) { closePeriod(through: $through) }"
CLOSED = "{ closedThrough }"
BILL = "mutation($d: Date!) { runBilling(throughDate: $d) }"
POST = "mutation($d: Date!) { postJournalBatch(throughDate: $d) { id } }"
ROLLFORWARD = """
query($from: Date!, $to: Date!) {
  deferredRevenueRollforward(from: $from, to: $to) {
    from to opening purchases released breakage refunded closing ledgerClosing unposted difference
    rows { agreement { id name } opening purchases released breakage refunded closing }
  }
}
"""


async def settle(client: Client, db: Engine, through: dt.date) -> None:
    await client.data(BILL, d=through.isoformat())
    await client.data(POST, d=through.isoformat())
    run_pending_jobs(db)


class TestClosePeriodThroughTheApi:
    async def test_an_accountant_closes_and_everyone_on_staff_reads_it(
        self, admin: Client, db: Engine, shop: Shop
    ) -> None:
        accountant = admin.as_(create_token(db, Role.ACCOUNTANT))
        technician = admin.as_(create_token(db, Role.TECHNICIAN))
        assert await accountant.data(CLOSED) == {"closedThrough": None}
        await settle(accountant, db, ago(10))

        assert await accountant.data(CLOSE, through=ago(10).isoformat()) == {
            "closePeriod": ago(10).isoformat()
        }

        assert await technician.data(CLOSED) == {"closedThrough": ago(10).isoformat()}
        with unit_of_work(db, writer=False) as session:
            audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "closePeriod")).one()
            assert (audit.actor_role, ago(10).isoformat() in (audit.details or "")) == ("ACCOUNTANT", True)

    async def test_refused_while_time_is_unbilled_naming_it_and_changing_nothing(
        self, admin: Client, db: Engine, shop: Shop
    ) -> None:
        before = row_counts(db)
        code, message = await admin.error(CLOSE, through=ago(10).isoformat())

        assert code == "CONFLICT"
        assert "1 unbilled covered or billable time entry" in message
        assert "1 unposted invoice (INV-000001)" in message
        assert row_counts(db) == before
        assert await admin.data(CLOSED) == {"closedThrough": None}

    @pytest.mark.parametrize("through", [0, -1])
    async def test_through_must_be_before_today(self, admin: Client, shop: Shop, through: int) -> None:
        code, message = await admin.error(CLOSE, through=ago(through).isoformat())
        assert (code, message.startswith("through must be before today")) == ("BAD_USER_INPUT", True)

    async def test_through_must_not_go_back(self, admin: Client, db: Engine, shop: Shop) -> None:
        await settle(admin, db, ago(10))
        await admin.data(CLOSE, through=ago(10).isoformat())

        code, message = await admin.error(CLOSE, through=ago(11).isoformat())

        assert code == "BAD_USER_INPUT"
        assert f"not be before the current close ({ago(10).isoformat()})" in message

    @pytest.mark.parametrize("role", [Role.TECHNICIAN, Role.CUSTOMER])
    async def test_only_admins_and_accountants_close(
        self, admin: Client, db: Engine, shop: Shop, role: Role
    ) -> None:
        company = int(shop.company_id) if role is Role.CUSTOMER else None
        other = admin.as_(create_token(db, role, company_id=company))
        assert (await other.error(CLOSE, through=ago(10).isoformat()))[0] == "FORBIDDEN"

    async def test_customers_do_not_read_the_closed_date(self, admin: Client, db: Engine, shop: Shop) -> None:
        customer = admin.as_(create_token(db, Role.CUSTOMER, company_id=int(shop.company_id)))
        assert (await customer.error(CLOSED))[0] == "FORBIDDEN"


class TestLateActivityThroughTheApi:
    async def test_back_dated_time_is_invoiced_the_day_after_the_close(
        self, admin: Client, db: Engine, shop: Shop
    ) -> None:
        await settle(admin, db, ago(10))
        await admin.data(CLOSE, through=ago(10).isoformat())
        await admin.data(
            "mutation($input: LogTimeInput!) { logTime(input: $input) { id } }",
            input={
                "companyId": shop.company_id,
                "agreementId": shop.agreement_id,
                "workTypeId": shop.remote_id,
                "workRoleId": shop.engineer_id,
                "date": ago(15).isoformat(),
                "hours": "1.5",
            },
        )

        await admin.data(BILL, d=ago(12).isoformat())  # billing through a closed date
        run_pending_jobs(db)  # the invoices exist before the batch is asked for (none is ever empty)
        await admin.data(POST, d=ago(9).isoformat())
        run_pending_jobs(db)

        data = await admin.data(
            "{ invoices(first: 10) { edges { node { date kind lines { description } } } } }"
        )
        invoices = [edge["node"] for edge in data["invoices"]["edges"]]
        usage = [i for i in invoices if i["kind"] == "AGREEMENT_USAGE"]
        assert sorted(i["date"] for i in usage) == [ago(10).isoformat(), ago(9).isoformat()]
        late = next(i for i in usage if i["date"] == ago(9).isoformat())
        assert late["lines"][0]["description"].startswith(ago(15).isoformat())
        newest = (await admin.data("{ journalBatches(first: 1) { edges { node { entries { date } } } } }"))[
            "journalBatches"
        ]["edges"][0]["node"]
        assert newest["entries"] == [{"date": ago(9).isoformat()}]

    async def test_a_purchase_inside_the_closed_period_is_refused(
        self, admin: Client, db: Engine, shop: Shop
    ) -> None:
        await settle(admin, db, ago(10))
        await admin.data(CLOSE, through=ago(10).isoformat())
        before = row_counts(db)

        code, message = await admin.error(
            "mutation($input: PurchaseBlockInput!) { purchaseBlock(input: $input) { id } }",
            input={
                "agreementId": shop.agreement_id,
                "units": "5",
                "unitPrice": "140.00",
                "effectiveDate": ago(12).isoformat(),
            },
        )

        assert code == "BAD_USER_INPUT"
        assert f"effectiveDate {ago(12).isoformat()} is inside a closed period" in message
        assert row_counts(db) == before


class TestBooksOnADate:
    async def test_trial_balance_as_of_and_the_rollforward(
        self, admin: Client, db: Engine, shop: Shop
    ) -> None:
        await settle(admin, db, ago(10))
        query = "query($asOf: Date) { trialBalance(asOf: $asOf) { account { code } debit credit } }"

        before_usage = await admin.data(query, asOf=ago(11).isoformat())
        after_usage = await admin.data(query, asOf=ago(10).isoformat())
        everything = await admin.data(query)

        assert before_usage["trialBalance"][:2] == [
            {"account": {"code": "1100"}, "debit": "1500.00", "credit": "0.00"},
            {"account": {"code": "2400"}, "debit": "0.00", "credit": "1500.00"},
        ]
        assert after_usage == everything
        assert everything["trialBalance"][1] == {
            "account": {"code": "2400"},
            "debit": "0.00",
            "credit": "1200.00",
        }

        result = (await admin.data(ROLLFORWARD, **{"from": ago(30).isoformat(), "to": ago(15).isoformat()}))[
            "deferredRevenueRollforward"
        ]
        assert {k: v for k, v in result.items() if k != "rows"} == {
            "from": ago(30).isoformat(),
            "to": ago(15).isoformat(),
            "opening": "0.00",
            "purchases": "1500.00",
            "released": "300.00",
            "breakage": "0.00",
            "refunded": "0.00",
            "closing": "1200.00",
            "ledgerClosing": "1500.00",  # the usage is invoiced and posted 10 days ago
            "unposted": "-300.00",
            "difference": "0.00",
        }
        assert result["rows"] == [
            {
                "agreement": {"id": shop.agreement_id, "name": "ACME block time"},
                "opening": "0.00",
                "purchases": "1500.00",
                "released": "300.00",
                "breakage": "0.00",
                "refunded": "0.00",
                "closing": "1200.00",
            }
        ]

    @pytest.mark.parametrize("role", [Role.TECHNICIAN, Role.CUSTOMER])
    async def test_the_rollforward_is_for_the_back_office(
        self, admin: Client, db: Engine, shop: Shop, role: Role
    ) -> None:
        company = int(shop.company_id) if role is Role.CUSTOMER else None
        other = admin.as_(create_token(db, role, company_id=company))
        code, _ = await other.error(ROLLFORWARD, **{"from": ago(30).isoformat(), "to": ago(1).isoformat()})
        assert code == "FORBIDDEN"
        assert (await other.error('{ trialBalance(asOf: "2026-01-01") { debit } }'))[0] == "FORBIDDEN"

    async def test_the_range_is_checked(self, admin: Client, shop: Shop) -> None:
        code, message = await admin.error(
            ROLLFORWARD, **{"from": ago(1).isoformat(), "to": ago(2).isoformat()}
        )
        assert code == "BAD_USER_INPUT"
        assert "must be on or before to" in message
        code, message = await admin.error(ROLLFORWARD, **{"from": "2020-01-01", "to": "2026-01-02"})
        assert (code, "a range of at most 5 years" in message) == ("BAD_USER_INPUT", True)
