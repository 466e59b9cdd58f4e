"""GraphQL object fields generated from the field catalogue: declared once, in `schema/`."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

import strawberry
from pydantic import NaiveDatetime

from hub.graphql.relay import global_id
from schema.catalogue import ENTITIES, public_fields

SCALARS: dict[Any, Any] = {
    str: str, int: int, Decimal: Decimal, date: date, datetime: datetime, NaiveDatetime: datetime,
}  # fmt: skip


@strawberry.interface(description="An object with a global id, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global id.")


def catalogue_type(entity: str, type_name: str) -> type:
    """A strawberry base type with the entity's public fields as plain attributes.

    Foreign keys stay private (`*_id`): the graph exposes the related object instead.
    """
    model = ENTITIES[entity]
    table = model.__table__  # type: ignore[attr-defined]
    annotations: dict[str, Any] = {"pk": strawberry.Private[int]}
    namespace: dict[str, Any] = {"__annotations__": annotations}
    names = []
    for spec in public_fields(entity):
        if spec.name == "id":
            continue
        python_type = SCALARS[spec.python_type]
        annotation = python_type | None if spec.nullable else python_type
        names.append(spec.name)
        if table.c[spec.name].foreign_keys:
            annotations[spec.name] = strawberry.Private[annotation]
            continue
        annotations[spec.name] = annotation
        namespace[spec.name] = strawberry.field(description=f"{spec.label}：{spec.description}")
    namespace["catalogue_names"] = tuple(names)
    namespace["__annotations__"]["catalogue_names"] = ClassVar[tuple[str, ...]]
    base = type(f"{type_name}Fields", (), namespace)
    return strawberry.type(
        base, name=f"{type_name}Fields", description=(model.__doc__ or "").strip()
    )


def from_row(cls: Any, row: Any) -> Any:
    """An instance of a catalogue type from a database row."""
    values = {name: getattr(row, name) for name in cls.catalogue_names}
    return cls(id=global_id(cls.__name__, row.id), pk=row.id, **values)


def filter_field(entity: str, column: str, how: str) -> Any:
    """An optional filter input on a catalogue field, described by the field's own label."""
    spec = next(s for s in public_fields(entity) if s.name == column)
    return strawberry.field(
        default=None, description=f"{spec.label}（{spec.description.rstrip('.')}）: {how}."
    )
