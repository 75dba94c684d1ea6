"""The chart of accounts and GL mappings, resolved most specific first (SPEC §4)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounting.errors import Conflict, InvalidInput, NotFound
from accounting.validation import NAME_LENGTH, one_line, optional_text, require_text
from models import AgreementType, GLAccount, GLMapping
from models.enums import AccountType, MappingKind

SINGLE_ACCOUNT_KINDS = (MappingKind.ACCOUNTS_RECEIVABLE, MappingKind.SERVICE_REVENUE, MappingKind.BREAKAGE)


def _as_exported(value: str, field: str, *, max_length: int) -> str:
    """The text rule, then the text as the exports print it (one line, single spaces), so that
    two accounts the files would show alike cannot both exist (IIF and QuickBooks Online
    name accounts by name, Xero by code)."""
    checked = require_text(value, field, max_length=max_length)
    return require_text(one_line(checked), field, max_length=max_length)


def create_gl_account(session: Session, *, code: str, name: str, type: AccountType) -> GLAccount:
    code = _as_exported(code, "code", max_length=32)
    if session.scalar(select(GLAccount.id).where(GLAccount.code == code)) is not None:
        raise Conflict(f"a GL account with code {code} exists")
    name = _as_exported(name, "name", max_length=NAME_LENGTH)
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


_SINGLE_ACCOUNT_TYPES = {
    MappingKind.ACCOUNTS_RECEIVABLE: (AccountType.ASSET, "accounts receivable"),
    MappingKind.SERVICE_REVENUE: (AccountType.REVENUE, "service revenue"),
    MappingKind.BREAKAGE: (AccountType.REVENUE, "breakage"),
}


def reversing(name: str) -> str:
    return f"the deferred revenue of {name} (it reverses revenue when applied)"


def not_reversing(name: str) -> str:
    return f"the revenue of {name} (it does not reverse revenue when applied)"


def required_account_type(kind: MappingKind, agreement_type: AgreementType | None) -> tuple[AccountType, str]:
    """The account type a mapping must point at, and why (SPEC §10).

    AR an ASSET; service revenue and breakage REVENUE; an agreement type's mapping a
    LIABILITY when the type reverses revenue when applied, else REVENUE; the default
    AGREEMENT_TYPE mapping and PRODUCT_CATEGORY mappings (deferred blocks) a LIABILITY.
    """
    if kind in _SINGLE_ACCOUNT_TYPES:
        return _SINGLE_ACCOUNT_TYPES[kind]
    if agreement_type is not None and not agreement_type.reverse_revenue_when_applied:
        return AccountType.REVENUE, not_reversing(f"agreement type '{agreement_type.name}'")
    if agreement_type is not None:
        return AccountType.LIABILITY, reversing(f"agreement type '{agreement_type.name}'")
    if kind is MappingKind.PRODUCT_CATEGORY:
        return AccountType.LIABILITY, "the deferred revenue of a block bought in a product category"
    return AccountType.LIABILITY, "the default mapping (deferred revenue of types that reverse revenue)"


def delete_gl_mapping(session: Session, *, mapping_id: int) -> GLMapping:
    """Remove a mapping; entries already posted keep their accounts (SPEC §10)."""
    mapping = session.get(GLMapping, mapping_id)
    if mapping is None:
        raise NotFound("GL mapping", mapping_id)
    session.delete(mapping)
    session.flush()
    return mapping


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
    account = session.get(GLAccount, account_id)
    if account is None:
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
    agreement_type = None
    if agreement_type_id is not None:
        agreement_type = session.get(AgreementType, agreement_type_id)
        if agreement_type is None:
            raise NotFound("agreement type", agreement_type_id)
    expected, why = required_account_type(kind, agreement_type)
    if account.type is not expected:
        raise InvalidInput(
            f"{kind.value} mapping: account {account.code} {account.name} is {_a(account.type.value)} "
            f"account; {why} needs {_a(expected.value)} account"
        )
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
    accounts: dict[int, GLAccount] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session) -> MappingResolver:
        return cls(
            by_key={m.scope_key: m.account_id for m in session.scalars(select(GLMapping))},
            type_names={t.id: t.name for t in session.scalars(select(AgreementType))},
            accounts={a.id: a for a in session.scalars(select(GLAccount))},
        )

    def single(self, kind: MappingKind) -> int | str:
        """The account id, or a description of the missing mapping."""
        return self.by_key.get(scope_key(kind, None, None, None), kind.value)

    def _type_mapping(self, agreement_type_id: int) -> tuple[int, str] | None:
        name = self.type_names.get(agreement_type_id, str(agreement_type_id))
        account = self.by_key.get(scope_key(MappingKind.AGREEMENT_TYPE, agreement_type_id, None, None))
        if account is not None:
            return account, f"AGREEMENT_TYPE for agreement type '{name}'"
        account = self.by_key.get(scope_key(MappingKind.AGREEMENT_TYPE, None, None, None))
        if account is not None:
            return account, f"the default AGREEMENT_TYPE mapping (used for agreement type '{name}')"
        return None

    def agreement_type(self, agreement_type_id: int) -> int | str:
        found = self._type_mapping(agreement_type_id)
        if found is None:
            name = self.type_names.get(agreement_type_id, str(agreement_type_id))
            return f"AGREEMENT_TYPE for agreement type '{name}' (or a default AGREEMENT_TYPE mapping)"
        return found[0]

    def _category_mapping(self, category: str, subcategory: str | None) -> tuple[int, str] | None:
        if subcategory is not None:
            account = self.by_key.get(scope_key(MappingKind.PRODUCT_CATEGORY, None, category, subcategory))
            if account is not None:
                return account, f"PRODUCT_CATEGORY for category '{category}/{subcategory}'"
        account = self.by_key.get(scope_key(MappingKind.PRODUCT_CATEGORY, None, category, None))
        if account is not None:
            return account, f"PRODUCT_CATEGORY for category '{category}'"
        return None

    def deferred(self, agreement_type_id: int, category: str | None, subcategory: str | None) -> int | str:
        """A block's account: category+subcategory, category, agreement type, default."""
        if category is not None:
            found = self._category_mapping(category, subcategory)
            if found is not None:
                return found[0]
            fallback = self.agreement_type(agreement_type_id)
            if isinstance(fallback, str):
                scope = f"{category}/{subcategory}" if subcategory else category
                return f"PRODUCT_CATEGORY for category '{scope}' or {fallback}"
            return fallback
        return self.agreement_type(agreement_type_id)

    def mapping_name(
        self,
        kind: MappingKind,
        agreement_type_id: int | None = None,
        category: str | None = None,
        subcategory: str | None = None,
    ) -> str:
        """Which mapping a resolution used, in words (for a batch's error)."""
        if kind is MappingKind.PRODUCT_CATEGORY and category is not None:
            found = self._category_mapping(category, subcategory)
            if found is not None:
                return found[1]
        if kind in (MappingKind.AGREEMENT_TYPE, MappingKind.PRODUCT_CATEGORY) and agreement_type_id:
            found = self._type_mapping(agreement_type_id)
            if found is not None:
                return found[1]
        return f"the {kind.value} mapping"

    def wrong_type(self, account_id: int, expected: AccountType, mapping: str, why: str) -> str | None:
        """None when the account is of the expected type; else what is wrong, naming the mapping."""
        account = self.accounts.get(account_id)
        if account is None or account.type is expected:
            return None
        return (
            f"{mapping} points at {account.code} {account.name}, {_a(account.type.value)} account; "
            f"{why} needs {_a(expected.value)} account"
        )


def _a(word: str) -> str:
    """'an ASSET', 'a LIABILITY': the article an account type takes in a message."""
    return f"{'an' if word[:1] in 'AEIOU' else 'a'} {word}"
