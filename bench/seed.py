"""Seeding the benchmarks' data (not a measured figure).

Agreements, their blocks and tokens go through the accounting services in one unit
of work, so invoices, lots and the outbox are exactly what the API would write.
Time entries in the tens of thousands go through `bulk_time_entries`, a bench-only
bulk writer that does what `drawdown.log_time` does for fully covered time (the
entry, its FIFO draw as a lot movement valued with `money.release`, the lot's new
remaining units) in a few statements per thousand rows; `check_books` then proves
the state consistent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Engine, func, insert, select, text, type_coerce, update
from sqlalchemy.orm import Session

from accounting import access, agreements, catalog, ledger
from accounting.money import ZERO, list_value, release
from models import Lot, LotMovement, OutboxJob, TimeEntry
from models.db import unit_of_work
from models.enums import BillableOption, Coverage, JobStatus, MovementKind, Role
from testkit import factories

D = Decimal
START = dt.date(2026, 1, 1)
WORK_DAY = dt.date(2026, 3, 2)


@dataclass
class World:
    """Ids of what was seeded: agreement i belongs to company company_of[i]."""

    role_id: int
    remote_id: int
    agreement_ids: list[int]
    company_of: dict[int, int]
    tokens: dict[str, str] = field(default_factory=dict)  # role or "CUSTOMER:<company id>" -> secret

    def customer_token(self, company_id: int) -> str:
        return self.tokens[f"CUSTOMER:{company_id}"]


def seed_agreements(
    engine: Engine,
    *,
    agreements_count: int,
    companies: int | None = None,
    units: Decimal = Decimal("1000"),
    unit_price: Decimal = Decimal("150.00"),
    threshold: Decimal | None = Decimal("2"),
    customer_tokens: bool = False,
) -> World:
    """Chart of accounts, rates, a Block Time type and `agreements_count` agreements over
    `companies` companies (default one each), each with one block of `units`.

    The purchases' balance evaluations are marked DONE: with blocks this large they
    would raise nothing, and the benchmarks should not measure the worker doing them.
    """
    companies = companies or agreements_count
    with unit_of_work(engine) as session:
        factories.chart_of_accounts(session)
        rates = factories.rates(session)
        block = factories.block_time_type(session, rates=rates, threshold=threshold)
        company_ids = [
            catalog.create_company(
                session, identifier=f"C{n:05d}", name=f"Customer {n}", billing_email=None
            ).id
            for n in range(companies)
        ]
        world = World(role_id=rates.engineer.id, remote_id=rates.remote.id, agreement_ids=[], company_of={})
        for n in range(agreements_count):
            company_id = company_ids[n % companies]
            deal = agreements.create_agreement(
                session,
                company_id=company_id,
                agreement_type_id=block.id,
                name=f"Agreement {n}",
                start_date=START,
            )
            agreements.purchase_block(
                session, agreement_id=deal.id, units=units, unit_price=unit_price, effective_date=START
            )
            world.agreement_ids.append(deal.id)
            world.company_of[deal.id] = company_id
        for role in (Role.ADMIN, Role.TECHNICIAN):
            world.tokens[role.value] = access.create_token(session, role=role, name=f"bench {role.value}")[1]
        if customer_tokens:
            for company_id in company_ids:
                world.tokens[f"CUSTOMER:{company_id}"] = access.create_token(
                    session, role=Role.CUSTOMER, name=f"portal {company_id}", company_id=company_id
                )[1]
        session.flush()
        session.execute(
            update(OutboxJob).where(OutboxJob.status == JobStatus.PENDING).values(status=JobStatus.DONE)
        )
    return world


def bulk_time_entries(
    engine: Engine,
    world: World,
    *,
    per_agreement: int,
    hours: Decimal = Decimal("1.00"),
    date: dt.date = WORK_DAY,
    chunk: int = 5000,
) -> int:
    """`per_agreement` fully covered Remote entries of `hours` on every agreement; returns how many.

    What `drawdown.log_time` writes for each, in bulk: every agreement has one lot with
    enough units (seed_agreements), so each entry draws `hours` from it.
    """
    with unit_of_work(engine) as session:
        rate = D("150.00")  # Engineer x Remote 1.0, as seeded by testkit.factories.rates
        value = list_value(hours, rate, D("1.0"))
        lots = {
            lot.agreement_id: lot
            for lot in session.scalars(select(Lot).where(Lot.agreement_id.in_(world.agreement_ids)))
        }
        written = 0
        group = max(1, chunk // per_agreement)  # agreements per INSERT: memory stays bounded at 1M
        for first in range(0, len(world.agreement_ids), group):
            plan: list[tuple[dict[str, object], dict[str, object]]] = []
            for agreement_id in world.agreement_ids[first : first + group]:
                lot = lots[agreement_id]
                remaining = lot.units_remaining
                for _ in range(per_agreement):
                    after = remaining - hours
                    if after < 0:
                        raise ValueError(f"agreement {agreement_id}'s block is too small for the seeded time")
                    entry = {
                        "company_id": world.company_of[agreement_id],
                        "agreement_id": agreement_id,
                        "work_type_id": world.remote_id,
                        "work_role_id": world.role_id,
                        "date": date,
                        "hours": hours,
                        "billable_option": BillableOption.BILLABLE,
                        "notes": None,
                        "coverage": Coverage.COVERED,
                        "value": value,
                        "covered_value": value,
                        "units_applied": hours,
                        "hours_billable": ZERO,
                        "amount_billable": ZERO,
                        "billed": False,
                        "reversed": False,
                    }
                    movement = {
                        "lot_id": lot.id,
                        "kind": MovementKind.USAGE,
                        "units": hours,
                        "value": release(remaining, after, lot.unit_price),
                        "date": date,
                    }
                    plan.append((entry, movement))
                    remaining = after
                lot.units_remaining = remaining
                lot.units_applied += hours * per_agreement
            ids = _insert_entries(session, [e for e, _ in plan])
            movements = [{**m, "time_entry_id": entry_id} for (_, m), entry_id in zip(plan, ids, strict=True)]
            if session.bind is not None and session.bind.dialect.name == "postgresql":
                _copy(session, LotMovement.__table__, movements)
            else:
                session.execute(insert(LotMovement), movements)
            written += len(plan)
        session.flush()
    return written


def _insert_entries(session: Session, entries: list[dict[str, object]]) -> list[int]:
    """Insert time entry rows, returning their ids in order. On PostgreSQL by COPY with ids
    taken from the sequence first (a million entries: INSERT ... RETURNING took minutes)."""
    if session.bind is None or session.bind.dialect.name != "postgresql":
        return list(
            session.scalars(insert(TimeEntry).returning(TimeEntry.id, sort_by_parameter_order=True), entries)
        )
    ids = list(
        session.scalars(
            text("SELECT nextval(pg_get_serial_sequence('time_entry', 'id')) FROM generate_series(1, :n)"),
            {"n": len(entries)},
        )
    )
    _copy(session, TimeEntry.__table__, [{"id": i, **e} for i, e in zip(ids, entries, strict=True)])
    return ids


def _copy(session: Session, table: Any, rows: list[dict[str, object]]) -> None:
    """COPY rows (dicts with the same keys) into a table, each value through its column
    type's bind processor (Money as hundredths, enums as names), as an INSERT would."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    names = list(rows[0])
    processors = [table.c[name].type._cached_bind_processor(dialect) for name in names]
    raw: Any = session.connection().connection.dbapi_connection  # psycopg's, for its COPY
    if raw is None:
        raise RuntimeError("no DBAPI connection to COPY through")
    with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(
                [
                    value if process is None else process(value)
                    for process, value in zip(processors, (row[n] for n in names), strict=True)
                ]
            )


