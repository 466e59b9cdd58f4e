"""The OCDS extensions every package declares, and the release schema they add up to.

A field beyond OCDS 1.1 core is only valid OCDS when an extension the package declares in
`extensions` defines it. The hub declares two registered extensions (Lots: `tender.lots`,
`awards[].relatedLots`, `items[].relatedLot`; Contract suppliers: `contracts[].suppliers`)
and its own `caigou` extension for the rest (`title`, `fullText`, `noticeType`,
`publicityPeriod`, 最高限价 …), all shipped in schema/data/ (sources in its SOURCES.md) so
that validation needs no network. The `caigou` extension is served by the hub itself, under
`/downloads/extensions/caigou/` (hub/extension_routes.py).

A field no declared extension defines (a publisher's own extension, `bids`, which the hub
keeps in the stored payload) is left out of the export: the packages then never carry an
undeclared field, and what they say is exactly what the declared schema means.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from schema.ocds import STANDARD_ZIP

DATA = STANDARD_ZIP.parent
CORE_RELEASE_SCHEMA = "standard-1__1__5/schema/release-schema.json"
CAIGOU_FOLDER = "extensions/caigou"  # under the packages' base URI (…/downloads)


@dataclass(frozen=True)
class Extension:
    """An OCDS extension the packages declare: its files here and its `extension.json` URL.

    `url` None: the hub's own, served under `<base URI>/extensions/<name>/`.
    """

    name: str
    folder: Path
    url: str | None = None

    def metadata_url(self, base_uri: str) -> str:
        return self.url or f"{base_uri.rstrip('/')}/extensions/{self.name}/extension.json"


RAW = "https://raw.githubusercontent.com/open-contracting-extensions"
LOTS = Extension(
    "lots", DATA / "extensions" / "lots", f"{RAW}/ocds_lots_extension/v1.1.5/extension.json"
)
CONTRACT_SUPPLIERS = Extension(
    "contract_suppliers",
    DATA / "extensions" / "contract_suppliers",
    # The registry lists this extension at `master` only: pinned to the commit shipped here.
    f"{RAW}/ocds_contract_suppliers_extension/213ff47826ef6d9de62b1b7efb9bf490abd8388d/"
    "extension.json",
)  # fmt: skip
CAIGOU = Extension("caigou", DATA / "extension-caigou")
EXTENSIONS = (LOTS, CONTRACT_SUPPLIERS, CAIGOU)


def extension_urls(base_uri: str) -> list[str]:
    """The `extensions` of a package published under `base_uri`."""
    return [extension.metadata_url(base_uri) for extension in EXTENSIONS]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON Merge Patch: how OCDS applies an extension's release-schema.json."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


@cache
def release_schema() -> dict[str, Any]:
    """OCDS 1.1.5's release schema with every declared extension applied, in order."""
    with zipfile.ZipFile(STANDARD_ZIP) as archive:
        schema = json.loads(archive.read(CORE_RELEASE_SCHEMA))
    for extension in EXTENSIONS:
        patch = json.loads((extension.folder / "release-schema.json").read_text("utf-8"))
        schema = merge_patch(schema, patch)
    return schema


@cache
def _patterns(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(pattern) for pattern in patterns)


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node and node["$ref"].startswith("#/definitions/"):
        node = root["definitions"][node["$ref"].removeprefix("#/definitions/")]
    return node


def leave_out_undeclared(release: dict[str, Any]) -> list[str]:
    """Remove from `release` every field the declared schema does not define; returns their
    paths (`bids`, `tender.x`), in document order. Edits `release`."""
    root = release_schema()
    dropped: list[str] = []
    _prune(release, root, root, "", dropped)
    return dropped


def _prune(
    node: Any, schema: dict[str, Any], root: dict[str, Any], path: str, dropped: list[str]
) -> None:
    schema = _resolve(schema, root)
    if isinstance(node, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for item in node:
                _prune(item, items, root, path, dropped)
        return
    if not isinstance(node, dict) or "properties" not in schema:
        return
    properties = schema["properties"]
    patterns = _patterns(tuple(schema.get("patternProperties") or ()))
    for key in list(node):
        where = f"{path}.{key}" if path else key
        if key in properties:
            _prune(node[key], properties[key], root, where, dropped)
        elif not any(pattern.search(key) for pattern in patterns):
            del node[key]
            dropped.append(where)
