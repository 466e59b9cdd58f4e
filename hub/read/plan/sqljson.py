"""JSON text built by the database, spelled exactly as the resolvers' answer is.

The answer's bytes are orjson's: no blanks, keys in the query's order, decimals and dates as
strawberry serialises them (`str(Decimal)`, `isoformat()`). PostgreSQL's `json_build_object`
puts blanks around its colons and SQLite's drops a nested object's type through a subquery,
so objects and arrays are concatenated here from values each dialect quotes itself
(`to_json(x)::text`, `json_quote(x)`), the one escaping both share with orjson.
"""

from __future__ import annotations

import base64
import functools
from typing import Any

from sqlalchemy import Date, DateTime, Integer, String, case, func, literal_column, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from hub.read.plan.build import Decline
from schema.columns import ScaledDecimal

Sql = ColumnElement[Any]


def lit(text: str) -> Sql:
    """A constant piece of JSON as an SQL string literal (part of the statement's text)."""
    return literal_column("'" + text.replace("'", "''") + "'", String)


def cat(*parts: Sql) -> Sql:
    """`a || b || …` (NULL in any part makes the whole NULL: callers coalesce first)."""
    return type_coerce(functools.reduce(lambda a, b: a.op("||")(b), parts), String)


def key(name: str) -> str:
    return '"' + name + '":'  # GraphQL names need no escaping


def obj(pairs: list[tuple[str, Sql]]) -> Sql:
    """`{"k":v,…}` from JSON texts."""
    parts: list[Sql] = []
    for i, (name, value) in enumerate(pairs):
        parts += [lit(("{" if i == 0 else ",") + key(name)), value]
    parts.append(lit("}" if pairs else "{}"))
    return cat(*parts)


