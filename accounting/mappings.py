"""The chart of accounts and GL mappings, resolved most specific first (SPEC §4)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounting.errors import Conflict, InvalidInput, NotFound
from accounting.validation import optional_text, require_text
from models import AgreementType, GLAccount, GLMapping
from models.enums import AccountType, MappingKind

SINGLE_ACCOUNT_KINDS = (MappingKind.ACCOUNTS_RECEIVABLE, MappingKind.SERVICE_REVENUE, MappingKind.BREAKAGE)


def create_gl_account(session: Session, *, code: str, name: str, type: AccountType) -> GLAccount:
    code = require_text(code, "code", max_length=32)
    if session.scalar(select(GLAccount.id).where(GLAccount.code == code)) is not None:
        raise Conflict(f"a GL account with code {code} exists")
    name = require_text(name, "name")
    same_name = session.scalar(select(GLAccount.code).where(func.lower(GLAccount.name) == name.lower()))
    if same_name is not None:
        # The IIF export names accounts by name (QuickBooks compares them ignoring case).
        raise InvalidInput(f"name {name!r} is already GL account {same_name}'s name")
    account = GLAccount(code=code, name=name, type=type)
    session.add(account)
    session.flush()
    return account


def scope_key(
    kind: MappingKind, agreement_type_id: int | None, category: str | None, subcategory: str | None
) -> str:
    return f"{kind.value}|{agreement_type_id or ''}|{category or ''}|{subcategory or ''}"


def set_gl_mapping(
    session: Session,
    *,
    kind: MappingKind,
    account_id: int,
    agreement_type_id: int | None = None,
    category: str | None = None,
    subcategory: str | None = None,
) -> GLMapping:
    """Create or replace the mapping of one scope (kind, agreement type, category)."""
    category = optional_text(category, "category")
    subcategory = optional_text(subcategory, "subcategory")
    if session.get(GLAccount, account_id) is None:
        raise NotFound("GL account", account_id)
    if kind in SINGLE_ACCOUNT_KINDS and (agreement_type_id or category or subcategory):
        raise InvalidInput(f"a {kind.value} mapping takes no agreement type or category")
    if kind is MappingKind.AGREEMENT_TYPE and (category or subcategory):
        raise InvalidInput("an AGREEMENT_TYPE mapping takes no category (use PRODUCT_CATEGORY)")
    if kind is MappingKind.PRODUCT_CATEGORY:
        if category is None:
            raise InvalidInput("a PRODUCT_CATEGORY mapping needs a category")
        if agreement_type_id is not None:
            raise InvalidInput("a PRODUCT_CATEGORY mapping takes no agreement type")
    if agreement_type_id is not None and session.get(AgreementType, agreement_type_id) is None:
        raise NotFound("agreement type", agreement_type_id)
    key = scope_key(kind, agreement_type_id, category, subcategory)
    mapping = session.scalars(select(GLMapping).where(GLMapping.scope_key == key)).first()
    if mapping is None:
        mapping = GLMapping(
            kind=kind,
            agreement_type_id=agreement_type_id,
            category=category,
            subcategory=subcategory,
            scope_key=key,
            account_id=account_id,
        )
        session.add(mapping)
    else:
        mapping.account_id = account_id
    session.flush()
    return mapping


@dataclass
class MappingResolver:
    """Resolves accounts from one snapshot of the mappings; collects what is missing."""

    by_key: dict[str, int]
    type_names: dict[int, str]

    @classmethod
    def load(cls, session: Session) -> MappingResolver:
        return cls(
            by_key={m.scope_key: m.account_id for m in session.scalars(select(GLMapping))},
            type_names={t.id: t.name for t in session.scalars(select(AgreementType))},
        )

    def single(self, kind: MappingKind) -> int | str:
        """The account id, or a description of the missing mapping."""
        return self.by_key.get(scope_key(kind, None, None, None), kind.value)

    def agreement_type(self, agreement_type_id: int) -> int | str:
        account = self.by_key.get(scope_key(MappingKind.AGREEMENT_TYPE, agreement_type_id, None, None))
        if account is None:
            account = self.by_key.get(scope_key(MappingKind.AGREEMENT_TYPE, None, None, None))
        if account is None:
            name = self.type_names.get(agreement_type_id, str(agreement_type_id))
            return f"AGREEMENT_TYPE for agreement type '{name}' (or a default AGREEMENT_TYPE mapping)"
        return account

    def deferred(self, agreement_type_id: int, category: str | None, subcategory: str | None) -> int | str:
        """A block's account: category+subcategory, category, agreement type, default."""
        if category is not None:
            if subcategory is not None:
                account = self.by_key.get(
                    scope_key(MappingKind.PRODUCT_CATEGORY, None, category, subcategory)
                )
                if account is not None:
                    return account
            account = self.by_key.get(scope_key(MappingKind.PRODUCT_CATEGORY, None, category, None))
            if account is not None:
                return account
            fallback = self.agreement_type(agreement_type_id)
            if isinstance(fallback, str):
                scope = f"{category}/{subcategory}" if subcategory else category
                return f"PRODUCT_CATEGORY for category '{scope}' or {fallback}"
            return fallback
        return self.agreement_type(agreement_type_id)
