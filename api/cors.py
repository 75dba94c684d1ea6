"""CORS for the MSP's own front ends (SPEC §11): exactly the CORS_ORIGINS allowlist, no cookies."""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse, Response


class AllowlistCORS(CORSMiddleware):
    """Starlette's CORSMiddleware, except that a preflight from an origin not listed gets no CORS headers.

    Starlette answers such a preflight 400 but still names the allowed methods and
    headers; an origin we do not serve learns nothing about the API.
    """

    def preflight_response(self, request_headers: Headers) -> Response:
        if not self.is_allowed_origin(origin=request_headers["origin"]):
            return PlainTextResponse("Disallowed CORS origin", status_code=400, headers={"Vary": "Origin"})
        return super().preflight_response(request_headers)


def cors_middleware(origins: Collection[str]) -> list[Middleware]:
    """No middleware at all without an allowlist: the default answers no origin."""
    if not origins:
        return []
    return [
        Middleware(
            AllowlistCORS,
            allow_origins=list(origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,
            max_age=600,
        )
    ]
