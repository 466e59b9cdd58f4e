"""Objects and pages as JSON: a row of a catalogue type, a keyset page of rows.

A compiler hands `node` a Selection and the row's source (`Rows`: the SQL name of a table
or page subquery); it answers the object's JSON (SQL text, or an expression when a nested
page holds bind parameters) or raises `Decline` at the first field it does not know.
Columns come from the field catalogue (`schema.catalogue`), as the GraphQL types do: a
public, non-key column is a field under its camelCase name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Integer,
    Select,
    String,
    bindparam,
    func,
    select,
    tuple_,
    type_coerce,
)
from strawberry.utils.str_converters import to_camel_case

from hub.read.cursors import decode_cursor
from hub.read.paging import DEFAULT_PAGE, MAX_PAGE, fits
from hub.read.plan.build import Decline
from hub.read.plan.selection import Selection
from hub.read.plan.sqljson import Dialect, Part, base_type, element, lit, obj
from schema.catalogue import public_fields
from schema.columns import ScaledDecimal
from schema.tables import (
    AWARDS,
    CONTRACTS,
    EVALUATION_EXPERTS,
    FLAGS,
    LOTS,
    NOTICES,
    PARTIES,
    PENALTY_RECORDS,
    PROJECT_ITEMS,
    PROJECTS,
    PUBLISHERS,
    TRANSACTIONS,
)
from schema.types import CHANNEL_LABELS

TABLES: dict[str, Any] = {
    "Transaction": TRANSACTIONS,
    "Party": PARTIES,
    "Contract": CONTRACTS,
    "PenaltyRecord": PENALTY_RECORDS,
    "Project": PROJECTS,
    "Notice": NOTICES,
    "Lot": LOTS,
    "Award": AWARDS,
    "Flag": FLAGS,
    "Publisher": PUBLISHERS,
    "Item": PROJECT_ITEMS,
    "EvaluationExpert": EVALUATION_EXPERTS,
}


@cache
def fields_of(type_name: str) -> dict[str, str]:
    """GraphQL field name → column name: the type's plain catalogue fields."""
    table = TABLES[type_name]
    return {
        to_camel_case(spec.name): spec.name
        for spec in public_fields(table.name)
        if spec.name != "id" and not table.c[spec.name].foreign_keys
    }


@cache
def shown(type_name: str) -> tuple[Any, ...]:
    """The columns the API can show (as `catalogue_types.shown`), the primary key first."""
    table = TABLES[type_name]
    return (table.c.id, *(table.c[s.name] for s in public_fields(table.name) if s.name != "id"))


@dataclass
class Rows:
    """Where a node's columns come from, by SQL name (a table, or a page's subquery); the
    columns referred to are noted, so a page selects only those."""

    name: str
    used: set[str] = field(default_factory=set)

    def ref(self, column: str) -> str:
        self.used.add(column)
        return f"{self.name}.{column}"


Relation = Callable[[Dialect, Selection, Rows], Part]


def node(
    d: Dialect, sel: Selection, row: Rows, relations: dict[str, Relation] | None = None
) -> Part:
    """The object `sel` asks for, from `row`; Decline on anything unknown."""
    type_name = sel.type_name
    table = TABLES.get(type_name)
    if table is None:
        raise Decline(f"no table for {type_name}")
    plain = fields_of(type_name)
    relations = relations or {}
    pairs: list[tuple[str, Part]] = []
    for child in sel.children:
        name = child.name
        if name in relations:  # a resolver of the type's own, over a catalogue name too
            pairs.append((child.key, relations[name](d, child, row)))
        elif name in plain:
            column = table.c[plain[name]]
            pairs.append((child.key, value(d, column, row.ref(column.key))))
        elif name == "id":
            pairs.append((child.key, d.global_id(type_name, row.ref("id"))))
        elif name == "__typename":
            pairs.append((child.key, lit(f'"{type_name}"')))
        else:
            raise Decline(f"{type_name}.{name} is not planned")
    return obj(pairs)


def value(d: Dialect, column: Any, ref: str) -> str:
    """A column's JSON; a boolean (SQLite: 0/1) as `true`/`false`."""
    if isinstance(base_type(column.type), Boolean):
        return f"case when {ref} is null then 'null' when {ref} then 'true' else 'false' end"
    return d.column(column, ref)


