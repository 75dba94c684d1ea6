"""Nothing the API does to be fast may make what a client reads stale (issue 15).

A balance read right after a write sees the write; a token revoked, or removed, is
refused on the very next request. These hold through HTTP, request after request, with
no pause between the write and the read.
"""

from __future__ import annotations

from sqlalchemy import Engine, delete, update

from accounting.access import hash_token
from models import ApiToken, utcnow
from models.db import unit_of_work
from models.enums import Role
from tests.api import scenario
from tests.api.helpers import Client, create_token

BALANCE = "query($id: ID!) { agreement(id: $id) { balance { unitsRemaining deferredRevenue isLow } } }"
LOG_TIME = (
    "mutation($input: LogTimeInput!) { logTime(input: $input) "
    "{ id unitsApplied agreement { balance { unitsRemaining } } } }"
)
AGREEMENTS = "{ agreements(first: 1) { edges { node { id } } } }"


async def test_a_balance_read_right_after_a_write_sees_it(db: Engine, admin: Client) -> None:
    world = scenario.build(db)
    portal = admin.as_(create_token(db, Role.CUSTOMER, company_id=int(world.acme.company_id)))
    technician = admin.as_(create_token(db, Role.TECHNICIAN))
    before = (await portal.data(BALANCE, id=world.acme.agreement_id))["agreement"]["balance"]
    assert before == {"unitsRemaining": "1.00", "deferredRevenue": "150.00", "isLow": True}

    for hours, remaining, deferred in (("0.25", "0.75", "112.50"), ("0.50", "0.25", "37.50")):
        logged = await technician.data(
            LOG_TIME,
            input={
                "companyId": world.acme.company_id,
                "agreementId": world.acme.agreement_id,
                "workTypeId": world.remote_id,
                "workRoleId": world.engineer_id,
                "date": "2026-01-06",
                "hours": hours,
            },
        )
        assert logged["logTime"]["unitsApplied"] == hours
        assert logged["logTime"]["agreement"]["balance"]["unitsRemaining"] == remaining
        after = (await portal.data(BALANCE, id=world.acme.agreement_id))["agreement"]["balance"]
        assert after == {"unitsRemaining": remaining, "deferredRevenue": deferred, "isLow": True}


async def test_a_revoked_or_removed_token_is_refused_on_the_next_request(db: Engine, admin: Client) -> None:
    for change in ("revoke", "delete"):
        secret = create_token(db, Role.ACCOUNTANT, name=f"to {change}")
        client = admin.as_(secret)
        for _ in range(3):  # used, and used again: whatever a lookup could remember
            assert (await client.post(AGREEMENTS)).status_code == 200
        with unit_of_work(db) as session:
            token = ApiToken.token_hash == hash_token(secret)
            if change == "revoke":
                session.execute(update(ApiToken).where(token).values(revoked_at=utcnow()))
            else:
                session.execute(delete(ApiToken).where(token))
        response = await client.post(AGREEMENTS)
        assert response.status_code == 401, (change, response.text)
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert (await admin.post(AGREEMENTS)).status_code == 200  # the others' tokens still work
