"""schema.graphql is the code's schema, and it fulfils the public contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from api.schema import sdl

ROOT = Path(__file__).resolve().parents[2]
CHECKER = ROOT.parent / "shared" / "tools" / "check_contract.py"


def test_schema_graphql_is_up_to_date() -> None:
    exported = (ROOT / "schema.graphql").read_text()

    assert exported == sdl(), "schema.graphql is stale: run `python -m api.schema > schema.graphql`"


# The contract's parts this schema implements (../shared/contract.d/NAME.graphql).
PARTS = [
    "--part", "visibility",
    "--part", "time",
    "--part", "admin",
    "--part", "exports",
    "--part", "portal",
    "--part", "allowances",
]  # fmt: skip


@pytest.mark.skipif(not CHECKER.exists(), reason="../shared (the contract and its checker) is not present")
def test_the_schema_fulfils_the_contract() -> None:
    result = subprocess.run(
        [sys.executable, str(CHECKER), "schema.graphql", *PARTS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "contract: 0 differences" in result.stdout
