"""Objects and pages as JSON expressions: a row of a catalogue type, a keyset page of rows.

A compiler hands `node` a Selection and the row's columns (of a table or of a page
subquery); it answers the object's JSON text or raises `Decline` at the first field it does
not know. Columns come from the field catalogue (`schema.catalogue`), as the GraphQL types
do: a public, non-key column is a field under its camelCase name.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from sqlalchemy import Date, DateTime, Integer, Select, bindparam, case, func, select, tuple_
from strawberry.utils.str_converters import to_camel_case

from hub.graphql.relay import DEFAULT_PAGE, MAX_PAGE, _fits, decode_cursor
from hub.read.plan.build import Decline
from hub.read.plan.selection import Selection
from hub.read.plan.sqljson import Dialect, Sql, base_type, cat, lit, obj
from schema.catalogue import public_fields
from schema.columns import ScaledDecimal
from schema.tables import Contract, Party, PenaltyRecord, Project, Transaction
from schema.types import CHANNEL_LABELS

TABLES: dict[str, Any] = {
    "Transaction": Transaction.__table__,  # type: ignore[attr-defined]
    "Party": Party.__table__,  # type: ignore[attr-defined]
    "Contract": Contract.__table__,  # type: ignore[attr-defined]
    "PenaltyRecord": PenaltyRecord.__table__,  # type: ignore[attr-defined]
    "Project": Project.__table__,  # type: ignore[attr-defined]
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


Relation = Callable[[Dialect, Selection, Any], Sql]  # (dialect, selection, row columns)


def node(d: Dialect, sel: Selection, row: Any, relations: dict[str, Relation] | None = None) -> Sql:
    """The object `sel` asks for, from `row` (columns by name); Decline on anything unknown."""
    type_name = sel.type_name
    table = TABLES.get(type_name)
    if table is None:
        raise Decline(f"no table for {type_name}")
    plain = fields_of(type_name)
    relations = relations or {}
    pairs: list[tuple[str, Sql]] = []
    for child in sel.children:
        name = child.name
        if name in plain:
            column = table.c[plain[name]]
            pairs.append((child.key, d.column(column, row[column.key])))
        elif name == "id":
            pairs.append((child.key, d.global_id(type_name, row["id"])))
        elif name == "__typename":
            pairs.append((child.key, lit(f'"{type_name}"')))
        elif name in relations:
            pairs.append((child.key, relations[name](d, child, row)))
        else:
            raise Decline(f"{type_name}.{name} is not planned")
    return obj(pairs)


def party(d: Dialect, sel: Selection, key: Any) -> Sql:
    """A party by its key (a nullable reference gives null), plain fields only."""
    parties = TABLES["Party"]
    found = select(node(d, sel, parties.c)).where(parties.c.id == key).scalar_subquery()
    return func.coalesce(found, lit("null"))


def channel_label(d: Dialect, sel: Selection, row: Any) -> Sql:
    labels = {channel.value: label for channel, label in CHANNEL_LABELS.items()}
    return case(*((row["channel"] == k, lit(f'"{v}"')) for k, v in labels.items()))


def cursor(d: Dialect, order: list[Any], row: Any) -> Sql:
    """`relay.encode_cursor` of the row's order values, spelled by the database."""
    parts: list[Sql] = []
    for i, column in enumerate(order):
        value = d.column(column, row[column.key])
        kind = base_type(column.type)
        tag = "n" if isinstance(kind, ScaledDecimal) else "dt" if isinstance(kind, DateTime) \
            else "d" if isinstance(kind, Date) else None  # fmt: skip
        if tag is None and not isinstance(kind, Integer):
            raise Decline("a cursor on an unknown type")
        parts += [lit(("[" if i == 0 else ",") + (f'["{tag}",' if tag else "")), value]
        if tag:
            parts.append(lit("]"))
    parts.append(lit("]"))
    return cat(lit('"'), d.b64url(cat(*parts)), lit('"'))


