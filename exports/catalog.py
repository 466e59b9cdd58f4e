"""The two top-level files: `catalog.json` (every published day) and `datapackage.json`.

Both are rebuilt from the manifests after each publish, so they can never disagree with them.
The data package is Frictionless: one multipart CSV resource per record entity over every
published day, plus the current/ and history/ files, with table schemas from the field
catalogue. catalog.json lists current/ and history/ (rows, bytes, SHA-256, as of which day).
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pyarrow as pa

from exports.arrow import entity_schema
from exports.asof import COMPILED_ENTITIES, KEYS
from exports.licence import Licence
from exports.manifest import (
    Derived,
    FileEntry,
    Manifest,
    manifest_path,
    published_days,
    read_derived,
    read_manifest,
)
from exports.partitions import RECORDS, SCORES
from exports.party_names import named_schema
from exports.relations import foreign_keys
from exports.storage import Store
from exports.versions import change_schema, history_schema

FRICTIONLESS_TYPES: dict[type, str] = {
    int: "integer",
    str: "string",
    bool: "boolean",
    float: "number",
    Decimal: "number",
    date: "date",
}
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # the CSV's timestamps, to the second (exports.formats)


def _dumps(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode()


def _listed(entry: FileEntry) -> dict[str, Any]:
    return {"path": entry.path, "entity": entry.entity, "format": entry.format,
            "rows": entry.rows, "bytes": entry.bytes, "sha256": entry.sha256}  # fmt: skip


def derived_entries(derived: Derived | None) -> dict[str, Any]:
    """`current` and `history`: the day they are as of and their files."""
    listed: dict[str, Any] = {}
    for tree in ("current", "history"):
        files = [_listed(f) for f in (derived.files if derived else [])
                 if f.path.split("/")[1] == tree]  # fmt: skip
        listed[tree] = {"as_of": derived.as_of if derived else None, "files": files}
    return listed


def catalog(
    manifests: list[Manifest], licence: Licence | None = None, derived: Derived | None = None
) -> dict[str, Any]:
    """catalog.json: the licence and provenance, current/ and history/, then every day."""
    return {
        **(licence or Licence()).as_json(),
        **derived_entries(derived),
        "days": catalog_entries(manifests),
    }


def catalog_entries(manifests: list[Manifest]) -> list[dict[str, Any]]:
    """One entry per published day, newest first."""
    return [
        {
            "date": m.date,
            "manifest": manifest_path(m.date),
            "watermark": m.watermark,
            "files": len(m.files),
            "rows": m.rows,
            "bytes": m.bytes,
        }
        for m in sorted(manifests, key=lambda m: m.date, reverse=True)
    ]


def _frictionless_type(arrow_type: pa.DataType) -> dict[str, Any]:
    if pa.types.is_timestamp(arrow_type):
        return {"type": "datetime", "format": DATETIME_FORMAT}
    if pa.types.is_integer(arrow_type):
        return {"type": "integer"}
    if pa.types.is_boolean(arrow_type):
        return {"type": "boolean"}
    if pa.types.is_decimal(arrow_type) or pa.types.is_floating(arrow_type):
        return {"type": "number"}
    if pa.types.is_date(arrow_type):
        return {"type": "date"}
    return {"type": "string"}


def table_schema(
    entity: str, *, keyed: bool, schema: pa.Schema | None = None,
    primary_key: list[str] | None = None, foreign: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A Frictionless table schema: names, types, Chinese titles, English descriptions, read
    from the Arrow schema the files were written with (the entity's published columns by
    default: its own, with each party id's name and credit code beside it). `keyed` means
    `id` is the primary key unless `primary_key` names another; `foreign` are its foreign
    keys (exports.relations)."""
    fields = []
    for field in schema if schema is not None else named_schema(entity_schema(entity), entity):
        meta = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
        described: dict[str, Any] = {"name": field.name, "title": meta.get("label_zh", field.name)}
        described["description"] = meta.get("description_en", "")
        described.update(_frictionless_type(field.type))
        fields.append(described)
    described_schema: dict[str, Any] = {"fields": fields, "missingValues": [""]}
    if primary_key or keyed:
        described_schema["primaryKey"] = primary_key or ["id"]
    if foreign:
        described_schema["foreignKeys"] = foreign
    return described_schema


def _csv_resource(
    name: str, entity: str, paths: list[str], *, keyed: bool, schema: pa.Schema | None = None,
    primary_key: list[str] | None = None, foreign: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "name": name,
        "path": paths if len(paths) > 1 else paths[0],
        "profile": "tabular-data-resource",
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8-sig",
        "dialect": {"header": True, "delimiter": ",", "quoteChar": '"', "doubleQuote": True},
        "schema": table_schema(
            entity, keyed=keyed, schema=schema, primary_key=primary_key, foreign=foreign
        ),
    }


