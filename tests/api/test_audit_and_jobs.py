"""The audit trail of every mutation, and the outbox's dead letters for admins."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import Engine, select

from accounting import outbox
from models import OutboxJob
from models.db import unit_of_work
from models.enums import JobStatus
from tests.api.helpers import Client

TRAIL = (
    "{ auditTrail { edges { node { actorName actorRole action objectType objectId details createdAt } } } }"
)


class TestAuditTrail:
    async def test_records_who_did_what_to_which_object(self, admin: Client) -> None:
        created = await admin.data(
            'mutation { createCompany(input: {identifier: "ACME", name: "Acme"}) { id } }'
        )

        (entry,) = [e["node"] for e in (await admin.data(TRAIL))["auditTrail"]["edges"]]

        assert entry["actorName"] == "alice-admin"
        assert entry["actorRole"] == "ADMIN"
        assert (entry["action"], entry["objectType"], entry["objectId"]) == (
            "createCompany",
            "Company",
            created["createCompany"]["id"],
        )
        assert json.loads(entry["details"])["identifier"] == "ACME"
        assert entry["createdAt"]

    async def test_never_records_a_webhook_secret_or_a_token(self, admin: Client) -> None:
        await admin.data(
            'mutation { registerWebhook(input: {url: "https://erp.example/h", secret: "TOPSECRET1"}) { id } }'
        )
        token = await admin.data(
            'mutation { createApiToken(input: {role: ACCOUNTANT, name: "bob"}) { token } }'
        )

        trail = json.dumps(await admin.data(TRAIL))

        assert "TOPSECRET1" not in trail
        assert token["createApiToken"]["token"] not in trail
        assert "registerWebhook" in trail and "createApiToken" in trail

    async def test_failed_and_refused_mutations_record_nothing(self, admin: Client) -> None:
        await admin.error('mutation { createCompany(input: {identifier: "", name: "Acme"}) { id } }')

        assert (await admin.data(TRAIL))["auditTrail"]["edges"] == []


class TestJobs:
    async def test_admins_see_failed_jobs_with_their_error(self, admin: Client, db: Engine) -> None:
        await admin.data('mutation { runBilling(throughDate: "2026-01-31") }')
        with unit_of_work(db) as session:
            session.add(
                OutboxJob(
                    actor="batches.post",
                    args='{"batch_id": 7}',
                    status=JobStatus.FAILED,
                    attempts=5,
                    last_error="MappingMissing: BREAKAGE",
                )
            )

        data = await admin.data("""{
          failedJobs { totalCount edges { node { actor args status attempts lastError } } }
          pending: jobs(status: PENDING) { edges { node { actor args } } }
          all: jobs { totalCount }
        }""")

        assert data["failedJobs"]["totalCount"] == 1
        assert data["failedJobs"]["edges"][0]["node"] == {
            "actor": "batches.post",
            "args": '{"batch_id": 7}',
            "status": "FAILED",
            "attempts": 5,
            "lastError": "MappingMissing: BREAKAGE",
        }
        assert [e["node"] for e in data["pending"]["edges"]] == [
            {"actor": "billing.run", "args": '{"through_date": "2026-01-31"}'}
        ]
        assert data["all"]["totalCount"] == 2

    async def test_a_running_job_names_its_worker_and_start(self, admin: Client, db: Engine) -> None:
        await admin.data('mutation { runBilling(throughDate: "2026-01-31") }')
        with unit_of_work(db) as session:
            (job_id,) = session.scalars(select(OutboxJob.id))
            assert outbox.start_job(session, job_id=job_id, actor="billing.run", worker="box-7:4242:a1b2c3")

        data = await admin.data("{ jobs(status: RUNNING) { edges { node { status worker startedAt } } } }")

        (node,) = [e["node"] for e in data["jobs"]["edges"]]
        assert (node["status"], node["worker"]) == ("RUNNING", "box-7:4242:a1b2c3")
        started = dt.datetime.fromisoformat(node["startedAt"])
        assert abs((dt.datetime.now(dt.UTC) - started).total_seconds()) < 60