def party(d: Dialect, sel: Selection, key: str) -> str:
    """A party by its key (SQL text; a nullable reference gives null), plain fields only."""
    name = d.alias()
    found = node(d, sel, Rows(name))
    if not isinstance(found, str):  # pragma: no cover - a party has no nested page here
        raise Decline("a party with nested pages")
    return f"coalesce((select {found} from parties {name} where {name}.id={key}),'null')"


def channel_label(d: Dialect, sel: Selection, row: Rows) -> str:
    cases = " ".join(
        f"when {lit(channel.value)} then {lit(chr(34) + label + chr(34))}"
        for channel, label in CHANNEL_LABELS.items()
    )
    return f"case {row.ref('channel')} {cases} end"


def cursor(d: Dialect, order: list[Any], row: Rows) -> str:
    """`relay.encode_cursor` of the row's order values, spelled by the database."""
    parts: list[str] = []
    for i, column in enumerate(order):
        value = d.column(column, row.ref(column.key))
        kind = base_type(column.type)
        tag = "n" if isinstance(kind, ScaledDecimal) else "dt" if isinstance(kind, DateTime) \
            else "d" if isinstance(kind, Date) else None  # fmt: skip
        if tag is None and not isinstance(kind, Integer):
            raise Decline("a cursor on an unknown type")
        # A NULL sort value is `null` in the cursor, as encode_cursor writes None (a NULL
        # would make the whole cursor NULL). No planned order has a nullable column today
        # (a party's projects leave those without a time out): this keeps the next one right.
        if tag:
            opening = lit('["' + tag + '",')
            piece = f"{opening}||({value})||{lit(']')}"
        else:
            piece = f"cast(({value}) as text)"
        parts += [lit("[" if i == 0 else ","), f"coalesce({piece},'null')"]
    parts.append(lit("]"))
    return f"'\"'||{d.b64url('||'.join(parts))}||'\"'"


@dataclass(frozen=True)
class TextBase:
    """A list a nested page reads with no value of the request's: its table and its
    condition (on the table's alias, naming the outer row by its SQL name). Such a page
    is SQL text throughout, built without SQLAlchemy; `select` is the same list for a page
    that needs bind parameters (one after a cursor)."""

    table: str
    where: Callable[[str], str]
    select: Select[Any]


