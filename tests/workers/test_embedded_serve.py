"""What `make run` gives: the demo data and `blocktime serve` with the in-process worker.

A real `blocktime serve` process on a temporary SQLite file, no REDIS_URL: the jobs
of the demo's own threshold crossings run at start-up, and a crossing made over
HTTP reaches a webhook registered over HTTP, signed, exactly once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import blocktime, serving
from tests.workers.conftest import WebhookServer, wait_until

SECRET = "embedded-secret-0123456789"


def graphql(client: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    body = client.post("/graphql", json={"query": query, "variables": variables}).json()
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "BLOCKTIME_BACKGROUND"}
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'blocktime.db'}"
    env["LOG_LEVEL"] = "INFO"
    return env


@pytest.mark.slow
def test_make_run_serves_the_demo_and_delivers_notifications_in_process(
    environment: dict[str, str], tmp_path: Path, webhook: WebhookServer
) -> None:
    blocktime("db", "upgrade", env=environment, cwd=tmp_path)
    blocktime("demo", env=environment, cwd=tmp_path)
    token = blocktime(
        "token", "create", "--role", "ADMIN", "--name", "make-run", env=environment, cwd=tmp_path
    )
    headers = {"Authorization": f"Bearer {token.strip().splitlines()[-1]}"}

    with serving(environment, tmp_path) as base, httpx.Client(base_url=base, headers=headers) as client:
        # The demo's own crossings (Acme low, Initech depleted and overrun) were raised at start-up.
        raised = wait_until(
            lambda: (
                len(
                    graphql(client, "{ notifications { edges { node { deliveredAt } } } }")["notifications"][
                        "edges"
                    ]
                )
                >= 4
            ),
            timeout=30,
            what="the demo's notifications",
        )
        assert raised

        # Every job the demo left (its evaluations and their deliveries) has run before the
        # webhook exists: a seeded notification delivered later would reach it too.
        def outbox_idle() -> bool:
            waiting = "{ p: jobs(status: PENDING) { totalCount } s: jobs(status: SENT) { totalCount }"
            waiting += " r: jobs(status: RUNNING) { totalCount } }"
            return not any(count["totalCount"] for count in graphql(client, waiting).values())

        wait_until(outbox_idle, timeout=30, what="the demo's jobs to finish")
        seeded = graphql(
            client,
            "{ notifications { edges { node { kind deliveredAt agreement { company { identifier } } } } } }",
        )["notifications"]["edges"]
        assert sorted(
            (n["node"]["agreement"]["company"]["identifier"], n["node"]["kind"]) for n in seeded
        ) == [
            ("ACME", "LOW_BALANCE"),
            ("INITECH", "DEPLETED"),
            ("INITECH", "LOW_BALANCE"),
            ("INITECH", "OVERRUN"),
        ]

        graphql(
            client,
            "mutation($input: RegisterWebhookInput!) { registerWebhook(input: $input) { id } }",
            input={"url": webhook.url, "secret": SECRET},
        )
        ids = graphql(
            client,
            "{ companies { id identifier } workTypes { id name } workRoles { id name }"
            " agreements { edges { node { id company { identifier } } } } }",
        )
        acme = next(c["id"] for c in ids["companies"] if c["identifier"] == "ACME")
        agreement = next(
            a["node"]["id"]
            for a in ids["agreements"]["edges"]
            if a["node"]["company"]["identifier"] == "ACME"
        )
        remote = next(t["id"] for t in ids["workTypes"] if t["name"] == "Remote")
        engineer = next(r["id"] for r in ids["workRoles"] if r["name"] == "Engineer")

        # A purchase re-arms the alert (1.50 + 10 = 11.50 h); 10 h of work crosses the 2 h threshold again.
        graphql(
            client,
            "mutation($input: PurchaseBlockInput!) { purchaseBlock(input: $input) { id } }",
            input={"agreementId": agreement, "units": "10", "unitPrice": "140.00"},
        )
        logged = graphql(
            client,
            "mutation($input: LogTimeInput!) { logTime(input: $input) {"
            " coverage agreement { balance { unitsRemaining isLow } } } }",
            input={
                "companyId": acme,
                "workTypeId": remote,
                "workRoleId": engineer,
                "date": dt.datetime.now(dt.UTC).date().isoformat(),
                "hours": "10",
            },
        )["logTime"]
        assert logged == {
            "coverage": "COVERED",
            "agreement": {"balance": {"unitsRemaining": "1.50", "isLow": True}},
        }

        posts = wait_until(webhook.delivered, timeout=30, what="the webhook POST")
        assert len(posts) == 1
        post = posts[0]
        expected = "sha256=" + hmac.new(SECRET.encode(), post.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(post.headers["x-blocktime-signature"], expected)
        assert post.json["kind"] == "LOW_BALANCE"
        assert post.json["unitsRemaining"] == "1.50"

        def delivered_low_balance() -> list[Any]:
            edges = graphql(client, "{ notifications { edges { node { kind deliveredAt } } } }")
            return [
                n
                for n in edges["notifications"]["edges"]
                if n["node"]["kind"] == "LOW_BALANCE" and n["node"]["deliveredAt"]
            ]

        # Only the new one went anywhere: the seeded ones were raised before the webhook existed,
        # with no SMTP, so they have no deliveries and no deliveredAt (SPEC §10). The new one's
        # deliveredAt is committed just after the endpoint answered: wait for it.
        wait_until(
            lambda: len(delivered_low_balance()) == 1, timeout=30, what="deliveredAt on the new notification"
        )
        every = graphql(client, "{ notifications { edges { node { deliveredAt deliveries { status } } } } }")
        assert sorted(
            (bool(n["node"]["deliveredAt"]), [d["status"] for d in n["node"]["deliveries"]])
            for n in every["notifications"]["edges"]
        ) == [(False, [])] * 4 + [(True, ["SENT"])]
    assert len(webhook.delivered()) == 1
