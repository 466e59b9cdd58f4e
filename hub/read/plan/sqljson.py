"""JSON text built by the database, spelled exactly as the resolvers' answer is.

The answer's bytes are orjson's: no blanks, keys in the query's order, decimals and dates as
strawberry serialises them (`str(Decimal)`, `isoformat()`). PostgreSQL's `json_build_object`
puts blanks around its colons and SQLite's drops a nested object's type through a subquery,
so objects and arrays are concatenated here from values each dialect quotes itself
(`to_json(x)::text`, `json_quote(x)`), the one escaping both share with orjson.

The projection is SQL *text* (a `Piece`): it depends on the query's shape alone, never on
a variable's value, and building it as SQLAlchemy operators cost ~40 µs an operator, most
of a request's time. Only what holds values (filters, keyset bounds, page sizes) stays
SQLAlchemy, with bind parameters; `Part` joins both.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import Date, DateTime, Integer, String, func, literal_column
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnElement, ExpressionClauseList
from sqlalchemy.types import TypeDecorator

from hub.read.plan.build import Decline
from schema.columns import ScaledDecimal

Part = str | ColumnElement[Any]  # SQL text, or an SQLAlchemy expression (holding binds)


def lit(text: str) -> str:
    """A constant piece of JSON as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def key(name: str) -> str:
    return '"' + name + '":'  # GraphQL names need no escaping


def cat(*parts: Part) -> Part:
    """`a || b || …`: text stays text; with expressions, one operator per expression."""
    out: list[Part] = []
    for part in parts:
        if isinstance(part, str) and out and isinstance(out[-1], str):
            out[-1] = out[-1] + "||" + part
        else:
            out.append(part)
    if len(out) == 1:
        return out[0]
    elements = [literal_column(f"({p})", String) if isinstance(p, str) else p for p in out]
    return ExpressionClauseList(operators.concat_op, *elements, type_=String)


def obj(pairs: list[tuple[str, Part]]) -> Part:
    """`{"k":v,…}` from JSON texts."""
    parts: list[Part] = []
    for i, (name, value) in enumerate(pairs):
        parts += [lit(("{" if i == 0 else ",") + key(name)), _grouped(value)]
    parts.append(lit("}" if pairs else "{}"))
    return cat(*parts)


def arr(items: list[Part]) -> Part:
    """`[a,b,…]` from a fixed number of JSON texts (for a variable number: `Dialect.array`)."""
    parts: list[Part] = []
    for i, item in enumerate(items):
        parts += [lit("[" if i == 0 else ","), _grouped(item)]
    parts.append(lit("]" if items else "[]"))
    return cat(*parts)


def _grouped(part: Part) -> Part:
    return f"({part})" if isinstance(part, str) else part


def element(part: Part) -> ColumnElement[Any]:
    """A Part as an SQLAlchemy expression (to select it)."""
    return literal_column(f"({part})", String) if isinstance(part, str) else part


