"""Logging and reversing time."""

import dataclasses
import datetime as dt
from decimal import Decimal

import strawberry

from accounting import drawdown
from api.context import Info, wrap
from api.enums import BillableOption
from api.fields import mutation
from api.scalars import input_id, optional_input_id
from api.time_entries.types import TimeEntry
from api.transaction import perform, perform_once
from models import TimeEntry as TimeEntryRow
from models.enums import BillableOption as BillableOptionValue


@strawberry.input
class LogTimeInput:
    company_id: strawberry.ID
    agreement_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Without it, the oldest active agreement that covers the entry and has units left.",
    )
    work_type_id: strawberry.ID
    work_role_id: strawberry.ID
    date: dt.date
    hours: Decimal
    billable_option: BillableOption | None = strawberry.field(
        default=None, description="Defaults to BILLABLE."
    )
    notes: str | None = strawberry.field(default=None, description="Shown to the customer.")
    internal_notes: str | None = strawberry.field(
        default=None, description="Staff only: never shown to a customer."
    )
    idempotency_key: str | None = strawberry.field(
        default=None, description="The same key and input return the first result; other input is CONFLICT."
    )


@strawberry.type
class TimeEntryMutation:
    @mutation(description="Record time; covered time draws from the agreement's blocks, oldest first.")
    def log_time(self, info: Info, input: LogTimeInput) -> TimeEntry:
        payload = {k: v for k, v in dataclasses.asdict(input).items() if k != "idempotency_key"}
        row = perform_once(
            info,
            "logTime",
            key=input.idempotency_key,
            payload=payload,
            model=TimeEntryRow,
            change=lambda session: drawdown.log_time(
                session,
                company_id=input_id(input.company_id, "companyId"),
                agreement_id=optional_input_id(input.agreement_id, "agreementId"),
                work_type_id=input_id(input.work_type_id, "workTypeId"),
                work_role_id=input_id(input.work_role_id, "workRoleId"),
                date=input.date,
                hours=input.hours,
                billable_option=input.billable_option or BillableOptionValue.BILLABLE,
                notes=input.notes,
                internal_notes=input.internal_notes,
            ),
        )
        return wrap(info, TimeEntry, row)

    @mutation(
        description="Give the units back to the very blocks they came from; reversed in the next batch."
    )
    def reverse_time_entry(self, info: Info, id: strawberry.ID) -> TimeEntry:
        row = perform(
            info,
            "reverseTimeEntry",
            details={"id": id},
            change=lambda session: drawdown.reverse_time_entry(session, time_entry_id=input_id(id, "id")),
        )
        return wrap(info, TimeEntry, row)
