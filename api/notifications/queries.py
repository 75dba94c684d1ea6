"""Notifications."""

import strawberry

from api.context import Info, wrap_all
from api.fields import resolver
from api.notifications.types import Notification
from api.pagination import Connection, connection
from api.read import notifications as read
from api.scalars import optional_input_id


@strawberry.type
class NotificationQuery:
    @resolver(description="A CUSTOMER token sees its own company's only.")
    def notifications(
        self,
        info: Info,
        agreement_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Notification]:
        page = read.notifications(
            info.context.session,
            info.context.viewer,
            agreement_id=optional_input_id(agreement_id, "agreementId"),
            first=first,
            after=after,
        )
        return connection(page, lambda rows: wrap_all(info, Notification, rows))
