"""Cursor connections (first/after, edges/node, pageInfo, totalCount) over accounting pages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry

from accounting.queries import Page, encode_cursor

T = TypeVar("T")


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


def connection(page: Page[Any], wrap: Callable[[Sequence[Any]], list[T]]) -> Connection[T]:
    """The connection of one page; `wrap` turns its rows into GraphQL objects together."""
    nodes = wrap(page.items)
    return Connection(
        edges=[
            Edge(cursor=encode_cursor(row.id), node=node) for row, node in zip(page.items, nodes, strict=True)
        ],
        page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor),
        total_count=page.total_count,
    )
