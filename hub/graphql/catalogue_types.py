"""GraphQL object fields generated from the field catalogue: declared once, in `schema/`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, ClassVar

import strawberry
from pydantic import NaiveDatetime
from sqlalchemy import Select, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY

from hub.read.cursors import global_id
from schema.catalogue import ENTITIES, public_fields

SCALARS: dict[Any, Any] = {
    str: str, int: int, float: float, bool: bool, Decimal: Decimal, date: date,
    datetime: datetime,
    NaiveDatetime: datetime,
}  # fmt: skip


# Subscripted with field types known only at run time, which a type checker cannot follow.
_PRIVATE: Any = strawberry.Private


@strawberry.interface(description="An object with a global id, fetchable with `node(id:)`.")
class Node:
    pk: strawberry.Private[int]

    # A resolver, not an attribute: most queries never ask for ids, and encoding one for
    # every row and related party cost a millisecond on a page of 100 transactions.
    @strawberry.field(description="Opaque global id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(global_id(type(self).__name__, self.pk))


def catalogue_type(entity: str, type_name: str, private: tuple[str, ...] = ()) -> type:
    """A strawberry base type with the entity's public fields as plain attributes.

    Foreign keys and the `private` names stay private (`*_id`): the graph exposes the related
    object instead.
    """
    model = ENTITIES[entity]
    table = getattr(model, "__table__", None)  # computed entities have none
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {"__annotations__": annotations}
    names = []
    for spec in public_fields(entity):
        if spec.name == "id":
            continue
        python_type = SCALARS[spec.python_type]
        annotation = python_type | None if spec.nullable else python_type
        names.append(spec.name)
        if spec.name in private or (table is not None and table.c[spec.name].foreign_keys):
            annotations[spec.name] = _PRIVATE[annotation]
            continue
        annotations[spec.name] = annotation
        namespace[spec.name] = strawberry.field(description=f"{spec.label}：{spec.description}")
    namespace["catalogue_names"] = tuple(names)
    namespace["__annotations__"]["catalogue_names"] = ClassVar[tuple[str, ...]]
    base = type(f"{type_name}Fields", (), namespace)
    return strawberry.type(
        base, name=f"{type_name}Fields", description=(model.__doc__ or "").strip()
    )


@cache
def _shown(table_name: str) -> tuple[str, ...]:
    return ("id", *(s.name for s in public_fields(table_name) if s.name != "id"))


def shown(table: Any) -> list[Any]:
    """The columns the API can show: public fields and keys, not raw payloads or digests.

    Fetching a notice's or order's original payload for every row cost more than the rest
    of the row, only to be dropped.
    """
    if table.name not in ENTITIES:  # link tables: keys and codes only
        return list(table.c)
    return [table.c[name] for name in _shown(table.name)]


@cache
def _attribute_names(fields: tuple[str, ...]) -> tuple[str, ...]:
    return tuple("pk" if name == "id" else name for name in fields)


def from_row(cls: Any, row: Any) -> Any:
    """An instance of a catalogue type from a database row.

    The row's values are copied in one step, bypassing the dataclass `__init__`: building
    the objects was a fifth of the CPU of a page of transactions. Every selected column
    becomes an attribute; only the type's fields are shown.
    """
    obj = object.__new__(cls)
    obj.__dict__.update(zip(_attribute_names(row._fields), row, strict=True))
    return obj


def among(conn: Any, column: Any, values: Iterable[Any]) -> Any:
    """`column IN (values)`; on PostgreSQL `= ANY(array)`, one short statement for any count.

    An IN list of 150 ids is a new statement text each time for the driver to rewrite and the
    server to plan: 2.6x the CPU of the array form for a page's parties.
    """
    values = list(values)
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def by_ids(conn: Any, table: Any, ids: Iterable[int]) -> Any:
    """The shown columns of the rows with these ids, as `among` would select them.

    The statement is built once per table: building and keying a new one for every page
    cost a quarter of a millisecond, a tenth of the hub's own time in a search.
    """
    return conn.execute(_by_ids(table, conn.dialect.name), {"ids": list(ids)})


@cache
def _by_ids(table: Any, dialect: str) -> Select[Any]:
    if dialect == "postgresql":
        wanted = table.c.id == any_(bindparam("ids", type_=ARRAY(table.c.id.type)))
    else:
        wanted = table.c.id.in_(bindparam("ids", expanding=True))
    return select(*shown(table)).where(wanted)


def filter_field(entity: str, column: str, how: str) -> Any:
    """An optional filter input on a catalogue field, described by the field's own label."""
    spec = next(s for s in public_fields(entity) if s.name == column)
    return strawberry.field(
        default=None, description=f"{spec.label}（{spec.description.rstrip('.')}）: {how}."
    )