@dataclass(frozen=True)
class BooksCheck:
    balanced: bool
    reconciliation_difference: Decimal
    unposted_activity: Decimal
    lots_agree: bool

    @property
    def ok(self) -> bool:
        return self.balanced and self.reconciliation_difference == 0 and self.lots_agree


def check_books(engine: Engine) -> BooksCheck:
    """Trial balance balances, the deferred revenue reconciles, and every lot's applied
    units equal its usage movements less reversals, and its remaining units the rest."""
    hundredths = type_coerce(LotMovement.units, BigInteger)
    with unit_of_work(engine, writer=False) as session:
        rows = ledger.trial_balance(session)
        balanced = sum((r.debit for r in rows), ZERO) == sum((r.credit for r in rows), ZERO)
        rec = ledger.deferred_revenue_reconciliation(session)
        drawn: dict[int, int] = {}
        for lot_id, kind, total in session.execute(
            select(LotMovement.lot_id, LotMovement.kind, func.sum(hundredths)).group_by(
                LotMovement.lot_id, LotMovement.kind
            )
        ):
            sign = {MovementKind.USAGE: 1, MovementKind.REVERSAL: -1}.get(kind, 0)
            drawn[lot_id] = drawn.get(lot_id, 0) + sign * int(total)
        lots_agree = all(
            D(drawn.get(lot.id, 0)) / 100 == lot.units_applied
            and lot.units_remaining
            == lot.units - lot.units_applied - lot.units_expired - lot.units_written_off - lot.units_refunded
            for lot in session.scalars(select(Lot))
        )
        return BooksCheck(balanced, rec.difference, rec.unposted_activity, lots_agree)


def applied_by_agreement(engine: Engine) -> dict[int, Decimal]:
    """Units applied per agreement, summed over its lots."""
    with unit_of_work(engine, writer=False) as session:
        return {
            agreement_id: D(int(total)) / 100
            for agreement_id, total in session.execute(
                select(Lot.agreement_id, func.sum(type_coerce(Lot.units_applied, BigInteger))).group_by(
                    Lot.agreement_id
                )
            ).all()
        }
