"""Fuzzing the whole schema with schemathesis in GraphQL mode (issue 11).

Every query and mutation field gets generated documents (arguments, input objects
and selections from the introspected schema), sent as an ADMIN and as a CUSTOMER
against the real app and database. Whatever the input, the answer is never an
HTTP 5xx and never INTERNAL_SERVER_ERROR: every refusal is one of the contract's
codes. The run is bounded in time (FUZZ_SECONDS over all fields, about 60 s per
backend), so the suite stays short; the number of cases run is in the run's summary
("measured by the tests"), under `make test` and CI too.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.graphql import nodes
from sqlalchemy import Engine
from starlette.applications import Starlette

from models.enums import Role
from tests.api import scenario
from tests.api.helpers import create_token
from tests.conftest import report_figure

FUZZ_SECONDS = 60.0
EXAMPLES_PER_FIELD = 200  # a ceiling; the time budget ends the run first

# Our Decimal scalar is a string: mostly valid amounts, some any text (refusals must be clean too).
schemathesis.graphql.scalar(
    "Decimal",
    st.one_of(
        st.decimals(
            min_value=-(10**13), max_value=10**13, places=2, allow_nan=False, allow_infinity=False
        ).map(lambda d: nodes.String(str(d))),
        st.decimals(allow_nan=True, allow_infinity=True).map(lambda d: nodes.String(str(d))),
        st.text(max_size=24).map(nodes.String),
    ),
)


class _ShareSpent(Exception):
    pass


class Tally:
    """What the run sent and saw."""

    def __init__(self) -> None:
        self.cases = 0
        self.statuses: Counter[int] = Counter()
        self.codes: Counter[str] = Counter()

    def __str__(self) -> str:
        return (
            f"{self.cases} cases; HTTP statuses {dict(sorted(self.statuses.items()))}; "
            f"error codes {dict(sorted(self.codes.items()))}"
        )


def fuzz(operation: Any, *, seconds: float, tokens: list[str], tally: Tally, failures: list[str]) -> None:
    """Generated documents for one field, ADMIN and CUSTOMER in turn, until its share of time is spent."""
    ends = time.monotonic() + seconds

    @settings(
        max_examples=EXAMPLES_PER_FIELD,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        if time.monotonic() > ends:
            raise _ShareSpent  # stop generating for this field
        tally.cases += 1
        response = case.call(headers={"Authorization": f"Bearer {tokens[tally.cases % 2]}"})
        tally.statuses[response.status_code] += 1
        body = response.json() if response.status_code in (200, 401) else {}
        codes = [(e.get("extensions") or {}).get("code") for e in body.get("errors") or ()]
        tally.codes.update(str(code) for code in codes)
        if response.status_code >= 500 or "INTERNAL_SERVER_ERROR" in codes:
            failures.append(f"{operation.label}: {case.body} -> {response.status_code} {response.text[:500]}")

    with contextlib.suppress(_ShareSpent):
        run()


@pytest.mark.fuzz
def test_no_input_causes_a_server_error(app: Starlette, db: Engine) -> None:
    world = scenario.build(db)
    tokens = [
        create_token(db, Role.ADMIN, name="fuzz admin"),
        create_token(db, Role.CUSTOMER, company_id=int(world.acme.company_id), name="fuzz customer"),
    ]
    loaded = schemathesis.graphql.from_asgi("/graphql", app, headers={"Authorization": f"Bearer {tokens[0]}"})
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) >= 30  # every query and mutation field
    tally, failures = Tally(), []

    for operation in operations:
        fuzz(operation, seconds=FUZZ_SECONDS / len(operations), tokens=tokens, tally=tally, failures=failures)

    report_figure(f"fuzz ({db.dialect.name}): {tally}")
    assert failures == [], "\n".join(failures[:10])
    assert tally.cases >= 100


def test_our_decimal_scalar_has_its_strategy() -> None:
    from schemathesis.specs.graphql.scalars import CUSTOM_SCALARS

    assert "Decimal" in CUSTOM_SCALARS
