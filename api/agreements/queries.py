"""Agreement types and agreements."""

import strawberry

from api.agreements.types import Agreement, AgreementType
from api.context import Info, wrap, wrap_all
from api.enums import AgreementStatus
from api.fields import resolver
from api.pagination import Connection, connection
from api.read import agreements as read
from api.scalars import lookup_id, optional_input_id


@strawberry.type
class AgreementQuery:
    @strawberry.field
    def agreement_types(self, info: Info) -> list[AgreementType]:
        return wrap_all(info, AgreementType, read.agreement_types(info.context.session, info.context.viewer))

    @resolver(description="A CUSTOMER token sees its own company's only.")
    def agreements(
        self,
        info: Info,
        company_id: strawberry.ID | None = None,
        status: AgreementStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Agreement]:
        page = read.agreements(
            info.context.session,
            info.context.viewer,
            company_id=optional_input_id(company_id, "companyId"),
            status=status,
            first=first,
            after=after,
        )
        return connection(page, lambda rows: wrap_all(info, Agreement, rows))

    @resolver(description="NOT_FOUND when it does not exist or belongs to another customer.")
    def agreement(self, info: Info, id: strawberry.ID) -> Agreement | None:
        row = read.agreement(info.context.session, info.context.viewer, lookup_id(id, "agreement"))
        return wrap(info, Agreement, row)
