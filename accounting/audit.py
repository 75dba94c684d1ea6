"""The audit trail: who (token name and role) did what to which object, when."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from accounting.access import Principal
from models import AuditEntry


def record(
    session: Session,
    principal: Principal,
    *,
    action: str,
    object_type: str,
    object_id: int | str | None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        actor_name=principal.name,
        actor_role=principal.role.value,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        details=json.dumps(details, sort_keys=True, default=str) if details else None,
    )
    session.add(entry)
    return entry
