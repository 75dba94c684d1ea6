"""Agreement.forecast over HTTP (SPEC §11): a customer reads its own, never another's."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select

from accounting import clock
from accounting.demo import seed_demo
from models import Agreement
from models.db import unit_of_work
from models.enums import Role
from tests.api.helpers import Client, create_token

FORECAST = "query($id: ID!, $days: Int) { agreement(id: $id) { name forecast(days: $days) { %s } } }"
ALL = "days usagePerDay daysOfCover runsOutOn"


@pytest.fixture
def demo_ids(db: Engine) -> dict[str, str]:
    """The demo of `make run`, whose dates are relative to today; agreement ids by name."""
    with unit_of_work(db) as session:
        seed_demo(session)
        return {a.name: str(a.id) for a in session.scalars(select(Agreement))}


@pytest.fixture
def acme(admin: Client, db: Engine, demo_ids: dict[str, str]) -> Client:
    with unit_of_work(db) as session:
        company_id = session.scalar(select(Agreement.company_id).where(Agreement.name == "Acme block time"))
    return admin.as_(create_token(db, Role.CUSTOMER, company_id=company_id, name="acme-portal"))


class TestForecastOverHTTP:
    async def test_a_customer_reads_its_own_forecast(self, acme: Client, demo_ids: dict[str, str]) -> None:
        data = await acme.data(FORECAST % ALL, id=demo_ids["Acme block time"])

        # 1.50 h drawn yesterday, 1.50 h left: 0.05 a day over 30 days, 30.00 days of cover.
        today = clock.today()
        assert data["agreement"]["forecast"] == {
            "days": 30,
            "usagePerDay": "0.05",
            "daysOfCover": "30.00",
            "runsOutOn": (today + dt.timedelta(days=30)).isoformat(),
        }

    async def test_a_longer_window_sees_the_older_usage(
        self, admin: Client, demo_ids: dict[str, str]
    ) -> None:
        data = await admin.data(FORECAST % ALL, id=demo_ids["Globex prepaid credit"], days=60)

        # GLOBEX's credit: 4 h onsite by a senior (4 x 185.00 x 1.25 = 925.00) 55 days ago and 2.5 h
        # remote (375.00) 40 days ago; 2,000.00 - 1,300.00 = 700.00 left, expiring in 10 months.
        today = clock.today()
        assert data["agreement"]["forecast"] == {
            "days": 60,
            "usagePerDay": "21.67",  # 1,300.00 / 60
            "daysOfCover": "32.31",  # 700.00 x 60 / 1,300.00 = 32.307..
            "runsOutOn": (today + dt.timedelta(days=32)).isoformat(),
        }

    async def test_usage_older_than_the_window_gives_no_run_out_day(
        self, admin: Client, demo_ids: dict[str, str]
    ) -> None:
        data = await admin.data(FORECAST % ALL, id=demo_ids["Globex prepaid credit"])

        assert data["agreement"]["forecast"] == {
            "days": 30,
            "usagePerDay": "0.00",
            "daysOfCover": None,
            "runsOutOn": None,
        }

    async def test_another_companys_forecast_is_not_found(
        self, acme: Client, demo_ids: dict[str, str]
    ) -> None:
        body = await acme.execute(FORECAST % ALL, id=demo_ids["Globex prepaid credit"])

        assert body["data"] == {"agreement": None}
        assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"]

    @pytest.mark.parametrize("days", [0, -5, 100000])
    async def test_a_window_out_of_range_is_bad_input(
        self, acme: Client, demo_ids: dict[str, str], days: int
    ) -> None:
        body = await acme.execute(FORECAST % "days", id=demo_ids["Acme block time"], days=days)

        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
        assert "days must be between 1 and 1826" in body["errors"][0]["message"]
