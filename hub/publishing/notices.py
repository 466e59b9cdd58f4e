"""Notices from OCDS 1.1 releases: checked, stored immutably, and their projects recompiled."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime
from functools import partial
from typing import Any

import orjson
from sqlalchemy import Connection, select

from hub.publishing.batch import BatchContext, content_hash
from hub.publishing.cells import MAX_MONEY, decimal, iso_datetime, record_ref
from hub.publishing.compile import compile_project
from hub.publishing.details import detail_faults
from hub.publishing.dialect import insert_ignoring_conflicts
from hub.publishing.errors import FieldError, RecordError, each_field_once
from hub.publishing.parties import (
    Note,
    infer_buyer_region,
    quiet_region,
    record_notes,
    resolve_region,
)
from hub.publishing.release_shape import extension_fields, shape_faults, value_faults
from hub.publishing.sources import (
    add_second_source,
    add_source,
    conflict,
    direct,
    source_site_of,
)
from schema.codes import CodeError, catalogue_classification
from schema.ocds import AMENDS, buyer_of, notice_type_of
from schema.ocds_validation import SchemaFault, schema_faults
from schema.search_outbox import enqueue
from schema.tables import DATA_QUALITY_ISSUES as ISSUES
from schema.tables import NOTICE_SOURCES as SOURCES
from schema.tables import NOTICES, PROJECTS
from schema.types import NoticeType, ProjectStatus, RecordKind, derived_title

SECTIONS = ("planning", "tender", "awards", "contracts")
CODES = "docs/disclosure.md: Notice types"
WHAT_COUNTS = "docs/disclosure.md: What counts as procurement information"


def _required(release: Mapping[str, Any], key: str) -> str:
    value = release.get(key)
    if not isinstance(value, str) or not value.strip():
        raise FieldError(key, "is required (a non-empty string)")
    return value.strip()


def _ocid(release: Mapping[str, Any]) -> str:
    """The project's id, with no invisible or blank character inside: `…0129\u200b` was a
    new project whose page looked exactly like the real one's (a look-alike 终止公告)."""
    ocid = _required(release, "ocid")
    # An ordinary space stays allowed: ocids stored with one must take later notices.
    odd = next((c for c in ocid if c != " " and unicodedata.category(c)[0] in "CZ"), None)
    if odd is not None:
        name = unicodedata.name(odd, "a control character")
        raise FieldError("ocid", f"contains {name} (U+{ord(odd):04X}): an identifier has no "
                         "invisible or blank character")  # fmt: skip
    return ocid


def _check_amount(value: Any, field: str) -> None:
    if not isinstance(value, dict) or value.get("amount") is None:
        return
    amount = value["amount"]
    try:
        decimal({"amount": amount}, "amount", places=2, maximum=MAX_MONEY)
    except FieldError as error:
        raise FieldError(f"{field}.amount", error.reason) from None


def _has_body(release: Mapping[str, Any]) -> bool:
    """Procurement information: a title, a text, or a planning, tender, award or contract."""
    tender = release.get("tender") or {}
    return bool(
        release.get("title") or tender.get("title") or release.get("fullText")
        or tender.get("description") or any(release.get(s) for s in SECTIONS)
    )  # fmt: skip


@dataclass
class Parsed:
    """What the hub reads from a release besides its verbatim payload."""

    notice_type: NoticeType
    published_at: datetime
    region: str
    title: str | None  # None: derived for display (project title + notice type label)
    issues: list[SchemaFault] = dc_field(default_factory=list)


