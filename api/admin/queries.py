"""Tokens and webhooks, listed without their secrets (ADMIN)."""

import strawberry

from accounting import queries
from api.admin.types import ApiToken
from api.context import Info, wrap_all
from api.notifications.types import Webhook


@strawberry.type
class AdminQuery:
    @strawberry.field(description="Every API token, revoked ones included; never a secret (ADMIN).")
    def api_tokens(self, info: Info) -> list[ApiToken]:
        return wrap_all(info, ApiToken, queries.api_tokens(info.context.session, info.context.viewer))

    @strawberry.field(description="The registered webhooks; never their secret (ADMIN).")
    def webhooks(self, info: Info) -> list[Webhook]:
        return wrap_all(info, Webhook, queries.webhooks(info.context.session, info.context.viewer))