def page(
    d: Dialect,
    sel: Selection,
    base: Select[Any],
    type_name: str,
    order: list[Any],
    descending: bool,
    build: Callable[[Selection, Any], Sql],
    outer: Any = None,
) -> Sql:
    """A Connection (`keyset_page`'s answer) forward from `after`, as a scalar subquery.

    The page is `LIMIT first + 1` rows numbered in order (`rn`); the extra row only says
    whether a next page exists, as in `keyset_page`.
    """
    args = sel.args
    if args.get("last") is not None or args.get("before") is not None:
        raise Decline("backward pages are left to the resolvers")
    size = args.get("first")
    size = DEFAULT_PAGE if size is None else size
    if not 0 <= size <= MAX_PAGE:
        raise Decline("first out of range: the resolver's error")
    after = args.get("after")
    if outer is not None:  # a page per row of `outer`: correlated to it
        base = base.correlate(outer)
    keyed = base
    if after is not None:
        try:
            values = decode_cursor(after)
        except Exception as error:
            raise Decline("a cursor the resolver refuses") from error
        if len(values) != len(order) or not all(map(_fits, values, order)):
            raise Decline("a cursor of another list")
        bound = tuple_(
            *(bindparam(None, v, type_=c.type) for v, c in zip(values, order, strict=True))
        )
        key = tuple_(*order)
        keyed = keyed.where(key < bound if descending else key > bound)
    ordering = [c.desc() if descending else c.asc() for c in order]
    rn = func.row_number().over(order_by=ordering).label("rn")
    rows = (
        keyed.with_only_columns(*shown(type_name), rn)
        .order_by(*ordering)
        .limit(size + 1)
        .subquery()
    )
    inner = [rows.c[c.key] for c in order]
    within = rows.c.rn <= size
    pairs: list[tuple[str, Sql]] = []
    for child in sel.children:
        if child.name == "nodes":
            pairs.append((child.key, d.array(rows.c.rn, build(child, rows.c), within)))
        elif child.name == "edges":
            edge: list[tuple[str, Sql]] = []
            for part in child.children:
                if part.name == "node":
                    edge.append((part.key, build(part, rows.c)))
                elif part.name == "cursor":
                    edge.append((part.key, cursor(d, inner, rows.c)))
                elif part.name == "__typename":
                    edge.append((part.key, lit(f'"{child.type_name}"')))
                else:
                    raise Decline(f"Edge.{part.name}")
            pairs.append((child.key, d.array(rows.c.rn, obj(edge), within)))
        elif child.name == "pageInfo":
            pairs.append((child.key, _page_info(d, child, rows, inner, size, after is not None)))
        elif child.name == "totalCount":
            counted = select(func.count()).select_from(base.order_by(None).subquery())
            pairs.append((child.key, d.integer(counted.scalar_subquery())))
        elif child.name == "__typename":
            pairs.append((child.key, lit(f'"{sel.type_name}"')))
        else:
            raise Decline(f"Connection.{child.name}")
    return select(obj(pairs)).select_from(rows).scalar_subquery()


def _page_info(
    d: Dialect, sel: Selection, rows: Any, inner: list[Any], size: int, after: bool
) -> Sql:
    pairs: list[tuple[str, Sql]] = []
    for child in sel.children:
        if child.name == "hasNextPage":
            pairs.append((child.key, d.boolean(func.count() > size)))
        elif child.name == "hasPreviousPage":
            pairs.append((child.key, lit("true" if after else "false")))
        elif child.name == "startCursor":
            first = d.last(-rows.c.rn, cursor(d, inner, rows.c), rows.c.rn <= size)
            pairs.append((child.key, func.coalesce(first, lit("null"))))
        elif child.name == "endCursor":
            end = d.last(rows.c.rn, cursor(d, inner, rows.c), rows.c.rn <= size)
            pairs.append((child.key, func.coalesce(end, lit("null"))))
        elif child.name == "__typename":
            pairs.append((child.key, lit('"PageInfo"')))
        else:
            raise Decline(f"PageInfo.{child.name}")
    return obj(pairs)
