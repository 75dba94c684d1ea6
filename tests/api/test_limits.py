"""Depth, aliases, tokens, body size and page size are bounded (SPEC §6)."""

from __future__ import annotations

from sqlalchemy import Engine

from api.limits import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS
from models.settings import Settings
from tests.api.helpers import Client


class TestQueryLimits:
    async def test_a_query_deeper_than_the_limit_is_refused(self, admin: Client) -> None:
        deep = (
            "{ companies { agreements { company { agreements { company { agreements { company { agreements "
            "{ company { agreements { company { id } } } } } } } } } } } }"
        )

        code, message = await admin.error(deep)

        assert code == "BAD_USER_INPUT"
        assert f"exceeds maximum operation depth of {MAX_DEPTH}" in message

    async def test_introspection_is_not_limited_by_depth(self, admin: Client) -> None:
        from graphql import get_introspection_query

        data = await admin.data(get_introspection_query())

        assert data["__schema"]["queryType"]["name"] == "Query"

    async def test_too_many_aliases_are_refused(self, admin: Client) -> None:
        aliases = " ".join(f"a{i}: me {{ role }}" for i in range(MAX_ALIASES + 1))

        code, message = await admin.error(f"{{ {aliases} }}")

        assert code == "BAD_USER_INPUT"
        assert "aliases" in message

    async def test_too_many_tokens_are_refused(self, admin: Client) -> None:
        fields = " ".join("__typename" for _ in range(MAX_TOKENS))

        code, message = await admin.error(f"{{ {fields} }}")

        assert code == "BAD_USER_INPUT"
        assert f"more than {MAX_TOKENS} tokens" in message

    async def test_a_repeated_document_is_validated_once(self, admin: Client) -> None:
        """The limits must not defeat the validation cache (bench B1: a third of a balance check)."""
        from api.limits import validation_cache

        cache = validation_cache()
        document = "{ me { role name } } # validated once"
        before = cache.cache_info()

        first = await admin.data(document)
        second = await admin.data(document)

        after = cache.cache_info()
        assert first == second == {"me": {"role": "ADMIN", "name": first["me"]["name"]}}
        assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)

    async def test_first_is_capped_at_a_hundred(self, admin: Client) -> None:
        assert (await admin.data("{ agreements(first: 100) { totalCount } }")) == {
            "agreements": {"totalCount": 0}
        }
        assert await admin.error("{ agreements(first: 101) { totalCount } }") == (
            "BAD_USER_INPUT",
            "first must be between 0 and 100, got 101",
        )
        assert (await admin.error("{ timeEntries(first: -1) { totalCount } }"))[0] == "BAD_USER_INPUT"

    async def test_a_cursor_we_did_not_issue_is_refused(self, admin: Client) -> None:
        code, message = await admin.error('{ invoices(after: "bm90LWEtY3Vyc29y") { totalCount } }')

        assert code == "BAD_USER_INPUT"
        assert "not a cursor" in message


class TestBodySize:
    async def test_a_body_over_the_limit_is_413(self, admin: Client, settings: Settings) -> None:
        padding = " " * settings.max_body_bytes
        response = await admin.http.post(
            "/graphql",
            json={"query": "{ me { role }" + padding + "}"},
            headers={"Authorization": f"Bearer {admin.token}"},
        )

        assert response.status_code == 413


class TestPagination:
    async def test_pages_follow_the_cursor_to_the_end(self, admin: Client, db: Engine) -> None:
        for number in range(5):
            await admin.data(
                f'mutation {{ createCompany(input: {{identifier: "C{number}", name: "C"}}) {{ id }} }}'
            )
            await admin.data(
                f'mutation {{ createGlAccount(input: {{code: "{number}", name: "A{number}", type: ASSET}}) '
                "{ id } }"
            )
        query = (
            "query($after: String) { auditTrail(first: 4, after: $after) { totalCount "
            "pageInfo { hasNextPage endCursor } edges { cursor node { action objectId } } } }"
        )
        seen, after = [], None
        while True:
            page = (await admin.data(query, after=after))["auditTrail"]
            assert page["totalCount"] == 10
            seen += [edge["node"]["action"] for edge in page["edges"]]
            after = page["pageInfo"]["endCursor"]
            if not page["pageInfo"]["hasNextPage"]:
                break

        assert len(seen) == 10
        assert seen[0] == "createGlAccount"  # newest first
