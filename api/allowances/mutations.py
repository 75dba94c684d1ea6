"""renewAllowances: enqueue the renewal of every due allowance cycle (SPEC §9)."""

import datetime as dt

import strawberry

from accounting import allowances
from api.context import Info
from api.fields import mutation
from api.transaction import perform


@strawberry.type
class AllowanceMutation:
    @mutation(
        description=(
            "Enqueue the renewal of recurring allowances: every cycle boundary on or before asOf "
            "(default today)."
        )
    )
    def renew_allowances(self, info: Info, as_of: dt.date | None = None) -> bool:
        perform(
            info,
            "renewAllowances",
            details={"asOf": as_of},
            change=lambda session: allowances.request_renewal(session, as_of=as_of),
        )
        return True
