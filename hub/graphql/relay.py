"""Relay plumbing: opaque global IDs, opaque cursors, keyset pages."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import orjson
import strawberry
from sqlalchemy import BigInteger, Column, Select, bindparam, func, select, tuple_
from sqlalchemy import Connection as Database

from hub.graphql.errors import BadUserInput

T = TypeVar("T")
MAX_PAGE = 100
DEFAULT_PAGE = 20


def global_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(
        base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")
    )


MAX_ID_CHARS = 64  # "Transaction:9223372036854775807" in base64 is 44
_PK = re.compile(r"[1-9][0-9]{0,9}")
MAX_PK = 2**31 - 1  # primary keys are `integer` on PostgreSQL: no id given out is larger
_TYPE_NAME = re.compile(r"[A-Za-z]{1,40}")


def shown_value(value: str, limit: int = 60) -> str:
    """A client's value quoted in an error message, cut short: never echo megabytes back."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def parse_global_id(value: str) -> tuple[str, int]:
    """The type name and primary key of an id this API gave out, or BAD_USER_INPUT.

    Strict: a positive key within `integer` in plain digits (`int()` alone would accept
    signs, blanks, underscores and thousands of digits, which the database then rejects).
    """
    try:
        if len(value) > MAX_ID_CHARS:
            raise ValueError
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        type_name, pk = raw.split(":", 1)
        if not (_TYPE_NAME.fullmatch(type_name) and _PK.fullmatch(pk)) or int(pk) > MAX_PK:
            raise ValueError
        return type_name, int(pk)
    except (ValueError, UnicodeDecodeError):
        raise BadUserInput(f"{shown_value(value)} is not an id given by this API") from None


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return ["dt", value.isoformat()]
    if isinstance(value, date):
        return ["d", value.isoformat()]
    if isinstance(value, Decimal):
        return ["n", str(value)]
    return value


_DECODERS: dict[str, Callable[[str], date | Decimal]] = {
    "dt": datetime.fromisoformat,
    "d": date.fromisoformat,
    "n": Decimal,
}


def _decode_value(value: Any) -> Any:
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise ValueError("beyond 64 bits")
    if isinstance(value, list):
        kind, text = value
        decoded = _DECODERS[kind](text)
        if isinstance(decoded, datetime) and decoded.tzinfo is not None:
            # Stored times are naive Beijing time; the API never hands out an offset, and
            # SQLite and PostgreSQL would each read one differently.
            raise ValueError("a time with an offset")
        if isinstance(decoded, Decimal) and not (decoded.is_finite() and abs(decoded) < 10**18):
            raise ValueError("not an amount")
        return decoded
    return value


MAX_CURSOR_CHARS = 1_000  # a cursor holds a few sort values


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([_encode_value(v) for v in values])).decode()


def decode_cursor(cursor: str) -> list[Any]:
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError
        values = orjson.loads(base64.urlsafe_b64decode(cursor))
        if not isinstance(values, list):
            raise TypeError
        return [_decode_value(v) for v in values]
    except (ValueError, TypeError, KeyError, ArithmeticError, orjson.JSONDecodeError):
        raise BadUserInput(f"{shown_value(cursor)} is not a cursor given by this API") from None


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


def _fits(value: Any, column: Column[Any]) -> bool:
    """A cursor value has its column's Python type (a forged one would fail in the driver)."""
    try:
        expected = column.type.python_type
    except NotImplementedError:
        return True
    if isinstance(value, int) and expected is int:
        return abs(value) <= (2**63 if isinstance(column.type, BigInteger) else MAX_PK)
    if value is None or isinstance(value, expected):
        return True
    return expected in (Decimal, float) and type(value) in (int, float, Decimal)


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
            if len(values) != len(order) or not all(map(_fits, values, order)):
                raise BadUserInput(f"{shown_value(cursor)} is a cursor of another list or ordering")
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
        rows = rows[::-1]
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
