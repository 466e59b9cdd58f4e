"""Relay types: PageInfo, Edge and Connection around a keyset page of the read layer.

Ids, cursors and keyset paging themselves are plain functions in hub.read (cursors, paging),
shared with the pages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry
from sqlalchemy import Column, Select, func, select
from sqlalchemy import Connection as Database

from hub.read.paging import Keyset, PageArgs, keyset

T = TypeVar("T")


@strawberry.type(description="Where a page stands in its list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow this page.")
    has_previous_page: bool = strawberry.field(description="More items come before this page.")
    start_cursor: str | None = strawberry.field(
        description="Cursor of the first item, for `before`."
    )
    end_cursor: str | None = strawberry.field(description="Cursor of the last item, for `after`.")


@strawberry.type
class Edge(Generic[T]):
    cursor: str = strawberry.field(
        description="Opaque position of this item, for `after`/`before`."
    )
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list; `totalCount` counts the whole filtered list.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items with their cursors.")
    nodes: list[T] = strawberry.field(description="The items, when cursors are not needed.")
    page_info: PageInfo = strawberry.field(description="Where this page stands.")
    count_query: strawberry.Private[Select[Any]]
    conn: strawberry.Private[Database]

    @strawberry.field(description="Items in the whole list, all pages together.")
    def total_count(self) -> int:
        counted = select(func.count()).select_from(self.count_query.order_by(None).subquery())
        return int(self.conn.execute(counted).scalar_one())


def connection(conn: Database, found: Keyset, build: Callable[[Any], T]) -> Connection[T]:
    """A keyset page of the read layer as a Connection of `build(row)` nodes."""
    edges = [Edge(cursor=c, node=build(r)) for r, c in zip(found.rows, found.cursors, strict=True)]
    info = PageInfo(
        has_next_page=found.has_next_page,
        has_previous_page=found.has_previous_page,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
    nodes = [e.node for e in edges]
    return Connection(edges=edges, nodes=nodes, page_info=info, count_query=found.query, conn=conn)


def keyset_page(
    conn: Database,
    query: Select[Any],
    order: Sequence[Column[Any]],
    descending: bool,
    page: PageArgs,
    build: Callable[[Any], T],
) -> Connection[T]:
    """A keyset page (hub.read.paging.keyset) of `query` in `order`, as a Connection."""
    return connection(conn, keyset(conn, query, order, descending, page), build)