def page(
    d: Dialect,
    sel: Selection,
    base: Select[Any] | TextBase,
    type_name: str,
    order: list[Any],
    descending: bool,
    build: Callable[[Selection, Rows], Part],
) -> Part:
    """A Connection (`keyset_page`'s answer) forward from `after`, as a scalar subquery.

    The page is `LIMIT first + 1` rows numbered in order (`rn`); the extra row only says
    whether a next page exists, as in `keyset_page`.
    """
    args = sel.args
    if args.get("last") is not None or args.get("before") is not None:
        raise Decline("backward pages are left to the resolvers")
    size = args.get("first")
    size = DEFAULT_PAGE if size is None else size
    if not isinstance(size, int) or not 0 <= size <= MAX_PAGE:
        raise Decline("first out of range: the resolver's error")
    after = args.get("after")
    text = base if isinstance(base, TextBase) and after is None else None
    if isinstance(base, TextBase):
        base = base.select
    keyed = base
    if after is not None:
        try:
            values = decode_cursor(after)
        except Exception as error:
            raise Decline("a cursor the resolver refuses") from error
        if len(values) != len(order) or not all(map(fits, values, order)):
            raise Decline("a cursor of another list")
        bound = tuple_(
            *(bindparam(None, v, type_=c.type) for v, c in zip(values, order, strict=True))
        )
        key = tuple_(*order)
        keyed = keyed.where(key < bound if descending else key > bound)
    ordering = [c.desc() if descending else c.asc() for c in order]
    name = d.alias()
    rows = Rows(name)
    within, position = f"{name}.rn<={size}", f"{name}.rn"
    pairs: list[tuple[str, Part]] = []
    for child in sel.children:
        if child.name == "nodes":
            pairs.append((child.key, d.array(position, build(child, rows), within)))
        elif child.name == "edges":
            edge: list[tuple[str, Part]] = []
            for part in child.children:
                if part.name == "node":
                    edge.append((part.key, build(part, rows)))
                elif part.name == "cursor":
                    edge.append((part.key, cursor(d, order, rows)))
                elif part.name == "__typename":
                    edge.append((part.key, lit(f'"{child.type_name}"')))
                else:
                    raise Decline(f"Edge.{part.name}")
            pairs.append((child.key, d.array(position, obj(edge), within)))
        elif child.name == "pageInfo":
            pairs.append((child.key, _page_info(d, child, rows, order, size, after is not None)))
        elif child.name == "totalCount":
            if text is not None:
                alias = d.alias()
                counted_text = f"(select count(*) from {text.table} {alias} "
                counted_text += f"where {text.where(alias)})"
                pairs.append((child.key, f"cast({counted_text} as text)"))
                continue
            counted = select(func.count()).select_from(base.order_by(None).subquery())
            pairs.append((child.key, type_coerce(counted.scalar_subquery(), Integer).cast(String)))
        elif child.name == "__typename":
            pairs.append((child.key, lit(f'"{sel.type_name}"')))
        else:
            raise Decline(f"Connection.{child.name}")
    # The page's rows: the columns the answer refers to (and the order's), numbered.
    used = [c for c in shown(type_name) if c.key in rows.used or any(c is o for o in order)]
    if text is not None:
        return _text_page(d, text, obj(pairs), used, order, descending, size, name, sel)
    rn = func.row_number().over(order_by=ordering).label("rn")
    subquery = keyed.with_only_columns(*used, rn).order_by(*ordering).limit(size + 1)
    answer = select(element(obj(pairs)))
    if not _aggregates(sel):  # `totalCount` alone: one row, no page
        return answer.scalar_subquery()
    return answer.select_from(subquery.subquery(name)).scalar_subquery()


def _text_page(
    d: Dialect,
    base: TextBase,
    answer: Part,
    used: list[Any],
    order: list[Any],
    descending: bool,
    size: int,
    name: str,
    sel: Selection,
) -> Part:
    """The page of a `TextBase`, as `page` builds it with SQLAlchemy, in SQL text."""
    if not isinstance(answer, str):  # pragma: no cover - nested pages nest no further
        raise Decline("a nested page with bind parameters")
    if not _aggregates(sel):
        return f"(select {answer})"
    alias = d.alias()
    columns = "".join(f"{alias}.{c.key}," for c in used)
    direction = " desc" if descending else ""
    ordering = ",".join(f"{alias}.{c.key}{direction}" for c in order)
    rows = (
        f"(select {columns}row_number() over (order by {ordering}) as rn "
        f"from {base.table} {alias} where {base.where(alias)} "
        f"order by {ordering} limit {size + 1}) {name}"
    )
    return f"(select {answer} from {rows})"


AGGREGATED = {"nodes", "edges", "hasNextPage", "startCursor", "endCursor"}


def _aggregates(sel: Selection) -> bool:
    """Whether the page's JSON aggregates its rows (one row out, however many in)."""
    return any(
        c.name in AGGREGATED or (c.name == "pageInfo" and _aggregates(c)) for c in sel.children
    )


def _page_info(
    d: Dialect, sel: Selection, rows: Rows, order: list[Any], size: int, after: bool
) -> str:
    pairs: list[tuple[str, Part]] = []
    within, position = rows.ref("rn") + f"<={size}", rows.ref("rn")
    for child in sel.children:
        if child.name == "hasNextPage":
            pairs.append((child.key, d.boolean(f"count(*)>{size}")))
        elif child.name == "hasPreviousPage":
            pairs.append((child.key, lit("true" if after else "false")))
        elif child.name == "startCursor":
            pairs.append((child.key, d.last(f"-{position}", cursor(d, order, rows), within)))
        elif child.name == "endCursor":
            pairs.append((child.key, d.last(position, cursor(d, order, rows), within)))
        elif child.name == "__typename":
            pairs.append((child.key, lit('"PageInfo"')))
        else:
            raise Decline(f"PageInfo.{child.name}")
    info = obj(pairs)
    assert isinstance(info, str)
    return info
