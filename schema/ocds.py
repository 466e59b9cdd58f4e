"""OCDS 1.1 mapping: notice types from release tags, and compiling releases into a record.

`merge_releases` follows OCDS merge rules (objects merge key by key, arrays of objects with
`id` merge by id, other arrays and values are replaced, `null` removes), so a correction
overrides only what it states. tests/test_ocds_compile.py checks it against `ocdsmerge`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from schema.types import NoticeType

BEIJING = timezone(timedelta(hours=8))
# The OCDS 1.1.5 schema folder as the standard releases it (release, record and package
# schemas, codelists), shipped so validation runs offline: source and licence in data/SOURCES.md.
STANDARD_ZIP = Path(__file__).parent / "data" / "ocds-standard-1__1__5.zip"

# Every OCDS 1.1 release tag (closed codelist `releaseTag.csv`) → notice type
# (docs/disclosure.md); the first tag found in this order wins, so a cancellation or an
# amendment outranks the section it belongs to. `compiled` is no notice: it is a record.
TAG_TO_NOTICE: dict[str, NoticeType] = {
    "tenderCancellation": NoticeType.termination,
    "tenderAmendment": NoticeType.correction,
    "tenderUpdate": NoticeType.correction,
    "awardCancellation": NoticeType.correction,
    "awardUpdate": NoticeType.correction,
    "contractTermination": NoticeType.correction,
    "contractAmendment": NoticeType.correction,
    "contractUpdate": NoticeType.correction,
    "implementationUpdate": NoticeType.acceptance,
    "implementation": NoticeType.acceptance,
    "contract": NoticeType.contract,
    "award": NoticeType.result,
    "tender": NoticeType.tender,
    "planningUpdate": NoticeType.intention,
    "planning": NoticeType.intention,
}
# The release tags of OCDS 1.1, read by the exporter too ("compiled" only on records).
RELEASE_TAGS = frozenset(TAG_TO_NOTICE) | {"compiled"}
# The section a correction amends: supersedes the latest notice of these types.
AMENDS: dict[str, tuple[NoticeType, ...]] = {
    "tenderAmendment": (NoticeType.tender, NoticeType.single_source, NoticeType.correction),
    "tenderUpdate": (NoticeType.tender, NoticeType.single_source, NoticeType.correction),
    "awardCancellation": (NoticeType.result, NoticeType.correction),
    "awardUpdate": (NoticeType.result, NoticeType.correction),
    "contractTermination": (NoticeType.contract, NoticeType.correction),
    "contractAmendment": (NoticeType.contract, NoticeType.correction),
    "contractUpdate": (NoticeType.contract, NoticeType.correction),
}
OCDS_NOTICE_TYPES = frozenset(NoticeType) - {
    NoticeType.complaint_decision,
    NoticeType.supervision_decision,
    NoticeType.agency_evaluation,
    NoticeType.dishonest_record,
}


def is_single_source(tender: Mapping[str, Any]) -> bool:
    method = tender.get("procurementMethod")
    details = tender.get("procurementMethodDetails") or ""
    return method == "direct" or (method == "limited" and "单一来源" in details)


def notice_type_of(release: Mapping[str, Any]) -> NoticeType | None:
    """The notice type a release carries; the `noticeType` extension overrides the tags."""
    declared = release.get("noticeType")
    if declared:
        known = isinstance(declared, str) and declared in OCDS_NOTICE_TYPES
        return NoticeType(declared) if known else None
    given = release.get("tag")
    tags: list[Any] = given if isinstance(given, list) else []
    for tag, notice_type in TAG_TO_NOTICE.items():
        if tag in tags:
            if notice_type is NoticeType.tender and is_single_source(release.get("tender") or {}):
                return NoticeType.single_source
            return notice_type
    return None


def parse_ocds_datetime(value: str) -> datetime:
    """An OCDS date-time as naive Beijing time, the one clock the hub stores."""
    # RFC 3339 allows a lowercase `z` too; fromisoformat takes neither before Python 3.11's `Z`
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        return parsed
    return parsed.astimezone(BEIJING).replace(tzinfo=None)


def to_ocds_datetime(value: datetime) -> str:
    return value.replace(tzinfo=BEIJING).isoformat()


PLAIN = frozenset((str, int, float, bool))


def _merge_into(merged: dict[str, Any], value: Mapping[str, Any]) -> None:
    """Merge the fields of `value` into `merged`; plain values without a call each (a full
    flags rebuild merges half a million notices, most of whose fields are strings)."""
    for key, inner in value.items():
        if type(inner) in PLAIN:
            merged[key] = inner
        else:
            _merge_value(merged, key, inner)


def _merge_value(target: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        target.pop(key, None)
    elif isinstance(value, dict):
        current = target.get(key)
        merged = current if isinstance(current, dict) else {}
        _merge_into(merged, value)
        target[key] = merged
    elif (
        isinstance(value, list)
        and value
        and all(isinstance(item, dict) and "id" in item for item in value)
    ):
        current = target.get(key)
        by_id: dict[str, dict[str, Any]] = {}
        if isinstance(current, list):
            for item in current:
                if isinstance(item, dict) and "id" in item:
                    by_id[str(item["id"])] = item
        for item in value:
            _merge_into(by_id.setdefault(str(item["id"]), {}), item)
        target[key] = list(by_id.values())
    else:
        target[key] = value


NOT_MERGED = ("id", "date", "tag")


def merge_releases(releases: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The compiled release of `releases`, taken in the order given (sort them first)."""
    compiled: dict[str, Any] = {}
    last: Mapping[str, Any] = {}
    for release in releases:
        for key, value in release.items():
            if key not in NOT_MERGED:
                _merge_value(compiled, key, value)
        last = release
    if last:
        compiled["date"] = last.get("date")
        compiled["tag"] = ["compiled"]
    return compiled


