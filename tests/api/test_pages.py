"""SPEC §11 over HTTP: /portal and GraphiQL served from here alone, their headers, and CORS."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette
from strawberry.http.ides import get_graphql_ide_html

from api import pages
from api.app import create_app
from models.settings import Settings
from tests.api.helpers import Client

SAME_ORIGIN_ONLY = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "frame-ancestors 'none'",
}
ASSET_REFERENCE = re.compile(r"""(?:src|href)="([^"]+)\"""")


def assert_page_headers(response: httpx.Response) -> None:
    policy = {d.strip() for d in response.headers["Content-Security-Policy"].split(";")}
    assert policy >= SAME_ORIGIN_ONLY
    # Nothing in the policy names another host: only 'self', 'none' and the data: scheme.
    assert all(source in {"'self'", "'none'", "data:"} for d in policy for source in d.split()[1:])
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def served_references(http: httpx.AsyncClient, html: str) -> list[str]:
    """Every src/href of a page, each fetched: all are local and all answer 200."""
    references = [r for r in ASSET_REFERENCE.findall(html) if not r.startswith(("data:", "#"))]
    for reference in references:
        assert reference.startswith("/assets/"), reference
        response = await http.get(reference)
        assert response.status_code == 200, reference
        assert_page_headers(response)
    return references


class TestPortalPage:
    async def test_the_page_and_its_files_are_served_from_here(self, http: httpx.AsyncClient) -> None:
        response = await http.get("/portal")

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert_page_headers(response)
        assert "<script>" not in response.text and "<style>" not in response.text
        references = await served_references(http, response.text)
        assert "/assets/vendor/uplot@1.6.32/dist/uPlot.iife.min.js" in references
        assert "/assets/portal/portal.js" in references

    async def test_the_page_needs_no_token_and_holds_none(
        self, http: httpx.AsyncClient, admin: Client
    ) -> None:
        response = await http.get("/portal", headers={"Authorization": f"Bearer {admin.token}"})

        assert response.status_code == 200
        assert admin.token is not None and admin.token not in response.text

    async def test_a_missing_asset_is_not_found_and_the_folder_cannot_be_left(
        self, http: httpx.AsyncClient
    ) -> None:
        assert (await http.get("/assets/portal/nothing.js")).status_code == 404
        assert (await http.get("/assets/../api/app.py")).status_code == 404
        assert (await http.get("/assets/%2e%2e/app.py")).status_code == 404


class TestGraphiQLPage:
    async def test_strawberrys_page_loads_everything_from_here(self, http: httpx.AsyncClient) -> None:
        response = await http.get("/graphql", headers={"Accept": "text/html"})

        assert response.status_code == 200
        assert_page_headers(response)
        assert "unpkg.com" not in response.text and "https://" not in response.text
        assert "<script>" not in response.text and "<style>" not in response.text
        references = await served_references(http, response.text)
        assert pages.GRAPHIQL_SCRIPT_URL in references and pages.GRAPHIQL_STYLE_URL in references
        script = await http.get(pages.GRAPHIQL_SCRIPT_URL)
        assert "GraphiQL.createFetcher" in script.text

    def test_every_file_strawberrys_page_asks_for_is_vendored_byte_for_byte(self) -> None:
        # Strawberry pins each file with a subresource-integrity hash: ours must match it.
        template = get_graphql_ide_html("graphiql")
        pinned = re.findall(
            r'(?:src|href)="https://unpkg\.com/([^"]+)"\s+integrity="sha384-([^"]+)"', template
        )

        assert len(pinned) == 7
        for path, integrity in pinned:
            file = pages.ASSETS / "vendor" / path
            assert file.is_file(), f"strawberry's GraphiQL asks for {path}: vendor it (VENDORED.md)"
            digest = base64.b64encode(hashlib.sha384(file.read_bytes()).digest()).decode()
            assert digest == integrity, path

    def test_each_vendored_package_carries_its_licence(self) -> None:
        vendor = pages.ASSETS / "vendor"
        packages = [p for p in vendor.rglob("*@*") if p.is_dir() and p.parent.name != "dist"]
        listed = (vendor / "VENDORED.md").read_text()

        assert {p.name.split("@")[0] for p in packages} >= {"uplot", "graphiql", "react", "react-dom"}
        for package in packages:
            _name, version = package.name.rsplit("@", 1)
            assert f"| {version} |" in listed, package.name
            assert (package / "LICENSE").is_file() or "ships no LICENSE" in listed, package.name


ORIGIN = "https://portal.msp.example"


@pytest.fixture
def cors_app(settings: Settings, db: Engine) -> Starlette:
    return create_app(settings.model_copy(update={"cors_origins": f"{ORIGIN}, http://localhost:5173"}))


@pytest.fixture
async def cors_http(cors_app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=cors_app), base_url="http://blocktime.test")


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


class TestCORS:
    async def test_a_listed_origin_gets_its_preflight_and_its_answer(
        self, cors_http: httpx.AsyncClient, admin: Client
    ) -> None:
        allowed = await cors_http.options("/graphql", headers=preflight(ORIGIN))
        answer = await cors_http.post(
            "/graphql",
            json={"query": "{ me { role } }"},
            headers={"Origin": ORIGIN, "Authorization": f"Bearer {admin.token}"},
        )

        assert allowed.status_code == 200
        assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert {h.strip().lower() for h in allowed.headers["Access-Control-Allow-Headers"].split(",")} >= {
            "authorization",
            "content-type",
        }
        assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
        assert "Access-Control-Allow-Credentials" not in allowed.headers
        assert answer.json() == {"data": {"me": {"role": "ADMIN"}}}
        assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "Access-Control-Allow-Credentials" not in answer.headers

    async def test_a_refused_token_still_reaches_the_front_end_as_a_readable_401(
        self, cors_http: httpx.AsyncClient
    ) -> None:
        refused = await cors_http.post(
            "/graphql", json={"query": "{ me { role } }"}, headers={"Origin": ORIGIN}
        )

        assert refused.status_code == 401
        assert refused.headers["Access-Control-Allow-Origin"] == ORIGIN

    @pytest.mark.parametrize(
        "origin", ["https://evil.example", "https://portal.msp.example.evil.example", "null"]
    )
    async def test_any_other_origin_gets_no_cors_headers(
        self, cors_http: httpx.AsyncClient, admin: Client, origin: str
    ) -> None:
        refused = await cors_http.options("/graphql", headers=preflight(origin))
        answered = await cors_http.post(
            "/graphql",
            json={"query": "{ me { role } }"},
            headers={"Origin": origin, "Authorization": f"Bearer {admin.token}"},
        )

        assert refused.status_code == 400
        assert cors_headers(refused) == {}
        assert cors_headers(answered) == {}

    async def test_without_an_allowlist_no_origin_gets_cors_headers(
        self, http: httpx.AsyncClient, admin: Client
    ) -> None:
        refused = await http.options("/graphql", headers=preflight(ORIGIN))
        answered = await http.post(
            "/graphql",
            json={"query": "{ me { role } }"},
            headers={"Origin": ORIGIN, "Authorization": f"Bearer {admin.token}"},
        )

        assert cors_headers(refused) == {}
        assert cors_headers(answered) == {}

    @pytest.mark.parametrize(
        "value", ["*", "https://portal.msp.example/", "portal.msp.example", "https://portal.msp.example/app"]
    )
    def test_anything_but_exact_origins_is_refused_at_start(self, value: str) -> None:
        with pytest.raises(ValueError, match="CORS_ORIGINS"):
            Settings(CORS_ORIGINS=value)
