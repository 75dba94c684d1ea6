"""/healthz, /readyz and /metrics; the app's lifespan."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import Engine

from accounting import catalog
from api.app import create_app
from models.db import unit_of_work
from models.enums import Role
from models.settings import Settings
from tests.api import scenario
from tests.api.helpers import Client, create_token, run_pending_jobs
from tests.conftest import redis_url


class TestHealth:
    async def test_healthz_is_open(self, anonymous: Client) -> None:
        response = await anonymous.http.get("/healthz")

        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert len(response.headers["X-Request-ID"]) == 32


class TestReadiness:
    async def test_needs_a_token(self, anonymous: Client) -> None:
        assert (await anonymous.http.get("/readyz")).status_code == 401

    async def test_ready_when_the_database_answers(self, admin: Client, settings: Settings) -> None:
        response = await admin.http.get("/readyz", headers={"Authorization": f"Bearer {admin.token}"})

        assert response.status_code == 200
        assert response.json()["checks"]["database"] == "ok"
        assert ("broker" in response.json()["checks"]) is bool(settings.redis_url)

    async def test_not_ready_when_the_broker_is_unreachable(self, admin: Client, settings: Settings) -> None:
        app = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            response = await http.get("/readyz", headers={"Authorization": f"Bearer {admin.token}"})

        assert response.status_code == 503
        assert response.json() == {
            "status": "unavailable",
            "checks": {"database": "ok", "broker": "unreachable"},
        }

    @pytest.mark.redis
    async def test_ready_with_a_reachable_broker(self, admin: Client, settings: Settings) -> None:
        app = create_app(settings.model_copy(update={"redis_url": redis_url()}))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            response = await http.get("/readyz", headers={"Authorization": f"Bearer {admin.token}"})

        assert response.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


class TestMetrics:
    async def test_needs_a_token(self, anonymous: Client) -> None:
        assert (await anonymous.http.get("/metrics")).status_code == 401

    async def test_counts_requests_latency_errors_and_jobs(
        self, admin: Client, anonymous: Client, db: Engine
    ) -> None:
        await admin.data('mutation { runBilling(throughDate: "2026-01-31") }')
        await admin.data('mutation { expireBlocks(asOf: "2026-01-31") }')
        await admin.error('{ agreement(id: "1") { id } }')
        await anonymous.post("{ me { role } }")

        response = await admin.http.get("/metrics", headers={"Authorization": f"Bearer {admin.token}"})
        text = response.text

        assert response.status_code == 200
        assert 'blocktime_http_requests_total{method="POST",route="/graphql",status="200"} 3.0' in text
        assert 'blocktime_http_requests_total{method="POST",route="/graphql",status="401"} 1.0' in text
        assert 'blocktime_http_request_duration_seconds_count{method="POST",route="/graphql"} 4.0' in text
        assert 'blocktime_graphql_errors_total{code="NOT_FOUND"} 1.0' in text
        assert 'blocktime_graphql_errors_total{code="UNAUTHENTICATED"} 1.0' in text
        assert 'blocktime_graphql_operations_total{type="mutation"} 2.0' in text
        assert 'blocktime_jobs_enqueued_total{actor="billing.run"} 1.0' in text
        assert 'blocktime_jobs_enqueued_total{actor="blocks.expire"} 1.0' in text
        assert run_pending_jobs(db) == ["billing.run", "blocks.expire"]

    async def test_counts_the_job_logtime_writes_without_the_orm(self, admin: Client, db: Engine) -> None:
        world = scenario.build(db)
        technician = admin.as_(create_token(db, Role.TECHNICIAN))
        work = {"workTypeId": world.remote_id, "workRoleId": world.engineer_id, "date": "2026-01-06"}
        for hours in ("0.25", "0.50"):
            await technician.data(
                "mutation($input: LogTimeInput!) { logTime(input: $input) { id } }",
                input={
                    **work,
                    "companyId": world.acme.company_id,
                    "agreementId": world.acme.agreement_id,
                    "hours": hours,
                },
            )

        text = (await admin.http.get("/metrics", headers={"Authorization": f"Bearer {admin.token}"})).text

        assert 'blocktime_jobs_enqueued_total{actor="notifications.evaluate"} 2.0' in text
        assert run_pending_jobs(db) == ["notifications.evaluate", "notifications.evaluate"]

    async def test_a_failed_mutation_enqueues_nothing(self, admin: Client) -> None:
        await admin.error('mutation { postJournalBatch(throughDate: "9999-01-01") { id } }')

        text = (await admin.http.get("/metrics", headers={"Authorization": f"Bearer {admin.token}"})).text

        assert "blocktime_jobs_enqueued_total{" not in text

    def test_each_app_has_its_own_registry(self, settings: Settings, db: Engine) -> None:
        first, second = create_app(settings), create_app(settings)

        assert first.state.metrics.registry is not second.state.metrics.registry


class TestLifespan:
    async def test_runs_the_background_for_the_apps_lifetime(self, settings: Settings, db: Engine) -> None:
        events: list[str] = []

        @contextmanager
        def background(given: Settings) -> Iterator[None]:
            assert given is settings
            events.append("started")
            yield
            events.append("stopped")

        app = create_app(settings, background=background)
        async with app.router.lifespan_context(app):
            assert events == ["started"]

        assert events == ["started", "stopped"]

    async def test_the_background_can_be_named_in_the_environment(
        self, settings: Settings, db: Engine, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("BLOCKTIME_BACKGROUND", "contextlib:nullcontext")

        app = create_app(settings)
        async with app.router.lifespan_context(app):
            pass


class TestOperatorsOnly:
    """/metrics and /readyz answer ADMIN tokens only (SPEC §6, issue 11)."""

    @pytest.mark.parametrize("path", ["/metrics", "/readyz"])
    @pytest.mark.parametrize("role", [Role.CUSTOMER, Role.TECHNICIAN, Role.ACCOUNTANT])
    async def test_other_roles_are_forbidden(self, admin: Client, db: Engine, path: str, role: Role) -> None:
        company_id = None
        if role is Role.CUSTOMER:
            with unit_of_work(db) as session:
                company_id = catalog.create_company(session, identifier="ACME", name="Acme").id
        token = create_token(db, role, company_id=company_id, name=f"{role.value} probe")

        response = await admin.http.get(path, headers={"Authorization": f"Bearer {token}"})

        assert response.status_code == 403
        assert response.json() == {
            "error": f"{role.value} tokens may not use metrics and readiness",
            "code": "FORBIDDEN",
        }
        assert "blocktime_" not in response.text

    @pytest.mark.parametrize("path", ["/metrics", "/readyz"])
    async def test_an_admin_token_reads_them(self, admin: Client, path: str) -> None:
        response = await admin.http.get(path, headers={"Authorization": f"Bearer {admin.token}"})

        assert response.status_code == 200


class TestSecurityHeaders:
    async def test_graphiql_has_a_policy_frame_protection_nosniff_and_a_referrer_policy(
        self, anonymous: Client
    ) -> None:
        response = await anonymous.http.get("/graphql", headers={"Accept": "text/html"})

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        policy = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy
        assert "default-src 'self'" in policy
        assert "object-src 'none'" in policy
        assert "'unsafe-eval'" not in policy
        # strawberry's inline script is served as a file (api/pages.py): scripts from this origin only
        script_src = next(part for part in policy.split(";") if part.strip().startswith("script-src"))
        assert script_src.strip() == "script-src 'self'"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"

    async def test_any_html_page_gets_the_same_origin_policy(self, settings: Settings, db: Engine) -> None:
        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from starlette.responses import HTMLResponse
        from starlette.routing import Route

        from api.security import SAME_ORIGIN_CSP, SecurityHeaders

        async def page(_request: object) -> HTMLResponse:
            return HTMLResponse("<h1>portal</h1>")

        app = Starlette(routes=[Route("/portal", page)], middleware=[Middleware(SecurityHeaders)])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            response = await http.get("/portal")

        assert response.headers["Content-Security-Policy"] == SAME_ORIGIN_CSP
        assert response.headers["X-Frame-Options"] == "DENY"

    async def test_json_answers_get_nosniff_but_no_page_policy(self, anonymous: Client) -> None:
        response = await anonymous.http.get("/healthz")

        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" not in response.headers
