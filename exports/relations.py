"""Frictionless foreign keys for `datapackage.json`, from the relations of schema.relations.

Resource names are the entity names: compiled entities and parties are read from
`current/<entity>`, immutable records from their day folders; the writer maps a name to
its resource's when they differ (`resource_names`). Only keys the hub guarantees are
declared (`Relation.checked`), so `frictionless validate datapackage.json` passes on true
data; the others are in docs/open-data-tables.md.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from exports.arrow import export_fields
from schema.relations import Relation, relations


def _columns(entity: str) -> set[str]:
    return {f.name for f in export_fields(entity)}


def declared(
    entity: str,
    *,
    columns: Collection[str] | None = None,
    resources: Collection[str] | None = None,
    checked_only: bool = True,
) -> list[Relation]:
    """The relations of `entity` that apply to its published columns (by default its export
    fields) and, when `resources` is given, whose target is among them."""
    present = set(_columns(entity) if columns is None else columns)
    found = []
    for relation in relations(entity):
        if checked_only and not relation.checked:
            continue
        if not set(relation.fields) <= present:
            continue
        if resources is not None and relation.resource not in resources:
            continue
        found.append(relation)
    return found


def foreign_keys(
    entity: str,
    *,
    columns: Collection[str] | None = None,
    resources: Collection[str] | None = None,
    resource_names: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """`entity`'s foreign keys in Frictionless Table Schema form.

    `columns`: the resource's columns (default: the entity's export fields); `resources`: the
    entities the package holds (keys to others are left out, or validation fails);
    `resource_names`: entity → resource name where they differ (`awards` → `awards_current`).
    A key to the entity itself names its resource as "" (the Table Schema self-reference).
    """
    rename = resource_names or {}
    keys = []
    for relation in declared(entity, columns=columns, resources=resources):
        target = "" if relation.resource == entity else rename.get(relation.resource)
        keys.append(
            {
                "fields": list(relation.fields),
                "reference": {
                    "resource": relation.resource if target is None else target,
                    "fields": list(relation.target),
                },
            }
        )
    return keys
