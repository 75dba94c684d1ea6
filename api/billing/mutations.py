"""The billing run (a worker job)."""

import datetime as dt

import strawberry

from accounting import jobs
from api.context import Info
from api.transaction import perform


@strawberry.type
class BillingMutation:
    @strawberry.mutation(
        description=(
            "Enqueue a billing run: invoices all unbilled time dated on or before "
            "throughDate (default today)."
        )
    )
    def run_billing(self, info: Info, through_date: dt.date | None = None) -> bool:
        day = through_date or dt.datetime.now(dt.UTC).date()
        perform(
            info,
            "runBilling",
            details={"throughDate": day},
            change=lambda session: jobs.enqueue(session, jobs.RUN_BILLING, through_date=day.isoformat()),
        )
        return True