class NoticeHandler:
    def __init__(self, ctx: BatchContext) -> None:
        self.ctx = ctx
        self.touched: set[int] = set()
        self.resourced: set[int] = set()  # held notices seen from another site
        self.notes: list[Note] = []  # how the record being read had its regions read
        # Projects this batch has read a region for, written or not: in an all-or-nothing
        # batch nothing is written after a refusal, and the project's later releases must
        # not be refused for a region "unknown" only because its first was not stored.
        self.regions: dict[str, str] = {}

    def add(self, position: int, raw: Mapping[str, Any]) -> None:
        try:
            self.write(raw, self.parse(raw))
        except FieldError as error:
            self.ctx.report.refuse(position, record_ref(raw, "id"), error, raw)

    def parse(self, release: Mapping[str, Any]) -> Parsed:
        """What the hub reads of a release, or a RecordError naming every fault found."""
        self.notes = []
        shape = shape_faults(release)
        faults = shape + value_faults(release)
        named = {fault.field for fault in faults}
        issues = [
            SchemaFault(name, "kept in the payload; the hub does not read it", "extension_field")
            for name in extension_fields(release)
        ]
        for fault in schema_faults(release):
            if fault.issue:
                issues.append(fault)
            elif fault.path not in named:
                named.add(fault.path)
                faults.append(FieldError(fault.path, f"{fault.message} (OCDS 1.1 release schema)"))
        if shape:  # the hub's own checks read these fields: they wait for a readable shape
            raise RecordError(each_field_once(faults))
        parsed = self._read(release, faults)
        if faults or parsed is None:
            raise RecordError(each_field_once(faults))
        parsed.issues = issues
        self.regions.setdefault(str(release["ocid"]).strip(), parsed.region)
        return parsed

    def _read(self, release: Mapping[str, Any], faults: list[FieldError]) -> Parsed | None:
        """The hub's own checks of a well-shaped release; each fault is added to `faults`."""

        def check(step: Callable[[], Any]) -> Any:
            try:
                return step()
            except FieldError as error:
                faults.append(error)
                return None

        ocid = check(lambda: _ocid(release))
        check(lambda: _required(release, "id"))
        published_at = check(lambda: iso_datetime(release.get("date"), "date"))
        notice_type = notice_type_of(release)
        if notice_type is None and "compiled" in (release.get("tag") or []):
            faults.append(FieldError("tag", "a compiled release is a record, not a notice: "
                                     "publish the releases it was compiled from"))  # fmt: skip
        elif notice_type is None:
            field = "noticeType" if release.get("noticeType") else "tag"
            faults.append(FieldError(field, f"not a procurement notice type ({CODES})"))
        if release.get("classified") or (release.get("tender") or {}).get("classified"):
            faults.append(FieldError("classified", "classified (涉密) projects are not published"))
        tender = release.get("tender") or {}
        title = release.get("title") or tender.get("title")
        if not _has_body(release):
            faults.append(FieldError(
                "release", "empty notice: no title, text, planning, tender, award or contract: "
                f"not procurement information ({WHAT_COUNTS})",
            ))  # fmt: skip
        parties = release.get("parties") or []
        buyer = buyer_of(release)
        for i, party in enumerate(parties):
            if not isinstance(party, dict):  # the shape check names it
                continue
            identifier = party.get("identifier") or {}
            if identifier.get("scheme") in ("CN-SAIC", "CN-USCC"):
                code = str(identifier.get("id", ""))
                where = f"parties[{i}].identifier.id"
                check(partial(self.ctx.parties.check_code, code, where))
            region = (party.get("address") or {}).get("region")
            if region is None:
                continue
            where = f"parties[{i}].address.region"
            if buyer is not None and buyer[0] == i:  # the project's region: it must read
                read = check(partial(resolve_region, region, where))
                self.notes += [read[1]] if read and read[1] else []
                continue
            try:  # another party's region: kept as sent when GB/T 2260 cannot read it
                note = resolve_region(region, where)[1]
            except FieldError as error:
                note = (where, "party_region_unread", f"{error.reason}; kept as sent")
            self.notes += [note] if note else []
            if "buyer" in (party.get("roles") or []):  # a second buyer: in scope too
                other = quiet_region(region)
                if other and not self.ctx.publisher.covers_region(other):
                    scope = f"{self.ctx.publisher.name}'s scope"
                    faults.append(FieldError(where, f"{other} is outside {scope}"))
        for i, item in enumerate(tender.get("items") or []):
            classification = item.get("classification") or {}
            try:  # a 品目-shaped code is checked whatever the scheme; CPV etc. are kept apart
                catalogue_classification(classification.get("scheme"), classification.get("id"))
            except CodeError as exc:
                faults.append(FieldError(f"tender.items[{i}].classification.id", str(exc)))
        amounts = [
            (((release.get("planning") or {}).get("budget") or {}).get("amount"),
             "planning.budget.amount"),
            (tender.get("value"), "tender.value"),
            *((lot.get("value"), f"tender.lots[{i}].value")
              for i, lot in enumerate(tender.get("lots") or [])),
            *((entry.get("value"), f"{section}[{i}].value")
              for section in ("awards", "contracts")
              for i, entry in enumerate(release.get(section) or [])),
        ]  # fmt: skip
        for value, field in amounts:
            check(partial(_check_amount, value, field))
        faults.extend(detail_faults(release))  # ceiling price, items, experts, … (details.py)
        region = check(lambda: self._region(ocid, release)) if ocid else None
        if notice_type is None or published_at is None or region is None:
            return None
        return Parsed(notice_type, published_at, region, str(title) if title else None)

    def _region(self, ocid: str, release: Mapping[str, Any]) -> str:
        """The project's region, checked against the publisher's scope.

        An existing project keeps the region it was stored with: the publisher must cover
        that region, whatever the release states, and the release may not state another one
        for the buyer. A new project takes the buyer's stated region, which must be in scope.
        """
        publisher = self.ctx.publisher
        scope = f"{publisher.name}'s scope ({', '.join(publisher.regions)})"
        stored = self.ctx.conn.execute(
            select(PROJECTS.c.region_code).where(PROJECTS.c.ocid == ocid)
        ).scalar() or self.regions.get(ocid.strip())
        if stored and not publisher.covers_region(stored):
            raise FieldError("ocid", f"project {ocid} is in {stored}, outside {scope}")
        stated: tuple[str, str] | None = None
        buyer = buyer_of(release)
        if buyer is not None:
            i, party = buyer
            region = (party.get("address") or {}).get("region")
            if region:
                field = f"parties[{i}].address.region"
                stated = (field, resolve_region(region, field)[0])
        if stated is None:
            if stored:
                return stored
            inferred = infer_buyer_region(release)
            if inferred is None:
                raise FieldError(
                    "parties", "no buyer with address.region or a credit code, no agency with "
                    "address.region: the project's region is unknown",
                )  # fmt: skip
            self.notes.append(inferred[1])
            stated = (inferred[1][0], inferred[0])
        field, region = stated
        if stored and region != stored:
            raise FieldError(field, f"{region}: project {ocid} is in {stored}; a release may "
                             "not move a project to another region")  # fmt: skip
        if not publisher.covers_region(region):
            raise FieldError(field, f"{region} is outside {scope}")
        return region

    def write(self, release: Mapping[str, Any], parsed: Parsed) -> None:
        ctx = self.ctx
        notice_type, published_at = parsed.notice_type, parsed.published_at
        conn = ctx.conn
        ocid, release_id = release["ocid"].strip(), release["id"].strip()
        tender = release.get("tender") or {}
        digest = content_hash(release)
        site = source_site_of(ctx.relay, ctx.source_site)
        relay = ctx.relay or direct(ctx.publisher, site, published_at)
        held = conn.execute(
            select(NOTICES.c.id, NOTICES.c.content_hash, NOTICES.c.publisher_id).where(
                NOTICES.c.ocid == ocid, NOTICES.c.release_id == release_id
            )
        ).first()
        if held is not None:
            if held.content_hash != digest and not _same_json(conn, held.id, release):
                raise conflict(conn, "id", "this release id is already published with "
                               "different content; publish a correction as a new release",
                               (RecordKind.notice, held.id, held.publisher_id), ctx.relay,
                               ctx.publisher)  # fmt: skip
            digest = held.content_hash  # the record's, whatever spelling of it came again
            ctx.report.duplicates += 1
            if ctx.report.writing:  # the same notice from another site: record the source
                conn.execute(insert_ignoring_conflicts(conn, SOURCES).values(
                    notice_id=held.id, publisher_id=ctx.publisher.id,
                    source_site=site, received_at=ctx.received_at,
                ))  # fmt: skip
                add_second_source(conn, RecordKind.notice, held.id, ctx.delivery, relay, digest,
                                  ocid)  # fmt: skip
                self.resourced.add(held.id)
            return
        if not ctx.report.writing:
            return
        project_id = conn.execute(select(PROJECTS.c.id).where(PROJECTS.c.ocid == ocid)).scalar()
        if project_id is None:
            project_id = conn.execute(
                PROJECTS.insert()
                .values(ocid=ocid, status=ProjectStatus.planning.value, region_code=parsed.region)
                .returning(PROJECTS.c.id)
            ).scalar_one()
        title = parsed.title
        if title is None:  # shown until finish() derives it from the compiled project
            title = derived_title(None, ocid, notice_type)
        notice_id = conn.execute(
            NOTICES.insert()
            .values(
                ocid=ocid, project_id=project_id, release_id=release_id,
                notice_type=notice_type.value, ocds_tags=",".join(release.get("tag") or []),
                published_at=published_at, publisher_id=ctx.publisher.id,
                source_site=site, received_at=ctx.received_at, title=title,
                title_derived=parsed.title is None,
                full_text=release.get("fullText") or tender.get("description"),
                supersedes_id=self._supersedes(project_id, release, notice_type, published_at),
                payload=orjson.dumps(release).decode(), content_hash=digest,
            )
            .returning(NOTICES.c.id)
        ).scalar_one()  # fmt: skip
        conn.execute(SOURCES.insert().values(
            notice_id=notice_id, publisher_id=ctx.publisher.id,
            source_site=site, received_at=ctx.received_at,
        ))  # fmt: skip
        add_source(conn, RecordKind.notice, notice_id, ctx.delivery, relay)
        record_notes(conn, RecordKind.notice, notice_id, release_id, self.notes, ctx.received_at)
        if parsed.issues:
            conn.execute(ISSUES.insert(), [
                {"record_kind": "notice", "record_pk": notice_id, "record_ref": release_id,
                 "field_name": issue.path, "code": issue.issue, "message": issue.message,
                 "detected_at": ctx.received_at}
                for issue in parsed.issues
            ])  # fmt: skip
        self.touched.add(project_id)
        ctx.report.accepted += 1

    def _supersedes(self, project_id: int, release: Mapping[str, Any], notice_type: NoticeType,
                    published_at: datetime) -> int | None:  # fmt: skip
        """A correction supersedes the latest earlier notice of the section it amends."""
        if notice_type is not NoticeType.correction:
            return None
        tags = release.get("tag") or []
        amended = next((types for tag, types in AMENDS.items() if tag in tags), None)
        query = select(NOTICES.c.id).where(
            NOTICES.c.project_id == project_id, NOTICES.c.published_at <= published_at
        )
        if amended:
            query = query.where(NOTICES.c.notice_type.in_([t.value for t in amended]))
        return self.ctx.conn.execute(
            query.order_by(NOTICES.c.published_at.desc(), NOTICES.c.id.desc()).limit(1)
        ).scalar()

    def _derive_titles(self) -> None:
        """Title-less notices show their compiled project's title and their type's label.

        Every recompiled project is looked at: a later tender or correction may name (or
        rename) the project that earlier title-less notices belong to.
        """
        conn = self.ctx.conn
        for project_id in sorted(self.touched):
            project = conn.execute(
                select(PROJECTS.c.title, PROJECTS.c.ocid).where(PROJECTS.c.id == project_id)
            ).one()
            rows = conn.execute(
                select(NOTICES.c.id, NOTICES.c.notice_type, NOTICES.c.title).where(
                    NOTICES.c.project_id == project_id, NOTICES.c.title_derived
                )
            ).all()
            for row in rows:
                title = derived_title(project.title, project.ocid, NoticeType(row.notice_type))
                if title != row.title:
                    conn.execute(NOTICES.update().where(NOTICES.c.id == row.id).values(title=title))

    def finish(self) -> None:
        ctx = self.ctx
        if not ctx.report.writing:
            return
        for project_id in sorted(self.touched):
            compile_project(ctx.conn, project_id, ctx.parties)
        self._derive_titles()
        # A notice's search document carries its project's compiled parties and amounts, so
        # every notice of a recompiled project is re-indexed, not only the new ones.
        changed = set(self.resourced)
        touched = sorted(self.touched)
        for start in range(0, len(touched), 900):
            chunk = touched[start : start + 900]
            query = select(NOTICES.c.id).where(NOTICES.c.project_id.in_(chunk))
            changed.update(ctx.conn.execute(query).scalars())
        enqueue(ctx.conn, "notice", changed, ctx.received_at)
        ctx.parties.enqueue_changed(ctx.received_at)


def _same_json(conn: Connection, notice_id: int, release: Mapping[str, Any]) -> bool:
    """Whether the stored release is `release` as JSON values: `11000000.0` is `11000000`
    (a relay or mirror that re-serialises a number must not be refused as another release).
    Read only when the hashes of the bytes' values differ, which is rare."""
    stored = conn.execute(select(NOTICES.c.payload).where(NOTICES.c.id == notice_id)).scalar()
    return stored is not None and _canonical(orjson.loads(stored)) == _canonical(release)


def _canonical(value: Any) -> Any:
    """JSON values compared by value: integral floats as ints, booleans apart from 1 and 0."""
    if isinstance(value, dict):
        return {key: _canonical(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_canonical(inner) for inner in value]
    if isinstance(value, bool):
        return (bool, value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
