"""Upgrading a database full of the previous release's data (SPEC §7, the brief's upgrade rule).

tests/migration_data/release_0001.json holds a database at revision 0001 (release 0001's
demo data plus an expiry, a write-off, a reversal, a refund and two posted batches) and
what release 0001's code read from it. Each test loads those rows into an empty database
at 0001, upgrades it to head (whatever revisions exist by then) and checks that the head
code reads the same balances, books and history; then that a downgrade back to 0001
gives every row back as it was. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Boolean, Date, DateTime, Engine, MetaData, select
from sqlalchemy.orm import Session

from accounting import agreements, batches, billing, closing, ledger, periods, rollforward
from migrations import runner
from models import (
    Agreement,
    GLAccount,
    Invoice,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    LotMovement,
    TimeEntry,
)
from models.db import make_engine, session_factory
from tests.conftest import postgres_url, throwaway_postgres_database

RELEASE = json.loads((Path(__file__).parent / "migration_data" / "release_0001.json").read_text())


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def books_meaning(session: Session) -> dict[str, Any]:
    """Balances, trial balance, reconciliation and history, as plain text: what must not change."""
    deals = session.scalars(select(Agreement).order_by(Agreement.id)).all()
    balances = agreements.balances(session, deals)
    accounts = {a.id: a.code for a in session.scalars(select(GLAccount))}
    rec = ledger.deferred_revenue_reconciliation(session)
    lines_by_entry: dict[int, list[list[str]]] = {}
    for line in session.scalars(select(JournalLine).order_by(JournalLine.id)):
        lines_by_entry.setdefault(line.entry_id, []).append(
            [accounts[line.account_id], str(line.debit), str(line.credit)]
        )
    invoice_lines: dict[int, list[list[Any]]] = {}
    for line in session.scalars(select(InvoiceLine).order_by(InvoiceLine.invoice_id, InvoiceLine.position)):
        invoice_lines.setdefault(line.invoice_id, []).append(
            [line.description, str(line.quantity), str(line.unit_price), str(line.amount), line.time_entry_id]
        )
    return {
        "balances": {
            str(a.id): {
                "units_purchased": str(b.units_purchased),
                "units_applied": str(b.units_applied),
                "units_expired": str(b.units_expired),
                "units_remaining": str(b.units_remaining),
                "deferred_revenue": str(b.deferred_revenue),
                "percent_remaining": _text(b.percent_remaining),
            }
            for a in deals
            for b in [balances[a.id]]
        },
        "trial_balance": [
            [r.account.code, str(r.debit), str(r.credit)] for r in ledger.trial_balance(session)
        ],
        "reconciliation": {
            "ledger_balance": str(rec.ledger_balance),
            "agreements_total": str(rec.agreements_total),
            "unposted_activity": str(rec.unposted_activity),
        },
        "journal": [
            [e.date.isoformat(), e.source_type, e.source_id, e.memo, lines_by_entry.get(e.id, [])]
            for e in session.scalars(select(JournalEntry).order_by(JournalEntry.id))
        ],
        "invoices": [
            [
                i.number,
                i.kind.value,
                i.date.isoformat(),
                str(i.total),
                i.batch_id is not None,
                invoice_lines.get(i.id, []),
            ]
            for i in session.scalars(select(Invoice).order_by(Invoice.id))
        ],
        "movements": [
            [m.lot_id, m.kind.value, str(m.units), str(m.value), m.date.isoformat(), m.batch_id is not None]
            for m in session.scalars(select(LotMovement).order_by(LotMovement.id))
        ],
        "time_entries": [
            [
                t.id,
                t.date.isoformat(),
                str(t.hours),
                t.coverage.value,
                str(t.value),
                str(t.covered_value),
                str(t.units_applied),
                str(t.amount_billable),
                t.billed,
                t.reversed,
            ]
            for t in session.scalars(select(TimeEntry).order_by(TimeEntry.id))
        ],
    }


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def release_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database at revision 0001 holding the release's rows."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'release.db'}")
        load_release(engine)
        yield engine
        engine.dispose()
        return
    with throwaway_postgres_database(postgres_url(), prefix="blocktime_upgr") as url:
        engine = make_engine(url, pool_size=1)
        load_release(engine)
        yield engine
        engine.dispose()


def _typed(column: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, DateTime):
        parsed = dt.datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    if isinstance(column.type, Date):
        return dt.date.fromisoformat(value)
    if isinstance(column.type, Boolean):
        return bool(value)
    return value


def load_release(engine: Engine) -> None:
    runner.upgrade(engine, RELEASE["revision"])
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            rows = RELEASE["tables"].get(table.name)
            if rows:
                conn.execute(table.insert(), [{k: _typed(table.c[k], v) for k, v in r.items()} for r in rows])
                if engine.dialect.name == "postgresql" and "id" in table.c:
                    # Rows came with their ids: move the sequence past them, as the release had.
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT max(id) FROM {table.name}))"
                    )


def release_rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of the release's tables, timestamps left out (their text differs by database)."""
    metadata = MetaData()
    metadata.reflect(engine)
    rows: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for name in RELEASE["tables"]:
            table = metadata.tables[name]
            columns = [c for c in table.c if not isinstance(c.type, DateTime)]
            found = conn.execute(select(*columns).order_by(*table.primary_key.columns)).mappings()
            rows[name] = [
                {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in r.items()} for r in found
            ]
    return rows


