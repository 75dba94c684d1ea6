"""Follow-up work written to the outbox in the caller's transaction (SPEC §7).

Deciding that a job is due is a business rule and lives here; delivering it to
the broker is the relay's business (workers/).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from models import OutboxJob

RUN_BILLING = "billing.run"
POST_BATCH = "batches.post"
EXPIRE_BLOCKS = "blocks.expire"
RENEW_ALLOWANCES = "allowances.renew"
EVALUATE_BALANCE = "notifications.evaluate"
DELIVER_NOTIFICATION = "notifications.deliver"
# One channel (a webhook or the billing e-mail) of one notification, retried on its own.
SEND_DELIVERY = "deliveries.send"

ACTORS = (
    RUN_BILLING,
    POST_BATCH,
    EXPIRE_BLOCKS,
    RENEW_ALLOWANCES,
    EVALUATE_BALANCE,
    DELIVER_NOTIFICATION,
    SEND_DELIVERY,
)


def enqueue(session: Session, actor: str, **kwargs: Any) -> OutboxJob:
    if actor not in ACTORS:
        raise ValueError(f"unknown actor {actor}")
    job = OutboxJob(actor=actor, args=json.dumps(kwargs, sort_keys=True, default=str))
    session.add(job)
    session.flush()
    session.info["jobs_enqueued"] = True
    return job


def enqueue_many(session: Session, actor: str, arguments: Sequence[dict[str, Any]]) -> None:
    """One job per set of arguments, written in one statement (runs over thousands of rows)."""
    if actor not in ACTORS:
        raise ValueError(f"unknown actor {actor}")
    if not arguments:
        return
    rows = [{"actor": actor, "args": json.dumps(a, sort_keys=True, default=str)} for a in arguments]
    session.execute(insert(OutboxJob), rows)
    session.info["jobs_enqueued"] = True
