"""Security headers on every response, and a Content-Security-Policy on every HTML page (issue 11).

A pure ASGI middleware, so every route gets them without asking: GraphiQL on GET
/graphql, and any page added later (the customer portal's, say). Every response
gets `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`; HTML
also gets a CSP that admits same-origin scripts, styles, images and fetches only
and forbids framing (`frame-ancestors 'none'`, and `X-Frame-Options: DENY` for
older browsers). A page that needs more (a hash for an inline script) sets its
own Content-Security-Policy, which is kept, with `frame-ancestors 'none'` added
when it names no frame-ancestors of its own.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAME_ORIGIN_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
EVERY_RESPONSE = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
NO_FRAMING = "frame-ancestors 'none'"


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in EVERY_RESPONSE.items():
                    headers.setdefault(name, value)
                if headers.get("content-type", "").startswith("text/html"):
                    policy = headers.get("content-security-policy")
                    if policy is None:
                        headers["Content-Security-Policy"] = SAME_ORIGIN_CSP
                    elif "frame-ancestors" not in policy:
                        headers["Content-Security-Policy"] = f"{policy.rstrip('; ')}; {NO_FRAMING}"
                    headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        await self.app(scope, receive, send_with_headers)