class Dialect:
    """How one database spells each kind of value as JSON text."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pg = name == "postgresql"

    def string(self, value: Any) -> Sql:
        if self.pg:
            return func.coalesce(func.to_json(value).cast(String), lit("null"))
        return func.json_quote(value)

    def integer(self, value: Any) -> Sql:
        return func.coalesce(value.cast(String), lit("null"))

    def boolean(self, condition: Any) -> Sql:
        return case((condition, lit("true")), else_=lit("false"))

    def date(self, value: Any) -> Sql:
        if self.pg:
            shown = cat(lit('"'), func.to_char(value, literal_column("'YYYY-MM-DD'")), lit('"'))
        else:
            shown = cat(lit('"'), value.cast(String), lit('"'))
        return func.coalesce(shown, lit("null"))

    def datetime(self, value: Any) -> Sql:
        """`isoformat()`: seconds, then microseconds only when there are some."""
        if self.pg:
            seconds = func.to_char(value, literal_column("'YYYY-MM-DD\"T\"HH24:MI:SS'"))
            micro = func.to_char(value, literal_column("'US'"))
        else:
            raw = value.cast(String)
            seconds = func.replace(func.substr(raw, 1, 19), lit(" "), lit("T"))
            micro = func.substr(func.substr(raw, 21) + "000000", 1, 6)
        fraction = case((micro == "000000", lit("")), else_=cat(lit("."), micro))
        return func.coalesce(cat(lit('"'), seconds, fraction, lit('"')), lit("null"))

    def decimal(self, value: Any, kind: ScaledDecimal) -> Sql:
        """`str()` of the Decimal `ScaledDecimal.from_scaled` gives, from the scaled integer."""
        raw = type_coerce(value, Integer)
        whole = func.abs(raw).op("/")(kind.factor)  # integers: whole units, on both
        sign = case((raw < 0, lit("-")), else_=lit(""))
        places = kind.scale
        shown = -kind.shown.as_tuple().exponent  # type: ignore[operator]
        full = cat(
            sign, whole.cast(String), lit("."), self._pad(func.abs(raw) % kind.factor, places)
        )
        if shown == places:
            text = full
        else:
            step = 10 ** (places - shown)
            short = cat(
                sign, whole.cast(String), lit("."),
                self._pad((func.abs(raw) % kind.factor).op("/")(step), shown),
            )  # fmt: skip
            text = case((raw % step == 0, short), else_=func.rtrim(full, lit("0")))
        return func.coalesce(cat(lit('"'), text, lit('"')), lit("null"))

    def _pad(self, number: Any, width: int) -> Sql:
        if self.pg:
            return func.lpad(number.cast(String), width, lit("0"))
        return func.substr(cat(lit("0" * width), number.cast(String)), -width)

    def column(self, column: Any, value: Any | None = None) -> Sql:
        """A column's value as JSON text, by the column's type."""
        value = column if value is None else value
        kind = base_type(column.type)
        if isinstance(kind, ScaledDecimal):
            return self.decimal(value, kind)
        if isinstance(kind, DateTime):
            return self.datetime(value)
        if isinstance(kind, Date):
            return self.date(value)
        if isinstance(kind, Integer):
            return self.integer(value)
        if isinstance(kind, String):
            return self.string(value)
        raise Decline(f"a column of type {kind}")

    def global_id(self, type_name: str, pk: Any) -> Sql:
        """`relay.global_id`: urlsafe base64 of `Type:pk`, padding dropped."""
        raw = cat(lit(type_name + ":"), pk.cast(String))
        return cat(lit('"'), func.rtrim(self.b64url(raw), lit("=")), lit('"'))

    def b64url(self, text: Sql) -> Sql:
        if self.pg:
            encoded = func.encode(func.convert_to(text, lit("UTF8")), lit("base64"))
            return func.translate(encoded, literal_column("E'+/\\n'"), lit("-_"))
        return func.caigou_b64url(text)

    def array(self, position: Any, element: Sql, where: Any = None) -> Sql:
        """`[e,…]` in `position` order (SQLite: an aggregate of ours, which sorts)."""
        if self.pg:
            joined = func.string_agg(element, aggregate_order_by(lit(","), position))
        else:
            joined = func.caigou_array(position, element)
        if where is not None:
            joined = joined.filter(where)
        return cat(lit("["), func.coalesce(joined, lit("")), lit("]"))

    def last(self, position: Any, value: Sql, where: Any = None) -> Sql:
        """The value at the highest position (a page's end cursor)."""
        if self.pg:
            agg = func.array_agg(aggregate_order_by(value, position.desc()))
            if where is not None:
                agg = agg.filter(where)
            return type_coerce(agg, ARRAY(String))[1]
        agg = func.caigou_last(position, value)
        return agg.filter(where) if where is not None else agg


class _Array:
    """SQLite aggregate: the elements joined with commas in position order."""

    def __init__(self) -> None:
        self.items: list[tuple[int, str]] = []

    def step(self, position: int, element: str) -> None:
        self.items.append((position, element))

    def finalize(self) -> str | None:
        return ",".join(e for _, e in sorted(self.items)) if self.items else None


class _Last:
    def __init__(self) -> None:
        self.best: tuple[int, str] | None = None

    def step(self, position: int, value: str) -> None:
        if self.best is None or position > self.best[0]:
            self.best = (position, value)

    def finalize(self) -> str | None:
        return None if self.best is None else self.best[1]


def base_type(kind: Any) -> Any:
    """The type a column's values take: sqlmodel's AutoString is a decorated String."""
    if isinstance(kind, TypeDecorator) and not isinstance(kind, ScaledDecimal):
        return kind.impl_instance
    return kind


def b64url(text: str) -> str:
    """SQLite's `caigou_b64url`, registered on each connection the planner uses."""
    return base64.urlsafe_b64encode(text.encode()).decode()


def prepare(conn: Any) -> None:
    """Give a SQLite connection the planner's functions, once per database connection."""
    if conn.dialect.name != "sqlite":
        return
    info = conn.connection.info
    if not info.get("caigou_plan"):
        raw = conn.connection.driver_connection
        raw.create_function("caigou_b64url", 1, b64url, deterministic=True)
        raw.create_aggregate("caigou_array", 2, _Array)
        raw.create_aggregate("caigou_last", 2, _Last)
        info["caigou_plan"] = True
