"""Relay plumbing: opaque global IDs, opaque cursors, keyset pages."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import orjson
import strawberry
from sqlalchemy import Column, Select, bindparam, func, select, tuple_
from sqlalchemy import Connection as Database

from hub.graphql.errors import BadUserInput

T = TypeVar("T")
MAX_PAGE = 100
DEFAULT_PAGE = 20


def global_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(
        base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")
    )


def parse_global_id(value: str) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        type_name, pk = raw.split(":", 1)
        return type_name, int(pk)
    except (ValueError, UnicodeDecodeError):
        raise BadUserInput(f"{value!r} is not an id given by this API") from None


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return ["dt", value.isoformat()]
    if isinstance(value, date):
        return ["d", value.isoformat()]
    if isinstance(value, Decimal):
        return ["n", str(value)]
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, list):
        kind, text = value
        return {"dt": datetime.fromisoformat, "d": date.fromisoformat, "n": Decimal}[kind](text)
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([_encode_value(v) for v in values])).decode()


def decode_cursor(cursor: str) -> list[Any]:
    try:
        return [_decode_value(v) for v in orjson.loads(base64.urlsafe_b64decode(cursor))]
    except (ValueError, TypeError, KeyError, orjson.JSONDecodeError):
        raise BadUserInput(f"{cursor!r} is not a cursor given by this API") from None


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


@dataclass(frozen=True)
class PageArgs:
    first: int | None
    after: str | None
    last: int | None
    before: str | None

    def checked(self) -> PageArgs:
        if self.first is not None and self.last is not None:
            raise BadUserInput("give `first` or `last`, not both")
        for name in ("first", "last"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= MAX_PAGE:
                raise BadUserInput(f"`{name}` must be between 0 and {MAX_PAGE}")
        return self


def keyset_page(
    conn: Database,
    query: Select[Any],
    order: Sequence[Column[Any]],
    descending: bool,
    page: PageArgs,
    build: Callable[[Any], T],
) -> Connection[T]:
    """One page by keyset: `WHERE (order…) > (cursor…)` on an index, never OFFSET.

    `order` must end with a unique column (the primary key) so the order is total.
    """
    page = page.checked()
    backward = page.last is not None or (page.before is not None and page.first is None)
    size = page.last if backward else page.first
    if size is None:
        size = DEFAULT_PAGE
    keyed = query
    key = tuple_(*order)
    for cursor, upper in ((page.after, descending), (page.before, not descending)):
        if cursor is not None:
            values = decode_cursor(cursor)
            if len(values) != len(order):
                raise BadUserInput(f"{cursor!r} is a cursor of another list or ordering")
            bound = tuple_(
                *(bindparam(None, v, type_=c.type) for v, c in zip(values, order, strict=True))
            )
            keyed = keyed.where(key < bound if upper else key > bound)
    reverse = descending != backward
    ordered = keyed.order_by(*(c.desc() if reverse else c.asc() for c in order))
    rows = conn.execute(ordered.limit(size + 1)).all()
    more = len(rows) > size
    rows = rows[:size]
    if backward:
        rows.reverse()
    edges = [
        Edge(cursor=encode_cursor([getattr(r, c.key) for c in order]), node=build(r)) for r in rows
    ]
    info = PageInfo(
        has_next_page=more if not backward else page.before is not None,
        has_previous_page=more if backward else page.after is not None,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
    return Connection(
        edges=edges, nodes=[e.node for e in edges], page_info=info, count_query=query, conn=conn
    )
