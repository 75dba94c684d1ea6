"""The audit trail: who (token name and role) did what to which object, when."""

from __future__ import annotations

import json
from typing import Any, cast

from sqlalchemy import Table, func, insert
from sqlalchemy.orm import Session

from accounting.access import Principal
from models import AuditEntry
from models.db import TRANSACTION_ID

_INSERT = insert(cast(Table, AuditEntry.__table__))  # built once, with its cache key
# On PostgreSQL the row comes back with the transaction's id, which the unit of work would
# otherwise ask for in a statement of its own before COMMIT (models.db.unit_of_work).
_INSERT_WITH_XID = _INSERT.returning(func.txid_current())


def record(
    session: Session,
    principal: Principal,
    *,
    action: str,
    object_type: str,
    object_id: int | str | None,
    details: dict[str, Any] | None = None,
) -> None:
    """One audit row, written at once with a Core INSERT: nothing reads it back in the
    transaction, and an ORM object would cost every mutation one more flush (issue 15)."""
    row = {
        "actor_name": principal.name,
        "actor_role": principal.role.value,
        "action": action,
        "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "details": json.dumps(details, sort_keys=True, default=str) if details else None,
    }
    if session.get_bind().dialect.name == "postgresql":
        session.info[TRANSACTION_ID] = session.execute(_INSERT_WITH_XID, row).scalar_one()
    else:
        session.execute(_INSERT, row)
