"""Bad input of every kind: the right code, a message a person understands, and nothing changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.api import scenario
from tests.api.helpers import Client, row_counts

LOG_TIME = "mutation($input: LogTimeInput!) { logTime(input: $input) { id } }"
PURCHASE = "mutation($input: PurchaseBlockInput!) { purchaseBlock(input: $input) { id } }"
CREATE_AGREEMENT = "mutation($input: CreateAgreementInput!) { createAgreement(input: $input) { id } }"
ADJUST = "mutation($input: AdjustAgreementInput!) { adjustAgreement(input: $input) { id } }"


def log_time(**changes: Any) -> Callable[[scenario.Scenario], tuple[str, dict[str, Any]]]:
    def build(w: scenario.Scenario) -> tuple[str, dict[str, Any]]:
        values = {
            "companyId": w.acme.company_id,
            "agreementId": w.acme.agreement_id,
            "workTypeId": w.remote_id,
            "workRoleId": w.engineer_id,
            "date": "2026-01-06",
            "hours": "1.00",
        }
        values.update({k: v(w) if callable(v) else v for k, v in changes.items()})
        return LOG_TIME, {"input": {k: v for k, v in values.items() if v is not None}}

    return build


def purchase(**changes: Any) -> Callable[[scenario.Scenario], tuple[str, dict[str, Any]]]:
    def build(w: scenario.Scenario) -> tuple[str, dict[str, Any]]:
        values = {"agreementId": w.acme.agreement_id, "units": "5", "unitPrice": "140.00"}
        values.update({k: v(w) if callable(v) else v for k, v in changes.items()})
        return PURCHASE, {"input": values}

    return build


def fixed(document: str, **variables: Any) -> Callable[[scenario.Scenario], tuple[str, dict[str, Any]]]:
    def build(w: scenario.Scenario) -> tuple[str, dict[str, Any]]:
        return document, {k: v(w) if callable(v) else v for k, v in variables.items()}

    return build


CASES = {
    # hours and amounts
    "zero hours": (log_time(hours="0"), "BAD_USER_INPUT", "hours must not be zero"),
    "negative hours": (log_time(hours="-2.00"), "BAD_USER_INPUT", "hours must not be negative"),
    "NaN hours": (log_time(hours="NaN"), "BAD_USER_INPUT", "is not a decimal number"),
    "infinite hours": (log_time(hours="Infinity"), "BAD_USER_INPUT", "is not a decimal number"),
    "exponent notation": (log_time(hours="1e400"), "BAD_USER_INPUT", "is not a decimal number"),
    "three decimals": (log_time(hours="1.125"), "BAD_USER_INPUT", "more than 2 decimal places"),
    "hours as a boolean": (log_time(hours=True), "BAD_USER_INPUT", "Decimal"),
    "hours as a float with noise": (log_time(hours=0.30000000000000004), "BAD_USER_INPUT", "decimal places"),
    "beyond the column's range": (purchase(units="10000000000000"), "BAD_USER_INPUT", "out of range"),
    "product beyond the range": (
        purchase(units="999999999999.99", unitPrice="999999999999.99"),
        "BAD_USER_INPUT",
        "must not exceed",
    ),
    "negative unit price": (purchase(unitPrice="-1.00"), "BAD_USER_INPUT", "unitPrice must not be negative"),
    "literal with three decimals": (
        fixed('mutation { createWorkRole(input: {name: "X", hourlyRate: "1.005"}) { id } }'),
        "BAD_USER_INPUT",
        "more than 2 decimal places",
    ),
    "literal infinity": (
        fixed('mutation { createWorkRole(input: {name: "X", hourlyRate: 1e400}) { id } }'),
        "BAD_USER_INPUT",
        "not a decimal number",
    ),
    # dates
    "end before start": (
        fixed(
            CREATE_AGREEMENT,
            input=lambda w: {
                "companyId": w.acme.company_id,
                "agreementTypeId": w.agreement_type_id,
                "name": "Backwards",
                "startDate": "2026-03-01",
                "endDate": "2026-02-01",
            },
        ),
        "BAD_USER_INPUT",
        "is before startDate",
    ),
    "impossible date": (log_time(date="2026-02-30"), "BAD_USER_INPUT", "Date"),
    # unknown and malformed ids
    "unknown agreement": (log_time(agreementId="987654"), "NOT_FOUND", "agreement 987654 not found"),
    "unknown work type": (log_time(workTypeId="987654"), "NOT_FOUND", "work type 987654 not found"),
    "malformed id": (
        log_time(workRoleId="not-an-id"),
        "NOT_FOUND",
        "workRoleId 'not-an-id' not found",
    ),
    "id beyond bigint": (
        log_time(companyId="99999999999999999999"),
        "NOT_FOUND",
        "companyId '99999999999999999999' not found",
    ),
    "unknown company for an agreement": (
        fixed(
            CREATE_AGREEMENT,
            input=lambda w: {
                "companyId": "987654",
                "agreementTypeId": w.agreement_type_id,
                "name": "Ghost",
                "startDate": "2026-01-01",
            },
        ),
        "NOT_FOUND",
        "company 987654 not found",
    ),
    "time for a company that does not own the agreement": (
        log_time(companyId=lambda w: w.globex.company_id),
        "BAD_USER_INPUT",
        "does not belong to company",
    ),
    "unknown time entry": (
        fixed('mutation { reverseTimeEntry(id: "987654") { id } }'),
        "NOT_FOUND",
        "time entry 987654 not found",
    ),
    # text and structure
    "empty name": (
        fixed('mutation { createCompany(input: {identifier: "X1", name: "  "}) { id } }'),
        "BAD_USER_INPUT",
        "name must not be empty",
    ),
    "bad e-mail": (
        fixed(
            'mutation { createCompany(input: {identifier: "X2", name: "X", billingEmail: "nope"}) { id } }'
        ),
        "BAD_USER_INPUT",
        "is not an e-mail address",
    ),
    "unknown enum value": (
        fixed('mutation { createGlAccount(input: {code: "9", name: "X", type: INCOME}) { id } }'),
        "BAD_USER_INPUT",
        "INCOME",
    ),
    "missing required field": (
        fixed('mutation { createWorkRole(input: {name: "X"}) { id } }'),
        "BAD_USER_INPUT",
        "hourlyRate",
    ),
    "customer token without a company": (
        fixed('mutation { createApiToken(input: {role: CUSTOMER, name: "c"}) { token } }'),
        "BAD_USER_INPUT",
        "must name its company",
    ),
    # issue 11: one text rule for every string input, and strict scalars
    "NUL in notes": (
        log_time(notes="Remote\u0000"),
        "BAD_USER_INPUT",
        "notes must not contain control characters",
    ),
    "escape in internal notes": (
        log_time(internalNotes="rework \u001b[31m"),
        "BAD_USER_INPUT",
        "internalNotes must not contain control characters: U+001B",
    ),
    "newline in a name": (
        fixed('mutation { createWorkType(input: {name: "Remote\\n", rateMultiplier: "1"}) { id } }'),
        "BAD_USER_INPUT",
        "name must not contain control characters: U+000A",
    ),
    "NUL in a work type name": (
        fixed('mutation { createWorkType(input: {name: "Remote\\u0000"}) { id } }'),
        "BAD_USER_INPUT",
        "name must not contain control characters: U+0000",
    ),
    "DEL in a reason": (
        fixed(
            ADJUST, input=lambda w: {"agreementId": w.acme.agreement_id, "units": "1", "reason": "x\u007f"}
        ),
        "BAD_USER_INPUT",
        "reason must not contain control characters: U+007F",
    ),
    "NUL in an idempotency key": (log_time(idempotencyKey="k\u0000"), "BAD_USER_INPUT", "idempotencyKey"),
    "name too long": (
        fixed(
            'mutation($n: String!) { createWorkRole(input: {name: $n, hourlyRate: "1"}) { id } }', n="x" * 201
        ),
        "BAD_USER_INPUT",
        "name must be at most 200 characters",
    ),
    "notes too long": (log_time(notes="x" * 4001), "BAD_USER_INPUT", "notes must be at most 4000 characters"),
    "e-mail with a trailing newline": (
        fixed(
            'mutation($e: String) { createCompany(input: {identifier: "X3", name: "X", billingEmail: $e})'
            " { id } }",
            e="billing@acme.example\n",
        ),
        "BAD_USER_INPUT",
        "billingEmail must not contain control characters",
    ),
    "e-mail without a dotted domain": (
        fixed(
            'mutation { createCompany(input: {identifier: "X4", name: "X", billingEmail: "a@localhost"}) '
            "{ id } }"
        ),
        "BAD_USER_INPUT",
        "billingEmail 'a@localhost' is not an e-mail address",
    ),
    "webhook URL without a host": (
        fixed('mutation { registerWebhook(input: {url: "http://", secret: "0123456789"}) { id } }'),
        "BAD_USER_INPUT",
        "url 'http://' is not an http:// or https:// URL",
    ),
    "webhook URL of another scheme": (
        fixed(
            'mutation { registerWebhook(input: {url: "ftp://erp.example/x", secret: "0123456789"}) { id } }'
        ),
        "BAD_USER_INPUT",
        "is not an http:// or https:// URL",
    ),
    "Arabic-Indic digits": (log_time(hours="\u0661\u0662"), "BAD_USER_INPUT", "is not a decimal number"),
    "full-width digits in a literal": (
        fixed('mutation { createWorkRole(input: {name: "X", hourlyRate: "\uff11\uff10"}) { id } }'),
        "BAD_USER_INPUT",
        "is not a decimal number",
    ),
    "basic-format date": (log_time(date="20260101"), "BAD_USER_INPUT", "a Date is written YYYY-MM-DD"),
    "date with a time": (log_time(date="2026-01-06T00:00"), "BAD_USER_INPUT", "a Date is written YYYY-MM-DD"),
    "date literal in basic format": (
        fixed('mutation { runBilling(throughDate: "20260131") }'),
        "BAD_USER_INPUT",
        "a Date is written YYYY-MM-DD",
    ),
    "duplicate GL account name": (
        fixed(
            'mutation { createGlAccount(input: {code: "4999", name: "Service Revenue", type: REVENUE}) '
            "{ id } }"
        ),
        "BAD_USER_INPUT",
        "name 'Service Revenue' is already GL account",
    ),
    "unknown GL account in a mapping": (
        fixed('mutation { setGlMapping(input: {kind: BREAKAGE, accountId: "987654"}) { id } }'),
        "NOT_FOUND",
        "GL account 987654 not found",
    ),
    # business rules
    "more than the balance": (log_time(hours="5.00"), "INSUFFICIENT_BALANCE", "has 1.00 h left"),
    "writing off more than remains": (
        fixed(ADJUST, input=lambda w: {"agreementId": w.acme.agreement_id, "units": "-5", "reason": "typo"}),
        "INSUFFICIENT_BALANCE",
        "cannot write off",
    ),
    "duplicate company": (
        fixed('mutation { createCompany(input: {identifier: "ACME", name: "Again"}) { id } }'),
        "CONFLICT",
        "a company with identifier ACME exists",
    ),
    "reversing twice": (
        fixed("mutation($id: ID!) { reverseTimeEntry(id: $id) { id } }", id=lambda w: w.globex.time_entry_id),
        "CONFLICT",
        "already reversed",
    ),
}


@pytest.fixture
def world(db: Engine, admin: Client) -> scenario.Scenario:
    return scenario.build(db)


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_input_is_refused_and_changes_nothing(
    admin: Client, db: Engine, world: scenario.Scenario, case: str
) -> None:
    build, expected_code, expected_message = CASES[case]
    document, variables = build(world)
    if case == "reversing twice":
        await admin.data(document, **variables)
    before = row_counts(db)

    code, message = await admin.error(document, **variables)

    assert code == expected_code, message
    assert expected_message in message
    assert row_counts(db) == before


async def test_a_mutation_operation_with_any_error_changes_nothing(admin: Client, db: Engine) -> None:
    before = row_counts(db)

    body = await admin.execute("""
      mutation { good: createCompany(input: {identifier: "GOOD", name: "Good"}) { identifier }
                 bad: createCompany(input: {identifier: "GOOD", name: "Duplicate"}) { identifier } }
    """)

    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["CONFLICT"]
    assert row_counts(db) == before
