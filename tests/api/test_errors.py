"""Expected errors keep their message and get their code; unexpected ones are masked and logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from graphql import GraphQLError
from sqlalchemy import Engine, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

import api.transaction
from accounting import catalog
from api.errors import present
from api.read import catalog as read
from models import ApiToken, utcnow
from models.db import unit_of_work
from tests.api.helpers import Client, row_counts


class TestUnexpectedErrors:
    async def test_are_masked_with_a_request_id_that_the_log_also_has(
        self, admin: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        def broken(*_args: Any, **_kwargs: Any) -> None:
            raise RuntimeError("password=hunter2 at db-primary.internal")

        monkeypatch.setattr(read, "companies", broken)

        with caplog.at_level(logging.ERROR, logger="blocktime.api"):
            response = await admin.post("{ companies { id } }")

        body = response.json()
        assert response.status_code == 200
        assert "hunter2" not in response.text
        (error,) = body["errors"]
        assert error["message"] == "Unexpected error."
        assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        request_id = error["extensions"]["requestId"]
        assert response.headers["X-Request-ID"] == request_id
        (record,) = [r for r in caplog.records if request_id in r.getMessage()]
        assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])

    async def test_a_mutation_that_fails_unexpectedly_changes_nothing(
        self, admin: Client, db: Engine, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        original = catalog.create_company

        def create_then_fail(*args: Any, **kwargs: Any) -> None:
            original(*args, **kwargs)
            raise ZeroDivisionError

        monkeypatch.setattr(catalog, "create_company", create_then_fail)
        before = row_counts(db)

        code, message = await admin.error(
            'mutation { createCompany(input: {identifier: "X", name: "X"}) { id } }'
        )

        assert (code, message) == ("INTERNAL_SERVER_ERROR", "Unexpected error.")
        assert row_counts(db) == before


class TestExpectedErrors:
    async def test_syntax_errors_keep_their_message(self, admin: Client) -> None:
        code, message = await admin.error("{ companies { id }")

        assert code == "BAD_USER_INPUT"
        assert "Syntax Error" in message

    async def test_validation_errors_keep_their_message(self, admin: Client) -> None:
        assert await admin.error("{ companies { nmae } }") == (
            "BAD_USER_INPUT",
            "Cannot query field 'nmae' on type 'Company'. Did you mean 'name'?",
        )

    async def test_variables_of_the_wrong_type_are_bad_user_input(self, admin: Client) -> None:
        code, message = await admin.error("query($id: ID!) { agreement(id: $id) { id } }", id={"nested": 1})

        assert code == "BAD_USER_INPUT"
        assert "$id" in message

    async def test_domain_errors_carry_their_code(self, admin: Client) -> None:
        assert await admin.error('{ agreement(id: "12") { id } }') == ("NOT_FOUND", "agreement 12 not found")

    async def test_an_id_that_cannot_be_ours_is_not_found(self, admin: Client) -> None:
        assert await admin.error('{ company(id: "../etc") { id } }') == (
            "NOT_FOUND",
            "company ../etc not found",
        )

    async def test_expected_errors_are_not_logged_as_errors(
        self, admin: Client, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.DEBUG):
            await admin.error('{ agreement(id: "12") { id } }')

        assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


class TestAuthentication:
    async def test_no_token_is_401_unauthenticated(self, anonymous: Client) -> None:
        response = await anonymous.post("{ me { role } }")

        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    @pytest.mark.parametrize("header", ["Bearer bt_not-a-token", "Basic dXNlcjpwYXNz", "Bearer", "bt_raw"])
    async def test_a_bad_header_is_401_unauthenticated(self, anonymous: Client, header: str) -> None:
        response = await anonymous.http.post(
            "/graphql", json={"query": "{ me { role } }"}, headers={"Authorization": header}
        )

        assert response.status_code == 401
        assert response.json()["data"] is None
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    async def test_introspection_needs_a_token_too(self, anonymous: Client) -> None:
        assert (await anonymous.post("{ __schema { types { name } } }")).status_code == 401

    async def test_the_token_is_checked_before_the_document_is_read(self, anonymous: Client) -> None:
        # An anonymous caller learns nothing about the schema, not even from a validation error.
        response = await anonymous.post("{ secretField }")

        assert response.status_code == 401
        assert "secretField" not in response.text

    async def test_a_revoked_token_is_refused(self, admin: Client, db: Engine) -> None:
        with unit_of_work(db) as session:
            session.execute(update(ApiToken).values(revoked_at=utcnow()))

        assert (await admin.post("{ me { role } }")).status_code == 401

    async def test_graphiql_loads_without_a_token(self, anonymous: Client) -> None:
        response = await anonymous.http.get("/graphql", headers={"Accept": "text/html"})

        assert response.status_code == 200
        assert "GraphiQL" in response.text

    async def test_queries_are_not_accepted_over_get(self, admin: Client) -> None:
        response = await admin.http.get(
            "/graphql",
            params={"query": "{ me { role } }"},
            headers={"Authorization": f"Bearer {admin.token}"},
        )

        assert response.status_code == 400


class TestFailuresOutsideResolvers:
    async def test_a_failed_commit_is_masked_and_changes_nothing(
        self, admin: Client, db: Engine, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        @contextmanager
        def commit_fails(engine: Engine, *, writer: bool) -> Iterator[Session]:
            with unit_of_work(engine, writer=writer) as session:
                yield session
                raise OperationalError("COMMIT", {}, Exception("disk I/O error in /srv/secret"))

        monkeypatch.setattr(api.transaction, "unit_of_work", commit_fails)
        before = row_counts(db)

        response = await admin.post('mutation { createCompany(input: {identifier: "X", name: "X"}) { id } }')

        assert response.json()["data"] is None
        (error,) = response.json()["errors"]
        assert (error["message"], error["extensions"]["code"]) == (
            "Unexpected error.",
            "INTERNAL_SERVER_ERROR",
        )
        assert "secret" not in response.text
        assert row_counts(db) == before

    def test_an_error_with_neither_path_nor_location_is_masked(self) -> None:
        error = present(
            GraphQLError("'Thing' has no attribute 'x'", original_error=AttributeError("x")), "req-1"
        )

        assert error.message == "Unexpected error."
        assert error.extensions == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-1"}
