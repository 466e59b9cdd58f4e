"""The shape of an OCDS release as the hub reads it, checked before anything reads it.

A JSON Schema (checked by `jsonschema`) of the fields the pipeline and `compile_project` use,
so a string where an object belongs is a named refusal, not an AttributeError; then one walk
over every value for what a schema cannot say well: NUL, cell caps, 64-bit numbers and the
plausible range of every date.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

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

STR = {"type": ["string", "null"]}
ID = {"type": ["string", "integer"]}
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
            id=STR, title=STR, description=STR, value=VALUE, procuringEntity=REFERENCE,
            tenderPeriod=PERIOD, procurementMethod=STR, procurementMethodDetails=STR,
            mainProcurementCategory=STR,
            classified={"type": ["boolean", "null"]},
            items=_list(_object(classification=_object(scheme=STR, id=STR))),
            lots=_list(_object(("id",), id=ID, title=STR, value=VALUE, status=STR)),
        ),
        awards=_list(_object(
            ("id",), id=ID, title=STR, status=STR, date=STR, value=VALUE,
            relatedLots={"type": ["array", "null"], "items": ID}, suppliers=_list(REFERENCE),
        )),
        contracts=_list(_object(
            ("id",), id=ID, awardID=STR, title=STR, status=STR, value=VALUE, dateSigned=STR,
            period=PERIOD, suppliers=_list(REFERENCE),
        )),
        relatedProcesses={"type": ["array", "null"]},
    ),
    "additionalProperties": False,
}  # fmt: skip
VALIDATOR = Draft202012Validator(RELEASE)


def field_path(path: Any) -> str:
    """("tender", "items", 0, "id") → tender.items[0].id"""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def check_release(release: Mapping[str, Any]) -> None:
    """FieldError naming the first field whose shape or value the hub cannot take."""
    error = best_match(VALIDATOR.iter_errors(release))
    if error is not None:
        if error.validator == "additionalProperties":
            unknown = sorted(set(release) - set(RELEASE["properties"]))  # type: ignore[arg-type]
            raise FieldError(field_name(unknown[0]), "unknown release field (OCDS 1.1 and the "
                             "extension in README: Input formats)")  # fmt: skip
        where = field_path(error.absolute_path) or "release"
        if error.validator == "required":
            raise FieldError(where, error.message.replace("property", "field"))
        expected = _expected(error.validator_value)
        raise FieldError(where, f"{shown(error.instance)} is not {expected}")
    _walk(release, "", 0)


def _expected(types: Any) -> str:
    names = [types] if isinstance(types, str) else [t for t in types if t != "null"]
    return " or ".join(f"a{'n' if t[0] in 'aeiou' else ''} {t}" for t in names)


def _walk(value: Any, where: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise FieldError(where, f"nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for key, inner in value.items():
            path = f"{where}.{key}" if where else str(key)
            check_string(f"{where or 'release'} field name", key, 256)
            if isinstance(inner, str):
                check_string(path, inner, MAX_BODY_BYTES if key in BODIES else MAX_CELL_BYTES)
                if key in EVENT_DATES or key in SCHEDULE_DATES:
                    iso_datetime(inner, path, schedule=key in SCHEDULE_DATES)
            else:
                _walk(inner, path, depth + 1)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _walk(inner, f"{where}[{i}]", depth + 1)
    elif isinstance(value, str):
        check_string(where, value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        check_number(where, value)
