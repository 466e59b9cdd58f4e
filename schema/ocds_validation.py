"""Each incoming release against the OCDS 1.1 release schema shipped in the repository.

`jsonschema-rs` (compiled, draft 4) reports every fault of a release in one pass, so a
publisher learns all of them at once. A few shapes the hub's OCDS export already turns into
valid OCDS are harmless: they are kept verbatim in the stored payload and reported as
data-quality issues (`HARMLESS`, README: Input formats) instead of refusing the notice.
Formats (date-time, uri) are not checked here: the hub reads dates itself, as ISO 8601.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

import jsonschema_rs

from schema.ocds import CURRENCY_NAMES, STANDARD_ZIP, TAG_TO_NOTICE

RELEASE_SCHEMA = "standard-1__1__5/schema/release-schema.json"
# Closed-codelist fields the export maps (a Chinese method name moves to
# procurementMethodDetails; 货物/工程/服务 become goods/works/services) or leaves out (a
# status outside the codelist), path with list indexes left out → data-quality code.
MAPPED_CODES = {
    "initiationType": "initiation_type_mapped",
    "tender.procurementMethod": "method_as_name",
    "tender.mainProcurementCategory": "category_as_name",
    "tender.status": "status_outside_codelist",
    "awards.status": "status_outside_codelist",
    "contracts.status": "status_outside_codelist",
    "tender.milestones.status": "status_outside_codelist",
    "contracts.milestones.status": "status_outside_codelist",
}
# Every harmless shape, for README and tests: code → what the export does with it.
HARMLESS = {
    "initiation_type_missing": "no `initiationType`: exported as `tender`",
    "initiation_type_mapped": "`initiationType` other than `tender`: exported as `tender`",
    "amount_as_string": 'an amount as a numeric string (`"500000.00"`): exported as a number',
    "currency_as_name": "currency as 人民币, 元 or RMB: exported as `CNY`",
    "method_as_name": "`tender.procurementMethod` as a name (公开招标): exported as the OCDS "
    "code, the name in `procurementMethodDetails`",
    "category_as_name": "`tender.mainProcurementCategory` outside the codelist (货物, 工程, "
    "服务 are mapped): exported mapped or left out",
    "status_outside_codelist": "a tender, award, contract or milestone `status` outside the "
    "codelist: left out of the export",
    "tag_outside_codelist": "a tag outside the codelist (招标公告) beside an OCDS tag or the "
    "`noticeType` extension: left out of the export",
    "extension_field": "a top-level field of an OCDS extension the hub does not read (`bids`): "
    "kept in the payload, left out of the OCDS export (which declares its extensions)",
    "party_region_unread": "a region of a party other than the buyer that GB/T 2260 cannot "
    "read (`Hong Kong`, an ambiguous `朝阳区`): kept as sent, the party without a region",
}


@dataclass(frozen=True)
class SchemaFault:
    """One place where a release departs from the schema; `issue` set when harmless."""

    path: str
    message: str
    issue: str | None = None


@cache
def _validator() -> Any:
    with zipfile.ZipFile(STANDARD_ZIP) as archive:
        schema = json.loads(archive.read(RELEASE_SCHEMA))
    return jsonschema_rs.validator_for(schema, validate_formats=False)


def json_path(parts: Any) -> str:
    """("tender", "items", 0, "id") → tender.items[0].id"""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _is_number(value: Any) -> bool:
    try:
        return isinstance(value, str) and Decimal(value.replace(",", "").strip()).is_finite()
    except InvalidOperation:
        return False


def _harmless(error: Any, path: str, release: Mapping[str, Any]) -> str | None:
    kind = error.kind
    bare = re.sub(r"\[\d+\]", "", path)
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        return "initiation_type_missing" if path == "initiationType" else None
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Type):
        return (
            "amount_as_string" if bare.endswith(".amount") and _is_number(error.instance) else None
        )
    if not isinstance(kind, jsonschema_rs.ValidationErrorKind.Enum):
        return None
    if bare.endswith(".currency"):
        return "currency_as_name" if str(error.instance).strip() in CURRENCY_NAMES else None
    if bare == "tag":  # harmless beside a tag or a noticeType that gives the notice type
        given = release.get("tag")
        tags: list[Any] = given if isinstance(given, list) else []
        known = release.get("noticeType") or any(
            isinstance(tag, str) and tag in TAG_TO_NOTICE for tag in tags
        )
        return "tag_outside_codelist" if known else None
    return MAPPED_CODES.get(bare)


def schema_faults(release: Mapping[str, Any]) -> list[SchemaFault]:
    """Every departure of `release` from the OCDS 1.1 release schema, in document order."""
    faults = []
    for error in _validator().iter_errors(release):
        path = json_path(error.instance_path)
        message = error.message
        if isinstance(error.kind, jsonschema_rs.ValidationErrorKind.Required):
            path = f"{path}.{error.kind.property}" if path else error.kind.property
            message = "is required"
        faults.append(SchemaFault(path, message, _harmless(error, path, release)))
    return faults
