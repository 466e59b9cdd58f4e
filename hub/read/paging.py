"""Keyset pages: `WHERE (order…) > (cursor…)` on an index, never OFFSET.

Plain rows and cursors; GraphQL wraps them in its Connection type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Select, TypeDecorator, bindparam, tuple_

from hub.read.cursors import MAX_PK, decode_cursor, encode_cursor, shown_value
from hub.read.errors import BadInput

MAX_PAGE = 100
DEFAULT_PAGE = 20


@dataclass(frozen=True)
class PageArgs:
    first: int | None
    after: str | None
    last: int | None
    before: str | None

    def checked(self) -> PageArgs:
        if self.first is not None and self.last is not None:
            raise BadInput("give `first` or `last`, not both")
        for name in ("first", "last"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= MAX_PAGE:
                raise BadInput(f"`{name}` must be between 0 and {MAX_PAGE}")
        return self


@dataclass(frozen=True)
class Keyset:
    """One page: its rows in list order, each row's cursor, whether more lie around it, and
    the whole list's query (unordered, uncut) for counting it."""

    query: Select[Any]
    rows: Sequence[Any]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool


def fits(value: Any, column: Column[Any]) -> bool:
    """A cursor value has its column's Python type (a forged one, or one of another order,
    would fail in the driver: a date bound as an amount is "Unexpected error.")."""
    kind = column.type
    try:
        expected = kind.python_type
        if expected is object and isinstance(kind, TypeDecorator):  # e.g. AutoString
            expected = kind.impl_instance.python_type
    except NotImplementedError:
        return True
    if isinstance(value, bool):
        return expected is bool
    if isinstance(value, int) and expected is int:
        return abs(value) <= (2**63 if isinstance(kind, BigInteger) else MAX_PK)
    if isinstance(value, datetime) and expected is date:  # a time is no day
        return False
    if value is None or isinstance(value, expected):
        return True
    return expected in (Decimal, float) and type(value) in (int, float, Decimal)


def keyset(
    conn: Connection,
    query: Select[Any],
    order: Sequence[Column[Any]],
    descending: bool,
    page: PageArgs,
) -> Keyset:
    """One page of `query` in `order`, after or before a cursor.

    `order` must end with a unique column (the primary key) so the order is total.
    """
    page = page.checked()
    backward = page.last is not None or (page.before is not None and page.first is None)
    size = page.last if backward else page.first
    if size is None:
        size = DEFAULT_PAGE
    keyed = query
    key = tuple_(*order)
    for name, cursor, upper in (
        ("after", page.after, descending),
        ("before", page.before, not descending),
    ):
        if cursor is not None:
            try:
                values = decode_cursor(cursor)
            except BadInput as error:
                raise BadInput(f"`{name}`: {error}") from None
            if len(values) != len(order) or not all(map(fits, values, order)):
                raise BadInput(
                    f"`{name}`: {shown_value(cursor)} is a cursor of another list or ordering"
                )
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
    return Keyset(
        query=query,
        rows=rows,
        cursors=[encode_cursor([getattr(r, c.key) for c in order]) for r in rows],
        has_next_page=more if not backward else page.before is not None,
        has_previous_page=more if backward else page.after is not None,
    )
