"""Per-operation batch loaders: no N+1 on the synchronous execution path.

strawberry's DataLoader is async-only, and graphql-core resolves a sync query
depth first, so batching by "collect keys, then resolve" never sees the siblings.
Instead, whenever rows become GraphQL objects (a root list, or a loader's result),
`Loaders.register` announces the keys of every relation those rows may need.
The first field that asks for one relation loads it for all announced keys in
one query; every later sibling finds its value in the cache. A page of any size
therefore costs one statement per relation and level.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from accounting import agreements, allowances, queries
from accounting.access import Principal
from models import (
    Addition,
    Agreement,
    AgreementType,
    ApiToken,
    Company,
    GLAccount,
    GLMapping,
    Invoice,
    JournalBatch,
    JournalEntry,
    JournalLine,
    Notification,
    NotificationDelivery,
    TimeEntry,
    WorkRole,
    WorkType,
)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Loader(Generic[K, V]):
    """Loads every pending key at the first request for any of them, then caches."""

    def __init__(
        self,
        fetch: Callable[[list[K]], Mapping[K, V]],
        *,
        missing: Callable[[], V],
        on_loaded: Callable[[Iterable[Any]], None],
        flatten: bool = False,
    ) -> None:
        self._fetch = fetch
        self._missing = missing
        self._on_loaded = on_loaded
        self._flatten = flatten
        self._cache: dict[K, V] = {}
        self._pending: set[K] = set()

    def want(self, keys: Iterable[K | None]) -> None:
        self._pending.update(k for k in keys if k is not None and k not in self._cache)

    def prime(self, values: Iterable[tuple[K, V]]) -> None:
        """Cache rows already at hand (a root list's), so asking for them again costs nothing."""
        for key, value in values:
            self._cache.setdefault(key, value)
            self._pending.discard(key)

    def load(self, key: K) -> V:
        if key not in self._cache:
            self._pending.add(key)
            keys = sorted(self._pending)  # type: ignore[type-var]
            self._pending.clear()
            found = self._fetch(keys)
            for k in keys:
                self._cache[k] = found[k] if k in found else self._missing()
            rows = (
                [row for value in found.values() for row in value] if self._flatten else list(found.values())
            )
            self._on_loaded(rows)
        return self._cache[key]

    def one(self, key: K) -> V:
        """A row a non-null foreign key (ON DELETE RESTRICT) points at: it exists."""
        value = self.load(key)
        if value is None:
            raise LookupError(f"row {key} referenced by a foreign key is missing")
        return value

    def clear(self) -> None:
        self._cache.clear()
        self._pending.clear()


class Loaders:
    """Every relation of the graph, loaded in batches within one operation."""

    def __init__(self, *, session: Callable[[], Session], principal: Callable[[], Principal]) -> None:
        self._session = session
        self._principal = principal
        self._agreements: dict[int, Agreement] = {}

        def by_id(model: type[Any]) -> Loader[int, Any]:
            return Loader(
                lambda ids: queries.by_ids(session(), model, ids),
                missing=lambda: None,
                on_loaded=self.register,
            )

        def many(fetch: Callable[[Session, list[int]], Mapping[int, list[Any]]]) -> Loader[int, list[Any]]:
            return Loader(
                lambda ids: fetch(session(), ids), missing=list, on_loaded=self.register, flatten=True
            )

        def scoped(
            fetch: Callable[[Session, Principal, list[int]], Mapping[int, Any]], *, flatten: bool
        ) -> Loader:
            return Loader(
                lambda ids: fetch(session(), principal(), ids),
                missing=list if flatten else lambda: None,
                on_loaded=self.register,
                flatten=flatten,
            )

        self.company: Loader[int, Company | None] = by_id(Company)
        self.agreement: Loader[int, Agreement | None] = by_id(Agreement)
        self.agreement_type: Loader[int, AgreementType | None] = by_id(AgreementType)
        self.work_type: Loader[int, WorkType | None] = by_id(WorkType)
        self.work_role: Loader[int, WorkRole | None] = by_id(WorkRole)
        self.gl_account: Loader[int, GLAccount | None] = by_id(GLAccount)
        self.invoice: Loader[int, Invoice | None] = scoped(queries.invoices_by_ids, flatten=False)
        self.journal_batch: Loader[int, JournalBatch | None] = scoped(
            queries.journal_batches_by_ids, flatten=False
        )

        self.agreements_of_company: Loader[int, list[Agreement]] = scoped(
            queries.agreements_of_companies, flatten=True
        )
        self.time_entries_of_agreement: Loader[int, list[TimeEntry]] = scoped(
            queries.time_entries_of_agreements, flatten=True
        )
        self.invoices_of_agreement: Loader[int, list[Invoice]] = scoped(
            queries.invoices_of_agreements, flatten=True
        )
        self.deliveries_of_notification: Loader[int, list[NotificationDelivery]] = scoped(
            queries.deliveries_of_notifications, flatten=True
        )
        self.additions_of_agreement = many(queries.additions_of_agreements)
        self.adjustments_of_agreement = many(queries.adjustments_of_agreements)
        self.lots_of_agreement = many(queries.lots_of_agreements)
        self.allowance_of_agreement = many(allowances.allowances_of_agreements)
        self.lines_of_invoice = many(queries.lines_of_invoices)
        self.entries_of_batch = many(queries.entries_of_batches)
        self.lines_of_entry = many(queries.lines_of_entries)
        self.excluded_work_types = many(queries.excluded_work_types)
        self.excluded_work_roles = many(queries.excluded_work_roles)

        self.balance: Loader[int, agreements.Balance] = Loader(
            self._balances,
            missing=lambda: None,
            on_loaded=lambda _rows: None,  # type: ignore[arg-type,return-value]
        )
        self.account_balance: Loader[int, Any] = Loader(
            lambda ids: queries.account_balances(session(), principal(), ids),
            missing=lambda: None,
            on_loaded=lambda _rows: None,
        )
        self._all = [value for value in vars(self).values() if isinstance(value, Loader)]
        self._balances_on: dict[dt.date, Loader[int, agreements.Balance]] = {}
        self._by_id: dict[type, Loader[int, Any]] = {
            Company: self.company,
            Agreement: self.agreement,
            AgreementType: self.agreement_type,
            WorkType: self.work_type,
            WorkRole: self.work_role,
            GLAccount: self.gl_account,
            Invoice: self.invoice,
            JournalBatch: self.journal_batch,
        }
        self._registrars: dict[type, Callable[[list[Any]], None]] = {
            Company: self._companies,
            Agreement: self._agreements_registered,
            AgreementType: self._agreement_types,
            Addition: self._additions,
            TimeEntry: self._time_entries,
            Invoice: self._invoices,
            JournalBatch: lambda rows: self.entries_of_batch.want(r.id for r in rows),
            JournalEntry: lambda rows: self.lines_of_entry.want(r.id for r in rows),
            JournalLine: lambda rows: self.gl_account.want(r.account_id for r in rows),
            GLAccount: lambda rows: self.account_balance.want(r.id for r in rows),
            GLMapping: self._mappings,
            Notification: self._notifications,
            ApiToken: lambda rows: self.company.want(r.company_id for r in rows),
        }

    def register(self, rows: Iterable[Any]) -> None:
        """Announce the relations of rows about to become GraphQL objects."""
        by_type: dict[type, list[Any]] = defaultdict(list)
        for row in rows:
            if row is not None:
                by_type[type(row)].append(row)
        for model, group in by_type.items():
            if model in self._by_id:
                self._by_id[model].prime((row.id, row) for row in group)
            registrar = self._registrars.get(model)
            if registrar is not None:
                registrar(group)

    def clear(self) -> None:
        """Forget everything loaded: a mutation is about to change it."""
        for loader in self._all:
            loader.clear()
        self._agreements.clear()
        self._balances_on.clear()

    # --- what each kind of row may need ----------------------------------------------

    def _companies(self, rows: list[Company]) -> None:
        self.agreements_of_company.want(r.id for r in rows)

    def _agreements_registered(self, rows: list[Agreement]) -> None:
        self._agreements.update((r.id, r) for r in rows)
        ids = [r.id for r in rows]
        self.company.want(r.company_id for r in rows)
        self.agreement_type.want(r.agreement_type_id for r in rows)
        for loader in (
            self.balance,
            self.time_entries_of_agreement,
            self.invoices_of_agreement,
            self.additions_of_agreement,
            self.adjustments_of_agreement,
            self.lots_of_agreement,
            self.allowance_of_agreement,
        ):
            loader.want(ids)

    def _agreement_types(self, rows: list[AgreementType]) -> None:
        self.excluded_work_types.want(r.id for r in rows)
        self.excluded_work_roles.want(r.id for r in rows)

    def _additions(self, rows: list[Addition]) -> None:
        self.agreement.want(r.agreement_id for r in rows)
        self.invoice.want(r.invoice_id for r in rows)

    def _time_entries(self, rows: list[TimeEntry]) -> None:
        self.company.want(r.company_id for r in rows)
        self.agreement.want(r.agreement_id for r in rows)
        self.work_type.want(r.work_type_id for r in rows)
        self.work_role.want(r.work_role_id for r in rows)
        self.invoice.want(r.usage_invoice_id for r in rows)
        self.invoice.want(r.standard_invoice_id for r in rows)

    def _invoices(self, rows: list[Invoice]) -> None:
        self.company.want(r.company_id for r in rows)
        self.agreement.want(r.agreement_id for r in rows)
        self.journal_batch.want(r.batch_id for r in rows)
        self.lines_of_invoice.want(r.id for r in rows)

    def _notifications(self, rows: list[Notification]) -> None:
        self.agreement.want(r.agreement_id for r in rows)
        self.deliveries_of_notification.want(r.id for r in rows)

    def _mappings(self, rows: list[GLMapping]) -> None:
        self.agreement_type.want(r.agreement_type_id for r in rows)
        self.gl_account.want(r.account_id for r in rows)

    def _balances(self, ids: list[int], as_of: dt.date | None = None) -> dict[int, agreements.Balance]:
        known = [self._agreements[i] for i in ids if i in self._agreements]
        unknown = [i for i in ids if i not in self._agreements]
        if unknown:
            known += queries.by_ids(self._session(), Agreement, unknown).values()
        return agreements.balances(self._session(), known, as_of=as_of)

    def balance_on(self, day: dt.date) -> Loader[int, agreements.Balance]:
        """Balances on one date for every agreement announced so far, loaded together."""
        loader = self._balances_on.get(day)
        if loader is None:
            loader = Loader(
                lambda ids: self._balances(ids, as_of=day),
                missing=lambda: None,  # type: ignore[arg-type,return-value]
                on_loaded=lambda _rows: None,
            )
            loader.want(self._agreements)
            self._balances_on[day] = loader
        return loader
