"""The billing run (a worker job)."""

import datetime as dt

import strawberry

from accounting import billing, outbox
from api.context import Info
from api.fields import mutation
from api.transaction import perform


@strawberry.type
class BillingMutation:
    @mutation(
        description=(
            "Enqueue a billing run: invoices all unbilled time dated on or before "
            "throughDate (default today)."
        )
    )
    def run_billing(self, info: Info, through_date: dt.date | None = None) -> bool:
        perform(
            info,
            "runBilling",
            details=lambda job: {"throughDate": outbox.job_arguments(job)["through_date"]},
            change=lambda session: billing.request_billing_run(session, through_date=through_date),
        )
        return True
