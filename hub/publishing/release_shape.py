"""The shape of an OCDS release as the hub reads it, checked before anything reads it.

A JSON Schema of the fields the pipeline and `compile_project` use, checked by
`jsonschema-rs` (compiled: ~10 µs a release), so a string where an object belongs is a named
refusal, not an AttributeError; then one walk over every value for what a schema cannot say
well: NUL, cell caps, 64-bit numbers and the plausible range of every date. Every fault is
listed, not only the first (the OCDS 1.1 schema itself: `schema.ocds_validation`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema_rs

from hub.publishing.cells import (
    MAX_BODY_BYTES,
    MAX_CELL_BYTES,
    check_number,
    check_string,
    field_name,
    iso_datetime,
    shown,
)
from hub.publishing.errors import FieldError
from schema.ocds_validation import json_path

STR = {"type": ["string", "null"]}
ID = {"type": ["string", "integer"]}
ID_OR_NULL = {"type": ["string", "integer", "null"]}  # OCDS 1.1: tender.id, awardID, …
EVENT_DATES = frozenset({"date", "dateSigned", "datePublished", "dateModified"})
SCHEDULE_DATES = frozenset({"startDate", "endDate", "maxExtentDate"})  # may look years ahead
BODIES = frozenset({"fullText", "description"})
MAX_DEPTH = 32


def _object(required: tuple[str, ...] = (), nullable: bool = True, **properties: Any) -> dict:
    shape: dict[str, Any] = {
        "type": ["object", "null"] if nullable else "object",
        "properties": properties,
    }
    if required:
        shape["required"] = list(required)
    return shape


def _list(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": ["array", "null"], "items": {**items, "type": "object"}}


VALUE = _object(amount={"type": ["number", "string", "null"]}, currency=STR)
PERIOD = _object(startDate=STR, endDate=STR)
REFERENCE = _object(id=ID, name=STR)
PARTY = _object(
    id=ID, name=STR, identifier=_object(scheme=STR, id=ID), address=_object(region=STR),
    roles={"type": ["array", "null"], "items": {"type": "string"}},
)  # fmt: skip
RELEASE = {
    **_object(
        ("ocid", "id", "date"), nullable=False,
        ocid={"type": "string"}, id={"type": "string"}, date={"type": "string"},
        tag={"type": ["array", "null"], "items": {"type": "string"}},
        initiationType=STR, language=STR, noticeType=STR, title=STR, fullText=STR,
        publicityPeriod=PERIOD,  # 公告期限: caigou extension (hub/publishing/details.py)
        classified={"type": ["boolean", "null"]},
        parties=_list(PARTY), buyer=REFERENCE,
        planning=_object(budget=_object(amount=VALUE)),
        tender=_object(
            id=ID_OR_NULL, title=STR, description=STR, value=VALUE, procuringEntity=REFERENCE,
            tenderPeriod=PERIOD, procurementMethod=STR, procurementMethodDetails=STR,
            mainProcurementCategory=STR,
            classified={"type": ["boolean", "null"]},
            items=_list(_object(classification=_object(scheme=STR, id=ID_OR_NULL))),
            lots=_list(_object(("id",), id=ID, title=STR, value=VALUE, status=STR)),
        ),
        awards=_list(_object(
            ("id",), id=ID, title=STR, status=STR, date=STR, value=VALUE,
            relatedLots={"type": ["array", "null"], "items": ID}, suppliers=_list(REFERENCE),
        )),
        contracts=_list(_object(
            ("id",), id=ID, awardID=ID_OR_NULL, title=STR, status=STR, value=VALUE, dateSigned=STR,
            period=PERIOD, suppliers=_list(REFERENCE),
        )),
        relatedProcesses={"type": ["array", "null"]},
    ),
    "additionalProperties": False,
}  # fmt: skip
VALIDATOR = jsonschema_rs.Draft202012Validator(RELEASE)
KIND = jsonschema_rs.ValidationErrorKind


def shape_faults(release: Mapping[str, Any]) -> list[FieldError]:
    """Every field whose shape the hub cannot read (the checks after it assume the shape)."""
    faults: list[FieldError] = []
    for error in VALIDATOR.iter_errors(release):
        kind = error.kind
        if isinstance(kind, KIND.AdditionalProperties):
            continue  # an extension's field (`extension_fields`): kept and recorded
        where = json_path(error.instance_path)
        if isinstance(kind, KIND.Required):  # named by its own path, as the OCDS schema does
            name = kind.property
            path = f"{where}.{name}" if where else name
            faults.append(FieldError(path, f"{name!r} is a required field"))
        elif isinstance(kind, KIND.Type):
            expected = _expected(kind.types)
            faults.append(
                FieldError(where or "release", f"{shown(error.instance)} is not {expected}")
            )
        else:
            faults.append(FieldError(where or "release", error.message))
    return faults


def extension_fields(release: Mapping[str, Any]) -> list[str]:
    """Top-level fields neither OCDS 1.1 nor the hub's extensions know: an extension's
    (`bids`, …), which OCDS allows; kept in the payload, recorded, never refused."""
    return [field_name(name) for name in sorted(set(release) - set(RELEASE["properties"]))]


def value_faults(release: Mapping[str, Any]) -> list[FieldError]:
    """Every string, number or date the hub cannot store, wherever it is."""
    faults: list[FieldError] = []
    _walk(release, "", 0, faults)
    return faults


def _expected(types: Any) -> str:
    names = [types] if isinstance(types, str) else [t for t in types if t != "null"]
    return " or ".join(f"a{'n' if t[0] in 'aeiou' else ''} {t}" for t in names)


def _walk(value: Any, where: str, depth: int, faults: list[FieldError]) -> None:
    """Strings, numbers and dates everywhere: each fault found is added to `faults`."""
    if depth > MAX_DEPTH:
        faults.append(FieldError(where, f"nests deeper than {MAX_DEPTH} levels"))
        return
    try:
        if isinstance(value, str):
            check_string(where, value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            check_number(where, value)
    except FieldError as error:
        faults.append(error)
    if isinstance(value, dict):
        for key, inner in value.items():
            path = f"{where}.{key}" if where else str(key)
            try:
                check_string(f"{where or 'release'} field name", key, 256)
                if isinstance(inner, str):
                    limit = MAX_BODY_BYTES if key in BODIES else MAX_CELL_BYTES
                    check_string(path, inner, limit)
                    if key in EVENT_DATES or key in SCHEDULE_DATES:
                        iso_datetime(inner, path, schedule=key in SCHEDULE_DATES)
                    continue
            except FieldError as error:
                faults.append(error)
                continue
            _walk(inner, path, depth + 1, faults)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _walk(inner, f"{where}[{i}]", depth + 1, faults)
