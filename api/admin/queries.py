"""Tokens and webhooks, listed without their secrets (ADMIN)."""

import strawberry

from api.admin.types import ApiToken
from api.context import Info, wrap_all
from api.fields import resolver
from api.notifications.types import Webhook
from api.read import admin as read


@strawberry.type
class AdminQuery:
    @resolver(description="Every API token, revoked ones included; never a secret (ADMIN).")
    def api_tokens(self, info: Info) -> list[ApiToken]:
        return wrap_all(info, ApiToken, read.api_tokens(info.context.session, info.context.viewer))

    @resolver(description="The registered webhooks; never their secret (ADMIN).")
    def webhooks(self, info: Info) -> list[Webhook]:
        return wrap_all(info, Webhook, read.webhooks(info.context.session, info.context.viewer))
