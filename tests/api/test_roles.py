"""What each role may do (SPEC §6): every operation as every role, allowed or FORBIDDEN."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from graphql import build_schema
from sqlalchemy import Engine

from api.schema import sdl
from models.enums import Role
from tests.api import scenario
from tests.api.helpers import Client, create_token, row_counts

ADMIN, ACCOUNTANT, TECHNICIAN, CUSTOMER = Role.ADMIN, Role.ACCOUNTANT, Role.TECHNICIAN, Role.CUSTOMER
EVERYONE = {ADMIN, ACCOUNTANT, TECHNICIAN, CUSTOMER}
STAFF = {ADMIN, ACCOUNTANT, TECHNICIAN}
BACK_OFFICE = {ADMIN, ACCOUNTANT}
CUSTOMER_READS = BACK_OFFICE | {CUSTOMER}

Variables = Callable[[scenario.Scenario], dict[str, Any]]


@dataclass(frozen=True)
class Operation:
    name: str
    document: str
    allowed: set[Role]
    variables: Variables = lambda _w: {}

    @property
    def is_mutation(self) -> bool:
        return self.document.lstrip().startswith("mutation")


OPERATIONS = [
    Operation("me", "{ me { role } }", EVERYONE),
    Operation("companies", "{ companies { id } }", EVERYONE),
    Operation(
        "company",
        "query($id: ID!) { company(id: $id) { id } }",
        EVERYONE,
        lambda w: {"id": w.acme.company_id},
    ),
    Operation("workTypes", "{ workTypes { id } }", STAFF),
    Operation("workRoles", "{ workRoles { id } }", STAFF),
    Operation("agreementTypes", "{ agreementTypes { id excludedWorkTypes { id } } }", STAFF),
    Operation(
        "agreements",
        "{ agreements { totalCount edges { node { balance { unitsRemaining } lots { id } } } } }",
        EVERYONE,
    ),
    Operation(
        "agreement",
        "query($id: ID!) { agreement(id: $id) { id timeEntries { id } } }",
        EVERYONE,
        lambda w: {"id": w.acme.agreement_id},
    ),
    Operation(
        "agreement.invoices",
        "query($id: ID!) { agreement(id: $id) { invoices { id } } }",
        CUSTOMER_READS,
        lambda w: {"id": w.acme.agreement_id},
    ),
    Operation(
        "timeEntries",
        "{ timeEntries { totalCount edges { node { coverage workRole { name } } } } }",
        EVERYONE,
    ),
    Operation("timeEntry.invoice", "{ timeEntries { edges { node { invoice { id } } } } }", CUSTOMER_READS),
    Operation("invoices", "{ invoices { totalCount edges { node { lines { amount } } } } }", CUSTOMER_READS),
    Operation("notifications", "{ notifications { totalCount } }", CUSTOMER_READS),
    Operation("glAccounts", "{ glAccounts { code balance } }", BACK_OFFICE),
    Operation("glMappings", "{ glMappings { kind account { code } } }", BACK_OFFICE),
    Operation("journalBatches", "{ journalBatches { totalCount } }", BACK_OFFICE),
    Operation(
        "journalBatch",
        "query($id: ID!) { journalBatch(id: $id) { status iif: export(format: IIF) } }",
        BACK_OFFICE,
        lambda w: {"id": w.batch_id},
    ),
    Operation(
        "journalBatch.exportFiles",
        "query($id: ID!) { journalBatch(id: $id) { exportFiles(format: QBO_CSV) { name } } }",
        BACK_OFFICE,
        lambda w: {"id": w.batch_id},
    ),
    Operation("trialBalance", "{ trialBalance { debit credit } }", BACK_OFFICE),
    Operation(
        "deferredRevenueReconciliation", "{ deferredRevenueReconciliation { difference } }", BACK_OFFICE
    ),
    Operation(
        "deferredRevenueRollforward",
        '{ deferredRevenueRollforward(from: "2026-01-01", to: "2026-01-31") '
        "{ difference rows { closing } } }",
        BACK_OFFICE,
    ),
    Operation("closedThrough", "{ closedThrough }", STAFF),
    Operation("auditTrail", "{ auditTrail { totalCount } }", BACK_OFFICE),
    Operation("jobs", "{ jobs(status: DONE) { totalCount } }", {ADMIN}),
    Operation("failedJobs", "{ failedJobs { totalCount } }", {ADMIN}),
    Operation(
        "createCompany",
        'mutation { createCompany(input: {identifier: "NEWCO", name: "New Co"}) { id } }',
        BACK_OFFICE,
    ),
    Operation(
        "createWorkType",
        'mutation { createWorkType(input: {name: "Onsite", rateMultiplier: "1.25"}) { id } }',
        BACK_OFFICE,
    ),
    Operation(
        "createWorkRole",
        'mutation { createWorkRole(input: {name: "Senior", hourlyRate: "185.00"}) { id } }',
        BACK_OFFICE,
    ),
    Operation(
        "createGlAccount",
        'mutation { createGlAccount(input: {code: "2450", name: "Deferred II", type: LIABILITY}) { id } }',
        BACK_OFFICE,
    ),
    Operation(
        "setGlMapping",
        'mutation($a: ID!) { setGlMapping(input: {kind: PRODUCT_CATEGORY, category: "Blocks", accountId: $a})'
        " { id } }",
        BACK_OFFICE,
        lambda w: {"a": w.account_id},
    ),
    Operation(
        "createAgreementType",
        'mutation { createAgreementType(input: {name: "Credit", applicationUnits: AMOUNT, prepaid: true, '
        "reverseRevenueWhenApplied: true}) { id } }",
        BACK_OFFICE,
    ),
    Operation(
        "createAgreement",
        "mutation($c: ID!, $t: ID!) { createAgreement(input: {companyId: $c, agreementTypeId: $t, "
        'name: "Second", startDate: "2026-02-01"}) { id } }',
        BACK_OFFICE,
        lambda w: {"c": w.acme.company_id, "t": w.agreement_type_id},
    ),
    Operation(
        "purchaseBlock",
        "mutation($a: ID!) { "
        'purchaseBlock(input: {agreementId: $a, units: "5", unitPrice: "140.00"}) { id } }',
        BACK_OFFICE,
        lambda w: {"a": w.acme.agreement_id},
    ),
    Operation(
        "adjustAgreement",
        "mutation($a: ID!) { "
        'adjustAgreement(input: {agreementId: $a, units: "1", reason: "goodwill"}) { id } }',
        BACK_OFFICE,
        lambda w: {"a": w.acme.agreement_id},
    ),
    Operation(
        "logTime",
        "mutation($c: ID!, $t: ID!, $r: ID!) { "
        "logTime(input: {companyId: $c, workTypeId: $t, workRoleId: $r, "
        'date: "2026-01-06", hours: "0.5"}) { id coverage } }',
        STAFF,
        lambda w: {"c": w.acme.company_id, "t": w.remote_id, "r": w.engineer_id},
    ),
    Operation(
        "reverseTimeEntry",
        "mutation($id: ID!) { reverseTimeEntry(id: $id) { reversed } }",
        STAFF,
        lambda w: {"id": w.acme.time_entry_id},
    ),
    # Nothing is dated before the scenario's first day (and no batch is PENDING yet): it closes.
    Operation("closePeriod", 'mutation { closePeriod(through: "2025-12-31") }', BACK_OFFICE),
    Operation("runBilling", 'mutation { runBilling(throughDate: "2026-01-31") }', BACK_OFFICE),
    Operation("expireBlocks", 'mutation { expireBlocks(asOf: "2026-01-31") }', BACK_OFFICE),
    Operation("renewAllowances", 'mutation { renewAllowances(asOf: "2026-01-31") }', BACK_OFFICE),
    Operation(
        "postJournalBatch",
        # Through today: the block purchased above (today) is there to post.
        "mutation { postJournalBatch { id status } }",
        BACK_OFFICE,
    ),
    Operation(
        "registerWebhook",
        'mutation { registerWebhook(input: {url: "https://erp.example/hook", secret: "0123456789"}) { id } }',
        BACK_OFFICE,
    ),
    Operation(
        "cancelAgreement",
        "mutation($id: ID!) { cancelAgreement(id: $id, refundUnused: true) { status } }",
        BACK_OFFICE,
        lambda w: {"id": w.globex.agreement_id},
    ),
    Operation(
        "createApiToken",
        'mutation { createApiToken(input: {role: TECHNICIAN, name: "tech two"}) { token role } }',
        {ADMIN},
    ),
    # Part "admin" (SPEC §10).
    Operation("apiTokens", "{ apiTokens { id name revokedAt } }", {ADMIN}),
    Operation("webhooks", "{ webhooks { id url } }", {ADMIN}),
    Operation(
        "notification.deliveries",
        "{ notifications { edges { node { deliveries { status target } } } } }",
        BACK_OFFICE,
    ),
    Operation(
        "agreement.notifyEmails",
        "query($id: ID!) { agreement(id: $id) { notifyEmails } }",
        STAFF,
        lambda w: {"id": w.acme.agreement_id},
    ),
    Operation(
        "updateAgreement",
        'mutation($id: ID!) { updateAgreement(id: $id, input: {name: "Renamed"}) { name } }',
        BACK_OFFICE,
        lambda w: {"id": w.acme.agreement_id},
    ),
    Operation(
        "updateAgreementType",
        'mutation($id: ID!) { updateAgreementType(id: $id, input: {lowBalanceThreshold: "3.00"}) { id } }',
        BACK_OFFICE,
        lambda w: {"id": w.agreement_type_id},
    ),
    Operation(
        "updateCompany",
        'mutation($id: ID!) { updateCompany(id: $id, input: {name: "Acme Renamed"}) { name } }',
        BACK_OFFICE,
        lambda w: {"id": w.acme.company_id},
    ),
    Operation(
        "deleteGlMapping",
        "mutation($id: ID!) { deleteGlMapping(id: $id) }",
        BACK_OFFICE,
        lambda w: {"id": w.spare_mapping_id},
    ),
    Operation(
        "retryJob",
        "mutation($id: ID!) { retryJob(id: $id) { status } }",
        {ADMIN},
        lambda w: {"id": w.failed_job_id},
    ),
    Operation(
        "retryDelivery",
        "mutation($id: ID!) { retryDelivery(id: $id) { status } }",
        {ADMIN},
        lambda w: {"id": w.failed_delivery_id},
    ),
    Operation(
        "deleteWebhook",
        "mutation($id: ID!) { deleteWebhook(id: $id) }",
        {ADMIN},
        lambda w: {"id": w.webhook_id},
    ),
    Operation(
        "revokeApiToken",
        "mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }",
        {ADMIN},
        lambda w: {"id": w.spare_token_id},
    ),
]


def test_every_operation_of_the_contract_is_covered() -> None:
    built = build_schema(sdl())
    roots = set(built.query_type.fields) | set(built.mutation_type.fields)  # type: ignore[union-attr]
    assert roots - {op.name for op in OPERATIONS} == set()


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
async def test_each_role_does_what_it_may_and_nothing_else(admin: Client, db: Engine, role: Role) -> None:
    world = scenario.build(db)
    company_id = int(world.acme.company_id) if role is CUSTOMER else None
    client = admin.as_(
        create_token(db, role, company_id=company_id, name=f"{role.value.lower()} in the matrix")
    )
    wrong: list[str] = []

    for operation in OPERATIONS:
        before = row_counts(db) if operation.is_mutation else None
        body = await client.execute(operation.document, **operation.variables(world))
        codes = {error["extensions"]["code"] for error in body.get("errors") or ()}
        if role in operation.allowed and codes:
            wrong.append(f"{operation.name}: expected success, got {body['errors']}")
        elif role not in operation.allowed:
            if codes != {"FORBIDDEN"}:
                wrong.append(f"{operation.name}: expected FORBIDDEN, got {body}")
            elif before is not None and row_counts(db) != before:
                wrong.append(f"{operation.name}: refused, yet something changed")

    assert wrong == []
