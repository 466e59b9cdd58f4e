"""OCDS 1.1 exports: a day's release package and record package, and compiled releases.

Releases go out as published: a day's package holds the notices published that Beijing day,
and a record is compiled from the releases published up to the end of that day, so a later
correction lands in its own day and never rewrites an earlier one. Releases are normalised on
the way out, never in the database: codes from OCDS's closed codelists only (Chinese method
names go to `procurementMethodDetails`; single source is `direct`), dates RFC 3339 with
+08:00, amounts numbers, and a single-source publicity window becomes an `engagement`
milestone instead of a `tenderPeriod` (no tenders are invited). Keys are sorted and lists
ordered, so the same data always gives the same bytes.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from sqlalchemy import Connection, select

from exports.licence import Licence
from exports.ocds_schema import extension_urls, leave_out_undeclared
from schema.ocds import (
    CURRENCY_NAMES,
    RELEASE_TAGS,
    merge_releases,
    parse_ocds_datetime,
    to_ocds_datetime,
)
from schema.tables import NOTICES
from schema.types import NoticeType, ProcurementMethod

OCDS_VERSION = "1.1"
DEFAULT_BASE_URI = "http://localhost:8000/downloads"  # `caigou serve` defaults, /downloads/
DEFAULT_PUBLISHER = "caigou-hub 政府采购信息公开数据中心"


@dataclass(frozen=True)
class Publication:
    """Where the packages are published, by whom and under what terms.

    Their `uri`, `publisher`, `license` and `publicationPolicy`.
    """

    base_uri: str = DEFAULT_BASE_URI
    publisher_name: str = DEFAULT_PUBLISHER
    publisher_uri: str | None = None
    licence: Licence = field(default_factory=Licence)

    def release_package_uri(self, day: date) -> str:
        return f"{self.base_uri}/ocds/date={day.isoformat()}/release-package.json"

    def record_package_uri(self, day: date) -> str:
        return f"{self.base_uri}/ocds/date={day.isoformat()}/record-package.json"

    def package(self, uri: str, day: date) -> dict[str, Any]:
        publisher = {"name": self.publisher_name}
        if self.publisher_uri:
            publisher["uri"] = self.publisher_uri
        return {
            "uri": uri,
            "version": OCDS_VERSION,
            "publishedDate": published_date(day),
            "publisher": publisher,
            "license": self.licence.url,
            "publicationPolicy": self.licence.policy,
            "extensions": extension_urls(self.base_uri),
        }


# Closed codelists of OCDS 1.1 (release-schema.json, "openCodelist": false); release
# tags: schema.ocds.RELEASE_TAGS.
TENDER_STATUS = frozenset(
    ("planning", "planned", "active", "cancelled", "unsuccessful", "complete", "withdrawn")
)
AWARD_STATUS = frozenset(("pending", "active", "cancelled", "unsuccessful"))
CONTRACT_STATUS = frozenset(("pending", "active", "cancelled", "terminated"))
MILESTONE_STATUS = frozenset(("scheduled", "met", "notMet", "partiallyMet"))
CATEGORIES = {"goods": "goods", "works": "works", "services": "services",
              "货物": "goods", "工程": "works", "服务": "services"}  # fmt: skip
# Chinese method names (docs/disclosure.md) → OCDS procurementMethod; the first match wins.
METHODS: dict[str, ProcurementMethod] = {
    "单一来源": ProcurementMethod.direct,
    "公开招标": ProcurementMethod.open,
    "邀请招标": ProcurementMethod.selective,
    "竞争性谈判": ProcurementMethod.limited,
    "竞争性磋商": ProcurementMethod.limited,
    "询价": ProcurementMethod.limited,
    "框架协议": ProcurementMethod.open,  # 财政部令第110号: suppliers are solicited openly
}
# The tag a release gets when none of its own is an OCDS release tag.
TAG_OF: dict[str, str] = {
    NoticeType.intention: "planning",
    NoticeType.tender: "tender",
    NoticeType.documents: "tender",
    NoticeType.single_source: "tender",
    NoticeType.correction: "tenderAmendment",
    NoticeType.result: "award",
    NoticeType.agency_fee: "award",
    NoticeType.termination: "tenderCancellation",
    NoticeType.contract: "contract",
    NoticeType.acceptance: "implementation",
}
DATE_KEYS = frozenset((
    "date", "startDate", "endDate", "maxExtentDate", "dateSigned", "dateModified",
    "datePublished", "dueDate", "dateMet",
))  # fmt: skip
VALUE_KEYS = frozenset(("value", "amount", "minValue"))
PUBLICITY_MILESTONE = "single-source-publicity"
CODES = frozenset(method.value for method in ProcurementMethod)


def published_date(day: date) -> str:
    """The package's fixed `publishedDate`: the end of `day`, Beijing time."""
    return to_ocds_datetime(datetime.combine(day, time(23, 59, 59)))


