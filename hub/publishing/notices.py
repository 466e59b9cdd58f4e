"""Notices from OCDS 1.1 releases: checked, stored immutably, and their projects recompiled."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select

from hub.publishing.batch import BatchContext, content_hash
from hub.publishing.cells import MAX_MONEY, decimal, iso_datetime, record_ref
from hub.publishing.compile import compile_project
from hub.publishing.details import detail_faults
from hub.publishing.dialect import insert_ignoring_conflicts
from hub.publishing.errors import FieldError
from hub.publishing.release_shape import check_release
from schema.codes import CodeError, check_category, is_region_code
from schema.ocds import AMENDS, notice_type_of
from schema.search_outbox import enqueue
from schema.tables import Notice, NoticeSource, Project
from schema.types import NoticeType, ProjectStatus

NOTICES = Notice.__table__  # type: ignore[attr-defined]
SOURCES = NoticeSource.__table__  # type: ignore[attr-defined]
PROJECTS = Project.__table__  # type: ignore[attr-defined]
CLASSIFICATION_EDITIONS = {"CN-GPC-2022": "2022", "CN-GPC-2013": "2013"}
SECTIONS = ("planning", "tender", "awards", "contracts")


def _required(release: Mapping[str, Any], key: str) -> str:
    value = release.get(key)
    if not isinstance(value, str) or not value.strip():
        raise FieldError(key, "is required (a non-empty string)")
    return value.strip()


def _check_amount(value: Any, field: str) -> None:
    if not isinstance(value, dict) or value.get("amount") is None:
        return
    amount = value["amount"]
    try:
        decimal({"amount": amount}, "amount", places=2, maximum=MAX_MONEY)
    except FieldError as error:
        raise FieldError(f"{field}.amount", error.reason) from None


class NoticeHandler:
    def __init__(self, ctx: BatchContext) -> None:
        self.ctx = ctx
        self.touched: set[int] = set()
        self.resourced: set[int] = set()  # held notices seen from another site

    def add(self, position: int, raw: Mapping[str, Any]) -> None:
        try:
            self.write(raw, *self.parse(raw))
        except FieldError as error:
            self.ctx.report.refuse(position, record_ref(raw, "id"), error, raw)

    def parse(self, release: Mapping[str, Any]) -> tuple[NoticeType, datetime, str, str]:
        """(notice type, publish time, region, title), or FieldError."""
        check_release(release)
        ocid = _required(release, "ocid")
        _required(release, "id")
        published_at = iso_datetime(release.get("date"), "date")
        notice_type = notice_type_of(release)
        if notice_type is None:
            field = "noticeType" if release.get("noticeType") else "tag"
            raise FieldError(field, "not a procurement notice type (see DISCLOSURE.md codes)")
        if release.get("classified") or (release.get("tender") or {}).get("classified"):
            raise FieldError("classified", "classified (涉密) projects are not published")
        tender = release.get("tender") or {}
        title = release.get("title") or tender.get("title")
        body = release.get("fullText") or tender.get("description")
        if not title or not (body or any(release.get(s) for s in SECTIONS)):
            raise FieldError(
                "title" if not title else "fullText", "empty notice: not procurement information"
            )
        parties = release.get("parties") or []
        for i, party in enumerate(parties):
            if not isinstance(party, dict) or not party.get("name"):
                raise FieldError(f"parties[{i}].name", "is required")
            identifier = party.get("identifier") or {}
            if identifier.get("scheme") in ("CN-SAIC", "CN-USCC"):
                self.ctx.parties.check_code(
                    str(identifier.get("id", "")), f"parties[{i}].identifier.id"
                )
            region = (party.get("address") or {}).get("region")
            if region is not None and not is_region_code(str(region)):
                raise FieldError(
                    f"parties[{i}].address.region", f"{region!r} is not a division code"
                )
        for i, item in enumerate(tender.get("items") or []):
            classification = item.get("classification") or {}
            edition = CLASSIFICATION_EDITIONS.get(classification.get("scheme"))
            if edition and classification.get("id"):
                try:
                    check_category(classification["id"], edition)
                except CodeError as exc:
                    raise FieldError(f"tender.items[{i}].classification.id", str(exc)) from None
        _check_amount(
            ((release.get("planning") or {}).get("budget") or {}).get("amount"),
            "planning.budget.amount",
        )
        _check_amount(tender.get("value"), "tender.value")
        for i, lot in enumerate(tender.get("lots") or []):
            _check_amount(lot.get("value"), f"tender.lots[{i}].value")
        for section in ("awards", "contracts"):
            for i, entry in enumerate(release.get(section) or []):
                _check_amount(entry.get("value"), f"{section}[{i}].value")
        for fault in detail_faults(release):  # ceiling price, items, experts, … (details.py)
            raise fault
        return notice_type, published_at, self._region(ocid, release), str(title)

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
        ).scalar()
        if stored and not publisher.covers_region(stored):
            raise FieldError("ocid", f"project {ocid} is in {stored}, outside {scope}")
        buyer_id = (release.get("buyer") or {}).get("id")
        stated: tuple[str, str] | None = None
        for i, party in enumerate(release.get("parties") or []):
            is_buyer = buyer_id is not None and party.get("id") == buyer_id
            if is_buyer or "buyer" in (party.get("roles") or []):
                region = (party.get("address") or {}).get("region")
                if region:
                    stated = (f"parties[{i}].address.region", str(region))
                    break
        if stated is None:
            if not stored:
                raise FieldError(
                    "parties", "no buyer with address.region: the project's region is unknown"
                )
            return stored
        field, region = stated
        if stored and region != stored:
            raise FieldError(field, f"{region}: project {ocid} is in {stored}; a release may "
                             "not move a project to another region")  # fmt: skip
        if not publisher.covers_region(region):
            raise FieldError(field, f"{region} is outside {scope}")
        return region

    def write(self, release: Mapping[str, Any], notice_type: NoticeType, published_at: datetime,
              region: str, title: str) -> None:  # fmt: skip
        ctx = self.ctx
        conn = ctx.conn
        ocid, release_id = release["ocid"].strip(), release["id"].strip()
        tender = release.get("tender") or {}
        digest = content_hash(release)
        held = conn.execute(
            select(NOTICES.c.id, NOTICES.c.content_hash).where(
                NOTICES.c.ocid == ocid, NOTICES.c.release_id == release_id
            )
        ).first()
        if held is not None:
            if held.content_hash != digest:
                raise FieldError("id", "this release id is already published with different "
                                 "content; publish a correction as a new release")  # fmt: skip
            ctx.report.duplicates += 1
            if ctx.report.writing:  # the same notice from another site: record the source
                conn.execute(insert_ignoring_conflicts(conn, SOURCES).values(
                    notice_id=held.id, publisher_id=ctx.publisher.id,
                    source_site=ctx.source_site, received_at=ctx.received_at,
                ))  # fmt: skip
                self.resourced.add(held.id)
            return
        if not ctx.report.writing:
            return
        project_id = conn.execute(select(PROJECTS.c.id).where(PROJECTS.c.ocid == ocid)).scalar()
        if project_id is None:
            project_id = conn.execute(
                PROJECTS.insert()
                .values(ocid=ocid, status=ProjectStatus.planning.value, region_code=region)
                .returning(PROJECTS.c.id)
            ).scalar_one()
        notice_id = conn.execute(
            NOTICES.insert()
            .values(
                ocid=ocid, project_id=project_id, release_id=release_id,
                notice_type=notice_type.value, ocds_tags=",".join(release.get("tag") or []),
                published_at=published_at, publisher_id=ctx.publisher.id,
                source_site=ctx.source_site, received_at=ctx.received_at, title=title,
                full_text=release.get("fullText") or tender.get("description"),
                supersedes_id=self._supersedes(project_id, release, notice_type, published_at),
                payload=orjson.dumps(release).decode(), content_hash=digest,
            )
            .returning(NOTICES.c.id)
        ).scalar_one()  # fmt: skip
        conn.execute(SOURCES.insert().values(
            notice_id=notice_id, publisher_id=ctx.publisher.id,
            source_site=ctx.source_site, received_at=ctx.received_at,
        ))  # fmt: skip
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

    def finish(self) -> None:
        ctx = self.ctx
        if not ctx.report.writing:
            return
        for project_id in sorted(self.touched):
            compile_project(ctx.conn, project_id, ctx.parties)
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
