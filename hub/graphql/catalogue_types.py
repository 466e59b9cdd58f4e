"""GraphQL object fields generated from the field catalogue: declared once, in `schema/`."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, ClassVar

import strawberry
from pydantic import NaiveDatetime

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


def filter_field(entity: str, column: str, how: str) -> Any:
    """An optional filter input on a catalogue field, described by the field's own label."""
    spec = next(s for s in public_fields(entity) if s.name == column)
    return strawberry.field(
        default=None, description=f"{spec.label}（{spec.description.rstrip('.')}）: {how}."
    )
