"""Per-operation batch loaders: no N+1 on the synchronous execution path.

strawberry's DataLoader is async-only, and graphql-core resolves a sync query
depth first, so batching by "collect keys, then resolve" never sees the siblings.
Instead, whenever rows become GraphQL objects (a root list, or a loader's result),
`Loaders.register` announces the keys of every relation those rows may need.
The first field that asks for one relation loads it for all announced keys in
one query; every later sibling finds its value in the cache. A page of any size
therefore costs one statement per relation and level.

Every relation of the graph is one line of `Loaders`: what it loads, by which
foreign key, who may read it (`reads`, accounting.access.READERS) and whether a
CUSTOMER gets only its own company's rows (`scoped`, accounting.access.visible).
Which registered rows announce which keys follows from that line.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Generic, Self, TypeVar, overload

from sqlalchemy import Column, inspect
from sqlalchemy.orm import InstrumentedAttribute, Session

from accounting import agreements
from accounting.access import AGREEMENTS, INVOICES, LEDGER, NOTIFICATIONS, TIME, Principal, may_read, visible
from api.read import batches
from api.read import ledger as read_ledger
from models import (
    Addition,
    Adjustment,
    Agreement,
    AgreementType,
    Allowance,
    ApiToken,
    Company,
    GLAccount,
    GLMapping,
    Invoice,
    InvoiceLine,
    JournalBatch,
    JournalEntry,
    JournalLine,
    Lot,
    Model,
    Notification,
    NotificationDelivery,
    TimeEntry,
    WorkRole,
    WorkType,
    agreement_type_excluded_work_role,
    agreement_type_excluded_work_type,
)

M = TypeVar("M", bound=Model)
V = TypeVar("V")
L = TypeVar("L", bound="Loader[Any]")

Register = Callable[[Iterable[Any]], None]


# --- loaders: one per relation and operation ----------------------------------------------


class Loader(Generic[V]):
    """Loads every pending key at the first request for any of them, then caches."""

    def __init__(self, fetch: Callable[[list[int]], Mapping[int, V]], *, register: Register | None) -> None:
        self._fetch = fetch
        self._register = register
        self._cache: dict[int, V | None] = {}
        self._pending: set[int] = set()

    def want(self, keys: Iterable[int | None]) -> None:
        self._pending.update(k for k in keys if k is not None and k not in self._cache)

    def prime(self, values: Iterable[tuple[int, V]]) -> None:
        """Cache rows already at hand (a root list's), so asking for them again costs nothing."""
        for key, value in values:
            self._cache.setdefault(key, value)
            self._pending.discard(key)

    def get(self, key: int) -> V | None:
        """The value of `key` (None if there is none), loaded together with every pending key."""
        if key not in self._cache:
            self._pending.add(key)
            keys = sorted(self._pending)
            self._pending.clear()
            found = self._fetch(keys)
            for k in keys:
                self._cache[k] = found.get(k)
            if self._register is not None:
                self._register(self._rows(found.values()))
        return self._cache[key]

    def _rows(self, values: Iterable[V]) -> Iterable[Any]:
        return values

    def clear(self) -> None:
        self._cache.clear()
        self._pending.clear()


class RowLoader(Loader[M]):
    """The row a key (a foreign key's value) names."""

    def load(self, key: int) -> M | None:
        return self.get(key)

    def one(self, key: int) -> M:
        """A row a non-null foreign key (ON DELETE RESTRICT) points at: it exists."""
        row = self.get(key)
        if row is None:
            raise LookupError(f"row {key} referenced by a foreign key is missing")
        return row

    def known(self) -> list[M]:
        """Every row loaded or primed so far."""
        return [row for row in self._cache.values() if row is not None]


class ListLoader(Loader[list[M]]):
    """The rows that point at a key (a parent's id), in the relation's order."""

    def load(self, key: int) -> list[M]:
        return self.get(key) or []

    def _rows(self, values: Iterable[list[M]]) -> Iterable[M]:
        return itertools.chain.from_iterable(values)


class ValueLoader(Loader[V]):
    """A value computed for every key (a balance): there is one for each."""

    def load(self, key: int) -> V:
        value = self.get(key)
        if value is None:
            raise LookupError(f"no value computed for {key}")
        return value


# --- relations: how each loader fetches, and which registered rows announce its keys -----


def _model_of(column: InstrumentedAttribute[Any]) -> type[Model]:
    """The model a mapped column belongs to."""
    owner = column.class_
    if not (isinstance(owner, type) and issubclass(owner, Model)):
        raise TypeError(f"{column} is not a column of a model")
    return owner


class Relation(Generic[L]):
    """One line of `Loaders`; builds its loader for each operation."""

    name = ""

    def __set_name__(self, owner: type[object], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, loaders: None, owner: type[object]) -> Self: ...
    @overload
    def __get__(self, loaders: Loaders, owner: type[object]) -> L: ...
    def __get__(self, loaders: Loaders | None, owner: type[object]) -> Self | L:
        if loaders is None:
            return self
        return loaders.built(self)

    def build(self, loaders: Loaders) -> L:
        raise NotImplementedError

    def announced_by(self) -> set[type[Model]]:
        """The models whose registered rows announce keys of this relation."""
        raise NotImplementedError

    def announce(self, loader: Loader[Any], model: type[Model], rows: list[Any]) -> None:
        raise NotImplementedError


class ToOne(Relation[RowLoader[M]]):
    """The row of `model` that foreign keys (`pointers`) name; registered rows of `model` are primed."""

    def __init__(
        self,
        model: type[M],
        *pointers: InstrumentedAttribute[int] | InstrumentedAttribute[int | None],
        reads: str | None = None,
        scoped: bool = False,
    ) -> None:
        self.model, self.reads, self.scoped = model, reads, scoped
        self.keys_of: dict[type[Model], list[str]] = defaultdict(list)
        for pointer in pointers:
            self.keys_of[_model_of(pointer)].append(pointer.key)

    def build(self, loaders: Loaders) -> RowLoader[M]:
        def fetch(ids: list[int]) -> dict[int, M]:
            principal = loaders.principal()
            if self.reads is not None:
                may_read(principal, self.reads)
            where = visible(principal, self.model) if self.scoped else ()
            return batches.by_ids(loaders.session(), self.model, ids, *where)

        return RowLoader(fetch, register=loaders.register)

    def announced_by(self) -> set[type[Model]]:
        return {self.model, *self.keys_of}

    def announce(self, loader: Loader[Any], model: type[Model], rows: list[Any]) -> None:
        if model is self.model:
            loader.prime((row.id, row) for row in rows)
        for key in self.keys_of.get(model, ()):
            loader.want(getattr(row, key) for row in rows)


class Children(Relation[ListLoader[M]]):
    """The rows of `model` that belong to a registered `parent`, by the parent's id."""

    def __init__(self, model: type[M], *, parent: type[Model]) -> None:
        self.model, self.parent = model, parent

    def fetch(self, session: Session, principal: Principal, ids: list[int]) -> Mapping[int, list[M]]:
        raise NotImplementedError

    def build(self, loaders: Loaders) -> ListLoader[M]:
        return ListLoader(
            lambda ids: self.fetch(loaders.session(), loaders.principal(), ids), register=loaders.register
        )

    def announced_by(self) -> set[type[Model]]:
        return {self.parent}

    def announce(self, loader: Loader[Any], model: type[Model], rows: list[Any]) -> None:
        loader.want(row.id for row in rows)


class ToMany(Children[M]):
    """The rows of `model` whose foreign key `by` is a registered `parent`'s id."""

    def __init__(
        self,
        model: type[M],
        by: InstrumentedAttribute[int] | InstrumentedAttribute[int | None],
        *,
        parent: type[Model],
        reads: str | None = None,
        scoped: bool = False,
        order_by: tuple[InstrumentedAttribute[Any], ...] = (),
    ) -> None:
        super().__init__(model, parent=parent)
        self.by, self.reads, self.scoped, self.order_by = by, reads, scoped, order_by

    def fetch(self, session: Session, principal: Principal, ids: list[int]) -> Mapping[int, list[M]]:
        if self.reads is not None:
            may_read(principal, self.reads)
        where = visible(principal, self.model) if self.scoped else ()
        return batches.grouped(session, self.model, self.by, ids, *where, order_by=self.order_by)


class Through(Children[M]):
    """The rows of `model` an association table links to a registered `parent` (column `by` -> `to`)."""

    def __init__(self, model: type[M], by: Column[int], to: Column[int], *, parent: type[Model]) -> None:
        super().__init__(model, parent=parent)
        self.by, self.to = by, to

    def fetch(self, session: Session, principal: Principal, ids: list[int]) -> Mapping[int, list[M]]:
        return batches.through(session, self.model, self.by, self.to, ids)


class PerRow(Relation[ValueLoader[V]]):
    """A value computed for each registered `parent` (`compute` receives the loaders and the ids)."""

    def __init__(self, parent: type[Model], compute: Callable[[Loaders, list[int]], Mapping[int, V]]) -> None:
        self.parent, self.compute = parent, compute

    def build(self, loaders: Loaders) -> ValueLoader[V]:
        return ValueLoader(lambda ids: self.compute(loaders, ids), register=None)

    def announced_by(self) -> set[type[Model]]:
        return {self.parent}

    def announce(self, loader: Loader[Any], model: type[Model], rows: list[Any]) -> None:
        loader.want(row.id for row in rows)


def _balances(
    loaders: Loaders, ids: list[int], as_of: dt.date | None = None
) -> dict[int, agreements.Balance]:
    """Balances of the agreements at hand; any other is read (not registered: it has no GraphQL object)."""
    known = {row.id: row for row in loaders.agreement.known()}
    rows = [known[i] for i in ids if i in known]
    rows += batches.by_ids(loaders.session(), Agreement, [i for i in ids if i not in known]).values()
    return agreements.balances(loaders.session(), rows, as_of=as_of)


def _account_balances(loaders: Loaders, ids: list[int]) -> dict[int, Decimal]:
    return read_ledger.account_balances(loaders.session(), loaders.principal(), ids)


# --- the graph ----------------------------------------------------------------------------

_EXCLUDED_TYPES = agreement_type_excluded_work_type.c
_EXCLUDED_ROLES = agreement_type_excluded_work_role.c


class Loaders:
    """Every relation of the graph, loaded in batches within one operation: one line each."""

    # The row a foreign key names, announced by those foreign keys.
    company = ToOne(
        Company, Agreement.company_id, TimeEntry.company_id, Invoice.company_id, ApiToken.company_id
    )
    agreement = ToOne(
        Agreement,
        Addition.agreement_id,
        TimeEntry.agreement_id,
        Invoice.agreement_id,
        Notification.agreement_id,
    )
    agreement_type = ToOne(AgreementType, Agreement.agreement_type_id, GLMapping.agreement_type_id)
    work_type = ToOne(WorkType, TimeEntry.work_type_id)
    work_role = ToOne(WorkRole, TimeEntry.work_role_id)
    gl_account = ToOne(GLAccount, JournalLine.account_id, GLMapping.account_id)
    invoice = ToOne(
        Invoice,
        Addition.invoice_id,
        TimeEntry.usage_invoice_id,
        TimeEntry.standard_invoice_id,
        reads=INVOICES,
        scoped=True,
    )
    journal_batch = ToOne(JournalBatch, Invoice.batch_id, reads=LEDGER)

    # The rows whose foreign key is a parent's id.
    agreements_of_company = ToMany(
        Agreement, Agreement.company_id, parent=Company, reads=AGREEMENTS, scoped=True
    )
    time_entries_of_agreement = ToMany(
        TimeEntry, TimeEntry.agreement_id, parent=Agreement, reads=TIME, scoped=True
    )
    invoices_of_agreement = ToMany(
        Invoice, Invoice.agreement_id, parent=Agreement, reads=INVOICES, scoped=True
    )
    additions_of_agreement = ToMany(Addition, Addition.agreement_id, parent=Agreement)
    adjustments_of_agreement = ToMany(Adjustment, Adjustment.agreement_id, parent=Agreement)
    lots_of_agreement = ToMany(Lot, Lot.agreement_id, parent=Agreement, order_by=(Lot.effective_date, Lot.id))
    allowance_of_agreement = ToMany(Allowance, Allowance.agreement_id, parent=Agreement)
    lines_of_invoice = ToMany(
        InvoiceLine, InvoiceLine.invoice_id, parent=Invoice, order_by=(InvoiceLine.position,)
    )
    entries_of_batch = ToMany(
        JournalEntry,
        JournalEntry.batch_id,
        parent=JournalBatch,
        order_by=(JournalEntry.date, JournalEntry.id),
    )
    lines_of_entry = ToMany(JournalLine, JournalLine.entry_id, parent=JournalEntry)
    # staff only besides: Notification.deliveries in accounting.access.FIELDS
    deliveries_of_notification = ToMany(
        NotificationDelivery, NotificationDelivery.notification_id, parent=Notification, reads=NOTIFICATIONS
    )
    excluded_work_types = Through(
        WorkType, _EXCLUDED_TYPES.agreement_type_id, _EXCLUDED_TYPES.work_type_id, parent=AgreementType
    )
    excluded_work_roles = Through(
        WorkRole, _EXCLUDED_ROLES.agreement_type_id, _EXCLUDED_ROLES.work_role_id, parent=AgreementType
    )

    # A value computed for each parent.
    balance = PerRow(Agreement, _balances)
    account_balance = PerRow(GLAccount, _account_balances)

    def __init__(self, *, session: Callable[[], Session], principal: Callable[[], Principal]) -> None:
        self.session = session
        self.principal = principal
        # Built on first use: an operation asks for a few of the ~30 relations (issue 15).
        self._loaders: dict[str, Loader[Any]] = {}
        # Keys announced to relations whose loader is not built yet, handed over when it is.
        self._announced: dict[str, list[tuple[type[Model], list[Any]]]] = defaultdict(list)
        self._balances_on: dict[dt.date, ValueLoader[agreements.Balance]] = {}

    def built(self, relation: Relation[L]) -> L:
        """The relation's loader for this operation, built at its first use with the keys
        announced so far; it then shadows the class's Relation on this instance."""
        loader = relation.build(self)
        for model, group in self._announced.pop(relation.name, ()):
            relation.announce(loader, model, group)
        self._loaders[relation.name] = loader
        setattr(self, relation.name, loader)
        return loader

    def register(self, rows: Iterable[Any]) -> None:
        """Announce the relations of rows about to become GraphQL objects."""
        by_type: dict[type, list[Any]] = defaultdict(list)
        for row in rows:
            if row is not None:
                by_type[type(row)].append(row)
        for model, group in by_type.items():
            for relation in _ANNOUNCED_BY.get(model, ()):
                self._announce(relation, model, group)

    def prime(self, rows: Iterable[Any]) -> None:
        """Rows a mutation has just read or written, for the relations that would select
        them again by id: each is the object such a SELECT would hand back (the session's
        identity map), so its answer reads them without a round trip (`logTime { agreement
        { ... } }`, issue 15). Relations with a visibility rule read for themselves."""
        by_type: dict[type, list[Any]] = defaultdict(list)
        for row in rows:
            if type(row) in PRIMABLE and inspect(row).persistent:  # not deleted or expunged since
                by_type[type(row)].append(row)
        for model, group in by_type.items():
            for relation in _PRIMED_BY[model]:
                self._announce(relation, model, group)

    def _announce(self, relation: Relation[Any], model: type[Model], group: list[Any]) -> None:
        """To the relation's loader, or kept for it until it is built (Loaders.built)."""
        loader = self._loaders.get(relation.name)
        if loader is None:
            self._announced[relation.name].append((model, group))
        else:
            relation.announce(loader, model, group)

    def clear(self) -> None:
        """Forget everything loaded: a mutation is about to change it."""
        for loader in self._loaders.values():
            loader.clear()
        self._announced.clear()
        self._balances_on.clear()

    def balance_on(self, day: dt.date) -> ValueLoader[agreements.Balance]:
        """Balances on one date for every agreement loaded so far, loaded together."""
        loader = self._balances_on.get(day)
        if loader is None:
            loader = ValueLoader(lambda ids: _balances(self, ids, as_of=day), register=None)
            loader.want(row.id for row in self.agreement.known())
            self._balances_on[day] = loader
        return loader


_RELATIONS: list[Relation[Any]] = [v for v in vars(Loaders).values() if isinstance(v, Relation)]
_ANNOUNCED_BY: dict[type, list[Relation[Any]]] = defaultdict(list)
for _relation in _RELATIONS:
    for _model in _relation.announced_by():
        _ANNOUNCED_BY[_model].append(_relation)
# The unscoped relations to a model, which a mutation's rows of that model prime (Loaders.prime).
_PRIMED_BY: dict[type, list[ToOne[Any]]] = defaultdict(list)
for _relation in _RELATIONS:
    if isinstance(_relation, ToOne) and not _relation.scoped and _relation.reads is None:
        _PRIMED_BY[_relation.model].append(_relation)
# What a mutation's change keeps of the rows it loads, for Loaders.prime (api.transaction).
PRIMABLE = frozenset(_PRIMED_BY)
