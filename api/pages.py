"""The pages Blocktime serves to browsers: the customer portal and GraphiQL, every asset local (SPEC §11).

Nothing a page loads comes from another host: the portal's files and the vendored
libraries are in api/assets/ (api/assets/vendor/VENDORED.md lists versions and
licences), and GraphiQL is strawberry's own page with its unpkg.com addresses
pointed at the same files, vendored byte for byte (the page's SRI hashes still
check them), and its inline script and style moved to files so that the
Content-Security-Policy can forbid inline code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope
from strawberry.http.ides import get_graphql_ide_html

from api.security import SAME_ORIGIN_CSP

ASSETS = Path(__file__).resolve().parent / "assets"
ASSETS_URL = "/assets"
VENDOR_URL = f"{ASSETS_URL}/vendor/"
CDN = "https://unpkg.com/"
GRAPHIQL_SCRIPT_URL = f"{ASSETS_URL}/graphiql/page.js"
GRAPHIQL_STYLE_URL = f"{ASSETS_URL}/graphiql/page.css"

# Same origin only (api.security's policy: data: is a URL scheme, not a host; GraphiQL's
# stylesheet embeds its fonts and icons as data: URLs and strawberry's page its favicon).
CONTENT_SECURITY_POLICY = SAME_ORIGIN_CSP
# The page headers of SPEC §11, set by the pages themselves as well: api.security's
# middleware adds them to HTML only, and the vendored scripts and styles get them too.
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def with_page_headers(response: Response) -> Response:
    response.headers.update(PAGE_HEADERS)
    return response


class Assets(StaticFiles):
    """The portal's files and the vendored libraries, with the page headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update({k: v for k, v in PAGE_HEADERS.items() if k != "Cache-Control"})
        return response


async def portal(_request: Request) -> Response:
    """GET /portal: the static page; it signs in with a token held by the browser tab only."""
    return with_page_headers(FileResponse(ASSETS / "portal" / "index.html", media_type="text/html"))


@dataclass(frozen=True)
class LocalGraphiQL:
    html: str
    script: str
    style: str


_INLINE_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


@cache
def local_graphiql() -> LocalGraphiQL:
    """Strawberry's GraphiQL page served from here: CDN addresses made local, inline code moved to files."""
    page = get_graphql_ide_html("graphiql")
    styles = _INLINE_STYLE.findall(page)
    scripts = _INLINE_SCRIPT.findall(page)
    if len(styles) != 1 or len(scripts) != 1:
        raise RuntimeError(
            "strawberry's GraphiQL page changed shape: review api/pages.py and the vendored files"
        )
    page = _INLINE_STYLE.sub(f'<link rel="stylesheet" href="{GRAPHIQL_STYLE_URL}" />', page)
    page = _INLINE_SCRIPT.sub(f'<script src="{GRAPHIQL_SCRIPT_URL}"></script>', page)
    return LocalGraphiQL(html=page.replace(CDN, VENDOR_URL), script=scripts[0], style=styles[0])


def graphiql_page() -> Response:
    return with_page_headers(HTMLResponse(local_graphiql().html))


async def graphiql_script(_request: Request) -> Response:
    response = Response(local_graphiql().script, media_type="text/javascript")
    return with_page_headers(response)


async def graphiql_style(_request: Request) -> Response:
    return with_page_headers(Response(local_graphiql().style, media_type="text/css"))
