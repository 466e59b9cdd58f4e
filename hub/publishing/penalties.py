"""Penalty records (supervision information), first published by finance departments alone
(and relayed by regional sites registered for them)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select

from hub.flags.debarments import recompute_debarred
from hub.publishing.batch import BatchContext, content_hash
from hub.publishing.cells import (
    MAX_MONEY,
    check_record,
    decimal,
    iso_date,
    iso_datetime,
    record_ref,
    region_read,
    shown,
    text,
)
from hub.publishing.errors import FieldError
from hub.publishing.parties import Note, record_notes
from hub.publishing.sources import (
    add_second_source,
    add_source,
    conflict,
    direct,
    held_by_originals,
    source_site_of,
)
from schema.search_outbox import enqueue
from schema.tables import PENALTY_RECORDS as TABLE
from schema.tables import PROJECTS
from schema.types import PartyRole, PenaltyKind, RecordKind

COLUMNS = (
    "record_id", "kind", "subject_name", "subject_uscc", "authority_name", "decision_number",
    "decision_date", "facts", "legal_basis", "penalty", "fine_amount", "debarment_start",
    "debarment_end", "region_code", "ocid",
)  # fmt: skip
OPTIONAL_COLUMNS = frozenset(
    {"subject_uscc", "decision_number", "facts", "legal_basis", "penalty", "fine_amount",
     "debarment_start", "debarment_end", "ocid"}
)  # fmt: skip
EXTRA_COLUMNS = frozenset({"published_at"})
KNOWN = frozenset(COLUMNS) | EXTRA_COLUMNS


class PenaltyHandler:
    def __init__(self, ctx: BatchContext) -> None:
        self.ctx = ctx
        self.seen: dict[tuple[str, str], str] = {}  # (original publisher, record id)
        self.written: list[int] = []  # ids for the search outbox, written by finish()
        self.region_note: Note | None = None  # how the record's region name was read

    def add(self, position: int, raw: Mapping[str, Any]) -> None:
        try:
            values = self.parse(raw)
            self.write(position, raw, values)
        except FieldError as error:
            self.ctx.report.refuse(position, record_ref(raw, "record_id"), error, raw)

    def parse(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        check_record(raw, KNOWN)
        kind = text(raw, "kind")
        if kind not in PenaltyKind.__members__:
            raise FieldError("kind", f"{shown(kind)} is not one of {', '.join(PenaltyKind)}")
        region_code, self.region_note = region_read(raw)
        publisher = self.ctx.publisher
        if not publisher.covers_region(region_code):
            raise FieldError("region_code", f"{region_code} is outside {publisher.name}'s "
                             f"scope ({', '.join(publisher.regions)})")  # fmt: skip
        ocid = text(raw, "ocid", required=False)
        if ocid:
            self._check_project(ocid)
        code = text(raw, "subject_uscc", required=False)
        if code:
            code = self.ctx.parties.check_code(code, "subject_uscc")
        start = iso_date(raw, "debarment_start", required=False, schedule=True)
        end = iso_date(raw, "debarment_end", required=False, schedule=True)
        if (start is None) != (end is None):
            raise FieldError(
                "debarment_end", "a debarment needs both debarment_start and debarment_end"
            )
        if start and end and end < start:
            raise FieldError("debarment_end", f"{end} is before debarment_start {start}")
        decision_date = iso_date(raw, "decision_date")
        published = text(raw, "published_at", required=False)
        published_at = iso_datetime(published, "published_at") if published else None
        return {
            "record_id": text(raw, "record_id"),
            "kind": kind,
            "subject_name": text(raw, "subject_name"),
            "subject_uscc": code,
            "authority_name": text(raw, "authority_name"),
            "decision_number": text(raw, "decision_number", required=False),
            "decision_date": decision_date,
            "facts": text(raw, "facts", required=False),
            "legal_basis": text(raw, "legal_basis", required=False),
            "penalty": text(raw, "penalty", required=False),
            "fine_amount": decimal(raw, "fine_amount", places=2, maximum=MAX_MONEY, required=False),
            "debarment_start": start,
            "debarment_end": end,
            "region_code": region_code,
            "ocid": ocid,
            "published_at": published_at or self._first_published(),
        }

    def _first_published(self) -> datetime:
        """A record without its publish time: its relay's first publication, else now."""
        relay = self.ctx.relay
        return relay.first_published_at if relay is not None else self.ctx.received_at

    def _check_project(self, ocid: str) -> None:
        """A penalty may name a project only within the publisher's scope: the subject may be
        from anywhere (a debarment holds nationwide), the procurement it is about may not."""
        stored = self.ctx.conn.execute(
            select(PROJECTS.c.region_code).where(PROJECTS.c.ocid == ocid)
        ).scalar()
        publisher = self.ctx.publisher
        if stored and not publisher.covers_region(stored):
            raise FieldError("ocid", f"project {ocid} is in {stored}, outside {publisher.name}'s "
                             f"scope ({', '.join(publisher.regions)})")  # fmt: skip

    def write(self, position: int, raw: Mapping[str, Any], values: dict[str, Any]) -> None:
        """A record is its record id and its original publisher (the finance department),
        whoever delivered it: delivered again by another site, it gains a source."""
        ctx = self.ctx
        record_id = values["record_id"]
        digest = content_hash({k: str(v) for k, v in values.items() if k != "published_at"})
        site = source_site_of(ctx.relay, ctx.source_site)
        relay = ctx.relay or direct(ctx.publisher, site, values["published_at"])
        key = (relay.original_publisher, record_id)
        found, mine = held_by_originals(ctx.conn, RecordKind.penalty, TABLE, TABLE.c.record_id,
                                        [record_id], ctx.publisher)  # fmt: skip
        stored = found.get(key)
        held = self.seen.get(key) or (stored.content_hash if stored else None)
        if held is not None:
            if held != digest:
                raise conflict(
                    ctx.conn, "record_id", "already published with different content; records "
                    "are immutable, publish the new decision under a new record id",
                    (RecordKind.penalty, stored.id, stored.publisher_id) if stored else None,
                    ctx.relay, ctx.publisher,
                )  # fmt: skip
            ctx.report.duplicates += 1
            if stored is not None and ctx.report.writing:
                add_second_source(ctx.conn, RecordKind.penalty, stored.id, ctx.delivery, relay,
                                  digest, values["ocid"])  # fmt: skip
            return
        if mine:  # the table keeps one record per record id and delivering account
            raise FieldError("record_id", f"{ctx.publisher.name} already delivered a record "
                             f"{record_id} first published by another publisher than "
                             f"{relay.original_publisher}")  # fmt: skip
        self.seen[key] = digest
        if not ctx.report.writing:
            return
        subject = ctx.parties.resolve(
            values["subject_name"], values.pop("subject_uscc"), None, PartyRole.penalty_subject
        )
        penalty_id = ctx.conn.execute(
            TABLE.insert()
            .values(
                **values,
                subject_id=subject,
                publisher_id=ctx.publisher.id,
                source_site=site,
                received_at=ctx.received_at,
                payload=orjson.dumps(raw).decode(),
                content_hash=digest,
            )
            .returning(TABLE.c.id)
        ).scalar_one()
        add_source(ctx.conn, RecordKind.penalty, penalty_id, ctx.delivery, relay)
        self.written.append(penalty_id)
        notes = [self.region_note] if self.region_note else []
        record_notes(ctx.conn, RecordKind.penalty, penalty_id, record_id, notes, ctx.received_at)
        ctx.report.accepted += 1

    def finish(self) -> None:
        if self.ctx.report.writing:
            enqueue(self.ctx.conn, "penalty", self.written, self.ctx.received_at)
            # A debarment reaches the flags of projects compiled before it, in this batch's
            # transaction (as a notice's project's flags do), not at the next rebuild.
            recompute_debarred(self.ctx.conn, self.written)
            self.ctx.parties.enqueue_changed(self.ctx.received_at)