def ocds_datetime(value: Any) -> str | None:
    """RFC 3339 with +08:00, or None when `value` is not a date-time."""
    try:
        moment = parse_ocds_datetime(str(value).strip())
    except ValueError:
        return None
    return to_ocds_datetime(moment.replace(microsecond=0) if not moment.microsecond else moment)


def procurement_method(method: Any, details: Any) -> tuple[str | None, str | None]:
    """(OCDS procurementMethod, procurementMethodDetails) from whatever a publisher sent.

    A Chinese name sent as the method moves to the details; 单一来源 is always `direct`.
    """
    code = method if method in CODES else None
    details = str(details or (None if code else method) or "") or None
    named = next((name for name in METHODS if name in (details or "")), None)
    if named and (code is None or METHODS[named] is ProcurementMethod.direct):
        code = METHODS[named].value
    return code, details


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        number = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        return None
    return int(number) if number == number.to_integral_value() else float(number)


def _normalise_value(value: dict[str, Any]) -> None:
    if "amount" in value and not isinstance(value["amount"], dict):
        amount = _number(value["amount"])
        if amount is None:
            del value["amount"]
        else:
            value["amount"] = amount
    if "currency" in value:
        currency = CURRENCY_NAMES.get(str(value["currency"]).strip(), value["currency"])
        if isinstance(currency, str) and re.fullmatch("[A-Z]{3}", currency):
            value["currency"] = currency
        else:
            del value["currency"]


def _normalise_tree(node: Any) -> None:
    """Dates to RFC 3339 (+08:00), Value amounts to numbers, currencies to ISO 4217."""
    if isinstance(node, list):
        for item in node:
            _normalise_tree(item)
    elif isinstance(node, dict):
        for key in list(node):
            child = node[key]
            if key in DATE_KEYS and isinstance(child, str):
                moment = ocds_datetime(child)
                if moment is None:
                    del node[key]
                else:
                    node[key] = moment
                continue
            if key in VALUE_KEYS and isinstance(child, dict):
                _normalise_value(child)
            _normalise_tree(child)


def _keep_code(node: Any, key: str, allowed: Iterable[str]) -> None:
    if isinstance(node, dict) and key in node and node[key] not in allowed:
        del node[key]


def normalise_release(
    release: dict[str, Any], notice_type: str, single_source: bool = False
) -> dict[str, Any]:
    """The release as published, with closed codes and RFC 3339 dates, and only the fields
    core OCDS and the declared extensions define (exports.ocds_schema); edits `release`.

    `single_source`: an earlier release of the project was a single-source publicity.
    """
    _normalise_tree(release)
    tags = [t for t in release.get("tag") or [] if t in RELEASE_TAGS and t != "compiled"]
    release["tag"] = tags or [TAG_OF.get(notice_type, "tender")]
    release["initiationType"] = "tender"
    tender = release.get("tender")
    if isinstance(tender, dict):
        if "procurementMethod" in tender or "procurementMethodDetails" in tender:
            method, details = procurement_method(
                tender.pop("procurementMethod", None), tender.pop("procurementMethodDetails", None)
            )
            if method:
                tender["procurementMethod"] = method
            if details:
                tender["procurementMethodDetails"] = details
        single_source = single_source or tender.get("procurementMethod") == "direct"
        if single_source and "tenderPeriod" in tender:
            _publicity_milestone(tender, tender.pop("tenderPeriod"))
        category = CATEGORIES.get(str(tender.get("mainProcurementCategory", "")).strip())
        if category:
            tender["mainProcurementCategory"] = category
        _keep_code(tender, "mainProcurementCategory", CATEGORIES.values())
        _keep_code(tender, "status", TENDER_STATUS)
        for milestone in tender.get("milestones") or []:
            _keep_code(milestone, "status", MILESTONE_STATUS)
    for award in release.get("awards") or []:
        _keep_code(award, "status", AWARD_STATUS)
    for contract in release.get("contracts") or []:
        _keep_code(contract, "status", CONTRACT_STATUS)
        for milestone in contract.get("milestones") or []:
            _keep_code(milestone, "status", MILESTONE_STATUS)
    leave_out_undeclared(release)
    return release


def _publicity_milestone(tender: dict[str, Any], period: Any) -> None:
    """A single-source publicity window (单一来源公示期) as an engagement milestone."""
    if not isinstance(period, dict) or not (period.get("startDate") or period.get("endDate")):
        return
    milestone: dict[str, Any] = {
        "id": PUBLICITY_MILESTONE,
        "title": "单一来源采购公示期",
        "type": "engagement",
    }
    if period.get("endDate"):
        milestone["dueDate"] = period["endDate"]
    start, end = period.get("startDate", ""), period.get("endDate", "")
    milestone["description"] = f"公示期：{start} 至 {end}".strip()
    tender["milestones"] = [*(tender.get("milestones") or []), milestone]


