"""Revoking API tokens (SPEC §10); creating them is accounting.access', listing api.read.admin's."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting import access
from accounting.errors import NotFound
from models import ApiToken, utcnow


def revoke_token(session: Session, *, token_id: int) -> ApiToken:
    """From the next request on the token is UNAUTHENTICATED; revoking it again changes nothing."""
    token = session.scalars(
        select(ApiToken)
        .where(ApiToken.id == token_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if token is None:
        raise NotFound("API token", token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
        access.token_revoked(session, token.id)
    return token
