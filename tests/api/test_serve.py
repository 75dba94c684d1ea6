"""`blocktime serve` as a real process on a free port: a CLI token, a query and a mutation over HTTP."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import blocktime, serving


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "BLOCKTIME_BACKGROUND"}
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'served.db'}"
    env["LOG_LEVEL"] = "WARNING"
    return env


@pytest.fixture
def token(environment: dict[str, str], tmp_path: Path) -> str:
    """Migrate the temporary database and create an ADMIN token, as an operator would."""
    blocktime("db", "upgrade", env=environment, cwd=tmp_path)
    output = blocktime("token", "create", "--role", "ADMIN", "--name", "t", env=environment, cwd=tmp_path)
    return output.strip().splitlines()[-1]


@pytest.fixture
def server(environment: dict[str, str], tmp_path: Path, token: str) -> Iterator[str]:
    with serving(environment, tmp_path) as base:
        yield base


@pytest.mark.slow
def test_a_query_and_a_mutation_over_real_http(token: str, server: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}

    with httpx.Client(base_url=server, headers=headers, timeout=30) as client:
        me = client.post("/graphql", json={"query": "{ me { role name } }"})
        created = client.post(
            "/graphql",
            json={
                "query": "mutation($input: CreateCompanyInput!) "
                "{ createCompany(input: $input) { id identifier } }",
                "variables": {"input": {"identifier": "ACME", "name": "Acme Inc."}},
            },
        )
        listed = client.post("/graphql", json={"query": "{ companies { identifier } }"})
        refused = httpx.post(f"{server}/graphql", json={"query": "{ me { role } }"})

    assert me.json() == {"data": {"me": {"role": "ADMIN", "name": "t"}}}
    assert created.json()["data"]["createCompany"]["identifier"] == "ACME"
    assert listed.json() == {"data": {"companies": [{"identifier": "ACME"}]}}
    assert refused.status_code == 401