def sorted_keys(node: Any) -> Any:
    """`node` with every object's keys in sorted order (lists keep theirs)."""
    if isinstance(node, dict):
        return {key: sorted_keys(node[key]) for key in sorted(node)}
    if isinstance(node, list):
        return [sorted_keys(item) for item in node]
    return node


@dataclass(frozen=True)
class PublishedRelease:
    """A normalised release and when it was published (naive Beijing time)."""

    ocid: str
    published_at: datetime
    release: dict[str, Any]


def project_releases(rows: Iterable[Any]) -> Iterator[PublishedRelease]:
    """One project's notice rows, in publish order, as normalised releases."""
    single_source = False
    for row in rows:
        release = normalise_release(orjson.loads(row.payload), row.notice_type, single_source)
        tender = release.get("tender") or {}
        single_source = single_source or tender.get("procurementMethod") == "direct"
        published_at = row.published_at
        if not isinstance(published_at, datetime):
            published_at = datetime.fromisoformat(str(published_at))
        yield PublishedRelease(row.ocid, published_at, release)


def _notice_rows(conn: Connection, *conditions: Any) -> Iterator[Any]:
    query = (
        select(NOTICES.c.ocid, NOTICES.c.notice_type, NOTICES.c.published_at, NOTICES.c.payload)
        .where(*conditions)
        .order_by(NOTICES.c.ocid, NOTICES.c.published_at, NOTICES.c.id)
    )
    yield from conn.execute(query, execution_options={"yield_per": 500})


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time())
    return start, start + timedelta(days=1)


def projects_as_of(conn: Connection, day: date) -> Iterator[list[PublishedRelease]]:
    """For each project a notice published on `day` touched (by OCID), its releases to then."""
    start, end = _day_bounds(day)
    touched = (
        select(NOTICES.c.ocid)
        .where(NOTICES.c.published_at >= start, NOTICES.c.published_at < end)
        .distinct()
    )
    rows = _notice_rows(conn, NOTICES.c.ocid.in_(touched), NOTICES.c.published_at < end)
    for _, project in itertools.groupby(rows, key=lambda row: row.ocid):
        yield list(project_releases(project))


def compiled_release(releases: Iterable[PublishedRelease]) -> dict[str, Any]:
    """The compiled release of a project's normalised releases (OCDS merge)."""
    compiled = merge_releases(r.release for r in releases)
    compiled["id"] = f"{compiled['ocid']}-{compiled['date']}"
    return compiled


def release_package(
    conn: Connection, day: date, publication: Publication | None = None
) -> dict[str, Any]:
    """The OCDS release package of the notices published on `day` (Beijing time)."""
    publication = publication or Publication()
    start, end = _day_bounds(day)
    releases = [
        r for project in projects_as_of(conn, day) for r in project if start <= r.published_at < end
    ]
    releases.sort(key=lambda r: (r.published_at, r.ocid, r.release["id"]))
    package = publication.package(publication.release_package_uri(day), day)
    package["releases"] = [r.release for r in releases]
    return sorted_keys(package)


def record_package(
    conn: Connection, day: date, publication: Publication | None = None
) -> dict[str, Any]:
    """Records of the projects `day`'s notices touched, compiled as of the end of `day`.

    Each record links its releases in the release packages of the days they were published.
    """
    publication = publication or Publication()
    records: list[dict[str, Any]] = []
    for project in projects_as_of(conn, day):
        links = [
            {
                "date": r.release["date"],
                "tag": r.release["tag"],
                "url": f"{publication.release_package_uri(r.published_at.date())}"
                f"#{r.release['id']}",
            }
            for r in project
        ]
        compiled = compiled_release(project)
        records.append({"ocid": project[0].ocid, "releases": links, "compiledRelease": compiled})
    records.sort(key=lambda record: record["ocid"])
    package = publication.package(publication.record_package_uri(day), day)
    package["packages"] = sorted(
        {link["url"].split("#", 1)[0] for record in records for link in record["releases"]}
    )
    package["records"] = records
    return sorted_keys(package)


def day_packages(
    conn: Connection, day: date, publication: Publication | None = None
) -> dict[str, tuple[dict[str, Any], str]]:
    """The packages `day` has, by file name, with the key of their list: none on a day
    without notices (OCDS requires at least one release or record in a package)."""
    packages = {
        "release-package": (release_package(conn, day, publication), "releases"),
        "record-package": (record_package(conn, day, publication), "records"),
    }
    return {name: (package, key) for name, (package, key) in packages.items() if package[key]}


def compiled_releases_ndjson(conn: Connection) -> Iterator[str]:
    """Every project's current compiled release, one JSON line each, in OCID order."""
    for _, project in itertools.groupby(_notice_rows(conn), key=lambda row: row.ocid):
        compiled = sorted_keys(compiled_release(project_releases(project)))
        yield orjson.dumps(compiled).decode() + "\n"


def package_bytes(package: Mapping[str, Any]) -> bytes:
    """A package as deterministic JSON: sorted keys, UTF-8, two-space indent, final newline."""
    return orjson.dumps(
        package, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
    )