def primary_key_of(entity: str, tree: str) -> list[str] | None:
    """Compiled rows are keyed by project and natural id (a past version has no surrogate
    id), history's by version too; flags by their finding (a past one may have no stored
    flag: exports.flagrows); records and parties by `id`; scores by none."""
    if entity == "flags":
        return ["flag_key"]
    if entity in KEYS:
        return list(KEYS[entity]) + (["valid_from"] if tree == "history" else [])
    return ["id"] if entity_keyed(entity, tree) else None


def _derived_schema(entity: str, tree: str) -> pa.Schema | None:
    if entity not in COMPILED_ENTITIES:
        return None  # parties, flags, scores: the entity's own columns
    return history_schema(entity) if tree == "history" else change_schema(entity)


def datapackage(
    manifests: list[Manifest], licence: Licence | None = None, derived: Derived | None = None
) -> dict[str, Any]:
    """The data package: each record entity over every published day (oldest first), and
    the single current/ and history/ files. Change files and month-end snapshots are for
    rebuilding a day; the manifests and catalog.json list them."""
    licence = licence or Licence()
    ordered = sorted(manifests, key=lambda m: m.date)
    csv_files = [f for m in ordered for f in m.files if f.format == "csv"]
    records = [e for e in RECORDS if any(f.path.startswith(f"csv/{e}/") for f in csv_files)]
    derived_csv = [f for f in (derived.files if derived else []) if f.format == "csv"]
    current = {f.entity for f in derived_csv if f.path.split("/")[1] == "current"}
    # Keys point into current/ only: it holds every project and party that any record or
    # current row names, while a record's resource holds only the days published (a backfill
    # may skip some). history/ rows point at versions, so none there.
    targets = current
    names = {e: f"{e}_current" for e in current}

    def keys(entity: str, schema: pa.Schema | None) -> list[dict[str, Any]]:
        columns = (schema or named_schema(entity_schema(entity), entity)).names
        return foreign_keys(entity, columns=columns, resources=targets, resource_names=names)

    resources = []
    for entity in records:
        prefix = f"csv/{entity}/"
        paths = [f.path for f in csv_files if f.path.startswith(prefix)]
        resources.append(_csv_resource(
            entity, entity, paths, keyed=True, primary_key=primary_key_of(entity, "records"),
            foreign=keys(entity, None),
        ))  # fmt: skip
    for entry in derived_csv:
        tree = entry.path.split("/")[1]
        name, keyed = f"{entry.entity}_{tree}", entity_keyed(entry.entity, tree)
        schema = _derived_schema(entry.entity, tree)
        resources.append(_csv_resource(
            name, entry.entity, [entry.path], keyed=keyed, schema=schema,
            primary_key=primary_key_of(entry.entity, tree),
            foreign=keys(entry.entity, schema) if tree == "current" else None,
        ))  # fmt: skip
    return {
        "name": "caigou-hub",
        "title": "政府采购信息公开数据 (government procurement disclosure open data)",
        "description": "Daily dumps of the caigou-hub: notices, compiled projects, lots, "
        "awards, contracts and their suppliers (every member of a consortium, 联合体), parties, "
        "penalty records, framework-agreement and e-mall "
        "transactions, data-quality issues, consistency flags and transparency scores. "
        "Compiled records are versioned (valid_from/valid_to): current/ holds one version "
        "each, history/ every version, so sums over either never count a record twice. "
        "Party ids are the hub's parties.id, stable (never renumbered). "
        "Times are Beijing time (UTC+8); money in yuan. " + licence.provenance,
        "licenses": licence.frictionless(),
        "profile": "tabular-data-package",
        "resources": resources,
    }


def entity_keyed(entity: str, tree: str) -> bool:
    """Whether `id` identifies a row: records, parties and flags; in current/, projects."""
    if entity == SCORES or (tree == "history" and entity == "projects"):
        return False
    return entity in ("parties", "flags", "projects") or entity in RECORDS


def write_catalog(
    store: Store, *, leaving_out: str | None = None, licence: Licence | None = None
) -> None:
    """Rewrite `catalog.json` and `datapackage.json` from the manifests, atomically.

    `leaving_out` names a day (YYYY-MM-DD) about to be unpublished, listed no more; `licence`
    is what both say the dumps are published under (the hub passes its setting).
    """
    days = [d for d in published_days(store) if d.isoformat() != leaving_out]
    manifests = [m for day in days if (m := read_manifest(store, day))]
    derived = read_derived(store)
    staging = store.new_staging("catalog")
    outputs = {"catalog.json": _dumps(catalog(manifests, licence, derived))}
    if manifests:
        outputs["datapackage.json"] = _dumps(datapackage(manifests, licence, derived))
    for name, data in outputs.items():
        store.write_bytes(f"{staging}/{name}", data)
        store.move(f"{staging}/{name}", name)
    store.delete(staging)
