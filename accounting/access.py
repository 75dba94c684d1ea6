"""API tokens, who may do what, and which rows a customer sees (SPEC §6)."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, bindparam, event, select
from sqlalchemy.orm import Session

from accounting.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from accounting.validation import require_text
from models import Agreement, ApiToken, Company, Invoice, Model, Notification, TimeEntry
from models.enums import BillableOption, Role

M = TypeVar("M", bound=Model)

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
            raise NotFound("company", company_identifier)
    elif company_id is not None and session.get(Company, company_id) is None:
        raise NotFound("company", company_id)
    if role is Role.CUSTOMER and company_id is None:
        raise InvalidInput("a CUSTOMER token must name its company")
    if role is not Role.CUSTOMER and company_id is not None:
        raise InvalidInput("only CUSTOMER tokens are bound to a company")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, role=role, company_id=company_id, token_hash=hash_token(secret))
    session.add(token)
    session.flush()
    return token, secret


# Built once; a Core statement on the session's connection: every request runs it, and
# an ORM entity (identity map, instance state) would be thrown away at once (issue 15).
_PRINCIPAL_BY_HASH = select(
    ApiToken.id, ApiToken.name, ApiToken.role, ApiToken.company_id, ApiToken.revoked_at
).where(ApiToken.token_hash == bindparam("token_hash"))

# The channel on which a change of a token is announced to every serving process (a trigger's
# NOTIFY, migration 0018; api/revocations.py listens). The payload is the token's id.
REVOCATIONS_CHANNEL = "blocktime_token_revoked"


class PrincipalCache:
    """The principals of tokens seen lately, by token hash, so that a request need not look
    its token up (issue 15: one statement of the three a balance check runs).

    It keeps nothing unless something tells this process of every revocation the moment it
    is committed: `listening()` is called by a listener (api/revocations.py, PostgreSQL's
    LISTEN) once it listens, `deaf()` when it stops or loses its connection; both forget
    everything. Without a listener (SQLite, or `uvicorn` without the app's lifespan) every
    request reads its token. A revocation forgets the token in the revoking process when it
    commits (`token_revoked`), and the database's NOTIFY tells the others.

    Only valid tokens are kept (a flood of made-up ones cannot fill it), at most `capacity`
    (the oldest goes first), each for at most `max_age` seconds: a bound on staleness even
    if a connection were lost unnoticed. Every forgetting moves a generation on, and
    `keep` drops what a lookup read before it: a token read just before its revocation
    committed is not kept after it.
    """

    def __init__(self, *, capacity: int = 10_000, max_age: float = 60.0) -> None:
        self._capacity = capacity
        self._max_age = max_age
        self._lock = threading.Lock()
        self._principals: dict[str, tuple[Principal, float]] = {}
        self._listeners = 0
        self.generation = 0

    def get(self, token_hash: str) -> Principal | None:
        kept = self._principals.get(token_hash)
        if kept is None or time.monotonic() > kept[1]:
            return None
        return kept[0]

    def keep(self, token_hash: str, principal: Principal, generation: int) -> None:
        """Keep what a lookup that began at `generation` read, unless anything was forgotten since."""
        with self._lock:
            if self._listeners == 0 or generation != self.generation:
                return
            if len(self._principals) >= self._capacity:
                del self._principals[next(iter(self._principals))]
            self._principals[token_hash] = (principal, time.monotonic() + self._max_age)

    def forget(self, token_id: int | None = None) -> None:
        """Forget one token (by id), or every one."""
        with self._lock:
            self.generation += 1
            if token_id is None:
                self._principals.clear()
            else:
                for token_hash in [h for h, (p, _) in self._principals.items() if p.token_id == token_id]:
                    del self._principals[token_hash]

    def listening(self) -> None:
        with self._lock:
            self._listeners += 1
        self.forget()

    def deaf(self) -> None:
        with self._lock:
            self._listeners -= 1
        self.forget()

    @property
    def listeners(self) -> int:
        return self._listeners

    def holds(self, token_id: int) -> bool:
        return any(p.token_id == token_id for p, _ in list(self._principals.values()))

    def __len__(self) -> int:
        return len(self._principals)


PRINCIPALS = PrincipalCache()


def authenticate(session: Session, secret: str | None) -> Principal:
    if not secret:
        raise Unauthenticated("an Authorization: Bearer <token> header is required")
    token_hash = hash_token(secret)
    principal = PRINCIPALS.get(token_hash)
    if principal is not None:
        return principal
    generation = PRINCIPALS.generation
    token = session.connection().execute(_PRINCIPAL_BY_HASH, {"token_hash": token_hash}).first()
    if token is None or token.revoked_at is not None:
        raise Unauthenticated("the token is not valid")
    principal = Principal(token_id=token.id, name=token.name, role=token.role, company_id=token.company_id)
    PRINCIPALS.keep(token_hash, principal, generation)
    return principal


def token_revoked(session: Session, token_id: int) -> None:
    """Make a revocation take effect at once in this process: the token is forgotten when the
    session commits, before the answer goes out (a request until then rightly sees it valid;
    what it keeps meanwhile is forgotten with the rest). Every other process hears of it from
    the database: a trigger on api_token NOTIFYs any change of a token row at its COMMIT
    (migration 0018)."""
    event.listen(session, "after_commit", lambda _session: PRINCIPALS.forget(token_id), once=True)


# --- the permission table (SPEC §6, part "visibility"; CONVENTIONS.md says how to extend it) ---
#
# Every check of who may do or see what reads the tables below and nothing else:
# api.read (root lists and lookups), api.loaders (the batch loaders), api.transaction
# (every mutation), the document check in api.visibility (every field of every
# document, however deeply nested, before execution) and the resolvers of fields
# hidden as null. A role missing from a set is refused.

EVERYONE = frozenset(Role)
STAFF = frozenset({Role.ADMIN, Role.ACCOUNTANT, Role.TECHNICIAN})
BACK_OFFICE = frozenset({Role.ADMIN, Role.ACCOUNTANT})
ADMINS = frozenset({Role.ADMIN})
CUSTOMER_READS = BACK_OFFICE | {Role.CUSTOMER}  # back office, and a customer its own

# What the read side reads, by name (may_read below).
COMPANIES = "companies"
CATALOG = "work types, work roles and agreement types"
AGREEMENTS = "agreements"
TIME = "time entries"
INVOICES = "invoices"
NOTIFICATIONS = "notifications"
LEDGER = "the ledger"
AUDIT = "the audit trail"
JOBS = "jobs"
ACCESS = "tokens and webhooks"

# TECHNICIAN reads companies, agreements, the catalog and time; CUSTOMER its own
# company's agreements, time, invoices and notifications; ACCOUNTANT and ADMIN all.
READERS: dict[str, frozenset[Role]] = {
    COMPANIES: EVERYONE,
    CATALOG: STAFF,
    AGREEMENTS: EVERYONE,
    TIME: EVERYONE,
    INVOICES: CUSTOMER_READS,
    NOTIFICATIONS: CUSTOMER_READS,
    LEDGER: BACK_OFFICE,
    AUDIT: BACK_OFFICE,
    JOBS: ADMINS,
    ACCESS: ADMINS,
}

# Root operations (query and mutation fields, by their GraphQL names): who may call them.
OPERATIONS: dict[str, frozenset[Role]] = {
    # queries
    "me": EVERYONE,
    "companies": READERS[COMPANIES],
    "company": READERS[COMPANIES],
    "workTypes": READERS[CATALOG],
    "workRoles": READERS[CATALOG],
    "agreementTypes": READERS[CATALOG],
    "agreements": READERS[AGREEMENTS],
    "agreement": READERS[AGREEMENTS],
    "timeEntries": READERS[TIME],
    "invoices": READERS[INVOICES],
    "notifications": READERS[NOTIFICATIONS],
    "glAccounts": READERS[LEDGER],
    "glMappings": READERS[LEDGER],
    "journalBatches": READERS[LEDGER],
    "journalBatch": READERS[LEDGER],
    "trialBalance": READERS[LEDGER],
    "deferredRevenueReconciliation": READERS[LEDGER],
    "auditTrail": READERS[AUDIT],
    "jobs": READERS[JOBS],
    "failedJobs": READERS[JOBS],
    # mutations: ACCOUNTANT all but tokens, TECHNICIAN logs and reverses time, CUSTOMER nothing
    "createCompany": BACK_OFFICE,
    "createWorkType": BACK_OFFICE,
    "createWorkRole": BACK_OFFICE,
    "createGlAccount": BACK_OFFICE,
    "setGlMapping": BACK_OFFICE,
    "postJournalBatch": BACK_OFFICE,
    "createAgreementType": BACK_OFFICE,
    "createAgreement": BACK_OFFICE,
    "cancelAgreement": BACK_OFFICE,
    "purchaseBlock": BACK_OFFICE,
    "adjustAgreement": BACK_OFFICE,
    "expireBlocks": BACK_OFFICE,
    "renewAllowances": BACK_OFFICE,
    "runBilling": BACK_OFFICE,
    "registerWebhook": BACK_OFFICE,
    "logTime": STAFF,
    "reverseTimeEntry": STAFF,
    "createApiToken": ADMINS,
    # part "admin" (SPEC §10): changing what was created is the back office's; tokens,
    # webhooks and retries ADMIN only
    "updateAgreement": BACK_OFFICE,
    "updateAgreementType": BACK_OFFICE,
    "updateCompany": BACK_OFFICE,
    "deleteGlMapping": BACK_OFFICE,
    "revokeApiToken": ADMINS,
    "deleteWebhook": ADMINS,
    "retryJob": ADMINS,
    "retryDelivery": ADMINS,
    # the HTTP probes /metrics and /readyz (api.app): operators only, never a customer
    "metrics and readiness": ADMINS,
    # part time: the books on a date and closed periods (SPEC §8)
    "deferredRevenueRollforward": READERS[LEDGER],
    "closePeriod": BACK_OFFICE,
    # a technician logging back-dated time may ask how far the books are closed
    "closedThrough": STAFF,
    # declared ahead for the parts in flight (admin): staff only
    "apiTokens": READERS[ACCESS],
    "webhooks": READERS[ACCESS],  # SPEC §10: ADMIN only (an accountant may register one, not list them)
}

# Object types that only some roles may read wherever they are reached, at the root or
# through nesting (an invoice's `batch`, say). The MSP's accounting is never a customer's.
TYPES: dict[str, frozenset[Role]] = {
    "JournalBatch": READERS[LEDGER],
    "JournalEntry": READERS[LEDGER],
    "JournalLine": READERS[LEDGER],
    "GLAccount": READERS[LEDGER],
    "GLMapping": READERS[LEDGER],
    "TrialBalanceRow": READERS[LEDGER],
    "DeferredRevenueReconciliation": READERS[LEDGER],
    "AuditEntry": READERS[AUDIT],
    "Job": READERS[JOBS],
    "Webhook": BACK_OFFICE,
    "ApiTokenSecret": READERS[ACCESS],
    "Invoice": READERS[INVOICES],
    "InvoiceLine": READERS[INVOICES],
    "Notification": READERS[NOTIFICATIONS],
    # declared ahead for the parts in flight
    "DeferredRevenueRollforward": READERS[LEDGER],
    "RollforwardRow": READERS[LEDGER],
    "NotificationDelivery": STAFF,
    "ApiToken": READERS[ACCESS],
}


@dataclass(frozen=True)
class FieldRule:
    """Who may read one field of a type others may read; the rest get FORBIDDEN, or null if `as_null`."""

    readers: frozenset[Role]
    as_null: bool = False


# Single fields ("Type.field") narrower than their type. A nullable field hidden as null
# (internalNotes) reads like an empty one; every other hidden field is FORBIDDEN.
FIELDS: dict[str, FieldRule] = {
    # part "visibility": `notes` is the customer's, `internalNotes` staff's
    "TimeEntry.internalNotes": FieldRule(STAFF, as_null=True),
    # the agreement type's accounting flags (SPEC §6)
    "AgreementType.prepaid": FieldRule(STAFF),
    "AgreementType.reverseRevenueWhenApplied": FieldRule(STAFF),
    # the rate card is the catalog, which the root queries keep from customers; a customer
    # reads what its own time was valued at on the entry (`value`) and its invoices
    "WorkRole.hourlyRate": FieldRule(STAFF),
    "WorkType.rateMultiplier": FieldRule(STAFF),
    # part "admin": notification addresses and deliveries are staff's
    "Agreement.notifyEmails": FieldRule(STAFF),
    "Notification.deliveries": FieldRule(STAFF),
}


def require(principal: Principal, roles: frozenset[Role], action: str) -> None:
    if principal.role not in roles:
        raise Forbidden(f"{principal.role.value} tokens may not {action}")


def may_read(principal: Principal, what: str) -> None:
    """FORBIDDEN unless the principal's role reads `what` (READERS)."""
    require(principal, READERS[what], f"read {what}")


# --- a CUSTOMER's company scope (SPEC §6): the one place that says which rows it sees ---

Conditions = tuple[ColumnElement[bool], ...]

# The rows of each model a CUSTOMER reads that are its own, given its company's id. Staff
# see every row. A model missing here is never scoped: reading it as a customer is an error.
# Each takes the company: an id, or a bound parameter in a statement built once (visible_row).
CUSTOMER_ROWS: dict[type[Model], Callable[[Any], Conditions]] = {
    Company: lambda own: (Company.id == own,),
    Agreement: lambda own: (Agreement.company_id == own,),
    # its own company's entries but no DO_NOT_BILL one, in no list, count or lookup
    TimeEntry: lambda own: (
        TimeEntry.company_id == own,
        TimeEntry.billable_option != BillableOption.DO_NOT_BILL,
    ),
    Invoice: lambda own: (Invoice.company_id == own,),
    Notification: lambda own: (
        Notification.agreement_id.in_(select(Agreement.id).where(Agreement.company_id == own)),
    ),
}


def own_company(principal: Principal) -> int | None:
    """The company a CUSTOMER is bound to; None for staff (no restriction)."""
    if principal.role is Role.CUSTOMER:
        if principal.company_id is None:
            raise AssertionError("a CUSTOMER principal without a company")
        return principal.company_id
    return None


def visible(principal: Principal, model: type[Model]) -> Conditions:
    """The WHERE conditions that keep `model`'s rows to those the principal may see."""
    own = own_company(principal)
    return () if own is None else CUSTOMER_ROWS[model](own)


# One statement per (model, bound to a company or not), built with its cache key once:
# a balance check looks one row up per request, and building the statement cost more
# than SQLAlchemy's work to run it (issue 15; the rules are CUSTOMER_ROWS' own).
_ROW_STATEMENTS: dict[tuple[type[Model], bool], Select[Any]] = {}


def _row_statement(model: type[Model], bound: bool) -> Select[Any]:
    stmt = _ROW_STATEMENTS.get((model, bound))
    if stmt is None:
        conditions = CUSTOMER_ROWS[model](bindparam("own")) if bound else ()
        stmt = select(model).where(model.id == bindparam("row_id"), *conditions)
        _ROW_STATEMENTS[(model, bound)] = stmt
    return stmt


def visible_row(session: Session, principal: Principal, model: type[M], row_id: int, *, kind: str) -> M:
    """The row, if the principal may see it: a hidden one is NOT_FOUND, exactly like a missing one."""
    own = own_company(principal)
    stmt = _row_statement(model, own is not None)
    row: M | None = session.scalars(stmt, {"row_id": row_id, "own": own}).first()
    if row is None:
        raise NotFound(kind, row_id)
    return row


def may_use(principal: Principal, operation: str) -> None:
    """FORBIDDEN unless the table lets the principal's role call the root operation."""
    roles = OPERATIONS.get(operation)
    if roles is None:
        raise Forbidden(f"{operation} has no entry in the permission table (accounting/access.py)")
    require(principal, roles, f"use {operation}")


def type_readers(type_name: str) -> frozenset[Role]:
    return TYPES.get(type_name, EVERYONE)


def field_rule(type_name: str, field_name: str) -> FieldRule | None:
    return FIELDS.get(f"{type_name}.{field_name}")


def shows(principal: Principal, type_name: str, field_name: str) -> bool:
    """Whether the principal reads the field's value (False: null, or FORBIDDEN by the document check)."""
    rule = field_rule(type_name, field_name)
    return rule is None or principal.role in rule.readers


def refusal(role: Role, type_name: str, field_name: str, returns: str | None = None) -> str | None:
    """Why a role may not select `type_name.field_name` (returning type `returns`); None if it may.

    Fields hidden as null are not refused: their resolvers answer null.
    """
    if type_name in ("Query", "Mutation"):
        roles = OPERATIONS.get(field_name)
        if roles is not None and role not in roles:
            return f"{role.value} tokens may not {'read' if type_name == 'Query' else 'use'} {field_name}"
    if role not in type_readers(type_name):
        return f"{role.value} tokens may not read {type_name}"
    rule = field_rule(type_name, field_name)
    if rule is not None and not rule.as_null and role not in rule.readers:
        return f"{role.value} tokens may not read {type_name}.{field_name}"
    if returns is not None and role not in type_readers(returns):
        return f"{role.value} tokens may not read {type_name}.{field_name} ({returns})"
    return None