def without_timestamps(
    rows: dict[str, list[dict[str, Any]]], engine: Engine
) -> dict[str, list[dict[str, Any]]]:
    metadata = MetaData()
    metadata.reflect(engine)
    stamps = {
        name: {c.name for c in metadata.tables[name].c if isinstance(c.type, DateTime)} for name in rows
    }
    return {
        name: [
            {
                k: (bool(v) if isinstance(metadata.tables[name].c[k].type, Boolean) and v is not None else v)
                for k, v in r.items()
                if k not in stamps[name]
            }
            for r in table_rows
        ]
        for name, table_rows in rows.items()
    }


class TestUpgradeWithTheReleasesData:
    def test_head_reads_the_same_balances_books_and_history(self, release_engine: Engine) -> None:
        runner.upgrade(release_engine)
        assert runner.current(release_engine) == runner.head()
        runner.check(release_engine)

        session = session_factory(release_engine)()
        try:
            assert books_meaning(session) == RELEASE["expected"]
        finally:
            session.rollback()
            session.close()

    def test_downgrade_to_the_release_gives_every_row_back(self, release_engine: Engine) -> None:
        runner.upgrade(release_engine)
        runner.downgrade(release_engine, RELEASE["revision"])

        assert runner.current(release_engine) == RELEASE["revision"]
        assert release_rows(release_engine) == without_timestamps(RELEASE["tables"], release_engine)

    def test_the_data_is_what_the_release_held(self) -> None:
        # Guards the fixture itself: a release with agreements, lots, time, invoices and posted batches.
        tables = RELEASE["tables"]
        assert RELEASE["revision"] == "0001"
        assert len(tables["agreement"]) == 4
        assert len(tables["lot"]) == 7
        assert len(tables["time_entry"]) == 10
        assert len(tables["invoice"]) == 13
        assert [b["status"] for b in tables["journal_batch"]] == ["POSTED", "POSTED"]
        kinds = {m["kind"] for m in tables["lot_movement"]}
        assert kinds == {"USAGE", "REVERSAL", "WRITE_OFF", "EXPIRY", "REFUND"}

    def test_the_upgraded_books_carry_on(self, release_engine: Engine) -> None:
        # Head's rules work on the release's rows: the rollforward ties, a close goes through.
        runner.upgrade(release_engine)
        session = session_factory(release_engine)()
        try:
            history = rollforward.deferred_revenue_rollforward(
                session, from_date=dt.date(2026, 9, 1), to_date=dt.date(2026, 11, 29)
            )
            assert (history.purchases, history.closing, history.difference) == (
                Decimal("6081.64"),  # 1500 + 700 + 1800 + 580 + 435 + 8 x 133.33
                Decimal("840.00"),  # ACME 1.5 h x 140.00 + GLOBEX 700.00 x 0.90
                Decimal("0.00"),
            )
            assert history.ledger_closing == Decimal(RELEASE["expected"]["reconciliation"]["ledger_balance"])

            billing.run_billing(session, through_date=dt.date(2026, 11, 29))
            batch = batches.create_batch(session, through_date=dt.date(2026, 11, 29))
            assert batches.post_batch(session, batch_id=batch.id).error is None
            close = closing.close_period(session, through=dt.date(2026, 11, 29), today=dt.date(2026, 11, 30))

            assert close.through == periods.closed_through(session) == dt.date(2026, 11, 29)
            after = rollforward.deferred_revenue_rollforward(
                session, from_date=dt.date(2026, 9, 1), to_date=dt.date(2026, 11, 29)
            )
            assert (after.ledger_closing, after.unposted, after.difference) == (
                Decimal("840.00"),
                Decimal("0.00"),
                Decimal("0.00"),
            )
        finally:
            session.rollback()
            session.close()
