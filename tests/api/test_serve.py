"""`blocktime serve` as a real process on a free port: a CLI token, a query and a mutation over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

BLOCKTIME = Path(sys.executable).with_name("blocktime")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def blocktime(*args: str, env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run(
        [str(BLOCKTIME), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


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
    port = free_port()
    process = subprocess.Popen(
        [str(BLOCKTIME), "serve", "--port", str(port)],
        env=environment,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read() if process.stdout else ""
                pytest.fail(f"blocktime serve did not come up (exit {process.poll()}):\n{output}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
