"""Idempotency keys: the same key and input return the first result (contract)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting.errors import Conflict
from accounting.validation import clean_text
from models import IdempotencyKey


def fingerprint(operation: str, payload: dict[str, Any]) -> str:
    body = json.dumps({"operation": operation, "input": payload}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def once(
    session: Session, *, operation: str, key: str | None, payload: dict[str, Any], create: Callable[[], int]
) -> tuple[int, bool]:
    """Run `create` once per (operation, key); returns (result id, created now).

    The key row is inserted in the caller's transaction, so a concurrent request
    with the same key waits on (or fails against) the unique index; the caller
    retries once and then finds the first result.
    """
    if key is None:
        return create(), True
    key = clean_text(key, "idempotencyKey", max_length=200)
    print_ = fingerprint(operation, payload)
    existing = session.scalars(
        select(IdempotencyKey).where(IdempotencyKey.operation == operation, IdempotencyKey.key == key)
    ).first()
    if existing is not None:
        if existing.fingerprint != print_:
            raise Conflict(f"idempotencyKey {key!r} was used with different input")
        return existing.result_id, False
    result_id = create()
    session.add(IdempotencyKey(operation=operation, key=key, fingerprint=print_, result_id=result_id))
    session.flush()
    return result_id, True
