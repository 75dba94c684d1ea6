"""SPEC §2: concurrent draw-downs on one agreement are serialised, on both databases."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from accounting import agreements, drawdown
from accounting.errors import DomainError
from models import Agreement, LotMovement, TimeEntry
from models.db import make_engine, unit_of_work
from testkit import factories
from tests.conftest import migrate, postgres_engine, reset_database

D = Decimal
DAY = dt.date(2026, 4, 1)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_engine(request: pytest.FixtureRequest, engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    """The run's database, plus the other kind: both must serialise draw-downs."""
    if request.param == "postgresql":
        with postgres_engine(engine, "blocktime_race") as pg:
            yield pg
        return
    if request.param == engine.dialect.name:
        reset_database(engine)
        yield engine
        return
    other = make_engine(f"sqlite:///{tmp_path / 'race.db'}")
    migrate(other)
    yield other
    other.dispose()


def _scenario(engine: Engine, *, allow_overruns: bool) -> tuple[int, int, int]:
    with unit_of_work(engine) as session:
        factories.chart_of_accounts(session)
        rates = factories.rates(session)
        block = factories.block_time_type(session, rates=rates, allow_overruns=allow_overruns)
        deal = factories.agreement(session, agreement_type=block)
        agreements.purchase_block(
            session, agreement_id=deal.id, units=D("10"), unit_price=D("150.00"), effective_date=DAY
        )
        ids = (deal.id, deal.company_id, rates.remote.id, rates.engineer.id)
    return ids


def _log_one(engine: Engine, ids: tuple[int, int, int, int]) -> str:
    agreement_id, company_id, work_type_id, role_id = ids
    try:
        with unit_of_work(engine) as session:
            drawdown.log_time(
                session,
                company_id=company_id,
                agreement_id=agreement_id,
                work_type_id=work_type_id,
                work_role_id=role_id,
                date=DAY,
                hours=D("1"),
            )
        return "ok"
    except DomainError as exc:
        return exc.code


class TestConcurrentDrawDown:
    def test_fifty_parallel_hours_against_ten_without_overruns(self, any_engine: Engine) -> None:
        ids = _scenario(any_engine, allow_overruns=False)
        with ThreadPoolExecutor(max_workers=50) as pool:
            outcomes = Counter(pool.map(lambda _: _log_one(any_engine, ids), range(50)))
        assert outcomes == {"ok": 10, "INSUFFICIENT_BALANCE": 40}
        with unit_of_work(any_engine, writer=False) as session:
            assert session.scalar(select(func.count(TimeEntry.id))) == 10
            assert session.scalar(select(func.sum(LotMovement.units))) == D("10.00")
            balance = agreements.balance(session, session.get_one(Agreement, ids[0]))
            assert balance.units_remaining == D("0.00") and balance.deferred_revenue == D("0.00")

    def test_fifty_parallel_hours_against_ten_with_overruns(self, any_engine: Engine) -> None:
        ids = _scenario(any_engine, allow_overruns=True)
        with ThreadPoolExecutor(max_workers=50) as pool:
            outcomes = Counter(pool.map(lambda _: _log_one(any_engine, ids), range(50)))
        assert outcomes == {"ok": 50}
        with unit_of_work(any_engine, writer=False) as session:
            assert session.scalar(select(func.count(TimeEntry.id))) == 50
            assert session.scalar(select(func.sum(TimeEntry.units_applied))) == D("10.00")
            assert session.scalar(select(func.sum(TimeEntry.hours_billable))) == D("40.00")
            balance = agreements.balance(session, session.get_one(Agreement, ids[0]))
            assert balance.units_remaining == D("0.00")
