"""Webhooks."""

import strawberry

from accounting import notifications
from api.context import Info, wrap
from api.notifications.types import Webhook
from api.transaction import perform


@strawberry.input
class RegisterWebhookInput:
    url: str
    secret: str = strawberry.field(description="Signs each delivery: X-Blocktime-Signature: sha256=<HMAC>.")


@strawberry.type
class NotificationMutation:
    @strawberry.mutation
    def register_webhook(self, info: Info, input: RegisterWebhookInput) -> Webhook:
        row = perform(
            info,
            "registerWebhook",
            details={"url": input.url},  # never the secret
            change=lambda session: notifications.register_webhook(
                session, url=input.url, secret=input.secret
            ),
        )
        return wrap(info, Webhook, row)
