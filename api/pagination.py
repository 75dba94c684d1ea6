"""Pages of a root list: cursors, page limits, and the connection GraphQL sees.

A page is keyset on the primary key (`first`/`after`), stable while rows are added;
a cursor is an opaque row id we issued; `first` is at most MAX_PAGE.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import strawberry
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from accounting.errors import InvalidInput
from models import Model

M = TypeVar("M", bound=Model)
T = TypeVar("T")

MAX_PAGE = 100
_CURSOR_PREFIX = "cursor:"
_MAX_ROW_ID = 2**63 - 1  # the database's BIGINT


def encode_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    """A row id we issued: ASCII digits within the database's integer range, else BAD_USER_INPUT."""
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        digits = text.removeprefix(_CURSOR_PREFIX)
        if text.startswith(_CURSOR_PREFIX) and digits.isascii() and digits.isdigit() and len(digits) <= 19:
            row_id = int(digits)
            if row_id <= _MAX_ROW_ID:
                return row_id
    except (binascii.Error, UnicodeError, ValueError):
        pass
    raise InvalidInput(f"after {cursor[:60]!r} is not a cursor returned by this API")


def page_size(first: int | None) -> int:
    """`first` defaults to, and may not exceed, MAX_PAGE."""
    if first is None:
        return MAX_PAGE
    if not 0 <= first <= MAX_PAGE:
        raise InvalidInput(f"first must be between 0 and {MAX_PAGE}, got {first}")
    return first


@dataclass(frozen=True)
class Page(Generic[M]):
    items: list[M]
    has_next: bool
    total_count: int

    @property
    def end_cursor(self) -> str | None:
        return encode_cursor(self.items[-1].id) if self.items else None


def paginate(
    session: Session,
    stmt: Select[M],
    model: type[M],
    *,
    first: int | None,
    after: str | None,
    newest_first: bool = False,
) -> Page[M]:
    """A keyset page on the primary key: stable while rows are added."""
    size = page_size(first)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    if after is not None:
        after_id = decode_cursor(after)
        stmt = stmt.where(model.id < after_id if newest_first else model.id > after_id)
    stmt = stmt.order_by(model.id.desc() if newest_first else model.id).limit(size + 1)
    rows = list(session.scalars(stmt))
    return Page(items=rows[:size], has_next=len(rows) > size, total_count=total)


# --- the connection (first/after, edges/node, pageInfo, totalCount) ----------------------


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int


def connection(page: Page[M], wrap: Callable[[Sequence[M]], list[T]]) -> Connection[T]:
    """The connection of one page; `wrap` turns its rows into GraphQL objects together."""
    nodes = wrap(page.items)
    return Connection(
        edges=[
            Edge(cursor=encode_cursor(row.id), node=node) for row, node in zip(page.items, nodes, strict=True)
        ],
        page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor),
        total_count=page.total_count,
    )
