"""Loading rows by id with the contract's NOT_FOUND, ids in chunks, and gap-free counters."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounting.errors import NotFound
from models import Counter, Model

M = TypeVar("M", bound=Model)
T = TypeVar("T")

# How many ids one `IN (...)` list holds: below SQLite's 999 bound parameters.
IN_LIST_SIZE = 900


def get(session: Session, model: type[M], ident: int, *, kind: str | None = None) -> M:
    row = session.get(model, ident)
    if row is None:
        raise NotFound(kind or model.__name__, ident)
    return row


def next_number(session: Session, name: str) -> int:
    return next_numbers(session, name, 1)[0]


def next_numbers(session: Session, name: str, count: int) -> range:
    """Take the next `count` values of a counter under its row lock: gap-free, increasing.

    The lock is held until the transaction ends, so a rolled-back transaction
    gives its numbers back.
    """
    stmt = (
        update(Counter)
        .where(Counter.name == name)
        .values(value=Counter.value + count)
        .returning(Counter.value)
    )
    value = session.execute(stmt).scalar_one_or_none()
    if value is None:
        try:
            with session.begin_nested():
                session.add(Counter(name=name, value=0))
        except IntegrityError:
            pass  # another transaction created it first; the update below waits for it
        value = session.execute(stmt).scalar_one()
    return range(int(value) - count + 1, int(value) + 1)


def lock_counter(session: Session, name: str) -> None:
    """Serialise a whole kind of work (billing runs, batch postings) on one row."""
    stmt = update(Counter).where(Counter.name == name).values(value=Counter.value).returning(Counter.id)
    if session.execute(stmt).scalar_one_or_none() is None:
        try:
            with session.begin_nested():
                session.add(Counter(name=name, value=0))
        except IntegrityError:
            pass
        session.execute(stmt).scalar_one()


def chunks(items: Iterable[T], size: int = IN_LIST_SIZE) -> Iterator[list[T]]:
    """The items in lists of at most `size`, in their order: one `IN (...)` list each,
    so that a query over many ids stays within the database's parameter limit."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
