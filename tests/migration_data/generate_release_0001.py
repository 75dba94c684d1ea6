"""Writes release_0001.json: a database at revision 0001 full of demo-like data, and what it meant.

Run once, at the commit that was release 0001 (13fad1a), with the code of that release:

    .venv/bin/python -m tests.migration_data.generate_release_0001

It is kept for the record, not re-run: later code would write later data. The JSON holds
every table's rows as the 0001 schema stores them (integer hundredths, ISO dates) and,
under "expected", the balances, trial balance, reconciliation and history the 0001 code
computed from them. tests/test_upgrade_with_data.py loads the rows into a database at
0001, upgrades it to head and checks that the head code reads the same meaning.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, select

from accounting import agreements, batches, billing, catalog, drawdown, expiry
from accounting.demo import seed_demo
from migrations import runner
from models import (
    Agreement,
    Company,
    WorkRole,
    WorkType,
)
from models.db import make_engine, session_factory
from models.enums import ApplicationUnits
from tests.test_upgrade_with_data import books_meaning

TODAY = dt.date(2026, 11, 30)
OUT = Path(__file__).with_name("release_0001.json")


def _scenario(session: Any) -> None:
    seed_demo(session, today=TODAY)
    engineer = session.scalars(select(WorkRole).where(WorkRole.name == "Engineer")).one()
    remote = session.scalars(select(WorkType).where(WorkType.name == "Remote")).one()
    # A short-lived block that expires, a write-off, a reversal and a refund on top of the demo.
    short = agreements.create_agreement_type(
        session,
        name="Monthly Block",
        application_units=ApplicationUnits.HOURS,
        prepaid=True,
        reverse_revenue_when_applied=True,
        expire_after_months=1,
    )
    hooli = catalog.create_company(session, identifier="HOOLI", name="Hooli", billing_email=None)
    deal = agreements.create_agreement(
        session,
        company_id=hooli.id,
        agreement_type_id=short.id,
        name="Hooli monthly",
        start_date=dt.date(2026, 9, 1),
    )
    agreements.purchase_block(
        session,
        agreement_id=deal.id,
        units=Decimal("8"),
        unit_price=Decimal("133.33"),
        effective_date=dt.date(2026, 9, 1),
    )
    first = drawdown.log_time(
        session,
        company_id=hooli.id,
        agreement_id=deal.id,
        work_type_id=remote.id,
        work_role_id=engineer.id,
        date=dt.date(2026, 9, 3),
        hours=Decimal("1.25"),
    )
    drawdown.log_time(
        session,
        company_id=hooli.id,
        agreement_id=deal.id,
        work_type_id=remote.id,
        work_role_id=engineer.id,
        date=dt.date(2026, 9, 10),
        hours=Decimal("2"),
    )
    billing.run_billing(session, through_date=dt.date(2026, 9, 15))
    drawdown.reverse_time_entry(session, time_entry_id=first.id, today=dt.date(2026, 9, 20))
    agreements.adjust_agreement(
        session,
        agreement_id=deal.id,
        units=Decimal("-0.5"),
        reason="goodwill write-off",
        today=dt.date(2026, 9, 25),
    )
    expiry.expire_blocks(session, as_of=dt.date(2026, 10, 2))
    globex = session.scalars(select(Company).where(Company.identifier == "GLOBEX")).one()
    globex_deal = session.scalars(select(Agreement).where(Agreement.company_id == globex.id)).one()
    agreements.adjust_agreement(
        session,
        agreement_id=globex_deal.id,
        units=Decimal("50"),
        reason="complimentary",
        today=dt.date(2026, 11, 1),
    )
    billing.run_billing(session, through_date=dt.date(2026, 11, 20))
    batch = batches.create_batch(session, through_date=dt.date(2026, 11, 25))
    batches.post_batch(session, batch_id=batch.id)
    initech = session.scalars(select(Company).where(Company.identifier == "INITECH")).one()
    initech_deal = session.scalars(select(Agreement).where(Agreement.company_id == initech.id)).one()
    agreements.purchase_block(
        session,
        agreement_id=initech_deal.id,
        units=Decimal("3"),
        unit_price=Decimal("145.00"),
        effective_date=dt.date(2026, 11, 26),
    )
    agreements.cancel_agreement(
        session, agreement_id=initech_deal.id, refund_unused=True, today=dt.date(2026, 11, 27)
    )
    session.flush()


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        engine = make_engine(f"sqlite:///{Path(directory) / 'release.db'}")
        runner.upgrade(engine, runner.INITIAL_REVISION)
        session = session_factory(engine)()
        _scenario(session)
        meaning = books_meaning(session)
        session.commit()
        session.close()
        metadata = MetaData()
        metadata.reflect(engine)
        tables: dict[str, list[dict[str, Any]]] = {}
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                if table.name == "alembic_version":
                    continue
                rows = conn.execute(select(table).order_by(*table.primary_key.columns)).mappings()
                tables[table.name] = [{k: _plain(v) for k, v in row.items()} for row in rows]
        engine.dispose()
    OUT.write_text(
        json.dumps(
            {"revision": "0001", "today": TODAY.isoformat(), "tables": tables, "expected": meaning}, indent=1
        )
        + "\n"
    )
    sys.stdout.write(f"wrote {OUT}: {sum(len(r) for r in tables.values())} rows in {len(tables)} tables\n")


if __name__ == "__main__":
    main()
