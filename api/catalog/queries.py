"""Companies, work types and work roles."""

import strawberry

from api.catalog.types import Company, WorkRole, WorkType
from api.context import Info, wrap, wrap_all
from api.fields import resolver
from api.read import catalog as read
from api.scalars import lookup_id


@strawberry.type
class CatalogQuery:
    @resolver(description="Every company; a CUSTOMER token sees its own only.")
    def companies(self, info: Info) -> list[Company]:
        return wrap_all(info, Company, read.companies(info.context.session, info.context.viewer))

    @resolver(description="NOT_FOUND when it does not exist or belongs to another customer.")
    def company(self, info: Info, id: strawberry.ID) -> Company | None:
        row = read.company(info.context.session, info.context.viewer, lookup_id(id, "company"))
        return wrap(info, Company, row)

    @strawberry.field
    def work_types(self, info: Info) -> list[WorkType]:
        return wrap_all(info, WorkType, read.work_types(info.context.session, info.context.viewer))

    @strawberry.field
    def work_roles(self, info: Info) -> list[WorkRole]:
        return wrap_all(info, WorkRole, read.work_roles(info.context.session, info.context.viewer))
