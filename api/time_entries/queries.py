"""Time entries."""

import strawberry

from api.context import Info, wrap_all
from api.fields import resolver
from api.pagination import Connection, connection
from api.read import time_entries as read
from api.scalars import optional_input_id
from api.time_entries.types import TimeEntry


@strawberry.type
class TimeEntryQuery:
    @resolver(description="A CUSTOMER token sees its own company's only.")
    def time_entries(
        self,
        info: Info,
        company_id: strawberry.ID | None = None,
        agreement_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[TimeEntry]:
        page = read.time_entries(
            info.context.session,
            info.context.viewer,
            company_id=optional_input_id(company_id, "companyId"),
            agreement_id=optional_input_id(agreement_id, "agreementId"),
            first=first,
            after=after,
        )
        return connection(page, lambda rows: wrap_all(info, TimeEntry, rows))
