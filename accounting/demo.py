"""Demo data: SPEC §4's worked example and a few more customers for GraphiQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting import agreements, allowances, batches, billing, catalog, clock, cycles, drawdown, mappings
from models import Company
from models.enums import AccountType, ApplicationUnits, BillableOption, Cycle, MappingKind, RolloverPolicy

D = Decimal


def seed_demo(session: Session, *, today: dt.date | None = None) -> bool:
    """Seed once; returns False when the demo data is already there."""
    if session.scalar(select(Company.id).where(Company.identifier == "ACME")) is not None:
        return False
    today = today or clock.today()
    start = today - dt.timedelta(days=60)

    ar = mappings.create_gl_account(session, code="1100", name="Accounts Receivable", type=AccountType.ASSET)
    deferred = mappings.create_gl_account(
        session, code="2400", name="Deferred Revenue", type=AccountType.LIABILITY
    )
    revenue = mappings.create_gl_account(
        session, code="4000", name="Service Revenue", type=AccountType.REVENUE
    )
    breakage = mappings.create_gl_account(session, code="4200", name="Breakage", type=AccountType.REVENUE)
    mappings.set_gl_mapping(session, kind=MappingKind.ACCOUNTS_RECEIVABLE, account_id=ar.id)
    mappings.set_gl_mapping(session, kind=MappingKind.AGREEMENT_TYPE, account_id=deferred.id)
    mappings.set_gl_mapping(session, kind=MappingKind.SERVICE_REVENUE, account_id=revenue.id)
    mappings.set_gl_mapping(session, kind=MappingKind.BREAKAGE, account_id=breakage.id)

    engineer = catalog.create_work_role(session, name="Engineer", hourly_rate=D("150.00"))
    senior = catalog.create_work_role(session, name="Senior Engineer", hourly_rate=D("185.00"))
    remote = catalog.create_work_type(session, name="Remote", rate_multiplier=D("1.0"))
    after_hours = catalog.create_work_type(session, name="After Hours", rate_multiplier=D("1.5"))
    onsite = catalog.create_work_type(session, name="Onsite", rate_multiplier=D("1.25"))

    block = agreements.create_agreement_type(
        session,
        name="Block Time",
        application_units=ApplicationUnits.HOURS,
        prepaid=True,
        reverse_revenue_when_applied=True,
        low_balance_threshold=D("2"),
        excluded_work_type_ids=[after_hours.id],
    )
    credit = agreements.create_agreement_type(
        session,
        name="Prepaid Credit",
        application_units=ApplicationUnits.AMOUNT,
        prepaid=True,
        reverse_revenue_when_applied=True,
        allow_overruns=True,
        expire_after_months=12,
        low_balance_percent=D("20"),
    )

    # SPEC §4's worked example, ACME.
    acme = catalog.create_company(
        session, identifier="ACME", name="Acme Corporation", billing_email="billing@acme.example"
    )
    acme_block = agreements.create_agreement(
        session, company_id=acme.id, agreement_type_id=block.id, name="Acme block time", start_date=start
    )

    def log(
        company: Company,
        agreement_id: int,
        work_type: int,
        hours: str,
        day: dt.date,
        role: int = engineer.id,
        notes: str | None = None,
    ) -> None:
        drawdown.log_time(
            session,
            company_id=company.id,
            agreement_id=agreement_id,
            work_type_id=work_type,
            work_role_id=role,
            date=day,
            hours=D(hours),
            notes=notes,
        )

    agreements.purchase_block(
        session, agreement_id=acme_block.id, units=D("10"), unit_price=D("150.00"), effective_date=start
    )
    log(acme, acme_block.id, remote.id, "3", start + dt.timedelta(days=2), notes="Mail server migration")
    agreements.purchase_block(
        session,
        agreement_id=acme_block.id,
        units=D("5"),
        unit_price=D("140.00"),
        effective_date=start + dt.timedelta(days=10),
    )
    log(acme, acme_block.id, remote.id, "9", start + dt.timedelta(days=12), notes="Firewall replacement")
    log(acme, acme_block.id, after_hours.id, "2", start + dt.timedelta(days=13), notes="Weekend outage")
    billing.run_billing(session, through_date=start + dt.timedelta(days=14))
    first_batch = batches.create_batch(session, through_date=start + dt.timedelta(days=14))
    batches.post_batch(session, batch_id=first_batch.id)
    # Crosses the 2 h threshold: LOW_BALANCE is raised by the worker once it runs.
    log(acme, acme_block.id, remote.id, "1.5", today - dt.timedelta(days=1), notes="Printer queue")
    # Renewal bought today, in effect next week (SPEC §8): unitsScheduled until then, no
    # help for today's time, and not in the books until its invoice's day.
    agreements.purchase_block(
        session,
        agreement_id=acme_block.id,
        units=D("10"),
        unit_price=D("150.00"),
        product="Block time renewal",
        effective_date=today + dt.timedelta(days=7),
    )

    # A discounted AMOUNT block: 2,000.00 of credit sold for 1,800.00 (unit price 0.90).
    globex = catalog.create_company(
        session, identifier="GLOBEX", name="Globex Corporation", billing_email="ap@globex.example"
    )
    globex_credit = agreements.create_agreement(
        session,
        company_id=globex.id,
        agreement_type_id=credit.id,
        name="Globex prepaid credit",
        start_date=start,
    )
    agreements.purchase_block(
        session,
        agreement_id=globex_credit.id,
        units=D("2000.00"),
        unit_price=D("0.90"),
        product="Prepaid support credit",
        category="Prepaid",
        subcategory="Credit",
        effective_date=start,
    )
    log(globex, globex_credit.id, onsite.id, "4", start + dt.timedelta(days=5), role=senior.id)
    log(globex, globex_credit.id, remote.id, "2.5", start + dt.timedelta(days=20))

    # A small block that overruns into a STANDARD invoice.
    initech = catalog.create_company(session, identifier="INITECH", name="Initech", billing_email=None)
    initech_block = agreements.create_agreement(
        session,
        company_id=initech.id,
        agreement_type_id=block.id,
        name="Initech block time",
        start_date=start,
        allow_overruns=True,
    )
    agreements.purchase_block(
        session, agreement_id=initech_block.id, units=D("4"), unit_price=D("145.00"), effective_date=start
    )
    log(initech, initech_block.id, remote.id, "5.5", start + dt.timedelta(days=30), notes="Server rebuild")
    drawdown.log_time(
        session,
        company_id=initech.id,
        work_type_id=remote.id,
        work_role_id=engineer.id,
        date=start + dt.timedelta(days=31),
        hours=D("0.5"),
        billable_option=BillableOption.NO_CHARGE,
        agreement_id=initech_block.id,
        notes="Follow-up call",
    )

    # A monthly allowance with a few months of history: 10 h a month, up to 4 unused
    # hours carried into the next month, the rest expired (SPEC §9).
    managed = agreements.create_agreement_type(
        session,
        name="Managed Hours",
        application_units=ApplicationUnits.HOURS,
        prepaid=True,
        reverse_revenue_when_applied=True,
    )
    umbrella = catalog.create_company(
        session, identifier="UMBRELLA", name="Umbrella Corporation", billing_email="it@umbrella.example"
    )
    allowance_start = agreements.add_months(today, -3)
    umbrella_hours = allowances.create_agreement_with_allowance(
        session,
        company_id=umbrella.id,
        agreement_type_id=managed.id,
        name="Umbrella 10 h a month",
        start_date=allowance_start,
        allowance=allowances.AllowanceTerms(
            cycle=Cycle.MONTHLY,
            units=D("10"),
            unit_price=D("125.00"),
            rollover=RolloverPolicy.CAPPED,
            rollover_cap=D("4"),
            product="Managed support hours",
        ),
        today=today,
    )
    for number, hours in enumerate(("5", "12", "3")):
        month = cycles.cycle_start(allowance_start, Cycle.MONTHLY, number)
        log(umbrella, umbrella_hours.id, remote.id, hours, month + dt.timedelta(days=5), notes="Monthly care")
        allowances.renew_agreement(
            session,
            agreement_id=umbrella_hours.id,
            as_of=min(today, cycles.cycle_start(allowance_start, Cycle.MONTHLY, number + 1)),
        )
    return True
