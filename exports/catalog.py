"""The two top-level files: `catalog.json` (every published day) and `datapackage.json`.

Both are rebuilt from the manifests after each publish, so they can never disagree with them.
The data package is Frictionless: one multipart CSV resource per entity over every published
day, plus the newest full snapshots, with table schemas from the field catalogue.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from exports.arrow import export_fields
from exports.licence import Licence
from exports.manifest import Manifest, manifest_path, published_days, read_manifest
from exports.partitions import ENTITIES, SNAPSHOT_ENTITIES
from exports.scores import ENTITY as SCORES
from exports.storage import Store

# Only these keep one row per id across days; compiled records and parties recur on every
# day their project or a record naming them was published.
IMMUTABLE = ("notices", "transactions", "penalty_records", "data_quality_issues")
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


def catalog(manifests: list[Manifest], licence: Licence | None = None) -> dict[str, Any]:
    """catalog.json: the licence and provenance, then one entry per published day."""
    return {**(licence or Licence()).as_json(), "days": catalog_entries(manifests)}


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


def table_schema(entity: str, *, keyed: bool) -> dict[str, Any]:
    """A Frictionless table schema: names, types, Chinese titles, English descriptions."""
    fields = []
    for f in export_fields(entity):
        spec = f.spec
        described: dict[str, Any] = {"name": spec.name, "title": spec.label}
        described["description"] = spec.description
        if f.python_type is datetime:
            described.update(type="datetime", format=DATETIME_FORMAT)
        else:
            described["type"] = FRICTIONLESS_TYPES[f.python_type]
        fields.append(described)
    schema: dict[str, Any] = {"fields": fields, "missingValues": [""]}
    if keyed:
        schema["primaryKey"] = ["id"]
    return schema


def _csv_resource(name: str, entity: str, paths: list[str], *, keyed: bool) -> dict[str, Any]:
    return {
        "name": name,
        "path": paths if len(paths) > 1 else paths[0],
        "profile": "tabular-data-resource",
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8-sig",
        "dialect": {"header": True, "delimiter": ",", "quoteChar": '"', "doubleQuote": True},
        "schema": table_schema(entity, keyed=keyed),
    }


def datapackage(manifests: list[Manifest], licence: Licence | None = None) -> dict[str, Any]:
    """The data package over `manifests` (oldest day first in each multipart path)."""
    licence = licence or Licence()
    ordered = sorted(manifests, key=lambda m: m.date)
    csv_files = [f for m in ordered for f in m.files if f.format == "csv"]
    resources = []
    for entity in ENTITIES:
        paths = [
            f.path for f in csv_files if f.entity == entity and f.path.startswith(f"{entity}/")
        ]
        if paths:
            keyed = entity in IMMUTABLE
            resources.append(_csv_resource(entity, entity, paths, keyed=keyed))
    for entity in (*SNAPSHOT_ENTITIES, SCORES):
        prefix = f"snapshots/{entity}/"
        paths = [f.path for f in csv_files if f.path.startswith(prefix)]
        if paths:
            keyed = entity != SCORES  # scores: one row per group, entity and month
            resources.append(_csv_resource(f"{entity}_snapshot", entity, paths[-1:], keyed=keyed))
    return {
        "name": "caigou-hub",
        "title": "政府采购信息公开数据 (government procurement disclosure open data)",
        "description": "Daily dumps of the caigou-hub: notices, compiled projects, lots, "
        "awards, contracts and their suppliers (every member of a consortium, 联合体), parties, "
        "penalty records, framework-agreement and e-mall "
        "transactions, data-quality issues, consistency flags and transparency scores. "
        "Times are Beijing time (UTC+8); money in yuan. " + licence.provenance,
        "licenses": licence.frictionless(),
        "profile": "tabular-data-package",
        "resources": resources,
    }


def write_catalog(
    store: Store, *, leaving_out: str | None = None, licence: Licence | None = None
) -> None:
    """Rewrite `catalog.json` and `datapackage.json` from the manifests, atomically.

    `leaving_out` names a day (YYYY-MM-DD) about to be unpublished, listed no more; `licence`
    is what both say the dumps are published under (the hub passes its setting).
    """
    days = [d for d in published_days(store) if d.isoformat() != leaving_out]
    manifests = [m for day in days if (m := read_manifest(store, day))]
    staging = store.new_staging("catalog")
    outputs = {"catalog.json": _dumps(catalog(manifests, licence))}
    if manifests:
        outputs["datapackage.json"] = _dumps(datapackage(manifests, licence))
    for name, data in outputs.items():
        store.write_bytes(f"{staging}/{name}", data)
        store.move(f"{staging}/{name}", name)
    store.delete(staging)
