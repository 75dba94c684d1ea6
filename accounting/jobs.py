"""Follow-up work written to the outbox in the caller's transaction (SPEC §7).

Deciding that a job is due is a business rule and lives here; delivering it to
the broker is the relay's business (workers/).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, insert
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


# session.info: the actors of the jobs the transaction wrote, in order (api/ counts them
# once it commits; a savepoint rolled back takes its own off with forget_enqueued_since).
ENQUEUED = "blocktime.enqueued"
_OUTBOX = cast(Table, OutboxJob.__table__)
_INSERT = insert(_OUTBOX)  # built once, with its cache key


def enqueue(session: Session, actor: str, **kwargs: Any) -> OutboxJob:
    """One job, as a row of the session (its id and status are read back by the caller)."""
    if actor not in ACTORS:
        raise ValueError(f"unknown actor {actor}")
    job = OutboxJob(actor=actor, args=json.dumps(kwargs, sort_keys=True, default=str))
    session.add(job)
    session.flush()
    _written(session, [actor])
    return job


def enqueue_many(session: Session, actor: str, arguments: Sequence[dict[str, Any]]) -> None:
    """One job per set of arguments, written in one Core statement and not read back (runs
    over thousands of rows; logTime's one balance evaluation, without a flush of its own)."""
    if actor not in ACTORS:
        raise ValueError(f"unknown actor {actor}")
    if not arguments:
        return
    rows = [{"actor": actor, "args": json.dumps(a, sort_keys=True, default=str)} for a in arguments]
    session.execute(_INSERT, rows)
    _written(session, [actor] * len(rows))


def _written(session: Session, actors: list[str]) -> None:
    session.info.setdefault(ENQUEUED, []).extend(actors)
    session.info["jobs_enqueued"] = True


def enqueued(session: Session) -> list[str]:
    """The actors of the jobs written in the session's transaction so far."""
    written: list[str] = session.info.get(ENQUEUED, [])
    return written


def forget_enqueued_since(session: Session, count: int) -> None:
    """A savepoint rolled back: the jobs written in it, after the first `count`, are gone."""
    del session.info.get(ENQUEUED, [])[count:]
