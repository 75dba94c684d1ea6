"""Rows for many keys at once: one statement per chunk of keys, whatever their number."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from sqlalchemy import Column, ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from accounting import records
from models import Model

M = TypeVar("M", bound=Model)


def chunks(keys: Iterable[int]) -> Iterator[list[int]]:
    """The distinct keys, sorted, in slices of one IN list each (accounting.records.chunks)."""
    return records.chunks(sorted(set(keys)))


def by_ids(session: Session, model: type[M], ids: Iterable[int], *where: ColumnElement[bool]) -> dict[int, M]:
    """Rows of `model` by primary key (those `where` admits)."""
    found: dict[int, M] = {}
    for chunk in chunks(ids):
        found.update(
            {row.id: row for row in session.scalars(select(model).where(model.id.in_(chunk), *where))}
        )
    return found


def grouped(
    session: Session,
    model: type[M],
    column: InstrumentedAttribute[Any],
    keys: Iterable[int],
    *where: ColumnElement[bool],
    order_by: tuple[InstrumentedAttribute[Any], ...] = (),
) -> dict[int, list[M]]:
    """Rows of `model` whose `column` is one of `keys`, grouped by it, in `order_by` (default id) order."""
    found: dict[int, list[M]] = defaultdict(list)
    for chunk in chunks(keys):
        stmt = select(model).where(column.in_(chunk), *where).order_by(*(order_by or (model.id,)))
        for row in session.scalars(stmt):
            found[getattr(row, column.key)].append(row)
    return found


def through(
    session: Session, model: type[M], parent: Column[int], child: Column[int], keys: Iterable[int]
) -> dict[int, list[M]]:
    """Rows of `model` linked to each key by an association table (`parent` -> `child`), in id order."""
    found: dict[int, list[M]] = defaultdict(list)
    for chunk in chunks(keys):
        stmt = (
            select(parent, model).join(model, model.id == child).where(parent.in_(chunk)).order_by(model.id)
        )
        for key, row in session.execute(stmt):
            found[key].append(row)
    return found