def amount_of(value: Any) -> Any:
    """`value.amount` of an OCDS Value, or None."""
    return value.get("amount") if isinstance(value, dict) else None


def utc_now_beijing() -> datetime:
    return datetime.now(UTC).astimezone(BEIJING).replace(tzinfo=None)


def party_with(release: Mapping[str, Any], ref: object, role: str) -> tuple[int, dict] | None:
    """(position, party) that `ref` names (`buyer.id`, `tender.procuringEntity.id`); without
    one found, the first with `role` (OCDS lets a buyer be given by its role alone). The
    reference first: a party listed before the real buyer with the role must not stand in
    for it. Ids compare as text: OCDS allows an integer id and a string reference to it."""
    parties = [(i, p) for i, p in enumerate(release.get("parties") or []) if isinstance(p, dict)]
    if ref is not None:
        named = next(((i, p) for i, p in parties if str(p.get("id")) == str(ref)), None)
        if named is not None:
            return named
    return next(((i, p) for i, p in parties if role in (p.get("roles") or [])), None)


def buyer_of(release: Mapping[str, Any]) -> tuple[int, dict] | None:
    """(position, party) of the release's buyer: `buyer.id`'s party, else the one with the
    role. The door (scope, region) and the compiled project read it here alike."""
    buyer = release.get("buyer")
    return party_with(release, buyer.get("id") if isinstance(buyer, dict) else None, "buyer")


def party_name(party: Mapping[str, Any]) -> str | None:
    """A party's name for the hub's registry: `name`, else its identifier's `legalName`.
    OCDS requires neither; a party with none is kept in the release, not linked."""
    identifier = party.get("identifier")
    legal = identifier.get("legalName") if isinstance(identifier, dict) else None
    for value in (party.get("name"), legal):
        if isinstance(value, str) and value.strip():
            return value
    return None


# Chinese names of the yuan publishers write for `currency`; the export writes them as CNY.
CURRENCY_NAMES = {"人民币": "CNY", "元": "CNY", "RMB": "CNY"}


def currency_code(value: object) -> str:
    """The ISO 4217 code of a stated currency: none stated, or a name of the yuan, is CNY
    (the hub's amounts are yuan unless a value says otherwise)."""
    if not isinstance(value, str) or not value.strip():
        return "CNY"
    text = value.strip()
    return CURRENCY_NAMES.get(text, text.upper())
