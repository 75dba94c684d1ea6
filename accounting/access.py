"""API tokens and who may do what (SPEC §6)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting.errors import Forbidden, InvalidInput, Unauthenticated
from accounting.validation import require_text
from models import ApiToken, Company
from models.enums import Role

TOKEN_PREFIX = "bt_"  # noqa: S105 - a visible prefix, not a secret


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name and role, and a CUSTOMER's company."""

    token_id: int | None
    name: str
    role: Role
    company_id: int | None = None

    @property
    def is_customer(self) -> bool:
        return self.role is Role.CUSTOMER


SYSTEM = Principal(token_id=None, name="system", role=Role.ADMIN)


def create_token(
    session: Session,
    *,
    role: Role,
    name: str,
    company_id: int | None = None,
    company_identifier: str | None = None,
) -> tuple[ApiToken, str]:
    """A random token, stored hashed; the secret is returned once and never again."""
    name = require_text(name, "name")
    if company_identifier is not None:
        company_id = session.scalar(select(Company.id).where(Company.identifier == company_identifier))
        if company_id is None:
            raise InvalidInput(f"company {company_identifier} not found")
    elif company_id is not None and session.get(Company, company_id) is None:
        raise InvalidInput(f"company {company_id} not found")
    if role is Role.CUSTOMER and company_id is None:
        raise InvalidInput("a CUSTOMER token must name its company")
    if role is not Role.CUSTOMER and company_id is not None:
        raise InvalidInput("only CUSTOMER tokens are bound to a company")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, role=role, company_id=company_id, token_hash=hash_token(secret))
    session.add(token)
    session.flush()
    return token, secret


def authenticate(session: Session, secret: str | None) -> Principal:
    if not secret:
        raise Unauthenticated("an Authorization: Bearer <token> header is required")
    token = session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(secret))).first()
    if token is None or token.revoked_at is not None:
        raise Unauthenticated("the token is not valid")
    return Principal(token_id=token.id, name=token.name, role=token.role, company_id=token.company_id)


# What each role may do beyond reading its own data (SPEC §6).
STAFF = frozenset({Role.ADMIN, Role.ACCOUNTANT, Role.TECHNICIAN})
BACK_OFFICE = frozenset({Role.ADMIN, Role.ACCOUNTANT})
ADMINS = frozenset({Role.ADMIN})


def require(principal: Principal, roles: frozenset[Role], action: str) -> None:
    if principal.role not in roles:
        raise Forbidden(f"{principal.role.value} tokens may not {action}")
