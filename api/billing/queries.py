"""Invoices."""

import strawberry

from api.billing.types import Invoice
from api.context import Info, wrap_all
from api.enums import InvoiceKind
from api.fields import resolver
from api.pagination import Connection, connection
from api.read import billing as read
from api.scalars import optional_input_id


@strawberry.type
class BillingQuery:
    @resolver(description="A CUSTOMER token sees its own company's only.")
    def invoices(
        self,
        info: Info,
        company_id: strawberry.ID | None = None,
        agreement_id: strawberry.ID | None = None,
        kind: InvoiceKind | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Invoice]:
        page = read.invoices(
            info.context.session,
            info.context.viewer,
            company_id=optional_input_id(company_id, "companyId"),
            agreement_id=optional_input_id(agreement_id, "agreementId"),
            kind=kind,
            first=first,
            after=after,
        )
        return connection(page, lambda rows: wrap_all(info, Invoice, rows))