class Dialect:
    """How one database spells each kind of value as JSON text; names the subqueries."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pg = name == "postgresql"
        self.count = 0

    def alias(self) -> str:
        """A fresh name for a subquery of this statement."""
        self.count += 1
        return f"q{self.count}"

    def string(self, ref: str) -> str:
        if self.pg:
            return f"coalesce(to_json({ref})::text,'null')"
        return f"json_quote({ref})"

    def integer(self, ref: str) -> str:
        return f"coalesce(cast({ref} as text),'null')"

    def boolean(self, condition: str) -> str:
        return f"case when {condition} then 'true' else 'false' end"

    def date(self, ref: str) -> str:
        shown = f"to_char({ref},'YYYY-MM-DD')" if self.pg else ref
        return f"coalesce('\"'||{shown}||'\"','null')"

    def datetime(self, ref: str) -> str:
        """`isoformat()`: seconds, then microseconds only when there are some."""
        if self.pg:
            seconds = f"to_char({ref},'YYYY-MM-DD\"T\"HH24:MI:SS')"
            micro = f"to_char({ref},'US')"
        else:  # stored as `YYYY-MM-DD HH:MM:SS[.ffffff]`
            seconds = f"replace(substr({ref},1,19),' ','T')"
            micro = f"substr(substr({ref},21)||'000000',1,6)"
        fraction = f"case when {micro}='000000' then '' else '.'||{micro} end"
        return f"coalesce('\"'||{seconds}||{fraction}||'\"','null')"

    def decimal(self, ref: str, kind: ScaledDecimal) -> str:
        """`str()` of the Decimal `ScaledDecimal.from_scaled` gives, from the scaled integer:
        integer division and remainder on both databases (no float on the way)."""
        return self.scaled(ref, kind.scale, -int(kind.shown.as_tuple().exponent))

    def scaled(self, ref: str, places: int, shown: int) -> str:
        """A whole number of 10**-places units (`ref`) as the JSON string of its Decimal,
        `shown` places always written, up to `places` when it has them (0.005)."""
        factor = 10**places
        sign = f"case when {ref}<0 then '-' else '' end"
        whole = f"cast(abs({ref})/{factor} as text)"
        full = f"{sign}||{whole}||'.'||{self._pad(f'abs({ref})%{factor}', places)}"
        if shown == places:
            text = full
        else:
            step = 10 ** (places - shown)
            short = f"{sign}||{whole}||'.'||{self._pad(f'(abs({ref})%{factor})/{step}', shown)}"
            text = f"case when {ref}%{step}=0 then {short} else rtrim({full},'0') end"
        return f"coalesce('\"'||{text}||'\"','null')"

    def _pad(self, number: str, width: int) -> str:
        if self.pg:
            return f"lpad(cast({number} as text),{width},'0')"
        return f"substr('{'0' * width}'||cast({number} as text),-{width})"

    def column(self, column: Any, ref: str) -> str:
        """A column's value (SQL `ref`) as JSON text, by the column's type."""
        kind = base_type(column.type)
        if isinstance(kind, ScaledDecimal):
            return self.decimal(ref, kind)
        if isinstance(kind, DateTime):
            return self.datetime(ref)
        if isinstance(kind, Date):
            return self.date(ref)
        if isinstance(kind, Integer):
            return self.integer(ref)
        if isinstance(kind, String):
            return self.string(ref)
        raise Decline(f"a column of type {kind}")

    def global_id(self, type_name: str, pk: str) -> str:
        """`relay.global_id`: urlsafe base64 of `Type:pk`, padding dropped."""
        raw = f"'{type_name}:'||cast({pk} as text)"
        return f"'\"'||rtrim({self.b64url(raw)},'=')||'\"'"

    def optional_id(self, type_name: str, pk: str) -> str:
        """`global_id` of a key that may be NULL: then JSON null."""
        return f"coalesce({self.global_id(type_name, pk)},'null')"

    def b64url(self, text: str) -> str:
        if self.pg:  # encode() breaks lines every 76 characters: translate drops them
            return f"translate(encode(convert_to({text},'UTF8'),'base64'),E'+/\\n','-_')"
        return f"caigou_b64url({text})"

    def array(self, position: str, item: Part, where: str | None = None) -> Part:
        """`[e,…]` in `position` order (SQLite: an aggregate of ours, which sorts)."""
        if isinstance(item, str):
            if self.pg:
                joined = f"string_agg({item},',' order by {position})"
            else:
                joined = f"caigou_array({position},{item})"
            if where is not None:
                joined += f" filter (where {where})"
            return f"'['||coalesce({joined},'')||']'"
        order: Any = literal_column(position)
        agg: Any
        if self.pg:
            agg = func.string_agg(item, aggregate_order_by(literal_column("','"), order))
        else:
            agg = func.caigou_array(order, item)
        if where is not None:
            agg = agg.filter(literal_column(where))
        return cat("'['", func.coalesce(agg, literal_column("''")), "']'")

    def last(self, position: str, value: str, where: str) -> str:
        """The value at the highest position (a page's end cursor), or null."""
        if self.pg:
            found = f"(array_agg({value} order by {position} desc) filter (where {where}))[1]"
        else:
            found = f"caigou_last({position},{value}) filter (where {where})"
        return f"coalesce({found},'null')"


def base_type(kind: Any) -> Any:
    """The type a column's values take: sqlmodel's AutoString is a decorated String."""
    if isinstance(kind, TypeDecorator) and not isinstance(kind, ScaledDecimal):
        return kind.impl_instance
    return kind


def b64url(text: str | None) -> str | None:
    """SQLite's `caigou_b64url`, registered on each connection the planner uses; NULL in,
    NULL out, as PostgreSQL's encode()."""
    return None if text is None else base64.urlsafe_b64encode(text.encode()).decode()


class _Array:
    """SQLite aggregate: the elements joined with commas in position order."""

    def __init__(self) -> None:
        self.items: list[tuple[int, str]] = []

    def step(self, position: int, item: str) -> None:
        self.items.append((position, item))

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
