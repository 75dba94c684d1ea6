"""Companies, work types and work roles."""

import strawberry

from accounting import queries
from api.catalog.types import Company, WorkRole, WorkType
from api.context import Info, wrap, wrap_all
from api.scalars import lookup_id


@strawberry.type
class CatalogQuery:
    @strawberry.field(description="Every company; a CUSTOMER token sees its own only.")
    def companies(self, info: Info) -> list[Company]:
        return wrap_all(info, Company, queries.companies(info.context.session, info.context.viewer))

    @strawberry.field(description="NOT_FOUND when it does not exist or belongs to another customer.")
    def company(self, info: Info, id: strawberry.ID) -> Company | None:
        row = queries.company(info.context.session, info.context.viewer, lookup_id(id, "company"))
        return wrap(info, Company, row)

    @strawberry.field
    def work_types(self, info: Info) -> list[WorkType]:
        return wrap_all(info, WorkType, queries.work_types(info.context.session, info.context.viewer))

    @strawberry.field
    def work_roles(self, info: Info) -> list[WorkRole]:
        return wrap_all(info, WorkRole, queries.work_roles(info.context.session, info.context.viewer))
