"""The caller and the audit trail."""

import strawberry

from api.access.types import AuditEntry, Viewer
from api.context import Info, wrap_all
from api.fields import resolver
from api.pagination import Connection, connection
from api.read import admin as read


@strawberry.type
class AccessQuery:
    @strawberry.field
    def me(self, info: Info) -> Viewer:
        return Viewer.from_principal(info.context.viewer)

    @resolver(description="Every mutation: who, what, which object, when. Newest first.")
    def audit_trail(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[AuditEntry]:
        page = read.audit_trail(info.context.session, info.context.viewer, first=first, after=after)
        return connection(page, lambda rows: wrap_all(info, AuditEntry, rows))
